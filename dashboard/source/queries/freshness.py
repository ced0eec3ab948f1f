"""The newest row of each source stream, and how many rows the same stretch of time brought in past weeks.

Each read is an index MAX or an index range COUNT over a short window, so judging all four streams
costs a dozen small index probes, whatever the length of the history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, select

from dashboard.core.freshness import HISTORY_WEEKS, STREAM_KEYS
from dashboard.source import schema
from dashboard.source.queries.common import upto
from dashboard.source.queries.sqlfuncs import aware_utc


def _stream_column(stream: str) -> Any:
    """The timestamp that says a stream wrote: one indexed column per stream."""
    s = schema
    return {
        "events": s.event.c.reported_at,
        "actions": s.event_action.c.at,
        "patrols": s.patrol.c.started_at,
        "video": s.video_point.c.last_heartbeat_at,
    }[stream]


def stream_newest(conn: Connection, now: dt.datetime) -> dict[str, dt.datetime | None]:
    """Every stream's newest timestamp at or before ``now``, in one statement."""
    cap = upto(now)
    keys = STREAM_KEYS
    columns = [
        select(func.max(_stream_column(k))).where(_stream_column(k) < cap).scalar_subquery() for k in keys
    ]
    row = conn.execute(select(*columns)).one()
    return {k: aware_utc(v) for k, v in zip(keys, row, strict=True)}


def expected_rows(
    conn: Connection, stream: str, start: dt.datetime, end: dt.datetime, weeks: int = HISTORY_WEEKS
) -> float | None:
    """The mean count of ``stream``'s rows in ``[start, end)`` shifted back by one to ``weeks`` weeks.

    Weeks before the stream's first row are left out of the mean (a new deployment has no history);
    None when no week has any history at all.
    """
    column = _stream_column(stream)
    first = aware_utc(conn.execute(select(func.min(column))).scalar())
    if first is None:
        return None
    counts = []
    for k in range(1, weeks + 1):
        shift = dt.timedelta(weeks=k)
        if start - shift < first:
            break
        n = conn.execute(select(func.count()).where(column >= start - shift, column < end - shift)).scalar()
        counts.append(int(n or 0))
    return sum(counts) / len(counts) if counts else None
