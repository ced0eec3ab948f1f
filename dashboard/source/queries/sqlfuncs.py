"""Dialect-aware SQL expressions for Asia/Shanghai bucketing and durations.

Timestamps are stored as naive UTC on every backend (see ``schema.UTCDateTime``); Asia/Shanghai is a fixed
+08:00, so a local day is ``date(ts + 8 h)``. Each expression compiles to the native form on SQLite,
PostgreSQL and MariaDB and returns the same value on all three (day keys as ``'YYYY-MM-DD'`` text, so the
Python side never sees backend-specific date types). No literal ``%`` is emitted: PyMySQL's paramstyle
would need it escaped.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from dashboard.core.domain import UTC_OFFSET_HOURS

_H = UTC_OFFSET_HOURS


class local_day(FunctionElement[str]):
    """The Asia/Shanghai calendar day of a UTC timestamp as ``'YYYY-MM-DD'`` text."""

    type = String()
    name = "local_day"
    inherit_cache = True


@compiles(local_day)
def _local_day_default(element: local_day, compiler: Any, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    return f"date({col}, '+{_H} hours')"


@compiles(local_day, "postgresql")
def _local_day_pg(element: local_day, compiler: Any, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(CAST(({col} + INTERVAL '{_H} hours') AS DATE) AS TEXT)"


@compiles(local_day, "mysql")
def _local_day_mysql(element: local_day, compiler: Any, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(DATE(DATE_ADD({col}, INTERVAL {_H} HOUR)) AS CHAR(10))"


class local_hour_key(FunctionElement[str]):
    """The Asia/Shanghai hour of a UTC timestamp as ``'YYYY-MM-DD HH'`` text."""

    type = String()
    name = "local_hour_key"
    inherit_cache = True


@compiles(local_hour_key)
def _local_hour_default(element: local_hour_key, compiler: Any, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    return f"substr(datetime({col}, '+{_H} hours'), 1, 13)"


@compiles(local_hour_key, "postgresql")
def _local_hour_pg(element: local_hour_key, compiler: Any, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    return f"to_char(({col} + INTERVAL '{_H} hours'), 'YYYY-MM-DD HH24')"


@compiles(local_hour_key, "mysql")
def _local_hour_mysql(element: local_hour_key, compiler: Any, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    shifted = f"DATE_ADD({col}, INTERVAL {_H} HOUR)"
    return f"CONCAT(CAST(DATE({shifted}) AS CHAR(10)), ' ', LPAD(HOUR({shifted}), 2, '0'))"


class epoch_seconds(FunctionElement[float]):
    """Seconds since 1970-01-01 of a naive-UTC timestamp (no session time zone involved)."""

    type = Float()
    name = "epoch_seconds"
    inherit_cache = True


@compiles(epoch_seconds)
def _epoch_default(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    return f"((julianday({col}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(EXTRACT(EPOCH FROM {col}) AS DOUBLE PRECISION)"


@compiles(epoch_seconds, "mysql")
def _epoch_mysql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    # TIMESTAMPDIFF ignores the session time zone, unlike UNIX_TIMESTAMP.
    return f"(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {col}) / 1000000.0)"


class scan_hint(FunctionElement[Any]):
    """The column unchanged, but on SQLite written ``+col`` so the planner does not use its index.

    Why: without statistics SQLite prefers a ``reported_at < t`` range over all history to the status
    and closed_at indexes for "open at t"; a plain scan is 4× faster there. Other backends plan from
    statistics and get the bare column.
    """

    inherit_cache = True
    name = "scan_hint"

    def __init__(self, col: ColumnElement[Any]) -> None:
        super().__init__(col)
        self.type = col.type


@compiles(scan_hint)
def _scan_hint_default(element: scan_hint, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(scan_hint, "sqlite")
def _scan_hint_sqlite(element: scan_hint, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(next(iter(element.clauses)), **kw))


def hours_between(start: ColumnElement[Any], end: ColumnElement[Any]) -> ColumnElement[float]:
    """``end − start`` in hours, as a float."""
    return (epoch_seconds(end) - epoch_seconds(start)) / 3600.0


def as_int(value: Any) -> int:
    """SUM() comes back as Decimal on PostgreSQL/MariaDB and None over no rows."""
    return int(value or 0)


def as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def aware_utc(value: Any) -> dt.datetime | None:
    """An aware UTC datetime from a raw result (COALESCE/MAX in a subquery bypass ``UTCDateTime``)."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back text for untyped expressions
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


__all__ = [
    "as_float",
    "as_int",
    "aware_utc",
    "epoch_seconds",
    "hours_between",
    "local_day",
    "local_hour_key",
    "scan_hint",
]
