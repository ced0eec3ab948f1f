"""The rollup tables, their indexes, and which projections of which kinds each tier keeps.

* ``ru_fact``: one row per event, its *current* state reduced to what the figures need: scope columns,
  the timestamps the families range over, the 0/1 flags of the family aggregates (evaluated by the very
  SQL expressions of the direct queries, at a moment after every row), five "state keys" and the
  instants from which each as-of flag holds (see :mod:`dashboard.rollups.facts`). It holds the old state when an event changes, and answers the
  sub-hour edges of a range.
* ``ru_eval``: one row per evaluation (append-only in the source), filed under its event's scope.
* ``ru_agg``: the tiers. Per (tier, kind, projection, bucket, town, category, department, source,
  village, duration bin): a count and four sums (:data:`KINDS` says which). Tier ``h`` buckets by hour, ``d`` by
  Asia/Shanghai day, ``m`` by Asia/Shanghai calendar month (:mod:`dashboard.rollups.buckets`). A range [s, e) is summed from the
  month tier for its whole months, the day tier for the whole days at its ends, the hour tier for whole
  hours and ``ru_fact`` for the sub-hour edges, so a year costs ~12 month buckets and a month ~30 day
  buckets, whatever the number of events.
* Projections keep the rows per bucket small and independent of the volume: the projection ``p`` names
  the dimensions a row keeps (``t`` town, ``c`` category, ``d`` department, ``s`` source, ``v`` village:
  ``tv`` by day and month, and the month tier's ``tvd``); the others hold ``*`` (only ``hst`` keeps its bin, always). The whole district's count for a day is ONE
  row of projection ``''``, a town ranking the ``td`` rows. Readers take the smallest stored projection that carries their filters and groups
  (:func:`projections`); where a tier has none that fits, that tier's pieces are read from the facts.
* Kind ``hst`` counts closed events per duration bin (``ru_fact.hbin``): the median and P90 are exact,
  found by counting bins on the tiers and then reading only the one bin's facts (index ``(hbin, clo)``;
  on PostgreSQL also ``(hbin, hours)``, walked in order up to the rank).
* ``ru_meta``: the watermarks of the last sync (:mod:`dashboard.rollups.sync`); ``ru_month``: the month
  of each day bucket, for summing the month tier in SQL at a full build.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    case,
    literal,
    literal_column,
)

from dashboard.core import domain
from dashboard.rollups.buckets import INF_US

rollup_metadata = MetaData()
ANY = "*"  # what a row holds for a dimension its projection drops


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
    _us("rej"),
    _us("dl"),  # the effective deadline
    _flag("collected"),
    _flag("cohort_closed"),
    _flag("dispatched"),
    _flag("returned"),
    Column("hours", Double, nullable=True),  # accepted → closed, when both are set
    Column("hbin", Integer, nullable=True),  # duration bin of ``hours`` (see hours_bin)
    _flag("reworked"),
    _flag("local_level"),
    _flag("due_any"),  # has a (raw) deadline
    _flag("due_ok"),  # has a deadline and is not rejected
    _flag("due_closed"),
    _flag("on_time"),
    _us("e1", False),
    _us("d1"),
    _us("d2"),
    _us("s1"),
    _us("s2"),
    # When each as-of flag turns on (see dashboard.rollups.facts): dispatched_by, returned_by,
    # reworked_by hold from these instants on; the department is hidden (dept_at) up to ``hide``.
    _us("disp"),
    _us("ret"),
    _us("rw"),
    _us("hide"),
    # The span [lo, hi] over which some as-of flag of the event differs from its current one, and its
    # length class (``span``): the events "in flight" at an instant are read by class (see FLIGHT).
    _us("lo", False),
    _us("hi"),
    Column("span", Integer, nullable=True),
    _us("max_ts", False),  # the latest transition timestamp of the event
)

ru_eval = Table(
    "ru_eval",
    rollup_metadata,
    Column("evaluation_id", BigInteger, primary_key=True, autoincrement=False),
    _us("at", False),
    Column("event_id", BigInteger, nullable=False),
    _code("town"),
    _code("village"),
    _code("grid"),
    _code("cat"),
    _code("src"),
    _code("dept"),
    _flag("satisfied"),
)

ru_agg = Table(
    "ru_agg",
    rollup_metadata,
    Column("tier", String(1), primary_key=True),
    Column("kind", String(4), primary_key=True),
    Column("p", String(4), primary_key=True),  # projection: the dimensions kept, of "tcds"
    Column("b", BigInteger, primary_key=True, autoincrement=False),
    Column("town", String(24), primary_key=True),
    Column("cat", String(24), primary_key=True),
    Column("dept", String(24), primary_key=True),
    Column("src", String(24), primary_key=True),
    # The village: kept by ``tv`` (by day and month) and ``tvd`` (the ranked kinds by month), '*' elsewhere.
    Column("village", String(24), primary_key=True),
    Column("bin", String(8), primary_key=True),  # the duration bin (kind hst), else '*'
    Column("n", Double, nullable=False),
    Column("a1", Double, nullable=False),
    Column("a2", Double, nullable=False),
    Column("a3", Double, nullable=False),
    Column("a4", Double, nullable=False),
    # On SQLite the rows are the primary key's b-tree itself: a rowid table kept each of the ~9 M rows of
    # the sample twice (table and key index), so the full build wrote and the reads looked up both.
    sqlite_with_rowid=False,
)

# The village rows of the tiers (``tv``, ``tvd``) by village: the key leads with the bucket, so a village's
# read of a month of days scanned every village's rows of those days (570 a day) to keep its own.
# Partial where the engine has them (most rows keep no village); MariaDB scans the buckets' rows.
VILLAGE_ROW = ru_agg.c.village != literal_column(f"'{ANY}'")
Index(
    "ix_ru_agg_village",
    *(ru_agg.c[n] for n in ("tier", "kind", "p", "village", "b")),
    postgresql_where=VILLAGE_ROW,
    sqlite_where=VILLAGE_ROW,
).ddl_if(dialect=("postgresql", "sqlite"))  # type: ignore[arg-type]  # a tuple is documented

ru_meta = Table(
    "ru_meta",
    rollup_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    _us("wm_event", False),
    _us("wm_action", False),
    _us("wm_eval", False),
    _us("max_ts", False),
    Column("odd", Integer, nullable=False),  # facts whose deadline extension breaks MAX_EXTENSION
    Column("layout", Integer, nullable=False),  # LAYOUT of the build: another one is rebuilt
    Column("built_at", String(40), nullable=False),
    Column("synced_at", String(40), nullable=False),
)

FACT_KEYS = ("rep", "clo", "dl", "e1", "d1", "d2", "s1", "s2")
# What a fact branch of a kind sums besides counting (``Reader._fact_branch``), by key column.
_KEY_SUMS = {
    "rep": ("collected", "cohort_closed", "dispatched", "returned"),
    "clo": ("hours", "hbin", "reworked", "local_level"),
    "dl": ("due_ok", "due_closed", "on_time"),
}
# The columns a (dimension, key) index holds after them: the other filters, the groups and the kind's sums.
_OTHER_DIMS = {"src": ("cat", "town", "dept"), "dept": ("cat", "town", "src"), "cat": ("src", "town", "dept")}
for _col in FACT_KEYS:
    Index(f"ix_ru_fact_{_col}", ru_fact.c[_col])
    # A source or a department with another filter is kept in the month tier only: the days at the ends
    # of a range read that source's or department's facts through these (a fraction of the district's).
    # They also cover those reads: the other filters, the groups and the kind's sums. With (source, key)
    # alone PostgreSQL took the key's own index (the district's facts in key order, close to the table's)
    # and filtered ~37,000 facts a range for the source's ~340 of a category, 15 ranges a state key: a
    # category × source week's view read 0.9 M buffers; now an index-only scan. The category's (layout
    # 12): the hour tier keeps no category, so a category's sub-day edges (a state key's instants, the
    # ends of a live period) read its facts: through the key's own index, a heap fetch for each of the
    # district's facts of those hours to keep the category's ~7 % (0.03 s of a category's year on the
    # ``make run`` sample, ~8× that at 10 M events).
    # The department's and the category's hold the rest as INCLUDE columns on PostgreSQL, the engine of a
    # district of millions of events: SQLite's and MariaDB's have no INCLUDE, and the sample's first start
    # (``make run``) would pay ~20 s more to build them as keys for reads of a few hundred rows. The
    # category's exist on PostgreSQL only (elsewhere its edges read the key's index, as before).
    for _dim, _others in _OTHER_DIMS.items():
        _cover = (*_others, *_KEY_SUMS.get(_col, ()))
        _name = f"ix_ru_fact_{_dim}_{_col}"
        if _dim == "src":
            Index(_name, ru_fact.c[_dim], ru_fact.c[_col], *(ru_fact.c[n] for n in _cover))
            continue
        _index = Index(_name, ru_fact.c[_dim], ru_fact.c[_col], postgresql_include=list(_cover))
        if _dim == "cat":
            _index.ddl_if(dialect="postgresql")
# Covers the percentile reads, the tiers' filters included: no heap fetch per fact of the bin.
Index(
    "ix_ru_fact_hbin_clo",
    *(ru_fact.c[name] for name in ("hbin", "clo", "hours", "town", "cat", "dept", "src")),
)
# The same read in hours order (PostgreSQL): the median's bin read ~200,000 facts of a three-year range at
# 10 M events through (hbin, clo) and sorted them all for the one at its rank (80 ms); walked in hours
# order it stops at the rank (44 ms; a P90's bin 39 → 14 ms). Short ranges, for which this order would
# walk the whole bin, kept their times in that matrix (a day's views: median 0.13 s with or without it),
# so the planner still reads them through (hbin, clo). Not on SQLite or MariaDB: no INCLUDE there, and
# the ``make run`` sample's bins hold a twelfth as many facts. A store built before it gets it at start.
Index(
    "ix_ru_fact_hbin_hours", ru_fact.c.hbin, ru_fact.c.hours,
    postgresql_include=["clo", "town", "cat", "dept", "src"], postgresql_where=ru_fact.c.hbin.is_not(None),
).ddl_if(dialect="postgresql")  # fmt: skip
# A town's villages ranked (no tier keeps villages) read that town's facts of the period through these.
# Each covers what the rankings read of its kind (``panels.RANKED_SUMS``: the as-of counts, the village
# and the department as of then) and the category and source filters: a town's three years (~38,000
# facts a kind) read 0.16 s of CPU through (town, key) and the table, ~0.07 s from these alone.
_RANKED_COVER = {
    "rep": (),
    "clo": ("hours",),
    "dl": ("due_any", "rej", "clo"),
}
for _col, _more in _RANKED_COVER.items():
    _cols = ("town", _col, *_more, "village", "dept", "hide", "cat", "src")
    Index(f"ix_ru_fact_town_{_col}", *(ru_fact.c[name] for name in _cols))
    # A town's villages ranked with a source or a category (layout 14, PostgreSQL): no tier keeps a village
    # with either and the department, so such a view reads the facts of its whole range, and through
    # (town, key) it read every fact of the town to keep the source's (a town × source three years at 10 M
    # events: ~380,000 facts, 0.48 s for the due kind alone). Not on SQLite or MariaDB: no INCLUDE there,
    # and the ``make run`` sample's first start would pay for six more keyed indexes.
    for _dim, _other in (("src", "cat"), ("cat", "src")):
        _covered = [*_more, "village", "dept", "hide", _other]
        _index = Index(
            f"ix_ru_fact_town_{_dim}_{_col}", ru_fact.c.town, ru_fact.c[_dim], ru_fact.c[_col],
            postgresql_include=_covered,
        )  # fmt: skip
        _index.ddl_if(dialect="postgresql")
# A village's or a grid's view reads that unit's facts (a few hundred to a few thousand), not the tiers:
# each range of a read is one range of (unit, key), so a month's view reads the month's facts, not every
# fact of the unit once per range (a village's ~2,000 facts × ~30 ranges, ~10 ms a read on SQLite).
for _unit in ("village", "grid"):
    for _col in ("rep", "clo", "dl"):
        Index(f"ix_ru_fact_{_unit}_{_col}", ru_fact.c[_unit], ru_fact.c[_col])
# What the as-of sums read of a fact in flight, and what the open-at listing reads (``reader.Reader``).
FLIGHT_COLUMNS = (
    "town", "village", "cat", "dept", "src", "rep", "clo", "rej", "dl", "collected", "cohort_closed",
    "dispatched", "returned", "hours", "hbin", "reworked", "local_level", "due_any", "due_ok", "due_closed", "on_time",
    "disp", "ret", "rw", "hide",
)  # fmt: skip
OPEN_COLUMNS = ("event_id", "town", "dept", "village", "grid", "rep", "dl", "e1", "hide")
# The events in flight at an instant t (lo < t <= hi), read per length class: see :data:`FLIGHT_CLASSES`.
# On PostgreSQL the index also holds every column the as-of sums and the open-at listing read of them
# (:data:`FLIGHT_COLUMNS`, :data:`OPEN_COLUMNS`): at 10 M events ~15,000 facts are in flight at a past
# instant, and each was a heap fetch (a district's cohort correction took 0.34–0.43 s, an as-of view's
# 0.22 s); an index-only scan reads them in span order (10 ms). (SQLite's and MariaDB's views of that size are
# not the target.)
_FLIGHT_READ = [*FLIGHT_COLUMNS, *(c for c in OPEN_COLUMNS if c not in FLIGHT_COLUMNS)]
Index("ix_ru_fact_span", ru_fact.c.span, ru_fact.c.lo, ru_fact.c.hi, postgresql_include=_FLIGHT_READ)
# A village's events in flight (a village's view read from the tiers, as of a past instant): the span
# index alone read the whole district's (~15,000 at 10 M events) to keep the village's few hundred.
Index("ix_ru_fact_village_span", ru_fact.c.village, ru_fact.c.span, ru_fact.c.lo, ru_fact.c.hi)
# The open events (``e1`` = INF_US) with every column the backlog and rankings read: an index-only scan of
# the backlog instead of a heap fetch per open event (the backlog grows with the district's volume).
# Partial indexes exist on PostgreSQL and SQLite; MariaDB reads the open events through ix_ru_fact_e1.
OPEN = ru_fact.c.e1 == literal_column(str(INF_US))  # a literal: the planner must see the index's predicate
Index(
    "ix_ru_fact_open",
    ru_fact.c.town,
    ru_fact.c.cat,
    ru_fact.c.dept,
    ru_fact.c.src,
    ru_fact.c.village,
    ru_fact.c.grid,
    ru_fact.c.rep,
    ru_fact.c.dl,
    postgresql_where=OPEN,
    sqlite_where=OPEN,
).ddl_if(dialect=("postgresql", "sqlite"))  # type: ignore[arg-type]  # a tuple is documented
Index("ix_ru_eval_at", ru_eval.c.at)
# A unit's evaluations with what its reads filter, group and sum (on PostgreSQL): the evaluations are not
# stored in village order, so each was a heap fetch on another page (a busy village's year, ~0.4 s cold).
_EVAL_READ = ["town", "cat", "src", "dept", "satisfied"]
Index("ix_ru_eval_village_at", ru_eval.c.village, ru_eval.c.at, postgresql_include=_EVAL_READ)
Index("ix_ru_eval_grid_at", ru_eval.c.grid, ru_eval.c.at, postgresql_include=_EVAL_READ)
Index("ix_ru_eval_event", ru_eval.c.event_id)
Index("ix_ru_eval_src_at", *(ru_eval.c[n] for n in ("src", "at", "cat", "town", "dept", "satisfied")))
Index("ix_ru_eval_dept_at", ru_eval.c.dept, ru_eval.c.at)

# The patrol coverage tier (:mod:`dashboard.rollups.patrols`): per (Asia/Shanghai day, grid, the patrol's
# town), over the valid patrols that started then, their first and last starts, the first and last
# instants they count from (``j``: the end, -1 without one) and the first max(start, end).
ru_patrol = Table(
    "ru_patrol",
    rollup_metadata,
    Column("b", BigInteger, primary_key=True, autoincrement=False),
    Column("grid", String(24), primary_key=True),
    Column("town", String(24), primary_key=True),
    _us("smin", False),
    _us("smax", False),
    _us("jmin", False),
    _us("jmax", False),
    _us("kmin", False),
    # The grid's place and status (from ``ru_grid``, set again when the grid table changes): a read
    # filters the rows by the view's place without joining the grids.
    Column("gtown", String(24), nullable=False),
    Column("gvillage", String(24), nullable=False),
    Column("active", Integer, nullable=False),
)
_PATROL_READ = ("b", "active", "gtown", "gvillage", "grid", "town", "smin", "smax", "jmin", "jmax", "kmin")
Index("ix_ru_patrol_b", *(ru_patrol.c[n] for n in _PATROL_READ))
Index("ix_ru_patrol_village", ru_patrol.c.gvillage, ru_patrol.c.b)  # a village's grids (a grid's: the key)
# The source's grids (the coverage denominator and the place of a grid), mirrored at every sync.
ru_grid = Table(
    "ru_grid",
    rollup_metadata,
    Column("grid", String(24), primary_key=True),
    Column("town", String(24), nullable=True),
    Column("village", String(24), nullable=True),
    Column("status", String(24), nullable=True),
)
Index("ix_ru_grid_village", ru_grid.c.village)
Index("ix_ru_grid_town", ru_grid.c.town)
# The patrols without an end at the last sync (read again at the next), and the highest patrol id read.
ru_patrol_open = Table(
    "ru_patrol_open", rollup_metadata, Column("patrol_id", BigInteger, primary_key=True, autoincrement=False)
)
ru_patrol_meta = Table(
    "ru_patrol_meta",
    rollup_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    _us("wm_patrol", False),
    Column("grids", String(40), nullable=False),  # the digest of the grid table ru_grid mirrors
)

# Month buckets of the day buckets, filled at a full build so the month tier is summed in SQL.
ru_month = Table(
    "ru_month",
    rollup_metadata,
    Column("day", BigInteger, primary_key=True, autoincrement=False),
    Column("month", BigInteger, nullable=False),
)

# The layout of the store: a store built with another one is dropped and built again. Raise it whenever
# what a table holds changes meaning, even when its columns stay the same.
LAYOUT = 14

# The length classes of the in-flight spans: class k holds the spans at most 2**k hours long, so the
# events in flight at t are, per class, those with lo in [t - 2**k h, t) and hi >= t: an index range each.
FLIGHT_CLASSES = 25

SUMS = ("n", "a1", "a2", "a3", "a4")
DIMS = ("town", "cat", "dept", "src", "village")  # the dimensions a projection keeps or drops, "tcdsv"
LETTERS = "tcdsv"
PK_NAMES = ("tier", "kind", "p", "b", *DIMS, "bin")
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
ALL_KINDS = (*KINDS, "hst", "eva")
TIERS = ("h", "d", "m")
# The projections each tier keeps (a row count per tier, kind and projection on the 591,607-event sample
# of ``make run`` is in the README). The hour tier only serves the edges of ranges and the hourly series:
# ``''`` and ``t``. The day tier keeps the one-dimension projections and town × category for every kind,
# and town × department for the kinds the rankings read. The month tier adds every pair and the
# department-and-source ones: the source and the department take 11 and 116 values, so a pair of them by
# day would hold nearly a row per event, while by month it holds a tenth of that. A read whose filters
# need a month-only projection sums its whole months there and its other days from the facts, through
# the (source, key) and (department, key) indexes: a fraction of the district's facts.
HOUR_PROJECTIONS = ("", "t")
# ``c`` (layout 12): a category alone read the ``tc`` rows, 26 a bucket (a state key's days to the month's
# end: ~12,000 rows read to keep ~2,000, 20 ms of a category's view on the ``make run`` sample).
# ``es`` (layout 14): a source with the eastern switch by day. Without it such a view read the source's
# facts for every day outside whole months, the 90-day trend's included (~300,000 facts at 10 M events,
# 0.2 s of every period's view); with it, 22 rows a day. It is summed from the facts by day (no day
# projection keeps town and source) and from ``ts`` by month.
DAY_PROJECTIONS = ("", "t", "s", "d", "c", "tc", "es")
RANKED_KINDS = ("rep", "clo", "due")  # the rankings group them by town and department
RANKED_PROJECTIONS = ("td", "tcd")
MONTH_PROJECTIONS = ("ts", "td", "cs", "cd", "ds", "tds", "tcds")
# A town's villages ranked (by village and department) over whole months: a town's three years are ~12,000
# rows a kind here against ~45,000 facts (scale 2); the days at the ends are read from the town's facts.
# Only the month tier keeps villages: by day they would hold about a row per event.
RANKED_MONTH_PROJECTIONS = ("tvd",)
# A village's own view (every kind but ``hst``) by day and month: at 10 M events the busiest village holds
# ~37,600 facts, and reading them for every tile, the trend and the state counts took 1–3 s on PostgreSQL
# (each fact a heap fetch). By day the village rows number about the village-days with events: at the
# ``make run`` sample's ~1.4 events a village-day, ~0.7 of a row per event and kind. A village with a
# department, or with a category or a source over days alone, still reads its facts
# (:meth:`~dashboard.rollups.reader.Reader._unit_facts`).
VILLAGE_PROJECTIONS = ("tv",)
# A village with a category or a source over whole months (layout 11): at 10 M events such a view read
# the village's facts of every range, the trends' two years included (a village × source year, 1.2 s on
# PostgreSQL). By month these hold a row per village, month and category or source with events (~8,500
# and ~6,000 a month at most): the whole months of a range come from here, its other days from the facts.
# Not by day (about a row per event), nor with the department (116 values: ``tvd`` is the rankings').
# Only for the kinds summed over ranges (layout 13): a village's state keys with a category or a source
# are counted from its facts (:meth:`~dashboard.rollups.reader.Reader.state_at`), so their month rows were
# never read, and building them was 10 of the 18 scans of the facts these projections added (~20 s of
# the ``make run`` sample's first start).
VILLAGE_MONTH_PROJECTIONS = ("tvc", "tvs")
VILLAGE_MONTH_KINDS = ("rep", "clo", "due", "eva")
# The duration bins multiply every row by up to ~110 bins: ``hst`` keeps the district, towns,
# categories and town × category by day, and adds sources, departments and the pairs town × source,
# town × department and category × source by month. The hour tier does not keep it (a percentile's
# sub-day edges are a few hundred closures). A percentile's bin counts are a scan of every row of the
# projection in the range, its filters checked row by row: a category read from town × category rows
# (or a source with the eastern switch from the source's facts) was ~0.1–0.4 s of a three-year view.
# The other pairs with a department read the facts through the (department, closed) index.
# Letter ``e`` is the town reduced to the eastern switch (:func:`eastern_mark`): a view that leaves out
# 大江东 (and names no town) reads two rows a bucket where ``t`` holds one per town.
HST_PROJECTIONS = {
    "h": (),
    "d": ("", "e", "t", "c", "ec", "tc"),
    "m": ("", "e", "t", "c", "ec", "tc", "s", "d", "es", "ts", "cs"),
}


def projections(kind: str, tier: str) -> tuple[str, ...]:
    """The projections of ``kind`` stored in ``tier`` (``hst`` keeps its bin in each)."""
    if kind == "hst":
        return HST_PROJECTIONS[tier]
    if tier == "h":
        return HOUR_PROJECTIONS
    ranked = kind in RANKED_KINDS
    day = DAY_PROJECTIONS + (RANKED_PROJECTIONS if ranked else ()) + VILLAGE_PROJECTIONS
    if tier == "d":
        return day
    villages = VILLAGE_MONTH_PROJECTIONS if kind in VILLAGE_MONTH_KINDS else ()
    month = MONTH_PROJECTIONS + (RANKED_MONTH_PROJECTIONS if ranked else ()) + villages
    return day + tuple(p for p in month if p not in day)


def best_projection(kind: str, tier: str, needed: str) -> str | None:
    """The smallest stored projection of ``kind`` in ``tier`` that keeps every dimension in ``needed``
    (a town, ``t``, also keeps the eastern switch, ``e``); of two as small, the one with ``e``."""
    fits = [p for p in projections(kind, tier) if set(needed) <= set(p) | ({"e"} if "t" in p else set())]
    return min(fits, key=lambda p: (len(p), "t" in p)) if fits else None


def eastern_mark() -> str:
    """The town a row of a projection with ``e`` holds for the eastern towns (one of their codes, so the
    eastern switch's ``town NOT IN (…)`` leaves it out as it is); the other towns' rows hold ``*``."""
    return min(domain.eastern_town_codes())


def project(p: str, dims: tuple[str, str, str, str, str]) -> tuple[str, str, str, str, str]:
    """The (town, cat, dept, src, village) of a projection-``p`` row: the dimensions it drops hold ``*``."""
    out = [v if d in p else ANY for v, d in zip(dims, LETTERS, strict=True)]
    if "e" in p:
        out[0] = eastern_mark() if dims[0] in domain.eastern_town_codes() else ANY
    return tuple(out)  # type: ignore[return-value]


def project_sql(p: str, dims: tuple[Any, Any, Any, Any, Any]) -> tuple[list[Any], list[Any]]:
    """:func:`project` in SQL: the five dimension columns of a projection-``p`` row ('*' for those it
    drops), and the columns it groups by."""
    pairs = list(zip(dims, LETTERS, strict=True))
    kept = [c if d in p else literal(ANY) for c, d in pairs]
    grouped = [c for c, d in pairs if d in p]
    if "e" in p:
        # Codes as literal text, not parameters: PostgreSQL must see the same expression in the GROUP BY.
        eastern: list[Any] = [literal_column(f"'{code}'") for code in sorted(domain.eastern_town_codes())]
        kept[0] = case(
            (dims[0].in_(eastern), literal_column(f"'{eastern_mark()}'")), else_=literal_column(f"'{ANY}'")
        )
        grouped.insert(0, kept[0])
    return kept, grouped
