"""Background refresh: keep the live views that screens watch fresh, so no request waits for a build.

Without it the first request after the data changes (or the minute turns) computes its view while the
screen waits, and a slow view on a long history makes that one answer take seconds. With it, every
process remembers which live views were asked for lately (the *hot* set); a daemon thread looks at them
about once a second and rebuilds any that is due, in the background. Requests are answered from the
last good snapshot meanwhile. The cross-process claim of :class:`dashboard.service.snapshots.SnapshotService`
still holds: one build per view at a time across all workers, so the database load stays one
computation per view per data change, however many screens or workers there are.

A view nobody asks for within :attr:`Refresher.hot_seconds` drops out of the hot set, and the thread
ends when the set is empty (it starts again on the next request, also after a fork).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dashboard.core.viewstate import ViewState

log = logging.getLogger(__name__)

Refresh = Callable[[ViewState, str], None]

CHECK_SECONDS = 1.0  # how often the hot views are looked at: a due view waits at most this long


@dataclass
class _Hot:
    view: ViewState
    last_asked: float  # time.monotonic() of the last request


class Refresher:
    """The hot set of one process and the thread that keeps it fresh (see the module docstring)."""

    def __init__(self, refresh: Refresh, hot_seconds: float, check_seconds: float = CHECK_SECONDS) -> None:
        self._refresh = refresh
        self.hot_seconds = hot_seconds
        self.check_seconds = check_seconds
        self._hot: dict[str, _Hot] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.rounds = 0  # completed passes over the hot set (tests wait on it)

    def touch(self, identity: str, view: ViewState) -> None:
        """``view`` was just asked for: keep it fresh for the next ``hot_seconds``."""
        with self._lock:
            self._hot[identity] = _Hot(view, time.monotonic())
            self._ensure_thread()

    def wake(self) -> None:
        """Look at the hot views now (a request found its view due)."""
        self._wake.set()

    def hot(self) -> list[str]:
        with self._lock:
            return sorted(self._hot)

    def _ensure_thread(self) -> None:
        # A forked worker inherits the parent's object but not its thread: start one of its own.
        if self._pid != os.getpid():
            self._pid, self._thread = os.getpid(), None
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="snapshot-refresher", daemon=True)
            self._thread.start()

    def _due(self) -> list[tuple[str, ViewState]]:
        """The views asked for lately; forgets the others. Empty: the thread may end."""
        cutoff = time.monotonic() - self.hot_seconds
        with self._lock:
            for identity in [i for i, h in self._hot.items() if h.last_asked < cutoff]:
                del self._hot[identity]
            if not self._hot:
                self._thread = None  # decided under the lock: a touch() now starts a new thread
            return [(i, h.view) for i, h in self._hot.items()]

    def _run(self) -> None:
        while True:
            views = self._due()
            if not views:
                return
            for identity, view in views:
                try:
                    self._refresh(view, identity)
                except Exception:  # the refresh reports its own failures; the thread must go on
                    log.exception("background refresh of %s failed", identity)
            self.rounds += 1
            self._wake.wait(self.check_seconds)
            self._wake.clear()
