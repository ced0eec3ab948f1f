"""Workers starting at once on a new store: each creates the missing tables, and none fails for it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from dashboard.rollups.store import RollupStore
from dashboard.rollups.tables import rollup_metadata
from dashboard.service.state import StateStore, state_metadata
from dashboard.source.engines import create_racing, make_writer_engine


def test_a_lost_race_is_tried_again() -> None:
    calls: list[int] = []

    def make() -> None:
        calls.append(1)
        if len(calls) == 1:  # the first attempt loses to another worker's CREATE TABLE
            raise OperationalError("CREATE TABLE ru_agg", {}, Exception("table ru_agg already exists"))

    create_racing(make)
    assert len(calls) == 2


def test_a_lasting_failure_is_raised() -> None:
    def make() -> None:
        raise OperationalError("CREATE TABLE x", {}, Exception("disk I/O error"))

    with pytest.raises(OperationalError):
        create_racing(make, attempts=2)


def test_three_workers_create_a_new_store_at_once(db_url: str) -> None:
    """As the three workers of ``make serve`` do on a database that has no tables yet."""
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def worker() -> None:
        engine: Any = make_writer_engine(db_url)
        try:
            start.wait()
            StateStore(db_url, engine=engine)
            RollupStore(engine)
        except BaseException as exc:  # reported below: a thread cannot fail the test itself
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    engine = make_writer_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(rollup_metadata.tables) | set(state_metadata.tables) <= tables


def test_the_tiles_thread_reads_the_store_at_the_snapshots_moment(db_url: str) -> None:
    """A snapshot's event tiles are read on a second connection (PostgreSQL): it must see the store as
    the snapshot's own transaction does, not a sync that committed since."""
    from sqlalchemy import text

    from dashboard.rollups.read import consistent_read, same_moment

    engine: Any = make_writer_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE moment_probe (x INTEGER NOT NULL)"))
            conn.execute(text("INSERT INTO moment_probe (x) VALUES (1)"))
        with consistent_read(engine.connect()) as main:
            assert main.execute(text("SELECT x FROM moment_probe")).scalar() == 1
            opener = same_moment(main)
            with engine.begin() as sync:  # another process's sync commits half-way through the snapshot
                sync.execute(text("UPDATE moment_probe SET x = 2"))
            if engine.dialect.name != "postgresql":
                assert opener is None  # read in line: a second connection would see x = 2
                # ... and the snapshot's own connection still sees the store as it began reading it
                assert main.execute(text("SELECT x FROM moment_probe")).scalar() == 1
                return
            assert opener is not None
            with opener() as other:
                assert other.execute(text("SELECT x FROM moment_probe")).scalar() == 1
            assert main.execute(text("SELECT x FROM moment_probe")).scalar() == 1
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE moment_probe"))
        engine.dispose()
