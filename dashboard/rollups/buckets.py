"""Time in the rollups: integer microseconds since 1970 (UTC), and the buckets of the tiers.

Integer microseconds make the arithmetic exact and the same on SQLite, PostgreSQL and MariaDB. Tier
``h`` buckets by hour, ``d`` by Asia/Shanghai day, ``m`` by Asia/Shanghai calendar month; :func:`pieces`
cuts a range into whole buckets of the coarsest tier that fits and finer ones towards its ends. Closing
durations are binned too (:func:`hours_bin`), so exact percentiles can be found by counting bins.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
LOCAL_OFFSET_US = 8 * HOUR_US  # Asia/Shanghai, no DST
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# "Never" for a state key (still open), day-aligned in Shanghai so it is its own bucket in both tiers.
INF_US = (dt.datetime(2200, 1, 1, tzinfo=dt.UTC) - EPOCH) // dt.timedelta(microseconds=1) - LOCAL_OFFSET_US
HBINS_PER_DOUBLING = 8


def hours_bin(hours: float | None) -> int | None:
    """The duration bin: 8 per doubling of (1 + hours), so a bin is ~9 % wide at any scale."""
    if hours is None:
        return None
    return max(0, math.floor(HBINS_PER_DOUBLING * math.log2(1.0 + max(hours, 0.0))))


def to_us(value: dt.datetime | None) -> int | None:
    """An instant as µs since 1970 UTC (a naive one is taken as UTC); None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - EPOCH) // dt.timedelta(microseconds=1)


def from_us(value: int) -> dt.datetime:
    """The aware UTC instant of µs since 1970."""
    return EPOCH + dt.timedelta(microseconds=value)


def hour_floor(us: int) -> int:
    """The start of the hour holding ``us``."""
    return us - us % HOUR_US


def day_floor(us: int) -> int:
    """The start of the Asia/Shanghai day holding ``us``."""
    return us - (us + LOCAL_OFFSET_US) % DAY_US


def hour_ceil(us: int) -> int:
    """The first hour start at or after ``us``."""
    return -hour_floor(-us)


def day_ceil(us: int) -> int:
    """The first Asia/Shanghai day start at or after ``us``."""
    f = day_floor(us)
    return f if f == us else f + DAY_US


@functools.lru_cache(maxsize=4096)
def _month_of_day(day: int) -> int:
    local = EPOCH + dt.timedelta(microseconds=day + LOCAL_OFFSET_US)
    first = dt.datetime(local.year, local.month, 1, tzinfo=dt.UTC)
    return (first - EPOCH) // dt.timedelta(microseconds=1) - LOCAL_OFFSET_US


def month_floor(us: int) -> int:
    """The start (µs) of the Asia/Shanghai calendar month holding ``us``."""
    if us >= INF_US:
        return INF_US
    return _month_of_day(day_floor(us))


def month_ceil(us: int) -> int:
    """The first Asia/Shanghai month start at or after ``us``."""
    f = month_floor(us)
    if f == us:
        return f
    return _month_of_day(day_floor(f) + 32 * DAY_US)


def bucket_of(tier: str, at: int) -> int:
    """The start of the ``tier`` bucket holding ``at`` ("never" is its own bucket in every tier)."""
    if at >= INF_US:
        return INF_US
    if tier == "h":
        return hour_floor(at)
    return day_floor(at) if tier == "d" else month_floor(at)


class intdiv(FunctionElement[int]):
    """Integer division of non-negative integers: ``a DIV b`` on MariaDB, ``a / b`` elsewhere."""

    type = BigInteger()
    inherit_cache = True


@compiles(intdiv)
def _intdiv_default(element: intdiv, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"(({a}) / ({b}))"


@compiles(intdiv, "mysql")
def _intdiv_mysql(element: intdiv, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"(({a}) DIV ({b}))"


def bucket_sql(tier: str, col: Any) -> Any:
    """:func:`bucket_of` in SQL for the hour and day tiers (the month tier is summed from the days)."""
    if tier == "h":
        return intdiv(col, literal(HOUR_US)) * HOUR_US
    return intdiv(col + LOCAL_OFFSET_US, literal(DAY_US)) * DAY_US - LOCAL_OFFSET_US


Level = tuple[str, Callable[[int], int], Callable[[int], int]]
LEVELS: tuple[Level, ...] = (
    ("m", month_floor, month_ceil),
    ("d", day_floor, day_ceil),
    ("h", hour_floor, hour_ceil),
)


def pieces(start: int, end: int, tiers: str = "mdh", *, hourly: bool = False) -> list[tuple[str, int, int]]:
    """[start, end) cut into tier pieces: the coarsest of ``tiers`` in the middle, finer ones towards the
    ends, and 'f' edges read from the facts. An edge never crosses a local day (``hourly``: an hour)."""
    levels = tuple(level for level in LEVELS if level[0] in tiers)
    return _split(start, end, levels, hourly)


def _split(a: int, b: int, levels: tuple[Level, ...], hourly: bool) -> list[tuple[str, int, int]]:
    if a >= b:
        return []
    if not levels:
        out = []
        while a < b:
            stop = min(b, hour_ceil(a + 1) if hourly else day_ceil(a + 1))
            out.append(("f", a, stop))
            a = stop
        return out
    tier, floor, ceil = levels[0]
    lo, hi = ceil(a), floor(b)
    if lo >= hi:
        return _split(a, b, levels[1:], hourly)
    return [*_split(a, lo, levels[1:], hourly), (tier, lo, hi), *_split(hi, b, levels[1:], hourly)]
