"""The one source of "now": inject a :class:`Clock` so tests and replays control time.

Nothing else in the product calls ``datetime.now()``: the app and the service take a clock, and
tests pass a :class:`FixedClock` they advance by hand. A :class:`StartedClock` runs from a chosen moment
(``serve --start-at``, the conditions gallery of ``screenshots --conditions``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
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


class StartedClock:
    """A clock that starts at a chosen moment and runs on in real time from there (demos, training,
    screenshots of a given hour: ``serve --start-at``). Never the default: only when asked for.

    It counts on the monotonic clock, so a change of this machine's time does not make it jump.
    """

    def __init__(self, start: dt.datetime, *, ticks: Callable[[], float] = time.monotonic) -> None:
        self.start = _aware_utc(start)
        self._ticks = ticks
        self._origin = ticks()

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self._ticks() - self._origin)


def parse_moment(text: str) -> dt.datetime:
    """An ISO 8601 instant with its offset (``2026-12-03T01:30+08:00``); ValueError saying what is wrong."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {text!r} (e.g. 2026-12-03T01:30+08:00)") from exc
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset: add one, e.g. {text.strip()}+08:00")
    return moment.astimezone(UTC)


def clock_starting_at(text: str | None) -> Clock:
    """A :class:`StartedClock` at ``text`` (an ISO instant), or this machine's clock when it is empty."""
    return StartedClock(parse_moment(text)) if text else SystemClock()


def _aware_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware instant")
    return moment.astimezone(UTC)
