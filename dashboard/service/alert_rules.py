"""Alert thresholds per town: an admin's values beside the district defaults, kept in the state store.

Each rule's parameters are described in the registry (``ALERT_RULES`` / ``ALERT_PARAMS`` in
:mod:`dashboard.core.metrics`). The district default of a parameter is its ``DASHBOARD_ALERT_*`` setting;
a town may have its own value (``dashboard_alert_rule``: one row per town × parameter). Precedence: the
town's own value, else the district default. Set and cleared from the 告警 page (admins) and with
``python -m dashboard alerts rules``; every change goes to the audit log.

Rule evaluation reads :meth:`AlertRules.thresholds` at each step of the alert lifecycle and each live
snapshot build. Each process keeps what it read for :data:`TTL` seconds (one small query, not one per
build), so a change made in another process reaches every screen within that, plus the minute a
snapshot is cached for.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from dashboard.core.domain import town_by_code
from dashboard.core.metrics import ALERT_PARAMS, AlertParam
from dashboard.service.state import StateStore, alert_rule_table, audit_log
from dashboard.source.queries.alerts import AlertThresholds, ScopedThresholds

R = alert_rule_table
TTL = 10.0  # seconds a process keeps the thresholds it read


@dataclass(frozen=True)
class RuleOverride:
    """One town's own value of one parameter."""

    town_code: str
    param: str
    value: float
    set_at: dt.datetime
    set_by: str


class AlertRules:
    """The district defaults (from the settings) and the towns' own values (from the state store)."""

    def __init__(
        self, state: StateStore, defaults: AlertThresholds, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.state = state
        self.defaults = defaults
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: tuple[float, ScopedThresholds] | None = None

    def overrides(self) -> list[RuleOverride]:
        """Every town's own values, by town and parameter."""
        with self.state.engine.connect() as conn:
            rows = conn.execute(select(R).order_by(R.c.town_code, R.c.param)).all()
        return [RuleOverride(r.town_code, r.param, float(r.value), r.set_at, r.set_by) for r in rows]

    def thresholds(self) -> ScopedThresholds:
        """The thresholds rule evaluation uses: the defaults, and each town with its own values."""
        with self._lock:
            if self._kept is not None and self._clock() - self._kept[0] < TTL:
                return self._kept[1]
        per_town: dict[str, dict[str, float]] = {}
        for found in self.overrides():
            if found.param in ALERT_PARAMS:  # a parameter dropped from the registry is ignored
                per_town.setdefault(found.town_code, {})[found.param] = found.value
        limits = ScopedThresholds(
            self.defaults, {town: self.defaults.with_values(v) for town, v in per_town.items()}
        )
        with self._lock:
            self._kept = (self._clock(), limits)
        return limits

    def set(self, town: str, param: str, value: str | float, actor: str, now: dt.datetime) -> RuleOverride:
        """Give ``town`` its own ``param`` (ValueError for an unknown town or parameter, or a bad value)."""
        town, spec = _check(town, param)
        number = spec.parse(value)
        row = {"value": number, "set_at": now, "set_by": actor[:128]}
        where = (R.c.town_code == town, R.c.param == param)
        for attempt in range(2):
            try:
                with self.state.engine.begin() as conn:  # the change and its audit line, or neither
                    before = conn.execute(select(R.c.value).where(*where)).scalar()
                    if not conn.execute(update(R).where(*where).values(**row)).rowcount:
                        conn.execute(insert(R).values(town_code=town, param=param, **row))
                    was = "default" if before is None else f"{float(before):g}"
                    _audit(conn, now, actor, "alert_rule_set", f"{town} {param}={number:g} (was {was})")
                break
            except IntegrityError:  # another admin inserted it a moment ago: update theirs
                if attempt:
                    raise
        self._forget()
        return RuleOverride(town, param, number, now, actor[:128])

    def unset(self, town: str, param: str, actor: str, now: dt.datetime) -> bool:
        """Give ``town`` the district default of ``param`` again; False when it had no value of its own."""
        town, _spec = _check(town, param)
        default = getattr(self.defaults, param)
        with self.state.engine.begin() as conn:
            done = conn.execute(delete(R).where(R.c.town_code == town, R.c.param == param)).rowcount
            if done:
                _audit(
                    conn, now, actor, "alert_rule_unset", f"{town} {param} back to the default {default:g}"
                )
        self._forget()
        return bool(done)

    def _forget(self) -> None:
        with self._lock:
            self._kept = None  # this process sees its own change at once


def _audit(conn: Connection, now: dt.datetime, actor: str, action: str, detail: str) -> None:
    # In the change's own transaction: unlike the lifecycle's steps, a change is never left unaudited.
    conn.execute(insert(audit_log).values(at=now, actor=actor[:128], action=action, detail=detail[:2000]))


def _check(town: str, param: str) -> tuple[str, AlertParam]:
    if town not in town_by_code():
        raise ValueError(f"town: {town!r} is not a town code of the district")
    spec = ALERT_PARAMS.get(param)
    if spec is None:
        raise ValueError(f"param: {param!r} is not one of {', '.join(ALERT_PARAMS)}")
    return town, spec
