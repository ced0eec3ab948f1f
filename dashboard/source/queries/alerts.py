"""Alerts for the wall: report surges in a town or grid, and towns whose overdue backlog is growing.

Both rules are evaluated afresh for every snapshot, so an alert shows while its condition holds and
subsides by itself. Both are as-of safe: only timestamps at or before ``now`` count.

* **surge** — the reports of the last hour, ``(now − 1 h, now]``, in a town or grid exceed
  ``max(ALERT_MIN_CASES, mean + ALERT_SIGMA · σ)``, where mean and σ (population σ, zeros included) are
  taken over the same hour of the week in each of the past ``ALERT_WEEKS`` weeks. One statement: a
  UNION ALL of one grouped range scan (``ix_event_reported`` / ``ix_event_town_reported``) per window
  and level, folded per unit into the current count, the sum and the sum of squares.
* **overdue_growth** — the open overdue cases of a town now minus ``ALERT_OVERDUE_MINUTES`` ago grew by
  at least ``ALERT_OVERDUE_GROWTH``. One statement: the overdue count per town at the two instants.

The rules and their parameters are described in the registry (``ALERT_RULES`` in
:mod:`dashboard.core.metrics`). Each parameter's district default is its setting; a town may have its own
value (set by an admin, kept in the state store: :mod:`dashboard.service.alert_rules`), and a unit is
judged by its town's value when there is one (:class:`ScopedThresholds`). One statement still serves
every town: the surge query sums the past windows once per distinct ``weeks`` in use, and the overdue
query counts at one earlier instant per distinct window.

The snapshot builders take no thresholds argument: the snapshot service sets the scoped thresholds for
the build it runs (:func:`using_thresholds`); without that, the environment's defaults apply.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, select, union_all

from dashboard.core.metrics import ALERT_PARAMS
from dashboard.core.periods import EPSILON
from dashboard.core.settings import Settings, load_settings
from dashboard.core.viewstate import ViewState
from dashboard.source.queries.common import E, effective_deadline, open_at, upto
from dashboard.source.queries.scope import TOWN_CODE_LEN, event_conditions, unit_names

HOUR = dt.timedelta(hours=1)
WEEK = dt.timedelta(days=7)
MAX_ALERTS = 8  # more than this on a wall is noise: the strongest ones are shown


@dataclass(frozen=True)
class AlertThresholds:
    """The alert rule's parameters (see the module docstring); defaults match the settings."""

    min_cases: int = 5
    sigma: float = 3.0
    weeks: int = 8
    overdue_growth: int = 5
    overdue_minutes: int = 60

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertThresholds:
        """The thresholds named by ``settings`` (``DASHBOARD_ALERT_*``)."""
        return cls(
            min_cases=settings.ALERT_MIN_CASES,
            sigma=settings.ALERT_SIGMA,
            weeks=settings.ALERT_WEEKS,
            overdue_growth=settings.ALERT_OVERDUE_GROWTH,
            overdue_minutes=settings.ALERT_OVERDUE_MINUTES,
        )

    def with_values(self, values: Mapping[str, float]) -> AlertThresholds:
        """These thresholds with some replaced (registry parameter names: min_cases, sigma, …)."""
        typed = {
            name: int(value) if ALERT_PARAMS[name].integer else float(value) for name, value in values.items()
        }
        return replace(self, **typed)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ScopedThresholds:
    """The district's thresholds and the towns that have their own: a unit is judged by its town's."""

    default: AlertThresholds = AlertThresholds()
    towns: Mapping[str, AlertThresholds] = field(default_factory=dict)

    def for_unit(self, code: str) -> AlertThresholds:
        """The thresholds of the town of ``code`` (a town's or a grid's code)."""
        return self.towns.get(code[:TOWN_CODE_LEN], self.default)

    def every(self) -> list[AlertThresholds]:
        """The default and each town's: what one statement for all units must cover."""
        return [self.default, *self.towns.values()]


Limits = AlertThresholds | ScopedThresholds
_current: ContextVar[ScopedThresholds | None] = ContextVar("dashboard_alert_thresholds", default=None)


@contextmanager
def using_thresholds(limits: ScopedThresholds) -> Iterator[None]:
    """Evaluate the rules with ``limits`` within the block (the snapshot service around a build)."""
    token = _current.set(limits)
    try:
        yield
    finally:
        _current.reset(token)


def scoped(limits: Limits) -> ScopedThresholds:
    return limits if isinstance(limits, ScopedThresholds) else ScopedThresholds(limits)


def alert_thresholds(given: Settings | Limits | None = None) -> ScopedThresholds:
    """The thresholds given, those of ``settings``, or (nothing given) those set for the current build
    (:func:`using_thresholds`), else the environment's."""
    if isinstance(given, AlertThresholds | ScopedThresholds):
        return scoped(given)
    if given is None and _current.get() is not None:
        return _current.get()  # type: ignore[return-value]
    # Why the environment when nothing is given: build_snapshot has no settings argument, and the
    # server process reads its settings from the same DASHBOARD_* variables.
    return ScopedThresholds(AlertThresholds.from_settings(given if given is not None else load_settings()))


def alerts(
    conn: Connection,
    view: ViewState,
    now: dt.datetime,
    settings_or_thresholds: Settings | Limits | None = None,
) -> list[dict[str, Any]]:
    """The alerts that hold at ``now`` within ``view``: strongest first, at most :data:`MAX_ALERTS`."""
    limits = alert_thresholds(settings_or_thresholds)
    return finish_alerts(conn, surge_rows(conn, view, now, limits) + overdue_rows(conn, view, now, limits))


def finish_alerts(
    conn: Connection, found: list[dict[str, Any]], limit: int | None = MAX_ALERTS
) -> list[dict[str, Any]]:
    """Strongest first, at most ``limit`` (None: all of them), named."""
    found.sort(key=lambda a: (a["severity"] != "bad", -a["count"] / max(a["threshold"], 1), a["unit_code"]))
    found = found[:limit]
    _name(conn, found)
    return found


def firing_alerts(conn: Connection, now: dt.datetime, limits: Limits) -> list[dict[str, Any]]:
    """Every alert that holds at ``now`` in the whole district, named, none left out: what the alert
    lifecycle (dashboard/service/alerts.py) follows. A wall's list stops at :data:`MAX_ALERTS`, but an
    alert left off it has not cleared."""
    view = ViewState()
    return finish_alerts(
        conn, surge_rows(conn, view, now, limits) + overdue_rows(conn, view, now, limits), None
    )


# --- surges ------------------------------------------------------------------------------------------


def surge_windows(now: dt.datetime, weeks: int) -> list[tuple[int, dt.datetime, dt.datetime]]:
    """(index, start exclusive, end inclusive): 0 is the last hour, k the same hour k weeks earlier."""
    return [(k, now - k * WEEK - HOUR, now - k * WEEK) for k in range(weeks + 1)]


def _surge_branch(view: ViewState, level: str, unit: Any, k: int, lo: dt.datetime, hi: dt.datetime) -> Any:
    # (lo, hi] as reported_at > lo AND reported_at < hi + 1 µs: a range on the reported_at indexes.
    return (
        select(
            literal(level).label("level"),
            unit.label("unit"),
            literal(k).label("w"),
            func.count().label("n"),
        )
        .where(*event_conditions(view), E.c.reported_at > lo, E.c.reported_at < upto(hi))
        .group_by(unit)
    )


def surge_rows(conn: Connection, view: ViewState, now: dt.datetime, limits: Limits) -> list[dict[str, Any]]:
    """Towns and grids whose last hour exceeds their usual level for this hour of the week."""
    rules = scoped(limits)
    spans = sorted({t.weeks for t in rules.every()})  # one pair of sums per distinct number of weeks
    branches = [
        _surge_branch(view, level, unit, k, lo, hi)
        for level, unit in (("town", E.c.town_code), ("grid", E.c.grid_code))
        for k, lo, hi in surge_windows(now, max(spans))
    ]
    counts = union_all(*branches).subquery("windows")
    current = func.sum(case((counts.c.w == 0, counts.c.n), else_=0))
    sums = []
    for weeks in spans:
        past = and_(counts.c.w > 0, counts.c.w <= weeks)
        sums += [
            func.sum(case((past, counts.c.n), else_=0)).label(f"s{weeks}"),
            func.sum(case((past, counts.c.n * counts.c.n), else_=0)).label(f"sq{weeks}"),
        ]
    floor = min(t.min_cases for t in rules.every())
    q = (
        select(counts.c.level, counts.c.unit, current.label("cur"), *sums)
        .group_by(counts.c.level, counts.c.unit)
        .having(current > floor)  # only units that could be a surge come back
    )
    out = []
    for row in conn.execute(q).mappings():
        if row["unit"] is None:  # town-level cases have no grid: their town's row counts them
            continue
        own = rules.for_unit(str(row["unit"]))
        weeks = own.weeks
        threshold = surge_threshold(float(row[f"s{weeks}"] or 0), float(row[f"sq{weeks}"] or 0), own)
        count = int(row["cur"] or 0)
        if count > threshold:
            out.append(_alert("surge", row["level"], str(row["unit"]), count, threshold))
    return out


def surge_span(limits: Limits) -> int:
    """How many past weeks one count of the windows must cover: the most any town's rule looks back."""
    return max(t.weeks for t in scoped(limits).every())


def surges(counts: dict[tuple[str, str], dict[int, int]], limits: Limits) -> list[dict[str, Any]]:
    """:func:`surge_rows` from reports counted elsewhere (the rollups' facts): ``counts[(level, unit)][k]``
    the reports of window ``k`` of :func:`surge_windows` (0 the last hour), each unit judged by its
    town's thresholds over its own number of weeks."""
    rules = scoped(limits)
    out = []
    for (level, unit), by_window in counts.items():
        if not unit:  # town-level cases have no grid: their town's row counts them
            continue
        own = rules.for_unit(unit)
        count = by_window.get(0, 0)
        if count <= own.min_cases:
            continue
        past = [n for k, n in by_window.items() if 0 < k <= own.weeks]
        threshold = surge_threshold(float(sum(past)), float(sum(n * n for n in past)), own)
        if count > threshold:
            out.append(_alert("surge", level, unit, count, threshold))
    return out


def surge_threshold(total: float, squares: float, limits: AlertThresholds) -> float:
    """max(min_cases, mean + sigma·σ) from the sum and sum of squares of the ``weeks`` past counts."""
    n = max(limits.weeks, 1)
    mean = total / n
    variance = max(squares / n - mean * mean, 0.0)  # rounding can leave a tiny negative
    return max(float(limits.min_cases), mean + limits.sigma * math.sqrt(variance))


# --- growing overdue backlog -------------------------------------------------------------------------


def _overdue_branch(view: ViewState, tag: str, t: dt.datetime) -> Any:
    # The same "overdue open at t" as the overdue_open KPI (t is the exclusive bound).
    return (
        select(literal(tag).label("k"), E.c.town_code.label("unit"), func.count().label("n"))
        .where(*event_conditions(view), *open_at(t), effective_deadline() < t - EPSILON)
        .group_by(E.c.town_code)
    )


def then_tag(minutes: int) -> str:
    """The name of the overdue count ``minutes`` before now (one per distinct window in use)."""
    return f"then{minutes}"


def overdue_instants(cap: dt.datetime, limits: Limits) -> list[tuple[str, dt.datetime]]:
    """(tag, instant) of now and of each distinct window's start: where the overdue counts are taken."""
    spans = sorted({t.overdue_minutes for t in scoped(limits).every()})
    return [("now", cap)] + [(then_tag(m), cap - dt.timedelta(minutes=m)) for m in spans]


def overdue_rows(conn: Connection, view: ViewState, now: dt.datetime, limits: Limits) -> list[dict[str, Any]]:
    """Towns whose open overdue count grew by at least ``overdue_growth`` over the window."""
    counts: dict[str, dict[str, int]] = {}
    q = union_all(*(_overdue_branch(view, tag, t) for tag, t in overdue_instants(upto(now), limits)))
    for row in conn.execute(q).mappings():
        counts.setdefault(str(row["unit"]), {})[row["k"]] = int(row["n"] or 0)
    return overdue_alerts(counts, limits)


def overdue_alerts(counts: dict[str, dict[str, int]], limits: Limits) -> list[dict[str, Any]]:
    """Alerts from {town: {"now": n, then_tag(minutes): n}} open overdue counts, each town judged by its
    own thresholds."""
    rules = scoped(limits)
    out = []
    for town, c in sorted(counts.items()):
        own = rules.for_unit(town)
        growth = c.get("now", 0) - c.get(then_tag(own.overdue_minutes), 0)
        if growth >= own.overdue_growth:
            alert = _alert("overdue_growth", "town", town, growth, float(own.overdue_growth))
            alert["current"] = c.get("now", 0)
            alert["window_minutes"] = own.overdue_minutes
            out.append(alert)
    return out


# --- presentation --------------------------------------------------------------------------------------


def _alert(kind: str, level: str, unit: str, count: int, threshold: float) -> dict[str, Any]:
    # Twice the threshold is "bad" (red); anything above it "warn" (amber).
    severity = "bad" if count >= 2 * max(threshold, 1.0) else "warn"
    return {
        "kind": kind,
        "unit_code": unit,
        "level": level,
        "text_zh": "",
        "text_en": "",
        "severity": severity,
        "count": count,
        "threshold": round(threshold, 2),
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _name(conn: Connection, found: list[dict[str, Any]]) -> None:
    """Fill text_zh / text_en; a grid is named with its town so it reads alone on a wall."""
    codes = {a["unit_code"] for a in found} | {a["unit_code"][:TOWN_CODE_LEN] for a in found}
    names = unit_names(conn, codes) if codes else {}
    for a in found:
        zh, en, _ = names[a["unit_code"]]
        if a["level"] == "grid":
            town_zh, town_en, _ = names[a["unit_code"][:TOWN_CODE_LEN]]
            zh, en = f"{town_zh} {zh}", f"{town_en} {en}"
        a["text_zh"], a["text_en"] = _texts(a, zh, en)


def _texts(a: dict[str, Any], zh: str, en: str) -> tuple[str, str]:
    limit = _number(a["threshold"])
    if a["kind"] == "surge":
        return (
            f"{zh} 近1小时上报 {a['count']} 件（阈值 {limit}）",
            f"{en}: {a['count']} reports in the last hour (threshold {limit})",
        )
    minutes = int(a["window_minutes"])
    span_zh = "1小时" if minutes == 60 else f"{minutes}分钟"
    span_en = "hour" if minutes == 60 else f"{minutes} minutes"
    return (
        f"{zh} 超期未办结 近{span_zh}增加 {a['count']} 件，现 {a['current']} 件（阈值 {limit}）",
        f"{en}: overdue open cases up {a['count']} in the last {span_en}, now {a['current']} "
        f"(threshold {limit})",
    )
