"""Periods, rankings, backlog, patrol, trends, ticker and the assembled snapshot, on hand-built data.

The worked example is ``tests.factories.build_district`` with the clock at 2026-11-18 (Wed) 10:00
Asia/Shanghai; see test_metrics.py for the KPI arithmetic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, inspect, select, update

from dashboard.core.periods import UTC, local_midnight, period_bounds, spark_buckets
from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState
from dashboard.rollups import panels as fast
from dashboard.source import schema
from dashboard.source.engines import init_db, stale_indexes
from dashboard.source.queries import kpis
from dashboard.source.queries.backlog import backlog
from dashboard.source.queries.patrol import patrol_panel
from dashboard.source.queries.rankings import rankings
from dashboard.source.queries.snapshot import build_snapshot, data_version
from dashboard.source.queries.ticker import ticker
from dashboard.source.queries.trends import trends
from tests.support import factories as f
from tests.support import rollup_path
from tests.support.factories import sh

NOW = sh(2026, 11, 18, 10, 0)
MONTH = ViewState(period="month")


# --- periods (no database) ---------------------------------------------------------------------------


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(f.SH)


@pytest.mark.parametrize(
    ("period", "start", "end", "label"),
    [
        ("day", sh(2026, 11, 18), sh(2026, 11, 19), "2026-11-18"),
        ("week", sh(2026, 11, 16), sh(2026, 11, 23), "2026-W47"),
        ("month", sh(2026, 11, 1), sh(2026, 12, 1), "2026-11"),
        ("quarter", sh(2026, 10, 1), sh(2027, 1, 1), "2026-Q4"),
        ("year", sh(2026, 1, 1), sh(2027, 1, 1), "2026"),
    ],
)
def test_period_bounds(period: str, start: dt.datetime, end: dt.datetime, label: str) -> None:
    p = period_bounds(ViewState(period=period), NOW)
    assert (p.start, p.end, p.label) == (start, end, label)
    assert p.start.tzinfo is not None and p.start.utcoffset() == dt.timedelta(0)
    elapsed = NOW - start + dt.timedelta(microseconds=1)
    assert p.prev_end - p.prev_start <= elapsed and p.ly_end - p.ly_start <= elapsed
    assert p.running and p.cap == NOW + dt.timedelta(microseconds=1)


def test_running_periods_compare_the_same_elapsed_time() -> None:
    day = period_bounds(ViewState(period="day"), NOW)
    assert _local(day.prev_start) == sh(2026, 11, 17)
    assert _local(day.prev_end) == sh(2026, 11, 17, 10) + dt.timedelta(microseconds=1)
    assert _local(day.ly_start) == sh(2025, 11, 18)
    week = period_bounds(ViewState(period="week"), NOW)
    assert _local(week.ly_start) == sh(2025, 11, 17)  # 52 weeks back: a Monday again
    # 31 March so far vs February: clamped to February's end.
    march = period_bounds(ViewState(period="month"), sh(2026, 3, 31, 12))
    assert (_local(march.prev_start), _local(march.prev_end)) == (sh(2026, 2, 1), sh(2026, 3, 1))


def test_custom_and_finished_periods_compare_in_full() -> None:
    view = ViewState(period="custom", date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 10))
    p = period_bounds(view, NOW)
    assert not p.running and p.label == "2026-10-01~2026-10-10"
    assert (_local(p.start), _local(p.end)) == (sh(2026, 10, 1), sh(2026, 10, 11))
    assert (_local(p.prev_start), _local(p.prev_end)) == (sh(2026, 9, 21), sh(2026, 10, 1))
    assert (_local(p.ly_start), _local(p.ly_end)) == (sh(2025, 10, 1), sh(2025, 10, 11))
    leap = period_bounds(ViewState(period="day"), sh(2028, 2, 29, 8))
    assert _local(leap.ly_start) == sh(2027, 2, 28)


def test_spark_buckets_end_with_the_current_period() -> None:
    month = spark_buckets(period_bounds(MONTH, NOW))
    assert len(month) == 12 and month[-1][0] == "2026-11" and month[0][0] == "2025-12"
    assert month[-1][2] == NOW + dt.timedelta(microseconds=1)
    days = spark_buckets(period_bounds(ViewState(period="day"), NOW))
    assert len(days) == 14 and days[0][1] == local_midnight(dt.date(2026, 11, 5))
    assert local_midnight(dt.date(2026, 11, 18)) == dt.datetime(2026, 11, 17, 16, tzinfo=UTC)


# --- panels on the worked example -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _arithmetic_only(monkeypatch: pytest.MonkeyPatch) -> None:
    f.without_min_base(monkeypatch)


@pytest.fixture
def district(db_url: str) -> Iterator[Engine]:
    eng = init_db(db_url)
    with eng.begin() as conn:
        f.build_district(conn)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module", params=rollup_path.PATHS, ids="-".join)
def panels(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The worked example for the panel tests at NOW, read directly or through the rollups; the tests
    below only read it."""
    yield from rollup_path.worked_example(*request.param, NOW, tmp_path_factory)


def _panel(engine: Engine, name: str, view: ViewState, now: dt.datetime = NOW) -> Any:
    """rankings / backlog / trends of ``view``, through the rollups when the engine has them."""
    store = rollup_path.store_of(engine)
    with engine.connect() as conn:
        if store is None:
            direct = {"rankings": rankings, "backlog": backlog, "trends": trends}[name]
            return direct(conn, view, now)
        reader = rollup_path.reader(store, conn, view, now)
        if name == "backlog":
            return fast.fast_backlog(conn, reader, view, now, {})
        return {"rankings": fast.fast_rankings, "trends": fast.fast_trends}[name](conn, reader, view, now)


def test_rankings(panels: Engine) -> None:
    """Towns: E (1/1 on time) > B (1/2) > A (1/3). Departments: fire 3/3 > city mgmt (0, close 50).

    Police is not ranked: its only case (E12) was dispatched at 11:00, after now (10:00), so at now the
    overdue E12 was nobody's yet (as-of attribution by the action log).
    """
    got = _panel(panels, "rankings", MONTH)
    towns = got["towns"]
    assert [r.code for r in towns] == [f.TOWN_E, f.TOWN_B, f.TOWN_A]
    a = towns[2].values
    assert (a["due"], a["closed"], a["reported"], a["overdue"], a["rank"]) == (3, 2, 4, 2, 3)
    assert round(a["on_time_rate"] or 0, 2) == 33.33 and round(a["close_rate"] or 0, 2) == 66.67
    assert a["mean_hours_to_close"] == 36.0 and towns[2].name_zh == "城厢街道"
    depts = got["departments"]
    assert [r.code for r in depts] == ["D05_FIRE", "D03_CITYMGMT"]
    assert depts[1].values["close_rate"] == 50.0
    assert depts[0].name_zh == "消防大队"


def test_a_town_ranks_its_villages_and_a_village_its_grids(panels: Engine) -> None:
    """A one-town view ranks the town's villages (a one-row ranking of the town said nothing), a village
    view its grids; units without cases still get a row, and the units add up to the town's figures."""
    got = _panel(panels, "rankings", ViewState(towns=(f.TOWN_A,), period="month"))
    assert [r.code for r in got["towns"]] == [f.TOWN_A]
    assert {r.code for r in got["units"]} == {f.VILLAGE_A1, f.VILLAGE_A2}
    town = got["towns"][0].values
    for name in ("due", "closed", "reported", "overdue"):
        assert sum(int(r.values[name] or 0) for r in got["units"]) == town[name], name
    assert sorted(r.values["rank"] for r in got["units"]) == [1, 2]
    with panels.connect() as conn:  # a village view never takes the fast path
        village = rankings(conn, ViewState(towns=(f.TOWN_A,), village=f.VILLAGE_A1), NOW)
    assert {r.code for r in village["units"]} == {f.GRID_A1_1, f.GRID_A1_2}
    district = _panel(panels, "rankings", MONTH)
    assert [r.code for r in district["units"]] == [r.code for r in district["towns"]]


def test_backlog_by_town(panels: Engine) -> None:
    """Open at now: A has E5 (<1 d), E4 (3–7 d), E9 (>30 d); B has E12 (1–3 d); E has none."""
    got = _panel(panels, "backlog", MONTH)
    assert got["level"] == "district" and got["child_level"] == "town"
    assert got["breadcrumb"] == [["district", "330109", "萧山区", "Xiaoshan District"]]
    units = {u["code"]: u for u in got["units"]}
    a = units[f.TOWN_A]
    assert (a["backlog"], a["overdue"], a["lt1d"], a["d3_7"], a["gt30d"], a["rank"]) == (3, 2, 1, 1, 1, 1)
    assert a["per_1000"] == 0.03 and a["population"] == 100_000
    assert units[f.TOWN_B]["d1_3"] == 1 and units[f.TOWN_E]["backlog"] == 0
    assert [g["grid_code"] for g in got["top_grids"]] == [f.GRID_A1_2, f.GRID_A2_1, f.GRID_B1_1]
    assert got["cases"] == []


def test_backlog_drills_down_to_a_grid(district: Engine) -> None:
    town = ViewState(period="month", towns=(f.TOWN_A,))
    village = ViewState(period="month", towns=(f.TOWN_A,), village=f.VILLAGE_A1)
    grid = ViewState(period="month", towns=(f.TOWN_A,), village=f.VILLAGE_A1, grid=f.GRID_A1_2)
    with district.connect() as conn:
        by_village = backlog(conn, town, NOW)
        by_grid = backlog(conn, village, NOW)
        cases = backlog(conn, grid, NOW)
    assert {u["code"]: u["backlog"] for u in by_village["units"]} == {f.VILLAGE_A1: 2, f.VILLAGE_A2: 1}
    assert {u["code"]: u["backlog"] for u in by_grid["units"]} == {f.GRID_A1_1: 1, f.GRID_A1_2: 1}
    assert [step[0] for step in cases["breadcrumb"]] == ["district", "town", "village", "grid"]
    assert cases["breadcrumb"][2][2] == "A一社区"
    (case,) = cases["cases"]
    assert case["overdue"] and case["age_days"] > 30
    assert not {"reporter_name", "reporter_phone", "address"} & set(case)
    # A grid's view lists the grid itself, its open case aged and per 1,000 (the wall draws it), on
    # either path.
    for got in (cases, _panel(district, "backlog", grid)):
        (own,) = got["units"]
        assert (own["code"], own["backlog"], own["overdue"], own["gt30d"]) == (f.GRID_A1_2, 1, 1, 1)
        assert own["per_1000"] is not None and own["per_1000"] > 0


def test_patrol_panel(district: Engine) -> None:
    with district.connect() as conn:
        got = patrol_panel(conn, MONTH, NOW, {"forces": {"FULL_TIME": {"on_duty": 1}}})
    units = {u["code"]: u for u in got["units"]}
    assert (units[f.TOWN_A]["grids"], units[f.TOWN_A]["covered_today"], units[f.TOWN_A]["covered_24h"]) == (
        3,
        1,
        2,
    )
    assert units[f.TOWN_B]["coverage_today"] == 100.0 and units[f.TOWN_E]["coverage_24h"] == 0.0
    hours = {g["grid_code"]: g["hours"] for g in got["grids"]}
    assert hours == {
        f.GRID_A1_1: 2.0,
        f.GRID_A1_2: 22.0,
        f.GRID_A2_1: None,
        f.GRID_B1_1: 3.0,
        f.GRID_E1_1: 49.0,
    }
    assert got["on_duty"] == {"FULL_TIME": {"on_duty": 1}}
    assert [v["point_code"] for v in got["video_offline"]] == ["V2", "V3"]


def test_trends(panels: Engine) -> None:
    got = _panel(panels, "trends", MONTH)
    assert got["bucket"] == "day" and len(got["labels"]) == 30
    reported = dict(zip(got["labels"], got["reported"], strict=True))
    assert reported["2026-11-02"] == 1 and reported["2026-11-18"] == 1 and reported["2026-11-19"] is None
    assert sum(v or 0 for v in got["reported"]) == 8 and sum(v or 0 for v in got["closed"]) == 4
    assert sum(v or 0 for v in got["reported_ly"]) == 1 and got["labels_ly"][0] == "2025-11-01"
    assert len(got["last90"]["labels"]) == 90 and sum(got["last90"]["reported"]) == 10  # + E8, E9
    assert got["by_category"][0] == {
        "code": "FIRE",
        "name_zh": "消防安全",
        "name_en": "Fire safety",
        "count": 6,
    }
    assert {r["code"] for r in got["by_source"]} == {"GRID_APP"}
    weekly = dict(zip(got["on_time_weekly"]["labels"], got["on_time_weekly"]["on_time_rate"], strict=True))
    assert weekly["2026-11-16"] == 0.0 and weekly["2026-11-09"] == 50.0
    assert round(weekly["2026-11-02"] or 0, 2) == 66.67 and weekly["2026-10-05"] == 100.0


def test_trend_buckets_per_period(panels: Engine) -> None:
    day = _panel(panels, "trends", ViewState(period="day"))
    quarter = _panel(panels, "trends", ViewState(period="quarter"))
    year = _panel(panels, "trends", ViewState(period="year"))
    assert day["bucket"] == "hour" and len(day["labels"]) == 24
    assert dict(zip(day["labels"], day["reported"], strict=True))["2026-11-18 09"] == 1
    assert quarter["bucket"] == "week" and quarter["labels"][0] == "2026-09-28"
    assert year["bucket"] == "month" and year["labels"][10] == "2026-11" and year["reported"][10] == 8


def test_ticker_masks_personal_data(district: Engine) -> None:
    with district.connect() as conn:
        got = ticker(conn, MONTH, NOW)
    assert [t["priority"] for t in got] == ["MAJOR", "NORMAL"]  # E12 first, then the newest (E5)
    assert got[0]["town_zh"] == "北干街道" and got[0]["category_zh"] == "消防安全" and not got[0]["closed"]
    text = json.dumps(got, ensure_ascii=False)
    assert "张三" not in text and "13800000000" not in text and "某路1号" not in text


# --- the whole snapshot -----------------------------------------------------------------------------


def _count_statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(*args: Any) -> None:
        seen.append(args[2])

    return seen


def test_build_snapshot(district: Engine) -> None:
    with district.connect() as conn:
        kpis.has_unit_code(conn)  # the schema is looked at once per source and process, not per snapshot
    seen = _count_statements(district)
    with district.connect() as conn:
        snap = build_snapshot(conn, MONTH, NOW + dt.timedelta(hours=3))  # the clock
        as_of = build_snapshot(conn, dataclasses.replace(MONTH, as_of=NOW), NOW + dt.timedelta(hours=3))
    # 33 a snapshot: the hazards' units inspected are counted in a statement of their own (hashed, where
    # count(DISTINCT …) beside the sums sorted every inspection of the range).
    assert len(seen) <= 2 * 33
    assert snap.now != as_of.now and as_of.now == NOW.astimezone(UTC).isoformat()
    assert as_of.kpis["backlog"].value == 4 and as_of.view == {"as_of": ["2026-11-18T10:00:00+08:00"]}
    assert as_of.period_start == sh(2026, 11, 1).astimezone(UTC).isoformat()
    assert as_of.newest_data_at == sh(2026, 11, 18, 9, 30).astimezone(UTC).isoformat()  # a patrol start
    assert snap.kpis["backlog"].value == 3  # E12 closed at 12:00
    again = Snapshot.from_dict(json.loads(json.dumps(as_of.to_dict())))
    assert again.kpis["close_rate"] == as_of.kpis["close_rate"]


def _figures(engine: Engine, view: ViewState) -> dict[str, Any]:
    with engine.connect() as conn:
        snap = build_snapshot(conn, view, NOW + dt.timedelta(days=2)).to_dict()
    snap.pop("data_version")
    return snap


def test_rows_written_after_now_do_not_change_the_answer(district: Engine) -> None:
    view = dataclasses.replace(MONTH, as_of=NOW)
    before = _figures(district, view)
    with district.begin() as conn:
        version = data_version(conn)
        later = sh(2026, 11, 18, 13)
        (new_id,) = f.add_events(conn, [f.event_row(later, priority="URGENT", accepted_at=later)])
        f.add_action(conn, new_id, "DISPATCH", later)
        # E1 is returned and fails verification after now: counters move, the log says "later".
        e1 = conn.execute(
            select(schema.event.c.event_id).where(schema.event.c.reported_at == sh(2026, 11, 2, 9))
        )
        e1_id = e1.scalar_one()
        f.add_action(conn, e1_id, "RETURN", later)
        f.add_action(conn, e1_id, "VERIFY_FAIL", later)
        conn.execute(
            update(schema.event)
            .where(schema.event.c.event_id == e1_id)
            .values(returned_count=1, reopened_count=1, dispatch_count=2, dispatched_at=later)
        )
        f.add_evaluation(conn, new_id, "满意", later)
        conn.execute(
            update(schema.event)
            .where(schema.event.c.status == "DISPATCHED")
            .values(status="CLOSED", closed_at=later, level_of_handling="GRID")
        )  # E4 closes after now
        f.add_patrols(conn, [f.patrol_row(f.GRID_E1_1, later, None, staff=9, kind="VOLUNTEER")])
        f.add_video_change(conn, "V2", True, later)
        f.add_police_stat(conn, dt.date(2026, 11, 19), f.TOWN_A, 500, 50, 5)
        f.add_inspection(conn, f.TOWN_A, later, 10, 0)
        f.add_key_area(conn, 9, f.TOWN_B, dt.date(2026, 11, 19), None)
        assert data_version(conn) != version
    after = _figures(district, view)
    assert after.pop("newest_data_at") is not None
    before.pop("newest_data_at")
    assert after == before


def test_a_corrected_110_statistic_changes_the_data_version(district: Engine) -> None:
    """Imports correct the daily 110 statistics in place: no new key, but the version must move."""
    pcs = schema.police_call_stat.c
    with district.begin() as conn:
        version = data_version(conn)
        conn.execute(
            update(schema.police_call_stat)
            .where(pcs.stat_date == dt.date(2026, 11, 5), pcs.town_code == f.TOWN_A)
            .values(effective_110_calls=91)
        )
        corrected = data_version(conn)
        assert corrected != version
        f.add_police_stat(conn, dt.date(2026, 11, 19), f.TOWN_B, 0, 0, 0)  # a new day with no calls
        assert data_version(conn) != corrected


def test_the_data_version_counts_the_110_statistics_from_their_index(db_url: str) -> None:
    """The version's pass over the statistics reads the covering index ``ix_police_calls`` (not the table),
    and ``init_db`` adds that index to a database made before it."""
    engine = init_db(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "DROP INDEX ix_police_calls ON police_call_stat"
            if conn.dialect.name == "mysql"
            else "DROP INDEX ix_police_calls"
        )
    init_db(db_url)
    names = {ix["name"] for ix in inspect(engine).get_indexes("police_call_stat")}
    assert "ix_police_calls" in names
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT count(*), sum(effective_110_calls) FROM police_call_stat"
                )
            )
        assert "COVERING INDEX ix_police_calls" in plan
    engine.dispose()


def test_an_index_widened_since_a_database_was_made_is_made_again(db_url: str) -> None:
    """``ix_inspection_at`` holds the rectification deadline since the hazard colour is judged on the
    hazards due: ``init_db`` makes the narrower index of a database made before it again, and leaves
    an index that is already as the schema has it alone."""
    engine = init_db(db_url)
    with engine.begin() as conn:
        drop = "DROP INDEX ix_inspection_at" + (
            " ON safety_inspection" if conn.dialect.name == "mysql" else ""
        )
        conn.exec_driver_sql(drop)
        conn.exec_driver_sql("CREATE INDEX ix_inspection_at ON safety_inspection (inspected_at, town_code)")
    assert stale_indexes(engine) == {"ix_inspection_at"}
    init_db(db_url)
    held = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("safety_inspection")}
    assert "rectify_deadline" in held["ix_inspection_at"]
    assert not stale_indexes(engine)
    engine.dispose()
