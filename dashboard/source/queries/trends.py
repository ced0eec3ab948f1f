"""The trends panel: reported vs closed over the period with a last-year overlay, mixes, weekly on-time rate.

``snapshot.trends`` = {
  "bucket": "hour" | "day" | "week" | "month",
  "labels", "reported", "closed": the view's period bucket by bucket (future buckets None),
  "labels_ly", "reported_ly", "closed_ly": the same period last year,
  "last90": {"labels", "reported", "closed"} by day,
  "by_category" / "by_source" / "by_dept": [{code, name_zh, name_en, count}] reported in the period,
  "on_time_weekly": {"labels", "on_time_rate", "due"} for the last 12 weeks,
}
Buckets are Asia/Shanghai hours (day view), days (week, month, custom ≤ 62 days), Monday weeks (quarter,
custom ≤ 366 days) or months (year, longer custom). SQL groups by local hour or day; Python folds days
into weeks and months (a few hundred rows at most).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal, select, union_all

from dashboard.core import domain
from dashboard.core.formulas import Counts
from dashboard.core.metrics import figure
from dashboard.core.periods import (
    EPSILON,
    SHANGHAI,
    Period,
    label_of,
    local_date,
    local_midnight,
    period_bounds,
    unit_start,
    unit_step,
)
from dashboard.core.viewstate import ViewState
from dashboard.source.queries.common import (
    E,
    dept_at,
    due_aggs,
    due_conditions,
    due_hint,
    effective_deadline,
    run_family,
    upto,
)
from dashboard.source.queries.scope import event_conditions
from dashboard.source.queries.sqlfuncs import local_day, local_hour_key

HOUR = dt.timedelta(hours=1)
WEEKS = 12


def bucket_unit(period: Period) -> str:
    if period.kind == "day":
        return "hour"
    if period.kind in ("week", "month"):
        return "day"
    if period.kind == "quarter":
        return "week"
    if period.kind == "year":
        return "month"
    days = (period.end - period.start).days
    return "day" if days <= 62 else "week" if days <= 366 else "month"


def bucket_labels(unit: str, start: dt.datetime, end: dt.datetime) -> list[str]:
    """The labels of the buckets covering [start, end), in order."""
    if unit == "hour":
        hours = int((end - start) / HOUR)
        return [(start + i * HOUR).astimezone(SHANGHAI).strftime("%Y-%m-%d %H") for i in range(hours)]
    labels: list[str] = []
    day, last = local_date(start), local_date(end - EPSILON)
    while day <= last:
        label = label_of(day.isoformat(), unit)
        if not labels or labels[-1] != label:
            labels.append(label)
        day += dt.timedelta(days=1)
    return labels


def _series_branches(view: ViewState, period: Period, unit: str) -> list[Any]:
    cap = period.cap
    ly_end = period.ly_start + (period.end - period.start)
    d90 = d90_start(period)
    scope = event_conditions(view)
    parts = []
    for series, ts in (("reported", E.c.reported_at), ("closed", E.c.closed_at)):
        key: ColumnElement[Any] = local_hour_key(ts) if unit == "hour" else local_day(ts)
        day = local_day(ts)
        for tag, k, start, end in (
            ("cur", key, period.start, cap),
            ("ly", key, period.ly_start, ly_end),
            ("d90", day, d90, upto(period.now)),
        ):
            parts.append(
                select(
                    literal(series).label("s"), literal(tag).label("t"), k.label("k"), func.count().label("n")
                )
                .where(*scope, ts >= start, ts < end)
                .group_by(k)
            )
    return parts


SeriesCounts = dict[tuple[str, str, str], int]


def _series(conn: Connection, view: ViewState, period: Period, unit: str) -> dict[str, Any]:
    counts: SeriesCounts = {}
    for series, tag, key, n in conn.execute(union_all(*_series_branches(view, period, unit))):
        label = label_of(str(key), "day" if tag == "d90" else unit)
        counts[(series, tag, label)] = counts.get((series, tag, label), 0) + int(n)
    return series_panel(counts, period, unit)


def d90_start(period: Period) -> dt.datetime:
    return local_midnight(local_date(period.now) - dt.timedelta(days=89))


def series_panel(counts: SeriesCounts, period: Period, unit: str) -> dict[str, Any]:
    """The series part of the panel from {(series, tag, bucket label): count}."""
    labels = bucket_labels(unit, period.start, period.end)
    elapsed = bucket_labels(unit, period.start, period.cap)
    labels_ly = bucket_labels(unit, period.ly_start, period.ly_start + (period.end - period.start))
    d90_labels = bucket_labels("day", d90_start(period), period.cap)

    def values(series: str, tag: str, names: list[str], live: list[str] | None = None) -> list[int | None]:
        return [counts.get((series, tag, x), 0) if live is None or x in live else None for x in names]

    return {
        "bucket": unit,
        "labels": labels,
        "reported": values("reported", "cur", labels, elapsed),
        "closed": values("closed", "cur", labels, elapsed),
        "labels_ly": labels_ly,
        "reported_ly": values("reported", "ly", labels_ly),
        "closed_ly": values("closed", "ly", labels_ly),
        "last90": {
            "labels": d90_labels,
            "reported": values("reported", "d90", d90_labels),
            "closed": values("closed", "d90", d90_labels),
        },
    }


def reported_mix(conn: Connection, view: ViewState, period: Period) -> dict[str, list[dict[str, Any]]]:
    """Reported in the period by category, source and department: one GROUP BY, folded three ways."""
    dept = dept_at(period.cap).label("dept")
    q = (
        select(E.c.category_l1, E.c.source, dept, func.count())
        .where(*event_conditions(view), E.c.reported_at >= period.start, E.c.reported_at < period.cap)
        .group_by(E.c.category_l1, E.c.source, dept)
    )
    tallies: list[dict[str, int]] = [{}, {}, {}]
    for cat, src, dept, n in conn.execute(q):
        for tally, code in zip(tallies, (cat, src, dept or "NONE"), strict=True):
            tally[code] = tally.get(code, 0) + int(n)
    return mix_panel(conn, tallies)


def mix_panel(conn: Connection, tallies: list[dict[str, int]]) -> dict[str, list[dict[str, Any]]]:
    """by_category / by_source / by_dept from the three tallies {code: count}."""
    from dashboard.source.queries.rankings import dept_names

    labels: list[dict[str, tuple[str, str]]] = [
        {code: (lab.zh, lab.en) for code, lab in domain.CATEGORIES.items()},
        {code: (lab.zh, lab.en) for code, lab in domain.SOURCES.items()},
        dept_names(conn),  # district departments and the towns' platforms
    ]
    out = []
    for tally, names in zip(tallies, labels, strict=True):
        rows = []
        for code, n in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])):
            zh, en = names.get(code, (code, code))
            rows.append({"code": code, "name_zh": zh, "name_en": en, "count": n})
        out.append(rows)
    return {"by_category": out[0], "by_source": out[1], "by_dept": out[2]}


def week_buckets(period: Period) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """The last :data:`WEEKS` Monday weeks, the current one capped at now."""
    cap = upto(period.now)
    this_week = unit_start("week", local_date(period.now))
    buckets = []
    for i in range(WEEKS - 1, -1, -1):
        first = unit_step("week", this_week, -i)
        start, end = local_midnight(first), local_midnight(unit_step("week", first, 1))
        buckets.append((first.isoformat(), start, min(end, cap)))
    return buckets


def _on_time_weekly(conn: Connection, view: ViewState, period: Period) -> dict[str, Any]:
    cap = upto(period.now)
    buckets = week_buckets(period)
    res = run_family(
        conn,
        effective_deadline(),
        due_aggs(cap),
        due_conditions(view, cap),
        [],
        spark=buckets,
        hint=due_hint,
    )
    return on_time_weekly(buckets, res.spark)


def on_time_weekly(
    buckets: Sequence[tuple[str, dt.datetime, dt.datetime]], due: Sequence[Counts]
) -> dict[str, Any]:
    """The weekly on-time panel from each week's ``due`` and ``on_time`` counts (the tile's formula)."""
    return {
        "labels": [label for label, _, _ in buckets],
        "on_time_rate": [figure("on_time_rate", week) for week in due],
        "due": [int(week["due"]) for week in due],
    }


def trends(conn: Connection, view: ViewState, now: dt.datetime) -> dict[str, Any]:
    """The trends panel (see the module docstring for the shape): three queries."""
    period = period_bounds(view, now)
    unit = bucket_unit(period)
    out = _series(conn, view, period, unit)
    out.update(reported_mix(conn, view, period))
    out["on_time_weekly"] = _on_time_weekly(conn, view, period)
    return out
