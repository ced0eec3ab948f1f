"""Incremental rollups of the events in the dashboard's state store: the fast path of a live snapshot.

Three tables, all times as integer microseconds since 1970 (UTC), so the arithmetic is exact and the
same on SQLite, PostgreSQL and MariaDB:

* ``ru_fact``: one row per event, its *current* state reduced to what the figures need: scope columns,
  the timestamps the families range over, the 0/1 flags of the family aggregates (evaluated by the very
  SQL expressions of the direct queries, at a moment after every row) and five "state keys" (below).
  It holds the old state when an event changes, and answers the sub-hour edges of a range.
* ``ru_eval``: one row per evaluation (append-only in the source).
* ``ru_agg``: the tiers. Per (tier, kind, projection, bucket, town, category, department): a count and
  four sums. Tier ``h`` buckets by hour, ``d`` by Asia/Shanghai day, ``m`` by Asia/Shanghai calendar
  month. A range [s, e) is summed from the month tier for its whole months, the day tier for the whole
  days at its ends, the hour tier for whole hours and ``ru_fact`` for the sub-hour edges, so a year costs
  ~12 month buckets and a month ~30 day buckets, whatever the number of events.
* Projections keep the rows per bucket small and independent of the volume: the projection ``p`` names
  the dimensions a row keeps (``t`` town, ``c`` category, ``d`` department, source or duration bin); the
  others hold ``*``. The whole district's count for a day is ONE row of projection ``''``, a town ranking
  26 × departments rows of ``td``. Readers take the smallest stored projection that carries their
  filters and groups (:data:`STORED`); the hour tier keeps only ``''`` and ``t``, finer reads take the
  facts for sub-day edges.
* Kind ``hst`` counts closed events per duration bin (``ru_fact.hbin``, 8 bins per doubling of the
  hours): the median and P90 are exact, found by counting bins on the tiers and then reading only the
  one bin's facts (index ``(hbin, clo)``).

Why current state is enough: for a *live* moment, later than every timestamp in the source, each as-of
condition of the direct queries (``closed_at < t``, "had a DISPATCH before t" …) equals its current
value. The fast path is used only then (``max_ts`` below); as-of views take the direct queries.

State keys: "open at t" = reported before t and neither closed nor rejected before t. With
end = min(closed, rejected), the events open at t number #(rep < t) − #(max(rep, end) < t), i.e.
#(E1 ≥ t) − #(rep ≥ t) with E1 = max(rep, end) (∞ while open). Overdue-open and supervised-open are
the same difference with D1 = max(rep, deadline + 1 µs), D2 = max(D1, end) and S1 = max(rep,
supervised), S2 = max(S1, end). So the board at any past instant is two range counts over the tiers.

Kept current from watermarks: ``event_action`` and ``evaluation`` are append-only and every change the
feed makes to an ``event`` row comes with new actions, so the events to re-read are those with an
action id above the watermark (a margin of recent ids is re-read, for writers that commit out of
order) and those with an event id above it. Each one's old fact is taken out of the tiers and its new
fact put in: the cost of a refresh follows the number of changed events, not the length of history.
An import that rewrites event rows without logging actions needs ``python -m dashboard rollups
--rebuild`` (the data-version probe cannot see such a change).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    inspect,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from dashboard.core.progress import Progress
from dashboard.source import schema
from dashboard.source.queries.common import (
    MAX_EXTENSION,
    E,
    effective_deadline,
)
from dashboard.source.queries.kpis import LOCAL_LEVELS, SATISFIED
from dashboard.source.queries.sqlfuncs import hours_between

log = logging.getLogger(__name__)

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
LOCAL_OFFSET_US = 8 * HOUR_US  # Asia/Shanghai, no DST
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# "Never" for a state key (still open), day-aligned in Shanghai so it is its own bucket in both tiers.
INF_US = (dt.datetime(2200, 1, 1, tzinfo=dt.UTC) - EPOCH) // dt.timedelta(microseconds=1) - LOCAL_OFFSET_US
# Every figure is evaluated at this moment when read from the source: later than any real row.
FAR = dt.datetime(2199, 1, 1, tzinfo=dt.UTC)
ACTION_MARGIN = 2000  # action ids re-read below the watermark (out-of-order commits)
CHUNK = 2000
PAGE = 50_000
MAX_EXTENSION_US = MAX_EXTENSION // dt.timedelta(microseconds=1)

rollup_metadata = MetaData()


def _code(name: str) -> Column[Any]:
    return Column(name, String(24), nullable=False)


def _us(name: str, nullable: bool = True) -> Column[Any]:
    return Column(name, BigInteger, nullable=nullable)


def _flag(name: str) -> Column[Any]:
    return Column(name, Integer, nullable=False, default=0)


ru_fact = Table(
    "ru_fact",
    rollup_metadata,
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    _code("town"),
    _code("village"),
    _code("grid"),
    _code("cat"),
    _code("src"),
    _code("dept"),  # dispatch_dept_code, 'NONE' when not dispatched
    _us("rep", False),
    _us("clo"),
    _us("dl"),  # the effective deadline
    _flag("collected"),
    _flag("cohort_closed"),
    _flag("dispatched"),
    _flag("returned"),
    Column("hours", Double, nullable=True),  # accepted → closed, when both are set
    Column("hbin", Integer, nullable=True),  # duration bin of ``hours`` (see hours_bin)
    _flag("reworked"),
    _flag("local_level"),
    _flag("due_ok"),  # has a deadline and is not rejected
    _flag("due_closed"),
    _flag("on_time"),
    _us("e1", False),
    _us("d1"),
    _us("d2"),
    _us("s1"),
    _us("s2"),
    _us("max_ts", False),  # the latest transition timestamp of the event
)

ru_eval = Table(
    "ru_eval",
    rollup_metadata,
    Column("evaluation_id", BigInteger, primary_key=True, autoincrement=False),
    _us("at", False),
    _code("town"),
    _code("cat"),
    _flag("satisfied"),
)

ru_agg = Table(
    "ru_agg",
    rollup_metadata,
    Column("tier", String(1), primary_key=True),
    Column("kind", String(4), primary_key=True),
    Column("p", String(4), primary_key=True),  # projection: the dimensions kept, of "tcd"
    Column("b", BigInteger, primary_key=True, autoincrement=False),
    Column("town", String(24), primary_key=True),
    Column("cat", String(24), primary_key=True),
    Column("dept", String(24), primary_key=True),
    Column("n", Double, nullable=False),
    Column("a1", Double, nullable=False),
    Column("a2", Double, nullable=False),
    Column("a3", Double, nullable=False),
    Column("a4", Double, nullable=False),
)

ru_meta = Table(
    "ru_meta",
    rollup_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    _us("wm_event", False),
    _us("wm_action", False),
    _us("wm_eval", False),
    _us("max_ts", False),
    Column("odd", Integer, nullable=False),  # facts whose deadline extension breaks MAX_EXTENSION
    Column("built_at", String(40), nullable=False),
    Column("synced_at", String(40), nullable=False),
)

for _col in ("rep", "clo", "dl", "e1", "d1", "d2", "s1", "s2"):
    Index(f"ix_ru_fact_{_col}", ru_fact.c[_col])
# Covers the percentile reads, the town and category filters included: no heap fetch per fact of the bin.
Index("ix_ru_fact_hbin_clo", ru_fact.c.hbin, ru_fact.c.clo, ru_fact.c.hours, ru_fact.c.town, ru_fact.c.cat)
# The open events (``e1`` = INF_US) with every column the backlog and rankings read: an index-only scan of
# the backlog instead of a heap fetch per open event (the backlog grows with the district's volume).
# Partial indexes exist on PostgreSQL and SQLite; MariaDB reads the open events through ix_ru_fact_e1.
OPEN = ru_fact.c.e1 == literal_column(str(INF_US))  # a literal: the planner must see the index's predicate
Index(
    "ix_ru_fact_open",
    ru_fact.c.town,
    ru_fact.c.cat,
    ru_fact.c.dept,
    ru_fact.c.village,
    ru_fact.c.grid,
    ru_fact.c.rep,
    ru_fact.c.dl,
    postgresql_where=OPEN,
    sqlite_where=OPEN,
).ddl_if(dialect=("postgresql", "sqlite"))  # type: ignore[arg-type]  # a tuple is documented
Index("ix_ru_eval_at", ru_eval.c.at)

# Month buckets of the day buckets, filled at a full build so the month tier is summed in SQL.
ru_month = Table(
    "ru_month",
    rollup_metadata,
    Column("day", BigInteger, primary_key=True, autoincrement=False),
    Column("month", BigInteger, nullable=False),
)

SUMS = ("n", "a1", "a2", "a3", "a4")
PK_NAMES = ("tier", "kind", "p", "b", "town", "cat", "dept")
# kind → (fact key column, fact columns summed into n, a1 … a4; None = 1 per fact)
KINDS: dict[str, tuple[str, tuple[str | None, ...]]] = {
    "rep": ("rep", (None, "collected", "cohort_closed", "dispatched", "returned")),
    "clo": ("clo", (None, "hours", "hours_n", "reworked", "local_level")),
    "due": ("dl", ("due_ok", "due_closed", "on_time")),
    "e1": ("e1", (None,)),
    "d1": ("d1", (None,)),
    "d2": ("d2", (None,)),
    "s1": ("s1", (None,)),
    "s2": ("s2", (None,)),
}
# Kinds whose third dimension means something: the dispatch department (rep, clo, due), the source
# (rsrc) or the duration bin (hst). The state keys and evaluations have none.
THIRD_DIMENSION = {"rep": "dept", "clo": "dept", "due": "dept", "rsrc": "src", "hst": "hbin"}
TIERS = ("h", "d", "m")
# The projections each tier keeps. The hour tier only serves the edges of ranges and the hourly
# series, so it keeps the coarse ones: its row count is what bounds the store's size.
STORED: dict[str, tuple[str, ...]] = {
    "h": ("", "t"),
    "d": ("", "t", "tc", "d", "td", "tcd"),
    "m": ("", "t", "tc", "d", "td", "tcd"),
}
ANY = "*"
HBINS_PER_DOUBLING = 8


def projections(kind: str, tier: str) -> tuple[str, ...]:
    """The projections of ``kind`` stored in ``tier`` (``hst`` only with its bin, others as they come)."""
    stored = STORED[tier]
    if kind == "hst":
        return tuple(p for p in stored if "d" in p)
    if kind not in THIRD_DIMENSION:
        return tuple(p for p in stored if "d" not in p)
    return stored


def best_projection(kind: str, tier: str, needed: str) -> str | None:
    """The smallest stored projection of ``kind`` in ``tier`` that keeps every dimension in ``needed``."""
    fits = [p for p in projections(kind, tier) if set(needed) <= set(p)]
    return min(fits, key=len) if fits else None


def project(p: str, town: str, cat: str, third: str) -> tuple[str, str, str]:
    return (town if "t" in p else ANY, cat if "c" in p else ANY, third if "d" in p else ANY)


def project_sql(p: str, town: Any, cat: Any, third: Any) -> tuple[list[Any], list[Any]]:
    """:func:`project` in SQL: the three dimension columns of a projection-``p`` row ('*' for those it
    drops), and the columns it groups by."""
    dims = list(zip((town, cat, third), "tcd", strict=True))
    return [c if d in p else literal(ANY) for c, d in dims], [c for c, d in dims if d in p]


def hours_bin(hours: float | None) -> int | None:
    """The duration bin: 8 per doubling of (1 + hours), so a bin is ~9 % wide at any scale."""
    if hours is None:
        return None
    return max(0, math.floor(HBINS_PER_DOUBLING * math.log2(1.0 + max(hours, 0.0))))


def to_us(value: dt.datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - EPOCH) // dt.timedelta(microseconds=1)


def from_us(value: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=value)


def hour_floor(us: int) -> int:
    return us - us % HOUR_US


def day_floor(us: int) -> int:
    return us - (us + LOCAL_OFFSET_US) % DAY_US


def hour_ceil(us: int) -> int:
    return -hour_floor(-us)


def day_ceil(us: int) -> int:
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
    f = month_floor(us)
    if f == us:
        return f
    return _month_of_day(day_floor(f) + 32 * DAY_US)


# --- facts from the source ----------------------------------------------------------------------------


def _logged(action: str, guard: ColumnElement[bool]) -> ColumnElement[Any]:
    """1 when the event ever logged ``action`` (looked up only where ``guard`` holds), else NULL.

    The current-state form of ``had_action(action, t)`` for t after every row. A LIMIT 1 scalar
    subquery, not EXISTS: PostgreSQL turned the EXISTS into a hashed scan of the whole action log.
    """
    a = schema.event_action
    probe = select(literal(1)).where(a.c.event_id == E.c.event_id, a.c.action == action).limit(1)
    return case((guard, probe.scalar_subquery()), else_=None)


def _fact_query(where: Sequence[ColumnElement[bool]]) -> Any:
    """The source columns of :func:`_fact`; flags as common.dispatched_by / returned_by / reworked_by
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


def _fact(row: Any) -> tuple[dict[str, Any], bool]:
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


def _same(stored: dict[str, Any], fact: dict[str, Any]) -> bool:
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


def _bucket(tier: str, at: int) -> int:
    if at >= INF_US:
        return INF_US
    if tier == "h":
        return hour_floor(at)
    return day_floor(at) if tier == "d" else month_floor(at)


Delta = dict[tuple[str, str, str, int, str, str, str], list[float]]


def _add_one(
    delta: Delta, kind: str, at: int, town: str, cat: str, third: str, sums: Sequence[float], sign: float
) -> None:
    for tier in TIERS:
        b = _bucket(tier, at)
        for p in projections(kind, tier):
            key = (tier, kind, p, b, *project(p, town, cat, third))
            acc = delta.setdefault(key, [0.0] * 5)
            for i, v in enumerate(sums):
                acc[i] += sign * v


def _add(delta: Delta, fact: dict[str, Any], sign: float) -> None:
    for kind, at, third, sums in _contributions(fact):
        _add_one(delta, kind, at, fact["town"], fact["cat"], third, sums, sign)


def _add_eval(delta: Delta, ev: dict[str, Any]) -> None:
    _add_one(delta, "eva", ev["at"], ev["town"], ev["cat"], ANY, (1.0, float(ev["satisfied"])), 1.0)


def _eval_query(where: Sequence[ColumnElement[bool]]) -> Any:
    ev = schema.evaluation
    satisfied = ev.c.result.in_(SATISFIED)
    return (
        select(ev.c.evaluation_id, ev.c.at, E.c.town_code, E.c.category_l1, satisfied.label("sat"))
        .select_from(ev.join(E, E.c.event_id == ev.c.event_id))
        .where(*where)
    )


def _eval_fact(row: Any) -> dict[str, Any]:
    at = to_us(row.at)
    assert at is not None
    return {
        "evaluation_id": int(row.evaluation_id),
        "at": at,
        "town": row.town_code or "",
        "cat": row.category_l1 or "",
        "satisfied": int(bool(row.sat)),
    }


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


def _bucket_sql(tier: str, col: Any) -> Any:
    if tier == "h":
        return intdiv(col, literal(HOUR_US)) * HOUR_US
    return intdiv(col + LOCAL_OFFSET_US, literal(DAY_US)) * DAY_US - LOCAL_OFFSET_US


def _finest(kind: str, tier: str) -> str:
    return max(projections(kind, tier), key=len)


def _fact_tier_inserts(tier: str) -> list[Any]:
    """INSERT … SELECT … GROUP BY statements that fill one tier's finest projections from ru_fact and
    ru_eval (full build). They must add up exactly what :func:`_contributions` adds per fact."""
    f, ev = ru_fact, ru_eval
    zero = literal(0.0)

    def one(c: Any) -> Any:
        return func.sum(case((c, 1.0), else_=0.0))

    count_only = [func.count(), zero, zero, zero, zero]
    specs: list[tuple[str, Any, Any, list[Any], list[Any]]] = [
        ("rep", f.c.rep, f.c.dept, [func.count(), func.sum(f.c.collected), func.sum(f.c.cohort_closed),
                                    func.sum(f.c.dispatched), func.sum(f.c.returned)], []),
        ("clo", f.c.clo, f.c.dept, [func.count(), func.sum(func.coalesce(f.c.hours, 0.0)),
                                    one(f.c.hours.is_not(None)), func.sum(f.c.reworked),
                                    func.sum(f.c.local_level)], [f.c.clo.is_not(None)]),
        ("due", f.c.dl, f.c.dept, [func.count(), func.sum(f.c.due_closed), func.sum(f.c.on_time), zero, zero],
         [f.c.dl.is_not(None), f.c.due_ok == 1]),
        ("rsrc", f.c.rep, f.c.src, count_only, []),
        ("hst", f.c.clo, cast(f.c.hbin, String(24)), count_only, [f.c.hbin.is_not(None)]),
    ]  # fmt: skip
    for kind in ("e1", "d1", "d2", "s1", "s2"):
        col = f.c[kind]
        specs.append((kind, col, None, count_only, [col.is_not(None)]))
    out = []
    cols = ["tier", "kind", "p", "b", "town", "cat", "dept", *SUMS]
    for kind, key, third, sums, where in specs:
        if not projections(kind, tier):
            continue
        p = _finest(kind, tier)
        b = _bucket_sql(tier, key)
        kept, grouped = project_sql(p, f.c.town, f.c.cat, literal(ANY) if third is None else third)
        q = (
            select(literal(tier), literal(kind), literal(p), b, *kept, *sums)
            .where(*where)
            .group_by(b, *grouped)
        )
        out.append(insert(ru_agg).from_select(cols, q))
    p = _finest("eva", tier)
    b = _bucket_sql(tier, ev.c.at)
    kept, grouped = project_sql(p, ev.c.town, ev.c.cat, literal(ANY))
    q = select(literal(tier), literal("eva"), literal(p), b, *kept, func.count(),
               func.sum(ev.c.satisfied), zero, zero, zero).group_by(b, *grouped)  # fmt: skip
    out.append(insert(ru_agg).from_select(cols, q))
    return out


def _projection_inserts(tier: str) -> list[Any]:
    """The coarser projections of a tier, summed in SQL from its finest ones (full build)."""
    a = ru_agg
    kinds = [*KINDS, "rsrc", "hst", "eva"]
    out = []
    by_source: dict[tuple[str, str], list[str]] = {}
    for kind in kinds:
        if not projections(kind, tier):
            continue
        finest = _finest(kind, tier)
        for p in projections(kind, tier):
            if p != finest:
                by_source.setdefault((finest, p), []).append(kind)
    cols = ["tier", "kind", "p", "b", "town", "cat", "dept", *SUMS]
    for (finest, p), group_kinds in by_source.items():
        kept, grouping = project_sql(p, a.c.town, a.c.cat, a.c.dept)
        grouped = [a.c.kind, a.c.b, *grouping]
        q = (
            select(literal(tier), a.c.kind, literal(p), a.c.b, *kept, *(func.sum(a.c[x]) for x in SUMS))
            .where(a.c.tier == tier, a.c.p == finest, a.c.kind.in_(group_kinds))
            .group_by(*grouped)
        )
        out.append(insert(ru_agg).from_select(cols, q))
    return out


def _month_tier_insert() -> Any:
    """The month tier, summed in SQL from the day tier through ``ru_month`` (full build)."""
    a, m = ru_agg, ru_month
    cols = ["tier", "kind", "p", "b", "town", "cat", "dept", *SUMS]
    q = (
        select(literal("m"), a.c.kind, a.c.p, m.c.month, a.c.town, a.c.cat, a.c.dept,
               *(func.sum(a.c[x]) for x in SUMS))
        .select_from(a.join(m, m.c.day == a.c.b))
        .where(a.c.tier == "d")
        .group_by(a.c.kind, a.c.p, m.c.month, a.c.town, a.c.cat, a.c.dept)
    )  # fmt: skip
    return insert(ru_agg).from_select(cols, q)


class _Phases:
    """Logs how long each phase of a full build took (the build of millions of events takes minutes)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        log.info("rollup build: %s in %.1f s", name, now - self.last)
        self.last = now


def _bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Many rows at once: COPY on PostgreSQL (several times faster than multi-row INSERTs), else INSERT."""
    if not rows:
        return
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        conn.execute(insert(table), rows)
        return
    names = [c.name for c in table.columns]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row.get(name) for name in names])


# --- the store ------------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    rebuilt: bool
    events: int
    evaluations: int
    seconds: float


class RollupStore:
    """The rollup tables in a writable database (normally the state store's)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._drop_outdated()
        rollup_metadata.create_all(engine)
        with engine.begin() as conn:  # an index added since the store was built (create_all skips those)
            for index in ru_fact.indexes:
                index.create(conn, checkfirst=True)

    def _drop_outdated(self) -> None:
        """Tables of an older layout are dropped: they are derived data, rebuilt at the next sync."""
        found = inspect(self.engine)
        present = set(found.get_table_names())
        for table in rollup_metadata.sorted_tables:
            if table.name in present and {c["name"] for c in found.get_columns(table.name)} != set(
                table.c.keys()
            ):
                log.info(
                    "rollup table %s has an older layout: dropping the rollups to rebuild them", table.name
                )
                rollup_metadata.drop_all(self.engine, checkfirst=True)
                return

    # -- reading meta --
    def meta(self, conn: Connection | None = None) -> Any:
        if conn is None:
            with self.engine.connect() as c:
                return c.execute(select(ru_meta)).first()
        return conn.execute(select(ru_meta)).first()

    # -- building and syncing --
    def sync(self, source: Connection, *, rebuild: bool = False, progress: bool = False) -> SyncReport:
        """Bring the rollups up to the source's current state (a full build the first time).

        ``progress`` draws the full build's progress on stderr (the ``rollups`` command)."""
        started = time.monotonic()
        if source.dialect.name == "postgresql":
            source.exec_driver_sql("SET LOCAL jit = off")  # compiling cost more than these statements
        with self.engine.begin() as conn:
            self._lock(conn)
            meta = conn.execute(select(ru_meta)).first()
            if meta is None or rebuild:
                events, evals = self._build(conn, source, progress)
                rebuilt = True
            else:
                events, evals = self._apply(conn, source, meta)
                rebuilt = False
        if rebuilt:
            self._analyze()
        return SyncReport(rebuilt, events, evals, round(time.monotonic() - started, 3))

    def _analyze(self) -> None:
        """Fresh planner statistics after a full build: without them PostgreSQL guessed one row per
        range and walked the tiers with filters instead of index ranges. On PostgreSQL also VACUUM, so
        the percentile reads are index-only scans."""
        from dashboard.source.engines import refresh_planner_statistics

        refresh_planner_statistics(self.engine, [t.name for t in rollup_metadata.sorted_tables], vacuum=True)

    def _lock(self, conn: Connection) -> None:
        """One sync at a time across processes: a row lock (PostgreSQL, MariaDB) or the write lock."""
        if conn.dialect.name == "sqlite":
            conn.execute(update(ru_meta).where(ru_meta.c.id == -1).values(odd=0))
            return
        row = conn.execute(select(ru_meta.c.id).where(ru_meta.c.id == 1).with_for_update()).first()
        if row is None:  # the first build: serialise on a table lock instead
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE ru_meta IN EXCLUSIVE MODE")
            else:
                conn.execute(select(ru_meta.c.id).with_for_update())

    def _build(self, conn: Connection, source: Connection, progress: bool = False) -> tuple[int, int]:
        phase = _Phases()
        if (
            conn.dialect.name == "postgresql"
        ):  # the tier GROUP BYs hold millions of groups: keep them in memory
            conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        for table in (ru_agg, ru_fact, ru_eval, ru_meta, ru_month):
            conn.execute(delete(table))
        indexes = [*ru_fact.indexes, *ru_eval.indexes]
        for index in indexes:  # loading millions of rows is several times faster without them
            index.drop(conn, checkfirst=True)
        top = source.execute(
            select(
                select(func.max(E.c.event_id)).scalar_subquery(),
                select(func.max(schema.event_action.c.action_id)).scalar_subquery(),
                select(func.max(schema.evaluation.c.evaluation_id)).scalar_subquery(),
                select(func.count()).select_from(E).scalar_subquery(),
                select(func.count()).select_from(schema.evaluation).scalar_subquery(),
            )
        ).one()
        wm_event, wm_action, wm_eval = (int(x or 0) for x in top[:3])
        max_ts, odd, events, evals = 0, 0, 0, 0
        last = -1
        with Progress("汇总 rollups: events", int(top[3] or 0), enabled=progress) as bar:
            while True:  # keyset pages over the primary key: no long server-side cursor
                page = _fact_query([E.c.event_id > last]).order_by(E.c.event_id).limit(PAGE)
                rows = list(source.execute(page))
                if not rows:
                    break
                facts = []
                for row in rows:
                    fact, is_odd = _fact(row)
                    facts.append(fact)
                    odd += is_odd
                    max_ts = max(max_ts, fact["max_ts"])
                _bulk_insert(conn, ru_fact, facts)
                events += len(facts)
                bar.advance(len(facts))
                last = int(rows[-1].event_id)
        phase.done("facts")
        last_eval = -1
        ev = schema.evaluation
        with Progress("汇总 rollups: evaluations", int(top[4] or 0), enabled=progress) as bar:
            while True:
                page = _eval_query([ev.c.evaluation_id > last_eval]).order_by(ev.c.evaluation_id).limit(PAGE)
                efacts = [_eval_fact(r) for r in source.execute(page)]
                if not efacts:
                    break
                max_ts = max(max_ts, *(e["at"] for e in efacts))
                _bulk_insert(conn, ru_eval, efacts)
                evals += len(efacts)
                bar.advance(len(efacts))
                last_eval = efacts[-1]["evaluation_id"]
        phase.done("evaluations")
        for index in indexes:
            index.create(conn)
        phase.done("indexes")
        self._fill_tiers(conn, progress)
        phase.done("tiers")
        max_ts = max(max_ts, self._max_action_at(source, 0))
        now = dt.datetime.now(dt.UTC).isoformat()
        conn.execute(
            insert(ru_meta),
            {
                "id": 1,
                "wm_event": max(wm_event, last),  # (events written meanwhile are re-read next time)
                "wm_action": wm_action,
                "wm_eval": max(wm_eval, last_eval),
                "max_ts": max_ts,
                "odd": odd,
                "built_at": now,
                "synced_at": now,
            },
        )
        return events, evals

    @staticmethod
    def _fill_tiers(conn: Connection, progress: bool = False) -> None:
        """Every tier from the facts: the finest projections of d and h, the coarser ones, the months."""
        statements = [
            statement
            for tier in ("d", "h")
            for statement in (*_fact_tier_inserts(tier), *_projection_inserts(tier))
        ]
        with Progress("汇总 rollups: tiers", len(statements) + 1, enabled=progress) as bar:
            for statement in statements:
                conn.execute(statement)
                bar.advance()
            RollupStore._fill_months(conn)
            bar.advance()

    @staticmethod
    def _fill_months(conn: Connection) -> None:
        days = [int(b) for (b,) in conn.execute(select(ru_agg.c.b).where(ru_agg.c.tier == "d").distinct())]
        conn.execute(delete(ru_month))
        rows = [{"day": d, "month": month_floor(d)} for d in days]
        for i in range(0, len(rows), 20_000):
            conn.execute(insert(ru_month), rows[i : i + 20_000])
        conn.execute(_month_tier_insert())

    @staticmethod
    def _max_action_at(source: Connection, above: int) -> int:
        a = schema.event_action
        got = source.execute(select(func.max(a.c.at)).where(a.c.action_id > above)).scalar()
        return to_us(got) or 0

    def _apply(self, conn: Connection, source: Connection, meta: Any) -> tuple[int, int]:
        a, ev = schema.event_action, schema.evaluation
        floor = max(0, int(meta.wm_action) - ACTION_MARGIN)
        top = source.execute(
            select(
                select(func.max(E.c.event_id)).scalar_subquery(),
                select(func.max(a.c.action_id)).scalar_subquery(),
                select(func.max(ev.c.evaluation_id)).scalar_subquery(),
            )
        ).one()
        wm_event, wm_action, wm_eval = (int(x or 0) for x in top)
        changed = {
            int(eid)
            for (eid,) in source.execute(
                select(a.c.event_id).where(a.c.action_id > floor, a.c.action_id <= wm_action).distinct()
            )
        }
        changed |= {
            int(eid)
            for (eid,) in source.execute(
                select(E.c.event_id).where(E.c.event_id > int(meta.wm_event), E.c.event_id <= wm_event)
            )
        }
        max_ts, odd = int(meta.max_ts), int(meta.odd)
        delta: Delta = {}
        ids = sorted(changed)
        for i in range(0, len(ids), CHUNK):
            part = ids[i : i + CHUNK]
            old = {
                int(r.event_id): dict(r._mapping)
                for r in conn.execute(select(ru_fact).where(ru_fact.c.event_id.in_(part)))
            }
            new = {}
            for row in source.execute(_fact_query([E.c.event_id.in_(part)])):
                fact, is_odd = _fact(row)
                new[fact["event_id"]] = fact
                odd += is_odd
                max_ts = max(max_ts, fact["max_ts"])
            same = {eid for eid in part if eid in old and eid in new and _same(old[eid], new[eid])}
            for eid in part:
                if eid in same:  # re-read within the margin, unchanged: nothing to move
                    continue
                if eid in old:
                    _add(delta, old[eid], -1.0)
                if eid in new:
                    _add(delta, new[eid], 1.0)
            gone = [eid for eid in old if eid not in same]
            if gone:
                conn.execute(delete(ru_fact).where(ru_fact.c.event_id.in_(gone)))
            fresh = [fact for eid, fact in new.items() if eid not in same]
            if fresh:
                conn.execute(insert(ru_fact), fresh)
        evals = [
            _eval_fact(r)
            for r in source.execute(
                _eval_query([ev.c.evaluation_id > int(meta.wm_eval), ev.c.evaluation_id <= wm_eval])
            )
        ]
        for e in evals:
            _add_eval(delta, e)
            max_ts = max(max_ts, e["at"])
        if evals:
            conn.execute(insert(ru_eval), evals)
        self._write_delta(conn, delta)
        max_ts = max(max_ts, self._max_action_at(source, floor))
        conn.execute(
            update(ru_meta)
            .where(ru_meta.c.id == 1)
            .values(
                wm_event=max(wm_event, int(meta.wm_event)),
                wm_action=max(wm_action, int(meta.wm_action)),
                wm_eval=max(wm_eval, int(meta.wm_eval)),
                max_ts=max_ts,
                odd=odd,
                synced_at=dt.datetime.now(dt.UTC).isoformat(),
            )
        )
        return len(changed), len(evals)

    @staticmethod
    def _write_delta(conn: Connection, delta: Delta) -> None:
        """Add the deltas to the tiers: UPDATE the rows that exist, INSERT the rest (portable upsert)."""
        if not delta:
            return
        pk = [
            ru_agg.c.tier,
            ru_agg.c.kind,
            ru_agg.c.p,
            ru_agg.c.b,
            ru_agg.c.town,
            ru_agg.c.cat,
            ru_agg.c.dept,
        ]
        keys = list(delta)
        existing: set[tuple[Any, ...]] = set()
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            bs = sorted({k[3] for k in part})
            found = conn.execute(select(*pk).where(ru_agg.c.b.in_(bs), tuple_(*pk).in_(part)))
            existing |= {tuple(r) for r in found}
        updates = [
            {"k_" + n: v for n, v in zip(PK_NAMES, k, strict=True)}
            | {"d_" + s: x for s, x in zip(SUMS, delta[k], strict=True)}
            for k in keys
            if k in existing
        ]
        inserts = [
            dict(zip(PK_NAMES, k, strict=True)) | dict(zip(SUMS, delta[k], strict=True))
            for k in keys
            if k not in existing
        ]
        if updates:
            stmt = (
                update(ru_agg)
                .where(*(c == bindparam("k_" + c.name) for c in pk))
                .values({s: ru_agg.c[s] + bindparam("d_" + s) for s in SUMS})
            )
            conn.execute(stmt, updates)
        for i in range(0, len(inserts), 20_000):
            conn.execute(insert(ru_agg), inserts[i : i + 20_000])


# --- the service's builder -------------------------------------------------------------------------------


class FastBuilder:
    """``build_snapshot`` for the service, through the rollups (DASHBOARD_ROLLUPS=on).

    Each build first brings the rollups up to date (a few changed events per refresh). Until the first
    full build is done, which takes minutes on millions of events and runs in a background thread (or
    ahead of time with ``python -m dashboard rollups``), snapshots come from the direct queries.
    """

    def __init__(self, store: RollupStore, source_engine: Engine) -> None:
        self.store = store
        self.source_engine = source_engine
        self._building: threading.Thread | None = None
        self._guard = threading.Lock()

    def __call__(self, conn: Connection, view: Any, now: dt.datetime) -> Any:
        from dashboard.rollups.read import build_snapshot_fast
        from dashboard.source.queries.snapshot import build_snapshot

        if self.store.meta() is None:
            self._build_in_background()
            return build_snapshot(conn, view, now)
        self.store.sync(conn)
        return build_snapshot_fast(conn, self.store, view, now)

    def _build_in_background(self) -> None:
        with self._guard:
            if self._building is not None and self._building.is_alive():
                return
            self._building = threading.Thread(target=self._build, name="rollup-build", daemon=True)
            self._building.start()

    def _build(self) -> None:
        try:
            with self.source_engine.connect() as source:
                report = self.store.sync(source)
            log.info("rollups built: %s", report)
        except Exception:
            log.exception("rollup build failed; snapshots keep coming from the direct queries")
