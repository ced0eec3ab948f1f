"""The KPI tiles on the direct path: one function per metric family, each one SQL statement.

Every family takes ``(conn, view, now)`` with ``now`` the effective moment. It produces the named counts
its metrics' formulas read (:mod:`dashboard.core.metrics`) for the current, previous and last-year
ranges and each spark bucket (see ``periods.spark_buckets``), and :func:`~dashboard.core.metrics.kpi_value`
turns them into ``{metric key: KpiValue}``. The ``*_METRICS`` tuples name the metrics each family fills;
the rollups path fills the event families' metrics from the same counts.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    and_,
    cast,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.sql import over
from sqlalchemy.sql.elements import ColumnElement

from dashboard.core import domain
from dashboard.core.formulas import Counts
from dashboard.core.metrics import (
    METRICS,
    comparable,
    in_registry_order,
    kpi_value,
    kpi_values,
    with_expected,
)
from dashboard.core.periods import (
    EPSILON,
    Period,
    local_date,
    local_midnight,
    period_bounds,
    same_point_before,
    shift_year,
    spark_buckets,
)
from dashboard.core.snapshot import KpiValue
from dashboard.core.viewstate import ViewState
from dashboard.source import schema
from dashboard.source.queries.common import (
    E,
    closed_by,
    comparison_instants,
    count_if,
    day_bounds,
    dispatched_by,
    distinct_counts,
    due_aggs,
    due_conditions,
    due_hint,
    effective_deadline,
    not_rejected_by,
    open_at_conditions,
    open_candidates,
    returned_by,
    reworked_by,
    run_family,
    spark_instants,
    sum_if,
    upto,
)
from dashboard.source.queries.scope import event_conditions, grid_conditions, place_conditions
from dashboard.source.queries.sqlfuncs import aware_utc, hours_between, scan_hint

KpiMap = dict[str, KpiValue]

# A patrol longer than this is treated as a data error when counting who is on duty.
MAX_PATROL = dt.timedelta(hours=24)
RECTIFY_DAYS = dt.timedelta(days=30)  # a hazard's rectification deadline when none is recorded
SATISFIED = ("满意", "基本满意")
LOCAL_LEVELS = ("GRID", "VILLAGE")


# The metrics each family fills: the rollups path fills the event families' ones from the same counts.
REPORTED_METRICS = ("reported", "cohort_close_rate", "return_rate")
CLOSED_METRICS = ("closed", "mean_hours_to_close", "rework_rate", "local_resolution_rate")
DUE_METRICS = ("close_rate", "on_time_rate")
EVALUATION_METRICS = ("satisfaction_rate",)
DURATION_METRICS = ("median_hours_to_close", "p90_hours_to_close")
STATE_METRICS = ("backlog", "overdue_open", "supervised_open")


def _setup(view: ViewState, now: dt.datetime) -> tuple[Period, dt.datetime]:
    return period_bounds(view, now), upto(now)


# --- events ----------------------------------------------------------------------------------------


def reported_family(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """reported, cohort_close_rate, return_rate: events by reported_at."""
    period, cap = _setup(view, now)
    aggs = {
        "reported": func.count(),
        "collected": count_if(not_rejected_by(cap)),
        "cohort_closed": count_if(and_(closed_by(cap), not_rejected_by(cap))),
        "dispatched": count_if(dispatched_by(cap)),
        "returned": count_if(and_(dispatched_by(cap), returned_by(cap))),
    }
    res = run_family(
        conn, E.c.reported_at, aggs, event_conditions(view), period.ranges(), spark=spark_buckets(period)
    )
    return kpi_values(REPORTED_METRICS, res.ranges, res.spark)


def closed_aggs(cap: dt.datetime) -> dict[str, Any]:
    """The counts of events closed in a range: the closed family's (hours between acceptance and close)."""
    accepted = E.c.accepted_at.is_not(None)
    return {
        "closed": func.count(),
        "hours_sum": sum_if(accepted, hours_between(E.c.accepted_at, E.c.closed_at)),
        "hours_n": count_if(accepted),
        "reworked": count_if(reworked_by(cap)),
        "local": count_if(E.c.level_of_handling.in_(LOCAL_LEVELS)),
    }


def closed_family(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """closed, mean_hours_to_close, rework_rate, local_resolution_rate: events by closed_at."""
    period, cap = _setup(view, now)
    res = run_family(
        conn,
        E.c.closed_at,
        closed_aggs(cap),
        event_conditions(view),
        period.ranges(),
        spark=spark_buckets(period),
    )
    return kpi_values(CLOSED_METRICS, res.ranges, res.spark)


def due_family(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """close_rate and on_time_rate over E_due: events whose (effective) deadline falls in P, ≤ now."""
    period, cap = _setup(view, now)
    res = run_family(
        conn,
        effective_deadline(),
        due_aggs(cap),
        due_conditions(view, cap),
        period.ranges(),
        spark=spark_buckets(period),
        hint=due_hint,
    )
    return kpi_values(DUE_METRICS, res.ranges, res.spark)


def evaluation_family(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """satisfaction_rate: evaluations made in P (joined to their event for the scope)."""
    period, _ = _setup(view, now)
    ev = schema.evaluation
    aggs = {"evaluated": func.count(), "satisfied": count_if(ev.c.result.in_(SATISFIED))}
    res = run_family(
        conn,
        ev.c.at,
        aggs,
        event_conditions(view),
        period.ranges(),
        spark=spark_buckets(period),
        from_=ev.join(E, E.c.event_id == ev.c.event_id),
    )
    return kpi_values(EVALUATION_METRICS, res.ranges, res.spark)


def _percentile_rows(conn: Connection, view: ViewState, period: Period) -> list[Any]:
    """Only the ranked rows needed for the median and the P90, per range: at most 3 rows per range.

    Portable exact percentiles: ROW_NUMBER/COUNT windows (SQLite ≥ 3.25, PostgreSQL, MariaDB ≥ 10.2),
    integer arithmetic only, so the database sorts and the client receives a handful of rows.
    """
    hours = hours_between(E.c.accepted_at, E.c.closed_at)
    parts = [
        select(literal(tag).label("k"), hours.label("h")).where(
            *event_conditions(view), E.c.closed_at >= start, E.c.closed_at < end, E.c.accepted_at.is_not(None)
        )
        for tag, start, end in period.ranges()
    ]
    u = union_all(*parts).subquery("u")
    ranked = select(
        u.c.k,
        u.c.h,
        over(func.row_number(), partition_by=u.c.k, order_by=u.c.h).label("rn"),
        over(func.count(), partition_by=u.c.k).label("n"),
    ).subquery("r")
    rn, n = ranked.c.rn, ranked.c.n
    is_median = and_(rn * 2 >= n, rn * 2 <= n + 2)
    is_p90 = and_(rn * 10 >= n * 9, (rn - 1) * 10 < n * 9)
    q = select(ranked.c.k, ranked.c.h, rn, n).where(or_(is_median, is_p90))
    return list(conn.execute(q))


def duration_percentiles(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """median_hours_to_close and p90_hours_to_close (no spark: exact percentiles per bucket cost a sort)."""
    period, _ = _setup(view, now)
    rows = _percentile_rows(conn, view, period)
    med: dict[str, list[float]] = {}
    p90: dict[str, float] = {}
    counts: dict[str, int] = {}
    for tag, hours, rn, n in rows:
        rn, n = int(rn), int(n)
        counts[tag] = n
        if n <= rn * 2 <= n + 2 and (n % 2 == 0 or rn * 2 == n + 1):
            med.setdefault(tag, []).append(float(hours))
        if rn * 10 >= n * 9 and (rn - 1) * 10 < n * 9:
            p90[tag] = float(hours)
    ranges = {
        tag: {
            "median_hours": sum(med[tag]) / len(med[tag]) if tag in med else None,
            "p90_hours": p90.get(tag),
            "n": counts.get(tag, 0),
        }
        for tag, _, _ in period.ranges()
    }
    return kpi_values(DURATION_METRICS, ranges)


def _state_columns(tag: str, t: dt.datetime) -> list[Any]:
    """backlog / overdue / supervised as the board stood at t, as sums over the candidate rows."""
    open_then = and_(*open_at_conditions(t))
    return [
        count_if(open_then).label(f"{tag}__backlog"),
        count_if(and_(open_then, effective_deadline() < t - EPSILON)).label(f"{tag}__overdue_open"),
        count_if(and_(open_then, E.c.supervised_at.is_not(None), E.c.supervised_at < t)).label(
            f"{tag}__supervised_open"
        ),
    ]


def _state_rows(
    conn: Connection, view: ViewState, instants: list[tuple[str, dt.datetime]]
) -> dict[str, Counts]:
    """All instants in ONE pass over the events open at any of them (was one scan per instant)."""
    earliest = min(t for _, t in instants)
    latest = max(t for _, t in instants)
    cols = [c for tag, t in instants for c in _state_columns(tag, t)]
    where = [*event_conditions(view), open_candidates(earliest), scan_hint(E.c.reported_at) < latest]
    row = conn.execute(select(*cols).where(*where)).mappings().one()
    return {tag: {key: row[f"{tag}__{key}"] for key in STATE_METRICS} for tag, _ in instants}


def state_family(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """backlog, overdue_open, supervised_open: the board as it stood at now (and at the comparison instants).

    Spark points are the state at the end of each spark bucket.
    """
    period, _ = _setup(view, now)
    instants = comparison_instants(period) + [(f"s{i}", t) for i, (_, t) in enumerate(spark_instants(period))]
    rows = _state_rows(conn, view, instants)
    spark = [rows[tag] for tag, _ in instants if tag.startswith("s")]
    return kpi_values(STATE_METRICS, rows, spark)


# --- patrol and video ------------------------------------------------------------------------------


PatrolSpan = tuple[str, dt.datetime, dt.datetime, dt.datetime]  # tag, start, end, judged by


def _patrol_ranges(now: dt.datetime) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """Today so far vs yesterday and the same day last year up to the same time; the last 24 h likewise.

    Patrol tiles are daily whatever the view's period: grid patrol (网格巡查) is a daily duty.
    """
    d0, cap = day_bounds(now)
    elapsed = cap - d0
    day = dt.timedelta(days=1)
    ly0 = local_midnight(shift_year(local_date(now)))
    year = d0 - ly0
    pace = METRICS["patrol_coverage_today"].pace
    lookback = pace.lookback if pace else 1
    return [
        ("today", d0, cap),
        ("today_prev", d0 - day, d0 - day + elapsed),
        ("today_ly", ly0, ly0 + elapsed),
        ("h24", cap - day, cap),
        ("h24_prev", cap - 2 * day, cap - day),
        ("h24_ly", cap - year - day, cap - year),
        # The past days up to the same time of day (the first is today_prev): what is expected by now.
        *[(f"today_past{k}", d0 - k * day, d0 - k * day + elapsed) for k in range(2, lookback + 1)],
    ]


def _patrol_spark(now: dt.datetime) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """The spark line's 14 local days, the last one today so far."""
    d0, cap = day_bounds(now)
    starts = [
        (local_date(d0 - dt.timedelta(days=i)).isoformat(), d0 - dt.timedelta(days=i))
        for i in range(13, -1, -1)
    ]
    return [(label, start, min(start + dt.timedelta(days=1), cap)) for label, start in starts]


def patrol_spans(now: dt.datetime) -> list[PatrolSpan]:
    """Every (tag, start, end, judged by) the patrol tiles count covered grids in: a grid is covered when
    a valid patrol of it started in [start, end) and had ended before ``by`` (or has no end).

    Validity is judged at a patrol's end, so it must have ended by now; a past day up to the same time
    as now counts what had ended *by then*, as today does by now. The spark line's last day is today so
    far: the "today" span already counts it.
    """
    judged = upto(now)
    spans = [
        (tag, s, e, e if tag.startswith(("today_prev", "today_past")) else judged)
        for tag, s, e in _patrol_ranges(now)
    ]
    return spans + [(tag, s, e, judged) for tag, s, e in _patrol_spark(now)[:-1]]


def patrol_kpis(now: dt.datetime, got: dict[str, float]) -> KpiMap:
    """patrol_coverage_today and patrol_coverage_24h from the covered grids of each span of
    :func:`patrol_spans` (``got[tag]``) and the grids in scope (``got["grids"]``), however counted."""
    grids = got.get("grids", 0.0)
    ranges = _patrol_ranges(now)
    spark_tags = [label for label, _, _ in _patrol_spark(now)[:-1]] + ["today"]

    def coverage(tag: str) -> Counts:
        return {"covered": got.get(tag, 0.0), "grids": grids}

    def compared(tag: str) -> dict[str, Counts]:
        return {"cur": coverage(tag), "prev": coverage(f"{tag}_prev"), "ly": coverage(f"{tag}_ly")}

    past = ["today_prev", *[tag for tag, _, _ in ranges if tag.startswith("today_past")]]
    return {
        "patrol_coverage_today": kpi_value(
            "patrol_coverage_today",
            compared("today"),
            [coverage(tag) for tag in spark_tags],
            expected=pooled([coverage(tag) for tag in past], "covered", "grids"),
        ),
        "patrol_coverage_24h": kpi_value("patrol_coverage_24h", compared("h24")),
    }


def patrol_covered_query(view: ViewState, span: PatrolSpan, *grids: ColumnElement[bool]) -> Any:
    """(tag, covered grids) of one span: per grid in scope (only grids counted in the denominator, so
    coverage never exceeds 100 %), does a valid patrol start in [start, end) and end before ``by``? One
    short probe of the (grid_code, started_at) index per grid, so the cost follows the number of grids,
    not the number of patrols. ``grids``: conditions narrowing the grids probed."""
    p, g = schema.patrol, schema.grid
    tag, start, end, by = span
    patrolled = select(literal(1)).where(
        p.c.grid_code == g.c.grid_code,
        p.c.started_at >= start,
        p.c.started_at < end,
        p.c.valid.is_(True),
        or_(p.c.ended_at.is_(None), p.c.ended_at < by),
        *place_conditions(view, p.c.town_code, None, p.c.grid_code),
    )
    return select(literal(tag).label("k"), func.count().label("n")).where(
        *grid_conditions(view), *grids, patrolled.exists()
    )


def patrol_family(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """patrol_coverage_today and patrol_coverage_24h: distinct grids with a valid patrol / grids in scope.

    A patrol counts once it is valid and has not ended after now (validity is judged at its end).
    """
    parts = [patrol_covered_query(view, span) for span in patrol_spans(now)]
    parts.append(select(literal("grids").label("k"), func.count().label("n")).where(*grid_conditions(view)))
    return patrol_kpis(now, {str(k): float(n or 0) for k, n in conn.execute(union_all(*parts))})


def _strength_branch(view: ViewState) -> Any:
    """Active staff per role of the patrol forces in the view's place (folded by :func:`_strengths`).

    A town's 72 people on duty are set against that town's forces, not the district's 22,400."""
    st = schema.staff
    return (
        select(literal("staff").label("k"), st.c.role, func.count().label("n"))
        .where(
            st.c.active.is_(True),
            st.c.role.in_(_ROLE_FORCE),
            *place_conditions(view, st.c.town_code, None, st.c.grid_code),
        )
        .group_by(st.c.role)
    )


_ROLE_FORCE = {role: force for force, roles in domain.FORCE_ROLES.items() for role in roles}


def _strengths(by_role: dict[str, int]) -> dict[str, int]:
    """Each force's strength from its roles' staff counts; a force with no staff in the source (a
    database without a staff list) has none, so no share of it is drawn."""
    out: dict[str, int] = {}
    for role, n in by_role.items():
        out[_ROLE_FORCE[role]] = out.get(_ROLE_FORCE[role], 0) + n
    return out


def on_duty(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """patrol_on_duty: distinct people on patrol at now (vs yesterday and last year at the same time)."""
    p = schema.patrol
    cap = upto(now)
    instants = [("cur", cap), ("prev", cap - dt.timedelta(days=1)), ("ly", cap - dt.timedelta(days=365))]
    scope = place_conditions(view, p.c.town_code, None, p.c.grid_code)
    parts = [
        select(literal(tag).label("k"), p.c.patrol_type, func.count(func.distinct(p.c.staff_id)).label("n"))
        .where(
            *scope,
            p.c.started_at < t,
            p.c.started_at >= t - MAX_PATROL,
            or_(p.c.ended_at.is_(None), p.c.ended_at >= t),
        )
        .group_by(p.c.patrol_type)
        for tag, t in instants
    ]
    by: dict[str, dict[str, int]] = {}
    for tag, force, n in conn.execute(union_all(*parts, _strength_branch(view))):
        by.setdefault(tag, {})[force] = int(n)
    cur = by.get("cur", {})
    strength = _strengths(by.pop("staff", {}))
    forces = {
        code: {
            "on_duty": cur.get(code, 0),
            "strength": strength.get(code),
            "label_zh": label.zh,
            "label_en": label.en,
        }
        for code, label in domain.PATROL_FORCES.items()
    }
    ranges = {tag: {"on_duty": float(sum(by.get(tag, {}).values()))} for tag, _ in instants}
    extra = {"forces": forces, "other": {k: v for k, v in cur.items() if k not in forces}}
    return {"patrol_on_duty": kpi_value("patrol_on_duty", ranges, extra=extra)}


def _video_points(view: ViewState, instants: list[tuple[str, dt.datetime]]) -> Any:
    """Per point in scope installed by the latest instant: its state at each instant (``on_<tag>``).

    The state is the latest change before the instant (no change yet = online since installation): one
    correlated LIMIT 1 per point and instant on the (point_code, at) index, so the cost follows the
    number of points, not the length of the change history.
    """
    vp, vc = schema.video_point, schema.video_status_change

    def state_at(tag: str, t: dt.datetime) -> Any:
        latest = (
            select(vc.c.online)
            .where(vc.c.point_code == vp.c.point_code, vc.c.at < t)
            .order_by(vc.c.at.desc(), vc.c.change_id.desc())
            .limit(1)
            .scalar_subquery()
        )
        return func.coalesce(latest, True).label(f"on_{tag}")

    return (
        select(
            vp.c.point_code,
            vp.c.name,
            vp.c.town_code,
            vp.c.installed_at,
            *[state_at(tag, t) for tag, t in instants],
        )
        .where(
            vp.c.installed_at < max(t for _, t in instants),
            *place_conditions(view, vp.c.town_code, None, vp.c.grid_code),
        )
        .cte("video_points")
    )


def _offline_since(point_code: Any, cap: dt.datetime) -> Any:
    """When a point offline at ``cap`` went offline: its first offline change after its last online one."""
    vc = schema.video_status_change
    on, off = vc.alias("von"), vc.alias("voff")
    last_on = (
        select(func.max(on.c.at))
        .where(on.c.point_code == point_code, on.c.online.is_(True), on.c.at < cap)
        .correlate_except(on)  # nested two deep: correlate to the point's row, not only the next level
        .scalar_subquery()
    )
    return (
        select(func.min(off.c.at))
        .where(
            off.c.point_code == point_code,
            off.c.online.is_(False),
            off.c.at < cap,
            or_(last_on.is_(None), off.c.at > last_on),
        )
        .correlate_except(off)
        .scalar_subquery()
    )


def _offline_longest(pts: Any, cap: dt.datetime, limit: int, *extra: Any) -> Any:
    """The ``limit`` points of ``pts`` offline at ``cap`` (its ``on_cur`` instant) for longest."""
    since = _offline_since(pts.c.point_code, cap)
    return (
        select(*extra, pts.c.point_code, pts.c.name, pts.c.town_code, since.label("since"))
        .where(pts.c.installed_at < cap, not_(pts.c.on_cur.is_(True)))
        .order_by(since.asc(), pts.c.point_code)
        .limit(limit)
    )


def video_family(conn: Connection, view: ViewState, now: dt.datetime, limit: int = 10) -> KpiMap:
    """video_online_rate at now and at the comparison instants, and the points offline longest at now.

    One statement: the per-point states (``_video_points``) are counted per instant, and the same rows
    give the ``limit`` points offline longest (``detail["offline_longest"]``, the patrol panel's list),
    so the points are probed once for both.
    """
    instants = comparison_instants(period_bounds(view, now))
    cap = instants[0][1]
    pts = _video_points(view, instants)
    # Typed NULLs fill the other member's columns (PostgreSQL will not match an untyped NULL to both).
    number, code, moment = (
        cast(null(), BigInteger),
        cast(null(), String),
        cast(null(), schema.video_status_change.c.at.type),
    )
    counts = select(
        literal("count").label("k"),
        *[count_if(pts.c.installed_at < t).label(f"n_{tag}") for tag, t in instants],
        *[
            count_if(and_(pts.c.installed_at < t, pts.c[f"on_{tag}"].is_(True))).label(f"on_{tag}")
            for tag, t in instants
        ],
        code.label("point_code"),
        code.label("name"),
        code.label("town_code"),
        moment.label("since"),
    )
    offline = _offline_longest(
        pts,
        cap,
        limit,
        literal("offline").label("k"),
        *[number.label(f"n_{tag}") for tag, _ in instants],
        *[number.label(f"on_{tag}") for tag, _ in instants],
    ).subquery("offline")
    # The offline rows first: a compound statement takes its result types from its first member.
    rows = conn.execute(union_all(select(offline), counts)).mappings().all()
    totals: Any = next((r for r in rows if r["k"] == "count"), {})
    # A state before the first recorded change is unknown, not "online since installation": last year's
    # 100 % from a log that starts in September is no base to compare with (an index MIN lookup).
    first = aware_utc(conn.execute(select(func.min(schema.video_status_change.c.at))).scalar())
    ranges = {
        tag: {"online": int(totals.get(f"on_{tag}") or 0), "points": int(totals.get(f"n_{tag}") or 0)}
        for tag, t in instants
        if tag == "cur" or (first is not None and first < t)
    }
    extra = {"offline_longest": [_offline_point(r, now) for r in rows if r["k"] == "offline"]}
    return {"video_online_rate": kpi_value("video_online_rate", ranges, extra=extra)}


def _offline_point(row: Any, now: dt.datetime) -> dict[str, Any]:
    since_at = aware_utc(row["since"])
    return {
        "point_code": row["point_code"],
        "name": row["name"],
        "town_code": row["town_code"],
        "since": since_at.isoformat() if since_at else None,
        "hours": round((now - since_at).total_seconds() / 3600, 1) if since_at else None,
    }


def video_offline_longest(
    conn: Connection, view: ViewState, now: dt.datetime, limit: int = 10
) -> list[dict[str, Any]]:
    """The points offline at now for longest (the patrol panel's list when the tile's detail lacks it)."""
    cap = upto(now)
    q = _offline_longest(_video_points(view, [("cur", cap)]), cap, limit)
    return [_offline_point(r, now) for r in conn.execute(q).mappings()]


# --- security and campaigns ------------------------------------------------------------------------


def _date_span(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date]:
    """Local days [first, last] touched by [start, end); last < first when empty."""
    if end <= start:
        return local_date(start), local_date(start) - dt.timedelta(days=1)
    return local_date(start), local_date(end - EPSILON)


def _ly_range(period: Period, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    first = local_date(start)
    ly_first = first - dt.timedelta(days=364) if period.kind == "week" else shift_year(first)
    ly_start = local_midnight(ly_first)
    return ly_start, ly_start + (end - start)


POLICE_KEYS = {
    "calls_110_yoy": "effective_110_calls",
    "property_crime_yoy": "property_crime_cases",
    "major_violent_yoy": "major_violent_cases",
}


def police_family(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """三降: (N_P − N_P,last year) / N_P,last year from daily town statistics, one grouped query.

    The statistics are per town and day: a village or grid view shows its town's figures. A day counts
    once it is over, on both sides: the feed adds to today's row during the day, and today's few hours
    set against last year's whole day made every period look better than it was, most at night and on
    the first days of a month (the 2nd at 01:30: a day and an hour against two days, "−47 %", green). On
    the 1st there is no whole day yet: no figure ("—").
    """
    period, _ = _setup(view, now)
    pcs = schema.police_call_stat
    today = local_midnight(local_date(now))

    def whole_days(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        return start, max(start, min(end, today))

    windows = [(tag, *whole_days(s, e)) for tag, s, e in period.ranges() if tag != "ly"]
    windows += [(f"{tag}_ly", *_ly_range(period, s, e)) for tag, s, e in list(windows)]
    sparks = [whole_days(s, e) for _, s, e in spark_buckets(period)]
    windows += [(f"s{i}", s, e) for i, (s, e) in enumerate(sparks)]
    windows += [(f"s{i}_ly", *_ly_range(period, s, e)) for i, (s, e) in enumerate(sparks)]
    spans = {tag: _date_span(s, e) for tag, s, e in windows}
    lo = min(a for a, _ in spans.values())
    hi = max(b for _, b in spans.values())
    cols = [func.sum(getattr(pcs.c, c)).label(c) for c in POLICE_KEYS.values()]
    q = (
        select(pcs.c.stat_date, *cols)
        .where(pcs.c.stat_date >= lo, pcs.c.stat_date <= hi, *place_conditions(view, pcs.c.town_code))
        .group_by(pcs.c.stat_date)
    )
    daily = sorted((_as_date(r[0]), [int(v or 0) for v in r[1:]]) for r in conn.execute(q))
    days = [d for d, _ in daily]
    # Running totals per column: each window's sum is two look-ups, not a pass over two years of days
    # per window and column (~100 windows × columns × days of Python in a year's view).
    running = {
        col: list(accumulate((v[i] for _, v in daily), initial=0))
        for i, col in enumerate(POLICE_KEYS.values())
    }

    def total(tag: str, col: str) -> float:
        first, last = spans[tag]
        i, j = bisect_left(days, first), bisect_right(days, last)
        return float(running[col][j] - running[col][i])

    def counts(tag: str, col: str) -> Counts:
        return {"n": total(tag, col), "n_last_year": total(f"{tag}_ly", col)}

    return {
        key: kpi_value(
            key,
            {tag: counts(tag, col) for tag in ("cur", "prev")},
            [counts(f"s{i}", col) for i in range(len(sparks))],
        )
        for key, col in POLICE_KEYS.items()
    }


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def hazard_family(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """hazard_rectification_rate: Σ rectified / Σ found over safety inspections in P."""
    period, _ = _setup(view, now)
    si = schema.safety_inspection
    # Only a hazard whose rectification deadline has passed can be late: the colour is judged on those
    # (no deadline recorded: 30 days after the inspection, the campaign's rule).
    due = or_(
        si.c.rectify_deadline < local_date(now),
        and_(si.c.rectify_deadline.is_(None), si.c.inspected_at < now - RECTIFY_DAYS),
    )
    aggs = {
        "found": func.sum(si.c.hazards_found),
        "rectified": func.sum(si.c.hazards_rectified),
        "found_due": sum_if(due, si.c.hazards_found),
        "rectified_due": sum_if(due, si.c.hazards_rectified),
    }
    where = place_conditions(view, si.c.town_code, None, si.c.grid_code)
    res = run_family(conn, si.c.inspected_at, aggs, where, period.ranges(), spark=spark_buckets(period))
    # The spark folds days into buckets by summing: a distinct count does not add up, so it has none.
    units = distinct_counts(conn, unit_key(conn), si.c.inspected_at, where, period.ranges())
    ranges = {tag: {**values, "units_inspected": units.get(tag, 0.0)} for tag, values in res.ranges.items()}
    return kpi_values(("hazard_rectification_rate",), ranges, res.spark)


_UNIT_CODE_KNOWN: dict[str, bool] = {}  # per source URL: does safety_inspection have unit_code?


def has_unit_code(conn: Connection) -> bool:
    """True when the source's ``safety_inspection`` has the optional ``unit_code`` column (a database
    made before it, or a view over an existing system that has none, counts units by town and name).
    Asked once per source and process."""
    url = conn.engine.url.render_as_string(hide_password=True)
    if url not in _UNIT_CODE_KNOWN:
        columns = sa_inspect(conn).get_columns(schema.safety_inspection.name)
        _UNIT_CODE_KNOWN[url] = any(c["name"] == "unit_code" for c in columns)
    return _UNIT_CODE_KNOWN[url]


def unit_key(conn: Connection) -> ColumnElement[Any]:
    """An inspected unit's key (:data:`~dashboard.core.metrics.UNITS_INSPECTED`): its ``unit_code``,
    else its town and name (two shops of one name in two towns are two units)."""
    si = schema.safety_inspection.c
    by_name = si.town_code + literal(":") + si.unit_name  # || on SQLite and PostgreSQL, concat() on MariaDB
    return func.coalesce(si.unit_code, by_name) if has_unit_code(conn) else by_name


def key_area_family(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """key_area_delisting_rate: delisted by the day of now / listed by the day of now."""
    period, _ = _setup(view, now)
    ka = schema.key_area
    instants = comparison_instants(period) + [(f"s{i}", t) for i, (_, t) in enumerate(spark_instants(period))]
    scope = place_conditions(view, ka.c.town_code)
    parts = []
    for tag, t in instants:
        day = local_date(t - EPSILON)
        parts.append(
            select(
                literal(tag).label("k"),
                func.count().label("listed"),
                count_if(and_(ka.c.delisted_at.is_not(None), ka.c.delisted_at <= day)).label("delisted"),
            ).where(*scope, ka.c.listed_at <= day)
        )
    rows: dict[str, Counts] = {
        str(k): {"listed": float(listed or 0), "delisted": float(delisted or 0)}
        for k, listed, delisted in conn.execute(union_all(*parts))
    }
    spark = [rows[tag] for tag, _ in instants if tag.startswith("s")]
    return {"key_area_delisting_rate": kpi_value("key_area_delisting_rate", rows, spark)}


# --- what is expected by now ------------------------------------------------------------------------


def pooled(past: Sequence[Counts], num: str, den: str) -> Counts:
    """The past periods' counts summed, over the periods that have data (``periods`` says how many):
    a past period with nothing counted is missing history, not a zero to expect."""
    had = [c for c in past if c.get(num)]
    return {
        num: float(sum(c[num] for c in had)),
        den: float(sum(c.get(den) or 0 for c in had)),
        "periods": float(len(had)),
    }


def cohort_expected(conn: Connection, view: ViewState, now: dt.datetime) -> list[Counts]:
    """cohort_close_rate's counts in each past period up to the same point (the newest first): the
    events collected by then, and those of them closed by then (not by today), in one statement."""
    pace = METRICS["cohort_close_rate"].pace
    assert pace is not None
    points = same_point_before(period_bounds(view, now), pace.lookback)
    parts = [
        select(
            literal(tag).label("k"),
            count_if(not_rejected_by(at)).label("collected"),
            count_if(and_(closed_by(at), not_rejected_by(at))).label("cohort_closed"),
        ).where(*event_conditions(view), E.c.reported_at >= start, E.c.reported_at < end)
        for tag, start, end, at in points
    ]
    rows = {
        str(k): {"collected": float(n or 0), "cohort_closed": float(c or 0)}
        for k, n, c in conn.execute(union_all(*parts))
    }
    return [rows.get(tag, {"collected": 0.0, "cohort_closed": 0.0}) for tag, _, _, _ in points]


def judge_by_now(conn: Connection, view: ViewState, now: dt.datetime, got: KpiMap) -> KpiMap:
    """The event tiles judged against what is expected by now, from the source on both paths (the
    rollups hold counts as of now, not as they stood in past months). ``got`` is updated and returned.

    The previous period of a paced tile is also taken at the same point (what it had closed by then):
    last month's cohort closed by today is not a fair ▼ against this month's first days.
    """
    if "cohort_close_rate" in got:
        judge_cohort(got, cohort_expected(conn, view, now))
    return got


def judge_cohort(got: KpiMap, past: Sequence[Counts]) -> KpiMap:
    """cohort_close_rate judged against ``past``, the counts of the past periods at the same point (the
    newest first), however they were counted (:func:`cohort_expected`, or the rollups')."""
    kpi = with_expected(got["cohort_close_rate"], pooled(past, "cohort_closed", "collected"))
    kpi.previous = comparable("cohort_close_rate", past[0] if past else None)
    # Last year's cohort as it stands today has had a year to close: against this period's first days
    # that read "同比 ▼65 pt" on the 3rd. Not counted at the same point, it is no comparison: "—".
    kpi.last_year = None
    got["cohort_close_rate"] = kpi
    return got


Family = Callable[[Connection, ViewState, dt.datetime], KpiMap]
# The families over the events (and their evaluations): the rollups path reads these from its tiers.
EVENT_FAMILIES: tuple[Family, ...] = (
    reported_family,
    closed_family,
    due_family,
    evaluation_family,
    duration_percentiles,
    state_family,
)
# The families whose cost does not grow with the events: both paths run them on the source.
SOURCE_FAMILIES: tuple[Family, ...] = (
    patrol_family,
    on_duty,
    video_family,
    police_family,
    hazard_family,
    key_area_family,
)


def compute_kpis(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """Every metric of the registry, in registry order."""
    got = family_kpis(conn, view, now, (*EVENT_FAMILIES, *SOURCE_FAMILIES))
    return in_registry_order(judge_by_now(conn, view, now, got))


def family_kpis(conn: Connection, view: ViewState, now: dt.datetime, families: Sequence[Family]) -> KpiMap:
    """The tiles of ``families``, in their order."""
    got: KpiMap = {}
    for family in families:
        got.update(family(conn, view, now))
    return got
