"""The full build of the rollups: every fact read from the source page by page, the tiers summed in SQL.

Runs the first time (minutes on millions of events, with progress on stderr from the ``rollups``
command) and on ``python -m dashboard rollups --rebuild``; later syncs are incremental
(:mod:`dashboard.rollups.sync`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, String, Table, case, cast, delete, func, insert, literal, select

from dashboard.core.progress import Progress
from dashboard.rollups.aside import MonthAside, scratch_base
from dashboard.rollups.buckets import bucket_sql, month_floor
from dashboard.rollups.facts import evaluation_fact, evaluation_query, fact_of, fact_query, max_action_at
from dashboard.rollups.patrols import build_patrols
from dashboard.rollups.tables import (
    ALL_KINDS,
    ANY,
    DIMS,
    LAYOUT,
    SUMS,
    project_sql,
    projections,
    ru_agg,
    ru_eval,
    ru_fact,
    ru_meta,
    ru_month,
)
from dashboard.source import schema
from dashboard.source.queries.common import E

log = logging.getLogger(__name__)

PAGE = 50_000  # facts read and written per keyset page


def build_rollups(conn: Connection, source: Connection, progress: bool = False) -> tuple[int, int]:
    """Every rollup table afresh from the source: the facts page by page, then the tiers in SQL.

    Returns the numbers of events and evaluations read.
    """
    phase = _Phases()
    if conn.dialect.name == "postgresql":  # the tier GROUP BYs hold millions of groups: keep them in memory
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")  # the sorts of CLUSTER and indexes
    for table in (ru_agg, ru_fact, ru_eval, ru_meta, ru_month):
        conn.execute(delete(table))
    indexes = [*ru_fact.indexes, *ru_eval.indexes]
    for index in [*indexes, *ru_agg.indexes]:  # loading millions of rows is several times faster without them
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
    aside = _month_aside(conn)
    try:
        target = conn if aside is None else aside.loading()  # the facts' scratch file (.aside)
        events, last, facts_max_ts, odd = _load_facts(target, source, int(top[3] or 0), progress)
        phase.done("facts")
        evals, last_eval, evals_max_ts = _load_evaluations(target, source, int(top[4] or 0), progress)
        if aside is not None:
            aside.loaded(conn)
        phase.done("evaluations")
        made = _order_facts_by_village(conn)
        for index in indexes:
            if index.name not in made:
                index.create(conn)
        phase.done("indexes")
        _fill_tiers(conn, progress, aside)
    except BaseException:
        if aside is not None:
            aside.abandon()
        raise
    for index in ru_agg.indexes:
        index.create(conn)
    phase.done("tiers")
    build_patrols(conn, source)
    phase.done("patrols")
    max_ts = max(facts_max_ts, evals_max_ts, max_action_at(source, 0))
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
            "layout": LAYOUT,
            "built_at": now,
            "synced_at": now,
        },
    )
    return events, evals


def _month_aside(conn: Connection) -> MonthAside | None:
    """The month tier summed on a second core, on a SQLite store in a file (:mod:`.aside`)."""
    base = scratch_base(conn)
    return None if base is None else MonthAside(base, _fill_month_map_from_facts, _tier_inserts("m"))


def _load_facts(
    conn: Connection, source: Connection, total: int, progress: bool
) -> tuple[int, int, int, int]:
    """Every event's fact, in keyset pages over the primary key (no long server-side cursor).

    Returns the number of facts, the last event id, the latest transition and how many facts are odd.
    """
    events, last, max_ts, odd = 0, -1, 0, 0
    with Progress("汇总 rollups: events", total, enabled=progress) as bar:
        while True:
            page = fact_query([E.c.event_id > last]).order_by(E.c.event_id).limit(PAGE)
            rows = list(source.execute(page))
            if not rows:
                break
            facts = []
            for row in rows:
                fact, is_odd = fact_of(row)
                facts.append(fact)
                odd += is_odd
                max_ts = max(max_ts, fact["max_ts"])
            _bulk_insert(conn, ru_fact, facts)
            events += len(facts)
            bar.advance(len(facts))
            last = int(rows[-1].event_id)
    return events, last, max_ts, odd


# The index whose order the facts are stored in on PostgreSQL (:func:`_order_facts_by_village`).
FACT_ORDER = "ix_ru_fact_village_rep"


def _order_facts_by_village(conn: Connection) -> set[str]:
    """On PostgreSQL, store the facts in (village, reported) order: ``CLUSTER`` on that index, made
    first, before the others (CLUSTER rebuilds every index of the table). Returns the names of the
    indexes it made.

    Why: the facts a village's or a grid's view reads from the table (its categories, sources,
    departments, duration bins and grids, which no tier keeps) were each a heap fetch on another page,
    in event order: at 10 M events the busiest village's ~37,600 facts over three years took 0.16–0.7 s
    a statement. In village order they sit on ~1,000 adjacent pages. What reads the facts by time
    instead (the events in flight, the sub-hour edges, a source's days) reads covering indexes or a few
    hundred rows. Facts the syncs add or change go to the table's end, so the order wears with time;
    ``rollups --rebuild`` restores it. SQLite's and MariaDB's tables keep their row order (MariaDB
    clusters by the primary key; SQLite's sample has a village's ~4,000 facts)."""
    if conn.dialect.name != "postgresql":
        return set()
    next(i for i in ru_fact.indexes if i.name == FACT_ORDER).create(conn)
    conn.exec_driver_sql(f"CLUSTER ru_fact USING {FACT_ORDER}")
    return {FACT_ORDER}


def _load_evaluations(
    conn: Connection, source: Connection, total: int, progress: bool
) -> tuple[int, int, int]:
    """Every evaluation's fact, in keyset pages. Returns their number, the last id and the latest time."""
    evals, last_eval, max_ts = 0, -1, 0
    ev = schema.evaluation
    with Progress("汇总 rollups: evaluations", total, enabled=progress) as bar:
        while True:
            page = evaluation_query([ev.c.evaluation_id > last_eval]).order_by(ev.c.evaluation_id).limit(PAGE)
            efacts = [evaluation_fact(r) for r in source.execute(page)]
            if not efacts:
                break
            max_ts = max(max_ts, *(e["at"] for e in efacts))
            _bulk_insert(conn, ru_eval, efacts)
            evals += len(efacts)
            bar.advance(len(efacts))
            last_eval = efacts[-1]["evaluation_id"]
    return evals, last_eval, max_ts


def _fill_tiers(conn: Connection, progress: bool = False, aside: MonthAside | None = None) -> None:
    """Every tier from the facts, each by its own buckets: the widest projections of each tier from the
    facts, the narrower ones from the narrowest wider one of the same tier. The month tier is summed from
    the facts by month (``ru_month``), not from the day tier: its rows are a tenth of the day tier's, so
    summing them is cheaper than regrouping millions of day rows. With ``aside`` the month tier is being
    summed on another thread meanwhile, and its rows are copied in at the end."""
    statements = [*_tier_inserts("d"), *_tier_inserts("h")]
    late = [] if aside is not None else _tier_inserts("m")
    months = aside.total if aside is not None else len(late)  # the bar counts them wherever they run
    with Progress("汇总 rollups: tiers", len(statements) + months + 1, enabled=progress) as bar:
        shown = 0  # the month statements run aside that the bar counts

        def advance(own: int = 0) -> None:
            nonlocal shown
            done = aside.finished if aside is not None else 0
            bar.advance(own + done - shown)
            shown = done

        for statement in statements:
            conn.execute(statement)
            advance(1)
        _fill_month_map(conn)
        advance(1)
        if aside is not None:
            aside.copy_into(conn, advance)
            return
        for statement in late:
            conn.execute(statement)
            advance(1)


def _fill_month_map(conn: Connection) -> None:
    """``ru_month``: the month of every day bucket the day tier holds (every key's day is there)."""
    days = {int(b) for (b,) in conn.execute(select(ru_agg.c.b).where(ru_agg.c.tier == "d").distinct())}
    _write_month_map(conn, days)


def _write_month_map(conn: Connection, days: set[int]) -> None:
    conn.execute(delete(ru_month))
    rows = [{"day": d, "month": month_floor(d)} for d in sorted(days)]
    for i in range(0, len(rows), 20_000):
        conn.execute(insert(ru_month), rows[i : i + 20_000])


def _fill_month_map_from_facts(conn: Connection) -> None:
    """``ru_month`` from the keys of the facts and evaluations themselves, where the day tier is not
    built (the month tier summed aside): the same days as :func:`_fill_month_map`'s, since the day
    tier's buckets are those keys' days."""
    keys = {(table.name, key.name): (table, key) for table, key, *_ in _specs().values()}
    days: set[int] = set()
    for table, key in keys.values():
        query = select(bucket_sql("d", key)).select_from(table).where(key.is_not(None)).distinct()
        days.update(int(b) for (b,) in conn.execute(query))
    _write_month_map(conn, days)


def derivable(p: str, q: str) -> bool:
    """Can projection ``p`` be summed from the rows of projection ``q``? When ``q`` keeps every
    dimension ``p`` keeps, a town (``t``) also giving the eastern switch (``e``), but not the reverse."""
    if p == q or ("t" in p and "t" not in q):
        return False
    return set(p.replace("e", "t")) <= set(q.replace("e", "t"))


def roots(stored: Sequence[str]) -> list[str]:
    """The projections of ``stored`` that no other one contains: each is summed from the facts, every
    other one from the narrowest projection of ``stored`` that contains it."""
    return [p for p in stored if not any(derivable(p, q) for q in stored)]


def _narrowest_source(p: str, stored: Sequence[str]) -> str:
    """The stored projection ``p`` is summed from: the fewest dimensions, of two as narrow the one with
    the eastern switch (two town values a bucket, not 26)."""
    return min((q for q in stored if derivable(p, q)), key=lambda q: (len(q), "t" in q))


def _tier_inserts(tier: str) -> list[Any]:
    """The INSERT … SELECT statements that fill ``tier``'s projections: the widest from the facts, then
    each narrower one from the narrowest stored one that contains it."""
    out = [_fact_insert(kind, tier, p) for kind in ALL_KINDS for p in roots(projections(kind, tier))]
    pairs: dict[tuple[str, str], list[str]] = {}
    for kind in ALL_KINDS:
        stored = projections(kind, tier)
        top = roots(stored)
        for p in stored:
            if p not in top:
                pairs.setdefault((_narrowest_source(p, stored), p), []).append(kind)
    # Wider first, and of one width those with a town before those with the switch: each projection is
    # filled before any that is summed from it ("es" from "ts", never the reverse).
    for (source, p), kinds in sorted(pairs.items(), key=lambda item: (-len(item[0][1]), "e" in item[0][1])):
        out.append(_projection_insert(tier, source, p, kinds))
    return out


COLS = ["tier", "kind", "p", "b", *DIMS, "bin", *SUMS]


def _specs() -> dict[str, tuple[Any, Any, Any, list[Any], list[Any]]]:
    """kind → (table, key column, bin column or None, [n, a1 … a4], conditions): what one fact adds, in
    SQL. They must add up exactly what :func:`~dashboard.rollups.facts.add_fact` adds per fact."""
    f, ev = ru_fact, ru_eval
    zero = literal(0.0)

    def one(c: Any) -> Any:
        return func.sum(case((c, 1.0), else_=0.0))

    count_only = [func.count(), zero, zero, zero, zero]
    specs: dict[str, tuple[Any, Any, Any, list[Any], list[Any]]] = {
        "rep": (f, f.c.rep, None, [func.count(), func.sum(f.c.collected), func.sum(f.c.cohort_closed),
                                   func.sum(f.c.dispatched), func.sum(f.c.returned)], []),
        "clo": (f, f.c.clo, None, [func.count(), func.sum(func.coalesce(f.c.hours, 0.0)),
                                   one(f.c.hours.is_not(None)), func.sum(f.c.reworked),
                                   func.sum(f.c.local_level)], [f.c.clo.is_not(None)]),
        "due": (f, f.c.dl, None, [func.count(), func.sum(f.c.due_closed), func.sum(f.c.on_time), zero, zero],
                [f.c.dl.is_not(None), f.c.due_ok == 1]),
        "hst": (f, f.c.clo, cast(f.c.hbin, String(8)), count_only, [f.c.hbin.is_not(None)]),
        "eva": (ev, ev.c.at, None, [func.count(), func.sum(ev.c.satisfied), zero, zero, zero], []),
    }  # fmt: skip
    for kind in ("e1", "d1", "d2", "s1", "s2"):
        col = f.c[kind]
        specs[kind] = (f, col, None, count_only, [col.is_not(None)])
    return specs


def _fact_insert(kind: str, tier: str, p: str) -> Any:
    """Projection ``p`` of ``kind`` in ``tier`` summed from the facts (full build); by month through
    ``ru_month``, so the month buckets are the same as the day tier's."""
    t, key, hbin, sums, where = _specs()[kind]
    if tier == "m":
        m = ru_month
        b: Any = m.c.month
        source: Any = t.join(m, m.c.day == bucket_sql("d", key))
    else:
        b, source = bucket_sql(tier, key), t
    kept, grouped = project_sql(p, (t.c.town, t.c.cat, t.c.dept, t.c.src, t.c.village))
    q = (
        select(
            literal(tier), literal(kind), literal(p), b, *kept, literal(ANY) if hbin is None else hbin, *sums
        )
        .select_from(source)
        .where(*where)
        .group_by(b, *grouped, *([] if hbin is None else [hbin]))
    )
    return insert(ru_agg).from_select(COLS, q)


def _projection_insert(tier: str, source: str, p: str, kinds: Sequence[str]) -> Any:
    """Projection ``p`` of ``kinds`` in ``tier`` summed in SQL from their projection ``source`` (full build)."""
    a = ru_agg
    kept, grouping = project_sql(p, (a.c.town, a.c.cat, a.c.dept, a.c.src, a.c.village))
    q = (
        select(literal(tier), a.c.kind, literal(p), a.c.b, *kept, a.c.bin, *(func.sum(a.c[x]) for x in SUMS))
        .where(a.c.tier == tier, a.c.p == source, a.c.kind.in_(kinds))
        .group_by(a.c.kind, a.c.b, *grouping, a.c.bin)
    )
    return insert(ru_agg).from_select(COLS, q)


class _Phases:
    """Logs how long each phase of a full build took (the build of millions of events takes minutes)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        log.info("rollup build: %s in %.1f s", name, now - self.last)
        self.last = now


def _bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Many rows at once: COPY on PostgreSQL (several times faster than multi-row INSERTs), else the
    driver's executemany with plain tuples: SQLAlchemy's per-row parameter processing of dicts cost
    more than SQLite's insert itself (a third of the facts' load on the sample)."""
    if not rows:
        return
    names = [c.name for c in table.columns]
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row.get(name) for name in names])
        return
    if conn.dialect.paramstyle not in _MARKS:  # a driver this build does not know: SQLAlchemy's way
        conn.execute(insert(table), rows)
        return
    quote = conn.dialect.identifier_preparer.quote
    marks = ", ".join([_MARKS[conn.dialect.paramstyle]] * len(names))
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES ({marks})"
    conn.exec_driver_sql(sql, [tuple([row.get(name) for name in names]) for row in rows])


_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # the positional markers of the drivers
