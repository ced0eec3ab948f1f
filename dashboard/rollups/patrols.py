"""The patrol coverage tier: per (Asia/Shanghai day, grid, town) what the valid patrols that started then
say about coverage, so the patrol tiles read ~1,900 rows a day instead of probing the source's
(grid, started_at) index once per grid and span (~20 spans a view).

A grid is *covered* in a span [s, e) judged by ``by`` (``kpis.patrol_spans``) when a valid patrol of it
started in [s, e) and has no end or ended before ``by``. With j = the patrol's end (−1 when it has none)
and k = max(start, end or start), a row of ``ru_patrol`` keeps, over the valid patrols of its day, grid
and town: ``smin``/``smax`` (their starts), ``jmin``/``jmax`` and ``kmin``. Then, exactly:

* a whole day: covered ⇔ jmin < by;
* a day's first part [D, e): covered when kmin < e (a patrol started and judged before e ≤ by) or when
  every patrol of the day is judged by ``by`` (jmax < by) and one started before e (smin < e);
* a day's last part [x, D + 1 day): covered when jmax < by and smax ≥ x;
* anything else the row cannot tell (a patrol of that day still unjudged at ``by``, as in an as-of view
  the day before): those grids are probed on the source as the direct path does (``kpis.patrol_family``).

``ru_grid`` mirrors the source's grid table (code, town, village, status): the denominator and the
scope of the covered grids. ``ru_patrol_open`` holds the patrols without an end at the last sync and
``ru_patrol_meta`` the highest patrol id read: the sync re-reads those and the new ones and sums the
(day, grid) rows they touch again from the source (a minimum cannot be taken out of a sum).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from dashboard.core.periods import local_midnight
from dashboard.core.viewstate import ViewState
from dashboard.rollups.buckets import DAY_US, day_floor, to_us
from dashboard.rollups.tables import ru_grid, ru_patrol, ru_patrol_meta, ru_patrol_open
from dashboard.source import schema
from dashboard.source.queries.kpis import PatrolSpan, patrol_covered_query
from dashboard.source.queries.scope import place_conditions
from dashboard.source.queries.sqlfuncs import local_day

CHUNK = 500
NO_END = -1  # j of a patrol without an end: judged from the start of time


def _groups(source: Connection, where: Sequence[Any]) -> list[dict[str, Any]]:
    """The ``ru_patrol`` rows of the valid patrols matching ``where``, summed in the source's SQL."""
    p = schema.patrol.c
    day = local_day(p.started_at)
    k = case((p.ended_at > p.started_at, p.ended_at), else_=p.started_at)
    q = (
        select(
            day.label("day"),
            p.grid_code,
            p.town_code,
            func.min(p.started_at),
            func.max(p.started_at),
            func.min(p.ended_at),
            func.max(p.ended_at),
            func.sum(case((p.ended_at.is_(None), 1), else_=0)),
            func.min(k),
        )
        .where(p.valid.is_(True), p.grid_code.is_not(None), *where)
        .group_by(day, p.grid_code, p.town_code)
    )
    rows = []
    for d, grid, town, smin, smax, emin, emax, no_end, kmin in source.execute(q):
        rows.append(
            {
                "b": to_us(local_midnight(dt.date.fromisoformat(d))),
                "grid": grid,
                "town": town,
                "smin": to_us(smin),
                "smax": to_us(smax),
                "jmin": NO_END if no_end or emin is None else to_us(emin),
                "jmax": NO_END if emax is None else to_us(emax),
                "kmin": to_us(kmin),
            }
        )
    return rows


def _mirror_grids(conn: Connection, source: Connection) -> None:
    """``ru_grid`` made equal to the source's grid table (~1,900 rows, rewritten when their digest
    differs from the one kept in ``ru_patrol_meta``: a sync reads them but writes nothing)."""
    g = schema.grid.c
    # The driver's own tuples: building a row object per grid was most of this read's cost per sync.
    result = source.execute(select(g.grid_code, g.town_code, g.village_code, g.status))
    fresh = [tuple(r) for r in result.cursor.fetchall()]
    result.close()
    digest = hashlib.sha1(repr(sorted(fresh)).encode()).hexdigest()
    if conn.execute(select(ru_patrol_meta.c.grids)).scalar() == digest:
        return
    conn.execute(delete(ru_grid))
    if fresh:
        names = ("grid", "town", "village", "status")
        conn.execute(insert(ru_grid), [dict(zip(names, x, strict=True)) for x in fresh])
    conn.execute(ru_patrol_meta.update().values(grids=digest))
    _restamp(conn)


def _places(conn: Connection, grids: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
    """Each grid's place and status as the tier rows carry them (``_restamp``), from the mirror."""
    g = ru_grid.c
    q = select(g.grid, g.town, g.village, g.status)
    found = conn.execute(q if grids is None else q.where(g.grid.in_(sorted(grids)))).all()
    return {
        grid: {"gtown": town or "", "gvillage": village or "", "active": int(status == "ACTIVE")}
        for grid, town, village, status in found
    }


NOWHERE = {"gtown": "", "gvillage": "", "active": 0}  # a grid the grid table does not hold


def _restamp(conn: Connection) -> None:
    """Every tier row given its grid's place and status again (the grid table changed: rare)."""
    r = ru_patrol.c
    conn.execute(ru_patrol.update().values(**NOWHERE))
    rows = [{"k_grid": grid, **place} for grid, place in _places(conn).items()]
    if rows:
        stmt = ru_patrol.update().where(r.grid == bindparam("k_grid"))
        conn.execute(
            stmt.values(gtown=bindparam("gtown"), gvillage=bindparam("gvillage"), active=bindparam("active")),
            rows,
        )


def _placed(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tier rows with their grid's place and status (so a read filters them without a join)."""
    places = _places(conn, {row["grid"] for row in rows}) if len(rows) < CHUNK else _places(conn)
    return [row | places.get(row["grid"], NOWHERE) for row in rows]


def _open_patrols(source: Connection, where: Sequence[Any]) -> list[dict[str, Any]]:
    p = schema.patrol.c
    return [
        {"patrol_id": int(i)}
        for (i,) in source.execute(select(p.patrol_id).where(p.ended_at.is_(None), *where))
    ]


def build_patrols(conn: Connection, source: Connection) -> int:
    """The patrol tier afresh (a full build, or a store built before it existed). Returns its rows."""
    for table in (ru_patrol, ru_patrol_open, ru_patrol_meta, ru_grid):
        conn.execute(delete(table))
    top = int(source.execute(select(func.max(schema.patrol.c.patrol_id))).scalar() or 0)
    conn.execute(insert(ru_patrol_meta), {"id": 1, "wm_patrol": top, "grids": ""})
    _mirror_grids(conn, source)
    rows = _placed(conn, _groups(source, [schema.patrol.c.patrol_id <= top]))
    for i in range(0, len(rows), 20_000):
        conn.execute(insert(ru_patrol), rows[i : i + 20_000])
    opened = _open_patrols(source, [schema.patrol.c.patrol_id <= top])
    if opened:
        conn.execute(insert(ru_patrol_open), opened)
    return len(rows)


def sync_patrols(conn: Connection, source: Connection) -> int:
    """Bring the patrol tier up to the source: the new patrols and those that had no end at the last
    sync are read; the (day, grid) rows they touch are summed again. Returns the patrols re-read."""
    wm = conn.execute(select(ru_patrol_meta.c.wm_patrol)).scalar()
    if wm is None:
        build_patrols(conn, source)
        return 0
    _mirror_grids(conn, source)  # (first: the rows summed again below take the grids' places)
    p = schema.patrol.c
    top = int(source.execute(select(func.max(p.patrol_id))).scalar() or 0)
    opened = [int(i) for (i,) in conn.execute(select(ru_patrol_open.c.patrol_id))]
    cols = (p.patrol_id, p.grid_code, p.started_at, p.ended_at, p.valid)
    rows = list(source.execute(select(*cols).where(p.patrol_id > int(wm), p.patrol_id <= top)))
    # Of the patrols open at the last sync, only those that have ended or become valid since change
    # anything: the others are not read (all ~3,000 of them, their rows converted in Python, were most
    # of a sync on PostgreSQL at 1.2 M events, and a sync precedes every cold view).
    moved: list[Any] = []
    changed = or_(p.ended_at.is_not(None), p.valid.is_(True))
    for ids in _id_sets(source, p.patrol_id, opened):
        moved += source.execute(select(*cols).where(ids, changed)).all()
    touched = {
        (day_floor(to_us(started) or 0), grid)
        for pid, grid, started, ended, valid in rows + moved
        if grid is not None and (pid > int(wm) or ended is not None or valid)
    }
    if touched:
        _resum(conn, source, touched)
    ended = {int(pid) for pid, _, _, end, _ in moved if end is not None}
    still = sorted(
        {pid for pid in opened if pid not in ended} | {int(pid) for pid, _, _, end, _ in rows if end is None}
    )
    if still != sorted(opened):
        conn.execute(delete(ru_patrol_open))
        if still:
            conn.execute(insert(ru_patrol_open), [{"patrol_id": pid} for pid in still])
    if top > int(wm):
        conn.execute(ru_patrol_meta.update().values(wm_patrol=top))
    return len(rows) + len(moved)


def _id_sets(source: Connection, column: Any, ids: list[int]) -> list[ColumnElement[bool]]:
    """``column`` among ``ids``: on PostgreSQL one array parameter (``= ANY``), elsewhere IN lists of
    :data:`CHUNK`. Why: the ~3,000 open patrols as seven IN lists of 500 parameters were ~25 ms of
    rendering and parsing per sync on PostgreSQL."""
    if not ids:
        return []
    if source.dialect.name == "postgresql":
        return [column == func.any(bindparam("ids", ids, type_=ARRAY(BigInteger)))]
    return [column.in_(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]


def _resum(conn: Connection, source: Connection, touched: set[tuple[int, str]]) -> None:
    """The (day, grid) rows of ``touched`` summed again from the source's (grid_code, started_at) index."""
    p, r = schema.patrol.c, ru_patrol.c
    keys = sorted(touched)
    for i in range(0, len(keys), CHUNK):
        part = keys[i : i + CHUNK]
        conn.execute(delete(ru_patrol).where(tuple_(r.b, r.grid).in_(part)))
        lo, hi = min(b for b, _ in part), max(b for b, _ in part) + DAY_US
        fresh = _groups(
            source,
            [
                p.grid_code.in_(sorted({g for _, g in part})),
                p.started_at >= _dt(lo),
                p.started_at < _dt(hi),
            ],
        )
        wanted = set(part)
        fresh = [row for row in fresh if (row["b"], row["grid"]) in wanted]
        if fresh:
            conn.execute(insert(ru_patrol), _placed(conn, fresh))


def _dt(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def patrol_built(conn: Connection) -> bool:
    """True when the store holds the patrol tier (a sync builds it)."""
    return conn.execute(select(ru_patrol_meta.c.wm_patrol)).scalar() is not None


# --- reading -----------------------------------------------------------------------------------------------

COVERED, UNSURE, NOT = 0, 1, 2


def _pieces(s: int, e: int, by: int) -> list[tuple[int, Any, Any]]:
    """Per day of [s, e): (day, the condition under which one of its rows shows the grid covered in the
    span judged by ``by``, the condition under which it cannot tell)."""
    r = ru_patrol.c
    out = []
    d = day_floor(s)
    while d < e:
        a, z = max(s, d), min(e, d + DAY_US)
        judged = r.jmin < by  # some patrol of the row is judged by ``by``
        covered: ColumnElement[bool]
        maybe: ColumnElement[bool]
        if a == d and z == d + DAY_US:
            covered, maybe = judged, literal(False)
        elif a == d:
            covered = or_(r.kmin < z, and_(r.jmax < by, r.smin < z))
            maybe = and_(judged, r.smin < z)
        elif z == d + DAY_US:
            covered = and_(r.jmax < by, r.smax >= a)
            maybe = and_(judged, r.smax >= a)
        else:
            covered, maybe = literal(False), and_(judged, r.smax >= a, r.smin < z)
        out.append((d, covered, maybe))
        d += DAY_US
    return out


def _state(s: int, e: int, by: int) -> tuple[list[int], Any]:
    """The days of [s, e) and, per row of one of them, whether it shows the grid covered in the span
    judged by ``by`` (COVERED), cannot tell (UNSURE) or shows it is not (NOT)."""
    r = ru_patrol.c
    pieces = _pieces(s, e, by)
    whens = [(r.b == d, case((covered, COVERED), (maybe, UNSURE), else_=NOT)) for d, covered, maybe in pieces]
    return [d for d, _, _ in pieces], case(*whens, else_=NOT)


def _scope(view: ViewState) -> list[Any]:
    """The view's place on the patrol rows: their grid active and in the view's place
    (``grid_conditions``, on the grid's place the rows carry), the patrol's own town too (as the direct
    probe filters patrols)."""
    r = ru_patrol.c
    patrol_place = place_conditions(dataclasses.replace(view, village=None), r.town, None, r.grid)
    return [r.active == 1, *place_conditions(view, r.gtown, r.gvillage, r.grid), *patrol_place]


def covered_counts(
    rconn: Connection, source: Connection, view: ViewState, spans: Iterable[PatrolSpan]
) -> dict[str, float]:
    """The grids in scope (``"grids"``) and the covered ones per span's tag, as ``patrol_family`` counts
    them, in one statement on the tier: the whole days judged by one instant (the spark line) counted
    per day in one pass, each other span over its day or two; the source is probed only for the grids
    the tier cannot tell (:func:`_probe`)."""
    r, g = ru_patrol.c, ru_grid.c
    spans = list(spans)
    scope = _scope(view)
    parts = [
        select(literal("grids").label("k"), func.count().label("n"), literal(0).label("u")).where(
            g.status == "ACTIVE", *place_conditions(view, g.town, g.village, g.grid)
        )
    ]
    whole: dict[int, dict[int, str]] = {}  # by → day → tag
    for tag, s, e, by in spans:
        s_us, e_us, by_us = to_us(s) or 0, to_us(e) or 0, to_us(by) or 0
        if e_us - s_us == DAY_US and day_floor(s_us) == s_us:
            whole.setdefault(by_us, {})[s_us] = tag
            continue
        pieces = _pieces(s_us, e_us, by_us)
        covered = or_(*(and_(r.b == d, c) for d, c, _ in pieces))
        maybe = or_(*(and_(r.b == d, m, not_(c)) for d, c, m in pieces))  # (usually none)
        parts.append(
            select(
                literal(tag).label("k"),
                func.count(func.distinct(case((covered, r.grid)))).label("n"),
                func.count(func.distinct(case((maybe, r.grid)))).label("u"),
            )
            .select_from(ru_patrol)
            .where(r.b.in_([d for d, _, _ in pieces]), *scope)
        )
    for i, (by_us, days) in enumerate(sorted(whole.items())):
        parts.append(
            select(literal(f"@{i}").label("k"), func.count(func.distinct(r.grid)).label("n"), r.b.label("u"))
            .select_from(ru_patrol)
            .where(r.b.in_(sorted(days)), r.jmin < by_us, *scope)
            .group_by(r.b)
        )
    got: dict[str, float] = {tag: 0.0 for tag, _, _, _ in spans}
    unsure: set[str] = set()
    by_of = sorted(whole)
    for k, n, u in rconn.execute(union_all(*parts)):
        key = str(k)
        if key.startswith("@"):  # a whole day's count (u: its day): its tag by its instant and day
            got[whole[by_of[int(key[1:])]][int(u)]] = float(n or 0)
            continue
        got[key] = float(n or 0)
        if u:
            unsure.add(key)
    for span in spans:
        if span[0] in unsure:
            got[span[0]] += _probe(rconn, source, view, span)
    return got


def _probe(rconn: Connection, source: Connection, view: ViewState, span: PatrolSpan) -> float:
    """The covered grids among those the tier cannot tell for ``span``, probed on the source."""
    _, s, e, by = span
    r = ru_patrol.c
    days, state = _state(to_us(s) or 0, to_us(e) or 0, to_us(by) or 0)
    per_grid = (
        select(r.grid)
        .select_from(ru_patrol)
        .where(r.b.in_(days), *_scope(view))
        .group_by(r.grid)
        .having(func.min(state) == UNSURE)  # the tier tells nothing covered, some row cannot tell
    )
    codes = [str(c) for (c,) in rconn.execute(per_grid)]
    n = 0.0
    for i in range(0, len(codes), CHUNK):
        q = patrol_covered_query(view, span, schema.grid.c.grid_code.in_(codes[i : i + CHUNK]))
        n += float(source.execute(q).one()[1] or 0)
    return n
