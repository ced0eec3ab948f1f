"""Briefing definitions: which briefings the scheduler makes, for which scope and language, and for whom.

A definition is a kind (day, week, month, quarter), a scope (the district, or some towns), a language and
its recipients: mail addresses and the names of webhook targets. The targets' URLs (with their tokens)
and the mail relay's login live in the settings only (``DASHBOARD_BRIEFING_WEBHOOKS`` names them,
``DASHBOARD_BRIEFING_SMTP``); a definition holds names and addresses, so neither the state store, the
archive nor the audit log ever holds a secret.

Definitions live in the state store (``dashboard_briefing``). They are made, changed and deleted on the
简报 page (admins) and with ``python -m dashboard briefing define``; each change is audited in the same
transaction (``briefing_define_add`` / ``_update`` / ``_delete``).

Precedence (:func:`dashboard.briefings.defined.jobs`): the stored definitions, when there is at least one;
otherwise the settings' ``DASHBOARD_BRIEFINGS`` × ``DASHBOARD_BRIEFING_TOWNS`` × ``DASHBOARD_BRIEFING_LANGS``
sent to ``DASHBOARD_BRIEFING_MAIL_TO`` and every configured webhook (the default definition).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from dashboard.core.domain import town_by_code
from dashboard.service.state import StateStore, audit_log, briefing_table

B = briefing_table
KIND_KEYS = ("day", "week", "month", "quarter")  # dashboard.briefings.kinds.KINDS (a test keeps them equal)
LANGS = ("zh", "en")
MAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
NAME = re.compile(r"^[A-Za-z0-9_\-.\u4e00-\u9fff]{1,64}$")


@dataclass(frozen=True)
class BriefingDef:
    """One stored definition (``id`` 0: the default one from the settings, not stored)."""

    id: int
    kind: str
    towns: tuple[str, ...]  # () = the district
    lang: str
    mail_to: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()
    updated_at: dt.datetime | None = None
    updated_by: str = ""

    @property
    def scope(self) -> str:
        return "+".join(self.towns) if self.towns else "district"

    def visible_to(self, towns: Collection[str] | None) -> bool:
        """Whether a viewer of ``towns`` (None: the whole district) may see it: its scope lies within them."""
        return towns is None or (bool(self.towns) and set(self.towns) <= set(towns))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "scope": self.scope,
            "towns": list(self.towns),
            "lang": self.lang,
            "mail_to": list(self.mail_to),
            "webhooks": list(self.webhooks),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by,
        }


def _split(text: str | Iterable[str] | None) -> tuple[str, ...]:
    items = text.replace(";", ",").split(",") if isinstance(text, str) else list(text or ())
    return tuple(dict.fromkeys(i.strip() for i in items if i and i.strip()))


def check(
    kind: str,
    towns: Iterable[str],
    lang: str,
    mail_to: str | Iterable[str] | None,
    webhooks: str | Iterable[str] | None,
    known_webhooks: Collection[str] | None = None,
) -> tuple[str, tuple[str, ...], str, tuple[str, ...], tuple[str, ...]]:
    """The definition's fields, checked and in canonical form; ValueError naming the field otherwise."""
    if kind not in KIND_KEYS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KIND_KEYS)}")
    codes = tuple(sorted(set(towns)))
    unknown = [c for c in codes if c not in town_by_code()]
    if unknown:
        raise ValueError(f"towns: {', '.join(unknown)} is not a town code of the district")
    if lang not in LANGS:
        raise ValueError(f"lang: {lang!r} is not zh or en")
    mails, hooks = _split(mail_to), _split(webhooks)
    bad = [m for m in mails if not MAIL.match(m)]
    if bad:
        raise ValueError(f"mail_to: {', '.join(bad)} is not a mail address")
    bad = [h for h in hooks if not NAME.match(h) or (known_webhooks is not None and h not in known_webhooks)]
    if bad:
        known = ", ".join(sorted(known_webhooks or ())) or "none configured"
        raise ValueError(f"webhooks: {', '.join(bad)} is not a configured webhook name ({known})")
    return kind, codes, lang, mails, hooks


class BriefingDefs:
    """The stored definitions: list, add, update, delete (each change audited in its transaction)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def all(self) -> list[BriefingDef]:
        with self.state.engine.connect() as conn:
            rows = conn.execute(select(B).order_by(B.c.kind, B.c.scope, B.c.lang, B.c.id)).all()
        return [_from_row(r) for r in rows]

    def visible(self, towns: Collection[str] | None) -> list[BriefingDef]:
        """Those a viewer of ``towns`` sees (a town user: only briefings of their own towns)."""
        return [d for d in self.all() if d.visible_to(towns)]

    def get(self, def_id: int) -> BriefingDef | None:
        with self.state.engine.connect() as conn:
            row = conn.execute(select(B).where(B.c.id == def_id)).first()
        return None if row is None else _from_row(row)

    def add(
        self,
        kind: str,
        towns: Iterable[str],
        lang: str,
        mail_to: str | Iterable[str] | None,
        webhooks: str | Iterable[str] | None,
        actor: str,
        now: dt.datetime,
        *,
        known_webhooks: Collection[str] | None = None,
    ) -> BriefingDef:
        kind, codes, lang, mails, hooks = check(kind, towns, lang, mail_to, webhooks, known_webhooks)
        row = _row(kind, codes, lang, mails, hooks) | {"updated_at": now, "updated_by": actor[:128]}
        with self.state.engine.begin() as conn:  # the change and its audit line, or neither
            made = conn.execute(insert(B).values(created_at=now, created_by=actor[:128], **row))
            key = made.inserted_primary_key
            assert key is not None  # an insert of one row always has one
            def_id = int(key[0])
            made_def = BriefingDef(def_id, kind, codes, lang, mails, hooks, now, actor[:128])
            _audit(conn, now, actor, "briefing_define_add", f"#{def_id} {_describe(made_def)}")
        return made_def

    def update(
        self,
        def_id: int,
        actor: str,
        now: dt.datetime,
        *,
        kind: str | None = None,
        towns: Iterable[str] | None = None,
        lang: str | None = None,
        mail_to: str | Iterable[str] | None = None,
        webhooks: str | Iterable[str] | None = None,
        known_webhooks: Collection[str] | None = None,
    ) -> BriefingDef:
        """Change the fields given (None: kept); LookupError when there is no such definition."""
        with self.state.engine.begin() as conn:
            found = conn.execute(select(B).where(B.c.id == def_id)).first()
            if found is None:
                raise LookupError(f"id: no briefing definition #{def_id}")
            was = _from_row(found)
            fields = check(
                kind if kind is not None else was.kind,
                towns if towns is not None else was.towns,
                lang if lang is not None else was.lang,
                mail_to if mail_to is not None else was.mail_to,
                webhooks if webhooks is not None else was.webhooks,
                known_webhooks,
            )
            row = _row(*fields) | {"updated_at": now, "updated_by": actor[:128]}
            conn.execute(update(B).where(B.c.id == def_id).values(**row))
            now_def = BriefingDef(def_id, *fields, now, actor[:128])
            _audit(
                conn, now, actor, "briefing_define_update",
                f"#{def_id} {_describe(now_def)} (was {_describe(was)})",
            )  # fmt: skip
        return now_def

    def delete(self, def_id: int, actor: str, now: dt.datetime) -> bool:
        """Delete it; False when there was none."""
        with self.state.engine.begin() as conn:
            found = conn.execute(select(B).where(B.c.id == def_id)).first()
            if found is None:
                return False
            conn.execute(delete(B).where(B.c.id == def_id))
            _audit(conn, now, actor, "briefing_define_delete", f"#{def_id} {_describe(_from_row(found))}")
        return True


def _row(
    kind: str, towns: tuple[str, ...], lang: str, mails: tuple[str, ...], hooks: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "scope": "+".join(towns) if towns else "district",
        "lang": lang,
        "mail_to": ",".join(mails),
        "webhooks": ",".join(hooks),
    }


def _from_row(r: Any) -> BriefingDef:
    towns = () if r.scope == "district" else tuple(r.scope.split("+"))
    return BriefingDef(
        int(r.id), r.kind, towns, r.lang, _split(r.mail_to), _split(r.webhooks), r.updated_at, r.updated_by
    )


def _describe(d: BriefingDef) -> str:
    """A definition for the audit log: names and addresses only (no URL of a target ever reaches it)."""
    to = ",".join(d.mail_to) or "-"
    hooks = ",".join(d.webhooks) or "-"
    return f"{d.kind} {d.scope} {d.lang} mail={to} webhooks={hooks}"


def _audit(conn: Connection, now: dt.datetime, actor: str, action: str, detail: str) -> None:
    conn.execute(insert(audit_log).values(at=now, actor=actor[:128], action=action, detail=detail[:2000]))
