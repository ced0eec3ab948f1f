"""One builder process per host: the rebuilds and the drawings ahead, out of the serving processes.

Why: with background refresh, every serving process rebuilt the views its screens watched and drew
their next boards, in threads beside the requests. A rebuild or a wall's drawing is tens to hundreds of
milliseconds of Python; a screen's tick arriving meanwhile waited for the GIL (CPython has one lock per
process), and that wait was most of the screens' slowest answers. In a process of its own, at a lower
priority, the same work leaves the serving processes' GIL to the requests, and the kernel hands the
CPU to a request as soon as it arrives.

How: under gunicorn (``make serve``, :mod:`dashboard.web.gunicorn_conf`) the master opens a
:class:`Channel` before forking, and starts the builder. Each serving process inherits the channel; its
:class:`SnapshotService` keeps a :class:`RemoteRefresher` instead of its own refresher thread, and
tells the builder, over the channel, which live views its screens watch and which boards they were
sent. The builder runs the same app with the in-process :class:`dashboard.service.refresher.Refresher`
and board warmer, fed by those notices (:func:`serve_notices`). Everything it makes goes to the shared
cache, where the serving processes read it.

The notices are hints. One lost (the channel full, the builder restarting) costs at most a request
that computes or draws for itself, as without background refresh: a serving process never waits for the
builder, and a view the builder does not keep fresh gets too old to show and is computed on request
(:meth:`SnapshotService._meanwhile`).

Without a channel (``make run``'s one process, the CLI, the tests) nothing changes: the service keeps
its refresher thread in process.
"""

from __future__ import annotations

import logging
import pickle
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from dashboard.core.scope import Scope
from dashboard.core.viewstate import ViewState, view_key

log = logging.getLogger(__name__)

# A notice is re-sent at most this often for the same view or board (a screen's tick is every second or
# more; the builder keeps a view hot for two refreshes, so a notice every few seconds keeps it so).
RESEND_SECONDS = 2.0
BUFFER_BYTES = 4 * 2**20  # room in the channel for a burst of notices while the builder is busy


class Channel:
    """A one-way datagram channel from the serving processes to the builder (an AF_UNIX socket pair).

    Why datagrams and not a ``multiprocessing.Queue``: a datagram is written whole or not at all, with no
    lock shared between processes and no feeder thread (gunicorn forks its workers with ``os.fork``, so
    a queue's after-fork reset never runs in them). A send never blocks: a full channel drops the notice.
    Why pickle: the notices carry the views, scopes and board recipes as objects; the socket pair has no
    name, so only the processes forked from the one that opened it can write to it.
    """

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for end in (self.reader, self.writer):
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER_BYTES)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER_BYTES)
        self.writer.setblocking(False)
        self.dropped = 0  # notices this process could not send (channel full or a value not picklable)

    def send(self, notice: tuple[Any, ...]) -> bool:
        """Send ``notice`` if there is room; False when it was dropped."""
        try:
            self.writer.send(pickle.dumps(notice, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, pickle.PicklingError, AttributeError, TypeError):
            self.dropped += 1
            return False
        return True

    def receive(self, timeout: float) -> tuple[Any, ...] | None:
        """The next notice, or None when none came within ``timeout`` seconds."""
        ready, _, _ = select.select([self.reader], [], [], timeout)
        if not ready:
            return None
        data = self.reader.recv(BUFFER_BYTES)
        try:
            notice = pickle.loads(data)
        except Exception:  # a notice from another release of the code: ignore it
            log.warning("an unreadable notice on the builder's channel was dropped")
            return None
        return notice if isinstance(notice, tuple) and notice else None

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


_attached: Channel | None = None


def attach(channel: Channel | None) -> None:
    """Make ``channel`` the one the services of this process (and of processes forked from it) report to;
    None: report to nobody (the builder itself, which keeps its refresher in process)."""
    global _attached
    _attached = channel


def attached() -> Channel | None:
    """The channel to the builder this process reports to, if any."""
    return _attached


class RemoteRefresher:
    """A serving process's stand-in for :class:`dashboard.service.refresher.Refresher`: the views its
    screens watch and the boards they were sent go to the builder, which keeps them fresh."""

    def __init__(self, channel: Channel, hot_seconds: float) -> None:
        self.channel = channel
        self.hot_seconds = hot_seconds
        self._sent: dict[tuple[str, ...], float] = {}  # what was last told, and when (time.monotonic())
        self._lock = threading.Lock()

    def _due(self, what: tuple[str, ...]) -> bool:
        """Whether ``what`` was not told in the last :data:`RESEND_SECONDS` (and note it as told now)."""
        now = time.monotonic()
        with self._lock:
            if now - self._sent.get(what, -RESEND_SECONDS) < RESEND_SECONDS:
                return False
            self._sent[what] = now
            if len(self._sent) > 4096:  # forget what was told long ago
                for stale in [k for k, t in self._sent.items() if now - t > self.hot_seconds]:
                    del self._sent[stale]
        return True

    def touch(self, identity: str, view: ViewState) -> None:
        """``view`` was just asked for: the builder keeps it fresh."""
        if self._due(("touch", identity)):
            self.channel.send(("touch", identity, view))

    def wake(self) -> None:
        """A request found a view due: the builder looks at its views now rather than within a second."""
        if self._due(("wake",)):
            self.channel.send(("wake",))

    def watch(self, kind: str, key: str, view: ViewState, scope: Scope, board_for: Any) -> None:
        """A screen was just sent the board ``kind|key``: the builder draws its next one ahead.

        ``board_for`` goes as a pickle: a module-level callable with plain values (callbacks/screens.py)."""
        if self._due(("watch", kind, key, view_key(view))):
            self.channel.send(("watch", kind, key, view, scope, board_for))

    def hot(self) -> list[str]:
        """The views this process told of lately (the builder holds the hot set itself)."""
        with self._lock:
            return sorted(k[1] for k in self._sent if k[0] == "touch")


Touch = Callable[[str, ViewState], None]
Watch = Callable[[str, str, ViewState, Scope, Any], None]


def serve_notices(
    channel: Channel,
    touch: Touch,
    wake: Callable[[], None],
    watch: Watch,
    *,
    keep_going: Callable[[], bool],
    poll_seconds: float = 1.0,
) -> int:
    """The builder's loop: hand each notice to the in-process refresher (``touch``, ``wake``) and board
    warmer (``watch``) until ``keep_going()`` says stop. Returns the number of notices handled."""
    handled = 0
    while keep_going():
        notice = channel.receive(poll_seconds)
        if notice is None:
            continue
        try:
            _handle(notice, touch, wake, watch)
        except Exception:  # one bad notice must not stop the builder
            log.exception("the builder could not handle a %s notice", notice[0])
            continue
        handled += 1
    return handled


def _handle(notice: tuple[Any, ...], touch: Touch, wake: Callable[[], None], watch: Watch) -> None:
    what = notice[0]
    if what == "touch":
        touch(notice[1], notice[2])
    elif what == "wake":
        wake()
    elif what == "watch":
        watch(*notice[1:6])
    else:
        log.warning("an unknown notice on the builder's channel: %r", what)
