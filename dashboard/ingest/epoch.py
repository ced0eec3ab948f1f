"""After an import commits, the dashboard is told that the past may have changed.

A view of a past moment (``as_of``) is cached for a month: the live feed never writes into the past, so
its data-version changes must not recompute it. An import can (a backfill of last month's cases), so
every import that wrote a row bumps the import epoch in the dashboard's state store, and past views are
cached under that epoch (:meth:`dashboard.service.snapshots.SnapshotService.import_epoch`): the next
request for one is computed afresh, also after a restart, whose cache still holds the old entries.
"""

from __future__ import annotations

import datetime as dt

from dashboard.ingest.results import ImportReport
from dashboard.service.state import StateStore


def wrote_rows(report: ImportReport) -> bool:
    """True when the import inserted or updated at least one row (not a dry run)."""
    return not report.dry_run and any(f.inserted or f.updated for f in report.files)


def mark_import(state_url: str, report: ImportReport, at: dt.datetime | None = None) -> int | None:
    """Bump the import epoch of the state store at ``state_url`` after ``report``'s import committed;
    the new epoch, or None when the import wrote nothing."""
    if not wrote_rows(report):
        return None
    store = StateStore(state_url)
    try:
        return store.bump_import_epoch(at or dt.datetime.now(dt.UTC))
    finally:
        store.dispose()
