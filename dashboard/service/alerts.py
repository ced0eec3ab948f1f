"""The alert lifecycle: alerts that open, are taken on (认领), and close with a note (处置) or by themselves.

The rules (:mod:`dashboard.source.queries.alerts`) say which alerts hold at a moment. This module keeps,
in the state store's ``dashboard_alert`` table, one alert per rule × unit from the moment its rule first
fires:

* **open** — the first live evaluation in which the rule fires for the unit opens a row; later ones
  update its latest count, its peak, its worst severity and the moment it last held (``last_seen_at``).
* **taken on** — a person whose role allows it, in the alert's town, records that they took it on.
* **closed** — by a person with a note, or by the system once the condition has been clear for the hold
  time (``DASHBOARD_ALERT_HOLD_MINUTES``). A rule that fires again after that opens a new alert: closed
  rows stay as the history.

The lifecycle is advanced by the snapshot service after it computes a live snapshot, at most once per
data version and minute for all processes (:meth:`dashboard.service.snapshots.SnapshotService`); the
unique ``open_key`` keeps two workers racing on the same moment from opening one alert twice. Past
(as-of) views never advance it: :meth:`AlertBook.alerts` answers "which were open at that moment" from
the rows. Every step is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from dashboard.core.scope import Viewer, may_act_on_alert
from dashboard.service.push import AlertPush
from dashboard.service.state import StateStore, alert_table
from dashboard.source.queries.scope import TOWN_CODE_LEN

log = logging.getLogger(__name__)

A = alert_table
SYSTEM = "system"  # the actor of the steps nobody took: opening, and closing after the hold
NOTE_MAX = 2000  # characters of a closing note
RECENT = dt.timedelta(hours=24)  # closed alerts listed by default: those closed in the last day
LIST_LIMIT = 500

# (source connection, now) → the alerts that hold now, as the rules return them (kind, level,
# unit_code, count, threshold, severity, text_zh, text_en).
Evaluate = Callable[[Connection, dt.datetime], list[dict[str, Any]]]


class AlertNotFound(LookupError):
    """No alert has that id."""


class AlertRefused(PermissionError):
    """The viewer's role or towns do not allow this step on this alert."""


class AlertConflict(ValueError):
    """The step does not apply in the alert's state (already taken on, already closed)."""


@dataclass(frozen=True)
class Alert:
    """One alert of the lifecycle, as stored."""

    id: int
    kind: str
    level: str
    unit_code: str
    town_code: str
    opened_at: dt.datetime
    last_seen_at: dt.datetime
    count: int
    peak: int
    threshold: float
    severity: str
    text_zh: str
    text_en: str
    acked_at: dt.datetime | None
    acked_by: str | None
    closed_at: dt.datetime | None
    closed_by: str | None
    note: str | None

    def status(self, at: dt.datetime | None = None) -> str:
        """``open``, ``acked`` (taken on, still open) or ``closed``; at ``at`` when given (as-of)."""
        if self.closed_at is not None and (at is None or self.closed_at <= at):
            return "closed"
        if self.acked_at is not None and (at is None or self.acked_at <= at):
            return "acked"
        return "open"

    def to_dict(self, at: dt.datetime | None = None) -> dict[str, Any]:
        data = asdict(self)
        for name, value in data.items():
            if isinstance(value, dt.datetime):
                data[name] = value.isoformat()
        data["status"] = self.status(at)
        return data


def _alert(row: Any) -> Alert:
    values = dict(row._mapping)
    values.pop("open_key", None)
    return Alert(**values)


def _worse(a: str, b: str) -> str:
    return "bad" if "bad" in (a, b) else "warn"


@dataclass(frozen=True)
class Advance:
    """What one step of the lifecycle changed (ids)."""

    opened: tuple[int, ...] = ()
    updated: tuple[int, ...] = ()
    closed: tuple[int, ...] = ()
    escalated: tuple[int, ...] = ()


class AlertBook:
    """The alert lifecycle in the state store (see the module docstring)."""

    def __init__(
        self, state: StateStore, hold: dt.timedelta, evaluate: Evaluate, push: AlertPush | None = None
    ) -> None:
        self.state = state
        self.hold = hold
        self.evaluate = evaluate
        # The push's outbox: written in the transaction that opens or escalates an alert.
        self.push = push

    # --- the lifecycle -----------------------------------------------------------------------------

    def advance_from(self, conn: Connection, now: dt.datetime) -> Advance:
        """Evaluate the rules on the source at ``now`` and advance the lifecycle with what holds."""
        return self.advance(self.evaluate(conn, now), now)

    def advance(self, firing: list[dict[str, Any]], now: dt.datetime) -> Advance:
        """Open or update an alert per firing rule × unit; close those clear for the hold time."""
        opened: list[int] = []
        updated: list[int] = []
        escalated: list[int] = []
        held = set()
        for found in firing:
            key = f"{found['kind']}:{found['unit_code']}"[:80]
            held.add(key)
            alert_id, step = self._hold(key, found, now)
            (opened if step == "open" else updated).append(alert_id)
            if step == "open":
                self._audit(now, SYSTEM, "alert_open", alert_id, f"{key} count={found['count']}")
            elif step == "escalate":
                escalated.append(alert_id)
                self._audit(now, SYSTEM, "alert_escalate", alert_id, f"{key} severity={found['severity']}")
        closed = self._close_cleared(held, now)
        return Advance(tuple(opened), tuple(updated), tuple(closed), tuple(escalated))

    def _hold(self, key: str, found: dict[str, Any], now: dt.datetime) -> tuple[int, str]:
        """(id, step) of the open alert ``key``: ``open`` (opened with ``found``), ``escalate`` (its
        severity worsened) or ``update``. An opening or escalation writes the push's outbox rows in the
        same transaction."""
        for _attempt in range(2):
            with self.state.engine.begin() as conn:
                row = conn.execute(select(A).where(A.c.open_key == key)).first()
                if row is not None:
                    worse = _worse(row.severity, found["severity"])
                    conn.execute(
                        update(A)
                        .where(A.c.id == row.id)
                        .values(
                            last_seen_at=max(now, row.last_seen_at),
                            count=int(found["count"]),
                            peak=max(int(row.peak), int(found["count"])),
                            threshold=float(found["threshold"]),
                            severity=worse,
                            text_zh=found["text_zh"],
                            text_en=found["text_en"],
                        )
                    )
                    if worse == row.severity:
                        return int(row.id), "update"
                    if self.push is not None:
                        self.push.enqueue(conn, int(row.id), row.town_code, "escalate", now)
                    return int(row.id), "escalate"
            try:  # its own transaction: a loss to another worker must not abort the update above
                with self.state.engine.begin() as conn:
                    new = _new_row(key, found, now)
                    made = conn.execute(insert(A).values(**new)).inserted_primary_key
                    assert made is not None
                    if self.push is not None:
                        self.push.enqueue(conn, int(made[0]), new["town_code"], "open", now)
                    return int(made[0]), "open"
            except IntegrityError:  # another worker opened it a moment ago: update theirs instead
                continue
        raise RuntimeError(f"could not open or update alert {key}")

    def _close_cleared(self, held: set[str], now: dt.datetime) -> list[int]:
        """Close the open alerts whose condition has been clear for the hold time."""
        cutoff = now - self.hold
        with self.state.engine.connect() as conn:
            due = conn.execute(
                select(A.c.id, A.c.open_key).where(A.c.closed_at.is_(None), A.c.last_seen_at <= cutoff)
            ).all()
        closed = []
        for row in due:
            if row.open_key in held:
                continue
            if self._set_closed(row.id, now, SYSTEM, None):
                closed.append(int(row.id))
                minutes = int(self.hold.total_seconds() // 60)
                self._audit(now, SYSTEM, "alert_close", row.id, f"{row.open_key} clear for {minutes} min")
        return closed

    def _set_closed(self, alert_id: int, now: dt.datetime, actor: str, note: str | None) -> bool:
        with self.state.engine.begin() as conn:
            done = conn.execute(
                update(A)
                .where(A.c.id == alert_id, A.c.closed_at.is_(None))
                .values(closed_at=now, closed_by=actor[:128], note=note, open_key=None)
            )
        return bool(done.rowcount)

    # --- people's steps ----------------------------------------------------------------------------

    def ack(self, alert_id: int, viewer: Viewer, actor: str, now: dt.datetime) -> Alert:
        """``viewer`` takes the alert on (认领); ``actor`` is how the audit log names them."""
        alert = self._actionable(alert_id, viewer)
        if alert.acked_at is not None:
            raise AlertConflict(f"already taken on by {alert.acked_by}")
        with self.state.engine.begin() as conn:
            done = conn.execute(
                update(A)
                .where(A.c.id == alert_id, A.c.closed_at.is_(None), A.c.acked_at.is_(None))
                .values(acked_at=now, acked_by=viewer.name[:128])
            )
        if not done.rowcount:  # someone else was quicker, or the hold closed it meanwhile
            raise AlertConflict("taken on or closed meanwhile")
        self._audit(now, actor, "alert_ack", alert_id, f"{alert.kind}:{alert.unit_code}")
        return self.get(alert_id)

    def close(self, alert_id: int, viewer: Viewer, actor: str, note: str, now: dt.datetime) -> Alert:
        """``viewer`` closes the alert with what was done (处置)."""
        note = note.strip()
        if not note:
            raise ValueError("a note saying what was done is required")
        if len(note) > NOTE_MAX:
            raise ValueError(f"the note is longer than {NOTE_MAX} characters")
        alert = self._actionable(alert_id, viewer)
        if not self._set_closed(alert_id, now, viewer.name, note):
            raise AlertConflict("closed meanwhile")
        self._audit(now, actor, "alert_close", alert_id, f"{alert.kind}:{alert.unit_code} note={note}")
        return self.get(alert_id)

    def _actionable(self, alert_id: int, viewer: Viewer) -> Alert:
        alert = self.get(alert_id)
        if not may_act_on_alert(viewer.role, viewer.towns, alert.town_code):
            raise AlertRefused("your role or towns do not allow acting on this alert")
        if alert.closed_at is not None:
            raise AlertConflict("the alert is closed")
        return alert

    # --- reading ------------------------------------------------------------------------------------

    def get(self, alert_id: int) -> Alert:
        with self.state.engine.connect() as conn:
            row = conn.execute(select(A).where(A.c.id == alert_id)).first()
        if row is None:
            raise AlertNotFound(f"no alert {alert_id}")
        return _alert(row)

    def taken_on(self) -> set[tuple[str, str]]:
        """(kind, unit code) of the open alerts someone took on."""
        query = select(A.c.kind, A.c.unit_code).where(A.c.closed_at.is_(None), A.c.acked_at.is_not(None))
        with self.state.engine.connect() as conn:
            return {(r.kind, r.unit_code) for r in conn.execute(query)}

    def alerts(
        self,
        now: dt.datetime,
        *,
        towns: frozenset[str] | None = None,
        status: str = "",
        since: dt.datetime | None = None,
        as_of: dt.datetime | None = None,
    ) -> list[Alert]:
        """Alerts within ``towns`` (None: all), open ones first, newest first.

        ``as_of``: those open at that moment. Otherwise by ``status``: ``open`` (open or taken on),
        ``closed`` (closed since ``since``), ``all`` or empty (open ones and those closed since
        ``since``); ``since`` defaults to a day before ``now``.
        """
        since = since or now - RECENT
        where: list[Any] = []
        if towns is not None:
            where.append(A.c.town_code.in_(sorted(towns)))
        if as_of is not None:
            where += [A.c.opened_at <= as_of, or_(A.c.closed_at.is_(None), A.c.closed_at > as_of)]
        elif status == "open":
            where.append(A.c.closed_at.is_(None))
        elif status == "closed":
            where.append(and_(A.c.closed_at.is_not(None), A.c.closed_at >= since))
        else:
            where.append(or_(A.c.closed_at.is_(None), A.c.closed_at >= since))
        query = (
            select(A)
            .where(*where)
            .order_by(A.c.closed_at.is_not(None), A.c.opened_at.desc(), A.c.id.desc())
            .limit(LIST_LIMIT)
        )
        with self.state.engine.connect() as conn:
            return [_alert(row) for row in conn.execute(query)]

    def _audit(self, now: dt.datetime, actor: str, action: str, alert_id: int, detail: str) -> None:
        try:
            self.state.audit(now, actor[:128], action, f"alert {alert_id}: {detail}"[:2000])
        except Exception:  # the step is done; a lost audit line is logged, not turned into an error
            log.exception("could not audit %s of alert %s", action, alert_id)


def _new_row(key: str, found: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    unit = str(found["unit_code"])
    return {
        "open_key": key,
        "kind": found["kind"],
        "level": found["level"],
        "unit_code": unit,
        "town_code": unit[:TOWN_CODE_LEN],  # a grid's town: the first digits of its code
        "opened_at": now,
        "last_seen_at": now,
        "count": int(found["count"]),
        "peak": int(found["count"]),
        "threshold": float(found["threshold"]),
        "severity": found["severity"],
        "text_zh": found["text_zh"],
        "text_en": found["text_en"],
    }
