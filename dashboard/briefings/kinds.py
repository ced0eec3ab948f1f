"""The hall's cadence: 日报, 周汇总, 月分析, 季评估, and the period each one covers.

A briefing made at ``now`` covers the last *whole* period before it, in Asia/Shanghai days: the day
before, the previous ISO week (Monday to Sunday), the previous calendar month, the previous quarter. Its
view is that period as it stood at its last moment (``as_of`` one microsecond before it ended), so the
backlog and the rankings are the period's own, and a rerun next year gives the same figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dashboard.core.periods import add_months, local_date, local_midnight, period_name, unit_start
from dashboard.core.viewstate import ViewState


@dataclass(frozen=True)
class Kind:
    """One kind of briefing: its period, its names and when it runs (local time)."""

    key: str  # day | week | month | quarter: also the view's period
    zh: str
    en: str
    runs_zh: str
    runs_en: str


KINDS: dict[str, Kind] = {
    "day": Kind("day", "日报", "Daily brief", "每日 08:00，报前一日", "08:00 daily, for the day before"),
    "week": Kind(
        "week", "周汇总", "Weekly summary", "每周一 08:00，报上周", "Monday 08:00, for the previous ISO week"
    ),
    "month": Kind(
        "month",
        "月分析",
        "Monthly analysis",
        "每月 1 日 08:00，报上月",
        "the 1st at 08:00, for the previous month",
    ),
    "quarter": Kind(
        "quarter",
        "季评估",
        "Quarterly assessment",
        "每季首日 08:00，报上季",
        "a quarter's first day at 08:00, for the previous quarter",
    ),
}


def kind_of(key: str) -> Kind:
    """The kind named ``key`` (day, week, month, quarter, or 日报 …); ValueError listing them otherwise."""
    for kind in KINDS.values():
        if key in (kind.key, kind.zh, kind.en):
            return kind
    raise ValueError(f"kind: {key!r} is not one of {', '.join(KINDS)} (日报, 周汇总, 月分析, 季评估)")


def covered(kind: str, now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The first and last local day of the last whole ``kind`` period before ``now``."""
    today = local_date(now)
    current = unit_start(kind, today)
    if kind == "day":
        first = today - dt.timedelta(days=1)
        return first, first
    if kind == "week":
        first = current - dt.timedelta(days=7)
        return first, current - dt.timedelta(days=1)
    months = 1 if kind == "month" else 3
    first = add_months(current, -months)
    return first, current - dt.timedelta(days=1)


def period_key(kind: str, first: dt.date) -> str:
    """A sortable name for the period: 2026-12-02, 2026-W48, 2026-11, 2026-Q4 (the periods' own names)."""
    return period_name(kind, first, _next_start(kind, first))


def period_label(kind: str, first: dt.date, last: dt.date, lang: str) -> str:
    """The period in words: 2026年第48周（11月23日至29日） / Week 48 of 2026 (23–29 Nov)."""
    if kind == "day":
        return f"{first.year}年{first.month}月{first.day}日" if lang == "zh" else first.isoformat()
    if kind == "week":
        year, week, _ = first.isocalendar()
        if lang == "zh":
            return f"{year}年第{week}周（{first.month}月{first.day}日至{last.month}月{last.day}日）"
        return f"Week {week} of {year} ({first.isoformat()} to {last.isoformat()})"
    if kind == "month":
        return f"{first.year}年{first.month}月" if lang == "zh" else first.strftime("%B %Y")
    quarter = (first.month - 1) // 3 + 1
    return f"{first.year}年第{quarter}季度" if lang == "zh" else f"Q{quarter} {first.year}"


def briefing_view(kind: str, first: dt.date, towns: tuple[str, ...], lang: str) -> ViewState:
    """The view of a briefing: the period as it stood at its last moment, for ``towns`` (empty: the district)."""
    end = local_midnight(_next_start(kind, first))
    return ViewState(
        towns=tuple(sorted(towns)), period=kind, as_of=end - dt.timedelta(microseconds=1), lang=lang
    )


def _next_start(kind: str, first: dt.date) -> dt.date:
    if kind == "day":
        return first + dt.timedelta(days=1)
    if kind == "week":
        return first + dt.timedelta(days=7)
    return add_months(first, 1 if kind == "month" else 3)
