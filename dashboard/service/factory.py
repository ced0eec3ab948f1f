"""The one wiring of the snapshot service: source engine, state store, shared cache, builder, clock.

The web app, the command line, the benchmark and the soak all make their service here, so a view is
built the same way whichever door it comes in through. The source engine made here is the only pool on
the source in a process: the app reads reference data and the event list through ``service.source_engine``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from dashboard.core.clock import Clock, SystemClock
from dashboard.core.freshness import parse_cadence
from dashboard.core.settings import Settings
from dashboard.service.alert_rules import AlertRules
from dashboard.service.alerts import AlertBook
from dashboard.service.annotations import AnnotationBook
from dashboard.service.cache import init_cache
from dashboard.service.push import AlertPush, targets_from_settings
from dashboard.service.snapshots import Builder, SnapshotService, Versioner
from dashboard.service.state import StateStore
from dashboard.source.engines import make_source_engine, make_writer_engine

# Wraps the builder or the data-version reader, e.g. to count calls (the benchmark): (kind, fn) → fn.
Instrument = Callable[[str, Callable[..., Any]], Callable[..., Any]]


def key_prefix_for(settings: Settings) -> str:
    """The cache key prefix of a deployment: keys name the source, so deployments on different databases
    can share one Redis safely."""
    return f"xsdash:{hashlib.sha256(settings.DATABASE_URL.encode('utf-8')).hexdigest()[:10]}:"


def create_service(
    settings: Settings,
    clock: Clock | None = None,
    *,
    key_prefix: str | None = None,
    rollup_url: str | None = None,
    instrument: Instrument | None = None,
    wait_seconds: float = 30.0,
    statement_timeout_ms: int | None = None,
) -> SnapshotService:
    """The service for ``settings``.

    ``rollup_url`` puts the rollups in another database than the state store (the benchmark's prebuilt
    ones); ``instrument`` wraps the builder and the data-version reader; ``statement_timeout_ms``
    overrides the setting (the benchmark's long first builds).
    """
    timeout = statement_timeout_ms or settings.STATEMENT_TIMEOUT_MS
    source = make_source_engine(settings.DATABASE_URL, timeout_ms=timeout)
    state = StateStore(settings.STATE_URL)
    builder = rollup_builder(settings, state, source, rollup_url)
    versioner: Versioner | None = None
    if instrument is not None:
        from dashboard.source.queries.snapshot import build_snapshot, data_version

        builder = instrument("build", builder or build_snapshot)
        versioner = instrument("version", data_version)
    rules = alert_rules(settings, state)
    return SnapshotService(
        source,
        state,
        init_cache(settings, key_prefix=key_prefix or key_prefix_for(settings)),
        clock or SystemClock(),
        builder=builder,
        versioner=versioner,
        refresh_seconds=settings.REFRESH_SECONDS,
        wait_seconds=wait_seconds,
        background=settings.BACKGROUND_REFRESH == "on",
        stream_cadence=parse_cadence(settings.STREAM_CADENCE),
        alert_book=alert_book(settings, state, rules),
        alert_rules=rules,
        annotation_book=AnnotationBook(state),
    )


def alert_rules(settings: Settings, state: StateStore) -> AlertRules:
    """The alert thresholds: the settings' as the district defaults, the towns' own from the state store."""
    from dashboard.source.queries.alerts import AlertThresholds

    return AlertRules(state, AlertThresholds.from_settings(settings))


def alert_book(settings: Settings, state: StateStore, rules: AlertRules | None = None) -> AlertBook:
    """The alert lifecycle, evaluating the rules with each town's thresholds (``rules``; without them,
    the defaults of ``settings`` everywhere)."""
    from dashboard.source.queries.alerts import firing_alerts

    rules = rules or alert_rules(settings, state)
    return AlertBook(
        state,
        dt.timedelta(minutes=settings.ALERT_HOLD_MINUTES),
        lambda conn, now: firing_alerts(conn, now, rules.thresholds()),
        alert_push(settings, state),
    )


def alert_push(settings: Settings, state: StateStore) -> AlertPush:
    """The alerts' push to the targets of ``settings`` (none configured: it writes and sends nothing)."""
    return AlertPush(
        state,
        targets_from_settings(settings),
        interval=settings.ALERT_PUSH_SECONDS,
        public_url=settings.PUBLIC_URL,
    )


def rollup_builder(
    settings: Settings, state: StateStore, source: Engine, rollup_url: str | None = None
) -> Builder | None:
    """The rollup fast path when DASHBOARD_ROLLUPS=on (the default) or ``rollup_url`` names a store,
    else None (the direct queries). The rollups live in the state store's database (on SQLite in a file
    beside it: :func:`~dashboard.rollups.store.store_url`) unless ``rollup_url`` says."""
    if settings.ROLLUPS != "on" and rollup_url is None:
        return None
    from dashboard.rollups.builder import FastBuilder
    from dashboard.rollups.store import RollupStore, store_url

    url = rollup_url or store_url(settings.STATE_URL)
    engine = state.engine if url == settings.STATE_URL else make_writer_engine(url)
    return FastBuilder(RollupStore(engine), source)
