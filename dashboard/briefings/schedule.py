"""The briefings' schedule: each kind runs at its time (Asia/Shanghai), once, however many processes run.

| kind | runs | covers |
|---|---|---|
| 日报 day | every day at ``DASHBOARD_BRIEFING_AT`` (08:00) | the day before |
| 周汇总 week | Mondays at that time | the previous ISO week |
| 月分析 month | the 1st at that time | the previous month |
| 季评估 quarter | the first day of a quarter at that time | the previous quarter |

``DASHBOARD_BRIEFINGS`` names the kinds that run (empty: none) and ``DASHBOARD_BRIEFING_TOWNS`` the scopes
(``district``, or towns; ``;`` between scopes). Every fire, and every start, asks :func:`due` what the
archive lacks: the briefing of each kind's latest fire time that has passed. So a run missed while the
servers were down is made when a scheduler next starts, and a second scheduler (another server) finds
nothing to do. The whole pass runs under one lock of the shared cache (Redis across machines): exactly
one process makes briefings at a time. APScheduler keeps the clock (a ``CronTrigger`` per kind).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dashboard.briefings.archive import Archived, folder, run_briefing, scope_key
from dashboard.briefings.kinds import KINDS, covered, kind_of, period_key
from dashboard.core.periods import SHANGHAI, add_months, local_date, unit_start

log = logging.getLogger(__name__)
LOCK_KEY = "briefings:scheduler"
LOCK_SECONDS = 1800.0  # a pass holding the lock longer than this is taken to have died


@dataclass(frozen=True)
class Plan:
    """What runs: the kinds, the local time they run at, the scopes (``()`` = district) and languages."""

    kinds: tuple[str, ...] = tuple(KINDS)
    at: dt.time = dt.time(8, 0)
    scopes: tuple[tuple[str, ...], ...] = ((),)
    langs: tuple[str, ...] = ("zh",)
    # Explicit (kind, towns, lang) briefings (the stored definitions); empty: every kind × scope × language.
    items: tuple[tuple[str, tuple[str, ...], str], ...] = ()

    def entries(self) -> list[tuple[str, tuple[str, ...], str]]:
        """Each briefing the plan makes, once: (kind, towns, lang)."""
        if self.items:
            return list(dict.fromkeys(self.items))
        return [(k, towns, lang) for k in self.kinds for towns in self.scopes for lang in self.langs]

    @classmethod
    def from_settings(cls, kinds: str, at: str, towns: str, langs: str = "zh") -> Plan:
        """From the settings' text: ``"day,week"``, ``"08:00"``, ``"district;330109113"``, ``"zh,en"``."""
        try:
            hour, minute = (int(x) for x in at.split(":"))
            when = dt.time(hour, minute)
        except ValueError as exc:
            raise ValueError(f"DASHBOARD_BRIEFING_AT: {at!r} is not HH:MM") from exc
        chosen = tuple(kind_of(k.strip()).key for k in kinds.split(",") if k.strip())
        scopes = tuple(
            ()
            if s.strip() in ("", "district")
            else tuple(sorted(t.strip() for t in s.split(",") if t.strip()))
            for s in (towns or "district").split(";")
        )
        return cls(chosen, when, scopes, tuple(x.strip() for x in langs.split(",") if x.strip()) or ("zh",))


def last_fire(kind: str, now: dt.datetime, at: dt.time) -> dt.datetime:
    """The latest scheduled time of ``kind`` at or before ``now`` (aware UTC)."""
    today = local_date(now)
    unit = "day" if kind == "day" else kind
    first = unit_start(unit, today)
    fire = _at(first, at)
    if fire > now:  # this period's run is still ahead: the previous one is the latest
        step = {"day": dt.timedelta(days=1), "week": dt.timedelta(days=7)}.get(kind)
        first = first - step if step else add_months(first, -1 if kind == "month" else -3)
        fire = _at(first, at)
    return fire


def _at(day: dt.date, at: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, at, SHANGHAI).astimezone(dt.UTC)


@dataclass(frozen=True)
class Due:
    kind: str
    towns: tuple[str, ...]
    lang: str
    fire: dt.datetime  # the scheduled time the briefing belongs to (it covers the period before it)


def due(plan: Plan, now: dt.datetime, root: Path) -> list[Due]:
    """The briefings the archive should hold by ``now`` and does not (each kind's latest fire only)."""
    found = []
    for kind, towns, lang in plan.entries():
        fire = last_fire(kind, now, plan.at)
        if not manifest_of(root, kind, towns, lang, fire).exists():
            found.append(Due(kind, towns, lang, fire))
    return found


def manifest_of(root: Path, kind: str, towns: Iterable[str], lang: str, fire: dt.datetime) -> Path:
    """Where the briefing a fire at ``fire`` makes keeps its manifest."""
    first, _ = covered(kind, fire)
    return folder(root, kind, period_key(kind, first)) / f"{scope_key(towns)}-{lang}.json"


class Locks(Protocol):
    """What the pass needs of the shared cache (``SharedCache.try_lock``)."""

    def try_lock(
        self, key: str, ttl_seconds: float, *, own_file: bool = False
    ) -> AbstractContextManager[bool]: ...


def run_due(
    service: Any,
    geojson_for: Any,
    root: Path,
    plan: Plan,
    now: dt.datetime,
    *,
    locks: Locks,
    scope: Any,
    make: Callable[..., tuple[Archived, bool]] = run_briefing,
) -> list[Archived]:
    """Make every briefing :func:`due` names, under the scheduler's lock; [] when another process holds it.

    Each is made as at its fire time, so a late run covers the period its schedule meant. A failure is
    logged and the others still run; the next pass tries it again (it is still due)."""
    made: list[Archived] = []
    with locks.try_lock(LOCK_KEY, LOCK_SECONDS) as held:
        if not held:
            log.info("briefings: another process is making them")
            return made
        for item in due(plan, now, root):
            try:
                entry, fresh = make(
                    service, geojson_for, root, kind=item.kind, towns=item.towns, lang=item.lang,
                    now=item.fire, scope=scope,
                )  # fmt: skip
            except Exception:  # one failed briefing must not stop the others; it stays due
                log.exception("briefing %s %s %s failed", item.kind, scope_key(item.towns), item.lang)
                continue
            if fresh:
                log.info("briefing made: %s (%s)", entry.title, scope_key(item.towns))
                made.append(entry)
    return made


def start_scheduler(run_pass: Callable[[], Iterable[Archived]], plan: Plan, *, blocking: bool = False) -> Any:
    """An APScheduler that calls ``run_pass`` at each kind's time and once now (missed runs).

    ``blocking``: run in the foreground (``python -m dashboard briefing schedule``); else a background
    thread of the calling process."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=SHANGHAI)
    fields: dict[str, dict[str, Any]] = {
        "day": {},
        "week": {"day_of_week": "mon"},
        "month": {"day": 1},
        "quarter": {"month": "1,4,7,10", "day": 1},
    }
    for kind in plan.kinds:
        trigger = CronTrigger(hour=plan.at.hour, minute=plan.at.minute, timezone=SHANGHAI, **fields[kind])
        scheduler.add_job(run_pass, trigger, id=f"briefing-{kind}", max_instances=1, coalesce=True)
    scheduler.add_job(run_pass, id="briefings-missed", max_instances=1)  # once, now: runs missed while down
    scheduler.start()
    return scheduler
