"""Stream freshness on hand-built data, on all three backends: a quiet night is live, the same gap by day
is stopped, and ``/health`` says so.

Each of the past five weeks brought, on Wednesdays, one report a minute from 14:00 to 14:59 and one
report at 01:10. Today (Wednesday 2 December 2026) the reports stop at 14:00.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from dashboard.core.clock import FixedClock
from dashboard.core.freshness import ABSENT, LATE, LIVE, STOPPED
from dashboard.core.settings import load_settings
from dashboard.service.cache import init_cache
from dashboard.service.freshness import FreshnessWatch
from dashboard.service.snapshots import SnapshotService
from dashboard.service.state import StateStore
from dashboard.source import schema
from dashboard.source.engines import init_db
from dashboard.source.queries.freshness import expected_rows, stream_newest
from tests.support import factories as f
from tests.support.factories import sh

TODAY_14 = sh(2026, 12, 2, 14, 0)
CADENCE = {"events": 10.0, "actions": 10.0, "patrols": 30.0, "video": 5.0}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = init_db(db_url)
    rows = []
    for week in range(1, 6):
        day = TODAY_14 - dt.timedelta(weeks=week)
        rows += [f.event_row(day + dt.timedelta(minutes=m)) for m in range(60)]
        rows.append(f.event_row(day.replace(hour=1, minute=10)))
    rows.append(f.event_row(TODAY_14))
    with eng.begin() as conn:
        f.add_units(conn)
        f.add_events_bulk(conn, rows)
        f.add_video_point(conn, "V1", f.GRID_A1_1, sh(2025, 1, 1))
    yield eng
    eng.dispose()


def watch(engine: Engine, tmp_path: Path, now: dt.datetime) -> FreshnessWatch:
    cache = init_cache(load_settings(env={}, CACHE_DIR=str(tmp_path / "cache")))
    return FreshnessWatch(engine, cache, FixedClock(now), CADENCE, check_seconds=5)


def states(engine: Engine, tmp_path: Path, now: dt.datetime) -> dict[str, str]:
    found = watch(engine, tmp_path, now).streams()
    assert found is not None
    return {s.stream: s.state for s in found}


def test_the_newest_row_of_each_stream(engine: Engine) -> None:
    with engine.connect() as conn:
        newest = stream_newest(conn, TODAY_14 + dt.timedelta(minutes=5))
        assert newest["events"] == TODAY_14
        assert newest["actions"] is None and newest["patrols"] is None and newest["video"] is None
        assert stream_newest(conn, TODAY_14 - dt.timedelta(seconds=1))["events"] < TODAY_14  # type: ignore[operator]


def test_the_rows_the_same_window_brought_in_past_weeks(engine: Engine) -> None:
    with engine.connect() as conn:
        # 14:00–14:25: 25 reports in each of the four weeks before.
        assert expected_rows(conn, "events", TODAY_14, TODAY_14 + dt.timedelta(minutes=25)) == 25.0
        night = sh(2026, 12, 2, 1, 5)
        assert expected_rows(conn, "events", night, night + dt.timedelta(minutes=25)) == 1.0
        assert expected_rows(conn, "patrols", night, night + dt.timedelta(minutes=25)) is None  # no history


def test_by_day_a_gap_that_past_weeks_filled_is_stopped(engine: Engine, tmp_path: Path) -> None:
    assert states(engine, tmp_path / "a", TODAY_14 + dt.timedelta(minutes=8))["events"] == LIVE  # cadence
    # After 14:00 (no row after the one at 14:00), past weeks are asked from half a cadence on (14:05):
    # 3 minutes past the cadence → 8 expected → late; 6 minutes → 11 → stopped.
    assert states(engine, tmp_path / "b", TODAY_14 + dt.timedelta(minutes=13))["events"] == LATE
    assert states(engine, tmp_path / "c", TODAY_14 + dt.timedelta(minutes=16))["events"] == STOPPED
    assert states(engine, tmp_path / "d", TODAY_14 + dt.timedelta(minutes=16))["video"] == ABSENT


def test_the_tail_of_a_burst_in_past_weeks_is_not_a_gap(engine: Engine, tmp_path: Path) -> None:
    """Patrols start in a burst with each shift, and the burst ends a little later some weeks: the rows
    another week had seconds after today's last one do not make an evening's quiet late."""
    shift_end = sh(2026, 12, 2, 20, 59, 54)
    with engine.begin() as conn:
        last_week = shift_end - dt.timedelta(weeks=1)
        starts = [last_week + dt.timedelta(seconds=s) for s in (-60, 1, 2, 3)] + [shift_end]
        f.add_patrols(conn, [f.patrol_row(f.GRID_A1_1, at, None, staff=i) for i, at in enumerate(starts)])
    evening = shift_end + dt.timedelta(minutes=96)
    assert states(engine, tmp_path, evening)["patrols"] == LIVE
    with engine.connect() as conn:  # counted from the newest row itself, the tail read as 3 missing rows
        assert expected_rows(conn, "patrols", shift_end, evening) == 3.0


def test_at_night_on_the_third_of_the_month_the_same_gap_is_live(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        f.add_events_bulk(conn, [f.event_row(sh(2026, 12, 3, 1, 5))])
    # 01:30 on the 3rd, 25 minutes after the last report: past Thursdays brought none then.
    assert states(engine, tmp_path, sh(2026, 12, 3, 1, 30))["events"] == LIVE


def test_a_stopped_heartbeat_is_late_then_stopped(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        conn.execute(update(schema.video_point).values(last_heartbeat_at=TODAY_14))
    assert states(engine, tmp_path / "a", TODAY_14 + dt.timedelta(minutes=4))["video"] == LIVE
    assert states(engine, tmp_path / "b", TODAY_14 + dt.timedelta(minutes=11))["video"] == LATE
    assert states(engine, tmp_path / "c", TODAY_14 + dt.timedelta(minutes=21))["video"] == STOPPED


def test_health_is_degraded_by_a_stopped_stream_and_keeps_the_data_age(
    engine: Engine, tmp_path: Path
) -> None:
    settings = load_settings(env={}, CACHE_DIR=str(tmp_path / "cache"))
    clock = FixedClock(TODAY_14 + dt.timedelta(minutes=8))
    service = SnapshotService(
        engine,
        StateStore(f"sqlite:///{tmp_path / 'state.db'}"),
        init_cache(settings),
        clock,
        stream_cadence=CADENCE,
    )
    live = service.health()
    assert live["status"] == "ok"
    # No action rows at all (an import of reports alone): the data still has an age.
    assert live["source"]["newest_data_at"] == TODAY_14.astimezone(dt.UTC).isoformat()
    assert {s["stream"]: s["state"] for s in live["source"]["streams"]}["events"] == LIVE
    clock.advance(minutes=30)
    stopped = service.health()
    assert stopped["status"] == "degraded"
    events = next(s for s in stopped["source"]["streams"] if s["stream"] == "events")
    assert events["state"] == STOPPED and events["age_seconds"] == 38 * 60 and events["expected_rows"] == 33.0
