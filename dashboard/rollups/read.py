"""The snapshot from the rollups (``dashboard.rollups.store``): the same figures as ``build_snapshot``, faster.

Used only where the rollups are exact (see :func:`eligible`): a live moment later than every timestamp
in the source, and a view whose filters the tiers carry (district, towns, the eastern switch,
categories). Anything else (as-of views, villages, grids, source or department filters) is built by
the direct queries. Within a fast snapshot, the families that do not grow with the number of events
(patrols and video, whose queries probe an index once per grid or camera; police statistics, hazards,
key areas, the ticker, surge alerts) still run directly on the source.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    and_,
    cast,
    func,
    literal,
    literal_column,
    select,
)

from dashboard.core import domain
from dashboard.core.metrics import METRICS, status_of
from dashboard.core.periods import SHANGHAI, Period, effective_now, label_of, period_bounds, spark_buckets
from dashboard.core.snapshot import KpiValue, Snapshot
from dashboard.core.viewstate import ViewState, to_params
from dashboard.rollups.store import (
    DAY_US,
    INF_US,
    KINDS,
    OPEN,
    TIERS,
    RollupStore,
    best_projection,
    day_ceil,
    day_floor,
    from_us,
    hour_ceil,
    hour_floor,
    month_ceil,
    month_floor,
    ru_agg,
    ru_eval,
    ru_fact,
    to_us,
)
from dashboard.source.queries import alerts as alerts_mod
from dashboard.source.queries import backlog as backlog_mod
from dashboard.source.queries import kpis
from dashboard.source.queries import rankings as rankings_mod
from dashboard.source.queries import trends as trends_mod
from dashboard.source.queries.common import (
    Aggs,
    FamilyResult,
    comparison_instants,
    ratio,
    spark_instants,
    upto,
)
from dashboard.source.queries.patrol import patrol_panel
from dashboard.source.queries.scope import Names, breadcrumb, unit_names, view_level
from dashboard.source.queries.snapshot import _tune_session, version_and_newest
from dashboard.source.queries.ticker import ticker

Sums = list[float]
T = TypeVar("T")
Key = tuple[Any, ...]


def eligible(view: ViewState, now: dt.datetime, meta: Any) -> bool:
    """True when the rollups give exactly the direct answer for ``view`` at ``now``."""
    if meta is None or view.as_of is not None or int(meta.odd):
        return False
    if view.village or view.grid or view.sources or view.depts:
        return False
    cap = to_us(upto(now))
    return cap is not None and int(meta.max_ts) < cap


# --- reading the tiers ----------------------------------------------------------------------------------


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


def _merged(intervals: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _slot(name: str) -> Any:
    """A number put into a compiled branch later (``__name__`` in its SQL text)."""
    return literal_column(f"__{name}__", BigInteger)


_TEMPLATES: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_TEMPLATES_LOCK = threading.Lock()
TEMPLATE_MEMORY = 2048  # branch shapes × filters kept per process (a few dozen per view)


def _template(dialect: Any, key: tuple[Any, ...], build: Callable[[], Any]) -> str:
    """The SQL text of a branch shape, compiled once per process and dialect.

    Every value is rendered into the text as an escaped SQL literal (``literal_binds``): kinds, tiers
    and projections are the module's own constants, towns and categories have been matched by the
    view's parser against the known codes, and the numbers put in later are ints.
    """
    full = (dialect.name, *key)
    with _TEMPLATES_LOCK:
        found = _TEMPLATES.get(full)
        if found is not None:
            _TEMPLATES.move_to_end(full)
            return found
    sql = str(build().compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    with _TEMPLATES_LOCK:
        _TEMPLATES[full] = sql
        while len(_TEMPLATES) > TEMPLATE_MEMORY:
            _TEMPLATES.popitem(last=False)
    return sql


class Reader:
    """Sums over the tiers for one view's filters, on the rollup store's connection."""

    def __init__(self, conn: Connection, view: ViewState) -> None:
        self.conn = conn
        self.view = view

    def _filters(self, table: Any) -> list[Any]:
        conds = []
        if self.view.eastern == "exclude":
            conds.append(table.c.town.not_in(sorted(domain.eastern_town_codes())))
        if self.view.towns:
            conds.append(table.c.town.in_(self.view.towns))
        if self.view.categories:
            conds.append(table.c.cat.in_(self.view.categories))
        return conds

    def _needed(self, group: Sequence[str]) -> str:
        """The dimensions the view's filters and the grouping need a tier row to keep."""
        need = ""
        if self.view.towns or self.view.eastern == "exclude" or "town" in group:
            need += "t"
        if self.view.categories or "cat" in group:
            need += "c"
        if "dept" in group:
            need += "d"
        return need

    def sums(
        self,
        kind: str,
        ranges: Sequence[tuple[str, int, int]],
        group: Sequence[str] = (),
        *,
        by: str | None = None,
    ) -> dict[Key, Sums]:
        """{(tag, *group values[, bucket]): [n, a1 … a4]} for ``kind`` over each tagged range [s, e).

        ``by`` = "hour" or "day" adds the start (µs) of each row's hour or local day.
        """
        return {k[1:]: v for k, v in self.multi((kind,), ranges, group, by=by).items()}

    def multi(
        self,
        kinds: Sequence[str],
        ranges: Sequence[tuple[str, int, int]],
        group: Sequence[str] = (),
        *,
        by: str | None = None,
    ) -> dict[Key, Sums]:
        """:meth:`sums` for several kinds, keyed (kind, tag, …): one statement per set of kinds that read
        the same projections."""
        need = self._needed(group)
        classes: dict[tuple[str | None, ...], list[str]] = {}
        for kind in kinds:
            chosen = tuple(best_projection(kind, tier, need) for tier in TIERS)
            classes.setdefault(chosen, []).append(kind)
        out: dict[Key, Sums] = {}
        for chosen, class_kinds in classes.items():
            out.update(self._read(class_kinds, dict(zip(TIERS, chosen, strict=True)), ranges, group, by))
        return out

    def _read(
        self,
        kinds: Sequence[str],
        chosen: dict[str, str | None],
        ranges: Sequence[tuple[str, int, int]],
        group: Sequence[str],
        by: str | None,
    ) -> dict[Key, Sums]:
        """Plan: each range is cut into pieces (:func:`pieces`). Without ``by`` every distinct piece is one
        branch that the database sums up; with ``by`` each stretch of a tier is one branch grouped by
        bucket. Fact edges are always their own small branches. Python adds the pieces of a range up."""
        tiers = "".join(t for t in ("m", "d", "h") if chosen[t] is not None)
        if by == "hour":  # an hourly series never reads the day tiers (the day view spans ≤ 24 h)
            tiers = tiers.replace("m", "").replace("d", "")
        elif by == "day":
            tiers = tiers.replace("m", "")
        plans = {tag: pieces(start, end, tiers, hourly=by == "hour") for tag, start, end in ranges}
        whole = {part for parts in plans.values() for part in parts if by is None or part[0] == "f"}
        numbered = {part: i for i, part in enumerate(sorted(whole))}
        branches = []
        for (t, a, b), i in numbered.items():
            if t == "f":
                branches += [self._fact_branch(kind, i, a, b, group) for kind in kinds]
            else:
                branches.append(self._tier_branch(kinds, t, chosen[t] or "", group, a, b, number=i))
        if by is not None:  # one branch per stretch of buckets: each is one range scan of the key
            for tier in tiers:
                for lo, hi in _merged([(a, b) for parts in plans.values() for t, a, b in parts if t == tier]):
                    branches.append(self._tier_branch(kinds, tier, chosen[tier] or "", group, lo, hi))
        rows: dict[tuple[str, int], dict[Key, Sums]] = {}  # ("p", piece number) or (tier, bucket) → by key
        if branches:
            width = len(group)
            for row in self.conn.exec_driver_sql(" UNION ALL ".join(branches)):
                key: Key = (str(row[1]), *row[3 : 3 + width])
                acc = rows.setdefault((str(row[0]), int(row[2])), {}).setdefault(key, [0.0] * 5)
                for i, v in enumerate(row[3 + width :]):
                    acc[i] += float(v or 0)
        out: dict[Key, Sums] = {}
        for tag, parts in plans.items():
            for part in parts:
                t, a, b = part
                if part in numbered:
                    found = [(a, rows.get(("p", numbered[part]), {}))]
                else:
                    found = [
                        (bucket, got) for (tt, bucket), got in rows.items() if tt == t and a <= bucket < b
                    ]
                for bucket, got in found:
                    for key, acc in got.items():
                        dest_key: Key = (key[0], tag, *key[1:])
                        if by:
                            dest_key += (hour_floor(bucket) if by == "hour" else day_floor(bucket),)
                        dest = out.setdefault(dest_key, [0.0] * 5)
                        for i, v in enumerate(acc):
                            dest[i] += v
        return out

    def _sql(self, key: tuple[Any, ...], build: Callable[[], Any], **numbers: int) -> str:
        """A branch as SQL text: its statement is built and compiled once per shape (:func:`_template`),
        then only the numbers are put in. Building a Core statement per branch cost ~1.4 ms of Python
        each, over a hundred per snapshot, and the Python time is the other thread's time (the GIL)."""
        sql = _template(self.conn.dialect, (*key, tuple(self._filter_key())), build)
        for name, value in numbers.items():
            sql = sql.replace(f"__{name}__", str(int(value)))
        return sql

    def _filter_key(self) -> Iterator[Any]:
        yield self.view.eastern == "exclude"
        yield tuple(self.view.towns)
        yield tuple(self.view.categories)

    def _tier_branch(
        self,
        kinds: Sequence[str],
        tier: str,
        p: str,
        group: Sequence[str],
        lo: int,
        hi: int,
        number: int | None = None,
    ) -> str:
        """Buckets [lo, hi) of a tier: summed whole as piece ``number``, or per bucket when it is None."""

        def build() -> Any:
            a = ru_agg
            if number is None:
                cols: list[Any] = [literal(tier).label("tier"), a.c.kind, a.c.b.label("bucket")]
            else:
                cols = [literal("p").label("tier"), a.c.kind, _slot("n").label("bucket")]
            cols += [a.c[g].label(g) for g in group]
            cols += [func.sum(a.c[x]).label(x) for x in ("n", "a1", "a2", "a3", "a4")]
            where = [
                a.c.tier == tier,
                a.c.kind.in_(kinds),
                a.c.p == p,
                a.c.b >= _slot("lo"),
                a.c.b < _slot("hi"),
            ]
            q = select(*cols).where(*where, *self._filters(a))
            return q.group_by(a.c.kind, *([a.c.b] if number is None else []), *[a.c[g] for g in group])

        key = ("tier", tuple(kinds), tier, p, tuple(group), number is None)
        return self._sql(key, build, lo=lo, hi=hi, n=number or 0)

    def _fact_branch(self, kind: str, number: int, s: int, e: int, group: Sequence[str]) -> str:
        """A sub-hour (or, for projections the hour tier lacks, sub-day) edge, summed from the per-event
        rows (evaluations from ``ru_eval``); ``number`` tells the edges apart."""

        def build() -> Any:
            lo, hi = _slot("lo"), _slot("hi")
            if kind == "eva":
                t = ru_eval
                key = t.c.at
                sums: list[Any] = [func.count(), func.sum(t.c.satisfied)]
                where = [key >= lo, key < hi, *self._filters(t)]
            else:
                t = ru_fact
                key_name, cols = KINDS.get(kind, ("clo" if kind == "hst" else "rep", (None,)))
                key = t.c[key_name]
                where = [key >= lo, key < hi, *self._filters(t)]
                if kind == "due":
                    where.append(t.c.due_ok == 1)
                if kind == "hst":
                    where.append(t.c.hbin.is_not(None))
                if kind == "clo":
                    has_hours = t.c.hours.is_not(None)
                    sums = [
                        func.count(),
                        func.sum(func.coalesce(t.c.hours, 0.0)),
                        func.sum(_case(has_hours)),
                        func.sum(t.c.reworked),
                        func.sum(t.c.local_level),
                    ]
                else:
                    sums = [func.count() if c is None else func.sum(t.c[c]) for c in cols]
            sums += [literal(0)] * (5 - len(sums))
            cols_: list[Any] = [
                literal("p").label("tier"),
                literal(kind).label("kind"),
                _slot("n").label("bucket"),
            ]
            group_cols = []
            for g in group:
                col: Any = t.c[g]
                if g == "dept" and kind == "rsrc":
                    col = t.c.src
                elif g == "dept" and kind == "hst":
                    col = cast(t.c.hbin, String(24))
                group_cols.append(col)
                cols_.append(col.label(g))
            q = select(*cols_, *[x.label(f"s{i}") for i, x in enumerate(sums)]).where(*where)
            return q.group_by(*group_cols) if group_cols else q

        return self._sql(("fact", kind, tuple(group)), build, lo=s, hi=e, n=number)

    def state_at(
        self, pairs: Sequence[tuple[str, str]], tags: Sequence[tuple[str, int]], group: Sequence[str] = ()
    ) -> dict[str, dict[Key, float]]:
        """For each (name, "k1:k2"): #(k2 ≥ t) − #(k1 ≥ t) per tag and group (see dashboard.rollups.store)."""
        kinds = sorted({k for _, pair in pairs for k in pair.split(":")})
        got = self.multi(kinds, [(tag, t, INF_US + DAY_US) for tag, t in tags], group)
        out: dict[str, dict[Key, float]] = {}
        for name, pair in pairs:
            lo, hi = pair.split(":")
            keys = {k[1:] for k in got if k[0] in (lo, hi)}
            zero = [0.0]
            out[name] = {k: got.get((hi, *k), zero)[0] - got.get((lo, *k), zero)[0] for k in keys}
        return out


STATE_PAIRS = (("backlog", "rep:e1"), ("overdue_open", "d1:d2"), ("supervised_open", "s1:s2"))


# --- the KPI families -----------------------------------------------------------------------------------


def _us_ranges(ranges: Sequence[tuple[str, dt.datetime, dt.datetime]]) -> list[tuple[str, int, int]]:
    return [(tag, to_us(s) or 0, to_us(e) or 0) for tag, s, e in ranges]


def _family(
    reader: Reader, kind: str, names: Sequence[str], period: Period, spark: bool = True
) -> FamilyResult:
    ranges = _us_ranges(period.ranges())
    buckets = spark_buckets(period) if spark else []
    ranges += [(f"s{i}", to_us(s) or 0, to_us(e) or 0) for i, (_, s, e) in enumerate(buckets)]
    got = reader.sums(kind, ranges)
    res = FamilyResult()
    for tag, _, _ in ranges:
        acc = got.get((tag,))
        values: Aggs = dict(zip(names, acc or [0.0] * 5, strict=False))
        if tag.startswith("s"):
            res.spark.append(values)
        elif acc is not None or kind in ("rep", "clo", "due", "eva"):
            res.ranges[tag] = values
    # The direct family returns no row for an empty range only when it groups; ungrouped ranges
    # always return one row (count 0), which is what we mimic above.
    return res


def reported_family(reader: Reader, view: ViewState, now: dt.datetime) -> kpis.KpiMap:
    period = period_bounds(view, now)
    res = _family(reader, "rep", ("reported", "collected", "cohort_closed", "dispatched", "returned"), period)
    return {
        "reported": kpis.make_kpi("reported", res, kpis._field("reported")),
        "cohort_close_rate": kpis.make_kpi(
            "cohort_close_rate", res, kpis._rate("cohort_closed", "collected"), ("cohort_closed", "collected")
        ),
        "return_rate": kpis.make_kpi(
            "return_rate", res, kpis._rate("returned", "dispatched"), ("returned", "dispatched")
        ),
    }


def closed_family(reader: Reader, view: ViewState, now: dt.datetime) -> kpis.KpiMap:
    period = period_bounds(view, now)
    res = _family(reader, "clo", ("closed", "hours_sum", "hours_n", "reworked", "local"), period)
    return {
        "closed": kpis.make_kpi("closed", res, kpis._field("closed")),
        "mean_hours_to_close": kpis.make_kpi(
            "mean_hours_to_close", res, kpis._mean("hours_sum", "hours_n"), ("hours_sum", "hours_n")
        ),
        "rework_rate": kpis.make_kpi(
            "rework_rate", res, kpis._rate("reworked", "closed"), ("reworked", "closed")
        ),
        "local_resolution_rate": kpis.make_kpi(
            "local_resolution_rate", res, kpis._rate("local", "closed"), ("local", "closed")
        ),
    }


def due_family(reader: Reader, view: ViewState, now: dt.datetime) -> kpis.KpiMap:
    period = period_bounds(view, now)
    res = _family(reader, "due", ("due", "due_closed", "on_time"), period)
    return {
        "close_rate": kpis.make_kpi(
            "close_rate", res, kpis._rate("due_closed", "due"), ("due_closed", "due")
        ),
        "on_time_rate": kpis.make_kpi("on_time_rate", res, kpis._rate("on_time", "due"), ("on_time", "due")),
    }


def evaluation_family(reader: Reader, view: ViewState, now: dt.datetime) -> kpis.KpiMap:
    period = period_bounds(view, now)
    res = _family(reader, "eva", ("evaluated", "satisfied"), period)
    return {
        "satisfaction_rate": kpis.make_kpi(
            "satisfaction_rate", res, kpis._rate("satisfied", "evaluated"), ("satisfied", "evaluated")
        )
    }


def state_family(reader: Reader, view: ViewState, now: dt.datetime) -> kpis.KpiMap:
    period = period_bounds(view, now)
    instants = comparison_instants(period) + [(f"s{i}", t) for i, (_, t) in enumerate(spark_instants(period))]
    tags = [(tag, to_us(t) or 0) for tag, t in instants]
    got = reader.state_at(STATE_PAIRS, tags)
    out: kpis.KpiMap = {}
    for key in ("backlog", "overdue_open", "supervised_open"):
        values = got[key]
        value = float(values.get(("cur",), 0.0))
        out[key] = KpiValue(
            key=key,
            value=value,
            previous=float(values.get(("prev",), 0.0)),
            last_year=float(values.get(("ly",), 0.0)),
            status=status_of(METRICS[key], value),
            spark=[float(values.get((k,), 0.0)) for k, _ in instants if k.startswith("s")],
        )
    return out


def _ranks(n: int) -> tuple[list[int], int]:
    """The 1-based ranks of the median (one or two) and of the P90, as the direct query picks them."""
    median = [(n + 1) // 2] if n % 2 else [n // 2, n // 2 + 1]
    return median, (9 * n + 9) // 10


def _nth_hours(
    reader: Reader, start: int, end: int, hist: dict[int, int], ranks: Sequence[int]
) -> dict[int, float]:
    """The exact durations at ``ranks`` (1-based, in hours order) among the facts closed in [start, end):
    the bin counts say which bin holds each rank, then only that bin's facts are read."""
    f = ru_fact
    wanted: dict[int, list[tuple[int, int]]] = {}  # bin → (rank, offset within the bin)
    before = 0
    for b in sorted(hist):
        for rank in ranks:
            if before < rank <= before + hist[b]:
                wanted.setdefault(b, []).append((rank, rank - before - 1))
        before += hist[b]
    out: dict[int, float] = {}
    for b, got in wanted.items():
        first, last = min(o for _, o in got), max(o for _, o in got)
        q = (
            select(f.c.hours)
            .where(f.c.hbin == b, f.c.clo >= start, f.c.clo < end, *reader._filters(f))
            .order_by(f.c.hours)
            .offset(first)
            .limit(last - first + 1)
        )
        values = [float(v) for (v,) in reader.conn.execute(q)]
        for rank, offset in got:
            out[rank] = values[offset - first]
    return out


def duration_family(reader: Reader, view: ViewState, now: dt.datetime) -> kpis.KpiMap:
    """median_hours_to_close and p90_hours_to_close, exact, from the duration-bin counts (kind ``hst``)."""
    period = period_bounds(view, now)
    ranges = _us_ranges(period.ranges())
    hists: dict[str, dict[int, int]] = {}
    for (tag, b), acc in reader.sums("hst", ranges, ("dept",)).items():
        if round(acc[0]):
            hists.setdefault(str(tag), {})[int(b)] = round(acc[0])
    med: dict[str, float] = {}
    p90: dict[str, float] = {}
    counts: dict[str, int] = {}
    for tag, start, end in ranges:
        hist = hists.get(tag, {})
        n = counts[tag] = sum(hist.values())
        if not n:
            continue
        median, p90_rank = _ranks(n)
        values = _nth_hours(reader, start, end, hist, sorted({*median, p90_rank}))
        med[tag] = sum(values[r] for r in median) / len(median)
        p90[tag] = values[p90_rank]
    return kpis.duration_kpis(med, p90, counts)


FAST_FAMILIES = (reported_family, closed_family, due_family, evaluation_family, state_family, duration_family)
DIRECT_FAMILIES = (
    kpis.patrol_family,
    kpis.on_duty,
    kpis.video_family,
    kpis.police_family,
    kpis.hazard_family,
    kpis.key_area_family,
)


def compute_kpis(conn: Connection, reader: Reader, view: ViewState, now: dt.datetime) -> kpis.KpiMap:
    return _in_registry_order(fast_kpis(reader, view, now) | direct_kpis(conn, view, now))


def _in_registry_order(got: kpis.KpiMap) -> kpis.KpiMap:
    """The tiles in the metric registry's order (the order screens and slides show them in)."""
    return {key: got[key] for key in METRICS if key in got}


def fast_kpis(reader: Reader, view: ViewState, now: dt.datetime) -> kpis.KpiMap:
    """The event tiles, from the rollups."""
    got: kpis.KpiMap = {}
    for fast in FAST_FAMILIES:
        got.update(fast(reader, view, now))
    return got


def direct_kpis(conn: Connection, view: ViewState, now: dt.datetime) -> kpis.KpiMap:
    """The tiles that are not about events (patrols, video, police, hazards, key areas), from the source."""
    got: kpis.KpiMap = {}
    for family in DIRECT_FAMILIES:
        got.update(family(conn, view, now))
    return got


def _source_part(conn: Connection, view: ViewState, now: dt.datetime) -> tuple[kpis.KpiMap, dict[str, Any]]:
    """What a fast snapshot reads from the source alone: the direct tiles and the patrol panel."""
    got = direct_kpis(conn, view, now)
    return got, patrol_panel(
        conn, view, now, got["patrol_on_duty"].detail, {}, got["video_online_rate"].detail
    )


def _beside(conn: Connection, fn: Callable[[Connection], T]) -> Callable[[], T]:
    """Start ``fn`` on a second connection to the source, in a thread; returns a call that waits for it.

    The direct families probe an index once per grid or camera in the source while the event figures
    come from the rollups: on two connections the source and the rollup store work at the same time
    (a 10 M-event district snapshot 1.7 → ~1 s on two cores). Statements of one snapshot were never in
    one transaction (each family is one statement, read committed), so nothing is lost. SQLite runs it
    in line: one file, and an in-memory test database cannot be opened twice.
    """
    if conn.dialect.name == "sqlite":
        result = fn(conn)
        return lambda: result

    def run() -> T:
        with conn.engine.connect() as other:
            _tune_session(other)
            return fn(other)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-source")
    future = pool.submit(run)
    pool.shutdown(wait=False)  # the thread ends with its one task
    return future.result


# --- rankings -------------------------------------------------------------------------------------------


def _open_facts(reader: Reader, cap: int) -> Any:
    """The facts open at ``cap``: the fast path's moment is after every transition the store holds
    (:func:`eligible`, read in the same snapshot of the store), so "not closed by ``cap``" is "still
    open", the predicate of the covering index ``ix_ru_fact_open``."""
    f = ru_fact
    return [OPEN, f.c.rep < cap, *reader._filters(f)]


def _open_rows(reader: Reader, stmt: Any) -> Any:
    """Run a statement over the open facts (:func:`_open_facts`) through their partial covering index.

    Why the text: SQLite's statistics average two rows per ``e1`` (mostly distinct close times), so its
    planner looks every open case up through ``ix_ru_fact_e1`` and then in the table; the partial index
    reads 2.8× faster (49,435 open cases at 10 M events: 43 → 15 ms per statement). SQLAlchemy renders
    no index hints for SQLite, so ``INDEXED BY`` goes into the compiled text (numbers and codes only).
    PostgreSQL already takes the partial index; MariaDB has none.
    """
    conn = reader.conn
    if conn.dialect.name != "sqlite":
        return conn.execute(stmt)
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    return conn.exec_driver_sql(sql.replace("FROM ru_fact", "FROM ru_fact INDEXED BY ix_ru_fact_open", 1))


def rankings(conn: Connection, reader: Reader, view: ViewState, now: dt.datetime) -> dict[str, Any]:
    period = period_bounds(view, now)
    rng = [("cur", to_us(period.start) or 0, to_us(period.cap) or 0)]
    rows: list[tuple[Any, ...]] = []
    for kind, kind_name, take in (("due", "due", 3), ("clo", "closed", 3), ("rep", "reported", 1)):
        for (_, town, dept), acc in reader.sums(kind, rng, ("town", "dept")).items():
            vals = (acc[0], acc[1], acc[2])
            rows.append((kind_name, town, dept, *(vals[:take] + (0.0,) * (3 - take))))
    f = ru_fact
    now_us = to_us(now) or 0
    q = (
        select(f.c.town, f.c.dept, func.count())
        .where(*_open_facts(reader, to_us(upto(now)) or 0), f.c.dl < now_us)
        .group_by(f.c.town, f.c.dept)
    )
    for town, dept, n in _open_rows(reader, q):
        rows.append(("overdue", town, dept, n, 0, 0))
    towns, depts = rankings_mod._fold(rows)
    town_names = rankings_mod._town_names(conn, view)
    for code in town_names:
        towns.setdefault(code, rankings_mod._empty())
    depts.pop(rankings_mod._DEPT_NONE, None)
    return {
        "towns": rankings_mod._rows(towns, town_names),
        "departments": rankings_mod._rows(depts, rankings_mod.dept_names(conn)),
    }


# --- backlog ---------------------------------------------------------------------------------------------


def backlog(
    conn: Connection, reader: Reader, view: ViewState, now: dt.datetime, names: Names
) -> dict[str, Any]:
    lvl = view_level(view)
    f = ru_fact
    cap, now_us = to_us(upto(now)) or 0, to_us(now) or 0
    child = f.c.town if lvl.child_level == "town" else f.c.village
    cols = [child.label("code"), func.count().label("backlog")]
    overdue = func.sum(_case(f.c.dl < now_us))
    cols.append(overdue.label("overdue"))
    for name, lo, hi in backlog_mod.AGE_BUCKETS:
        cond = f.c.rep <= now_us - lo * DAY_US
        if hi is not None:
            cond = and_(cond, f.c.rep > now_us - hi * DAY_US)
        cols.append(func.sum(_case(cond)).label(name))
    found = {
        r["code"]: dict(r)
        for r in _open_rows(reader, select(*cols).where(*_open_facts(reader, cap)).group_by(child)).mappings()
    }
    codes = set(found) | set(backlog_mod._children(conn, view))
    unit_rows = backlog_mod.ranked_unit_rows(found, codes, unit_names(conn, codes, names))
    od = func.sum(_case(f.c.dl < now_us))
    q = (
        select(
            f.c.grid.label("grid_code"),
            f.c.town.label("town_code"),
            od.label("overdue"),
            func.count().label("backlog"),
        )
        .where(*_open_facts(reader, cap))
        .group_by(f.c.grid, f.c.town)
        .having(od > 0)
        .order_by(od.desc(), f.c.grid)
        .limit(backlog_mod.TOP_GRIDS)
    )
    top = [dict(r) for r in _open_rows(reader, q).mappings()]
    grid_names = unit_names(conn, {r["grid_code"] for r in top}, names)
    for row in top:
        row["overdue"], row["backlog"] = int(row["overdue"]), int(row["backlog"])
        row["name_zh"], row["name_en"], _ = grid_names[row["grid_code"]]
    return {
        "level": lvl.level,
        "code": lvl.code,
        "child_level": lvl.child_level,
        "breadcrumb": [list(step) for step in breadcrumb(conn, view)],
        "age_buckets": [name for name, _, _ in backlog_mod.AGE_BUCKETS],
        "units": unit_rows,
        "top_grids": top,
        "cases": [],
    }


def _case(cond: Any) -> Any:
    from sqlalchemy import case

    return case((cond, 1), else_=0)


# --- trends ------------------------------------------------------------------------------------------------


def _label(bucket: int, unit: str) -> str:
    local = from_us(bucket).astimezone(SHANGHAI)
    key = local.strftime("%Y-%m-%d %H") if unit == "hour" else local.date().isoformat()
    return label_of(key, unit)


def trends(conn: Connection, reader: Reader, view: ViewState, now: dt.datetime) -> dict[str, Any]:
    period = period_bounds(view, now)
    unit = trends_mod.bucket_unit(period)
    by = "hour" if unit == "hour" else "day"
    ly_end = period.ly_start + (period.end - period.start)
    ranges = [
        ("cur", to_us(period.start) or 0, to_us(period.cap) or 0, by, unit),
        ("ly", to_us(period.ly_start) or 0, to_us(ly_end) or 0, by, unit),
        ("d90", to_us(trends_mod.d90_start(period)) or 0, to_us(upto(period.now)) or 0, "day", "day"),
    ]
    counts: trends_mod.SeriesCounts = {}
    for series, kind in (("reported", "rep"), ("closed", "clo")):
        for tag, s, e, by_, unit_ in ranges:
            for (_, bucket), acc in reader.sums(kind, [(tag, s, e)], by=by_).items():
                label = _label(int(bucket), unit_)
                counts[(series, tag, label)] = counts.get((series, tag, label), 0) + int(acc[0])
    out = trends_mod.series_panel(counts, period, unit)
    out.update(_mix(conn, reader, view, period))
    out["on_time_weekly"] = _on_time_weekly(reader, period)
    return out


def _mix(conn: Connection, reader: Reader, view: ViewState, period: Period) -> dict[str, Any]:
    if period.cap < upto(period.now):  # a finished period names departments as they stood at its end
        return trends_mod._mix(conn, view, period)
    rng = [("cur", to_us(period.start) or 0, to_us(period.cap) or 0)]
    tallies: list[dict[str, int]] = [{}, {}, {}]
    for (_, cat), acc in reader.sums("rep", rng, ("cat",)).items():  # by category and by department
        if acc[0]:  # apart: each reads a small projection, where both together need the finest
            tallies[0][cat] = tallies[0].get(cat, 0) + int(acc[0])
    for (_, dept), acc in reader.sums("rep", rng, ("dept",)).items():
        if acc[0]:
            tallies[2][dept] = tallies[2].get(dept, 0) + int(acc[0])
    for (_, src), acc in reader.sums("rsrc", rng, ("dept",)).items():
        if acc[0]:
            tallies[1][src] = tallies[1].get(src, 0) + int(acc[0])
    return trends_mod.mix_panel(conn, tallies)


def _on_time_weekly(reader: Reader, period: Period) -> dict[str, Any]:
    buckets = trends_mod.week_buckets(period)
    got = reader.sums("due", [(label, to_us(s) or 0, to_us(e) or 0) for label, s, e in buckets])
    rows = [got.get((label,), [0.0] * 5) for label, _, _ in buckets]
    return {
        "labels": [label for label, _, _ in buckets],
        "on_time_rate": [ratio(r[2], r[0]) for r in rows],
        "due": [int(r[0]) for r in rows],
    }


# --- alerts ------------------------------------------------------------------------------------------------


def alerts(conn: Connection, reader: Reader, view: ViewState, now: dt.datetime) -> list[dict[str, Any]]:
    limits = alerts_mod._thresholds(None)
    cap = upto(now)
    then = cap - dt.timedelta(minutes=limits.overdue_minutes)
    got = reader.state_at(
        [("overdue", "d1:d2")], [("now", to_us(cap) or 0), ("then", to_us(then) or 0)], ("town",)
    )
    counts: dict[str, dict[str, int]] = {}
    for (tag, town), n in got["overdue"].items():
        if n:
            counts.setdefault(str(town), {})[tag] = int(n)
    found = alerts_mod.surge_rows(conn, view, now, limits) + alerts_mod.overdue_alerts(counts, limits)
    return alerts_mod.finish_alerts(conn, found)


# --- the snapshot ------------------------------------------------------------------------------------------


def _consistent(rconn: Connection) -> Connection:
    """Every read of one snapshot sees the store as one moment: a sync committed by another process
    half-way through would otherwise mix two states of the rollups (and break :func:`_open_facts`).
    SQLite's read transaction and MariaDB's default isolation already give that."""
    if rconn.dialect.name == "postgresql":
        rconn.execution_options(isolation_level="REPEATABLE READ")
    return rconn


def build_snapshot_fast(conn: Connection, store: RollupStore, view: ViewState, now: dt.datetime) -> Snapshot:
    """``build_snapshot`` with the event figures from the rollups where they are exact; else the direct one.

    The caller syncs the rollups first (:meth:`RollupStore.sync`).
    """
    from dashboard.source.queries.snapshot import build_snapshot

    now = effective_now(view, now)
    with _consistent(store.engine.connect()) as rconn:
        meta = store.meta(rconn)
        if not eligible(view, now, meta):
            return build_snapshot(conn, view, now)
        _tune_session(conn)
        source_part = _beside(conn, lambda c: _source_part(c, view, now))
        reader = Reader(rconn, view)
        period = period_bounds(view, now)
        event_kpis = fast_kpis(reader, view, now)
        ranked = rankings(conn, reader, view, now)
        town_names = {row.code: (row.name_zh, row.name_en) for row in ranked["towns"]}
        version, newest = version_and_newest(conn, now)
        names: Names = {}
        backlog_panel = backlog(conn, reader, view, now, names)
        trend_panel = trends(conn, reader, view, now)
        ticker_rows = ticker(conn, view, now, town_names or None)
        alert_rows = alerts(conn, reader, view, now)
        other_kpis, patrol = source_part()
        return Snapshot(
            view=to_params(view),
            now=now.isoformat(),
            period_start=period.start.isoformat(),
            period_end=period.end.isoformat(),
            data_version=version,
            newest_data_at=newest.isoformat() if newest else None,
            kpis=_in_registry_order(event_kpis | other_kpis),
            rankings=ranked,
            backlog=backlog_panel,
            patrol=patrol,
            trends=trend_panel,
            ticker=ticker_rows,
            alerts=alert_rows,
        )
