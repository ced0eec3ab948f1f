"""The service's snapshot builder through the rollups (``DASHBOARD_ROLLUPS=on``, the default)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from sqlalchemy import Connection, Engine

from dashboard.core.periods import effective_now
from dashboard.core.viewstate import ViewState, view_key
from dashboard.rollups.read import build_snapshot_fast, eligible
from dashboard.rollups.store import RollupStore
from dashboard.source.queries.snapshot import build_snapshot

log = logging.getLogger(__name__)

RETRY_SECONDS = 60.0  # a failed background build is tried again after this long, not on every request
NOTED_MAX = 5000  # (view, reason) pairs remembered for the one-line notes; then the memory starts over


def direct_reason(view: ViewState, now: dt.datetime, meta: Any) -> str | None:
    """Why the direct queries answer ``view`` at ``now`` instead of the rollups, or None when they do not
    (once built, the rollups answer every view: :func:`~dashboard.rollups.read.eligible`)."""
    now = effective_now(view, now)
    if meta is None:
        return "the rollups are not built yet (the first build is running)"
    if eligible(view, now, meta):
        return None
    if int(meta.odd):
        return "the source holds deadlines outside the extension bound, which the rollups cannot carry"
    return "the rollups were built with another layout (the next sync rebuilds them)"


class FastBuilder:
    """``build_snapshot`` for the service, through the rollups.

    Each build first brings the rollups up to date (a few changed events per refresh). Until the first
    full build is done (``make run`` and ``python -m dashboard rollups`` do it before serving; otherwise
    it starts in a background thread on the first request), snapshots come from the direct queries. Every
    view answered by the direct queries is logged once per process, with the reason, not once per request.
    """

    def __init__(self, store: RollupStore, source_engine: Engine) -> None:
        self.store = store
        self.source_engine = source_engine
        self._building: threading.Thread | None = None
        self._failed_at: float | None = None
        self._guard = threading.Lock()
        self._noted: set[tuple[str, str]] = set()

    def __call__(self, conn: Connection, view: Any, now: dt.datetime) -> Any:
        if self.store.meta() is None:
            self._build_in_background()
            self._note_direct(view, direct_reason(view, now, None))
            return build_snapshot(conn, view, now)
        self.store.sync(conn)
        self._note_direct(view, direct_reason(view, now, self.store.meta()))
        return build_snapshot_fast(conn, self.store, view, now)

    def wait_for_build(self, timeout: float | None = None) -> None:
        """Wait (at most ``timeout`` seconds) for a background build started by a call to finish."""
        building = self._building
        if building is not None:
            building.join(timeout=timeout)

    def _note_direct(self, view: ViewState, reason: str | None) -> None:
        """One log line per (view, reason) and process: a screen polling every few seconds must not
        repeat it, and the set is bounded so a crawler of many views cannot grow it forever."""
        if reason is None:
            return
        noted = (view_key(view), reason)
        with self._guard:
            if noted in self._noted:
                return
            if len(self._noted) >= NOTED_MAX:
                self._noted.clear()
            self._noted.add(noted)
        log.info("view %s answered by the direct queries: %s", noted[0] or "(whole district)", reason)

    def _build_in_background(self) -> None:
        with self._guard:
            if self._building is not None and self._building.is_alive():
                return
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_SECONDS:
                return
            self._building = threading.Thread(target=self._build, name="rollup-build", daemon=True)
            self._building.start()

    def _build(self) -> None:
        try:
            with self.source_engine.connect() as source:
                report = self.store.sync(source)
            log.info("rollups built: %s", report)
            self._failed_at = None
        except Exception:
            self._failed_at = time.monotonic()
            log.exception("rollup build failed; snapshots keep coming from the direct queries")
