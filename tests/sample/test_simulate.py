"""The live feed: catch-up, ticks, surges; valid, never in the future, append-only, resumable."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select

from dashboard.sample import simulate as sim
from dashboard.sample.arrivals import hourly_rate
from dashboard.sample.seed import seed_database
from dashboard.sample.times import local_date, to_epoch
from dashboard.source import schema
from dashboard.source.engines import make_writer_engine
from tests.support.sample import NOW, SMALL, check_action_log, latest_timestamp

RATE = SMALL["scale"]  # the feed at the seed's volume
SEED = SMALL["seed"]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    seed_database(db_url, **SMALL)
    eng = make_writer_engine(db_url)
    yield eng
    eng.dispose()


def append_only_snapshot(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the append-only tables, keyed by their ids."""
    a, v, c = schema.event_action.c, schema.video_status_change.c, schema.patrol_checkin.c
    return {
        "event_action": [tuple(r) for r in conn.execute(select(a.action_id, a.event_id, a.action, a.to_status, a.at).order_by(a.action_id))],
        "video_status_change": [tuple(r) for r in conn.execute(select(v.change_id, v.point_code, v.online, v.at).order_by(v.change_id))],
        "patrol_checkin": [tuple(r) for r in conn.execute(select(c.checkin_id, c.patrol_id, c.at).order_by(c.checkin_id))],
    }  # fmt: skip


def assert_appended(
    before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]
) -> None:
    for table, rows in before.items():
        assert after[table][: len(rows)] == rows, f"{table} history was rewritten"
        assert len(after[table]) >= len(rows)


def expected_events(start: dt.datetime, end: dt.datetime) -> float:
    s, e = to_epoch(start), to_epoch(end)
    total = 0.0
    for hour in range(s // 3600, e // 3600 + 1):
        lo, hi = max(s, hour * 3600), min(e, hour * 3600 + 3600)
        total += hourly_rate(hour * 3600, RATE) * max(hi - lo, 0) / 3600
    return total


def test_catch_up_ticks_and_surge_keep_the_database_valid(engine: Engine) -> None:
    with engine.connect() as conn:
        before = append_only_snapshot(conn)
        newest = conn.execute(select(func.max(schema.event.c.reported_at))).scalar_one()
    gap_end = NOW + dt.timedelta(hours=6)
    created = sim.catch_up(engine, gap_end, seed=SEED, rate=RATE)
    expected = expected_events(newest, gap_end)
    assert expected > 30
    assert 0.6 * expected <= created <= 1.5 * expected  # the gap is filled at the usual rate
    with engine.connect() as conn:
        e = schema.event.c
        in_gap = conn.execute(
            select(func.count()).where(e.reported_at > NOW, e.reported_at <= gap_end)
        ).scalar()
        assert in_gap == created
        hours = {r.hour for (r,) in conn.execute(select(e.reported_at).where(e.reported_at > NOW))}
        assert len(hours) >= 5  # spread over the gap, not bunched at its end
        assert latest_timestamp(conn) <= gap_end
        assert_appended(before, append_only_snapshot(conn))
        before = append_only_snapshot(conn)
    # A stateless step at the same instant reloads the state from the database and finds nothing to add.
    again = sim.step(engine, gap_end, rate=RATE, seed=SEED)
    assert (again.events, again.actions, again.checkins, again.patrols, again.video_changes) == (
        0,
        0,
        0,
        0,
        0,
    )

    feed = sim.Feed(engine, seed=SEED, rate=RATE)
    t = gap_end
    for _ in range(3):
        t += dt.timedelta(minutes=10)
        report = sim.step(engine, t, rate=RATE, feed=feed)
        assert report.actions > 0 or report.events > 0 or report.checkins > 0
    surge_at = t
    surged = sim.step(engine, t, rate=RATE, feed=feed, surge="330109113", rng=random.Random(3)).surge_events
    for _ in range(6):  # the burst unfolds over the next five minutes of ticks
        t += dt.timedelta(minutes=1)
        surged += sim.step(engine, t, rate=RATE, feed=feed).surge_events
    assert 15 <= surged <= 30
    with engine.connect() as conn:
        e = schema.event.c
        burst = conn.execute(
            select(func.count()).where(
                e.town_code == "330109113", e.reported_at > surge_at, e.reported_at <= t
            )
        ).scalar()
        assert burst >= surged
        assert latest_timestamp(conn) <= t
        check_action_log(conn, t)
        assert_appended(before, append_only_snapshot(conn))
        v, ch = schema.video_point.c, schema.video_status_change.c
        last = dict(
            conn.execute(
                select(ch.point_code, ch.online).order_by(ch.point_code, ch.at, ch.change_id)
            ).all()  # dict keeps the last change per point
        )
        for code, online in conn.execute(select(v.point_code, v.online)):
            assert bool(online) == bool(last.get(code, True))


def _window_rows(url: str, start: dt.datetime) -> dict[str, Any]:
    eng = make_writer_engine(url)
    e, p, ch = schema.event.c, schema.patrol.c, schema.video_status_change.c
    try:
        with eng.connect() as conn:
            events = conn.execute(
                select(
                    e.event_no,
                    e.category_l1,
                    e.grid_code,
                    e.reported_at,
                    e.status,
                    e.closed_at,
                    e.dispatch_count,
                )
                .where(e.reported_at > start)
                .order_by(e.event_no)
            ).all()
            patrols = conn.execute(
                select(p.staff_id, p.started_at, p.ended_at, p.checkin_count, p.valid)
                .where(p.started_at > start)
                .order_by(p.started_at, p.staff_id)
            ).all()
            changes = conn.execute(
                select(ch.point_code, ch.online, ch.at).where(ch.at > start).order_by(ch.at, ch.point_code)
            ).all()
            return {"events": [tuple(r) for r in events], "patrols": [tuple(r) for r in patrols],
                    "changes": [tuple(r) for r in changes]}  # fmt: skip
    finally:
        eng.dispose()


def test_seed_then_feed_equals_a_longer_seed(
    sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Resuming is exact: seeding to T−3 h and feeding to T gives the same recent history as seeding to T."""
    earlier = NOW - dt.timedelta(hours=3)
    seed_database(sqlite_url, **{**SMALL, "now": earlier})
    sim.catch_up(sqlite_url, NOW, seed=SEED, rate=RATE)
    longer = f"sqlite:///{tmp_path_factory.mktemp('longer') / 'b.db'}"
    seed_database(longer, **SMALL)
    # Compare from the second day of the window on (event numbers restart each day; day one differs).
    since = NOW - dt.timedelta(days=12)
    resumed, reference = _window_rows(sqlite_url, since), _window_rows(longer, since)
    assert len(reference["events"]) > 100
    assert resumed["events"] == reference["events"]
    assert resumed["changes"] == reference["changes"]
    recent = earlier - dt.timedelta(days=1)
    assert [r for r in resumed["patrols"] if r[1] > recent] == [
        r for r in reference["patrols"] if r[1] > recent
    ]


def test_run_feed_stops_on_sigterm_and_releases_a_surge(sqlite_url: str) -> None:
    seed_database(sqlite_url, **SMALL)
    state = {"now": NOW + dt.timedelta(minutes=20), "sleeps": 0}

    def clock() -> dt.datetime:
        return state["now"]  # type: ignore[return-value]

    def sleep(_seconds: float) -> None:
        state["now"] += dt.timedelta(seconds=30)  # type: ignore[operator]
        state["sleeps"] += 1  # type: ignore[operator]
        if state["sleeps"] == 14:  # seven minutes in: the surge is all out
            os.kill(os.getpid(), signal.SIGTERM)

    handler_before = signal.getsignal(signal.SIGTERM)
    total = sim.run_feed(
        sqlite_url,
        rate=RATE,
        surge="瓜沥镇",
        tick=30,
        seed=SEED,
        clock=clock,
        sleep=sleep,
        progress=False,
        log=None,
    )
    assert state["sleeps"] == 14
    assert signal.getsignal(signal.SIGTERM) == handler_before  # handlers restored
    assert 15 <= total.surge_events <= 30
    assert total.events > total.surge_events
    eng = make_writer_engine(sqlite_url)
    try:
        with eng.connect() as conn:
            assert latest_timestamp(conn) <= state["now"]
            check_action_log(conn, state["now"])  # type: ignore[arg-type]
    finally:
        eng.dispose()


def test_a_stateless_surge_lands_after_the_newest_report(sqlite_url: str) -> None:
    seed_database(sqlite_url, **{**SMALL, "days": 1, "patrol_days": 0})
    with pytest.raises(ValueError, match="unknown"):
        sim.step(sqlite_url, NOW + dt.timedelta(minutes=1), surge="火星镇")
    eng = make_writer_engine(sqlite_url)
    with eng.connect() as conn:
        seeded_changes = conn.execute(select(func.count()).select_from(schema.video_status_change)).scalar()
    eng.dispose()
    t = NOW + dt.timedelta(minutes=3)
    report = sim.step(sqlite_url, t, rate=RATE, seed=SEED, surge="330109113001")  # a village code
    assert 15 <= report.surge_events <= 30
    eng = make_writer_engine(sqlite_url)
    try:
        with eng.connect() as conn:
            e = schema.event.c
            burst = conn.execute(
                select(func.count()).where(
                    e.village_code == "330109113001",
                    e.reported_at > t - dt.timedelta(minutes=5),
                    e.reported_at <= t,
                )
            ).scalar()
            assert burst >= report.surge_events
            check_action_log(conn, t)
            assert latest_timestamp(conn) <= t
            # no back-filled history: patrols and camera changes only after the newest seeded report
            earliest = conn.execute(select(func.min(schema.patrol.c.started_at))).scalar()
            assert earliest is None or earliest > NOW - dt.timedelta(hours=1)
            ch = schema.video_status_change.c
            assert conn.execute(select(func.count()).where(ch.at <= NOW)).scalar() == seeded_changes
    finally:
        eng.dispose()


def test_feed_needs_a_seeded_database(sqlite_url: str) -> None:
    from dashboard.source.engines import init_db

    init_db(sqlite_url).dispose()
    with pytest.raises(ValueError, match="seed"):
        sim.catch_up(sqlite_url, NOW)


def test_the_feed_writes_each_day_of_110_statistics_once_it_is_over(sqlite_url: str) -> None:
    """Seeded to NOW and fed three days on: the two days after the seed's last one are written, a row a
    town each, at the seed's daily volume; today's, still under way, is not."""
    seed_database(sqlite_url, **{**SMALL, "days": 2, "patrol_days": 0})
    later = NOW + dt.timedelta(days=3)
    sim.catch_up(sqlite_url, later, seed=SEED, rate=RATE)
    eng = make_writer_engine(sqlite_url)
    pcs = schema.police_call_stat.c
    with eng.connect() as conn:
        rows = conn.execute(
            select(pcs.stat_date, func.sum(pcs.effective_110_calls), func.count()).group_by(pcs.stat_date)
        ).all()
        towns = conn.execute(select(func.count(func.distinct(pcs.town_code)))).scalar()
    eng.dispose()
    daily = {dt.date.fromisoformat(str(d)[:10]): (int(calls), n) for d, calls, n in rows}
    days = sorted(daily)
    assert days[-1] == local_date(to_epoch(later)) - dt.timedelta(days=1)  # yesterday, not today
    assert days[-3] == local_date(to_epoch(NOW))  # the seed's last day
    assert daily[days[-1]][1] == daily[days[-2]][1] == towns == 26  # a row a town
    week = [daily[d][0] for d in days[-10:-3]]  # the seed's last week before
    mean = sum(week) / len(week)
    assert all(0.8 * mean < daily[d][0] < 1.2 * mean for d in days[-2:]), (week, daily)
