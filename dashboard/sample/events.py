"""Turning arrivals and their lifecycle plans into event, action and evaluation rows.

Used by the seed (the whole history) and by the live feed (each tick), so both number and write events
the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from dashboard.sample import lifecycle
from dashboard.sample.arrivals import Arrival
from dashboard.sample.lifecycle import Context, EventInfo, Plan
from dashboard.sample.times import fmt_ts, local_date
from dashboard.sample.writes import insert_rows
from dashboard.source import schema

EVENT_COLUMNS = (
    "event_id", "event_no", "title", "description", "category_l1", "category_l2", "source", "priority",
    "grid_code", "village_code", "town_code", "lng", "lat", "address", "reporter_type", "reporter_id",
    "reporter_name", "reporter_phone", "reported_at", *lifecycle.LIFECYCLE_COLUMNS,
)  # fmt: skip
ACTION_COLUMNS = (
    "event_id", "action", "from_status", "to_status", "actor_staff_id", "actor_dept_code", "target_dept_code",
    "comment", "at", "duration_seconds",
)  # fmt: skip
EVALUATION_COLUMNS = ("event_id", "channel", "result", "speed_score", "effect_score", "at")


_day_label: dict[int, str] = {}


def event_no(at: int, seq: int) -> str:
    """The event number of the ``seq``-th report of ``at``'s local day: XS20261128-000123."""
    day = lifecycle.local_day(at)
    label = _day_label.get(day)
    if label is None:
        label = _day_label[day] = f"XS{local_date(at):%Y%m%d}-"
    return f"{label}{seq:06d}"


def plan_for(a: Arrival, number: str, ctx: Context) -> Plan:
    """The lifecycle plan of a numbered arrival (a pure function of the event)."""
    info = EventInfo(
        number, a.reported_at, a.category, a.priority, a.source, a.grid.code, a.grid.town_code, a.reporter_id
    )
    rng = random.Random(lifecycle.event_seed(number, a.reported_at, a.grid.code, a.category))
    return lifecycle.plan_event(info, ctx, rng)


_LIFECYCLE_KINDS = tuple((c, c in lifecycle.TIME_COLUMNS) for c in lifecycle.LIFECYCLE_COLUMNS)


def lifecycle_values(state: dict[str, object]) -> tuple[Any, ...]:
    """The lifecycle columns in storage form (times formatted)."""
    return tuple(
        fmt_ts(state[c]) if is_time else state[c]  # type: ignore[arg-type]
        for c, is_time in _LIFECYCLE_KINDS
    )


def action_rows(event_id: int, plan: Plan, start: int, stop: int) -> list[tuple[Any, ...]]:
    """Action tuples for plan.actions[start:stop] (duration = time since the previous action)."""
    acts = plan.actions
    fmt = fmt_ts
    return [
        (event_id, a[1], a[2], a[3], a[4], a[5], a[6], a[7], fmt(a[0]), a[0] - acts[i - 1][0] if i else None)
        for i, a in ((i, acts[i]) for i in range(start, stop))
    ]


def evaluation_row(event_id: int, plan: Plan, start: int, stop: int) -> tuple[Any, ...] | None:
    """The evaluation tuple if the EVALUATE action is among plan.actions[start:stop]."""
    if plan.evaluation is None:
        return None
    for i in range(start, stop):
        if plan.actions[i][1] == "EVALUATE":
            channel, result, speed, effect = plan.evaluation
            return (event_id, channel, result, speed, effect, fmt_ts(plan.actions[i][0]))
    return None


def new_event_rows(
    event_id: int, number: str, a: Arrival, ctx: Context, upto: int, plan: Plan | None = None
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], tuple[Any, ...] | None]:
    """(event row, its action rows, its evaluation row or None) as of ``upto``."""
    plan = plan or plan_for(a, number, ctx)
    state, n = lifecycle.fold(plan, upto)
    g = a.grid
    row = (
        event_id, number, a.title, a.description, a.category, a.category_l2, a.source, a.priority, g.code,
        g.village_code, g.town_code, a.lng, a.lat, a.address, a.reporter_type, a.reporter_id, a.reporter_name,
        a.reporter_phone, fmt_ts(a.reported_at), *lifecycle_values(state),
    )  # fmt: skip
    return row, action_rows(event_id, plan, 0, n), evaluation_row(event_id, plan, 0, n)


@dataclass
class EventBatch:
    """Event, action and evaluation rows gathered for one write."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    actions: list[tuple[Any, ...]] = field(default_factory=list)
    evaluations: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, row: tuple[Any, ...], acts: list[tuple[Any, ...]], ev: tuple[Any, ...] | None) -> None:
        self.events.append(row)
        self.actions.extend(acts)
        if ev is not None:
            self.evaluations.append(ev)

    def write(self, conn: Connection) -> None:
        insert_rows(conn, schema.event, EVENT_COLUMNS, self.events)
        insert_rows(conn, schema.event_action, ACTION_COLUMNS, self.actions)
        insert_rows(conn, schema.evaluation, EVALUATION_COLUMNS, self.evaluations)
        self.events, self.actions, self.evaluations = [], [], []


class Numberer:
    """Hands out event ids and per-day event numbers (XS20261128-000123)."""

    def __init__(self, next_event_id: int, day_seq: dict[int, int] | None = None) -> None:
        self.next_id = next_event_id
        self.day_seq = day_seq or {}

    def take(self, at: int) -> tuple[int, str]:
        day = lifecycle.local_day(at)
        seq = self.day_seq.get(day, 0) + 1
        self.day_seq[day] = seq
        eid = self.next_id
        self.next_id += 1
        return eid, event_no(at, seq)
