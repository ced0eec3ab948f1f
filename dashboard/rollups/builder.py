"""The service's snapshot builder through the rollups (``DASHBOARD_ROLLUPS=on``)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from sqlalchemy import Connection, Engine

from dashboard.rollups.read import build_snapshot_fast
from dashboard.rollups.store import RollupStore
from dashboard.source.queries.snapshot import build_snapshot

log = logging.getLogger(__name__)


class FastBuilder:
    """``build_snapshot`` for the service, through the rollups (DASHBOARD_ROLLUPS=on).

    Each build first brings the rollups up to date (a few changed events per refresh). Until the first
    full build is done, which takes minutes on millions of events and runs in a background thread (or
    ahead of time with ``python -m dashboard rollups``), snapshots come from the direct queries.
    """

    def __init__(self, store: RollupStore, source_engine: Engine) -> None:
        self.store = store
        self.source_engine = source_engine
        self._building: threading.Thread | None = None
        self._guard = threading.Lock()

    def __call__(self, conn: Connection, view: Any, now: dt.datetime) -> Any:
        if self.store.meta() is None:
            self._build_in_background()
            return build_snapshot(conn, view, now)
        self.store.sync(conn)
        return build_snapshot_fast(conn, self.store, view, now)

    def wait_for_build(self, timeout: float | None = None) -> None:
        """Wait (at most ``timeout`` seconds) for a background build started by a call to finish."""
        building = self._building
        if building is not None:
            building.join(timeout=timeout)

    def _build_in_background(self) -> None:
        with self._guard:
            if self._building is not None and self._building.is_alive():
                return
            self._building = threading.Thread(target=self._build, name="rollup-build", daemon=True)
            self._building.start()

    def _build(self) -> None:
        try:
            with self.source_engine.connect() as source:
                report = self.store.sync(source)
            log.info("rollups built: %s", report)
        except Exception:
            log.exception("rollup build failed; snapshots keep coming from the direct queries")
