"""Reporting periods in Asia/Shanghai: the view's period, its comparisons and its spark buckets.

Every instant returned is a timezone-aware UTC datetime; ranges are half-open ``[start, end)``.
Asia/Shanghai has had no DST since 1991, so local midnight is always 16:00 UTC the day before.

Comparison rule for a *running* period (``start <= now < end``): the previous period and the same period
last year are truncated to the same elapsed length, so "today so far" is compared with "yesterday up to
the same clock time" and "this month so far" with "last month's first N days and hours" (clamped to the
comparison period's own end, e.g. 31 March vs a 28-day February). A finished period is compared in full.

"Same period last year" shifts the calendar date by one year (29 Feb → 28 Feb), except for weeks, which go
back 52 weeks (364 days) so that the comparison week also starts on a Monday.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dashboard.core.viewstate import ViewState

UTC = dt.UTC
SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
EPSILON = dt.timedelta(microseconds=1)  # the storage resolution: "at or before now" = "before now + 1 µs"

SPARK_LENGTH = {"day": 14, "week": 12, "month": 12, "quarter": 8, "year": 5, "custom": 14}


@dataclass(frozen=True)
class Period:
    """The view's period and its two comparison ranges (aware UTC, half-open)."""

    kind: str  # day | week | month | quarter | year | custom
    start: dt.datetime
    end: dt.datetime  # nominal end (exclusive), may lie after now
    prev_start: dt.datetime
    prev_end: dt.datetime
    ly_start: dt.datetime
    ly_end: dt.datetime
    label: str
    now: dt.datetime

    @property
    def running(self) -> bool:
        return self.start <= self.now < self.end

    @property
    def cap(self) -> dt.datetime:
        """Exclusive upper bound of the current range as the board stands at ``now``."""
        return min(self.end, self.now + EPSILON)

    def ranges(self) -> list[tuple[str, dt.datetime, dt.datetime]]:
        """``[("cur", …), ("prev", …), ("ly", …)]`` with the current range capped at now."""
        return [
            ("cur", self.start, self.cap),
            ("prev", self.prev_start, self.prev_end),
            ("ly", self.ly_start, self.ly_end),
        ]


def local_date(instant: dt.datetime) -> dt.date:
    """The Asia/Shanghai calendar day of an aware instant."""
    return instant.astimezone(SHANGHAI).date()


def local_midnight(day: dt.date) -> dt.datetime:
    """00:00 Asia/Shanghai of ``day``, as aware UTC."""
    return dt.datetime.combine(day, dt.time(), SHANGHAI).astimezone(UTC)


def shift_year(day: dt.date, years: int = -1) -> dt.date:
    """The same calendar day ``years`` later (29 Feb becomes 28 Feb)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def add_months(day: dt.date, months: int) -> dt.date:
    """The first of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def unit_start(kind: str, day: dt.date) -> dt.date:
    """The first local day of the day/week/month/quarter/year containing ``day`` (weeks start Monday)."""
    if kind == "week":
        return day - dt.timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    if kind == "quarter":
        return dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if kind == "year":
        return dt.date(day.year, 1, 1)
    return day


def unit_step(kind: str, start: dt.date, steps: int) -> dt.date:
    """Move a unit start by ``steps`` units (negative = back)."""
    if kind == "week":
        return start + dt.timedelta(weeks=steps)
    if kind == "month":
        return add_months(start, steps)
    if kind == "quarter":
        return add_months(start, 3 * steps)
    if kind == "year":
        return dt.date(start.year + steps, 1, 1)
    return start + dt.timedelta(days=steps)


def period_name(kind: str, d0: dt.date, d1: dt.date) -> str:
    """A sortable name of the period [d0, d1): 2026-12-02, 2026-W48, 2026-11, 2026-Q4, 2026, or a range."""
    if kind == "day":
        return d0.isoformat()
    if kind == "week":
        year, week, _ = d0.isocalendar()
        return f"{year}-W{week:02d}"
    if kind == "month":
        return f"{d0.year}-{d0.month:02d}"
    if kind == "quarter":
        return f"{d0.year}-Q{(d0.month - 1) // 3 + 1}"
    if kind == "year":
        return str(d0.year)
    return f"{d0.isoformat()}~{(d1 - dt.timedelta(days=1)).isoformat()}"


def _local_days(view: ViewState, today: dt.date) -> tuple[dt.date, dt.date, dt.date, dt.date, dt.date]:
    """(start, end, prev_start, prev_end, ly_start) as local days; ends exclusive."""
    kind = view.period
    if kind == "custom":
        d0 = view.date_from or view.date_to or today
        d1 = (view.date_to or d0) + dt.timedelta(days=1)
        length = d1 - d0
        return d0, d1, d0 - length, d0, shift_year(d0)
    d0 = unit_start(kind, today)
    d1 = unit_step(kind, d0, 1)
    prev = unit_step(kind, d0, -1)
    ly = d0 - dt.timedelta(days=364) if kind == "week" else shift_year(d0)
    return d0, d1, prev, d0, ly


def period_bounds(view: ViewState, now: dt.datetime) -> Period:
    """The view's period around ``now`` with its previous and same-period-last-year ranges."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    kind = view.period if view.period in SPARK_LENGTH else "month"
    d0, d1, p0, p1, l0 = _local_days(view, local_date(now))
    # The last-year range is as long as the current one in days (a leap day aside).
    l1 = l0 + (d1 - d0) if kind in ("week", "custom", "day") else shift_year(d1)
    start, end = local_midnight(d0), local_midnight(d1)
    prev_start, prev_end = local_midnight(p0), local_midnight(p1)
    ly_start, ly_end = local_midnight(l0), local_midnight(l1)
    if start <= now < end:
        elapsed = now + EPSILON - start
        prev_end = min(prev_start + elapsed, prev_end)
        ly_end = min(ly_start + elapsed, ly_end)
    elif now < start:  # a custom period in the future: nothing has happened yet
        prev_end, ly_end = prev_start, ly_start
    return Period(kind, start, end, prev_start, prev_end, ly_start, ly_end, period_name(kind, d0, d1), now)


def spark_buckets(period: Period) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """The last N periods of the same kind (oldest first), the newest being the current one capped at now.

    Custom periods spark by day over the 14 days ending with the current range.
    """
    kind = period.kind
    n = SPARK_LENGTH[kind]
    last_day = local_date(min(period.cap, period.end) - EPSILON)
    unit = "day" if kind == "custom" else kind
    newest = unit_start(unit, last_day)
    starts = [unit_step(unit, newest, -i) for i in range(n - 1, -1, -1)]
    buckets = []
    for first in starts:
        b0, b1 = local_midnight(first), local_midnight(unit_step(unit, first, 1))
        buckets.append((period_name(unit, first, unit_step(unit, first, 1)), b0, min(b1, period.cap)))
    return buckets


def same_point_before(
    period: Period, lookback: int
) -> list[tuple[str, dt.datetime, dt.datetime, dt.datetime]]:
    """The ``lookback`` periods of the same kind before ``period``, each as it stood at the same point
    after its start as ``period`` does now: ``(tag, start, end, at)`` with ``[start, end)`` the part of
    the past period elapsed by then (clamped to its own end) and ``at`` that moment.

    The base of an expected-by-now figure: "this month up to the 3rd, 01:30" is judged by the past
    months up to their 3rd, 01:30, with what they had done *by then* (not by today). A finished period
    is judged by past periods at the same age.
    """
    age = period.cap - period.start
    first = local_date(period.start)
    out = []
    for k in range(1, lookback + 1):
        if period.kind == "custom":
            length = period.end - period.start
            start, end = period.start - k * length, period.start - (k - 1) * length
        else:
            day = unit_step(period.kind, first, -k)
            start, end = local_midnight(day), local_midnight(unit_step(period.kind, day, 1))
        at = start + age
        out.append((f"past{k}", start, min(end, at), at))
    return out


def effective_now(view: ViewState, clock: dt.datetime) -> dt.datetime:
    """The moment the figures describe: ``view.as_of`` when set (never after the clock), else the clock."""
    if view.as_of is None:
        return clock.astimezone(UTC)
    return min(view.as_of, clock).astimezone(UTC)


def label_of(key: str, unit: str) -> str:
    """The bucket label of a SQL key ('YYYY-MM-DD' or 'YYYY-MM-DD HH')."""
    if unit == "hour":
        return key[:13]
    day = dt.date.fromisoformat(key[:10])
    if unit == "week":
        return unit_start("week", day).isoformat()
    if unit == "month":
        return key[:7]
    return day.isoformat()
