"""Working-day deadlines skip official holidays and count the 调休 working weekends (chinese-calendar), and
fall back to weekends only, with a warning, past the package's last known year. The answers are worked
out by hand from the State Council's 2026 notice: 春节 15–23 February off, Saturday 14 and Saturday 28
February worked; 国庆 1–7 October off, Sunday 20 September and Saturday 10 October worked."""

from __future__ import annotations

import datetime as dt
import logging
import random

import chinese_calendar
import pytest

from dashboard.core import workdays
from dashboard.core.workdays import add_working_days, is_working_day
from dashboard.sample import lifecycle

SH = dt.timezone(dt.timedelta(hours=8))


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def test_national_day_week_is_skipped_and_its_working_saturday_counted() -> None:
    # 5 working days from Wednesday 30 September: 8, 9, 10 (Saturday, 调休), 12, 13 October.
    assert add_working_days(at(2026, 9, 30, 10), 5) == at(2026, 10, 13, 10)
    # Weekends only would have said Wednesday 7 October, in the middle of the holiday.
    assert not is_working_day(dt.date(2026, 10, 7)) and is_working_day(dt.date(2026, 10, 10))


def test_spring_festival_and_its_working_saturday() -> None:
    # 3 working days from Friday 13 February: Saturday 14 (调休), then 24 and 25 February.
    assert add_working_days(at(2026, 2, 13, 15), 3) == at(2026, 2, 25, 15)


def test_a_case_accepted_on_a_holiday_counts_from_the_last_working_day() -> None:
    assert add_working_days(at(2026, 10, 3, 9), 1) == at(2026, 10, 8, 9)
    assert add_working_days(at(2026, 9, 20, 9), 1) == at(2026, 9, 21, 9)  # a working Sunday counts as one


def test_past_the_last_known_year_weekends_only_with_a_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    year = next(y for y in range(2026, 2100) if not _known(y))  # the first year the package lacks
    monkeypatch.setattr(workdays, "_UNKNOWN_YEARS", set())
    is_working_day.cache_clear()
    first_monday = dt.date(year, 1, 1) + dt.timedelta(days=-dt.date(year, 1, 1).weekday() % 7)
    with caplog.at_level(logging.WARNING, logger="dashboard.core.workdays"):
        assert is_working_day(first_monday) and not is_working_day(first_monday + dt.timedelta(days=5))
        friday = at(year, 1, 1, 10) + dt.timedelta(days=(4 - dt.date(year, 1, 1).weekday()) % 7)
        assert add_working_days(friday, 1) == friday + dt.timedelta(days=3)  # Friday → Monday
    warnings = [r.getMessage() for r in caplog.records if str(year) in r.getMessage()]
    assert len(warnings) == 1 and "weekends only" in warnings[0]  # once per year and process
    is_working_day.cache_clear()


def _known(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def test_the_sample_counts_deadlines_as_the_calendar_does() -> None:
    """The sample's deadlines (integer seconds, cached by day) agree with the calendar, holidays and all."""
    rng = random.Random(7)
    start = int(at(2024, 9, 1).timestamp())
    for _ in range(3000):
        ts = start + int(rng.random() * 800 * 86400)
        days = 1 + int(rng.random() * 15)
        expected = add_working_days(dt.datetime.fromtimestamp(ts, SH), days)
        assert lifecycle.add_working_days(ts, days) == int(expected.timestamp()), (ts, days)
