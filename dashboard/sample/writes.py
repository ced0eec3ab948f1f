"""Bulk writes of generated rows: chunked ``executemany`` (COPY on PostgreSQL), serial sequences, and the
SQLite settings and index handling that make a fresh load fast.

Rows arrive as tuples already in storage form (see :mod:`dashboard.sample.times`): no per-row ORM work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, select, text

from dashboard.core.progress import Progress
from dashboard.source import schema


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> int:
    """Insert tuples (values already in storage form) with the driver's executemany, in chunks.

    PostgreSQL gets COPY (psycopg's executemany is one round trip per row);
    PyMySQL rewrites executemany into multi-row INSERTs by itself; SQLite's executemany is already fast.
    """
    if not rows:
        return 0
    quote = conn.dialect.identifier_preparer.quote
    cols = ", ".join(quote(c) for c in columns)
    head = f"INSERT INTO {quote(table.name)} ({cols}) VALUES "
    ncol = len(columns)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(head + "(" + ", ".join("?" * ncol) + ")", list(rows))
    elif conn.dialect.name == "postgresql":
        # COPY through the same connection (and transaction): an order of magnitude faster than INSERT.
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {quote(table.name)} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    else:
        sql = head + "(" + ", ".join(["%s"] * ncol) + ")"
        for i in range(0, len(rows), 5000):
            conn.exec_driver_sql(sql, list(rows[i : i + 5000]))
    return len(rows)


SERIAL_KEYS = {"event": "event_id", "patrol": "patrol_id"}


def sync_sequences(conn: Connection) -> None:
    """Explicit ids leave PostgreSQL's serial sequences behind: move them past the largest id."""
    if conn.dialect.name != "postgresql":
        return
    for tbl, col in SERIAL_KEYS.items():
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{tbl}', '{col}'), "
                f"COALESCE((SELECT MAX({col}) FROM {tbl}), 0) + 1, false)"
            )
        )


def next_id(conn: Connection, column: Any) -> int:
    """One more than the largest value of ``column`` (1 for an empty table)."""
    return int(conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one()) + 1


# --- Loading a fresh database -------------------------------------------------------------------------

BULK_TABLES = (schema.event, schema.event_action, schema.evaluation, schema.patrol, schema.patrol_checkin,
               schema.video_status_change, schema.police_call_stat, schema.safety_inspection)  # fmt: skip


def fast_sqlite(conn: Connection) -> None:
    """A fresh sample database needs no crash safety while it is being filled."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA journal_mode=OFF")  # one write of each page instead of WAL + checkpoint
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        conn.exec_driver_sql("PRAGMA cache_size=-262144")
        conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        conn.exec_driver_sql("PRAGMA threads=2")  # lets CREATE INDEX sort with a helper thread
        conn.commit()


def restore_sqlite(conn: Connection) -> None:
    """Back to a durable SQLite (WAL) once the load is done. (The planner's statistics come from the
    seed's next phase, ``analyze``: an ANALYZE here as well cost the first start ~1.5 s for nothing.)"""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")


def drop_bulk_indexes(conn: Connection) -> list[Any]:
    """Bulk loads into unindexed tables, then one index build each, are much faster (SQLite only:
    MariaDB refuses to drop an index that backs a foreign key, and tests there are small)."""
    if conn.dialect.name != "sqlite":
        return []
    return drop_indexes(conn, BULK_TABLES)


def drop_indexes(conn: Connection, tables: Iterable[Table]) -> list[Any]:
    """Drop the secondary indexes of ``tables`` (primary keys and unique constraints stay); return them."""
    dropped: list[Any] = []
    for table in tables:
        for idx in sorted(table.indexes, key=lambda i: i.name or ""):
            idx.drop(conn)
            dropped.append(idx)
    conn.commit()
    return dropped


def create_indexes(conn: Connection, indexes: list[Any], show: bool) -> None:
    """Build again the indexes :func:`drop_bulk_indexes` dropped, one commit each."""
    with Progress("索引 indexes", len(indexes), enabled=show) as bar:
        for idx in indexes:
            idx.create(conn)
            conn.commit()
            bar.advance()
