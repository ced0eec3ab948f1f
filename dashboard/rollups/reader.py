"""Sums over the rollup tiers for one view's filters: the one way the fast path reads ``ru_agg``.

A range is cut into tier pieces (:func:`dashboard.rollups.buckets.pieces`); each piece is a branch of one
UNION ALL statement, compiled once per shape and filters (:func:`_template`) with only the numbers put
in per call. Python adds the pieces of each range up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import BigInteger, Connection, String, case, cast, func, literal, literal_column, select

from dashboard.core import domain
from dashboard.core.viewstate import ViewState
from dashboard.rollups.buckets import DAY_US, INF_US, day_floor, hour_floor, pieces
from dashboard.rollups.tables import KINDS, OPEN, TIERS, best_projection, ru_agg, ru_eval, ru_fact

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


class Reader:
    """Sums over the tiers for one view's filters, on the rollup store's connection."""

    def __init__(self, conn: Connection, view: ViewState) -> None:
        self.conn = conn
        self.view = view

    def filters(self, table: Any) -> list[Any]:
        """The view's filters (towns, the eastern switch, categories) on a rollup table's columns."""
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
            q = select(*cols).where(*where, *self.filters(a))
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
                where = [key >= lo, key < hi, *self.filters(t)]
            else:
                t = ru_fact
                key_name, cols = KINDS.get(kind, ("clo" if kind == "hst" else "rep", (None,)))
                key = t.c[key_name]
                where = [key >= lo, key < hi, *self.filters(t)]
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
        """For each (name, "k1:k2"): #(k2 ≥ t) − #(k1 ≥ t) per tag and group (see dashboard.rollups.facts)."""
        kinds = sorted({k for _, pair in pairs for k in pair.split(":")})
        got = self.multi(kinds, [(tag, t, INF_US + DAY_US) for tag, t in tags], group)
        out: dict[str, dict[Key, float]] = {}
        for name, pair in pairs:
            lo, hi = pair.split(":")
            keys = {k[1:] for k in got if k[0] in (lo, hi)}
            zero = [0.0]
            out[name] = {k: got.get((hi, *k), zero)[0] - got.get((lo, *k), zero)[0] for k in keys}
        return out

    def open_conditions(self, cap: int) -> list[Any]:
        """The facts open at ``cap`` within the view: the fast path's moment is after every transition the
        store holds (:func:`dashboard.rollups.read.eligible`, read in the same snapshot of the store), so
        "not closed by ``cap``" is "still open", the predicate of the covering index ``ix_ru_fact_open``."""
        f = ru_fact
        return [OPEN, f.c.rep < cap, *self.filters(f)]

    def open_rows(self, stmt: Any) -> Any:
        """Run a statement over the open facts (:meth:`open_conditions`) through their partial covering index.

        Why the text: SQLite's statistics average two rows per ``e1`` (mostly distinct close times), so its
        planner looks every open case up through ``ix_ru_fact_e1`` and then in the table; the partial index
        reads 2.8× faster (49,435 open cases at 10 M events: 43 → 15 ms per statement). SQLAlchemy renders
        no index hints for SQLite, so ``INDEXED BY`` goes into the compiled text (numbers and codes only).
        PostgreSQL already takes the partial index; MariaDB has none.
        """
        conn = self.conn
        if conn.dialect.name != "sqlite":
            return conn.execute(stmt)
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        return conn.exec_driver_sql(sql.replace("FROM ru_fact", "FROM ru_fact INDEXED BY ix_ru_fact_open", 1))


# (name, "k1:k2") of the state counts :meth:`Reader.state_at` answers (see dashboard.rollups.facts).
STATE_PAIRS = (("backlog", "rep:e1"), ("overdue_open", "d1:d2"), ("supervised_open", "s1:s2"))
