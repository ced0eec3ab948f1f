"""The dashboard's own, writable state: last good snapshots, the import epoch; users, tokens and audit.

Kept apart from the source database (``DASHBOARD_STATE_URL``, default ``data/state.db``) because the
source is opened read-only and may belong to another team. The last good snapshot of each view is what
screens show, marked stale, while the source is unreachable, including right after a restart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import IntegrityError

from dashboard.core.snapshot import Snapshot
from dashboard.source.engines import create_racing, make_writer_engine
from dashboard.source.schema import UTCDateTime

state_metadata = MetaData()

# MySQL's TEXT stops at 64 KB; a district snapshot can be larger.
_LongText = Text().with_variant(mysql.LONGTEXT(), "mysql")

last_good_snapshot = Table(
    "last_good_snapshot",
    state_metadata,
    # The canonical view query can outgrow an index key (26 towns ...), so the key is its digest.
    Column("view_key", String(64), primary_key=True, comment="sha256 of the view identity"),
    Column("view", Text, nullable=False, comment="canonical view query and scope, for people"),
    Column("snapshot_json", _LongText, nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
    Column("data_version", String(128), nullable=False),
)

audit_log = Table(
    "audit_log",
    state_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("detail", Text, nullable=True),
)


# The alert lifecycle (dashboard/service/alerts.py): one row per rule × unit from the moment its rule first
# fires until it closes. ``open_key`` is "kind:unit" while the alert is open and NULL once closed: the
# unique constraint lets no two workers open the same alert twice (NULLs never collide, on all three
# databases), while closed alerts of the same rule and unit pile up as history.
alert_table = Table(
    "dashboard_alert",
    state_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("open_key", String(80), nullable=True, unique=True),
    Column("kind", String(32), nullable=False),
    Column("level", String(16), nullable=False),
    Column("unit_code", String(32), nullable=False),
    Column("town_code", String(16), nullable=False, index=True),
    Column("opened_at", UTCDateTime, nullable=False, index=True),
    Column("last_seen_at", UTCDateTime, nullable=False, comment="the last moment its condition held"),
    Column("count", Integer, nullable=False, comment="the latest count"),
    Column("peak", Integer, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("severity", String(8), nullable=False, comment="the worst seen: bad beats warn"),
    Column("text_zh", Text, nullable=False),
    Column("text_en", Text, nullable=False),
    Column("acked_at", UTCDateTime, nullable=True),
    Column("acked_by", String(128), nullable=True),
    Column("closed_at", UTCDateTime, nullable=True, index=True),
    Column("closed_by", String(128), nullable=True, comment="a user, or 'system' after the hold"),
    Column("note", Text, nullable=True, comment="处置: what was done, from the person who closed it"),
)


# The alerts' push outbox (dashboard/service/push.py): one row per alert event (opened, escalated) × target,
# written in the lifecycle step's transaction; a sender claims the pending rows of a target (state
# pending → sending, with its claim token) and joins them into one message.
alert_notice_table = Table(
    "dashboard_alert_notice",
    state_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, nullable=False, index=True),
    Column("event", String(16), nullable=False, comment="open or escalate"),
    Column("target", String(64), nullable=False, index=True, comment="Channel.key: kind:host#digest"),
    Column("town_code", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("state", String(8), nullable=False, index=True, comment="pending, sending, sent or failed"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", UTCDateTime, nullable=False, comment="not sent before this (backoff)"),
    Column("claim", String(32), nullable=True),
    Column("claimed_at", UTCDateTime, nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
)

# Per target, when a message last went out: the rate limit's gate, taken by an UPDATE … WHERE so only one
# process of the deployment sends to a target within ALERT_PUSH_SECONDS.
push_target_table = Table(
    "dashboard_push_target",
    state_metadata,
    Column("target", String(64), primary_key=True),
    Column("last_at", UTCDateTime, nullable=True),
)


# Alert thresholds per town (dashboard/service/alert_rules.py): one row per town × parameter an admin
# set; a parameter without a row keeps its district default (its DASHBOARD_ALERT_* setting).
alert_rule_table = Table(
    "dashboard_alert_rule",
    state_metadata,
    Column("town_code", String(16), primary_key=True),
    Column("param", String(32), primary_key=True, comment="a parameter of core.metrics.ALERT_PARAMS"),
    Column("value", Float, nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
    Column("set_by", String(128), nullable=False),
)


# Briefing definitions (dashboard/service/briefing_defs.py): what the scheduler makes and for whom. A
# definition names its recipients (mail addresses, webhook target names); the webhooks' URLs and the
# relay's secrets stay in the settings, never here.
briefing_table = Table(
    "dashboard_briefing",
    state_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False, comment="day, week, month or quarter"),
    Column("scope", String(512), nullable=False, comment="district, or town codes joined by +"),
    Column("lang", String(4), nullable=False),
    Column("mail_to", Text, nullable=False, comment="mail addresses, comma-separated"),
    Column("webhooks", Text, nullable=False, comment="webhook target names of the settings, comma-separated"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(128), nullable=False),
)


# Annotations (dashboard/service/annotations.py): notes staff put on the timeline, a moment (``ends_at``
# NULL) or a period, for the whole district (``towns`` empty) or for some towns (their codes, comma-
# separated: a note is about one to a few towns, never worth a table of its own).
annotation_table = Table(
    "dashboard_annotation",
    state_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("starts_at", UTCDateTime, nullable=False, index=True),
    Column("ends_at", UTCDateTime, nullable=True, comment="NULL: a moment"),
    Column("text", String(200), nullable=False),
    Column("towns", String(400), nullable=False, comment="town codes, comma-separated; empty: district"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("updated_at", UTCDateTime, nullable=True),
    Column("updated_by", String(128), nullable=True),
)


# Writes that may change the past (an import can backfill rows dated before a past view's moment) bump
# this counter; settled past views are cached under it (dashboard/service/README.md#caching).
source_epoch = Table(
    "source_epoch",
    state_metadata,
    Column("name", String(32), primary_key=True),
    Column("epoch", Integer, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)
IMPORT_EPOCH = "import"


def digest(view_key: str) -> str:
    return hashlib.sha256(view_key.encode("utf-8")).hexdigest()


class StateStore:
    """Read and write the dashboard's state database (SQLite, PostgreSQL or MariaDB)."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_writer_engine(url)
        create_racing(lambda: state_metadata.create_all(self.engine))  # workers starting at once race

    def save_last_good(self, view_key: str, snapshot: Snapshot, computed_at: dt.datetime) -> None:
        """Remember ``snapshot`` as the last good one for ``view_key`` (insert or replace)."""
        row: dict[str, Any] = {
            "view": view_key,
            "snapshot_json": json.dumps(snapshot.to_dict(), ensure_ascii=False, separators=(",", ":")),
            "computed_at": computed_at,
            "data_version": snapshot.data_version[:128],
        }
        key = digest(view_key)
        for _attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    where = last_good_snapshot.c.view_key == key
                    if not conn.execute(update(last_good_snapshot).where(where), row).rowcount:
                        conn.execute(insert(last_good_snapshot), {"view_key": key, **row})
                return
            except IntegrityError:  # another worker inserted the row first: update it on the retry
                continue

    def load_last_good(self, view_key: str) -> tuple[Snapshot, dt.datetime] | None:
        """The last good snapshot of ``view_key`` and when it was computed, or None."""
        query = select(last_good_snapshot.c.snapshot_json, last_good_snapshot.c.computed_at).where(
            last_good_snapshot.c.view_key == digest(view_key)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).first()
        if found is None:
            return None
        return Snapshot.from_dict(json.loads(found.snapshot_json)), found.computed_at

    def import_epoch(self) -> int:
        """How many imports have written to the source since the state store was made (0: none)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(source_epoch.c.epoch).where(source_epoch.c.name == IMPORT_EPOCH)
            ).scalar()
        return int(found or 0)

    def bump_import_epoch(self, at: dt.datetime) -> int:
        """Count one more import that wrote to the source; returns the new epoch."""
        where = source_epoch.c.name == IMPORT_EPOCH
        for _attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    bump = (
                        update(source_epoch)
                        .where(where)
                        .values(epoch=source_epoch.c.epoch + 1, changed_at=at)
                    )
                    if not conn.execute(bump).rowcount:
                        conn.execute(
                            insert(source_epoch), {"name": IMPORT_EPOCH, "epoch": 1, "changed_at": at}
                        )
                break
            except IntegrityError:  # another import made the row first: bump it on the retry
                continue
        return self.import_epoch()

    def audit(self, at: dt.datetime, actor: str, action: str, detail: str | None = None) -> None:
        """Append one line to the audit log."""
        with self.engine.begin() as conn:
            conn.execute(insert(audit_log), {"at": at, "actor": actor, "action": action, "detail": detail})

    def ping(self) -> bool:
        """True when the state database answers (for /health)."""
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()
