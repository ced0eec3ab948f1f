"""The snapshot from the rollups: the same figures as ``build_snapshot``, faster.

Every view the grammar can express is answered here once the rollups are built (see :func:`eligible`):
towns, the eastern switch, categories, sources and departments read the tiers; a village or a grid reads
its own facts; an as-of moment (or a live one before some row of the source) corrects the tiers by the
events in flight then (:class:`~dashboard.rollups.reader.Reader`). Within a fast snapshot, the families
that do not grow with the number of events (patrols and video, whose queries probe an index once per
grid or camera; police statistics, hazards, key areas, the ticker) still run directly on the source.

The event tiles come from the tiers as the same named counts the direct families produce
(:data:`COUNTS`), and the registry's :func:`~dashboard.core.metrics.kpi_values` turns them into tiles:
each metric's formula is written once, in :mod:`dashboard.core.metrics`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import Connection, literal, select, union_all
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from dashboard.core.formulas import Counts
from dashboard.core.metrics import METRICS, in_registry_order, kpi_values
from dashboard.core.periods import Period, effective_now, period_bounds, same_point_before, spark_buckets
from dashboard.core.snapshot import KpiValue, Snapshot
from dashboard.core.viewstate import ViewState, to_params
from dashboard.rollups.buckets import to_us
from dashboard.rollups.panels import fast_alerts, fast_backlog, fast_rankings, fast_trends
from dashboard.rollups.patrols import covered_counts
from dashboard.rollups.reader import STATE_PAIRS, Reader
from dashboard.rollups.store import RollupStore
from dashboard.rollups.tables import LAYOUT, ru_fact
from dashboard.source.queries import kpis
from dashboard.source.queries.common import comparison_instants, spark_instants, upto
from dashboard.source.queries.patrol import patrol_panel
from dashboard.source.queries.scope import Names
from dashboard.source.queries.snapshot import build_snapshot, tune_session, version_and_newest
from dashboard.source.queries.ticker import ticker

T = TypeVar("T")
KpiMap = dict[str, KpiValue]

# The tier kinds that hold the event families' counts: a kind's sums (n, a1 … a4) are these named
# counts, the ones the direct family names, for that family's metrics.
COUNTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("rep", ("reported", "collected", "cohort_closed", "dispatched", "returned"), kpis.REPORTED_METRICS),
    ("clo", ("closed", "hours_sum", "hours_n", "reworked", "local"), kpis.CLOSED_METRICS),
    ("due", ("due", "due_closed", "on_time"), kpis.DUE_METRICS),
    ("eva", ("evaluated", "satisfied"), kpis.EVALUATION_METRICS),
)


def eligible(view: ViewState, now: dt.datetime, meta: Any) -> bool:
    """True when the rollups give exactly the direct answer for ``view`` at ``now``: once they are built,
    for every view and moment, unless some deadline extension breaks the bound the direct due queries
    assume (``odd``)."""
    return meta is not None and not int(meta.odd) and int(meta.layout) == LAYOUT


def reader_for(rconn: Connection, view: ViewState, now: dt.datetime, meta: Any) -> Reader:
    """The tier reader of ``view`` as of ``now`` (the effective moment)."""
    return Reader(rconn, view, at=to_us(upto(now)) or 0, max_ts=int(meta.max_ts))


# --- the KPI tiles ----------------------------------------------------------------------------------------


def _us_ranges(ranges: Sequence[tuple[str, dt.datetime, dt.datetime]]) -> list[tuple[str, int, int]]:
    """Tagged datetime ranges as tagged µs ranges, the tiers' time."""
    return [(tag, to_us(s) or 0, to_us(e) or 0) for tag, s, e in ranges]


def _kind_kpis(reader: Reader, period: Period) -> KpiMap:
    """The tiles of the event families from the sums of their tier kinds (:data:`COUNTS`), per range and
    spark bucket: every kind in one read (one statement per set of kinds that read the same projections,
    and one for the events in flight), not a read per kind.

    A range without facts counts zero, as the direct family's ungrouped branch returns one row of zeros.
    """
    ranges = _us_ranges(period.ranges())
    spark = _us_ranges([(f"s{i}", s, e) for i, (_, s, e) in enumerate(spark_buckets(period))])
    got = reader.multi([kind for kind, _, _ in COUNTS], ranges + spark)
    out: KpiMap = {}
    for kind, names, keys in COUNTS:

        def counts(tag: str, kind: str = kind, names: Sequence[str] = names) -> Counts:
            return dict(zip(names, got.get((kind, tag)) or [0.0] * 5, strict=False))

        out.update(
            kpi_values(keys, {tag: counts(tag) for tag, _, _ in ranges}, [counts(tag) for tag, _, _ in spark])
        )
    return out


def _state_kpis(reader: Reader, period: Period) -> KpiMap:
    """backlog, overdue_open, supervised_open at now, the comparison instants and each spark bucket's end."""
    instants = comparison_instants(period) + [(f"s{i}", t) for i, (_, t) in enumerate(spark_instants(period))]
    got = reader.state_at(STATE_PAIRS, [(tag, to_us(t) or 0) for tag, t in instants])

    def counts(tag: str) -> Counts:
        return {key: got[key].get((tag,), 0.0) for key in kpis.STATE_METRICS}

    spark = [counts(tag) for tag, _ in instants if tag.startswith("s")]
    return kpi_values(kpis.STATE_METRICS, {tag: counts(tag) for tag, _ in instants}, spark)


def _ranks(n: int) -> tuple[list[int], int]:
    """The 1-based ranks of the median (one or two) and of the P90, as the direct query picks them."""
    median = [(n + 1) // 2] if n % 2 else [n // 2, n // 2 + 1]
    return median, (9 * n + 9) // 10


def _rank_offsets(hist: dict[int, int], ranks: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
    """bin → [(rank, offset within the bin)]: which bin holds each rank (1-based, in hours order)."""
    wanted: dict[int, list[tuple[int, int]]] = {}
    before = 0
    for b in sorted(hist):
        for rank in ranks:
            if before < rank <= before + hist[b]:
                wanted.setdefault(b, []).append((rank, rank - before - 1))
        before += hist[b]
    return wanted


HoursAsk = tuple[int, int, dict[int, int], Sequence[int]]  # [start, end), its bin counts, the ranks wanted


def _nth_hours(reader: Reader, asks: Sequence[HoursAsk]) -> list[dict[int, float]]:
    """For each ask, the exact durations at its ranks among the facts closed in [start, end): the bin
    counts say which bin holds each rank, then only that bin's facts are read (the rows from the first
    rank wanted to the last), every range's bins in one statement."""
    f = ru_fact
    branches: list[Any] = []
    # Per (ask, bin): the ask, its ranks there, the first offset read and the branch that reads them. A
    # range asked twice (a year's previous period is also last year) is read by one branch.
    plan: list[tuple[int, list[tuple[int, int]], int, int]] = []
    read: dict[tuple[int, int, int, int, int], int] = {}  # (start, end, bin, first, last) → branch
    for i, (start, end, hist, ranks) in enumerate(asks):
        for b, got in _rank_offsets(hist, ranks).items():
            first, last = min(o for _, o in got), max(o for _, o in got)
            same = (start, end, b, first, last)
            if same not in read:
                read[same] = len(branches)
                rows = (
                    select(f.c.hours)
                    .where(f.c.hbin == b, f.c.clo >= start, f.c.clo < end, *reader.filters(f))
                    .order_by(f.c.hours)
                    .offset(first)
                    .limit(last - first + 1)
                    .subquery()
                )
                branches.append(select(literal(read[same]).label("k"), rows.c.hours))
            plan.append((i, got, first, read[same]))
    out: list[dict[int, float]] = [{} for _ in asks]
    if not branches:
        return out
    values: dict[int, list[float]] = {}
    for k, v in reader.conn.execute(union_all(*branches)):
        values.setdefault(int(k), []).append(float(v))
    for i, got, first, k in plan:
        ordered = sorted(values.get(k, []))  # (a derived table keeps no order)
        for rank, offset in got:
            out[i][rank] = ordered[offset - first]
    return out


def _duration_kpis(reader: Reader, period: Period) -> KpiMap:
    """median_hours_to_close and p90_hours_to_close, exact, from the duration-bin counts (kind ``hst``)."""
    ranges = _us_ranges(period.ranges())
    hists: dict[str, dict[int, int]] = {}
    for (tag, b), acc in reader.sums("hst", ranges, ("bin",)).items():
        if round(acc[0]):
            hists.setdefault(str(tag), {})[int(b)] = round(acc[0])
    counts: dict[str, Counts] = {}
    asks: list[HoursAsk] = []
    ranked: list[tuple[str, int, list[int], int]] = []
    for tag, start, end in ranges:
        hist = hists.get(tag, {})
        n = sum(hist.values())
        counts[tag] = {"median_hours": None, "p90_hours": None, "n": n}
        if n:
            median, p90_rank = _ranks(n)
            asks.append((start, end, hist, sorted({*median, p90_rank})))
            ranked.append((tag, n, median, p90_rank))
    for (tag, n, median, p90_rank), values in zip(ranked, _nth_hours(reader, asks), strict=True):
        counts[tag] = {
            "median_hours": sum(values[r] for r in median) / len(median),
            "p90_hours": values[p90_rank],
            "n": n,
        }
    return kpi_values(kpis.DURATION_METRICS, counts)


def fast_kpis(reader: Reader, view: ViewState, now: dt.datetime) -> KpiMap:
    """The event tiles, from the rollups."""
    period = period_bounds(view, now)
    got = _kind_kpis(reader, period)
    got.update(_state_kpis(reader, period))
    got.update(_duration_kpis(reader, period))
    return got


def source_kpis(conn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """The tiles that are not about events and not in a tier (patrols on duty, video, police, hazards,
    key areas), from the source."""
    families = [f for f in kpis.SOURCE_FAMILIES if f is not kpis.patrol_family]
    return kpis.family_kpis(conn, view, now, families)


def patrol_kpis(conn: Connection, rconn: Connection, view: ViewState, now: dt.datetime) -> KpiMap:
    """The patrol coverage tiles from the patrol tier (:mod:`dashboard.rollups.patrols`)."""
    return kpis.patrol_kpis(now, covered_counts(rconn, conn, view, kpis.patrol_spans(now)))


def cohort_expected(reader: Reader, view: ViewState, now: dt.datetime) -> list[Counts]:
    """``kpis.cohort_expected`` from the rollups: each past period's events collected by its point and
    those of them closed by then, the reported tier's sums as of that point (the events in flight then
    corrected, as for an as-of view)."""
    pace = METRICS["cohort_close_rate"].pace
    assert pace is not None
    past = [
        (tag, to_us(start) or 0, to_us(end) or 0, to_us(at) or 0)
        for tag, start, end, at in same_point_before(period_bounds(view, now), pace.lookback)
    ]
    got = reader.sums_as_of("rep", past)
    out: list[Counts] = []
    for tag, _, _, _ in past:
        acc = got.get((tag,)) or [0.0] * 5
        out.append({"collected": acc[1], "cohort_closed": acc[2]})
    return out


def judged_kpis(reader: Reader, view: ViewState, now: dt.datetime, event_kpis: KpiMap) -> KpiMap:
    """The event tiles judged against what is expected by now (the past periods at the same point)."""
    if "cohort_close_rate" in event_kpis:
        kpis.judge_cohort(event_kpis, cohort_expected(reader, view, now))
    return event_kpis


def all_kpis(conn: Connection, reader: Reader, view: ViewState, now: dt.datetime) -> KpiMap:
    """Every tile of a fast snapshot, in the registry's order."""
    event_kpis = judged_kpis(reader, view, now, fast_kpis(reader, view, now))
    patrols = patrol_kpis(conn, reader.conn, view, now)
    return in_registry_order(event_kpis | patrols | source_kpis(conn, view, now))


SourcePart = tuple[KpiMap, dict[str, Any], tuple[str, dt.datetime | None]]
Opener = Callable[[], AbstractContextManager[Connection]]


def _source_part(conn: Connection, view: ViewState, now: dt.datetime, rollups: Opener) -> SourcePart:
    """What a fast snapshot reads beside its event figures (:func:`_beside`): the source tiles, the patrol
    coverage tiles (from the patrol tier, on a connection ``rollups`` opens), the patrol panel, and the
    data version with the newest timestamp.

    The version and the patrol tier are read here, not on the calling thread, because that thread's
    rollup reads are the longer part of a view: the version's probes sum the police statistics (~25 ms
    at 1.2 M events) and the patrol tier counts the grids covered on each of the last days (~30 ms).
    The version first, so that it is read as soon after the sync as it was on the calling thread."""
    version = version_and_newest(conn, now)
    with rollups() as rconn:
        got = patrol_kpis(conn, rconn, view, now)
    got |= source_kpis(conn, view, now)
    patrol = patrol_panel(conn, view, now, got["patrol_on_duty"].detail, {}, got["video_online_rate"].detail)
    return got, patrol, version


def _rollups_beside(rconn: Connection, in_line: bool) -> Opener:
    """How :func:`_source_part` reaches the rollup store: a connection of its own in the second thread,
    or the snapshot's own where :func:`_beside` runs in line."""
    if in_line:
        return lambda: nullcontext(rconn)
    return rconn.engine.connect


def _can_open_another(conn: Connection) -> bool:
    """Whether a second connection to ``conn``'s database sees the same data: a database server, or an
    SQLite file; not an in-memory SQLite database (each connection of one is a database of its own: its
    engine hands out a single connection, SingletonThreadPool or StaticPool)."""
    if conn.dialect.name != "sqlite":
        return True
    return not isinstance(conn.engine.pool, SingletonThreadPool | StaticPool)


# --- the snapshot ------------------------------------------------------------------------------------------


def _beside(conn: Connection, fn: Callable[[Connection], T], in_line: bool = False) -> Callable[[], T]:
    """Start ``fn`` on a second connection to the source, in a thread; returns a call that waits for it.

    The source families probe an index once per grid or camera in the source while the event figures
    come from the rollups: on two connections the source and the rollup store work at the same time
    (a 10 M-event district snapshot 1.7 → ~1 s on two cores). Statements of one snapshot were never in
    one transaction (each family is one statement, read committed), so nothing is lost. An SQLite file
    is read on two connections as well (SQLite lets go of the GIL while it steps through rows, and WAL
    readers do not block each other). ``in_line``: run it here (an in-memory SQLite database, the
    source's or the rollups', cannot be opened twice, and its one connection cannot be shared by two
    threads).
    """
    if in_line:
        result = fn(conn)
        return lambda: result

    def run() -> T:
        with conn.engine.connect() as other:
            tune_session(other)
            return fn(other)

    return _in_thread(run, "snapshot-source")


def _in_thread(run: Callable[[], T], name: str) -> Callable[[], T]:
    """Start ``run`` in a thread of its own; returns a call that waits for its result (or raises its
    error)."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    future = executor.submit(run)
    executor.shutdown(wait=False)  # the thread ends with its one task
    return future.result


def same_moment(rconn: Connection) -> Opener | None:
    """How a second thread reads the rollup store as ``rconn``'s transaction sees it, or None where it
    cannot: on PostgreSQL a connection of its own that imports this transaction's snapshot
    (``pg_export_snapshot``, as ``pg_dump --jobs`` shares one). Elsewhere the reads stay on one
    connection: SQLite's and MariaDB's second connection would start its own read at its first
    statement, and a sync committed between the two would mix two states of the store."""
    if rconn.dialect.name != "postgresql":
        return None
    exported = str(rconn.exec_driver_sql("SELECT pg_export_snapshot()").scalar())

    @contextmanager
    def opened() -> Iterator[Connection]:
        with rconn.engine.connect() as other:
            other.execution_options(isolation_level="REPEATABLE READ")
            # The transaction's first statement (psycopg's BEGIN comes with it): the imported snapshot.
            other.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{exported}'")
            _tune_reads(other)
            yield other

    return opened


def consistent_read(rconn: Connection) -> Connection:
    """Every read of one snapshot sees the store as one moment: a sync committed by another process
    half-way through would otherwise mix two states of the rollups (and break
    :meth:`Reader.open_at`). MariaDB's default isolation (REPEATABLE READ) already gives that. SQLite's
    driver begins no transaction for a SELECT, so each statement read the store as it then stood: here a
    read transaction is begun, which in WAL mode keeps one state of the file until it ends (the
    connection's return to the pool rolls it back).

    On PostgreSQL the transaction also plans without parallel workers: every read is an index range
    of a few hundred rows, but the planner misjudges the joins of the facts with a list of ranges (the
    surge windows) and starts two workers for them, whose start cost ~10 ms of each 0.1 ms read (two
    such reads per view). The full build, on its own connections, keeps them."""
    if rconn.dialect.name == "postgresql":
        rconn.execution_options(isolation_level="REPEATABLE READ")
        _tune_reads(rconn)
    elif rconn.dialect.name == "sqlite":
        rconn.exec_driver_sql("BEGIN")
    return rconn


def _tune_reads(rconn: Connection) -> None:
    """The settings of a snapshot's transaction on the rollup store (PostgreSQL; see :func:`consistent_read`)."""
    rconn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")


def build_snapshot_fast(conn: Connection, store: RollupStore, view: ViewState, now: dt.datetime) -> Snapshot:
    """``build_snapshot`` with the event figures from the rollups where they are exact; else the direct one.

    The caller syncs the rollups first (:meth:`RollupStore.sync`).
    """
    return answer(conn, store, view, now)[0]


def answer(conn: Connection, store: RollupStore, view: ViewState, now: dt.datetime) -> tuple[Snapshot, bool]:
    """:func:`build_snapshot_fast`, and whether the rollups answered (False: the direct queries did,
    because the rollups are not built yet or cannot be exact: ``FastBuilder`` logs why, once per view)."""
    clock = now
    now = effective_now(view, now)
    with consistent_read(store.engine.connect()) as rconn:
        meta = store.meta(rconn)
        if not eligible(view, now, meta):
            return build_snapshot(conn, view, clock), False
        return _fast(conn, rconn, meta, view, now), True


def _event_tiles(reader: Reader, view: ViewState, now: dt.datetime) -> KpiMap:
    """The event tiles, judged against what is expected by now."""
    return judged_kpis(reader, view, now, fast_kpis(reader, view, now))


def _tiles_beside(
    rconn: Connection, meta: Any, view: ViewState, now: dt.datetime, in_line: bool
) -> Callable[[], KpiMap]:
    """Start the event tiles on a second connection to the rollup store that sees the same moment
    (:func:`same_moment`), in a thread; returns a call that waits for them.

    Why: the tiles and the panels are the two halves of a view's rollup reads, each a few hundred ms
    of the database's time at 10 M events (an as-of quarter: the tiles and the cohort's corrections
    0.46 s, the panels 0.4 s), read one after the other on one connection while the second core
    waited. Where the store cannot be read twice as one moment they are read here, in line."""
    opener = None if in_line else same_moment(rconn)
    if opener is None:
        result = _event_tiles(reader_for(rconn, view, now, meta), view, now)
        return lambda: result

    def run() -> KpiMap:
        with opener() as other:
            return _event_tiles(reader_for(other, view, now, meta), view, now)

    return _in_thread(run, "snapshot-tiles")


def _fast(conn: Connection, rconn: Connection, meta: Any, view: ViewState, now: dt.datetime) -> Snapshot:
    """The fast snapshot of ``view`` at the effective moment ``now``."""
    tune_session(conn)
    in_line = not (_can_open_another(conn) and _can_open_another(rconn))
    rollups = _rollups_beside(rconn, in_line)
    source_part = _beside(conn, lambda c: _source_part(c, view, now, rollups), in_line)
    reader = reader_for(rconn, view, now, meta)
    period = period_bounds(view, now)
    tiles = _tiles_beside(rconn, meta, view, now, in_line)
    ranked = fast_rankings(conn, reader, view, now)
    town_names = {row.code: (row.name_zh, row.name_en) for row in ranked["towns"]}
    names: Names = {}
    backlog_panel = fast_backlog(conn, reader, view, now, names)
    trend_panel = fast_trends(conn, reader, view, now)
    ticker_rows = ticker(conn, view, now, town_names or None)
    alert_rows = fast_alerts(conn, reader, view, now)
    event_kpis = tiles()
    other_kpis, patrol, (version, newest) = source_part()
    return Snapshot(
        view=to_params(view),
        now=now.isoformat(),
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
        data_version=version,
        newest_data_at=newest.isoformat() if newest else None,
        kpis=in_registry_order(event_kpis | other_kpis),
        rankings=ranked,
        backlog=backlog_panel,
        patrol=patrol,
        trends=trend_panel,
        ticker=ticker_rows,
        alerts=alert_rows,
    )
