"""The briefings' schedule on a fixed clock: through a week boundary and a quarter boundary, missed runs
made when a scheduler starts, exactly one process making them, APScheduler's triggers at 08:00 local."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from dashboard.briefings.archive import Archived, folder, scope_key
from dashboard.briefings.kinds import covered, period_key
from dashboard.briefings.schedule import (
    LOCK_KEY,
    LOCK_SECONDS,
    Plan,
    due,
    last_fire,
    run_due,
    start_scheduler,
)
from dashboard.core.scope import DISTRICT
from dashboard.core.settings import load_settings
from dashboard.service.cache import init_cache
from tests.support.factories import sh


class FakeMake:
    """Writes the manifest a real run would (so the archive knows it) and remembers each run."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, tuple[str, ...], str, dt.datetime]] = []

    def __call__(self, service: Any, geojson_for: Any, root: Path, *, kind: str, towns: tuple[str, ...],
                 lang: str, now: dt.datetime, scope: Any) -> tuple[Archived, bool]:  # fmt: skip
        self.runs.append((kind, towns, lang, now))
        first, last = covered(kind, now)
        where = folder(root, kind, period_key(kind, first))
        where.mkdir(parents=True, exist_ok=True)
        entry = Archived(kind, period_key(kind, first), first.isoformat(), last.isoformat(), scope_key(towns),
                         lang, kind, now.isoformat(), ())  # fmt: skip
        (where / f"{scope_key(towns)}-{lang}.json").write_text(json.dumps(entry.__dict__))
        return entry, True


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    return init_cache(load_settings(env={}, CACHE_DIR=str(tmp_path / "cache")))


def test_fire_times_around_a_week_and_a_quarter_boundary() -> None:
    at = dt.time(8, 0)
    assert last_fire("week", sh(2026, 11, 30, 7, 59), at) == sh(2026, 11, 23, 8)  # Monday before 08:00
    assert last_fire("week", sh(2026, 11, 30, 8, 0), at) == sh(2026, 11, 30, 8)
    assert last_fire("quarter", sh(2027, 1, 1, 7), at) == sh(2026, 10, 1, 8)
    assert last_fire("quarter", sh(2027, 1, 1, 8), at) == sh(2027, 1, 1, 8)
    assert last_fire("month", sh(2026, 12, 1, 7), at) == sh(2026, 11, 1, 8)
    assert last_fire("day", sh(2026, 12, 3, 7), at) == sh(2026, 12, 2, 8)


def test_a_clock_through_a_week_and_a_quarter_boundary_makes_each_briefing_once(
    tmp_path: Path, cache: Any
) -> None:
    plan = Plan(kinds=("week", "quarter"), scopes=((), ("330109113",)))
    make = FakeMake()

    def tick(now: dt.datetime) -> list[tuple[str, str]]:
        before = len(make.runs)
        run_due(None, None, tmp_path, plan, now, locks=cache, scope=DISTRICT, make=make)
        return [(k, scope_key(t)) for k, t, _lang, _fire in make.runs[before:]]

    # The first start (Sunday night, 27 Dec 2026): the last week (W51) and Q3 were never made.
    assert tick(sh(2026, 12, 27, 23)) == [
        ("week", "district"), ("week", "330109113"), ("quarter", "district"), ("quarter", "330109113"),
    ]  # fmt: skip
    assert tick(sh(2026, 12, 27, 23, 30)) == []  # nothing new: a rerun changes nothing
    assert tick(sh(2026, 12, 28, 8, 0)) == [("week", "district"), ("week", "330109113")]  # Monday: W52
    # The servers are down from 31 Dec to 5 Jan: the start makes the missed W53 and Q4, once.
    assert tick(sh(2027, 1, 5, 10)) == [
        ("week", "district"), ("week", "330109113"), ("quarter", "district"), ("quarter", "330109113"),
    ]  # fmt: skip
    assert tick(sh(2027, 1, 5, 11)) == []
    # Each was made as at its fire time, so it covers the period its schedule meant.
    periods = {(k, t, f) for k, t, _lang, f in make.runs}
    assert ("quarter", (), sh(2027, 1, 1, 8)) in periods and ("week", (), sh(2027, 1, 4, 8)) in periods
    assert sorted(p.name for p in (tmp_path / "week").iterdir()) == ["2026-W51", "2026-W52", "2026-W53"]
    assert sorted(p.name for p in (tmp_path / "quarter").iterdir()) == ["2026-Q3", "2026-Q4"]


def test_only_one_process_makes_them(tmp_path: Path, cache: Any) -> None:
    make = FakeMake()
    now = sh(2026, 11, 30, 9)
    held, release = threading.Event(), threading.Event()

    def other_process() -> None:
        with cache.try_lock(LOCK_KEY, LOCK_SECONDS) as got:
            assert got
            held.set()
            release.wait(10)

    thread = threading.Thread(target=other_process)
    thread.start()
    held.wait(10)
    assert (
        run_due(None, None, tmp_path, Plan(kinds=("week",)), now, locks=cache, scope=DISTRICT, make=make)
        == []
    )
    release.set()
    thread.join()
    assert (
        len(run_due(None, None, tmp_path, Plan(kinds=("week",)), now, locks=cache, scope=DISTRICT, make=make))
        == 1
    )


def test_a_failed_briefing_stays_due_and_the_others_are_made(tmp_path: Path, cache: Any) -> None:
    make = FakeMake()

    def flaky(*args: Any, **kwargs: Any) -> tuple[Archived, bool]:
        if kwargs["kind"] == "week":
            raise RuntimeError("LibreOffice died")
        return make(*args, **kwargs)

    now = sh(2026, 12, 1, 9)
    plan = Plan(kinds=("week", "month"))
    made = run_due(None, None, tmp_path, plan, now, locks=cache, scope=DISTRICT, make=flaky)
    assert [e.kind for e in made] == ["month"]
    assert [d.kind for d in due(plan, now, tmp_path)] == ["week"]


def test_settings_make_the_plan_and_apscheduler_fires_at_eight_local() -> None:
    plan = Plan.from_settings("周汇总,quarter", "07:30", "district;330109113,330109001", "zh,en")
    assert plan.kinds == ("week", "quarter") and plan.at == dt.time(7, 30)
    assert plan.scopes == ((), ("330109001", "330109113")) and plan.langs == ("zh", "en")
    with pytest.raises(ValueError, match="DASHBOARD_BRIEFING_AT"):
        Plan.from_settings("week", "8am", "district")
    passes = threading.Event()
    scheduler = start_scheduler(lambda: passes.set() or [], Plan(kinds=("week", "quarter")))
    try:
        assert passes.wait(10)  # the pass at start: runs missed while the servers were down
        week = scheduler.get_job("briefing-week").next_run_time
        quarter = scheduler.get_job("briefing-quarter").next_run_time
        assert (week.weekday(), week.hour, week.minute, week.utcoffset()) == (0, 8, 0, dt.timedelta(hours=8))
        assert quarter.month in (1, 4, 7, 10) and quarter.day == 1 and quarter.hour == 8
    finally:
        scheduler.shutdown(wait=False)
