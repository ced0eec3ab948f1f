"""An event's rollup fact: its current state reduced to what the figures need, and what it adds to the tiers.

Why current state is enough: for a *live* moment, later than every timestamp in the source, each as-of
condition of the direct queries (``closed_at < t``, "had a DISPATCH before t" …) equals its current
value. The fast path is used only then (``ru_meta.max_ts``, :func:`dashboard.rollups.read.eligible`);
as-of views take the direct queries.

State keys: "open at t" = reported before t and neither closed nor rejected before t. With
end = min(closed, rejected), the events open at t number #(rep < t) − #(max(rep, end) < t), i.e.
#(E1 ≥ t) − #(rep ≥ t) with E1 = max(rep, end) (∞ while open). Overdue-open and supervised-open are
the same difference with D1 = max(rep, deadline + 1 µs), D2 = max(D1, end) and S1 = max(rep,
supervised), S2 = max(S1, end). So the board at any past instant is two range counts over the tiers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, case, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from dashboard.rollups.buckets import INF_US, bucket_of, hours_bin, to_us
from dashboard.rollups.tables import ANY, KINDS, THIRD_DIMENSION, TIERS, project, projections
from dashboard.source import schema
from dashboard.source.queries.common import MAX_EXTENSION, E, effective_deadline
from dashboard.source.queries.kpis import LOCAL_LEVELS, SATISFIED
from dashboard.source.queries.sqlfuncs import hours_between

MAX_EXTENSION_US = MAX_EXTENSION // dt.timedelta(microseconds=1)


def _logged(action: str, guard: ColumnElement[bool]) -> ColumnElement[Any]:
    """1 when the event ever logged ``action`` (looked up only where ``guard`` holds), else NULL.

    The current-state form of ``had_action(action, t)`` for t after every row. A LIMIT 1 scalar
    subquery, not EXISTS: PostgreSQL turned the EXISTS into a hashed scan of the whole action log.
    """
    a = schema.event_action
    probe = select(literal(1)).where(a.c.event_id == E.c.event_id, a.c.action == action).limit(1)
    return case((guard, probe.scalar_subquery()), else_=None)


def fact_query(where: Sequence[ColumnElement[bool]]) -> Any:
    """The source columns of :func:`fact_of`; flags as common.dispatched_by / returned_by / reworked_by
    evaluated after every row."""
    return select(
        E.c.event_id,
        E.c.town_code,
        E.c.village_code,
        E.c.grid_code,
        E.c.category_l1,
        E.c.source,
        E.c.dispatch_dept_code,
        E.c.reported_at,
        E.c.accepted_at,
        E.c.rejected_at,
        E.c.dispatched_at,
        E.c.closed_at,
        E.c.supervised_at,
        E.c.deadline_at,
        effective_deadline().label("eff_deadline"),
        _logged("DISPATCH", E.c.dispatch_count > 1).label("log_dispatch"),
        _logged("RETURN", E.c.returned_count > 0).label("log_return"),
        _logged("VERIFY_FAIL", E.c.reopened_count > 0).label("log_rework"),
        E.c.level_of_handling.in_(LOCAL_LEVELS).label("f_local"),
        hours_between(E.c.accepted_at, E.c.closed_at).label("hours"),
    ).where(*where)


def fact_of(row: Any) -> tuple[dict[str, Any], bool]:
    """A ru_fact row from a source row, and whether its deadline breaks the MAX_EXTENSION assumption."""
    rep = to_us(row.reported_at)
    assert rep is not None
    clo, rej = to_us(row.closed_at), to_us(row.rejected_at)
    dl, raw_dl, sup = to_us(row.eff_deadline), to_us(row.deadline_at), to_us(row.supervised_at)
    ends = [x for x in (clo, rej) if x is not None]
    end = min(ends) if ends else None
    e1 = INF_US if end is None else max(rep, end)
    d1 = None if dl is None else max(rep, dl + 1)
    s1 = None if sup is None else max(rep, sup)
    transitions = [x for x in (rep, clo, rej, sup, to_us(row.accepted_at), to_us(row.dispatched_at)) if x]
    not_rejected = rej is None
    closed = clo is not None
    dispatched = row.dispatched_at is not None or row.log_dispatch is not None
    hours = float(row.hours) if row.accepted_at and closed and row.hours is not None else None
    fact = {
        "event_id": int(row.event_id),
        "town": row.town_code or "",
        "village": row.village_code or "",
        "grid": row.grid_code or "",
        "cat": row.category_l1 or "",
        "src": row.source or "",
        "dept": row.dispatch_dept_code or "NONE",
        "rep": rep,
        "clo": clo,
        "dl": dl,
        "collected": int(not_rejected),
        "cohort_closed": int(closed and not_rejected),
        "dispatched": int(dispatched),
        "returned": int(dispatched and row.log_return is not None),
        "hours": hours,
        "hbin": hours_bin(hours),
        "reworked": int(row.log_rework is not None),
        "local_level": int(bool(row.f_local)),
        "due_ok": int(raw_dl is not None and not_rejected),
        "due_closed": int(raw_dl is not None and not_rejected and closed),
        "on_time": int(raw_dl is not None and not_rejected and closed and dl is not None and clo <= dl),  # type: ignore[operator]
        "e1": e1,
        "d1": d1,
        "d2": None if d1 is None else (INF_US if end is None else max(d1, end)),
        "s1": s1,
        "s2": None if s1 is None else (INF_US if end is None else max(s1, end)),
        "max_ts": max(transitions),
    }
    # The direct due queries bound deadline_at by MAX_EXTENSION before the effective deadline; a fact
    # outside that bound would be counted differently, so its presence turns the fast path off.
    odd = raw_dl is not None and dl is not None and not raw_dl <= dl <= raw_dl + MAX_EXTENSION_US
    return fact, odd


def same_fact(stored: dict[str, Any], fact: dict[str, Any]) -> bool:
    """Does the stored fact equal a fresh one (the stored hours went through the database's float)?"""
    for name, value in fact.items():
        kept = stored[name]
        if isinstance(value, float) and kept is not None:
            if abs(float(kept) - value) > 1e-9 * max(1.0, abs(value)):
                return False
        elif kept != value:
            return False
    return True


def _contributions(fact: dict[str, Any]) -> Iterator[tuple[str, int, str, tuple[float, ...]]]:
    """(kind, key µs, third dimension, sums) that one fact adds to the tiers."""
    for kind, (key, cols) in KINDS.items():
        at = fact[key]
        if at is None:
            continue
        if kind == "due" and not fact["due_ok"]:
            continue
        if kind == "clo":
            hours = fact["hours"]
            sums: tuple[float, ...] = (1.0, hours or 0.0, 1.0 if hours is not None else 0.0,
                                       float(fact["reworked"]), float(fact["local_level"]))  # fmt: skip
        else:
            sums = tuple(1.0 if c is None else float(fact[c]) for c in cols)
        third = fact["dept"] if kind in THIRD_DIMENSION else ANY
        yield kind, at, third, sums + (0.0,) * (5 - len(sums))
    yield "rsrc", fact["rep"], fact["src"], (1.0, 0.0, 0.0, 0.0, 0.0)
    if fact["hbin"] is not None:
        yield "hst", fact["clo"], str(fact["hbin"]), (1.0, 0.0, 0.0, 0.0, 0.0)


Delta = dict[tuple[str, str, str, int, str, str, str], list[float]]


def _add_one(
    delta: Delta, kind: str, at: int, town: str, cat: str, third: str, sums: Sequence[float], sign: float
) -> None:
    for tier in TIERS:
        b = bucket_of(tier, at)
        for p in projections(kind, tier):
            key = (tier, kind, p, b, *project(p, town, cat, third))
            acc = delta.setdefault(key, [0.0] * 5)
            for i, v in enumerate(sums):
                acc[i] += sign * v


def add_fact(delta: Delta, fact: dict[str, Any], sign: float) -> None:
    """Add what ``fact`` contributes to every tier to ``delta`` (``sign`` −1 takes an old fact out)."""
    for kind, at, third, sums in _contributions(fact):
        _add_one(delta, kind, at, fact["town"], fact["cat"], third, sums, sign)


def add_evaluation(delta: Delta, ev: dict[str, Any]) -> None:
    """Add a new evaluation's contribution to every tier to ``delta``."""
    _add_one(delta, "eva", ev["at"], ev["town"], ev["cat"], ANY, (1.0, float(ev["satisfied"])), 1.0)


def evaluation_query(where: Sequence[ColumnElement[bool]]) -> Any:
    """The source columns of :func:`evaluation_fact`: the evaluation with its event's town and category."""
    ev = schema.evaluation
    satisfied = ev.c.result.in_(SATISFIED)
    return (
        select(ev.c.evaluation_id, ev.c.at, E.c.town_code, E.c.category_l1, satisfied.label("sat"))
        .select_from(ev.join(E, E.c.event_id == ev.c.event_id))
        .where(*where)
    )


def evaluation_fact(row: Any) -> dict[str, Any]:
    """A ru_eval row from a source row of :func:`evaluation_query`."""
    at = to_us(row.at)
    assert at is not None
    return {
        "evaluation_id": int(row.evaluation_id),
        "at": at,
        "town": row.town_code or "",
        "cat": row.category_l1 or "",
        "satisfied": int(bool(row.sat)),
    }


def max_action_at(source: Connection, above: int) -> int:
    """The latest action time (µs) among the actions with an id above ``above``; 0 when none."""
    a = schema.event_action
    got = source.execute(select(func.max(a.c.at)).where(a.c.action_id > above)).scalar()
    return to_us(got) or 0
