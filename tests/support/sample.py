"""Checks shared by the sample-district tests (the seed and the live feed)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from dashboard.core.domain import CLOSED_STATUSES, TRANSITIONS
from dashboard.source import schema

NOW = dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.UTC)  # Wednesday 12:00 in Shanghai


SMALL: dict[str, Any] = {"seed": 7, "days": 14, "scale": 0.2, "patrol_days": 2, "now": NOW, "progress": False}


def check_action_log(conn: Connection, now: dt.datetime) -> dict[str, int]:
    """Every event's log is a valid path through TRANSITIONS that agrees with the event row."""
    _e, a = schema.event.c, schema.event_action.c
    logs: dict[int, list[Any]] = defaultdict(list)
    for row in conn.execute(
        select(a.event_id, a.action, a.from_status, a.to_status, a.at).order_by(a.event_id, a.at, a.action_id)
    ):
        logs[row.event_id].append(row)
    stats: Counter[str] = Counter()
    events = conn.execute(select(schema.event)).all()
    assert events
    for ev in events:
        log = logs[ev.event_id]
        assert log and log[0].action == "REPORT" and log[0].at == ev.reported_at
        status = None
        for step in log:
            assert (step.from_status, step.to_status) in TRANSITIONS[step.action], (ev.event_no, step)
            assert step.from_status == status, (ev.event_no, step)
            assert step.at <= now
            status = step.to_status
        assert ev.status == status
        closes = [s.at for s in log if s.action == "CLOSE"]
        if ev.status in CLOSED_STATUSES:
            assert ev.closed_at == closes[-1]
        else:
            assert ev.closed_at is None
        accepts = [s.at for s in log if s.action == "ACCEPT"]
        if closes:
            assert accepts and accepts[0] < closes[0]
        assert ev.accepted_at == (accepts[0] if accepts else None)
        assert ev.dispatch_count == sum(s.action == "DISPATCH" for s in log)
        assert ev.returned_count == sum(s.action == "RETURN" for s in log)
        assert ev.reopened_count == sum(s.action == "VERIFY_FAIL" for s in log)
        assert bool(ev.is_supervised) == any(s.action == "SUPERVISE" for s in log)
        assert (ev.extended_deadline_at is not None) == any(s.action == "APPROVE_EXTENSION" for s in log)
        if accepts:
            assert ev.deadline_at is not None and ev.deadline_at > ev.accepted_at
        stats[ev.status] += 1
    return dict(stats)


def latest_timestamp(conn: Connection) -> dt.datetime:
    latest = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    for table, columns in TIME_COLUMNS:
        for col in columns:
            value = conn.execute(select(func.max(table.c[col]))).scalar()
            if value is not None:
                latest = max(latest, schema.UTCDateTime().process_result_value(value, conn.dialect) or latest)
    return latest


TIME_COLUMNS = [
    (schema.event, ["reported_at", "accepted_at", "dispatched_at", "signed_at", "handled_at", "closed_at",
                    "verified_at", "archived_at", "supervised_at", "rejected_at"]),
    (schema.event_action, ["at"]),
    (schema.evaluation, ["at"]),
    (schema.patrol, ["started_at", "ended_at"]),
    (schema.patrol_checkin, ["at"]),
    (schema.video_point, ["installed_at", "last_heartbeat_at", "fault_since"]),
    (schema.video_status_change, ["at"]),
    (schema.safety_inspection, ["inspected_at"]),
]  # fmt: skip
