"""Instants as the generators use them: epoch seconds, formatted once into the storage text.

Rows are built as plain tuples with timestamps already formatted (no per-row ORM or type work), so the
format here is the one SQLAlchemy's SQLite dialect stores, which PostgreSQL and MariaDB accept as-is.
"""

from __future__ import annotations

import datetime as dt

from dashboard.sample import lifecycle
from dashboard.sample.lifecycle import DAY, SHANGHAI

UTC = dt.UTC

_prefix_cache: dict[int, str] = {}
_MMSS = tuple(f"{m:02d}:{sec:02d}.000000" for m in range(60) for sec in range(60))


def to_epoch(value: dt.datetime) -> int:
    """Epoch seconds of an aware instant; ValueError for a naive one."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware instant")
    return int(value.timestamp())


def from_epoch(ts: int) -> dt.datetime:
    """The aware UTC instant of epoch seconds."""
    return dt.datetime.fromtimestamp(ts, UTC)


def fmt_ts(ts: int | None) -> str | None:
    """Naive-UTC text in SQLAlchemy's SQLite storage format, accepted as-is by PostgreSQL and MariaDB.

    Formatting millions of timestamps is the seed's hottest path: the ``YYYY-MM-DD HH:`` prefix is
    cached per hour.
    """
    if ts is None:
        return None
    hour, rest = divmod(ts, 3600)
    prefix = _prefix_cache.get(hour)
    if prefix is None:
        if len(_prefix_cache) > 50_000:
            _prefix_cache.clear()
        prefix = dt.datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%d %H:")
        _prefix_cache[hour] = prefix
    return prefix + _MMSS[rest]


def local_date(ts: int) -> dt.date:
    """The Shanghai calendar date of epoch seconds."""
    return dt.date(1970, 1, 1) + dt.timedelta(days=lifecycle.local_day(ts))


def day_start(day: int) -> int:
    """UTC epoch of 00:00 Asia/Shanghai on local day number ``day``."""
    return day * DAY - SHANGHAI
