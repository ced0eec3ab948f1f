"""The bench's PostgreSQL dataset is copied from its SQLite one: the same rows, the seed's schema and upkeep.

A small district (scale 0.05, 14 days, a day of patrols) is seeded into SQLite by ``ensure_dataset``, then
``ensure_dataset`` for PostgreSQL must copy it (not seed again) into a database that reads back row for
row the same, with every index of the canonical schema, the serial sequences past the largest ids and
the planner's statistics gathered. Skips without PostgreSQL (fails under CI=true).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text

from dashboard.perf.config import Config
from dashboard.perf.datasets import Dataset, dataset_key, ensure_dataset
from dashboard.source import schema
from tests.support.services import PG_ADMIN_URL, make_empty_database, need, port_open

pytestmark = pytest.mark.slow

# Not the bench's 42 (its database name must not be one a real bench uses), and one of this process's
# own: the dataset's database is named after its seed, and two runs of this module at once (a clean
# clone's suite beside a worktree's) dropped each other's database in the middle of a copy.
SEED = 7_000_000 + os.getpid()


@pytest.fixture(scope="session")  # made once even when other modules' tests come between these
def copied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Dataset, Dataset]]:
    need(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    cfg = Config.for_mode(
        "quick", seed=SEED, scales=(0.05,), days=14, patrol_days=1, pg_url=PG_ADMIN_URL, quiet=True,
        data_dir=tmp_path_factory.mktemp("bench"),
    )  # fmt: skip
    lite = ensure_dataset(cfg, "sqlite", 0.05)
    pg = ensure_dataset(cfg, "postgresql", 0.05)
    try:
        yield cfg, lite, pg
    finally:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = "xsbench_" + dataset_key(SEED, 0.05, 14, 1).replace("-", "_")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_postgresql_dataset_is_copied_not_seeded(copied: tuple[Config, Dataset, Dataset]) -> None:
    cfg, lite, pg = copied
    key = dataset_key(SEED, 0.05, 14, 1)
    marker = json.loads(Path(cfg.data_dir / f"{key}.postgresql.json").read_text())
    assert marker["copied_from"] == f"{key}.db"
    assert set(marker["phases"]) == {"tables", "indexes", "analyze"}
    assert {k: pg.counts[k] for k in lite.counts} == lite.counts  # the copy also counts staff, departments
    assert pg.counts["event"] > 0 and pg.counts["event_action"] > pg.counts["event"]


def test_every_row_reads_back_the_same(copied: tuple[Config, Dataset, Dataset]) -> None:
    _, lite, pg = copied
    a, b = create_engine(lite.url), create_engine(pg.url)
    try:
        for table in schema.ALL_TABLES:
            query = select(table).order_by(*table.primary_key.columns)
            with a.connect() as ca, b.connect() as cb:
                left, right = ca.execute(query).all(), cb.execute(query).all()
            assert len(left) == len(right), table.name
            assert left == right, table.name  # typed values: aware instants, dates, booleans, floats
    finally:
        a.dispose()
        b.dispose()


def test_indexes_sequences_statistics_as_seeded(copied: tuple[Config, Dataset, Dataset]) -> None:
    _, _, pg = copied
    engine = create_engine(pg.url)
    try:
        found = inspect(engine)
        for table in schema.ALL_TABLES:
            names = {i["name"] for i in found.get_indexes(table.name)}
            assert {i.name for i in table.indexes} <= names, table.name
            assert found.get_foreign_keys(table.name) or not table.foreign_keys, table.name
        with engine.connect() as conn:
            moved = 0
            for table in schema.ALL_TABLES:  # every serial id, not only the seed's event and patrol ids
                (key, *more) = table.primary_key.columns
                seq = conn.execute(
                    text(f"SELECT pg_get_serial_sequence('{table.name}', '{key.name}')")
                ).scalar()
                if more or seq is None:
                    continue
                top = conn.execute(
                    text(f"SELECT COALESCE(MAX({key.name}), 0) FROM {table.name}")
                ).scalar_one()
                assert conn.execute(text(f"SELECT nextval('{seq}')")).scalar_one() == top + 1, table.name
                moved += 1
            assert moved >= 7  # event, event_action, evaluation, patrol, patrol_checkin, video, inspections
            stale = conn.execute(
                text(
                    "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NULL OR last_vacuum IS NULL"
                )
            ).all()
            assert stale == []
    finally:
        engine.dispose()


@pytest.fixture
def empty_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh empty PostgreSQL database, dropped afterwards."""
    yield from make_empty_database("postgresql", tmp_path_factory)


def test_the_live_feed_writes_into_a_copy(copied: tuple[Config, Dataset, Dataset], empty_pg: str) -> None:
    """What the bench's feed does to its PostgreSQL dataset: new events, actions, patrols, camera changes,
    each numbered by its sequence (in a copy of its own: the other tests read the copied rows)."""
    from dashboard.perf.datasets import data_end
    from dashboard.perf.transfer import copy_sqlite_to_postgresql
    from dashboard.sample.simulate import catch_up

    cfg, lite, _ = copied
    copy_sqlite_to_postgresql(
        str(cfg.data_dir / f"{dataset_key(SEED, 0.05, 14, 1)}.db"), empty_pg, progress=False
    )
    engine = create_engine(empty_pg)
    try:
        before = _counts(engine)
        assert catch_up(empty_pg, data_end(lite.url) + dt.timedelta(hours=6), seed=SEED, rate=3.0) > 0
        after = _counts(engine)
    finally:
        engine.dispose()
    grew = {t for t in before if after[t] > before[t]}
    assert {"event", "event_action", "video_status_change"} <= grew, grew


def _counts(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(text(f"SELECT COUNT(*) FROM {t.name}")).scalar_one()
            for t in schema.ALL_TABLES
        }
