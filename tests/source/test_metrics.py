"""Every metric computed on hand-built data, with the answers worked out by hand, on all three backends.

The clock is fixed at NOW = 2026-11-18 (Wednesday) 10:00 Asia/Shanghai; the default view is "this month"
(1–30 November, compared with 1 October–18 October 10:00 and 1–18 November 2025 10:00).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete

from dashboard.core.formulas import Formula
from dashboard.core.metrics import DIRECTIONS, GROUPS, METRICS, colour_rule, kpi_value, status_of
from dashboard.core.snapshot import KpiValue
from dashboard.core.viewstate import ViewState
from dashboard.rollups import read as fast
from dashboard.source import schema
from dashboard.source.engines import init_db, make_source_engine
from dashboard.source.queries import kpis
from tests.support import factories as f
from tests.support import rollup_path
from tests.support.factories import sh

NOW = sh(2026, 11, 18, 10, 0)
MONTH = ViewState(period="month")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _arithmetic_only(monkeypatch: pytest.MonkeyPatch) -> None:
    f.without_min_base(monkeypatch)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = init_db(db_url)
    with eng.begin() as conn:
        f.add_units(conn)
    yield eng
    eng.dispose()


def _kpi(conn: Connection, key: str, view: ViewState = MONTH, now: dt.datetime = NOW) -> KpiValue:
    return kpis.compute_kpis(conn, view, now)[key]


# --- registry ----------------------------------------------------------------------------------------


def test_registry_is_complete() -> None:
    required = {
        "reported", "closed", "backlog", "overdue_open", "supervised_open", "close_rate", "on_time_rate",
        "satisfaction_rate", "mean_hours_to_close", "median_hours_to_close", "p90_hours_to_close",
        "return_rate", "rework_rate", "local_resolution_rate", "patrol_coverage_today", "patrol_coverage_24h",
        "patrol_on_duty", "video_online_rate", "calls_110_yoy", "property_crime_yoy", "major_violent_yoy",
        "hazard_rectification_rate", "key_area_delisting_rate", "cohort_close_rate",
    }  # fmt: skip
    assert required <= set(METRICS)
    for key, m in METRICS.items():
        assert m.key == key
        assert m.label_zh and m.label_en and m.unit and m.unit_en, key
        assert m.definition_zh and m.definition_en, key
        assert re.search(r"[\u4e00-\u9fff]", m.label_zh), key
        assert m.direction in DIRECTIONS and m.group in GROUPS, key
        assert m.fmt >= 0
        if m.thresholds is not None:
            good, warn = m.thresholds
            assert good >= warn if m.direction == "up" else good <= warn, key
        assert isinstance(m.formula, Formula), key
        json.dumps(dataclasses.asdict(m))  # the API lists the registry: it stays JSON-able


def test_each_family_fills_metrics_of_the_registry() -> None:
    listed = [
        *kpis.REPORTED_METRICS, *kpis.CLOSED_METRICS, *kpis.DUE_METRICS, *kpis.EVALUATION_METRICS,
        *kpis.DURATION_METRICS, *kpis.STATE_METRICS,
    ]  # fmt: skip
    assert len(listed) == len(set(listed)) and set(listed) <= set(METRICS)
    for _, _, keys in fast.COUNTS:
        assert set(keys) <= set(listed)


def test_one_formula_gives_value_comparisons_status_spark_and_detail() -> None:
    ranges = {
        "cur": {"cohort_closed": 832.0, "collected": 896.0},
        "prev": {"cohort_closed": 0.0, "collected": 0.0},
        "ly": {"cohort_closed": 9.0, "collected": 10.0},
    }
    kpi = kpi_value("cohort_close_rate", ranges, [ranges["ly"], ranges["cur"]])
    assert round(kpi.value or 0, 2) == 92.86 and kpi.previous is None and kpi.last_year == 90.0
    # A paced metric without past periods to judge by is not coloured; with them, by its pace.
    assert kpi.status is None and kpi.spark == [90.0, kpi.value]
    past = {"cohort_closed": 1800.0, "collected": 1900.0, "periods": 2.0}
    assert kpi_value("cohort_close_rate", ranges, expected=past).status == "good"
    assert kpi.detail == {"cohort_closed": 832.0, "collected": 896.0}
    # A year-on-year change has no "same period last year" of its own, whatever the family passes.
    police = {"cur": {"n": 900.0, "n_last_year": 1000.0}, "ly": {"n": 1.0, "n_last_year": 1.0}}
    yoy = kpi_value("calls_110_yoy", police)
    assert yoy.value == -10.0 and yoy.last_year is None and yoy.status == "good"
    assert yoy.detail == {"n": 900.0, "n_last_year": 1000.0}
    # A range without counts has no figure; extra detail is kept beside the counts.
    duty = kpi_value("patrol_on_duty", {"cur": {"on_duty": 2}}, extra={"forces": {}})
    assert (duty.value, duty.previous, duty.detail) == (2.0, None, {"forces": {}})


def test_a_year_on_year_change_within_chance_is_not_coloured() -> None:
    """Counts of incidents vary by chance about as √n: a town's 12 calls against 10 (+20 %) or 90 against
    100 is no change to colour; 140 against 100, or the district's 900 against 1,000, is."""

    def status(n: float, last: float) -> str | None:
        return kpi_value("calls_110_yoy", {"cur": {"n": n, "n_last_year": last}}).status

    assert status(24.0, 20.0) is None and status(90.0, 100.0) is None and status(120.0, 100.0) is None
    assert status(140.0, 100.0) == "bad" and status(900.0, 1000.0) == "good" and status(60.0, 100.0) == "good"
    assert status(103.0, 100.0) is None  # warn (0–5 %) only when the rise is beyond chance too
    assert status(11_000.0, 10_500.0) == "warn"  # +4.8 %: 500 ≥ 2√21,500 ≈ 293
    rule = colour_rule(METRICS["calls_110_yoy"])
    assert "beyond chance" in rule and "2√(n + n_last_year)" in rule
    assert "随机波动" in colour_rule(METRICS["calls_110_yoy"], "zh")
    assert kpi_value("reported", {"cur": {"reported": 3.0}}).status is None  # no thresholds: untouched


def test_status_of_follows_direction() -> None:
    close = METRICS["close_rate"]  # up, (95, 90)
    assert [status_of(close, v) for v in (96, 95, 92, 89.9, None)] == ["good", "good", "warn", "bad", None]
    hours = METRICS["mean_hours_to_close"]  # down, (72, 120)
    assert [status_of(hours, v) for v in (10, 72, 100, 121)] == ["good", "good", "warn", "bad"]
    assert status_of(METRICS["reported"], 5) is None


def test_readme_mentions_every_metric_key() -> None:
    readme = (ROOT / "dashboard" / "core" / "README.md").read_text(encoding="utf-8")
    assert "## Metrics" in readme
    missing = [k for k in METRICS if k not in readme]
    assert not missing


# --- figures published by the district (its monthly forms and pilot reports) -----------------------------


def test_published_close_and_on_time_rates(engine: Engine) -> None:
    """天门 Dec 2016 form: 972 due, 911 closed, 737 on time → 93.72 % and 75.82 %."""
    deadline = sh(2026, 11, 10, 12)
    rows = []
    for i in range(972):
        closed = sh(2026, 11, 9) if i < 737 else sh(2026, 11, 12) if i < 911 else None
        rows.append(
            f.event_row(
                sh(2026, 11, 3), accepted_at=sh(2026, 11, 3, 1), deadline_at=deadline, closed_at=closed
            )
        )
    # Not due in November: deadline after now, deadline last month, and a rejected case.
    rows.append(f.event_row(sh(2026, 11, 3), deadline_at=sh(2026, 11, 25)))
    rows.append(f.event_row(sh(2026, 10, 3), deadline_at=sh(2026, 10, 25)))
    rows.append(f.event_row(sh(2026, 11, 3), deadline_at=deadline, rejected_at=sh(2026, 11, 3, 2)))
    with engine.begin() as conn:
        f.add_events_bulk(conn, rows)
    with engine.connect() as conn:
        got = kpis.due_family(conn, MONTH, NOW)
    close, on_time = got["close_rate"], got["on_time_rate"]
    assert (close.detail["due"], close.detail["due_closed"], on_time.detail["on_time"]) == (972, 911, 737)
    assert round(close.value or 0, 2) == 93.72
    assert round(on_time.value or 0, 2) == 75.82
    assert close.status == "warn" and on_time.status == "bad"


def test_published_cohort_close_rate(engine: Engine) -> None:
    """浦阳镇 pilot: 896 collected, 832 closed → 92.86 %."""
    rows = [
        f.event_row(sh(2026, 11, 2, 9), closed_at=sh(2026, 11, 5) if i < 832 else None) for i in range(896)
    ]
    rows.append(f.event_row(sh(2026, 11, 2, 9), rejected_at=sh(2026, 11, 2, 10)))  # not collected
    with engine.begin() as conn:
        f.add_events_bulk(conn, rows)
    with engine.connect() as conn:
        kpi = _kpi(conn, "cohort_close_rate")
    assert kpi.detail == {"cohort_closed": 832, "collected": 896}
    assert round(kpi.value or 0, 2) == 92.86


def test_published_hazard_rectification_rate(engine: Engine) -> None:
    """Seed: 15,954 hazards found, 15,759 rectified → 98.78 %."""
    with engine.begin() as conn:
        f.add_inspection(conn, f.TOWN_A, sh(2026, 11, 2), 10_000, 9_900)
        f.add_inspection(conn, f.TOWN_B, sh(2026, 11, 17), 5_954, 5_859)
        f.add_inspection(conn, f.TOWN_B, sh(2026, 10, 17), 100, 50)  # last month
        f.add_inspection(conn, f.TOWN_B, sh(2026, 11, 18, 11), 100, 0)  # after now
    with engine.connect() as conn:
        kpi = _kpi(conn, "hazard_rectification_rate")
    assert kpi.detail == {"rectified": 15_759, "found": 15_954, "units_inspected": 2}
    assert round(kpi.value or 0, 2) == 98.78
    # November's hazards are not all due (30 days): October's have had longer to be rectified, so no
    # comparison yet ("—"), never a false ▲ or ▼.
    assert kpi.previous is None
    assert kpi.spark[-1] == kpi.value and kpi.spark[-2] == 50.0


def test_hazards_are_compared_with_last_month_once_all_are_due(engine: Engine) -> None:
    with engine.begin() as conn:
        f.add_inspection(conn, f.TOWN_A, sh(2026, 11, 2), 10, 9, deadline=dt.date(2026, 11, 10))
        f.add_inspection(conn, f.TOWN_B, sh(2026, 10, 17), 100, 50)  # last month
    with engine.connect() as conn:
        kpi = _kpi(conn, "hazard_rectification_rate")
    assert kpi.value == 90.0 and kpi.previous == 50.0


@pytest.mark.parametrize("path", ["direct", "rollups"])
def test_units_inspected_count_each_unit_once(engine: Engine, path: str) -> None:
    """检查单位 3 家，发现隐患 9 处，整改 7 处: four inspections in November of three units. 甲厂 is
    inspected twice (by its code, once under another spelling); two shops named 某厂 in two towns are
    two units; a unit inspected in October or after now is not counted."""
    with engine.begin() as conn:
        f.add_inspection(conn, f.TOWN_A, sh(2026, 11, 2), 3, 3, unit="甲厂", unit_code="91330109MA0001")
        f.add_inspection(
            conn, f.TOWN_A, sh(2026, 11, 9), 2, 1, unit="甲厂有限公司", unit_code="91330109MA0001"
        )
        f.add_inspection(conn, f.TOWN_A, sh(2026, 11, 3), 1, 1)  # 某厂, no code
        f.add_inspection(conn, f.TOWN_B, sh(2026, 11, 4), 3, 2)  # another 某厂
        f.add_inspection(conn, f.TOWN_B, sh(2026, 10, 4), 5, 5, unit="乙厂")  # last month
        f.add_inspection(conn, f.TOWN_B, sh(2026, 11, 18, 11), 5, 0, unit="丙厂")  # after now
    if path == "rollups":
        rollup_path.attach(engine, NOW)
    got = _all(engine)["hazard_rectification_rate"]
    assert got.detail == {"rectified": 7, "found": 9, "units_inspected": 3}
    with engine.connect() as conn:
        town_b = kpis.hazard_family(conn, ViewState(towns=(f.TOWN_B,)), NOW)["hazard_rectification_rate"]
    assert town_b.detail["units_inspected"] == 1
    assert METRICS["hazard_rectification_rate"].companions[0].text(3, "zh") == "检查单位 3 家"


def test_a_years_previous_period_and_last_year_are_read_once(engine: Engine) -> None:
    """A year's previous period is last year, and so is its same period last year: the inspections of
    that range are summed, and their units counted, once, and both comparisons get the figures."""
    from sqlalchemy import event

    with engine.begin() as conn:
        f.add_inspection(conn, f.TOWN_A, sh(2026, 3, 2), 10, 9, deadline=dt.date(2026, 3, 10))
        f.add_inspection(conn, f.TOWN_B, sh(2025, 5, 17), 100, 50, unit="甲厂", unit_code="91330109MA0001")
        f.add_inspection(conn, f.TOWN_A, sh(2025, 6, 17), 10, 10, unit="乙厂", unit_code="91330109MA0002")
    ranges: list[str] = []

    def listener(*args: Any) -> None:
        if "FROM safety_inspection" in str(args[2]):  # (not the probe of its columns)
            ranges.append(str(args[2]).count("inspected_at >="))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        with engine.connect() as conn:
            got = kpis.hazard_family(conn, ViewState(period="year"), NOW)["hazard_rectification_rate"]
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert got.value == 90.0 and got.previous == got.last_year == pytest.approx(100 * 60 / 110)
    assert got.detail["units_inspected"] == 1
    # The sums: this year, last year and the spark's days; the units: this year and last year.
    assert ranges == [3, 2]


# --- the worked example (tests/support/factories.build_district) --------------------------------------------


@pytest.fixture(scope="module", params=rollup_path.PATHS, ids="-".join)
def district(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The worked example, read by the direct queries or through the rollups (tests/support/rollup_path.py);
    the tests below only read it."""
    yield from rollup_path.worked_example(*request.param, NOW, tmp_path_factory)


def _all(engine: Engine, view: ViewState = MONTH, now: dt.datetime = NOW) -> dict[str, KpiValue]:
    store = rollup_path.store_of(engine)
    with engine.connect() as conn:
        if store is not None and fast.eligible(view, now, store.meta()):
            return fast.all_kpis(conn, rollup_path.reader(store, conn, view, now), view, now)
        return kpis.compute_kpis(conn, view, now)


def _v(got: dict[str, KpiValue], key: str) -> float | None:
    value = got[key].value
    return None if value is None else round(value, 2)


def test_case_metrics_by_hand(district: Engine) -> None:
    """November so far (E1–E7, E12 reported; E1, E2, E3, E6 closed; E12 closes only after now).

    due = E1 E2 E3 E4 E6 E12 (6); closed among them E1 E2 E3 E6 (4); on time E1 E3 E6 (E2 late) → 3.
    hours to close: E1 24, E2 48, E3 12, E6 24 → mean 27, median 24, P90 (rank 4 of 4) 48.
    cohort: 7 collected (E7 rejected), 4 closed. dispatched by now E1–E4 (E12 after now), returned E2.
    rework: E2 failed verification. local: E1, E6 (grid) and E3 (village) of 4. satisfaction 2 of 3.
    """
    got = _all(district)
    assert got["reported"].value == 8 and got["closed"].value == 4
    assert _v(got, "close_rate") == 66.67 and _v(got, "on_time_rate") == 50.0
    assert _v(got, "cohort_close_rate") == 57.14
    assert _v(got, "mean_hours_to_close") == 27.0
    assert _v(got, "median_hours_to_close") == 24.0 and _v(got, "p90_hours_to_close") == 48.0
    assert _v(got, "return_rate") == 25.0 and _v(got, "rework_rate") == 25.0
    assert _v(got, "local_resolution_rate") == 75.0 and _v(got, "satisfaction_rate") == 66.67
    # Comparisons: October 1–18 10:00 holds E8 only; November 2025 1–18 10:00 holds E10 only.
    assert (got["reported"].previous, got["reported"].last_year) == (1, 1)
    assert got["mean_hours_to_close"].previous == 24.0 and got["median_hours_to_close"].last_year == 24.0
    assert got["close_rate"].previous == 100.0 and got["on_time_rate"].last_year == 100.0
    # Spark: 12 months, October then November last.
    assert len(got["reported"].spark) == 12 and got["reported"].spark[-2:] == [1, 8]


def test_state_metrics_at_now(district: Engine) -> None:
    """Open at now: E4, E5, E9 and E12 (closed only after now); overdue E4, E9, E12; supervised E4."""
    got = _all(district)
    assert (got["backlog"].value, got["overdue_open"].value, got["supervised_open"].value) == (4, 3, 1)
    assert got["supervised_open"].status is None
    # One month earlier (18 Oct 10:00, the month shift is October's 31 days): only E9 was open.
    # Last year none was open: a zero base gives no comparison ("—"), never ▲ against nothing.
    assert got["backlog"].previous == 1 and got["backlog"].last_year is None
    assert got["backlog"].spark[-1] == 4


def test_scope_filters(district: Engine) -> None:
    east_out = _all(district, ViewState(period="month", eastern="exclude"))
    assert east_out["reported"].value == 7 and east_out["closed"].value == 3
    town_a = _all(district, ViewState(period="month", towns=(f.TOWN_A,)))
    assert town_a["reported"].value == 4 and town_a["backlog"].value == 3
    village = _all(district, ViewState(period="month", towns=(f.TOWN_A,), village=f.VILLAGE_A1))
    assert village["reported"].value == 3 and village["patrol_coverage_24h"].value == 100.0
    grid = _all(district, ViewState(period="month", grid=f.GRID_A2_1))
    assert grid["backlog"].value == 1 and grid["patrol_coverage_today"].value == 0.0
    fire = _all(district, ViewState(period="month", categories=("FIRE",)))
    assert fire["reported"].value == 6
    dept = _all(district, ViewState(period="month", depts=("D05_FIRE",)))
    assert dept["closed"].value == 3 and dept["on_time_rate"].value == 100.0
    hotline = _all(district, ViewState(period="month", sources=("HOTLINE_12345",)))
    assert hotline["reported"].value == 0 and hotline["close_rate"].value is None


def test_patrol_metrics(district: Engine) -> None:
    """5 grids. Today: A1-1 (08:00) and B1-1 (under way, valid) → 40 %; A2-1's valid patrol ends after now.

    Last 24 h adds A1-2 (yesterday 12:00) → 60 %. Yesterday to 10:00: A1-1 → 20 %.
    On duty at now: staff 3 (full-time, under way) and 6 (part-time, ends 11:00) → 2.
    """
    got = _all(district)
    assert got["patrol_coverage_today"].value == 40.0 and got["patrol_coverage_24h"].value == 60.0
    assert got["patrol_coverage_today"].previous == 20.0 and got["patrol_coverage_24h"].previous == 20.0
    assert got["patrol_coverage_today"].spark[-2:] == [40.0, 40.0]  # all of yesterday: A1-1 and A1-2
    duty = got["patrol_on_duty"]
    assert duty.value == 2 and duty.previous is None  # nobody on duty yesterday at 10:00: no base
    forces = duty.detail["forces"]
    assert forces["FULL_TIME"]["on_duty"] == 1 and forces["FULL_TIME"]["strength"] == 1
    assert forces["PART_TIME"]["on_duty"] == 1 and forces["PART_TIME"]["strength"] == 2
    assert forces["VOLUNTEER"]["on_duty"] == 0 and forces["VOLUNTEER"]["strength"] is None  # none active
    # A town's forces are set against that town's strength, not the district's (issue 18's 72 vs 22,400).
    town_b = _all(district, ViewState(period="month", towns=(f.TOWN_B,)))["patrol_on_duty"].detail["forces"]
    assert (town_b["FULL_TIME"]["on_duty"], town_b["FULL_TIME"]["strength"]) == (1, 1)
    assert (town_b["PART_TIME"]["on_duty"], town_b["PART_TIME"]["strength"]) == (0, None)


def test_video_metrics(district: Engine) -> None:
    """Installed by now V1–V4; V2 offline since 10 Nov 08:00, V3 since 17 Nov 10:00; V4 drops after now."""
    got = _all(district)
    assert got["video_online_rate"].value == 50.0
    detail = got["video_online_rate"].detail
    assert (detail["online"], detail["points"]) == (2, 4)
    # A month earlier (18 Oct) lies before the first recorded change (10 Nov): the state then is unknown,
    # not "all online", so there is no comparison; a year earlier none was installed.
    assert got["video_online_rate"].previous is None and got["video_online_rate"].last_year is None
    with district.connect() as conn:
        offline = kpis.video_offline_longest(conn, MONTH, NOW)
    assert [(p["point_code"], p["hours"]) for p in offline] == [("V2", 194.0), ("V3", 24.0)]
    assert offline[0]["name"] == "二号点"
    assert detail["offline_longest"] == offline  # the tile's statement gives the panel's list too


def test_police_yoy(district: Engine) -> None:
    """Calls in the month's whole days (to 17 Nov): 90 vs 125 (25 Nov 2025 lies after the window) → −28 %;
    today's 10, still being counted, are not in it; previous +25 %."""
    got = _all(district)
    assert _v(got, "calls_110_yoy") == -28.0 and _v(got, "property_crime_yoy") == 25.0
    assert _v(got, "major_violent_yoy") == 0.0
    assert got["calls_110_yoy"].previous == 25.0 and got["calls_110_yoy"].status == "good"
    assert got["calls_110_yoy"].detail == {"n": 90, "n_last_year": 125}
    tomorrow = _all(district, now=sh(2026, 11, 19, 1, 30))  # the 18th is over: its 10 count
    assert tomorrow["calls_110_yoy"].detail == {"n": 100, "n_last_year": 125}
    # A village shows its town's statistics: 90 vs 125.
    village = _all(district, ViewState(period="month", towns=(f.TOWN_A,), village=f.VILLAGE_A1))
    assert _v(village, "calls_110_yoy") == -28.0


def test_police_yoy_at_night_and_on_the_1st_compares_whole_days(db_url: str) -> None:
    """Today's row grows during the day: at 01:30 on the 2nd it holds 5 calls against last year's whole
    2 December. The 1st alone is compared (100 vs 100, not 105 vs 200, a false −47.5 %); on the 1st at
    09:00 there is no whole day to compare yet."""
    engine = init_db(db_url)
    with engine.begin() as conn:
        f.add_units(conn)
        for day, calls in (
            ((2025, 12, 1), 100),
            ((2025, 12, 2), 100),
            ((2026, 12, 1), 100),
            ((2026, 12, 2), 5),
        ):
            f.add_police_stat(conn, dt.date(*day), f.TOWN_A, calls, 0, 0)
    with engine.connect() as conn:
        night = kpis.police_family(conn, MONTH, sh(2026, 12, 2, 1, 30))["calls_110_yoy"]
        assert (night.value, night.detail) == (0.0, {"n": 100, "n_last_year": 100})
        first = kpis.police_family(conn, MONTH, sh(2026, 12, 1, 9, 0))["calls_110_yoy"]
        assert first.value is None and first.detail == {"n": 0, "n_last_year": 0}
    engine.dispose()


def test_key_area_delisting(district: Engine) -> None:
    """Listed by today K1–K3 (K4 lists in December), delisted K1 → 33.33 %; on 18 Oct 1 of 2 → 50 %."""
    got = _all(district)
    assert _v(got, "key_area_delisting_rate") == 33.33
    assert (
        got["key_area_delisting_rate"].previous == 50.0 and got["key_area_delisting_rate"].last_year is None
    )


def test_on_time_uses_an_approved_extension(engine: Engine) -> None:
    with engine.begin() as conn:
        f.add_events_bulk(
            conn,
            [
                f.event_row(sh(2026, 11, 1), deadline_at=sh(2026, 11, 3), extended_deadline_at=sh(2026, 11, 6),
                            closed_at=sh(2026, 11, 5)),
                f.event_row(sh(2026, 11, 1), deadline_at=sh(2026, 11, 3), closed_at=sh(2026, 11, 5)),
                # Extended past now: not due yet.
                f.event_row(sh(2026, 11, 1), deadline_at=sh(2026, 11, 3), extended_deadline_at=sh(2026, 11, 30)),
            ],
        )  # fmt: skip
    with engine.connect() as conn:
        got = kpis.due_family(conn, MONTH, NOW)
    assert got["on_time_rate"].detail == {"on_time": 1, "due": 2}


def test_every_metric_is_computed(district: Engine) -> None:
    got = _all(district)
    assert list(got) == list(METRICS)
    for key, kpi in got.items():
        assert kpi.key == key
        metric = METRICS[key]
        if metric.chance_z:  # coloured only beyond chance: 10 property crimes against 8 is not
            beyond = metric.formula.beyond_chance(kpi.detail, metric.chance_z)
            assert kpi.status == (status_of(metric, kpi.value) if beyond else None), key
        elif metric.pace is None and metric.judged_by is None:
            assert kpi.status == status_of(metric, kpi.value), key
        elif kpi.expected is None and metric.pace is not None:  # no history to judge by: neutral
            assert kpi.status is None, key


# --- colours judged against what is expected by now (issue 17) ---------------------------------------------

NIGHT_3RD = sh(2026, 12, 3, 1, 30)  # 01:30 on the 3rd of a month: the hall's hardest moment for a threshold


def _both_paths(engine: Engine, view: ViewState, now: dt.datetime) -> tuple[dict[str, KpiValue], ...]:
    """The tiles on the direct path, then through the rollups (built beside the source, cut at ``now``)."""
    with engine.connect() as conn:
        direct = kpis.compute_kpis(conn, view, now)
    store = rollup_path.attach(engine, now)
    with engine.connect() as conn:
        fast_got = fast.all_kpis(conn, rollup_path.reader(store, conn, view, now), view, now)
    return direct, fast_got


def test_cohort_close_rate_is_judged_against_past_months_at_the_same_point(engine: Engine) -> None:
    """On the 3rd at 01:30, 22 of this month's 80 cases are closed: 27.5 %, far under the 95 % a finished
    month must reach. The past three months had closed 24 of their first days' 80 by the 3rd at 01:30
    (the rest later): 30 % expected by now, 27.5 / 30 = 92 % of it → good, not red. The previous month is
    compared as it stood then (30 %), not with what it has closed since (100 %). Town B has cases this
    month but no history: neutral. Both paths agree."""
    rows = []
    for month in (9, 10, 11):
        for i in range(80):
            closed = sh(2026, month, 2, 12) if i < 24 else sh(2026, month, 10)
            rows.append(f.event_row(sh(2026, month, 1, 10), closed_at=closed))
    for i in range(80):
        rows.append(f.event_row(sh(2026, 12, 1, 10), closed_at=sh(2026, 12, 2, 12) if i < 22 else None))
        rows.append(f.event_row(sh(2026, 12, 1, 10), grid=f.GRID_B1_1))
    with engine.begin() as conn:
        f.add_events_bulk(conn, rows)
    town_a = ViewState(period="month", towns=(f.TOWN_A,))
    for got in _both_paths(engine, town_a, NIGHT_3RD):
        cohort = got["cohort_close_rate"]
        assert round(cohort.value or 0, 2) == 27.5 and cohort.expected == 30.0 and cohort.status == "good"
        assert cohort.previous == 30.0
    for got in _both_paths(engine, ViewState(period="month", towns=(f.TOWN_B,)), NIGHT_3RD):
        assert got["cohort_close_rate"].value == 0.0 and got["cohort_close_rate"].status is None


def test_patrol_coverage_is_judged_against_past_days_by_the_same_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 01:30, 2 of 5 grids patrolled is 40 % (red against 95 %). On each of the past 7 days two grids
    had a patrol done by 01:30 (a third ended at 02:00, after that point): 40 % expected → good. Without
    past days it is neutral; behind the usual pace it is red, and that red is true."""
    pace = METRICS["patrol_coverage_today"].pace
    assert pace is not None
    monkeypatch.setitem(  # five grids cannot reach the district's 20 a day: judge from 1
        METRICS,
        "patrol_coverage_today",
        dataclasses.replace(METRICS["patrol_coverage_today"], pace=dataclasses.replace(pace, min_expected=1)),
    )
    today = [f.patrol_row(g, sh(2026, 12, 3, 0, 10), sh(2026, 12, 3, 1)) for g in (f.GRID_A1_1, f.GRID_A1_2)]
    with engine.begin() as conn:
        f.add_patrols(conn, today)
    with engine.connect() as conn:
        alone = kpis.patrol_family(conn, MONTH, NIGHT_3RD)["patrol_coverage_today"]
    assert alone.value == 40.0 and alone.expected is None and alone.status is None
    past = []
    for back in range(1, 8):
        day = sh(2026, 12, 3) - dt.timedelta(days=back)
        past += [
            f.patrol_row(g, day + dt.timedelta(minutes=10), day + dt.timedelta(hours=1)) for g in f.GRIDS[:2]
        ]
        past.append(f.patrol_row(f.GRID_A2_1, day + dt.timedelta(minutes=20), day + dt.timedelta(hours=2)))
    with engine.begin() as conn:
        f.add_patrols(conn, past)
    with engine.connect() as conn:
        got = kpis.patrol_family(conn, MONTH, NIGHT_3RD)["patrol_coverage_today"]
    assert got.value == 40.0 and got.expected == 40.0 and got.status == "good"
    assert got.previous == 40.0  # yesterday by 01:30, not yesterday by now
    # No grid done today by 01:30 when every past day had two: behind the usual pace, a true red.
    with engine.begin() as conn:
        conn.execute(delete(schema.patrol).where(schema.patrol.c.started_at >= sh(2026, 12, 3)))
    with engine.connect() as conn:
        behind = kpis.patrol_family(conn, MONTH, NIGHT_3RD)["patrol_coverage_today"]
    assert behind.value == 0.0 and behind.expected == 40.0 and behind.status == "bad"


PATROL_VIEWS = (
    MONTH,
    ViewState(towns=(f.TOWN_A,)),
    ViewState(village=f.VILLAGE_A1),
    ViewState(grid=f.GRID_A2_1),
    ViewState(eastern="exclude"),
)


def _patrol_tiles_agree(
    engine: Engine, store: Any, moments: list[dt.datetime], rebuild_patrols: bool = False
) -> None:
    source = make_source_engine(engine.url)
    with source.connect() as conn:
        store.sync(conn, rebuild_patrols=rebuild_patrols)
    source.dispose()
    for now in moments:
        for view in PATROL_VIEWS:
            with engine.connect() as conn, store.engine.connect() as rconn:
                direct = kpis.patrol_family(conn, view, now)
                quick = fast.patrol_kpis(conn, rconn, view, now)
            assert quick == direct, f"{view} at {now}"


def test_patrol_tier_matches_the_direct_probes(engine: Engine) -> None:
    """The patrol tier (rollups/patrols.py) against the direct probes, at moments that cut days, patrols
    under way, patrols that end after the moment (an as-of view's day before), patrols without an end,
    invalid ones, a grid retired later; and after a sync that sees patrols end and new ones start."""
    h = dt.timedelta(hours=1)
    rows = []
    for back in range(0, 16):
        day = sh(2026, 12, 3) - dt.timedelta(days=back)
        for i, grid in enumerate(f.GRIDS):
            start = day + (2 + 5 * i + back % 3) * h
            rows.append(f.patrol_row(grid, start, start + (1 + i % 3) * h))
            rows.append(f.patrol_row(grid, start + 9 * h, start + 10 * h, valid=i % 2 == 0))
        rows.append(f.patrol_row(f.GRID_A1_2, day + 23 * h, day + 26 * h))  # ends the next day
    rows.append(f.patrol_row(f.GRID_B1_1, sh(2026, 12, 2, 22), None))  # valid, without an end
    rows.append(f.patrol_row(f.GRID_E1_1, sh(2026, 12, 3, 17), None, valid=False))  # under way
    with engine.begin() as conn:
        f.add_patrols(conn, rows)
    moments = [
        sh(2026, 12, 3, 18, 30),
        sh(2026, 12, 3, 0, 40),
        sh(2026, 12, 2, 23, 30),
        sh(2026, 12, 2, 8, 5),
    ]
    store = rollup_path.attach(engine, moments[0])
    _patrol_tiles_agree(engine, store, moments)
    p = schema.patrol.c
    with engine.begin() as conn:  # the one under way ends valid, a new one starts, a grid retires
        conn.execute(
            schema.patrol.update().where(p.grid_code == f.GRID_E1_1, p.ended_at.is_(None))
            .values(ended_at=sh(2026, 12, 3, 18), valid=True)
        )  # fmt: skip
        f.add_patrols(conn, [f.patrol_row(f.GRID_A2_1, sh(2026, 12, 3, 18, 10), sh(2026, 12, 3, 18, 20))])
        conn.execute(
            schema.grid.update().where(schema.grid.c.grid_code == f.GRID_A1_2).values(status="RETIRED")
        )
    _patrol_tiles_agree(engine, store, [*moments, sh(2026, 12, 3, 18, 15)])
    # A finished patrol rewritten in place (as an import's update): the tier is summed afresh.
    with engine.begin() as conn:
        conn.execute(schema.patrol.update().where(p.grid_code == f.GRID_B1_1).values(valid=False))
    _patrol_tiles_agree(engine, store, moments, rebuild_patrols=True)


def test_hazards_are_judged_on_those_past_their_rectification_deadline(engine: Engine) -> None:
    """The 3rd: this month's 30 hazards are all within their 30 days (1 rectified): 3.3 %, neutral. A month
    whose hazards are past their deadline is judged on them."""
    with engine.begin() as conn:
        f.add_inspection(conn, f.TOWN_A, sh(2026, 12, 1, 9), 30, 1)
        f.add_inspection(conn, f.TOWN_A, sh(2026, 10, 1, 9), 30, 29)
    with engine.connect() as conn:
        now_kpi = kpis.hazard_family(conn, MONTH, NIGHT_3RD)["hazard_rectification_rate"]
        october = kpis.hazard_family(conn, ViewState(period="custom", date_from=dt.date(2026, 10, 1),
                                                     date_to=dt.date(2026, 10, 31)), NIGHT_3RD)  # fmt: skip
    assert round(now_kpi.value or 0, 1) == 3.3 and now_kpi.status is None
    assert round(october["hazard_rectification_rate"].value or 0, 1) == 96.7
    assert october["hazard_rectification_rate"].status == "warn"


def test_units_inspected_on_a_source_without_unit_code(sqlite_url: str) -> None:
    """A database made before ``unit_code`` (or a view over a system without one) still answers: units are
    told apart by town and name."""
    eng = init_db(sqlite_url)
    with eng.begin() as conn:
        f.add_units(conn)
        conn.exec_driver_sql("DROP INDEX ix_inspection_at")
        conn.exec_driver_sql("ALTER TABLE safety_inspection DROP COLUMN unit_code")
        for day, unit in ((2, "甲厂"), (9, "甲厂"), (3, "乙厂")):
            conn.exec_driver_sql(
                "INSERT INTO safety_inspection (unit_name, town_code, inspected_at, hazards_found, "
                f"hazards_rectified) VALUES ('{unit}', '{f.TOWN_A}', '2026-11-0{day} 01:00:00', 1, 1)"
            )
    with eng.connect() as conn:
        got = kpis.hazard_family(conn, MONTH, NOW)["hazard_rectification_rate"]
    eng.dispose()
    assert got.detail == {"rectified": 3, "found": 3, "units_inspected": 2}
