"""A surge in one town: the hand-built district the alert, annotation and briefing tests share, and
the settings, the audit rows and the signed-in app on it.

Twelve reports in 城厢街道 (TOWN_A) within the hour before ``T0``, spread over three grids so that no
grid surges by itself, and no history: the surge threshold is ``ALERT_MIN_CASES``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dashboard.core.clock import FixedClock
from dashboard.core.settings import Settings
from dashboard.service.state import StateStore, audit_log
from dashboard.source.engines import init_db
from tests.support.dash_callbacks import restore_callbacks
from tests.support.factories import GRID_A1_1, GRID_A1_2, GRID_A2_1, add_events, add_units, event_row
from tests.support.services import settings_on
from tests.support.signin import PASSWORD

T0 = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)  # 10:00 in Xiaoshan

User = tuple[str, str, frozenset[str] | None]  # name, role, towns (None: the whole district)


def surge_district(url: str) -> None:
    """The units and the twelve reports of the surge, in the database at ``url``."""
    engine = init_db(url)
    with engine.begin() as conn:
        add_units(conn)
        grids = (GRID_A1_1, GRID_A1_2, GRID_A2_1)
        add_events(conn, [event_row(T0 - dt.timedelta(minutes=5 + i), grid=grids[i % 3]) for i in range(12)])
    engine.dispose()


def surge_settings(tmp: Path, **extra: Any) -> Settings:
    """Settings on a fresh surge district in ``tmp``, with their own state store and cache, no rollups
    and no background refresh (``extra``: more settings)."""
    source = f"sqlite:///{tmp / 'source.db'}"
    surge_district(source)
    return settings_on(source, tmp, ROLLUPS="off", BACKGROUND_REFRESH="off", **extra)


@contextmanager
def surge_site(
    tmp: Path, users: tuple[User, ...], *, clock: FixedClock | None = None, **extra: Any
) -> Iterator[Any]:
    """The dashboard (Dash app) on a surge district with sign-in (``AUTH=local``) and ``users``, each
    with the password ``PASSWORD``, at ``clock`` (fixed at ``T0`` when not given)."""
    settings = surge_settings(tmp, AUTH="local", **extra)
    restore_callbacks()
    from dashboard.web.app import create_app
    from dashboard.web.context import app_context

    app = create_app(settings, clock=clock or FixedClock(T0))
    store = app.server.extensions["dashboard_auth"].store
    for name, role, towns in users:
        store.add_user(name, role, password=PASSWORD, towns=towns)
    yield app
    app_context(app.server).service.source_engine.dispose()


def audited(state: StateStore, action: str) -> list[Any]:
    """The audit rows of ``action`` in ``state``."""
    with state.engine.connect() as conn:
        return list(conn.execute(select(audit_log).where(audit_log.c.action == action)))
