"""An event's rollup fact: its current state reduced to what the figures need, and what it adds to the tiers.

The flags are the direct queries' as-of conditions (``closed_at < t``, "had a DISPATCH before t" …) at
a moment after every row: the current state. Each of them holds from one instant on, which the fact
keeps too (``rej``, ``clo``, ``disp``, ``ret``, ``rw``, and ``hide`` for ``dept_at``), so the reader
can correct the tiers for a moment when the event was still in flight (``lo`` < t ≤ ``hi``; see
:class:`dashboard.rollups.reader.Reader`).

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

from sqlalchemy import Connection, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from dashboard.rollups.buckets import HOUR_US, INF_US, bucket_of, hours_bin, to_us
from dashboard.rollups.tables import ANY, FLIGHT_CLASSES, KINDS, TIERS, project, projections
from dashboard.source import schema
from dashboard.source.queries.common import MAX_EXTENSION, E, effective_deadline
from dashboard.source.queries.kpis import LOCAL_LEVELS, SATISFIED
from dashboard.source.queries.sqlfuncs import hours_between

MAX_EXTENSION_US = MAX_EXTENSION // dt.timedelta(microseconds=1)


def _first(action: str, guard: ColumnElement[bool]) -> ColumnElement[Any]:
    """When the event first logged ``action`` (looked up only where ``guard`` holds), else NULL.

    ``had_action(action, t)`` of the direct queries is "this instant < t". A scalar subquery on the
    (event_id, at) index, not a join: PostgreSQL turned an EXISTS into a hashed scan of the whole log.
    """
    a = schema.event_action
    probe = select(func.min(a.c.at)).where(a.c.event_id == E.c.event_id, a.c.action == action)
    return case((guard, probe.scalar_subquery()), else_=None)


def fact_query(where: Sequence[ColumnElement[bool]]) -> Any:
    """The source columns of :func:`fact_of`: the event's timestamps and the first instants of the
    actions that common.dispatched_by / returned_by / reworked_by / dept_at look up."""
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
        E.c.dispatch_count,
        E.c.returned_count,
        E.c.reopened_count,
        effective_deadline().label("eff_deadline"),
        _first("DISPATCH", E.c.dispatched_at.is_not(None) | (E.c.dispatch_count > 1)).label("first_dispatch"),
        _first("RETURN", E.c.returned_count > 0).label("first_return"),
        _first("VERIFY_FAIL", E.c.reopened_count > 0).label("first_rework"),
        E.c.level_of_handling.in_(LOCAL_LEVELS).label("f_local"),
        hours_between(E.c.accepted_at, E.c.closed_at).label("hours"),
    ).where(*where)


def _present(*values: int | None) -> list[int]:
    return [v for v in values if v is not None]


def span_class(lo: int, hi: int) -> int:
    """The length class of the span [lo, hi]: the least k with hi - lo <= 2**k hours (see FLIGHT)."""
    k = 0
    while k < FLIGHT_CLASSES - 1 and (HOUR_US << k) < hi - lo:
        k += 1
    return k


def _as_of_instants(row: Any, rep: int, clo: int | None, rej: int | None) -> dict[str, Any]:
    """From when each as-of flag of the direct queries holds (None: never), and the span over which
    some flag differs from its current value.

    * dispatched_by(t): dispatched_at < t, or (re-dispatched) the first DISPATCH < t: ``disp`` < t;
    * returned_by(t) / reworked_by(t): the first RETURN / VERIFY_FAIL < t, when the counter says so;
    * dept_at(t) hides the department while t <= ``hide`` = min(dispatched_at, first DISPATCH).
    """
    dispatched_at, first_dispatch = to_us(row.dispatched_at), to_us(row.first_dispatch)
    redispatched = (row.dispatch_count or 0) > 1
    disp_at = _present(dispatched_at, first_dispatch if redispatched else None)
    ret = to_us(row.first_return) if (row.returned_count or 0) > 0 else None
    rw = to_us(row.first_rework) if (row.reopened_count or 0) > 0 else None
    hide = (
        min(dispatched_at, first_dispatch)
        if dispatched_at is not None and first_dispatch is not None
        else None
    )
    dl = to_us(row.eff_deadline)
    lo = min(_present(rep, clo, dl))
    turns = _present(rej, clo, min(disp_at) if disp_at else None, ret, rw, hide)
    hi = max(turns) if turns else None
    return {
        "disp": min(disp_at) if disp_at else None,
        "ret": ret,
        "rw": rw,
        "hide": hide,
        "lo": lo,
        "hi": hi,
        "span": None if hi is None else span_class(lo, hi),
    }


def fact_of(row: Any) -> tuple[dict[str, Any], bool]:
    """A ru_fact row from a source row, and whether its deadline breaks the MAX_EXTENSION assumption.

    The 0/1 flags are the direct queries' as-of conditions at an instant after every row (the current
    state); ``disp``, ``ret``, ``rw``, ``hide``, ``clo`` and ``rej`` say how they stood at any earlier one.
    """
    rep = to_us(row.reported_at)
    assert rep is not None
    clo, rej = to_us(row.closed_at), to_us(row.rejected_at)
    dl, raw_dl, sup = to_us(row.eff_deadline), to_us(row.deadline_at), to_us(row.supervised_at)
    ends = [x for x in (clo, rej) if x is not None]
    end = min(ends) if ends else None
    e1 = INF_US if end is None else max(rep, end)
    d1 = None if dl is None else max(rep, dl + 1)
    s1 = None if sup is None else max(rep, sup)
    instants = _as_of_instants(row, rep, clo, rej)
    transitions = _present(
        rep, clo, rej, sup, to_us(row.accepted_at), to_us(row.dispatched_at), instants["hi"]
    )
    not_rejected = rej is None
    closed = clo is not None
    dispatched = instants["disp"] is not None
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
        "rej": rej,
        "dl": dl,
        "collected": int(not_rejected),
        "cohort_closed": int(closed and not_rejected),
        "dispatched": int(dispatched),
        "returned": int(dispatched and instants["ret"] is not None),
        "hours": hours,
        "hbin": hours_bin(hours),
        "reworked": int(instants["rw"] is not None),
        "local_level": int(bool(row.f_local)),
        "due_any": int(raw_dl is not None),
        "due_ok": int(raw_dl is not None and not_rejected),
        "due_closed": int(raw_dl is not None and not_rejected and closed),
        "on_time": int(raw_dl is not None and not_rejected and closed and dl is not None and clo <= dl),  # type: ignore[operator]
        "e1": e1,
        "d1": d1,
        "d2": None if d1 is None else (INF_US if end is None else max(d1, end)),
        "s1": s1,
        "s2": None if s1 is None else (INF_US if end is None else max(s1, end)),
        **instants,
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


def dims_of(row: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """The (town, cat, dept, src, village) of a fact or an evaluation row: the tiers' dimensions."""
    return (row["town"], row["cat"], row["dept"], row["src"], row["village"])


def _contributions(fact: dict[str, Any]) -> Iterator[tuple[str, int, str, tuple[float, ...]]]:
    """(kind, key µs, bin, sums) that one fact adds to the tiers."""
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
        yield kind, at, ANY, sums + (0.0,) * (5 - len(sums))
    if fact["hbin"] is not None:
        yield "hst", fact["clo"], str(fact["hbin"]), (1.0, 0.0, 0.0, 0.0, 0.0)


Delta = dict[tuple[Any, ...], list[float]]


def _add_one(
    delta: Delta,
    kind: str,
    at: int,
    dims: tuple[str, str, str, str, str],
    hbin: str,
    sums: Sequence[float],
    sign: float,
) -> None:
    for tier in TIERS:
        b = bucket_of(tier, at)
        for p in projections(kind, tier):
            key = (tier, kind, p, b, *project(p, dims), hbin)
            acc = delta.setdefault(key, [0.0] * 5)
            for i, v in enumerate(sums):
                acc[i] += sign * v


def add_fact(delta: Delta, fact: dict[str, Any], sign: float) -> None:
    """Add what ``fact`` contributes to every tier to ``delta`` (``sign`` −1 takes an old fact out)."""
    dims = dims_of(fact)
    for kind, at, hbin, sums in _contributions(fact):
        _add_one(delta, kind, at, dims, hbin, sums, sign)


def add_evaluation(delta: Delta, ev: dict[str, Any], sign: float = 1.0) -> None:
    """Add an evaluation's contribution to every tier to ``delta`` (``sign`` −1 takes it out)."""
    _add_one(delta, "eva", ev["at"], dims_of(ev), ANY, (1.0, float(ev["satisfied"])), sign)


def evaluation_query(where: Sequence[ColumnElement[bool]]) -> Any:
    """The source columns of :func:`evaluation_fact`: the evaluation with its event's town and category."""
    ev = schema.evaluation
    satisfied = ev.c.result.in_(SATISFIED)
    return (
        select(
            ev.c.evaluation_id,
            ev.c.at,
            ev.c.event_id,
            E.c.town_code,
            E.c.village_code,
            E.c.grid_code,
            E.c.category_l1,
            E.c.source,
            E.c.dispatch_dept_code,
            satisfied.label("sat"),
        )
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
        "event_id": int(row.event_id),
        "town": row.town_code or "",
        "village": row.village_code or "",
        "grid": row.grid_code or "",
        "cat": row.category_l1 or "",
        "src": row.source or "",
        "dept": row.dispatch_dept_code or "NONE",
        "satisfied": int(bool(row.sat)),
    }


def max_action_at(source: Connection, above: int) -> int:
    """The latest action time (µs) among the actions with an id above ``above``; 0 when none."""
    a = schema.event_action
    got = source.execute(select(func.max(a.c.at)).where(a.c.action_id > above)).scalar()
    return to_us(got) or 0
