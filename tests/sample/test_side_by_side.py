"""One feed per source: ``simulate --surge`` beside a running feed hands it the burst instead of
starting a second feed (which wrote every report twice and crashed the first on a taken event id).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from dashboard.sample import simulate as sim
from dashboard.sample.feedpost import FeedPost, post_dir
from dashboard.sample.seed import seed_database
from dashboard.source import schema
from dashboard.source.engines import make_writer_engine
from tests.support.factories import event_row
from tests.support.sample import NOW, SMALL

ROOT = Path(__file__).resolve().parents[2]
GUALI = "330109113"


def test_a_surge_posted_to_a_running_feed_is_released_by_it(sqlite_url: str) -> None:
    seed_database(sqlite_url, **SMALL)
    FeedPost(sqlite_url).post_surge("瓜沥镇")  # as a second `simulate --surge` does while the feed runs
    state = {"now": NOW + dt.timedelta(minutes=1), "sleeps": 0}

    def clock() -> dt.datetime:
        return state["now"]  # type: ignore[return-value]

    def sleep(_seconds: float) -> None:
        state["now"] += dt.timedelta(seconds=30)  # type: ignore[operator]
        state["sleeps"] += 1  # type: ignore[operator]
        if state["sleeps"] == 12:  # six minutes in: the burst is all out
            os.kill(os.getpid(), signal.SIGTERM)

    total = sim.run_feed(
        sqlite_url,
        rate=SMALL["scale"],
        tick=30,
        seed=SMALL["seed"],
        clock=clock,
        sleep=sleep,
        progress=False,
        log=None,
    )
    assert 15 <= total.surge_events <= 30
    assert FeedPost(sqlite_url).collect_surges() == []  # collected once
    assert FeedPost(sqlite_url).hold()  # and the lock was let go when the feed ended


def test_a_second_plain_feed_is_refused_and_an_unknown_unit_is_said(sqlite_url: str) -> None:
    seed_database(sqlite_url, **{**SMALL, "days": 1, "patrol_days": 0})
    running = FeedPost(sqlite_url)
    assert running.hold()
    try:
        with pytest.raises(sim.FeedAlreadyRunning, match="already writing"):
            sim.run_feed(sqlite_url, duration=1, progress=False, log=None)
        with pytest.raises(ValueError, match="unknown"):
            sim.hand_over_surge(sqlite_url, "火星镇", log=None)
        assert sim.hand_over_surge(sqlite_url, GUALI, log=None)
        assert running.collect_surges() == [GUALI]
    finally:
        running.release()
    assert not sim.hand_over_surge(sqlite_url, GUALI, log=None)  # nobody runs: the caller runs the feed


def test_ids_taken_by_another_writer_between_ticks_are_skipped(db_url: str) -> None:
    seed_database(db_url, **SMALL)
    engine = make_writer_engine(db_url)
    try:
        feed = sim.Feed(engine, seed=SMALL["seed"], rate=SMALL["scale"])
        feed.advance(sim.to_epoch(NOW + dt.timedelta(minutes=1)))
        taken = feed.numberer.next_id
        with engine.begin() as conn:  # e.g. an import, while the feed sleeps
            conn.execute(
                insert(schema.event).values(event_id=taken, **event_row(NOW, grid=feed.sampler.grids[0].code))
            )
        report = feed.advance(sim.to_epoch(NOW + dt.timedelta(hours=2)))
        assert report.events > 0
        with engine.connect() as conn:
            e, a = schema.event.c, schema.event_action.c
            assert conn.execute(select(func.count()).where(e.event_id == taken)).scalar() == 1
            # Every report of the feed after the foreign row has its own id and its REPORT step.
            mine = select(e.event_id).where(e.event_id > taken)
            assert conn.execute(select(func.count()).select_from(mine.subquery())).scalar() == report.events
            reported = select(a.event_id).where(a.action == "REPORT", a.event_id > taken)
            assert (
                conn.execute(select(func.count()).select_from(reported.subquery())).scalar() == report.events
            )
    finally:
        engine.dispose()


def feed_running(url: str) -> bool:
    """Whether some process holds the feed lock of ``url``."""
    probe = FeedPost(url)
    if probe.hold():
        probe.release()
        return False
    return True


def simulate(url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dashboard", "simulate", "--database-url", url, "--quiet", *extra]


def test_the_command_beside_a_running_feed_hands_over_and_the_feed_lives_on(sqlite_url: str) -> None:
    seed_database(sqlite_url, **{**SMALL, "days": 2, "patrol_days": 0, "now": None})
    feed = subprocess.Popen(
        simulate(sqlite_url, "--tick", "1"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not feed_running(sqlite_url):
            assert time.monotonic() < deadline and feed.poll() is None, "the feed never started"
            time.sleep(0.5)
        surge = subprocess.run(
            simulate(sqlite_url, "--surge", "瓜沥镇"), cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert surge.returncode == 0, surge.stderr
        assert "handed to the running feed" in surge.stdout
        second = subprocess.run(
            simulate(sqlite_url, "--duration", "1"), cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 2 and "already writing" in second.stderr, second.stderr
        time.sleep(3)  # a few ticks with the burst under way
        assert feed.poll() is None, "the running feed died"
        assert not list((post_dir(sqlite_url) / "surges").glob("*.json")), "the feed collected the post"
    finally:
        feed.terminate()
        out = feed.communicate(timeout=30)[0]
    assert "IntegrityError" not in out and "Traceback" not in out, out
