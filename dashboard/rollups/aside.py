"""On SQLite, the month tier of a full build is summed in scratch files, on a second core.

Why: SQLite runs a statement on one core, and a full build's tiers are ~110 INSERT … SELECT statements
(`make run`'s sample: 115–136 s, the month tier about half of it, with the other core idle: the server
starts only after the build). The build is one transaction, which no other connection can read. So:

1. the build loads the facts and evaluations into a scratch file (``….facts-build``) instead of the
   store, commits it, and copies them into the store in SQL (``ATTACH``: no Python per row);
2. a thread of its own sums the month tier from that file into a second one (``….month-build``) while
   the build makes its indexes and its day and hour tiers (Python's sqlite3 releases the GIL while a
   statement runs);
3. the build copies the month rows in (4.1 M rows: ~7 s).

The rows are the very statements' of the serial build, on the same facts. PostgreSQL and MariaDB build in
line (:func:`scratch_base` returns None). The files are scratch: no journal, no fsync, deleted when the
build ends, whether it succeeds or not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event

from dashboard.rollups.tables import ru_agg, ru_eval, ru_fact, ru_month

FACTS_ALIAS = "ru_facts_aside"  # the facts' scratch file, attached to the store and to the thread
MONTH_ALIAS = "ru_month_aside"  # the month tier's, attached to the store at the end


def scratch_base(conn: Connection) -> Path | None:
    """The path the scratch files of a build on ``conn`` are named after: a SQLite store's file. None for
    an in-memory store or another backend (they build in line)."""
    if conn.dialect.name != "sqlite":
        return None
    database = conn.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


class MonthAside:
    """The month tier summed on a thread of its own (module docstring).

    ``fill_months`` fills ``ru_month`` from the facts and ``statements`` are the month tier's INSERT …
    SELECT statements; ``finished`` counts those run of ``total`` (for the build's progress bar, which the
    build's own thread draws)."""

    def __init__(
        self, base: Path, fill_months: Callable[[Connection], None], statements: Sequence[Any]
    ) -> None:
        self.facts_path = base.with_name(base.name + ".facts-build")
        self.month_path = base.with_name(base.name + ".month-build")
        self._fill_months = fill_months
        self._statements = list(statements)
        self.total = len(self._statements)
        self.finished = 0
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._remove()  # scratch files left by a build that was killed
        self._facts_engine = _scratch_engine(self.facts_path)
        self._loading: Connection | None = None

    # -- the build's side --
    def loading(self) -> Connection:
        """The connection the build loads the facts and evaluations through (in a transaction)."""
        conn = self._facts_engine.connect()
        conn.begin()
        for table in (ru_fact, ru_eval):
            _create_bare(conn, table)
        self._loading = conn
        return conn

    def loaded(self, store: Connection) -> None:
        """The facts and evaluations are loaded: committed, copied into ``store``, and the month tier's
        thread started on them."""
        assert self._loading is not None, "loading() first"
        self._loading.commit()
        self._loading.close()
        self._loading = None
        store.exec_driver_sql(f"ATTACH DATABASE ? AS {FACTS_ALIAS}", (str(self.facts_path),))
        for table in (ru_fact, ru_eval):
            store.exec_driver_sql(f"INSERT INTO main.{table.name} SELECT * FROM {FACTS_ALIAS}.{table.name}")
        # Attached for the rest of the transaction (SQLite refuses to detach a file the transaction has
        # read): the connection is closed when the build ends, not returned to the pool.
        store.detach()
        self._thread = threading.Thread(target=self._run, name="rollups-month-tier", daemon=True)
        self._thread.start()

    def copy_into(self, store: Connection, waiting: Callable[[], None]) -> None:
        """Wait for the month tier (``waiting`` is called twice a second meanwhile), then copy its rows
        into ``store``'s ``ru_agg`` and delete the scratch files (still readable by this connection, which
        is closed when the build's transaction ends)."""
        assert self._thread is not None, "loaded() first"
        while self._thread.is_alive():
            self._thread.join(0.5)
            waiting()
        if self._error is not None:
            raise RuntimeError("the month tier, summed aside, failed") from self._error
        store.exec_driver_sql(f"ATTACH DATABASE ? AS {MONTH_ALIAS}", (str(self.month_path),))
        store.exec_driver_sql(f"INSERT INTO main.{ru_agg.name} SELECT * FROM {MONTH_ALIAS}.{ru_agg.name}")
        self._remove()
        self._facts_engine.dispose()

    def abandon(self) -> None:
        """The build failed: stop the thread at its next statement and delete the scratch files."""
        self._stop.set()
        if self._loading is not None:
            self._loading.close()
            self._loading = None
        if self._thread is not None:
            self._thread.join()
        self._facts_engine.dispose()
        self._remove()

    # -- the thread's side --
    def _run(self) -> None:
        engine = _scratch_engine(self.month_path)
        try:
            with engine.begin() as conn:
                # The facts' tables are found in the attached file: the month file has none of its own.
                conn.exec_driver_sql(f"ATTACH DATABASE ? AS {FACTS_ALIAS}", (str(self.facts_path),))
                for table in (ru_month, ru_agg):
                    _create_bare(conn, table)
                self._fill_months(conn)
                for statement in self._statements:
                    if self._stop.is_set():
                        return
                    conn.execute(statement)
                    self.finished += 1
        except BaseException as exc:  # told to the build, which raises it (copy_into)
            self._error = exc
        finally:
            engine.dispose()

    def _remove(self) -> None:
        for path in (self.facts_path, self.month_path):
            for part in (path, path.with_name(path.name + "-journal")):
                part.unlink(missing_ok=True)


def _create_bare(conn: Connection, table: Table) -> None:
    """``table`` in the scratch file's own schema, without secondary indexes: the statements scan it."""
    table.create(conn, checkfirst=True)
    for index in table.indexes:
        index.drop(conn, checkfirst=True)


def _scratch_engine(path: Path) -> Engine:
    """A scratch file: nothing in it needs to survive a crash."""
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode = OFF")
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.close()

    return engine
