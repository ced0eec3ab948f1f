"""What the scheduler makes and whom it sends it to: the stored definitions, or the settings' default.

Precedence: when the state store holds at least one briefing definition
(:mod:`dashboard.service.briefing_defs`, made on the 简报 page or with ``python -m dashboard briefing
define``), exactly those run, each to its own recipients. When it holds none, the settings make the
default definition: every kind of ``DASHBOARD_BRIEFINGS`` × scope of ``DASHBOARD_BRIEFING_TOWNS`` ×
language of ``DASHBOARD_BRIEFING_LANGS``, sent to ``DASHBOARD_BRIEFING_MAIL_TO`` and every webhook of
``DASHBOARD_BRIEFING_WEBHOOKS``. The definitions are read at every pass: a change on the page reaches the
next run without a restart.

A definition's recipients are names: mail addresses go through the relay of ``DASHBOARD_BRIEFING_SMTP``;
webhook names pick targets of ``DASHBOARD_BRIEFING_WEBHOOKS`` (``name=kind:url``). Two definitions of the
same kind, scope and language share the archived files (one briefing, made once) and each sends it to
its own recipients, once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboard.briefings.archive import Archived, run_briefing
from dashboard.briefings.deliver import Channel, channels_from_settings, deliver
from dashboard.briefings.schedule import (
    LOCK_KEY,
    LOCK_SECONDS,
    Locks,
    Plan,
    last_fire,
    manifest_of,
    run_due,
)
from dashboard.service.briefing_defs import BriefingDef

log = logging.getLogger(__name__)
RETRY_DAYS = 7  # a briefing whose channel failed is sent again by the passes of this many days


@dataclass(frozen=True)
class Job:
    """One briefing to make, and where it goes."""

    kind: str
    towns: tuple[str, ...]
    lang: str
    channels: tuple[Channel, ...] = ()
    source: str = "settings"  # "settings" (the default definition) or "#<id>" (a stored one)


def jobs(definitions: Iterable[BriefingDef], settings: Any) -> list[Job]:
    """The briefings to make: the stored definitions when there are any, else the settings' default."""
    stored = list(definitions)
    if stored:
        return [_job(d, settings) for d in stored]
    plan = Plan.from_settings(
        settings.BRIEFINGS, settings.BRIEFING_AT, settings.BRIEFING_TOWNS, settings.BRIEFING_LANGS
    )
    channels = tuple(
        channels_from_settings(settings.BRIEFING_SMTP, settings.BRIEFING_MAIL_TO, settings.BRIEFING_WEBHOOKS)
    )
    return [Job(kind, towns, lang, channels) for kind, towns, lang in plan.entries()]


def _job(definition: BriefingDef, settings: Any) -> Job:
    hooks = {c.target_name: c for c in channels_from_settings("", "", settings.BRIEFING_WEBHOOKS)}
    chosen: list[Channel] = []
    if definition.mail_to:
        if settings.BRIEFING_SMTP:
            to = definition.mail_to
            chosen.append(Channel("smtp", settings.BRIEFING_SMTP, to, label=",".join(to)))
        else:
            log.warning(
                "briefing #%s names mail recipients but DASHBOARD_BRIEFING_SMTP is empty", definition.id
            )
    for name in definition.webhooks:
        if name in hooks:
            chosen.append(hooks[name])
        else:  # the settings dropped it since: the others still go
            log.warning(
                "briefing #%s: no webhook named %s in DASHBOARD_BRIEFING_WEBHOOKS", definition.id, name
            )
    return Job(definition.kind, definition.towns, definition.lang, tuple(chosen), f"#{definition.id}")


def plan_of(found: Iterable[Job], at: str) -> Plan:
    items = tuple((j.kind, j.towns, j.lang) for j in found)
    base = Plan.from_settings("", at, "district")
    return Plan(tuple(dict.fromkeys(k for k, _, _ in items)), base.at, base.scopes, base.langs, items)


def one_pass(
    service: Any,
    geojson_for: Any,
    root: Path,
    found: list[Job],
    at: str,
    now: dt.datetime,
    *,
    locks: Locks,
    scope: Any,
    public_url: str = "",
    make: Callable[..., tuple[Archived, bool]] = run_briefing,
    send: Callable[..., dict[str, dict[str, Any]]] = deliver,
) -> tuple[list[Archived], dict[str, dict[str, dict[str, Any]]]]:
    """Make what is due (under the scheduler's lock), then send each job's latest briefing on the channels
    it has not reached (new ones, and those that failed within :data:`RETRY_DAYS`)."""
    if not found:
        return [], {}
    plan = plan_of(found, at)
    sent: dict[str, dict[str, dict[str, Any]]] = {}
    # Making and sending under one hold of the lock: two servers never send the same briefing twice.
    with locks.try_lock(LOCK_KEY, LOCK_SECONDS) as held:
        if not held:
            log.info("briefings: another process is making them")
            return [], sent
        made = run_due(service, geojson_for, root, plan, now, locks=_HELD, scope=scope, make=make)
        _send(found, root, plan, now, public_url, send, sent)
    return made, sent


def _send(
    found: list[Job], root: Path, plan: Plan, now: dt.datetime, public_url: str,
    send: Callable[..., dict[str, dict[str, Any]]], sent: dict[str, dict[str, dict[str, Any]]],
) -> None:  # fmt: skip
    for job in found:
        if not job.channels:
            continue
        fire = last_fire(job.kind, now, plan.at)
        manifest = manifest_of(root, job.kind, job.towns, job.lang, fire)
        if not manifest.exists() or now - fire > dt.timedelta(days=RETRY_DAYS):
            continue
        outcome = send(manifest, list(job.channels), public_url=public_url)
        sent.setdefault(str(manifest), {}).update(outcome)


class _AlreadyHeld:
    """The lock for :func:`run_due` inside :func:`one_pass`, which holds the real one already."""

    @contextmanager
    def try_lock(self, key: str, ttl_seconds: float, *, own_file: bool = False) -> Iterator[bool]:
        yield True


_HELD = _AlreadyHeld()


SCHEDULER_MODES = ("auto", "on", "off")


def scheduler_wanted(mode: str, stored: int, kinds_setting: str) -> bool:
    """Whether a server starts the scheduler: ``on``, ``off``, or ``auto`` (the default): when the state
    store holds a definition or ``DASHBOARD_BRIEFINGS`` names a kind. So a test, a benchmark or a
    development server with nothing defined never makes briefings by accident."""
    choice = mode.strip().lower()
    if choice not in SCHEDULER_MODES:
        raise ValueError(f"DASHBOARD_BRIEFING_SCHEDULER: {mode!r} is not one of {', '.join(SCHEDULER_MODES)}")
    if choice != "auto":
        return choice == "on"
    return stored > 0 or bool(kinds_setting.strip())


def scheduled_pass(
    service: Any,
    geojson_for: Any,
    root: Path,
    settings: Any,
    definitions: Callable[[], list[BriefingDef]],
    now: Callable[[], dt.datetime],
    *,
    say: Callable[[str], None] = log.info,
) -> Callable[[], list[Archived]]:
    """One pass as the scheduler calls it: read the definitions (a change on the page counts at the next
    pass), make what is due, send it, and say what happened (names of channels, never their URLs)."""
    from dashboard.core.scope import DISTRICT

    def run_pass() -> list[Archived]:
        found = jobs(definitions(), settings)
        made, sent = one_pass(
            service, geojson_for, root, found, settings.BRIEFING_AT, now(),
            locks=service.cache, scope=DISTRICT, public_url=settings.PUBLIC_URL,
        )  # fmt: skip
        for entry in made:
            say(f"made: {entry.title} ({entry.scope}, {entry.lang})")
        for where, outcome in sent.items():
            for channel, o in outcome.items():
                state = "sent" if o["ok"] else f"FAILED after {o['attempts']} attempts: {o['error']}"
                say(f"{Path(where).name}: {channel}: {state}")
        return made

    return run_pass


def start_in_background(service: Any, geojson_for: Any, settings: Any, now: Callable[[], dt.datetime]) -> Any:
    """Start the scheduler in a thread of this server process when :func:`scheduler_wanted`; None when not.

    Every server process (each gunicorn worker, the development server) may start one; the shared lock
    lets one pass at a time make and send, and a second finds nothing due."""
    from dashboard.briefings.kinds import KINDS
    from dashboard.briefings.schedule import start_scheduler
    from dashboard.service.briefing_defs import BriefingDefs

    book = BriefingDefs(service.state)
    if not scheduler_wanted(settings.BRIEFING_SCHEDULER, len(book.all()), settings.BRIEFINGS):
        return None
    root = Path(settings.BRIEFINGS_DIR)
    run_pass = scheduled_pass(service, geojson_for, root, settings, book.all, now)
    # Every kind's trigger: a definition added later runs at its time without a restart.
    plan = Plan.from_settings(",".join(KINDS), settings.BRIEFING_AT, "district")
    scheduler = start_scheduler(_logged(run_pass), plan)
    log.info(
        "briefings: scheduler started in this process (DASHBOARD_BRIEFING_SCHEDULER=%s)",
        settings.BRIEFING_SCHEDULER,
    )
    return scheduler


def _logged(run_pass: Callable[[], list[Archived]]) -> Callable[[], list[Archived]]:
    def guarded() -> list[Archived]:
        try:
            return run_pass()
        except Exception:  # a failing pass (source down, bad setting) must not kill the server's thread
            log.exception("briefings: the pass failed; the next fire tries again")
            return []

    return guarded
