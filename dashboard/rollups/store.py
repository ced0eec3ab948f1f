"""The rollup store: the rollup tables in a writable database, brought up to the source's state by
:meth:`RollupStore.sync` (a full build the first time, :mod:`dashboard.rollups.build`; increments after,
:mod:`dashboard.rollups.sync`). The package docstring (:mod:`dashboard.rollups`) tells the whole design.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, make_url, select, update

from dashboard.rollups.buckets import to_us
from dashboard.rollups.build import build_rollups
from dashboard.rollups.patrols import build_patrols, sync_patrols
from dashboard.rollups.sync import Margin, apply_changes
from dashboard.rollups.tables import LAYOUT, rollup_metadata, ru_eval, ru_fact, ru_meta
from dashboard.source.engines import (
    create_racing,
    make_source_engine,
    make_writer_engine,
    refresh_planner_statistics,
)
from dashboard.source.queries.common import E

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    rebuilt: bool
    events: int
    evaluations: int
    seconds: float

    def summary(self) -> str:
        """One line for a terminal: what the sync did and how long it took."""
        what = "built" if self.rebuilt else "brought up to date"
        return f"rollups {what}: {self.events:,} events, {self.evaluations:,} evaluations in {self.seconds} s"


class RollupStore:
    """The rollup tables in a writable database (normally the state store's)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._margin: Margin | None = None  # what the last sync read of the action margin (sync.py)
        create_racing(self._create_tables)  # the workers of `make serve` start at once and race

    def _create_tables(self) -> None:
        """The rollup tables and indexes that are missing, after dropping those of another layout."""
        self._drop_outdated()
        rollup_metadata.create_all(self.engine)
        with self.engine.begin() as conn:  # an index added since the store was built (create_all skips those)
            for index in (*ru_fact.indexes, *ru_eval.indexes):
                index.create(conn, checkfirst=True)

    def _drop_outdated(self) -> None:
        """Tables of another layout are dropped: they are derived data, rebuilt at the next sync. The
        layout is told by the tables' columns and by the number (:data:`LAYOUT`) the build wrote."""
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
        if ru_meta.name in present:
            with self.engine.connect() as conn:
                built = conn.execute(select(ru_meta.c.layout)).scalar()
            if built is not None and int(built) != LAYOUT:
                log.info("the rollups were built with layout %s: dropping them to rebuild them", built)
                rollup_metadata.drop_all(self.engine, checkfirst=True)

    # -- reading meta --
    def meta(self, conn: Connection | None = None) -> Any:
        if conn is None:
            with self.engine.connect() as c:
                return c.execute(select(ru_meta)).first()
        return conn.execute(select(ru_meta)).first()

    # -- building and syncing --
    def sync(
        self,
        source: Connection,
        *,
        rebuild: bool = False,
        progress: bool = False,
        reread: Collection[int] = (),
        rebuild_patrols: bool = False,
    ) -> SyncReport:
        """Bring the rollups up to the source's current state (a full build the first time).

        ``progress`` draws the full build's progress on stderr (the ``rollups`` command). ``reread``
        names events whose rows changed without new actions (an import's updates): they are read again
        along with the ones the watermarks find; ``rebuild_patrols`` sums the patrol tier afresh (patrol
        rows rewritten in place, by an import)."""
        started = time.monotonic()
        margin: Margin | None = None
        if source.dialect.name == "postgresql":
            source.exec_driver_sql("SET LOCAL jit = off")  # compiling cost more than these statements
        with self.engine.begin() as conn:
            self._lock(conn)
            meta = conn.execute(select(ru_meta)).first()
            if meta is not None and not rebuild and _source_replaced(conn, source, meta):
                log.info(
                    "the source was replaced since the rollups were built (a new seed?): rebuilding them"
                )
                rebuild = True
            if meta is None or rebuild:
                events, evals = build_rollups(conn, source, progress)
                rebuilt = True
            else:
                events, evals, margin = apply_changes(conn, source, meta, reread, self._margin)
                if rebuild_patrols:
                    build_patrols(conn, source)
                else:  # (a store built before the patrol tier builds it here)
                    sync_patrols(conn, source)
                rebuilt = False
        self._margin = margin  # only once committed: a sync rolled back read nothing into the rollups
        if rebuilt:
            self._analyze()
        return SyncReport(rebuilt, events, evals, round(time.monotonic() - started, 3))

    def _analyze(self) -> None:
        """Fresh planner statistics after a full build: without them PostgreSQL guessed one row per
        range and walked the tiers with filters instead of index ranges. On PostgreSQL also VACUUM, so
        the percentile reads are index-only scans."""
        # Full statistics, not sampled (SQLite's analysis_limit): sampled ones counted ~2,000 facts per
        # source and ~1,000 per village, and a village's view with a source filter walked the source's
        # (source, key) index instead of the village's (0.3 → 3 s).
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


def _source_replaced(conn: Connection, source: Connection, meta: Any) -> bool:
    """True when the source is no longer the one the rollups were built from: its ids went below the
    watermark, or the last event the rollups know was reported at another time (a re-seeded database
    reuses the ids). Two primary-key probes, so every sync can afford it."""
    wm_event = int(meta.wm_event)
    known = conn.execute(select(ru_fact.c.rep).where(ru_fact.c.event_id == wm_event)).scalar()
    if known is None:
        return False  # no fact at the watermark (an empty source when built): nothing to compare
    reported = source.execute(select(E.c.reported_at).where(E.c.event_id == wm_event)).scalar()
    return reported is None or to_us(reported) != int(known)


def store_url(state_url: str) -> str:
    """Where the rollups of a state store live: in the state store itself on PostgreSQL and MariaDB; on
    SQLite in a file beside it (``state.db`` → ``state.rollups.db``). A full build holds SQLite's one
    write lock for minutes, and in its own file it never blocks the sign-ins, audit lines and last good
    snapshots the state store writes meanwhile."""
    u = make_url(state_url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return state_url
    path = Path(u.database)
    return u.set(database=str(path.with_name(f"{path.stem}.rollups{path.suffix}"))).render_as_string(False)


def update_rollups(
    source_url: str,
    state_url: str,
    *,
    rebuild: bool = False,
    progress: bool = False,
    reread: Collection[int] = (),
    rebuild_patrols: bool = False,
) -> SyncReport:
    """Open the source and the store, bring the rollups up to date (or rebuild them), close both.

    What ``python -m dashboard rollups``, the first start of ``serve`` and an import call; the rollups
    are those of the state store ``state_url`` (:func:`store_url`). The source is read with a day's
    statement timeout: a full build of millions of events runs for minutes."""
    source = make_source_engine(source_url, timeout_ms=24 * 3_600_000)
    store = RollupStore(make_writer_engine(store_url(state_url)))
    try:
        with source.connect() as conn:
            return store.sync(
                conn, rebuild=rebuild, progress=progress, reread=reread, rebuild_patrols=rebuild_patrols
            )
    finally:
        source.dispose()
        store.engine.dispose()


def rollups_built(state_url: str) -> bool:
    """True when the state store ``state_url`` has finished rollups (a full build has completed)."""
    store = RollupStore(make_writer_engine(store_url(state_url)))
    try:
        return store.meta() is not None
    finally:
        store.engine.dispose()
