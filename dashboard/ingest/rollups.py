"""After an import commits, the dashboard's rollups (its fast path) are brought up to date in the same run.

New events, actions and evaluations get ids above the rollups' watermarks, so the incremental sync finds
them. Updated event rows come with no new action, so the watermarks cannot see them: their ids are read
from the source by ``event_no`` and handed to the sync to be read again. When an import rewrites so many
events that re-reading them one by one would cost more than starting over, the rollups are rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from dashboard.ingest.references import CHUNK
from dashboard.ingest.results import ImportReport
from dashboard.rollups.store import SyncReport, rollups_built, update_rollups
from dashboard.source import schema
from dashboard.source.engines import make_writer_engine

# The tables the rollups are made of (the grid table is compared at every sync by its digest).
FEEDS_ROLLUPS = frozenset({"event", "event_action", "evaluation", "patrol"})
REBUILD_ABOVE = 100_000  # rewritten events beyond which a full rebuild is cheaper than re-reading them


def touches_rollups(report: ImportReport) -> bool:
    """True when the import wrote rows the rollups are made of."""
    return any(f.table in FEEDS_ROLLUPS and (f.inserted or f.updated) for f in report.files)


def rewritten_events(url: str, report: ImportReport) -> list[int]:
    """The ids of the events whose rows the import updated (their natural key is ``event_no``)."""
    numbers = sorted({str(key[0]) for f in report.files if f.table == "event" for key in f.updated_keys})
    if not numbers:
        return []
    e = schema.event
    engine = make_writer_engine(url)
    try:
        with engine.connect() as conn:
            return [
                int(eid)
                for i in range(0, len(numbers), CHUNK)
                for (eid,) in conn.execute(
                    select(e.c.event_id).where(e.c.event_no.in_(numbers[i : i + CHUNK]))
                )
            ]
    finally:
        engine.dispose()


def update_after_import(
    url: str, state_url: str, report: ImportReport, *, progress: bool = False
) -> SyncReport | None:
    """Bring the rollups at ``state_url`` up to the source ``url`` after ``report``'s import committed.

    None when the import wrote nothing the rollups are made of (or was a dry run), or when they were never
    built (the dashboard builds them on its next start, with everything imported by then)."""
    if report.dry_run or not touches_rollups(report) or not rollups_built(state_url):
        return None
    reread: Sequence[int] = rewritten_events(url, report)
    rebuild = len(reread) > REBUILD_ABOVE
    # Rewritten patrols log nothing the sync could find: the patrol tier is summed again (seconds).
    patrols = any(f.table == "patrol" and f.updated for f in report.files)
    return update_rollups(
        url,
        state_url,
        rebuild=rebuild,
        progress=progress,
        reread=() if rebuild else reread,
        rebuild_patrols=patrols,
    )
