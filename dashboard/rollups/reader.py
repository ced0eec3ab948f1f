"""Sums over the rollup tiers for one view's filters: the one way the fast path reads ``ru_agg``.

A range is cut into tier pieces (:func:`dashboard.rollups.buckets.pieces`); each piece is a branch of one
UNION ALL statement, compiled once per shape and filters (:func:`_template`) with only the numbers put
in per call. Python adds the pieces of each range up.
"""

from __future__ import annotations

import sqlite3
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    union_all,
)

from dashboard.core import domain
from dashboard.core.viewstate import ViewState
from dashboard.rollups.buckets import DAY_US, HOUR_US, INF_US, bucket_sql, day_floor, hour_floor, pieces
from dashboard.rollups.tables import (
    FLIGHT_CLASSES,
    FLIGHT_COLUMNS,
    KINDS,
    OPEN,
    OPEN_COLUMNS,
    TIERS,
    VILLAGE_ROW,
    best_projection,
    ru_agg,
    ru_eval,
    ru_fact,
)
from dashboard.source.queries.common import distinct_ranges, repeated_ranges

Sums = list[float]
Key = tuple[Any, ...]


def one_if(cond: Any) -> Any:
    """1 where ``cond`` holds, else 0: summed, a count of the rows where it holds."""
    return case((cond, 1), else_=0)


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


# SQLite takes ``WITH … AS MATERIALIZED`` from 3.35 on (older ones inline the events in flight, as before).
SQLITE_MATERIALIZES = sqlite3.sqlite_version_info >= (3, 35, 0)
# Groups the tiers keep by month only (villages) or not at all (grids): read from the facts
# (:meth:`Reader._unit_read`) unless the month tier carries the read (:meth:`Reader._villages_from_tiers`).
UNIT_DIMS = {"village", "grid"}
AS_OF_KINDS = ("rep", "clo", "due")  # the kinds whose sums hold as-of conditions (the rest are fixed)


class Reader:
    """Sums over the tiers for one view's filters, on the rollup store's connection.

    ``at`` is the instant (µs, exclusive) the as-of conditions of the direct queries are judged at, the
    effective moment's ``upto``; ``max_ts`` the latest transition the store holds. While some transition
    lies at or after an instant, the sums at that instant are corrected by the events in flight then
    (:meth:`_flight_delta`). A grid's view, and a village's with a category, a source or a department,
    read the unit's facts instead of the tiers (:meth:`_unit_read`): a few hundred to tens of thousands
    of rows, evaluated as of ``at`` in SQL. A village's view otherwise reads the tiers' ``tv`` rows.
    """

    def __init__(self, conn: Connection, view: ViewState, at: int = INF_US, max_ts: int = 0) -> None:
        self.conn = conn
        self.view = view
        self.at = at
        self.max_ts = max_ts
        self.unit = view.grid or view.village
        # What the panels of one snapshot read once and share (:func:`~dashboard.rollups.panels.open_counts`).
        self.shared: dict[tuple[Any, ...], Any] = {}

    def filters(self, table: Any, slotted: bool = False) -> list[Any]:
        """The view's filters (place, the eastern switch, categories, sources, departments) on a rollup
        table's columns (the tiers keep no grid: a grid's views read the facts). ``slotted``
        writes them as one slot filled in later (:meth:`_sql`) with the filters' text, itself compiled
        once per filter shape with a slot per code: one compiled statement serves every view, whatever
        its filters (compiling the ~100 branches of a snapshot per filter shape was ~0.2 s of a cold
        view)."""
        if slotted:
            return [text(f"__w_{table.name}__")]
        return self._conditions(table, slotted=False)

    def _conditions(self, table: Any, slotted: bool) -> list[Any]:
        """:meth:`filters` as conditions, with each code a slot when ``slotted``."""
        v, c = self.view, table.c

        def codes(name: str, values: Sequence[str]) -> list[Any]:
            if not slotted:
                return list(values)
            return [literal_column(f"__{name}{i}__", String) for i in range(len(values))]

        def dim(name: str) -> Any:
            # A village's or a grid's facts are read through the unit's own indexes: a category, a source
            # or a department among their filters is written so that no index of its own can serve it.
            # PostgreSQL otherwise ANDed a bitmap of the category's ~900,000 facts (10 M events) with
            # the grid's ~8,600 (a grid × category view 0.2 → 0.5 s once (category, key) indexes existed).
            col = c[name]
            return col + literal("") if self.unit and table is not ru_agg else col

        conds = []
        if v.eastern == "exclude":
            conds.append(c.town.not_in(sorted(domain.eastern_town_codes())))
        if v.towns:
            conds.append(c.town.in_(codes("ft", v.towns)))
        if v.categories:
            conds.append(dim("cat").in_(codes("fc", v.categories)))
        if v.sources:
            conds.append(dim("src").in_(codes("fs", v.sources)))
        if v.depts:
            conds.append(dim("dept").in_(codes("fd", v.depts)))
        if v.grid and "grid" in c:
            conds.append(c.grid == codes("fg", [v.grid])[0])
        elif v.village and "village" in c:
            conds.append(c.village == codes("fv", [v.village])[0])
            if table is ru_agg:  # the village index's own predicate, in its words: SQLite cannot infer it
                conds.append(VILLAGE_ROW)
        return conds

    def _where(self, dialect: Any, table: Any) -> str:
        """The SQL text of the view's filters on ``table`` (codes as slots), compiled once per shape."""

        def build() -> Any:
            conds = self._conditions(table, slotted=True)
            return and_(*conds) if conds else literal_column("1") == literal_column("1")

        return "(" + _template(dialect, ("where", table.name, tuple(self._filter_key())), build) + ")"

    def _filter_slots(self) -> dict[str, str]:
        """The codes of :meth:`filters` (``slotted``) as SQL string literals, by slot name."""
        v = self.view
        named = [("ft", v.towns), ("fc", v.categories), ("fs", v.sources), ("fd", v.depts)]
        named += [("fg", (v.grid,) if v.grid else ()), ("fv", (v.village,) if v.village else ())]
        return {
            f"{name}{i}": "'" + code.replace("'", "''") + "'"
            for name, values in named
            for i, code in enumerate(values)
        }

    def _needed(self, group: Sequence[str]) -> str:
        """The dimensions the view's filters and the grouping need a tier row to keep."""
        v = self.view
        need = ""
        if v.towns or "town" in group:
            need += "t"
        elif v.eastern == "exclude":  # the town reduced to the switch (a projection with "t" keeps it too)
            need += "e"
        if v.categories or "cat" in group:
            need += "c"
        if v.depts or "dept" in group:
            need += "d"
        if v.sources or "src" in group:
            need += "s"
        if "village" in group or (v.village and not v.grid):
            need += "v"
        return need

    def _unit_facts(
        self,
        kinds: Sequence[str],
        need: str,
        ranges: Sequence[tuple[str, int, int]] = (),
        by: str | None = None,
    ) -> bool:
        """Does this view's read of ``kinds`` go to the unit's facts (:meth:`_unit_read`)? A grid's
        always: no tier keeps grids. A village's when the day tier has no projection of some kind that
        keeps the village with the view's other filters (``tv`` keeps the town and the eastern switch;
        a category, a source or a department with a village is no day tier's), unless the month tier
        carries the read's whole months (``tvc``, ``tvs``; not for a series by day or hour): its days
        are then facts corrected by the events in flight, two reads for one, cheaper than the facts of
        every range only when some range holds a whole month."""
        if not self.unit:
            return False
        if self.view.grid:
            return True
        if all(best_projection(kind, "d", need) is not None for kind in kinds):
            return False
        return by in ("day", "hour") or not self._months_carry(kinds, ranges, need)

    @staticmethod
    def _months_carry(kinds: Sequence[str], ranges: Sequence[tuple[str, int, int]], need: str) -> bool:
        """Does the month tier keep every kind with ``need``, and does some range hold a whole month?"""
        if any(best_projection(kind, "m", need) is None for kind in kinds):
            return False
        return any(part[0] == "m" for _, s, e in ranges for part in pieces(s, e, "m"))

    def in_flight(self, at: int) -> bool:
        """Does some event of the store change an as-of condition at or after ``at``?"""
        return self.max_ts >= at

    def sums(
        self,
        kind: str,
        ranges: Sequence[tuple[str, int, int]],
        group: Sequence[str] = (),
        *,
        by: str | None = None,
        at: int | None = None,
        counts_only: bool = False,
    ) -> dict[Key, Sums]:
        """{(tag, *group values[, bucket]): [n, a1 … a4]} for ``kind`` over each tagged range [s, e).

        ``by`` = "hour" or "day" adds the start (µs) of each row's hour or local day; "month" the start of
        the local day or month of each piece (whole months from the month tier), for a monthly series. ``at`` judges the
        as-of conditions (and the department, ``dept_at``) at another instant than the reader's.
        """
        got = self.multi((kind,), ranges, group, by=by, at=at, counts_only=counts_only)
        return {k[1:]: v for k, v in got.items()}

    def multi(
        self,
        kinds: Sequence[str],
        ranges: Sequence[tuple[str, int, int]],
        group: Sequence[str] = (),
        *,
        by: str | None = None,
        at: int | None = None,
        counts_only: bool = False,
        widths: Mapping[str, int] | None = None,
    ) -> dict[Key, Sums]:
        """:meth:`sums` for several kinds, keyed (kind, tag, …): one statement per set of kinds that read
        the same projections, and the corrections of the events in flight at ``at`` (not needed when
        only the counts ``n`` are read without a department). ``widths`` says how many of a kind's sums
        (n, a1 …) the caller reads, where it reads fewer than five: read from the facts, the others
        are 0, so the read names only the columns a covering index holds (the rankings).

        A range with the bounds of an earlier one is read once and its sums copied (a year's previous
        period is last year, and so is its same period last year)."""
        unique = distinct_ranges(ranges)
        if len(unique) < len(ranges):
            got = self.multi(kinds, unique, group, by=by, at=at, counts_only=counts_only, widths=widths)
            return _with_repeated_ranges(got, ranges)
        at = self.at if at is None else at
        need = self._needed(group)
        by_unit = bool(set(group) & UNIT_DIMS) and not self._villages_from_tiers(kinds, ranges, group, need)
        if by_unit or self._unit_facts(kinds, need, ranges, by):
            return self._unit_read(kinds, ranges, group, by, at, widths or {})
        classes: dict[tuple[str | None, ...], list[str]] = {}
        for kind in kinds:
            chosen = tuple(best_projection(kind, tier, need) for tier in TIERS)
            classes.setdefault(chosen, []).append(kind)
        out: dict[Key, Sums] = {}
        for chosen, class_kinds in classes.items():
            out.update(self._read(class_kinds, dict(zip(TIERS, chosen, strict=True)), ranges, group, by))
        flagged = [k for k in kinds if k in AS_OF_KINDS]
        if flagged and self.in_flight(at) and not (counts_only and "dept" not in group):
            sql = self._flight_delta(flagged, ranges, group, by, at)
            for key, acc in _collect(self.conn.exec_driver_sql(sql), len(group), by).items():
                dest = out.setdefault(key, [0.0] * 5)
                for i, v in enumerate(acc):
                    dest[i] += v
        return out

    def _villages_from_tiers(
        self, kinds: Sequence[str], ranges: Sequence[tuple[str, int, int]], group: Sequence[str], need: str
    ) -> bool:
        """Is a read grouped by village (a town's villages ranked) better summed from the month tier's
        ``tvd`` rows than from the town's facts? Only when every kind has a month projection for the
        view's filters and some range holds a whole month: the days at the ends are then read from the
        facts (not index-only), while a range of days alone reads the facts through the covering
        (town, key) indexes faster (:meth:`_unit_read`)."""
        return "grid" not in group and self._months_carry(kinds, ranges, need)

    def _read(
        self,
        kinds: Sequence[str],
        chosen: dict[str, str | None],
        ranges: Sequence[tuple[str, int, int]],
        group: Sequence[str],
        by: str | None,
    ) -> dict[Key, Sums]:
        """Plan: each range is cut into pieces (:func:`pieces`). Without ``by`` the pieces are summed by
        the database (:meth:`_read_summed`); with ``by`` each stretch of a tier is one branch grouped by
        bucket, and the fact edges of each range are grouped by bucket too. Python adds the pieces of a
        range up."""
        tiers = "".join(t for t in ("m", "d", "h") if chosen[t] is not None)
        if by == "hour":  # an hourly series never reads the day tiers (the day view spans ≤ 24 h)
            tiers = tiers.replace("m", "").replace("d", "")
        elif by == "day":  # ("month": the month tier's buckets are months, the ends' are days)
            tiers = tiers.replace("m", "")
        plans = {tag: pieces(start, end, tiers, hourly=by == "hour") for tag, start, end in ranges}
        if by is None:
            return self._read_summed(kinds, chosen, plans, group)
        branches = []
        for tier in tiers:  # one branch per stretch of buckets: each is one range scan of the key
            for lo, hi in _merged([(a, b) for parts in plans.values() for t, a, b in parts if t == tier]):
                branches.append(self._tier_branch(kinds, tier, chosen[tier] or "", group, lo, hi))
        # The facts of each range's edges (all of its days when no day tier fits) grouped by bucket:
        # one branch per stretch, not one per day (a year by day would be 365).
        for i, parts in enumerate(plans.values()):
            for lo, hi in _merged([(a, b) for t, a, b in parts if t == "f"]):
                branches += [self._fact_branch(kind, i, lo, hi, group, by) for kind in kinds]
        rows = self._run(branches, len(group))
        out: dict[Key, Sums] = {}
        for index, (tag, parts) in enumerate(plans.items()):
            edges = [(b, got) for (tt, b), got in rows.items() if tt == f"f{index}"]
            for part in [*parts, None]:  # None: this range's fact edges by bucket
                if part is None:
                    found = edges
                elif part[0] == "f":
                    continue
                else:
                    t, a, b = part
                    found = [
                        (bucket, got) for (tt, bucket), got in rows.items() if tt == t and a <= bucket < b
                    ]
                for bucket, got in found:
                    for key, acc in got.items():
                        dest_key: Key = (key[0], tag, *key[1:])
                        dest_key += (hour_floor(bucket) if by == "hour" else day_floor(bucket),)
                        _add(out.setdefault(dest_key, [0.0] * 5), acc)
        return out

    def _read_summed(
        self,
        kinds: Sequence[str],
        chosen: dict[str, str | None],
        plans: Mapping[str, list[tuple[str, int, int]]],
        group: Sequence[str],
    ) -> dict[Key, Sums]:
        """The pieces of each range summed by the database, each stretch of buckets read once.

        The pieces of different ranges overlap: the state counts at ~30 instants are ranges [t, ∞), each
        a stretch of days to its month's end and months to ∞; a period overlaps its spark buckets. Summed
        piece by piece, a day was read once per instant before it (the town × category rows of a
        category-and-eastern view's state counts: 36 → 23 ms of SQLite's CPU for three years on the
        294,000-event sample). So each tier's pieces (and the fact edges, adjacent ones joined) are cut
        at every piece's ends into disjoint segments, one branch each, and a piece is the sum of its
        segments: every bucket is read once, and a range no tier carries is one branch, not 365."""
        plans = {tag: _joined_edges(parts) for tag, parts in plans.items()}
        cuts = _segments(part for parts in plans.values() for part in parts)
        numbered = {seg: i for i, seg in enumerate(seg for segs in cuts.values() for seg in segs)}
        branches = []
        for (t, a, b), i in numbered.items():
            if t == "f":
                branches += [self._fact_branch(kind, i, a, b, group) for kind in kinds]
            else:
                branches.append(self._tier_branch(kinds, t, chosen[t] or "", group, a, b, number=i))
        rows = self._run(branches, len(group))
        bounds = {t: sorted({x for _, a, b in segs for x in (a, b)}) for t, segs in cuts.items()}
        out: dict[Key, Sums] = {}
        for tag, parts in plans.items():
            for t, a, b in parts:
                edges = bounds[t]
                for k in range(bisect_left(edges, a), bisect_left(edges, b)):
                    seg = (t, edges[k], edges[k + 1])
                    if seg not in numbered:  # a gap between the pieces of other ranges
                        continue
                    for key, acc in rows.get(("p", numbered[seg]), {}).items():
                        _add(out.setdefault((key[0], tag, *key[1:]), [0.0] * 5), acc)
        return out

    def _run(self, branches: Sequence[str], width: int) -> dict[tuple[str, int], dict[Key, Sums]]:
        """The branches as one UNION ALL statement: {(tier or "p", bucket or piece): {(kind, *group): sums}}."""
        rows: dict[tuple[str, int], dict[Key, Sums]] = {}
        if not branches:
            return rows
        # All rows at once: a view reads a few thousand, and fetching them one by one through the
        # driver's cursor cost more than adding them up.
        for row in self.conn.exec_driver_sql(" UNION ALL ".join(branches)).fetchall():
            key: Key = (str(row[1]), *row[3 : 3 + width])
            acc = rows.setdefault((str(row[0]), int(row[2])), {}).setdefault(key, [0.0] * 5)
            for i, v in enumerate(row[3 + width :]):
                acc[i] += float(v or 0)
        return rows

    def _sql(self, key: tuple[Any, ...], build: Callable[[], Any], **numbers: int) -> str:
        """A branch as SQL text: its statement is built and compiled once per shape (:func:`_template`),
        then only the numbers are put in. Building a Core statement per branch cost ~1.4 ms of Python
        each, over a hundred per snapshot, and the Python time is the other thread's time (the GIL)."""
        dialect = self.conn.dialect
        sql = _template(dialect, key, build)
        for table in (ru_agg, ru_fact, ru_eval):
            slot = f"__w_{table.name}__"
            if slot in sql:
                sql = sql.replace(slot, self._where(dialect, table))
        for name, value in numbers.items():
            sql = sql.replace(f"__{name}__", str(int(value)))
        for name, code in self._filter_slots().items():
            sql = sql.replace(f"__{name}__", code)
        return sql

    def _filter_key(self) -> Iterator[Any]:
        """The shape of the view's filters: which ones, how many codes each (the codes are slots)."""
        v = self.view
        yield bool(v.village), bool(v.grid), v.eastern == "exclude"
        yield len(v.towns), len(v.categories), len(v.sources), len(v.depts)

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
            q = select(*cols).where(*where, *self.filters(a, slotted=True))
            return q.group_by(a.c.kind, *([a.c.b] if number is None else []), *[a.c[g] for g in group])

        key = ("tier", tuple(kinds), tier, p, tuple(group), number is None)
        return self._sql(key, build, lo=lo, hi=hi, n=number or 0)

    def _fact_branch(
        self, kind: str, number: int, s: int, e: int, group: Sequence[str], by: str | None = None
    ) -> str:
        """A sub-hour (or, for projections a tier lacks, sub-day or longer) edge, summed from the per-event
        rows (evaluations from ``ru_eval``); ``number`` tells the edges apart. With ``by``, grouped by hour
        or local day, labelled ``f<number>`` (the number of the range)."""

        def build() -> Any:
            lo, hi = _slot("lo"), _slot("hi")
            if kind == "eva":
                t = ru_eval
                key = t.c.at
                sums: list[Any] = [func.count(), func.sum(t.c.satisfied)]
                where = [key >= lo, key < hi, *self.filters(t, slotted=True)]
            else:
                t = ru_fact
                key_name, cols = KINDS.get(kind, ("clo" if kind == "hst" else "rep", (None,)))
                key = t.c[key_name]
                where = [key >= lo, key < hi, *self.filters(t, slotted=True)]
                if kind == "due":
                    where.append(t.c.due_ok == 1)
                if kind == "hst":
                    where.append(t.c.hbin.is_not(None))
                if kind == "clo":
                    has_hours = t.c.hours.is_not(None)
                    sums = [
                        func.count(),
                        func.sum(func.coalesce(t.c.hours, 0.0)),
                        func.sum(one_if(has_hours)),
                        func.sum(t.c.reworked),
                        func.sum(t.c.local_level),
                    ]
                else:
                    sums = [func.count() if c is None else func.sum(t.c[c]) for c in cols]
            sums += [literal(0)] * (5 - len(sums))
            if by is None:
                head: list[Any] = [literal("p").label("tier"), literal(kind).label("kind")]
                bucket: Any = _slot("n")
                group_cols = []
            else:
                head = [literal(f"f{number}").label("tier"), literal(kind).label("kind")]
                bucket = bucket_sql("h" if by == "hour" else "d", key)
                group_cols = [bucket]
            cols_: list[Any] = [*head, bucket.label("bucket")]
            for g in group:
                col: Any = cast(t.c.hbin, String(8)) if g == "bin" else t.c[g]
                group_cols.append(col)
                cols_.append(col.label(g))
            q = select(*cols_, *[x.label(f"s{i}") for i, x in enumerate(sums)]).where(*where)
            return q.group_by(*group_cols) if group_cols else q

        shape = ("fact", kind, tuple(group), by, number if by else None)
        return self._sql(shape, build, lo=s, hi=e, n=number)

    def reported_by(self, ranges: Sequence[tuple[str, int, int]]) -> dict[tuple[str, str, str], int]:
        """{(tag, town, grid): facts reported in [s, e)} within the view: the surge alerts' counts, one
        statement, compiled once: a branch per tagged range, each a range of the reported key.

        Not one join of the facts with a list of the ranges: PostgreSQL cannot estimate that join and
        either scanned every fact (0.1 ms of index ranges, ~30 ms at 30,000 facts) or started parallel
        workers for it. Grouped by town and grid at once: the towns' counts are their grids' sums."""

        def build() -> Any:
            f = ru_fact
            return union_all(
                *(
                    select(literal(tag, String(16)).label("tag"), f.c.town, f.c.grid, func.count())
                    .where(f.c.rep >= s, f.c.rep < e, *self.filters(f, slotted=True))
                    .group_by(f.c.town, f.c.grid)
                    for tag, s, e in _slotted(ranges)
                )
            )

        key = ("reported_by", tuple(tag for tag, _, _ in ranges))
        sql = self._sql(key, build, **_range_numbers(ranges))
        return {(str(t), str(town), str(grid)): int(n) for t, town, grid, n in self.conn.exec_driver_sql(sql)}

    def state_at(
        self, pairs: Sequence[tuple[str, str]], tags: Sequence[tuple[str, int]], group: Sequence[str] = ()
    ) -> dict[str, dict[Key, float]]:
        """For each (name, "k1:k2"): #(k2 ≥ t) − #(k1 ≥ t) per tag and group (see dashboard.rollups.facts)."""
        kinds = sorted({k for _, pair in pairs for k in pair.split(":")})
        if self._unit_facts(kinds, self._needed(group)):
            got = self._unit_counts(kinds, tags, group)
        else:
            got = self.multi(kinds, [(tag, t, INF_US + DAY_US) for tag, t in tags], group, counts_only=True)
        out: dict[str, dict[Key, float]] = {}
        for name, pair in pairs:
            lo, hi = pair.split(":")
            keys = {k[1:] for k in got if k[0] in (lo, hi)}
            zero = [0.0]
            out[name] = {k: got.get((hi, *k), zero)[0] - got.get((lo, *k), zero)[0] for k in keys}
        return out

    def _unit_counts(
        self, kinds: Sequence[str], tags: Sequence[tuple[str, int]], group: Sequence[str]
    ) -> dict[Key, Sums]:
        """:meth:`multi`'s counts of the state keys ``kinds`` at or after each instant, for a village's or
        a grid's view: the unit's keys read once and counted in Python. Why: in SQL each instant was a
        pass over the unit's facts (a join of facts × instants, ~30 instants × 6 keys × a few thousand
        facts), ~0.7 s of a village's cold view; these keys hold no as-of condition."""

        def build() -> Any:
            f = ru_fact
            cols = [f.c[g] for g in group] + [f.c[k] for k in kinds]
            return select(*cols).where(*self.filters(f, slotted=True))

        width = len(group)
        found: dict[Key, list[list[int]]] = {}
        for row in self.conn.exec_driver_sql(self._sql(("unit_keys", tuple(kinds), tuple(group)), build)):
            columns = found.setdefault(tuple(row[:width]), [[] for _ in kinds])
            for values, v in zip(columns, row[width:], strict=True):
                if v is not None:
                    values.append(int(v))
        out: dict[Key, Sums] = {}
        for key, columns in found.items():
            for kind, values in zip(kinds, columns, strict=True):
                values.sort()
                end = bisect_left(values, INF_US + DAY_US)
                for tag, t in tags:
                    n = end - bisect_left(values, t)
                    if n:
                        out[(kind, tag, *key)] = [float(n), 0.0, 0.0, 0.0, 0.0]
        return out

    # --- as of an instant: the events in flight, and the views of a village or a grid ---------------------

    def flight(self, at: Any, columns: Sequence[str] = FLIGHT_COLUMNS, slotted: bool = False) -> Any:
        """The facts within the view in flight at ``at`` (lo < at <= hi): those whose as-of conditions at
        ``at`` differ from their current ones. One index range per length class (``ix_ru_fact_span``).

        Materialized on SQLite: its planner pushed the outer conditions (``rep < cap``) into each branch
        and then preferred a (unit, rep) or (town, rep) index to the span's, so each of the 25 branches
        read every fact of the view's unit (a village's as-of backlog 43 ms a statement, 2.8 ms so)."""
        f = ru_fact
        branches = [
            select(*(f.c[name] for name in columns)).where(
                f.c.span == k,
                f.c.lo >= at - (HOUR_US << k),
                f.c.lo < at,
                f.c.hi >= at,
                *self.filters(f, slotted),
            )
            for k in range(FLIGHT_CLASSES)
        ]
        found = union_all(*branches).cte("fl")
        return found.prefix_with("MATERIALIZED", dialect="sqlite") if SQLITE_MATERIALIZES else found

    def _flight_delta(
        self, kinds: Sequence[str], ranges: Sequence[tuple[str, int, int]], group: Sequence[str],
        by: str | None, at: int,
    ) -> str:  # fmt: skip
        """The statement of what the events in flight at ``at`` add to the current-state sums to give the
        sums as of ``at``: their as-of values (grouped by their department then) minus their current
        ones (rows as :func:`_collect` reads them)."""

        def build() -> Any:
            fl = self.flight(_slot("at"), _flight_reads(kinds, group), slotted=True)
            branches = []
            for kind in kinds:
                branches.append(
                    _fact_select(fl, kind, _slotted(ranges), group, by, _slot("at"), bounded=True)
                )
                branches.append(_fact_select(fl, kind, _slotted(ranges), group, by, None, bounded=True))
            return union_all(*branches)

        key = ("flight", tuple(kinds), tuple(group), by, tuple(tag for tag, _, _ in ranges))
        return self._sql(key, build, at=at, **_range_numbers(ranges))

    def sums_as_of(self, kind: str, ranges: Sequence[tuple[str, int, int, int]]) -> dict[Key, Sums]:
        """{(tag,): sums} of ``kind`` over each tagged range [s, e) as of its own instant ``at`` (the
        tag, s, e, at of each): what :meth:`sums` gives for one range at a time, in two statements
        for them all, the tiers' sums and the corrections of the events in flight at each instant."""
        if self._unit_facts([kind], self._needed(())):  # (evaluated as of one instant in SQL: a read each)
            out: dict[Key, Sums] = {}
            for tag, s, e, at in ranges:
                out.update(self.sums(kind, [(tag, s, e)], at=at))
            return out
        got = self.multi((kind,), [(tag, s, e) for tag, s, e, _ in ranges], counts_only=True)
        flying = [
            self._flight_delta([kind], [(tag, s, e)], (), None, at)
            for tag, s, e, at in ranges
            if kind in AS_OF_KINDS and self.in_flight(at)
        ]
        if flying:  # each correction a derived table (it begins with its WITH), the tags tell them apart
            sql = " UNION ALL ".join(f"SELECT * FROM ({q}) q{i}" for i, q in enumerate(flying))
            for key, acc in _collect(self.conn.exec_driver_sql(sql), 0, None).items():
                _add(got.setdefault(key, [0.0] * 5), acc)
        return {k[1:]: v for k, v in got.items()}

    def _unit_read(
        self, kinds: Sequence[str], ranges: Sequence[tuple[str, int, int]], group: Sequence[str],
        by: str | None, at: int, widths: Mapping[str, int],
    ) -> dict[Key, Sums]:  # fmt: skip
        """The sums of a village's or a grid's view, as of ``at``, from the unit's facts: each range one
        range of the unit's (unit, key) index.

        Also the sums grouped by village or grid (a town's villages ranked), which no tier keeps: a
        town's facts of the ranges through the (town, key) indexes, the keys read as they are."""
        unit = bool(self.unit)

        def build() -> Any:
            branches = []
            for kind in kinds:
                table = ru_eval if kind == "eva" else ru_fact
                q = _fact_select(table, kind, _slotted(ranges), group, by, _slot("at"), widths.get(kind, 5))
                branches.append(q.where(*self.filters(table, slotted=True)))
            return union_all(*branches)

        shape = tuple(widths.get(kind, 5) for kind in kinds)
        key = ("unit", unit, tuple(kinds), shape, tuple(group), by, tuple(tag for tag, _, _ in ranges))
        sql = self._sql(key, build, at=at, **_range_numbers(ranges))
        return _collect(self.conn.exec_driver_sql(sql), len(group), by)

    def open_at(self, cap: int, *, shared: bool = False) -> Any:
        """The facts within the view open at ``cap`` (a subquery: event_id, town, dept as of ``cap``,
        village, grid, rep, dl): those still open (``ix_ru_fact_open``), and, while some transition lies at or after
        ``cap``, the ones in flight then that were still open. ``shared``: as a CTE, for a statement
        that reads them more than once."""
        f = ru_fact
        flying = self.in_flight(cap)
        dept = case((f.c.hide >= cap, literal("NONE")), else_=f.c.dept) if flying else f.c.dept
        cols = [f.c.event_id, f.c.town, dept.label("dept"), f.c.village, f.c.grid, f.c.rep, f.c.dl]
        still = select(*cols).where(OPEN, f.c.rep < cap, *self.filters(f))
        if not flying:
            return still.cte("o") if shared else still.subquery("o")
        fl = self.flight(cap, OPEN_COLUMNS)
        fl_dept = case((fl.c.hide >= cap, literal("NONE")), else_=fl.c.dept)
        then = select(
            fl.c.event_id, fl.c.town, fl_dept.label("dept"), fl.c.village, fl.c.grid, fl.c.rep, fl.c.dl
        ).where(fl.c.e1 >= cap, fl.c.e1 < INF_US, fl.c.rep < cap)
        both = union_all(still, then)
        return both.cte("o") if shared else both.subquery("o")

    def open_rows(self, stmt: Any, cap: int) -> Any:
        """Run a statement over :meth:`open_at` through the open facts' partial covering index.

        Why the text: SQLite's statistics average two rows per ``e1`` (mostly distinct close times), so its
        planner looks every open case up through ``ix_ru_fact_e1`` and then in the table; the partial index
        reads 2.8× faster (49,435 open cases at 10 M events: 43 → 15 ms per statement). SQLAlchemy renders
        no index hints for SQLite, so ``INDEXED BY`` goes into the compiled text (numbers and codes only).
        PostgreSQL already takes the partial index; MariaDB has none. A unit's view reads its own index,
        and the events in flight come first in the text (a WITH clause): both run as planned.
        """
        conn = self.conn
        if conn.dialect.name != "sqlite" or self.unit or self.in_flight(cap):
            return conn.execute(stmt)
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        return conn.exec_driver_sql(sql.replace("FROM ru_fact", "FROM ru_fact INDEXED BY ix_ru_fact_open", 1))


def _add(dest: Sums, acc: Sums) -> None:
    for i, v in enumerate(acc):
        dest[i] += v


def _segments(parts: Iterable[tuple[str, int, int]]) -> dict[str, list[tuple[str, int, int]]]:
    """Per tier (or "f", the facts), its pieces cut at every piece's ends into disjoint segments, in
    order, each inside some piece: the stretches a set of overlapping pieces reads, each once."""
    by_tier: dict[str, list[tuple[int, int]]] = {}
    for t, a, b in parts:
        by_tier.setdefault(t, []).append((a, b))
    out: dict[str, list[tuple[str, int, int]]] = {}
    for t, spans in by_tier.items():
        ends = sorted({x for span in spans for x in span})
        covered = _merged(spans)
        segs = []
        for a, b in pairwise(ends):
            i = bisect_right(covered, (a, INF_US * 2)) - 1  # the merged span starting at or before a
            if i >= 0 and covered[i][1] >= b:
                segs.append((t, a, b))
        out[t] = segs
    return out


def _with_repeated_ranges(got: dict[Key, Sums], ranges: Sequence[tuple[str, int, int]]) -> dict[Key, Sums]:
    """``got`` (keyed kind, tag, …) read over ``distinct_ranges``, with the sums of each range left
    out copied from the earlier range of the same bounds."""
    copies: dict[str, list[str]] = {}
    for tag, kept in repeated_ranges(ranges).items():
        copies.setdefault(kept, []).append(tag)
    out = dict(got)
    for key, acc in got.items():
        for tag in copies.get(str(key[1]), ()):
            out[(key[0], tag, *key[2:])] = list(acc)
    return out


def _joined_edges(parts: Sequence[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """``parts`` (in order) with each run of adjacent fact edges joined into one."""
    out: list[tuple[str, int, int]] = []
    for part in parts:
        if out and part[0] == "f" and out[-1][0] == "f" and out[-1][2] == part[1]:
            out[-1] = ("f", out[-1][1], part[2])
        else:
            out.append(part)
    return out


def _slotted(ranges: Sequence[tuple[str, int, int]]) -> list[tuple[str, Any, Any]]:
    """The tagged ranges with their bounds as slots (``__s0__`` …), for a statement compiled once."""
    return [(tag, _slot(f"s{i}"), _slot(f"e{i}")) for i, (tag, _, _) in enumerate(ranges)]


def _range_numbers(ranges: Sequence[tuple[str, int, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, (_, s, e) in enumerate(ranges):
        out[f"s{i}"], out[f"e{i}"] = s, e
    if ranges:  # the span of them all (a ``bounded`` read's first filter)
        out["rlo"], out["rhi"] = min(s for _, s, _ in ranges), max(e for _, _, e in ranges)
    return out


def _ranges_table(ranges: Sequence[tuple[str, Any, Any]]) -> Any:
    rows = [select(literal(tag, String(16)).label("tag"), s.label("s"), e.label("e")) for tag, s, e in ranges]
    return (rows[0] if len(rows) == 1 else union_all(*rows)).subquery("r")


def _as_of_sums(kind: str, t: Any, at: Any) -> tuple[list[Any], list[Any]]:
    """(conditions, [n, a1 … a4]) of ``kind`` over fact rows ``t``: the direct family's as-of aggregates
    at ``at`` (see dashboard.rollups.facts), or with ``at`` None the current flags the tiers hold."""
    c = t.c
    zero = literal(0)
    if kind == "eva":
        return [], [func.count(), func.sum(c.satisfied), zero, zero, zero]
    if kind in ("e1", "d1", "d2", "s1", "s2"):
        return [c[kind].is_not(None)], [func.count(), zero, zero, zero, zero]
    if kind == "hst":
        return [c.hbin.is_not(None)], [func.count(), zero, zero, zero, zero]
    if at is None:
        if kind == "rep":
            return [], [
                func.count(),
                *(func.sum(c[x]) for x in ("collected", "cohort_closed", "dispatched", "returned")),
            ]
        if kind == "clo":
            return [c.clo.is_not(None)], [func.count(), func.sum(func.coalesce(c.hours, 0.0)),
                                          func.sum(one_if(c.hours.is_not(None))), func.sum(c.reworked),
                                          func.sum(c.local_level)]  # fmt: skip
        return [c.dl.is_not(None), c.due_ok == 1], [
            func.count(),
            func.sum(c.due_closed),
            func.sum(c.on_time),
            zero,
            zero,
        ]
    collected = or_(c.rej.is_(None), c.rej >= at)
    closed = c.clo < at
    if kind == "rep":
        dispatched = c.disp < at
        return [], [func.count(), func.sum(one_if(collected)), func.sum(one_if(and_(closed, collected))),
                    func.sum(one_if(dispatched)), func.sum(one_if(and_(dispatched, c.ret < at)))]  # fmt: skip
    if kind == "clo":
        return [c.clo.is_not(None)], [func.count(), func.sum(func.coalesce(c.hours, 0.0)),
                                      func.sum(one_if(c.hours.is_not(None))), func.sum(one_if(c.rw < at)),
                                      func.sum(c.local_level)]  # fmt: skip
    return [c.dl.is_not(None), c.due_any == 1, collected], [
        func.count(),
        func.sum(one_if(closed)),
        func.sum(one_if(and_(closed, c.clo <= c.dl))),
        zero,
        zero,
    ]


# The columns of a fact in flight that :func:`_as_of_sums` reads for each kind (now and as of then): the
# corrections' CTE keeps these and the groups only. All of ``FLIGHT_COLUMNS`` made each row ~167 bytes, and
# writing ~40,000 of them per instant was a third of a cohort correction's time at 10 M events.
_AS_OF_READS = {
    "rep": ("rep", "collected", "cohort_closed", "dispatched", "returned", "rej", "clo", "disp", "ret"),
    "clo": ("clo", "hours", "reworked", "local_level", "rw"),
    "due": ("dl", "due_ok", "due_closed", "on_time", "due_any", "rej", "clo"),
}


def _flight_reads(kinds: Sequence[str], group: Sequence[str]) -> tuple[str, ...]:
    """The columns the corrections of ``kinds`` grouped by ``group`` read of the events in flight."""
    grouped = ["hbin" if g == "bin" else g for g in group] + (["hide"] if "dept" in group else [])
    return tuple(dict.fromkeys([*(c for k in kinds for c in _AS_OF_READS[k]), *grouped]))


def _key_column(kind: str, t: Any) -> Any:
    if kind == "eva":
        return t.c.at
    return t.c[KINDS[kind][0] if kind in KINDS else "clo"]


def _fact_select(
    t: Any, kind: str, ranges: Sequence[tuple[str, Any, Any]], group: Sequence[str], by: str | None,
    at: Any, width: int = 5, *, bounded: bool = False,
) -> Any:  # fmt: skip
    """(kind, tag, *group[, bucket], n, a1 … a4) of ``kind`` over the rows ``t`` per tagged range: as of
    ``at`` (the department grouped as dept_at then), or the current flags negated (``at`` None). Only
    the first ``width`` sums are summed, the others are 0.

    ``bounded``: the rows are first kept to the span of all the ranges (slots ``rlo``, ``rhi``): the
    events in flight (~15,000 at 10 M events) are joined with every range by a nested loop, and most
    lie outside them all (reported long before, closed since)."""
    r = _ranges_table(ranges)
    key = _key_column(kind, t)
    conds, sums = _as_of_sums(kind, t, at)
    if bounded:
        conds = [key >= _slot("rlo"), key < _slot("rhi"), *conds]
    sums = sums[:width] + [literal(0)] * (len(sums) - width)
    if at is None:
        sums = [-x for x in sums]
    cols: list[Any] = [literal(kind, String(8)).label("kind"), r.c.tag]
    grouping: list[Any] = [r.c.tag]
    for g in group:
        if g == "bin":
            col: Any = cast(t.c.hbin, String(8))
        elif g == "dept" and at is not None and "hide" in t.c:
            col = case((t.c.hide >= at, literal("NONE")), else_=t.c.dept)
        else:
            col = t.c[g]
        cols.append(col.label(g))
        grouping.append(col)
    if by is not None:
        bucket = bucket_sql("h" if by == "hour" else "d", key)
        cols.append(bucket.label("bucket"))
        grouping.append(bucket)
    cols += [x.label(f"s{i}") for i, x in enumerate(sums)]
    q = select(*cols).select_from(t.join(r, and_(key >= r.c.s, key < r.c.e)))
    return q.where(*conds).group_by(*grouping)


def _collect(rows: Any, width: int, by: str | None) -> dict[Key, Sums]:
    """{(kind, tag, *group[, bucket]): sums} from the rows of :func:`_fact_select` statements."""
    out: dict[Key, Sums] = {}
    extra = 1 if by is not None else 0
    for row in rows.fetchall():
        key: Key = (str(row[0]), str(row[1]), *row[2 : 2 + width])
        if extra:
            key += (int(row[2 + width]),)
        acc = out.setdefault(key, [0.0] * 5)
        for i, v in enumerate(row[2 + width + extra :]):
            acc[i] += float(v or 0)
    return out


# (name, "k1:k2") of the state counts :meth:`Reader.state_at` answers (see dashboard.rollups.facts).
STATE_PAIRS = (("backlog", "rep:e1"), ("overdue_open", "d1:d2"), ("supervised_open", "s1:s2"))
