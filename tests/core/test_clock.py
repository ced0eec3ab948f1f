"""The started clock (``serve --start-at``, DASHBOARD_START_AT): starts at the moment asked, runs on in real
time, and is never the default."""

from __future__ import annotations

import datetime as dt

import pytest

from dashboard.core.clock import StartedClock, SystemClock, clock_starting_at, parse_moment
from dashboard.core.settings import load_settings

NIGHT = dt.datetime(2026, 12, 3, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


class Ticks:
    """A monotonic counter moved by hand."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def test_started_clock_starts_at_the_moment_and_runs_on() -> None:
    ticks = Ticks()
    clock = StartedClock(NIGHT, ticks=ticks)
    assert clock.now() == NIGHT
    assert clock.now().tzinfo == dt.UTC
    ticks.value += 90.5
    assert clock.now() == NIGHT + dt.timedelta(seconds=90.5)


def test_started_clock_on_the_real_monotonic_clock_moves_forward() -> None:
    clock = StartedClock(NIGHT)
    first = clock.now()
    assert NIGHT <= first < NIGHT + dt.timedelta(seconds=5)
    assert clock.now() >= first


def test_started_clock_refuses_a_naive_moment() -> None:
    with pytest.raises(ValueError, match="naive"):
        StartedClock(dt.datetime(2026, 12, 3, 1, 30))


def test_parse_moment_needs_an_offset_and_says_what_is_wrong() -> None:
    assert parse_moment("2026-12-03T01:30+08:00") == NIGHT
    assert parse_moment(" 2026-12-02T17:30Z ") == NIGHT
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_moment("2026-12-03T01:30")
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_moment("3 Dec, half past one")


def test_the_machine_clock_stays_the_default() -> None:
    assert isinstance(clock_starting_at(""), SystemClock)
    assert isinstance(clock_starting_at(None), SystemClock)
    assert isinstance(clock_starting_at("2026-12-03T01:30+08:00"), StartedClock)
    assert load_settings({}).START_AT == ""


def test_start_at_setting_is_checked() -> None:
    assert load_settings({"DASHBOARD_START_AT": "2026-12-03T01:30+08:00"}).START_AT
    with pytest.raises(ValueError, match="DASHBOARD_START_AT"):
        load_settings({"DASHBOARD_START_AT": "2026-12-03T01:30"})
