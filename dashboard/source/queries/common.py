"""Building blocks shared by the query modules: as-of conditions and the "family" query.

As-of rule: every figure is reconstructed from timestamps compared with the effective moment ``now``
(``t < now + 1 µs``, i.e. at or before now), never from the current ``status`` column, so rows and
transitions written after ``now`` cannot change an answer. Known approximations: the event row holds
only the latest ``extended_deadline_at`` and ``level_of_handling``, so those count as they are now; a case
closed, failed at verification and closed again has ``closed_at`` = the latest close, so between the two
closes it counts as open.

A *family* query computes several aggregates over one timestamp column for the current, previous and
last-year ranges plus a per-local-day series for the spark line, as one UNION ALL statement: one round
trip, each branch a range scan on that column's index.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)

from dashboard.core import domain
from dashboard.core.periods import EPSILON, Period, local_date, local_midnight, spark_buckets
from dashboard.core.viewstate import ViewState
from dashboard.source import schema
from dashboard.source.queries.scope import event_conditions
from dashboard.source.queries.sqlfuncs import local_day, scan_hint

E = schema.event
A = schema.event_action

# An approved extension is assumed to move a deadline by at most this much: it bounds the index range
# scanned for "deadline in P" (the effective deadline is never earlier than deadline_at).
MAX_EXTENSION = dt.timedelta(days=366)

Range = tuple[str, dt.datetime, dt.datetime]  # (tag, start, exclusive end)
B = TypeVar("B", dt.datetime, int)  # a range's bounds: datetimes, or the rollups' µs
Aggs = dict[str, float]


def upto(now: dt.datetime) -> dt.datetime:
    """The exclusive bound meaning "at or before now" at the storage resolution."""
    return now + EPSILON


def count_if(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((cond, 1), else_=0))


def sum_if(cond: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.sum(case((cond, value), else_=0))


def closed_by(t: dt.datetime) -> ColumnElement[bool]:
    return and_(E.c.closed_at.is_not(None), E.c.closed_at < t)


def not_rejected_by(t: dt.datetime) -> ColumnElement[bool]:
    return or_(E.c.rejected_at.is_(None), E.c.rejected_at >= t)


def dept_at(t: dt.datetime) -> ColumnElement[Any]:
    """The department an event was dispatched to by t (NULL if it was first dispatched after t).

    The event row holds only the latest dispatch. The department is hidden only when the action log
    proves the first dispatch came after t: no DISPATCH before t and one at or after it. A re-dispatch to
    another department after a return is attributed to the latest department (the row keeps only that).
    """
    later_dispatch = exists(
        select(A.c.action_id).where(A.c.event_id == E.c.event_id, A.c.action == "DISPATCH", A.c.at >= t)
    )
    first_dispatched_after = and_(
        E.c.dispatched_at.is_not(None),
        E.c.dispatched_at >= t,
        not_(had_action("DISPATCH", t)),
        later_dispatch,
    )
    return case((first_dispatched_after, None), else_=E.c.dispatch_dept_code)


def effective_deadline() -> ColumnElement[Any]:
    """The deadline that counts: the extended one where an extension was approved."""
    return func.coalesce(E.c.extended_deadline_at, E.c.deadline_at)


def open_candidates(t: dt.datetime) -> ColumnElement[bool]:
    """Rows that can be open at t or later: open or rejected now, or closed since t.

    Gathered from two index ranges (status; closed_at) into one id set, so no backend scans the whole
    history: a plain OR of the two made SQLite fall back to a table scan.
    """
    candidates = union_all(
        select(E.c.event_id).where(E.c.status.in_((*domain.OPEN_STATUSES, "REJECTED"))),
        select(E.c.event_id).where(
            E.c.closed_at >= t, E.c.status.not_in((*domain.OPEN_STATUSES, "REJECTED"))
        ),
    )
    return E.c.event_id.in_(candidates)


def open_at_conditions(t: dt.datetime) -> list[ColumnElement[bool]]:
    """ "Open at t" (t exclusive) from timestamps only: reported before, neither closed nor rejected by t."""
    return [E.c.reported_at < t, not_(closed_by(t)), not_rejected_by(t)]


def open_at(t: dt.datetime) -> list[ColumnElement[bool]]:
    """Conditions for "open at t", with the candidate set that lets the database use its indexes."""
    return [open_candidates(t), scan_hint(E.c.reported_at) < t, *open_at_conditions(t)[1:]]


def had_action(action: str, t: dt.datetime) -> ColumnElement[bool]:
    """The event had ``action`` logged before t (correlated EXISTS on the (event_id, at) index)."""
    return exists(select(A.c.action_id).where(A.c.event_id == E.c.event_id, A.c.action == action, A.c.at < t))


def dispatched_by(t: dt.datetime) -> ColumnElement[bool]:
    """Dispatched before t. ``dispatched_at`` holds the latest dispatch, so it can hide an earlier one
    only after a re-dispatch (``dispatch_count > 1``): only then is the action log consulted."""
    return or_(
        and_(E.c.dispatched_at.is_not(None), E.c.dispatched_at < t),
        and_(E.c.dispatch_count > 1, had_action("DISPATCH", t)),
    )


def returned_by(t: dt.datetime) -> ColumnElement[bool]:
    """Returned by a department before t: the counter (which only grows) screens out the rest cheaply."""
    return and_(E.c.returned_count > 0, had_action("RETURN", t))


def reworked_by(t: dt.datetime) -> ColumnElement[bool]:
    """Failed verification (返工) before t; screened by ``reopened_count`` like :func:`returned_by`."""
    return and_(E.c.reopened_count > 0, had_action("VERIFY_FAIL", t))


def due_aggs(cap: dt.datetime) -> dict[str, Any]:
    closed = closed_by(cap)
    return {
        "due": func.count(),
        "due_closed": count_if(closed),
        "on_time": count_if(and_(closed, E.c.closed_at <= effective_deadline())),
    }


def due_conditions(view: ViewState, cap: dt.datetime) -> list[Any]:
    return [*event_conditions(view), E.c.deadline_at.is_not(None), not_rejected_by(cap)]


def due_hint(start: dt.datetime, end: dt.datetime) -> list[Any]:
    """Bound deadline_at itself so the ix_event_deadline index narrows the scan."""
    return [E.c.deadline_at >= start - MAX_EXTENSION, E.c.deadline_at < end]


@dataclass
class FamilyResult:
    """Aggregates per range tag (``cur``/``prev``/``ly``…), per spark bucket, and per group."""

    ranges: dict[str, Aggs] = field(default_factory=dict)
    spark: list[Aggs] = field(default_factory=list)
    groups: dict[tuple[str, Any], Aggs] = field(default_factory=dict)


def _num(value: Any) -> float:
    return float(value or 0)


def run_family(
    conn: Connection,
    ts: ColumnElement[Any],
    aggs: Mapping[str, ColumnElement[Any]],
    where: Sequence[ColumnElement[bool]],
    ranges: Sequence[Range],
    *,
    spark: Sequence[tuple[str, dt.datetime, dt.datetime]] = (),
    group: ColumnElement[Any] | None = None,
    from_: FromClause | None = None,
    hint: Callable[[dt.datetime, dt.datetime], list[ColumnElement[bool]]] | None = None,
) -> FamilyResult:
    """Run one UNION ALL: a branch per range (grouped by ``group`` if given; a range with the bounds of
    an earlier one is not read again) and one per-day branch."""

    def branch(key: ColumnElement[Any], start: dt.datetime, end: dt.datetime) -> Any:
        cols: list[Any] = [key.label("k")]
        cols.append((group if group is not None else literal("")).label("g"))
        cols += [agg.label(name) for name, agg in aggs.items()]
        q = select(*cols).where(*where, ts >= start, ts < end, *(hint(start, end) if hint else []))
        if from_ is not None:
            q = q.select_from(from_)
        return q

    parts = []
    for tag, start, end in distinct_ranges(ranges):
        q = branch(literal(tag), start, end)
        parts.append(q.group_by(group) if group is not None else q)
    if spark:
        day = local_day(ts)
        parts.append(branch(day, spark[0][1], spark[-1][2]).group_by(day))
    result = FamilyResult()
    daily: dict[str, Aggs] = {}
    tags = {tag for tag, _, _ in ranges}
    statement: Any = parts[0] if len(parts) == 1 else union_all(*parts)
    for row in conn.execute(statement).mappings():
        values = {name: _num(row[name]) for name in aggs}
        if row["k"] in tags:
            if group is not None:
                result.groups[(row["k"], row["g"])] = values
            else:
                result.ranges[row["k"]] = values
        else:
            daily[str(row["k"])] = values
    if spark:
        result.spark = fold_days(daily, spark, list(aggs))
    copy_repeated_ranges(ranges, result.ranges)
    copy_repeated_ranges(ranges, result.groups)
    return result


def distinct_ranges(ranges: Sequence[tuple[str, B, B]]) -> list[tuple[str, B, B]]:
    """Tagged ranges (bounds as datetimes, or as the rollups' µs) without those that repeat an earlier
    one's bounds (a year's previous period is the year before, its ``ly`` too: the same ~80,000
    inspections were aggregated twice at 10 M events); :func:`copy_repeated_ranges` gives them their
    figures afterwards."""
    first: dict[tuple[B, B], tuple[str, B, B]] = {}
    for tag, start, end in ranges:
        first.setdefault((start, end), (tag, start, end))
    return list(first.values())


def repeated_ranges(ranges: Sequence[tuple[str, B, B]]) -> dict[str, str]:
    """{tag: the tag of the earlier range with the same bounds}, for each range
    :func:`distinct_ranges` leaves out."""
    first: dict[tuple[B, B], str] = {}
    out = {}
    for tag, start, end in ranges:
        kept = first.setdefault((start, end), tag)
        if kept != tag:
            out[tag] = kept
    return out


def copy_repeated_ranges(ranges: Sequence[Range], found: dict[Any, Any]) -> None:
    """Give each range :func:`distinct_ranges` left out the figures of the earlier range with its
    bounds, in ``found`` keyed by tag or by (tag, group)."""
    for tag, kept in repeated_ranges(ranges).items():
        for key in [k for k in found if k == kept or (isinstance(k, tuple) and k[0] == kept)]:
            value = found[key]
            found[tag if key == kept else (tag, *key[1:])] = dict(value) if isinstance(value, dict) else value


def distinct_counts(
    conn: Connection,
    key: ColumnElement[Any],
    ts: ColumnElement[Any],
    where: Sequence[ColumnElement[bool]],
    ranges: Sequence[Range],
) -> dict[str, float]:
    """Per range tag, how many distinct non-null ``key`` values the rows of [start, end) hold: one
    branch per range, a SELECT DISTINCT counted outside it. Why not ``count(DISTINCT …)`` beside the
    family's sums: PostgreSQL sorts every row of the range for it, where a DISTINCT is hashed (the
    units inspected in a year, ~80,000 inspections at 10 M events: 71 → 46 ms a range)."""
    parts = []
    for tag, start, end in distinct_ranges(ranges):
        keys = select(key.label("u")).where(*where, ts >= start, ts < end, key.is_not(None)).distinct()
        parts.append(select(literal(tag).label("k"), func.count().label("n")).select_from(keys.subquery()))
    statement: Any = parts[0] if len(parts) == 1 else union_all(*parts)
    found: dict[str, float] = {str(k): _num(n) for k, n in conn.execute(statement)}
    copy_repeated_ranges(ranges, found)
    return found


def fold_days(
    daily: dict[str, Aggs], buckets: Sequence[tuple[str, dt.datetime, dt.datetime]], names: list[str]
) -> list[Aggs]:
    """Sum per-local-day aggregates into buckets aligned on local days."""
    out = [dict.fromkeys(names, 0.0) for _ in buckets]
    bounds = [(local_date(b0), local_date(b1 - EPSILON)) for _, b0, b1 in buckets]
    for day_text, values in daily.items():
        day = dt.date.fromisoformat(day_text[:10])
        for i, (first, last) in enumerate(bounds):
            if first <= day <= last:
                for name in names:
                    out[i][name] += values[name]
                break
    return out


def comparison_instants(period: Period) -> list[tuple[str, dt.datetime]]:
    """Instants for state metrics (backlog …): now, and now moved back one period and one year.

    The shift is the distance between the period's start and its comparison start, so "this month so
    far" compares the backlog now with the backlog at the same point of last month.
    """
    cap = upto(period.now)
    return [
        ("cur", cap),
        ("prev", cap - (period.start - period.prev_start)),
        ("ly", cap - (period.start - period.ly_start)),
    ]


def spark_instants(period: Period) -> list[tuple[str, dt.datetime]]:
    """The end of each spark bucket (the newest one being now)."""
    return [(label, end) for label, _, end in spark_buckets(period)]


def day_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight of now's day and the exclusive bound "now"."""
    return local_midnight(local_date(now)), upto(now)
