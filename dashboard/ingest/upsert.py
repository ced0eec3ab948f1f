"""Idempotent writes: rows are matched on their natural key, then inserted, updated or left alone.

Plain SELECT/INSERT/UPDATE, so it behaves the same on every backend.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_
from sqlalchemy import select as sa_select

from dashboard.core.progress import Progress
from dashboard.ingest.job import FileJob
from dashboard.ingest.references import CHUNK
from dashboard.ingest.results import FileReport
from dashboard.ingest.specs import TableSpec


def same(a: Any, b: Any, *, float_digits: int | None = None) -> bool:
    """Equality for change detection. ``float_digits``: significant digits the backend keeps."""
    if isinstance(a, float) and isinstance(b, float | int):
        if float_digits:  # MariaDB FLOAT is single precision and comes back with 6 digits
            a = float(f"{a:.{float_digits}g}")
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return bool(a == b)


def _existing(conn: Connection, spec: TableSpec, rows: list[dict], cols: list[str]) -> dict[tuple, Any]:
    """Stored rows matching the file's keys. Chunked IN on the first key column, exact match in Python."""
    table, first = spec.table, spec.key[0]
    wanted = sorted({r[first] for r in rows}, key=str)
    selected = [table.c[c] for c in dict.fromkeys([*spec.key, *cols])]
    found: dict[tuple, Any] = {}
    for start in range(0, len(wanted), CHUNK):
        query = sa_select(*selected).where(table.c[first].in_(wanted[start : start + CHUNK]))
        for row in conn.execute(query):
            found[tuple(row._mapping[k] for k in spec.key)] = row._mapping
    return found


def upsert(conn: Connection, spec: TableSpec, rows: list[dict], report: FileReport, bar: Progress) -> None:
    """Insert new keys, update changed rows (not for append-only tables), count the unchanged."""
    if not rows:
        return
    cols = [c for c in rows[0] if c in spec.table.c]
    existing = _existing(conn, spec, rows, cols)
    digits = None  # coordinates are DOUBLE on every backend: exact comparison (with a relative epsilon)
    inserts: list[dict] = []
    for values in rows:
        key = tuple(values[k] for k in spec.key)
        stored = existing.get(key)
        if stored is None:
            inserts.append(values)
            continue
        changes = {
            c: values[c]
            for c in cols
            if c not in spec.key and not same(values[c], stored[c], float_digits=digits)
        }
        if not changes or spec.append_only:
            report.unchanged += 1
        else:
            where = and_(*(spec.table.c[k] == values[k] for k in spec.key))
            conn.execute(spec.table.update().where(where).values(**changes))
            report.updated += 1
            report.updated_keys.append(key)
        bar.advance()
    for start in range(0, len(inserts), CHUNK):
        batch = inserts[start : start + CHUNK]
        conn.execute(spec.table.insert(), batch)
        report.inserted += len(batch)
        bar.advance(len(batch))


def table_values(job: FileJob) -> list[dict]:
    """Rows as table columns, every row with the same keys (derived columns may be set on only some)."""
    columns = [c.name for c in job.spec.table.columns]
    present = {k for r in job.rows for k in r.values}
    keys = [c for c in columns if c in present]
    return [{k: r.values.get(k) for k in keys} for r in job.rows]
