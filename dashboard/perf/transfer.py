"""A seeded SQLite district copied into an empty PostgreSQL database, row for row, instead of seeded again.

Generating a district is Python work (≈9 min for 1.2 M events, most of an hour for 10 M); copying the
finished rows is COPY work. The copy gives the PostgreSQL dataset the same rows as the SQLite one (same
ids, same timestamps, same ``now``), so the two backends are measured on identical data, and then what
:func:`dashboard.sample.seed.seed_database` leaves on PostgreSQL: the canonical schema with every index,
the serial sequences past the largest ids, ``VACUUM ANALYZE``.

How: :func:`~dashboard.source.engines.init_db` makes the schema; the secondary indexes are dropped, each
table is streamed from SQLite in rowid order (the order the seed wrote it) into ``COPY … FROM STDIN`` in
chunks, with the foreign-key triggers off for the session when the role may do that (the rows come from
a database that already holds them consistent); then the indexes are built again, one each, every
serial sequence moved past its largest id and the statistics gathered. Values go as SQLite stores them: timestamps and dates as
the text the seed wrote for both backends, booleans as 0/1 (which PostgreSQL's boolean input accepts).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table

from dashboard.core.progress import Progress
from dashboard.sample.writes import drop_indexes
from dashboard.source import schema
from dashboard.source.engines import init_db, refresh_planner_statistics

CHUNK = 20_000


@dataclass
class CopyReport:
    """What a copy wrote: rows per table, total seconds, seconds per phase (tables, indexes, analyze) and
    the seconds of each table's COPY."""

    counts: dict[str, int]
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)
    table_seconds: dict[str, float] = field(default_factory=dict)


def copy_sqlite_to_postgresql(sqlite_path: str, pg_url: str, *, progress: bool = True) -> CopyReport:
    """Copy every canonical table of the SQLite file at ``sqlite_path`` into the empty database ``pg_url``.

    Refuses a target that already holds rows. Counts are checked table by table (ValueError on a
    mismatch).
    """
    started = time.monotonic()
    phases: dict[str, float] = {}
    counts: dict[str, int] = {}
    per_table: dict[str, float] = {}
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    engine = init_db(pg_url)
    try:
        present = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables = [t for t in schema.metadata.sorted_tables if t.name in present]
        totals = {t.name: int(src.execute(f'SELECT COUNT(*) FROM "{t.name}"').fetchone()[0]) for t in tables}
        with engine.connect() as conn:
            for t in tables:
                if conn.exec_driver_sql(f'SELECT 1 FROM "{t.name}" LIMIT 1').first() is not None:
                    raise ValueError(f"{t.name} already holds rows: copy into an empty database")
            dropped = drop_indexes(conn, tables)
            t0 = time.monotonic()
            _replica_role(conn)
            with Progress("复制 copy → PostgreSQL", sum(totals.values()), enabled=progress) as bar:
                for t in tables:
                    t1 = time.monotonic()
                    counts[t.name] = _copy_table(src, conn, t, bar)
                    per_table[t.name] = round(time.monotonic() - t1, 2)
                    if counts[t.name] != totals[t.name]:
                        raise ValueError(f"{t.name}: copied {counts[t.name]:,} rows of {totals[t.name]:,}")
            conn.exec_driver_sql("SET session_replication_role = DEFAULT")
            conn.commit()
            phases["tables"] = round(time.monotonic() - t0, 2)
            t0 = time.monotonic()
            with Progress("索引 indexes", len(dropped), enabled=progress) as bar:
                for idx in dropped:
                    idx.create(conn)
                    conn.commit()
                    bar.advance()
            sync_all_sequences(conn, tables)
            conn.commit()
            phases["indexes"] = round(time.monotonic() - t0, 2)
        t0 = time.monotonic()
        refresh_planner_statistics(engine, [t.name for t in schema.ALL_TABLES], vacuum=True)
        phases["analyze"] = round(time.monotonic() - t0, 2)
    finally:
        src.close()
        engine.dispose()
    return CopyReport(counts, time.monotonic() - started, phases, per_table)


def sync_all_sequences(conn: Connection, tables: list[Table]) -> None:
    """Every serial sequence past its table's largest id. The seed names the ids of events and patrols
    only (:func:`~dashboard.sample.writes.sync_sequences`) and lets PostgreSQL number the other rows;
    the copy names every id, so every sequence must move, or the feed's first action collides with id 1."""
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not keys[0].autoincrement or keys[0].type.python_type is not int:
            continue
        tbl, col = table.name, keys[0].name
        conn.exec_driver_sql(
            f"SELECT setval(seq, COALESCE((SELECT MAX({col}) FROM {tbl}), 0) + 1, false) "
            f"FROM pg_get_serial_sequence('{tbl}', '{col}') AS seq WHERE seq IS NOT NULL"
        )


def _replica_role(conn: Connection) -> None:
    """Foreign-key triggers off for this session when the role may (a superuser); else they check each row."""
    try:
        conn.exec_driver_sql("SET session_replication_role = replica")
    except Exception:
        conn.rollback()


def _copy_table(src: sqlite3.Connection, conn: Connection, table: Table, bar: Progress) -> int:
    """Stream one table from SQLite into COPY in rowid order; returns the rows written."""
    names = [c.name for c in table.columns]
    quote = conn.dialect.identifier_preparer.quote
    cols = ", ".join(quote(n) for n in names)
    cur = src.execute(f"SELECT {cols} FROM {quote(table.name)} ORDER BY rowid")
    raw = conn.connection.driver_connection
    written = 0
    with raw.cursor() as pg, pg.copy(f"COPY {quote(table.name)} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
        while rows := cur.fetchmany(CHUNK):
            for row in rows:
                copy.write_row(row)
            written += len(rows)
            bar.advance(len(rows))
    return written


__all__ = ["CopyReport", "copy_sqlite_to_postgresql", "sync_all_sequences"]
