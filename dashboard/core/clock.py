"""The one source of "now": inject a :class:`Clock` so tests and replays control time.

Nothing else in the product calls ``datetime.now()``: the app and the service take a clock, and
tests pass a :class:`FixedClock` they advance by hand.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol, runtime_checkable

UTC = dt.UTC


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now()`` returning a timezone-aware UTC instant."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The wall clock of this machine."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move (tests, replays of a past moment)."""

    def __init__(self, moment: dt.datetime) -> None:
        self._moment = _aware_utc(moment)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._moment

    def advance(self, delta: dt.timedelta | float = 0.0, /, **kwargs: float) -> dt.datetime:
        """Move forward by ``delta`` (a timedelta or seconds) or timedelta keywords; return the new now."""
        step = delta if isinstance(delta, dt.timedelta) else dt.timedelta(seconds=delta)
        step += dt.timedelta(**kwargs)
        if step < dt.timedelta(0):
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._moment += step
            return self._moment

    def set(self, moment: dt.datetime) -> None:
        """Jump to ``moment`` (may go backwards: a replay choosing another instant)."""
        with self._lock:
            self._moment = _aware_utc(moment)


def _aware_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware instant")
    return moment.astimezone(UTC)
