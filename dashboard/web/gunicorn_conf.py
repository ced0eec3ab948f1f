"""gunicorn's settings module of ``make serve`` (``gunicorn -c python:dashboard.web.gunicorn_conf``):
the builder process beside the serving workers.

When gunicorn's master is ready, before it forks its workers, :func:`when_ready` opens the builder's
channel (:class:`dashboard.service.builder.Channel`) and forks the builder: a process that loads the same
app as the workers (``server.app.wsgi()``: ``dashboard.web.wsgi:server``, or the benchmark's instrumented
app) but serves no request. It keeps the views the workers' screens watch fresh and draws their next
boards ahead, at a lower priority (nice 10), so neither takes a serving process's GIL
(dashboard/service/builder.py says why). The workers inherit the channel and tell it what their screens
watch. A thread of the master starts the builder again if it dies; the builder ends with the master.

The command line's settings (workers, threads, bind, timeouts) stay on the command line: this module
only adds the hooks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from typing import Any

from dashboard.service import builder

log = logging.getLogger("dashboard.web.builder")

BUILDER_NAME = "dashboard-build"  # /proc/PID/comm of the builder (at most 15 characters)
NICENESS = 10  # below the serving workers: a request takes the CPU from a rebuild as soon as it comes
RESTART_SECONDS = 5.0  # a dead builder is started again after this long (not in a tight loop)
STOP_SECONDS = 5.0  # how long the master waits for the builder to stop when it exits, before killing it

_GUNICORN_SIGNALS = ("SIGHUP", "SIGQUIT", "SIGINT", "SIGTERM", "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2",
                     "SIGWINCH", "SIGCHLD")  # fmt: skip


class _Builder:
    """The master's handle on its builder process: the channel, the child's pid, whether it is stopping."""

    def __init__(self) -> None:
        self.channel: builder.Channel | None = None
        self.pid: int | None = None
        self.stopping = False


_builder = _Builder()


def when_ready(server: Any) -> None:
    """gunicorn's hook, in the master, before the first worker is forked: open the channel (the workers
    inherit it) and start the builder with its watching thread."""
    _builder.channel = builder.Channel()
    builder.attach(_builder.channel)
    _start(server)
    threading.Thread(target=_keep_running, args=(server,), name="builder-watch", daemon=True).start()


def on_exit(server: Any) -> None:
    """gunicorn's hook, in the master, as it exits: the builder goes with it, before the master does (so
    nothing of the deployment writes after ``make serve`` has ended)."""
    _builder.stopping = True
    pid = _builder.pid
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _ended(pid, STOP_SECONDS):
        server.log.warning("the builder (pid %s) did not stop within %s s: killed", pid, STOP_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _ended(pid, STOP_SECONDS)


def _ended(pid: int, seconds: float) -> bool:
    """Wait up to ``seconds`` for the child ``pid`` to exit (reaping it); True once it has."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # already reaped (gunicorn's master reaps any child that exits)
            return True
        if done == pid:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _start(server: Any) -> None:
    master = os.getpid()
    pid = os.fork()
    if pid == 0:  # the builder
        code = 1
        try:
            _run_builder(server, master)
            code = 0
        except BaseException:
            log.exception("the builder process failed")
        finally:
            os._exit(code)
    _builder.pid = pid
    server.log.info("Booting builder with pid: %s", pid)


def _keep_running(server: Any) -> None:
    """The master's thread: start the builder again if it died (gunicorn's master reaps it)."""
    while not _builder.stopping:
        time.sleep(1.0)
        pid = _builder.pid
        if pid is None or _alive(pid) or _builder.stopping:
            continue
        server.log.warning("the builder (pid %s) has exited; starting it again", pid)
        time.sleep(RESTART_SECONDS)
        if not _builder.stopping:
            _start(server)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_builder(server: Any, master: int) -> None:
    """The builder's life: the master's signal handlers and sockets dropped, the app loaded as a worker
    loads it but with its refresher in process, then the notices handled until the master is gone."""
    for name in _GUNICORN_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    for listener in getattr(server, "LISTENERS", []):
        with contextlib.suppress(OSError):
            listener.close()
    channel = _builder.channel
    assert channel is not None
    builder.attach(None)  # this process rebuilds and draws itself
    _name_process(BUILDER_NAME)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    flask_app = server.app.wsgi()  # the workers' app module, loaded here once

    def keep_going() -> bool:
        return not stop.is_set() and os.getppid() == master  # it ends with its master

    from dashboard.web.context import app_context

    with flask_app.app_context():
        context = app_context()
        refresher = context.service.refresher
        if refresher is None or isinstance(refresher, builder.RemoteRefresher):
            log.info("background refresh is off: the builder has nothing to do")
            while keep_going():
                stop.wait(1.0)
            return
        warmer = context.board_warmer
        context.boards.text_memory = 0  # it sends no whole answers: its boards' texts go to the cache only
    log.info("the builder keeps the screens' views fresh (pid %s)", os.getpid())
    builder.serve_notices(channel, refresher.touch, refresher.wake, warmer.watch, keep_going=keep_going)


def _name_process(name: str) -> None:
    """Name this process ``name`` in ps and /proc/PID/comm (Linux; elsewhere nothing): the benchmark and
    an operator tell the builder from the serving workers by it."""
    try:
        import ctypes

        pr_set_name = 15
        ctypes.CDLL(None).prctl(pr_set_name, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        log.debug("could not name the process %s", name)
