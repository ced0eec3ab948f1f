"""The rollup fast path gives exactly the direct figures while the live feed writes, on all three backends.

A small district is seeded, the rollups are built, then the feed runs minute by minute (new events,
lifecycle steps that UPDATE earlier events, evaluations, a surge). At checkpoints the rollups are brought
up to date incrementally and every view's fast snapshot must equal ``build_snapshot``'s, figure for
figure. At the end a full rebuild must give the same tiers as the increments did.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState
from dashboard.rollups.buckets import (
    DAY_US,
    HOUR_US,
    INF_US,
    day_floor,
    hour_floor,
    hours_bin,
    month_ceil,
    month_floor,
    pieces,
    to_us,
)
from dashboard.rollups.read import build_snapshot_fast, eligible
from dashboard.rollups.store import RollupStore
from dashboard.rollups.tables import LAYOUT, PK_NAMES, ru_agg, ru_grid, ru_patrol, ru_patrol_open
from dashboard.sample.seed import seed_database
from dashboard.sample.simulate import Feed, step
from dashboard.source.engines import make_source_engine, make_writer_engine
from dashboard.source.queries.snapshot import build_snapshot

T0 = dt.datetime(2026, 11, 18, 1, 30, tzinfo=dt.UTC)  # 09:30 in Shanghai, a Wednesday
GUALI = "330109113"
CHENGXIANG = "330109001"
VIEWS = (
    ViewState(),
    ViewState(period="day"),
    ViewState(period="week", towns=(GUALI,)),
    ViewState(period="year", categories=("ENV", "FIRE")),
    ViewState(period="quarter", eastern="exclude"),
    ViewState(period="month", towns=(CHENGXIANG, GUALI)),
    ViewState(period="week", sources=("HOTLINE_12345",)),
    ViewState(period="day", sources=("GRID_APP", "PATROL")),
    ViewState(depts=("D03_CITYMGMT",)),
    ViewState(period="day", depts=("D05_FIRE", "D07_ENV")),
    ViewState(period="quarter", towns=(GUALI,), sources=("GRID_APP",)),
    ViewState(period="year", categories=("CITY_APPEARANCE",), depts=("D03_CITYMGMT",)),
    ViewState(eastern="exclude", sources=("HOTLINE_12345",), depts=("D03_CITYMGMT",)),
    ViewState(period="custom", date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 11, 10)),
    ViewState(
        period="custom", date_from=dt.date(2024, 1, 1), date_to=dt.date(2026, 11, 30), sources=("PATROL",)
    ),
    # The duration bins by category, with the eastern switch (e) and by category × source; and pairs the
    # bins do not keep (read from the facts).
    ViewState(
        period="custom", date_from=dt.date(2024, 1, 1), date_to=dt.date(2026, 11, 30), categories=("ENV",)
    ),
    ViewState(period="year", categories=("FIRE", "ENV"), sources=("HOTLINE_12345",)),
    ViewState(period="quarter", eastern="exclude", sources=("GRID_APP",)),
    ViewState(period="year", towns=(CHENGXIANG,), depts=("D03_CITYMGMT",)),
    ViewState(period="year", eastern="exclude", categories=("ENV",), depts=("D03_CITYMGMT",)),
    # A town's villages ranked over whole months (the month tier's ``tvd``) and the days at the ends.
    ViewState(period="custom", date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 11, 30), towns=(GUALI,)),
    ViewState(period="quarter", towns=(CHENGXIANG,), eastern="exclude"),
)


def as_of_views(moment: dt.datetime) -> list[ViewState]:
    """Views of a past instant: lifecycles in flight then (closed, dispatched, returned … later)."""
    hours = dt.timedelta(hours=1)
    return [
        ViewState(as_of=moment - 2 * hours),
        ViewState(period="day", as_of=moment - 30 * hours),
        ViewState(period="week", towns=(GUALI,), as_of=moment - 3 * 24 * hours),
        ViewState(period="quarter", towns=(GUALI,), as_of=moment - 26 * hours),
        ViewState(period="quarter", sources=("HOTLINE_12345",), as_of=moment - 5 * 24 * hours),
        ViewState(period="year", depts=("D03_CITYMGMT",), as_of=moment - 9 * 24 * hours),
        ViewState(eastern="exclude", categories=("CITY_APPEARANCE",), as_of=moment - 26 * hours),
        ViewState(
            period="custom",
            date_from=dt.date(2026, 10, 20),
            date_to=dt.date(2026, 11, 2),
            as_of=moment - 50 * hours,
        ),
    ]


def busiest_grid(conn: Any) -> str:
    from sqlalchemy import func

    from dashboard.source import schema

    e = schema.event
    return str(
        conn.execute(
            select(e.c.grid_code)
            .where(e.c.grid_code.is_not(None))
            .group_by(e.c.grid_code)
            .order_by(func.count().desc(), e.c.grid_code)
            .limit(1)
        ).scalar()
    )


def add_town_level_cases(
    engine: Any, feed: Feed, moment: dt.datetime, closing: str | None = None
) -> list[str]:
    """12345 hotline cases without a grid (未落网格), as an import of a real export brings them: in 瓜沥镇
    with no village, and in the busiest grid's village with no grid; open, overdue, closed on time and
    late, reported minutes to weeks before ``moment``. Ids and numbers come from the feed's numberer, so
    its own later events do not collide with them; the feed leaves them alone (they are not its plans).
    ``closing``: an earlier open one that closes now (with its CLOSE action), so the sync moves a
    town-level fact too. Returns the new event numbers."""
    from sqlalchemy import insert, update

    from dashboard.source import schema

    e, a = schema.event, schema.event_action
    hour = dt.timedelta(hours=1)
    with engine.begin() as conn:
        village = busiest_grid(conn)[:12]
        rows = []
        for town, vill, age_h, due_h, closed_h in [
            (GUALI, None, 2, 70, None),  # open, not yet due
            (GUALI, None, 30, 20, None),  # open, overdue
            (GUALI, None, 200, 100, 150),  # closed on time
            (GUALI, None, 400, 200, 100),  # closed late
            (village[:9], village, 5, 1, None),  # open, overdue, in a village without a grid
            (village[:9], village, 50, 40, 45),  # closed on time
            (CHENGXIANG, None, 24 * 20, 24 * 10, None),  # last month's, open and overdue
        ]:
            reported = moment - age_h * hour
            closed = moment - closed_h * hour if closed_h is not None else None
            event_id, number = feed.numberer.take(int(moment.timestamp()))
            rows.append(
                {
                    "event_id": event_id,
                    "event_no": number,
                    "title": "噪音扰民",
                    "category_l1": "CITY_APPEARANCE",
                    "source": "HOTLINE_12345",
                    "priority": "NORMAL",
                    "grid_code": None,
                    "village_code": vill,
                    "town_code": town,
                    "status": "CLOSED" if closed else "ACCEPTED",
                    "reported_at": reported,
                    "accepted_at": reported + dt.timedelta(minutes=10),
                    "deadline_at": reported + (age_h - due_h) * hour
                    if age_h > due_h
                    else moment + due_h * hour,
                    "closed_at": closed,
                }
            )
        conn.execute(insert(e), rows)
        if closing:
            first = conn.execute(select(e.c.event_id).where(e.c.event_no == closing)).scalar_one()
            at = moment - dt.timedelta(minutes=3)
            conn.execute(update(e).where(e.c.event_id == first).values(status="CLOSED", closed_at=at))
            conn.execute(
                insert(a).values(
                    event_id=first, action="CLOSE", from_status="ACCEPTED", to_status="CLOSED", at=at
                )
            )
    return [str(r["event_no"]) for r in rows]


def unit_views(conn: Any, moment: dt.datetime) -> list[ViewState]:
    """A village's and a grid's views (the busiest grid of the seeded district), live and as of."""
    grid = busiest_grid(conn)
    village, town = grid[:12], grid[:9]
    return [
        ViewState(towns=(town,)),  # its villages' list holds a 未落网格 row (add_town_level_cases)
        ViewState(towns=(GUALI,), period="month"),
        ViewState(village=village),
        ViewState(towns=(town,), village=village, period="day"),
        ViewState(grid=grid, period="year"),
        ViewState(village=village, grid=grid, period="week", as_of=moment - dt.timedelta(days=2)),
        ViewState(village=village, sources=("GRID_APP",), period="quarter"),
        # whole months from the month tier's village × category / source rows, the other days from facts
        ViewState(village=village, categories=("SANITATION_ENV",), period="year"),
        ViewState(towns=(town,), sources=("GRID_APP",), period="year", as_of=moment - dt.timedelta(days=3)),
        ViewState(
            village=village,
            sources=("GRID_APP",),
            period="custom",
            date_from=dt.date(2025, 1, 1),
            date_to=moment.date(),
            as_of=moment - dt.timedelta(hours=5),
        ),
        ViewState(grid=grid, as_of=moment - dt.timedelta(hours=20), depts=("D03_CITYMGMT",)),
    ]


def figures(snap: Snapshot) -> dict[str, Any]:
    data = snap.to_dict()
    for key in ("view", "data_version", "newest_data_at", "now"):
        data.pop(key)
    return data


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two snapshot dicts differ; floats to 1e-9 (sums of hours are added in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only on one side" for k in set(a) ^ set(b)]
        for k in set(a) & set(b):
            out += differences(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
            return [f"{path}: {a!r} != {b!r}"]
        return []
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _tiers(store: RollupStore) -> dict[tuple[Any, ...], tuple[float, ...]]:
    """The tier rows that hold anything (increments leave zero rows behind)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(ru_agg)).all()
    width = len(PK_NAMES)
    return {
        tuple(r[:width]): tuple(round(float(x), 6) for x in r[width:])
        for r in rows
        if any(abs(float(x)) > 1e-9 for x in r[width:])
    }


def _patrol_tier(store: RollupStore) -> set[tuple[Any, ...]]:
    """The patrol tier's rows, the patrols still without an end and the mirrored grids."""
    with store.engine.connect() as conn:
        return {
            (table.name, *row)
            for table in (ru_patrol, ru_patrol_open, ru_grid)
            for row in conn.execute(select(table))
        }


RANGES = (
    (17, 3 * DAY_US + 5),
    (0, HOUR_US),
    (1, 2),
    (-400 * DAY_US + 7, 3 * HOUR_US),  # a year-old instant up to now: months in the middle
    (-40 * DAY_US, INF_US - (to_us(T0) or 0) + DAY_US),  # a state key's tail: up to "never"
)


@pytest.mark.parametrize("tiers", ["mdh", "md", "dh", "h"])
def test_pieces_cover_a_range_exactly(tiers: str) -> None:
    base = to_us(T0) or 0
    for lo, hi in RANGES:
        start, end = base + lo, base + hi
        parts = pieces(start, end, tiers, hourly=tiers == "h")
        assert parts[0][1] == start and parts[-1][2] == end
        assert all(a[2] == b[1] for a, b in itertools.pairwise(parts))
        for tier, s, e in parts:
            assert tier in tiers + "f"
            if tier == "h":
                assert s % HOUR_US == 0 and e % HOUR_US == 0
            if tier == "d":
                assert day_floor(s) == s and day_floor(e) == e
            if tier == "m":
                assert month_floor(s) == s and month_floor(e) == e
            if (
                tier == "f"
            ):  # an edge stays within a local day (an hour for hourly series), short beside hours
                assert day_floor(s) == day_floor(e - 1)
                assert e - s < 2 * HOUR_US or "h" not in tiers
                assert hour_floor(s) == hour_floor(e - 1) or tiers != "h"
    year_back = pieces(base - 400 * DAY_US, base, tiers)
    if "m" in tiers:
        assert len(year_back) < 80  # ~12 months, the days and hours at both ends


def test_month_buckets_follow_the_local_calendar() -> None:
    start = to_us(dt.datetime(2026, 1, 31, 16, 0, tzinfo=dt.UTC)) or 0  # 1 Feb 00:00 in Shanghai
    assert month_floor(start) == start and month_floor(start - 1) == to_us(
        dt.datetime(2025, 12, 31, 16, 0, tzinfo=dt.UTC)
    )
    assert month_ceil(start + 1) == to_us(dt.datetime(2026, 2, 28, 16, 0, tzinfo=dt.UTC))
    assert month_floor(INF_US + DAY_US) == INF_US


def test_duration_bins_are_monotone() -> None:
    values = [-1.0, 0.0, 0.01, 0.5, 1.0, 2.0, 23.9, 24.0, 100.0, 2000.0, 1e6]
    bins = [hours_bin(v) for v in values]
    assert bins == sorted(bins) and hours_bin(None) is None
    assert len({hours_bin(v) for v in (10.0, 11.0, 12.0, 13.0, 14.0)}) >= 4  # ~9 % of (1 + hours) wide


def test_a_projection_with_the_eastern_switch_is_summed_from_its_towns_rows() -> None:
    """The full build sums a narrower projection from a wider one: a town keeps the eastern switch, the
    switch never gives a town back."""
    from dashboard.rollups.build import derivable, roots
    from dashboard.rollups.tables import projections

    assert derivable("es", "ts") and derivable("e", "t") and derivable("e", "es") and derivable("", "e")
    assert not derivable("t", "es") and not derivable("ts", "es") and not derivable("es", "es")
    assert not derivable("es", "tc") and not derivable("c", "s")
    assert "es" not in roots(projections("rep", "m")) and "ec" not in roots(projections("hst", "d"))
    assert "es" in roots(projections("rep", "d"))  # no day projection keeps a town and a source


def test_fast_path_matches_direct_while_the_feed_writes(db_url: str) -> None:
    seed_database(db_url, days=40, scale=0.04, patrol_days=1, now=T0, progress=False)
    writer = make_writer_engine(db_url)
    reader = make_source_engine(db_url)
    store = RollupStore(make_writer_engine(db_url))  # the ru_* tables beside the source, for the test
    feed = Feed(writer, seed=7, rate=3.0)
    town_level = add_town_level_cases(writer, feed, T0)
    with reader.connect() as conn:
        assert store.sync(conn).rebuilt
    if store.engine.dialect.name == "postgresql":  # stored in village order (build._order_facts_by_village)
        with store.engine.connect() as rconn:
            villages = [v for (v,) in rconn.exec_driver_sql("SELECT village FROM ru_fact ORDER BY ctid")]
        assert len(villages) > 1000 and villages == sorted(villages)
    changed = 0
    for minute in range(1, 61):
        moment = T0 + dt.timedelta(minutes=minute)
        step(writer, moment, feed=feed, surge=GUALI if minute == 20 else None)
        if minute == 40:
            add_town_level_cases(
                writer, feed, moment, closing=town_level[1]
            )  # new ones; an overdue one closes
        if minute not in (25, 60):
            continue
        with reader.connect() as conn:
            report = store.sync(conn)
            assert not report.rebuilt
            changed += report.events
            views = (*VIEWS, *as_of_views(moment), *unit_views(conn, moment))
            # Every view after the last sync; after the first, every third: a sync that went wrong early
            # still shows at the end, and the direct builds were most of the test's time (×3 backends).
            for view in views if minute == 60 else views[::3]:
                assert eligible(view, moment, store.meta()), view
                direct = figures(build_snapshot(conn, view, moment))
                quick = figures(build_snapshot_fast(conn, store, view, moment))
                diff = differences(direct, quick)
                assert not diff, f"{view} at {moment}: {diff[:10]}"
                if view.towns == (GUALI,) and not (
                    view.village or view.categories or view.sources or view.as_of
                ):
                    # the town-level cases make the villages' list's last row, unranked
                    assert [(u["code"], u["rank"]) for u in direct["backlog"]["units"]][-1] == ("", None)
    assert changed > 50  # the feed really changed events (new ones and lifecycle updates)
    incremental, patrols = _tiers(store), _patrol_tier(store)
    assert patrols, "the feed's patrols are in the patrol tier"
    with reader.connect() as conn:
        assert store.sync(conn, rebuild=True).rebuilt
    assert _tiers(store) == incremental
    assert _patrol_tier(store) == patrols  # the patrols that ended since were summed again
    for engine in (writer, reader, store.engine):
        engine.dispose()


@pytest.mark.parametrize(
    "view",
    [
        ViewState(as_of=T0 - dt.timedelta(hours=2)),
        ViewState(village="330109001001"),
        ViewState(depts=("D05_FIRE",)),
        ViewState(),
    ],
)
def test_every_view_takes_the_fast_path_once_built(view: ViewState) -> None:
    class Meta:
        odd = 0
        layout = LAYOUT
        max_ts = to_us(T0 + dt.timedelta(seconds=1))  # rows after now: corrected, not refused

    assert eligible(view, T0, Meta())
    assert not eligible(view, T0, None)  # not built yet: the direct path answers
    Meta.odd = 1  # a deadline extension beyond the bound the direct due queries assume
    assert not eligible(view, T0, Meta())


def test_the_service_builder_answers_directly_until_the_rollups_exist(district: str, tmp_path: Any) -> None:
    """DASHBOARD_ROLLUPS=on: the first build runs in the background; meanwhile the direct queries answer."""
    from dashboard.core.settings import load_settings
    from dashboard.perf.datasets import data_end
    from dashboard.rollups.builder import FastBuilder
    from dashboard.service.factory import rollup_builder
    from dashboard.service.state import StateStore

    settings = load_settings({}, STATE_URL=f"sqlite:///{tmp_path / 'state.db'}", ROLLUPS="on")
    source = make_source_engine(district)
    state = StateStore(settings.STATE_URL)
    builder = rollup_builder(settings, state, source)
    assert isinstance(builder, FastBuilder)
    assert rollup_builder(load_settings({}, ROLLUPS="off"), state, source) is None
    now = data_end(district)
    with source.connect() as conn:
        first = figures(builder(conn, ViewState(), now))
        builder.wait_for_build(timeout=300)
        assert builder.store.meta() is not None and eligible(ViewState(), now, builder.store.meta())
        second = figures(builder(conn, ViewState(), now))
    assert not differences(first, second)
    with pytest.raises(ValueError, match="ROLLUPS"):
        load_settings({}, ROLLUPS="maybe")
    source.dispose()
    state.dispose()


def test_rollups_of_an_older_layout_are_dropped_and_rebuilt(tmp_path: Any) -> None:
    """A store written by an older release (no projection column) is derived data: dropped, not misread."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE ru_agg (tier TEXT, kind TEXT, b INTEGER, town TEXT, cat TEXT, dept TEXT)")
        )
        conn.execute(text("INSERT INTO ru_agg VALUES ('d', 'rep', 0, 'x', 'y', 'z')"))
    store = RollupStore(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("ru_agg")}
    assert "p" in columns and store.meta() is None  # empty: the next sync is a full build
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ru_agg")).scalar() == 0
    engine.dispose()
