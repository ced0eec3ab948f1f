"""The alerts' push: a message when an alert opens and when it escalates, never one per refresh.

**Targets per scope.** ``DASHBOARD_ALERT_WEBHOOKS`` (``dingtalk:<url>``, ``wecom:<url>``, ``json:<url>``)
and ``DASHBOARD_ALERT_MAIL_TO`` (addresses, through ``DASHBOARD_ALERT_SMTP`` or else the briefings'
relay) name them; an item with a town prefix (``瓜沥镇:dingtalk:<url>``, ``330109113:gl@xs.example``) is
that town's, the others the district's. A town's alerts go to the district's targets and its own.

**Outbox.** When the lifecycle (:class:`dashboard.service.alerts.AlertBook`) opens an alert or its
severity worsens, it writes one ``dashboard_alert_notice`` row per target in the same transaction, so a
step is never lost nor told twice. Refreshes that only update an open alert write nothing.

**Sender.** :meth:`AlertPush.drain` sends what is due: per target, one message joining every pending row
(``30 条新告警：…``), at most one per ``DASHBOARD_ALERT_PUSH_SECONDS`` (the gate row in
``dashboard_push_target``, taken with an ``UPDATE … WHERE last_at <= now - interval``); the rows are
claimed with an ``UPDATE … WHERE state = 'pending'`` and a claim token, so however many processes drain
at once each row goes out in one message only. A crash between sending and marking leaves the claim,
which is released after :data:`STALE` (at-least-once then, never lost). A failed send is retried with a
doubling wait (:data:`FIRST_WAIT`), up to :data:`ATTEMPTS` tries; then the rows are ``failed`` and shown
on the 告警 page and in ``/health``.

**Where it runs.** The snapshot service drains right after it advances the lifecycle: in a background
thread of that process (which keeps draining while rows wait for the gate or a retry), or inline when
``DASHBOARD_BACKGROUND_REFRESH=off`` (tests, a single debugging process).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from dashboard.core.domain import towns
from dashboard.core.i18n import to_local
from dashboard.core.settings import Settings
from dashboard.service.state import StateStore, alert_notice_table, alert_table, push_target_table
from dashboard.service.transport import (
    Channel,
    error_text,
    new_mail,
    post_json,
    robot_payload,
    send_mail,
    smtp_channel,
    webhook_channel,
)

log = logging.getLogger(__name__)

N = alert_notice_table
G = push_target_table
A = alert_table
ATTEMPTS = 5
FIRST_WAIT = 30.0  # seconds before the second try of a failed message; doubled each time
STALE = dt.timedelta(minutes=5)  # a claim older than this was a sender that died: release it
LISTED = 20  # alerts named in one message; the rest counted
SEVERITY_ZH = {"bad": "红色", "warn": "橙色"}


@dataclass(frozen=True)
class Target:
    """A channel and its scope: ``town`` a town code, or None for the whole district."""

    channel: Channel
    town: str | None = None

    def covers(self, town_code: str) -> bool:
        return self.town is None or self.town == town_code


def _town_code(text: str, setting: str) -> str:
    for town in towns():
        if text in (town.code, town.name_zh):
            return town.code
    raise ValueError(f"{setting}: {text!r} is not a town (code or Chinese name)")


def targets_from_settings(settings: Settings) -> list[Target]:
    """The push targets of ``settings``; ValueError naming the setting for a malformed one."""
    return parse_targets(
        settings.ALERT_WEBHOOKS, settings.ALERT_SMTP or settings.BRIEFING_SMTP, settings.ALERT_MAIL_TO
    )


def parse_targets(webhooks: str, smtp: str, mail_to: str) -> list[Target]:
    """Webhooks and mail recipients, each optionally prefixed with its town (see the module docstring)."""
    found = []
    for item in (w.strip() for w in webhooks.split(",") if w.strip()):
        head, _, rest = item.partition(":")
        town = None if head in ("dingtalk", "wecom", "json", "http", "https") else head
        spec = rest if town else item
        channel = webhook_channel(spec, setting="DASHBOARD_ALERT_WEBHOOKS")
        found.append(Target(channel, _town_code(town, "DASHBOARD_ALERT_WEBHOOKS") if town else None))
    by_scope: dict[str | None, list[str]] = {}
    for item in (a.strip() for a in mail_to.split(",") if a.strip()):
        head, sep, address = item.rpartition(":")
        town = _town_code(head.strip(), "DASHBOARD_ALERT_MAIL_TO") if sep else None
        by_scope.setdefault(town, []).append(address.strip())
    if by_scope and not smtp:
        raise ValueError("DASHBOARD_ALERT_MAIL_TO: set DASHBOARD_ALERT_SMTP (or DASHBOARD_BRIEFING_SMTP)")
    for town, addresses in by_scope.items():
        channel = smtp_channel(
            smtp, tuple(addresses), smtp_setting="DASHBOARD_ALERT_SMTP", to_setting="DASHBOARD_ALERT_MAIL_TO"
        )
        found.append(Target(channel, town))
    return found


@dataclass(frozen=True)
class Message:
    """One message to one target: its title, its lines, a link, and the alerts as data (JSON targets)."""

    title: str
    lines: tuple[str, ...]
    link: str | None
    alerts: tuple[dict[str, Any], ...]

    def markdown(self) -> str:
        text = [f"### {self.title}", *self.lines]
        if self.link:
            text.append(f"[打开告警页]({self.link})")
        return "\n\n".join(text)

    def text(self) -> str:
        return "\n".join([self.title, "", *self.lines, *(["", self.link] if self.link else [])])


def compose(rows: Sequence[Any], public_url: str = "") -> Message:
    """The message of a target's claimed rows (each joined with its alert): one alert named, many grouped."""
    opened = [r for r in rows if r.event == "open"]
    escalated = [r for r in rows if r.event != "open"]
    if len(rows) == 1:
        title = ("【告警】" if opened else "【告警升级】") + rows[0].text_zh
    else:
        parts = [f"{len(opened)} 条新告警"] if opened else []
        parts += [f"{len(escalated)} 条告警升级"] if escalated else []
        title = "，".join(parts)
    lines = [_line(r) for r in rows[:LISTED]]
    if len(rows) > LISTED:
        lines.append(f"……另 {len(rows) - LISTED} 条")
    link = f"{public_url.rstrip('/')}/alerts" if public_url else None
    return Message(title, tuple(lines), link, tuple(_alert_data(r) for r in rows))


def _line(row: Any) -> str:
    since = to_local(row.opened_at).strftime("%H:%M")
    what = "升级为" if row.event != "open" else ""
    return (
        f"· {row.text_zh}（{what}{SEVERITY_ZH.get(row.severity, row.severity)}，{since} 起，峰值 {row.peak}）"
    )


def _alert_data(row: Any) -> dict[str, Any]:
    return {
        "id": row.alert_id,
        "event": row.event,
        "kind": row.kind,
        "level": row.level,
        "unit_code": row.unit_code,
        "town_code": row.town_code,
        "severity": row.severity,
        "count": row.count,
        "peak": row.peak,
        "opened_at": row.opened_at.isoformat(),
        "text_zh": row.text_zh,
        "text_en": row.text_en,
    }


def send(channel: Channel, message: Message) -> None:
    """One attempt to deliver ``message`` on ``channel`` (raises on failure)."""
    if channel.kind == "smtp":
        send_mail(channel, new_mail(channel, message.title, message.text()))
    elif channel.kind in ("dingtalk", "wecom"):
        post_json(channel.target, robot_payload(channel.kind, message.title, message.markdown()))
    else:
        body = {"title": message.title, "lines": list(message.lines), "link": message.link}
        post_json(channel.target, {**body, "alerts": list(message.alerts)})


Sender = Callable[[Channel, Message], None]


class AlertPush:
    """The outbox and its sender (see the module docstring)."""

    def __init__(
        self,
        state: StateStore,
        targets: Iterable[Target],
        *,
        interval: float = 60.0,
        public_url: str = "",
        sender: Sender = send,
    ) -> None:
        self.state = state
        self.targets = list(targets)
        self.interval = dt.timedelta(seconds=interval)
        self.public_url = public_url
        self.sender = sender
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False

    # --- the outbox, written by the lifecycle ------------------------------------------------------

    def enqueue(self, conn: Connection, alert_id: int, town_code: str, event: str, now: dt.datetime) -> int:
        """Rows for every target of the alert's town, in the caller's transaction; how many."""
        keys = sorted(
            {t.channel.key for t in self.targets if t.covers(town_code)}
        )  # a robot named twice: once
        rows = [
            {
                "alert_id": alert_id,
                "event": event,
                "target": key,
                "town_code": town_code,
                "created_at": now,
                "state": "pending",
                "attempts": 0,
                "next_at": now,
            }
            for key in keys
        ]
        if rows:
            conn.execute(insert(N), rows)
        return len(rows)

    # --- the sender ---------------------------------------------------------------------------------

    def drain(self, now: dt.datetime) -> dt.datetime | None:
        """Send what is due at ``now``; when the next rows fall due (None: nothing waits)."""
        self._release_stale(now)
        self._drop_unconfigured(now)
        due: list[dt.datetime] = []
        for target in {t.channel.key: t for t in self.targets}.values():
            waiting = self._first_due(target.channel.key)
            if waiting is None:
                continue
            if waiting > now:
                due.append(waiting)
                continue
            gate = self._take_gate(target.channel.key, now)
            if gate is not None:  # rate-limited: the rows go grouped into the next message
                due.append(gate)
                continue
            self._send_claimed(target.channel, now)
            if (after := self._first_due(target.channel.key)) is not None:
                due.append(max(after, now + self.interval))
        return min(due) if due else None

    def _release_stale(self, now: dt.datetime) -> None:
        with self.state.engine.begin() as conn:
            conn.execute(
                update(N)
                .where(N.c.state == "sending", N.c.claimed_at < now - STALE)
                .values(state="pending", claim=None)
            )

    def _drop_unconfigured(self, now: dt.datetime) -> None:
        """Rows for a target no longer in the settings (removed, or its URL changed) can never go out:
        keep them as failed, so they show instead of waiting for ever. (Every process of a deployment
        must share the targets' settings, as it shares the others.)"""
        keys = sorted({t.channel.key for t in self.targets})
        with self.state.engine.begin() as conn:
            conn.execute(
                update(N)
                .where(N.c.state == "pending", N.c.target.not_in(keys))
                .values(state="failed", claimed_at=now, last_error="the target is no longer configured")
            )

    def _first_due(self, key: str) -> dt.datetime | None:
        with self.state.engine.connect() as conn:
            found = conn.execute(
                select(func.min(N.c.next_at)).where(N.c.target == key, N.c.state == "pending")
            ).scalar()
        return found  # type: ignore[no-any-return]

    def _take_gate(self, key: str, now: dt.datetime) -> dt.datetime | None:
        """Take the target's send slot (None), or say when it opens again (another message went lately)."""
        with self.state.engine.connect() as conn:
            known = conn.execute(select(G.c.target).where(G.c.target == key)).first() is not None
        if not known:  # the target's first message
            try:
                with self.state.engine.begin() as conn:
                    conn.execute(insert(G).values(target=key, last_at=None))
            except IntegrityError:
                pass  # another process made the row a moment ago
        with self.state.engine.begin() as conn:
            taken = conn.execute(
                update(G)
                .where(G.c.target == key, (G.c.last_at.is_(None)) | (G.c.last_at <= now - self.interval))
                .values(last_at=now)
            ).rowcount
            if taken:
                return None
            last = conn.execute(select(G.c.last_at).where(G.c.target == key)).scalar()
        return (last or now) + self.interval

    def _send_claimed(self, channel: Channel, now: dt.datetime) -> None:
        claim = uuid.uuid4().hex
        with self.state.engine.begin() as conn:
            conn.execute(
                update(N)
                .where(N.c.target == channel.key, N.c.state == "pending", N.c.next_at <= now)
                .values(state="sending", claim=claim, claimed_at=now)
            )
        with self.state.engine.connect() as conn:
            rows = conn.execute(
                select(N.c.id, N.c.alert_id, N.c.event, N.c.attempts, *[c for c in A.c if c.name != "id"])
                .join(A, A.c.id == N.c.alert_id)
                .where(N.c.claim == claim)
                .order_by(N.c.id)
            ).all()
        if not rows:
            return  # another process claimed them first
        try:
            self.sender(channel, compose(rows, self.public_url))
        except Exception as exc:  # retried later with a doubling wait, then kept as failed
            self._failed(rows, claim, error_text(exc, channel.target), now)
            log.warning("alert message to %s failed: %s", channel.name, error_text(exc, channel.target))
            return
        with self.state.engine.begin() as conn:
            conn.execute(
                update(N)
                .where(N.c.claim == claim)
                .values(state="sent", sent_at=now, attempts=N.c.attempts + 1, claim=None, last_error=None)
            )

    def _failed(self, rows: Sequence[Any], claim: str, error: str, now: dt.datetime) -> None:
        with self.state.engine.begin() as conn:
            for row in rows:
                tries = int(row.attempts) + 1
                wait = dt.timedelta(seconds=FIRST_WAIT * 2 ** (tries - 1))
                conn.execute(
                    update(N)
                    .where(N.c.id == row.id, N.c.claim == claim)
                    .values(
                        state="failed" if tries >= ATTEMPTS else "pending",
                        attempts=tries,
                        next_at=now + wait,
                        claim=None,
                        last_error=error,
                    )
                )

    # --- running it ---------------------------------------------------------------------------------

    def kick(self, now: Callable[[], dt.datetime]) -> None:
        """Drain in a background thread of this process, which keeps going while rows wait (the gate, a
        retry); a kick while it runs makes it go round once more."""
        if not self.targets:
            return
        with self._lock:
            self._again = True
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, args=(now,), name="alert-push", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """Whether this process's sender thread is draining."""
        with self._lock:
            return self._thread is not None

    def _run(self, now: Callable[[], dt.datetime]) -> None:
        stop = threading.Event()
        while True:
            with self._lock:
                self._again = False
            try:
                moment = now()
                due = self.drain(moment)
            except Exception:  # the state store is away: the next lifecycle step kicks again
                log.exception("could not drain the alerts' outbox")
                due = None
            with self._lock:
                if due is None and not self._again:
                    self._thread = None
                    return
            wait = 0.0 if due is None else (due - moment).total_seconds()
            stop.wait(min(max(wait, 1.0), 60.0))

    # --- reading ------------------------------------------------------------------------------------

    def failed(self, since: dt.datetime, towns: frozenset[str] | None = None) -> list[dict[str, Any]]:
        """Messages that failed for good since ``since`` (newest first): target, alert, tries, error, when
        the last try was."""
        names = {t.channel.key: t.channel.name for t in self.targets}
        query = (
            select(
                N.c.alert_id,
                N.c.event,
                N.c.target,
                N.c.attempts,
                N.c.last_error,
                N.c.claimed_at,
                A.c.text_zh,
                A.c.text_en,
            )
            .join(A, A.c.id == N.c.alert_id)
            .where(N.c.state == "failed", N.c.created_at >= since)
            .order_by(N.c.id.desc())
            .limit(100)
        )
        if towns is not None:
            query = query.where(N.c.town_code.in_(sorted(towns)))
        with self.state.engine.connect() as conn:
            return [
                {
                    "alert_id": r.alert_id,
                    "event": r.event,
                    "channel": names.get(r.target, r.target.split("#")[0]),
                    "attempts": r.attempts,
                    "error": r.last_error,
                    "at": r.claimed_at.isoformat() if r.claimed_at else None,  # the last try
                    "alert": r.text_zh,
                    "alert_en": r.text_en,
                }
                for r in conn.execute(query)
            ]

    def pending(self) -> int:
        """Rows waiting to go out (pending or being sent)."""
        with self.state.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).where(N.c.state.in_(("pending", "sending")))).scalar() or 0
            )
