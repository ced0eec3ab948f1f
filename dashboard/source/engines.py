"""Engines: a read-only one for the dashboard, a writable one for the administration tools.

The dashboard never writes to the source. Read-only is enforced by the connection itself, not by
convention: ``mode=ro`` on SQLite, ``default_transaction_read_only`` on PostgreSQL and a read-only
session transaction on MariaDB (plus, in production, a SELECT-only role: ``dashboard/source/README.md``
→ "Databases and read-only access").
Every source connection also carries a statement timeout so one slow query cannot hang a screen, and
inside a request's time budget (:mod:`dashboard.core.budget`: every Dash callback has one) each
statement gets only what is left of that budget: ``SET LOCAL statement_timeout`` on PostgreSQL,
``SET STATEMENT max_statement_time … FOR`` on MariaDB, the progress handler on SQLite.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, make_url, pool
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.schema import CreateTable

from dashboard.core.budget import BudgetExceeded, current_budget, remaining_ms, spent, statement_timeout_ms
from dashboard.source.schema import metadata

SQLITE_BUSY_MS = 10_000
QUERY = re.compile(r"\s*(?:SELECT|WITH)\b", re.IGNORECASE)  # what MariaDB's SET STATEMENT … FOR may wrap


def normalise_url(url: str | URL) -> URL:
    """Pick the drivers we ship extras for when the URL names none."""
    u = make_url(url)
    if u.drivername in {"postgresql", "postgres"}:
        u = u.set(drivername="postgresql+psycopg")
    elif u.drivername in {"mysql", "mariadb"}:
        u = u.set(drivername="mysql+pymysql")
    if u.get_backend_name() == "mysql" and "charset" not in u.query:
        u = u.update_query_dict({"charset": "utf8mb4"})
    return u


def backend_name(url: str | URL) -> str:
    """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB reports itself as mysql)."""
    return normalise_url(url).get_backend_name()


def _sqlite_path(u: URL) -> str:
    if not u.database or u.database == ":memory:":
        raise ValueError("the SQLite source must be a file, not :memory:")
    return u.database


def _install_sqlite_pragmas(engine: Engine, *, readonly: bool, timeout_ms: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        if not readonly:
            # WAL lets the live feed write while the dashboard reads.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        if timeout_ms:
            _install_sqlite_timeout(dbapi_conn, timeout_ms)


def _install_sqlite_timeout(dbapi_conn: sqlite3.Connection, timeout_ms: int) -> None:
    """SQLite has no statement timeout: abort a statement from a progress handler instead."""
    state = {"start": time.monotonic()}

    def _reset(*_args: Any) -> None:
        state["start"] = time.monotonic()

    def _check() -> int:
        if (time.monotonic() - state["start"]) * 1000 > timeout_ms:
            return 1
        left = remaining_ms()  # the request's time budget, in the thread running the statement
        return 1 if left is not None and left <= 0 else 0

    dbapi_conn.set_progress_handler(_check, 50_000)
    dbapi_conn.set_trace_callback(_reset)


def _install_budget(engine: Engine, backend: str, timeout_ms: int) -> None:
    """Give each statement run inside a time budget only what is left of it (see the module docstring)."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _limit(
        _conn: Any, cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool
    ) -> tuple[str, Any]:
        timeout = statement_timeout_ms(timeout_ms)  # BudgetExceeded: the statement is not started
        if timeout is None:
            return statement, parameters
        if backend == "postgresql":  # undone when the transaction ends, when the connection goes back
            cursor.execute(f"SET LOCAL statement_timeout = {timeout}")
        elif backend == "mysql" and QUERY.match(statement):
            statement = f"SET STATEMENT max_statement_time={timeout / 1000:.3f} FOR {statement}"
        return statement, parameters  # SQLite: the progress handler reads the budget itself

    @event.listens_for(engine, "handle_error")
    def _over_budget(context: ExceptionContext) -> None:
        budget = current_budget()
        if budget is not None and spent() and not isinstance(context.original_exception, BudgetExceeded):
            raise BudgetExceeded(budget.ms) from context.original_exception


def make_writer_engine(url: str | URL) -> Engine:
    """A writable engine: the tools' (init-db, seed, simulate, import) and the dashboard's own stores' (the
    state store, the rollups). The dashboard reads the source only through :func:`make_source_engine`."""
    u = normalise_url(url)
    if u.get_backend_name() == "sqlite":
        path = Path(_sqlite_path(u))
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        _install_sqlite_pragmas(engine, readonly=False, timeout_ms=None)
        return engine
    if u.get_backend_name() == "postgresql":
        # JIT off here too: this engine also reads the rollups and the state store, short aggregates
        # in long UNIONs that JIT compiled for seconds (3.6 s of a 3.9 s read of a year's rollups).
        return create_engine(u, pool_pre_ping=True, pool_recycle=1800, connect_args={"options": "-c jit=off"})
    return create_engine(u, pool_pre_ping=True, pool_recycle=1800)


def make_source_engine(url: str | URL, *, timeout_ms: int = 8000) -> Engine:
    """The dashboard's read-only engine on the source, with a statement timeout on every backend."""
    u = normalise_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        path = Path(_sqlite_path(u)).resolve()
        uri = f"file:{path}?mode=ro"
        # QueuePool, not SQLite's default SingletonThreadPool: the server runs a thread per request, and
        # the singleton pool closed connections other threads were still using (libsqlite3 then crashed).
        engine = create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(
                uri, uri=True, check_same_thread=False, timeout=SQLITE_BUSY_MS / 1000
            ),
            poolclass=pool.QueuePool,
            pool_size=5,
            max_overflow=10,
        )
        _install_sqlite_pragmas(engine, readonly=True, timeout_ms=timeout_ms)
        _install_budget(engine, backend, timeout_ms)
        return engine
    if backend == "postgresql":
        # JIT compiles each aggregate for ~0.5 s to save ~0.1 s: off for short dashboard queries.
        options = f"-c default_transaction_read_only=on -c statement_timeout={int(timeout_ms)} -c jit=off"
        engine = create_engine(
            u,
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={"options": options, "connect_timeout": 5},
        )
        _install_budget(engine, backend, timeout_ms)
        return engine
    if backend == "mysql":
        engine = create_engine(
            u, pool_pre_ping=True, pool_recycle=1800, connect_args={"connect_timeout": 5, "read_timeout": 60}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION READ ONLY")
                cur.execute(f"SET SESSION max_statement_time={timeout_ms / 1000:.3f}")
                cur.execute("SET time_zone = '+00:00'")

        _install_budget(engine, backend, timeout_ms)
        return engine
    raise ValueError(f"unsupported database backend {backend!r}: use sqlite, postgresql or mysql/mariadb")


def create_racing(make: Callable[[], None], attempts: int = 6) -> None:
    """Run ``make`` (a ``create_all`` and the like, all idempotent), again after losing a race.

    Why: the workers of ``make serve`` start at once and each creates the state store's and the rollups'
    missing tables; on PostgreSQL two ``CREATE TABLE`` of the same name both pass the existence check
    and one fails (``UniqueViolation`` on ``pg_type_typname_nsp_index``), on SQLite and MariaDB likewise
    ("already exists"). The winner has created them: the next attempt's existence checks see them.
    On MariaDB the winner's DDL (a table, then each of its indexes) can take seconds on a busy machine,
    and a loser meets it again index by index ("Duplicate key name", seen once with three attempts):
    the waits double, 0.2 s to 3.2 s, about 6 s in all.
    """
    for attempt in range(attempts):
        try:
            make()
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * 2**attempt)


def init_db(url: str | URL) -> Engine:
    """Create every table and index of the canonical schema (idempotent), and bring a database made by
    an earlier version up to it (:func:`upgrade_schema`)."""
    engine = make_writer_engine(url)
    metadata.create_all(engine)
    stale = stale_indexes(engine)
    with (
        engine.begin() as conn
    ):  # an index added or widened since the database was made (create_all skips those)
        for table in metadata.sorted_tables:
            for index in table.indexes:
                if index.name in stale:
                    index.drop(conn)
                index.create(conn, checkfirst=True)
    upgrade_schema(engine)
    return engine


def stale_indexes(engine: Engine) -> set[str]:
    """The canonical indexes the database holds with other columns than the schema's (an index widened
    since, as ``ix_inspection_at`` by the rectification deadline): made again by :func:`init_db`."""
    found = inspect(engine)
    stale = set()
    for table in metadata.sorted_tables:
        if not found.has_table(table.name):
            continue
        held = {ix["name"]: list(ix["column_names"]) for ix in found.get_indexes(table.name)}
        for index in table.indexes:
            wanted = [c.name for c in index.columns]
            if index.name in held and held[index.name] != wanted:
                stale.add(str(index.name))
    return stale


# Columns that became nullable after databases were made with them NOT NULL: event.grid_code and
# event.village_code (town-level cases, 未落网格). Only init-db, seed and import's own databases are
# upgraded: the dashboard never writes to a real source.
RELAXED = {"event": ("grid_code", "village_code")}


def not_null_columns(engine: Engine | Connection, table: str) -> list[str]:
    """The columns of ``table`` (among :data:`RELAXED`'s) that the database still holds NOT NULL."""
    columns = {c["name"]: c for c in inspect(engine).get_columns(table)}
    return [name for name in RELAXED.get(table, ()) if name in columns and not columns[name]["nullable"]]


def upgrade_schema(engine: Engine) -> list[str]:
    """Relax the :data:`RELAXED` columns where the database still has them NOT NULL; returns the
    ``table.column`` names changed. PostgreSQL and MariaDB alter the column; SQLite cannot, so the
    table is copied into a new one of the canonical shape (the documented way: new table, copy, drop,
    rename, indexes), in one transaction."""
    changed: list[str] = []
    for name in RELAXED:
        if not inspect(engine).has_table(name):
            continue
        stale = not_null_columns(engine, name)
        if not stale:
            continue
        table = metadata.tables[name]
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                _rebuild_sqlite_table(conn, table)
            for col in stale:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"ALTER TABLE {name} ALTER COLUMN {col} DROP NOT NULL")
                elif conn.dialect.name == "mysql":
                    # MODIFY restates the whole column: its comment too, or it is lost.
                    kind = table.c[col].type.compile(dialect=conn.dialect)
                    comment = (table.c[col].comment or "").replace("'", "''")
                    conn.exec_driver_sql(f"ALTER TABLE {name} MODIFY {col} {kind} NULL COMMENT '{comment}'")
        changed += [f"{name}.{col}" for col in stale]
    return changed


def _rebuild_sqlite_table(conn: Connection, table: Table) -> None:
    ddl = str(CreateTable(table).compile(dialect=conn.dialect))
    temp = f"{table.name}_upgrade"
    conn.exec_driver_sql(ddl.replace(f"CREATE TABLE {table.name} (", f"CREATE TABLE {temp} (", 1))
    cols = ", ".join(c.name for c in table.columns)
    conn.exec_driver_sql(f"INSERT INTO {temp} ({cols}) SELECT {cols} FROM {table.name}")
    conn.exec_driver_sql(f"DROP TABLE {table.name}")  # its indexes go with it
    conn.exec_driver_sql(f"ALTER TABLE {temp} RENAME TO {table.name}")
    for index in table.indexes:
        index.create(conn)


def refresh_planner_statistics(engine: Engine, tables: list[str], *, vacuum: bool = False) -> None:
    """ANALYZE ``tables`` after a bulk load that this program wrote itself (the sample database, the
    rollups; never the source). Without statistics PostgreSQL guesses a row or two per index range and
    picks bitmap scans that read every matching row instead of stopping at the first (the patrol panel's
    last patrol per grid: 0.39 s without, 0.11 s with, at 1.2 M events). ``vacuum`` also sets the
    visibility map on PostgreSQL, so covering indexes give index-only scans."""
    names = ", ".join(tables)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
        elif conn.dialect.name == "postgresql":
            conn.exec_driver_sql(("VACUUM ANALYZE " if vacuum else "ANALYZE ") + names)
        else:
            conn.exec_driver_sql("ANALYZE TABLE " + names)
