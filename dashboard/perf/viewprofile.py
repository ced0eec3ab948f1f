"""Where a slow view's cold time went: each SQL statement's time and the Python functions around them.

The coverage section (:mod:`~dashboard.perf.coverage`) times every view once; a view over its target is
answered cold once more here, instrumented, so that a missed target is named in the report with its
profile (issue 16, "Done when"):

* every statement executed on the source and the rollup store, with the tables it reads and, for the
  tiers (``ru_agg``), which tiers; timed from SQLAlchemy's ``before_cursor_execute`` to
  ``after_cursor_execute`` (its execution) and until the next statement of its thread (its span: the
  rows fetched, which SQLite computes only as they are fetched, and what Python made of them);
* a cProfile of the same call, its ten functions of our own code (``dashboard/``) with the largest
  cumulative time. cProfile sees the calling thread only: on PostgreSQL the source families run beside
  in a second thread (:func:`dashboard.rollups.read._beside`); their statements are in the SQL list all
  the same.

The profile is taken with the instrumentation on, so its total is a little above the timed figure.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import pstats
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

SQL_CHARS = 120  # of each statement, in the report
TOP_FUNCTIONS = 10
TOP_OWN = 5
MAX_STATEMENTS = 60  # kept per view, the slowest (a fast view runs a few dozen)
OUR_CODE = str(Path(__file__).resolve().parents[1])  # dashboard/
HARNESS = str(Path(__file__).resolve().parent)  # dashboard/perf: the bench's own wrappers, not the view's

_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+[\"`]?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_TIER = re.compile(r"\btier\s*=\s*'([a-z])'", re.IGNORECASE)
_CTE = re.compile(
    r"(?:\bWITH|,)\s+(?:RECURSIVE\s+)?[\"`]?(\w+)[\"`]?\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(", re.I
)
_SUBQUERY_NAMES = {"select", "lateral", "unnest", "generate_series", "json_each", "values"}


def tables_of(sql: str) -> list[str]:
    """The tables a statement reads (FROM and JOIN targets), in order of first mention."""
    named = {n.lower() for n in _CTE.findall(sql)} | _SUBQUERY_NAMES  # a CTE is not a table
    found = [t for t in _TABLE.findall(sql) if t.lower() not in named]
    return list(dict.fromkeys(found))


def tiers_of(sql: str) -> list[str]:
    """The rollup tiers (``h`` hour, ``d`` day, ``m`` month) a statement on ``ru_agg`` sums."""
    return sorted(set(_TIER.findall(sql)), key="mdh".find) if "ru_agg" in sql else []


def one_line(sql: str) -> str:
    """The statement on one line, its first :data:`SQL_CHARS` characters."""
    flat = " ".join(sql.split())
    return flat if len(flat) <= SQL_CHARS else flat[: SQL_CHARS - 1] + "…"


@dataclass
class Statement:
    """One statement executed: where, its text, its execution, and its span: until the next statement of
    the same thread started (or the call ended), so the rows fetched and what Python made of them."""

    engine: str
    sql: str
    started: float
    execute_s: float = 0.0
    span_s: float = 0.0


class StatementLog:
    """The statements executed on some engines while it listens, timed two ways.

    SQLite steps a query as its rows are fetched: the execution (``before_cursor_execute`` →
    ``after_cursor_execute``) is then only the first row's cost, and the span tells the rest.
    psycopg fetches every row during the execution."""

    def __init__(self, engines: dict[str, Engine]) -> None:
        self.engines = engines
        self.rows: list[Statement] = []
        self._lock = threading.Lock()
        self._open: dict[int, Statement] = {}  # per thread: its last statement, whose span is running

    def _close_span(self, thread: int, at: float) -> None:
        last = self._open.pop(thread, None)
        if last is not None:
            last.span_s = at - last.started

    def _before_for(self, label: str) -> Callable[..., None]:
        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            now = time.perf_counter()
            thread = threading.get_ident()
            row = Statement(label, statement, now)
            with self._lock:
                self._close_span(thread, now)
                self._open[thread] = row
                self.rows.append(row)
            conn.info.setdefault("xs_profiled", []).append(row)

        return before

    @staticmethod
    def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        pending = conn.info.get("xs_profiled")
        if pending:
            row = pending.pop()
            row.execute_s = time.perf_counter() - row.started

    def close(self) -> None:
        """End the spans still running (the last statement of each thread)."""
        now = time.perf_counter()
        with self._lock:
            for thread in list(self._open):
                self._close_span(thread, now)

    @contextmanager
    def listening(self) -> Iterator[StatementLog]:
        hooks = [(engine, self._before_for(label), self._after) for label, engine in self.engines.items()]
        for engine, before, after in hooks:
            event.listen(engine, "before_cursor_execute", before)
            event.listen(engine, "after_cursor_execute", after)
        try:
            yield self
        finally:
            self.close()
            for engine, before, after in hooks:
                event.remove(engine, "before_cursor_execute", before)
                event.remove(engine, "after_cursor_execute", after)

    def summary(self) -> list[dict[str, Any]]:
        """The statements with the longest spans first: engine, tables, tiers, first characters."""
        rows = sorted(self.rows, key=lambda r: -r.span_s)[:MAX_STATEMENTS]
        return [
            {
                "execute_ms": round(r.execute_s * 1000, 2),
                "span_ms": round(r.span_s * 1000, 2),
                "engine": r.engine,
                "tables": tables_of(r.sql),
                "tiers": tiers_of(r.sql),
                "sql": one_line(r.sql),
            }
            for r in rows
        ]


def _row(file: str, line: int, name: str, calls: int, own: float, cumulative: float) -> dict[str, Any]:
    root = Path(OUR_CODE).parent
    shown = str(Path(file).relative_to(root)) if file.startswith(str(root)) else file
    return {
        "function": name,
        "file": shown,
        "line": line,
        "calls": calls,
        "cumulative_s": round(cumulative, 4),
        "own_s": round(own, 4),
    }


def our_functions(profile: cProfile.Profile, top: int = TOP_FUNCTIONS) -> list[dict[str, Any]]:
    """The ``top`` functions of our own code (under ``dashboard/``, the bench's harness left out) by
    cumulative time."""
    entries = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = [
        _row(file, line, name, calls, own, cumulative)
        for (file, line, name), (_, calls, own, cumulative, _) in entries.items()
        if file.startswith(OUR_CODE) and not file.startswith(HARNESS)
    ]
    return sorted(rows, key=lambda r: -r["cumulative_s"])[:top]


def own_time(profile: cProfile.Profile, top: int = TOP_OWN) -> list[dict[str, Any]]:
    """The ``top`` functions of any code (SQLAlchemy, the driver, ours) by their own time: where the
    Python time was spent, when the statements do not account for it."""
    entries = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = [
        _row(file, line, name, calls, own, cumulative)
        for (file, line, name), (_, calls, own, cumulative, _) in entries.items()
    ]
    return sorted(rows, key=lambda r: -r["own_s"])[:top]


def profile_call(fn: Callable[[], Any], engines: dict[str, Engine]) -> dict[str, Any]:
    """Run ``fn`` once under the statement log and cProfile: its seconds, statements and functions."""
    log = StatementLog(engines)
    profile = cProfile.Profile()
    with log.listening():
        started = time.perf_counter()
        profile.enable()
        try:
            fn()
        finally:
            profile.disable()
        seconds = time.perf_counter() - started
    statements = log.summary()
    return {
        "seconds": round(seconds, 4),
        "sql_execute_s": round(sum(r.execute_s for r in log.rows), 4),
        "sql_span_s": round(sum(r.span_s for r in log.rows), 4),
        "statement_count": len(log.rows),
        "by_table": by_table(log.rows),
        "statements": statements,
        "functions": our_functions(profile),
        "own_time": own_time(profile),
    }


def by_table(rows: list[Statement]) -> list[dict[str, Any]]:
    """The statements' spans per (engine, first table read, tiers): where the time went, at a glance."""
    groups: dict[tuple[str, str, str], list[Statement]] = {}
    for r in rows:
        tables = tables_of(r.sql)
        groups.setdefault((r.engine, tables[0] if tables else "?", "".join(tiers_of(r.sql))), []).append(r)
    out = [
        {
            "engine": e,
            "table": t,
            "tiers": list(tiers),
            "statements": len(g),
            "execute_ms": round(sum(r.execute_s for r in g) * 1000, 2),
            "span_ms": round(sum(r.span_s for r in g) * 1000, 2),
        }
        for (e, t, tiers), g in groups.items()
    ]
    return sorted(out, key=lambda r: -r["span_ms"])


def profile_views(
    source_url: str, rollups_url: str, views: list[tuple[str, Any]], now: Callable[[], dt.datetime]
) -> list[dict[str, Any]]:
    """Each view cold once more (sync + answer, as :func:`~dashboard.perf.coverage.time_views` times it),
    instrumented: one profile per view."""
    from dashboard.core.runtime import collector_as_in_servers
    from dashboard.rollups.read import answer
    from dashboard.rollups.store import RollupStore
    from dashboard.source.engines import make_source_engine, make_writer_engine

    engine = make_source_engine(source_url, timeout_ms=3_600_000)
    store = RollupStore(make_writer_engine(rollups_url))
    engines = {"source": engine, "rollups": store.engine}
    out = []
    try:
        with collector_as_in_servers():
            for label, view in views:
                with engine.connect() as conn:

                    def cold(conn: Any = conn, view: Any = view) -> None:
                        store.sync(conn)
                        answer(conn, store, view, now())

                    out.append({"view": label, **profile_call(cold, engines)})
    finally:
        engine.dispose()
        store.engine.dispose()
    return out
