"""The bench's datasets end at the same simulated hour whatever day they are seeded."""

from __future__ import annotations

import datetime as dt

import pytest

from dashboard.perf.datasets import simulated_end

XIAOSHAN = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Saturday evening → the Wednesday before, 09:30 in Xiaoshan.
        (dt.datetime(2026, 12, 5, 21, 12, tzinfo=dt.UTC), dt.datetime(2026, 12, 2, 9, 30, tzinfo=XIAOSHAN)),
        # Wednesday just before 09:30 Xiaoshan → the Wednesday a week earlier.
        (dt.datetime(2026, 12, 2, 1, 29, tzinfo=dt.UTC), dt.datetime(2026, 11, 25, 9, 30, tzinfo=XIAOSHAN)),
        # Wednesday at 09:30 Xiaoshan exactly → that moment.
        (dt.datetime(2026, 12, 2, 9, 30, tzinfo=XIAOSHAN), dt.datetime(2026, 12, 2, 9, 30, tzinfo=XIAOSHAN)),
        # Thursday 00:30 Xiaoshan is still Wednesday in UTC → the Wednesday just gone.
        (dt.datetime(2026, 12, 3, 0, 30, tzinfo=XIAOSHAN), dt.datetime(2026, 12, 2, 9, 30, tzinfo=XIAOSHAN)),
    ],
)
def test_simulated_end_is_the_last_wednesday_morning(now: dt.datetime, expected: dt.datetime) -> None:
    end = simulated_end(now)
    assert end == expected
    assert end.astimezone(XIAOSHAN).weekday() == 2
    assert end.astimezone(XIAOSHAN).time() == dt.time(9, 30)
    assert now - dt.timedelta(days=7) < end <= now
