"""The benchmark's servers: the production app, instrumented, on a free port with its own run files.

:func:`wsgi_app` is what gunicorn loads (``dashboard.perf.server:wsgi_app()``); :class:`Server` starts it,
waits until every worker has booted, and stops the whole process group. ``Server(kind="dev")`` serves the
same app the way ``make run`` does instead (``python -m dashboard.perf.server PORT``: werkzeug's threaded
development server in one process, :func:`serve_dev`). Every snapshot build and
data-version read in a worker appends a line to the run's counter file (:func:`counting`,
:func:`read_counter`). Each run has an id (its cache key prefix) naming its files and Redis keys, which
are removed at the end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboard.web import gunicorn_conf
from dashboard.web.gunicorn_conf import BUILDER_NAME


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """True when something accepts connections on (host, port)."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def rss_mb(pid: int, field_name: str = "VmRSS") -> float | None:
    """A process's /proc status field in MB (resident memory by default); None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """The child process ids of ``pid``, forked from any of its threads (/proc lists them per thread: a
    builder started again by gunicorn's master is a child of its watching thread)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(found)


def process_name(pid: int) -> str | None:
    """/proc/PID/comm: a process's name (the builder names itself), None when it is gone."""
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return None


GUNICORN_CONFIG = "python:" + gunicorn_conf.__name__  # make serve's settings module (its builder process)


class OffsetClock:
    """The wall clock moved back by ``offset`` seconds: "now" runs on from the end of the reused data."""

    def __init__(self, offset: float) -> None:
        self.offset = dt.timedelta(seconds=offset)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) - self.offset


def _append_line(path: str | None, line: str) -> None:
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write with O_APPEND: lines of concurrent workers never mix
    finally:
        os.close(fd)


def counting(fn: Callable[..., Any], kind: str, path: str | None) -> Callable[..., Any]:
    """``fn`` that appends ``<time> <pid> <kind> <seconds> <view>`` to ``path`` on every call."""
    from dashboard.core.viewstate import view_key

    def wrapped(conn: Any, *args: Any) -> Any:
        started = time.perf_counter()
        result = fn(conn, *args)
        view = view_key(args[0]) if args else "-"
        _append_line(
            path, f"{time.time():.3f} {os.getpid()} {kind} {time.perf_counter() - started:.4f} {view}\n"
        )
        return result

    return wrapped


SCREEN_HEADER = "X-Bench-Screen"  # sent by the bench's screens: "first" (no board shown yet) or "tick"


def timing_screens(app: Any, path: str | None) -> Any:
    """``app`` (WSGI) appending ``<time> <pid> screen-<first|tick> <seconds> <cpu seconds>`` to ``path``
    for every update request the bench's screens send: the time the worker spent on it, from the
    request's arrival in the worker to the last byte handed to the server, and the CPU its thread used
    meanwhile. Beside the clients' figures these tell the server's share of a slow answer and, of that,
    the time spent waiting (for the GIL, a lock, the cache) rather than working."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        screen = environ.get("HTTP_" + SCREEN_HEADER.upper().replace("-", "_"))
        if not path or screen not in ("first", "tick"):
            return app(environ, start_response)
        started, cpu = time.perf_counter(), time.thread_time()
        answer = app(environ, start_response)
        try:
            return [b"".join(answer)]
        finally:
            if hasattr(answer, "close"):  # WSGI: the server closes what the app returned; here, we do
                answer.close()
            took, used = time.perf_counter() - started, time.thread_time() - cpu
            _append_line(path, f"{time.time():.3f} {os.getpid()} screen-{screen} {took:.5f} {used:.5f}\n")

    return wrapped


def read_counter(path: Path, since: float = 0.0, until: float = float("inf")) -> list[tuple[str, float, str]]:
    """(kind, seconds, view) of the counter lines written between ``since`` and ``until``."""
    out: list[tuple[str, float, str]] = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        parts = line.split(" ", 4)
        if len(parts) == 5 and since <= float(parts[0]) <= until:
            out.append((parts[2], float(parts[3]), parts[4]))
    return out


def run_id(prefix: str) -> str:
    """``xsbench:<id>:`` → ``<id>``: names this run's files, cache directory and Redis keys."""
    return prefix.strip(":").split(":")[-1]


def remove_run_files(data_dir: Path, prefix: str) -> None:
    """The counter file, state store and on-disk cache of one run (the gunicorn log stays)."""
    rid = run_id(prefix)
    for name in (f"counter-{rid}.log", f"state-{rid}.db", f"state-{rid}.db-wal", f"state-{rid}.db-shm"):
        (data_dir / name).unlink(missing_ok=True)
    for name in (f"cache-{rid}", f"cache-{rid}.locks"):
        shutil.rmtree(data_dir / name, ignore_errors=True)


def redis_up(url: str) -> bool:
    """True when the Redis of ``url`` accepts connections."""
    m = re.match(r"rediss?://([^:/]+)(?::(\d+))?", url)
    return m is not None and port_open(m.group(1), int(m.group(2) or 6379))


def drop_redis_prefix(redis_url: str, prefix: str) -> int:
    """Delete this run's keys (our own prefix only) from the shared Redis."""
    if not redis_url:
        return 0
    import redis

    client = redis.Redis.from_url(redis_url)
    n = 0
    try:
        for key in client.scan_iter(match=prefix + "*", count=500):
            n += client.delete(key)
    finally:
        client.close()
    return n


def wsgi_app() -> Any:
    """The gunicorn app of the benchmark (``dashboard.perf.server:wsgi_app()``): the real app, instrumented.

    The same :func:`dashboard.web.app.create_app` as ``dashboard.web.wsgi``, with a service whose builder and
    data-version reader append to ``BENCH_COUNTER_FILE``, this run's own cache key prefix (so a shared
    Redis is never mixed with other deployments) and the shifted clock of the run.
    """
    import logging

    from dashboard.core.runtime import tune_allocator, tune_collector, tune_thread_switching
    from dashboard.core.settings import load_settings
    from dashboard.service.factory import create_service
    from dashboard.web.app import create_app

    tune_allocator()  # as dashboard.web.wsgi and `serve` do before building the app (core/runtime.py)
    logging.getLogger("dashboard").setLevel(logging.WARNING)
    settings = load_settings()
    clock = OffsetClock(float(os.environ.get("BENCH_CLOCK_OFFSET", "0")))
    counter = os.environ.get("BENCH_COUNTER_FILE")
    service = create_service(
        settings,
        clock,
        key_prefix=os.environ.get("BENCH_KEY_PREFIX", "xsbench:"),
        rollup_url=os.environ.get("BENCH_ROLLUP_URL") or None,  # --http-rollups: the dataset's rollups
        instrument=lambda kind, fn: counting(fn, kind, counter),
        wait_seconds=600.0,
    )
    server = create_app(settings, clock=clock, service=service).server
    server.wsgi_app = timing_screens(server.wsgi_app, counter)  # type: ignore[method-assign]
    tune_thread_switching()  # as dashboard.web.wsgi and `serve` do (core/runtime.py)
    tune_collector()  # as dashboard.web.wsgi and `serve` do once the app is built (core/runtime.py)
    return server


def serve_dev(port: int) -> None:
    """Serve :func:`wsgi_app` as ``make run`` serves its app (``python -m dashboard serve``): werkzeug's
    development server, one process, a thread per request, the UTF-8 request handler."""
    from dashboard.web.servers import Utf8RequestHandler

    wsgi_app().run(
        host="127.0.0.1", port=port, debug=False, use_reloader=False, threaded=True,
        request_handler=Utf8RequestHandler,
    )  # fmt: skip


def stop_process_group(proc: subprocess.Popen[bytes], first: signal.Signals, grace: float) -> None:
    """Send ``first`` to ``proc``'s process group (it was started in a session of its own), wait up to
    ``grace`` seconds, then kill the group."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, first)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class Server:
    """gunicorn (``kind="gunicorn"``, ``make serve``) or the development server (``kind="dev"``, ``make
    run``) serving :func:`wsgi_app` on a free local port, in its own process group."""

    def __init__(
        self,
        url: str,
        data_dir: Path,
        *,
        workers: int,
        threads: int,
        refresh_seconds: int,
        offset: float,
        prefix: str,
        redis_url: str,
        rollup_url: str | None = None,
        kind: str = "gunicorn",
    ) -> None:
        """Start serving ``url``; ``offset`` shifts the clock back, ``rollup_url`` serves the fast path."""
        rid = run_id(prefix)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.counter = data_dir / f"counter-{rid}.log"
        self.log = data_dir / f"gunicorn-{rid}.log"
        self.state = data_dir / f"state-{rid}.db"
        env = {
            **os.environ,
            "DASHBOARD_DATABASE_URL": url,
            "DASHBOARD_STATE_URL": f"sqlite:///{self.state}",
            "DASHBOARD_CACHE_URL": redis_url,
            "DASHBOARD_CACHE_DIR": str(data_dir / f"cache-{rid}"),
            "DASHBOARD_REFRESH_SECONDS": str(refresh_seconds),
            "DASHBOARD_BACKGROUND_REFRESH": "on",  # the default, whatever the caller's environment says
            # Without --http-rollups the HTTP sections measure the direct queries (rollup_url: the fast path).
            "DASHBOARD_ROLLUPS": "off",
            "DASHBOARD_STATEMENT_TIMEOUT_MS": "600000",
            "BENCH_CLOCK_OFFSET": f"{offset:.3f}",
            "BENCH_COUNTER_FILE": str(self.counter),
            "BENCH_KEY_PREFIX": prefix,
            "DASH_DISABLE_VERSION_CHECK": "true",
        }
        if rollup_url:
            env["BENCH_ROLLUP_URL"] = rollup_url
        self.kind = kind
        if kind == "dev":
            cmd = [sys.executable, "-m", "dashboard.perf.server", str(self.port)]
            workers = 1
        else:
            cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
                   "--bind", f"127.0.0.1:{self.port}", "--timeout", "600", "--graceful-timeout", "5",
                   "--config", GUNICORN_CONFIG, "dashboard.perf.server:wsgi_app()"]  # fmt: skip
        self.logfile = open(self.log, "wb")  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self.logfile, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.workers = workers

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited ({self.proc.returncode}); see {self.log}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.base + "/api/v1/metrics", timeout=5) as r,
            ):
                if r.status == 200 and len(self.worker_pids()) >= self.workers:
                    break
            time.sleep(0.3)
        else:
            raise RuntimeError(f"{self.kind} server did not answer within {timeout:.0f} s; see {self.log}")
        # Every worker imports the app on boot: wait until each one's memory stops growing.
        previous: dict[int, float] = {}
        for _ in range(40):
            now = {pid: rss_mb(pid) or 0.0 for pid in self.worker_pids()}
            if (
                previous
                and now.keys() == previous.keys()
                and all(abs(now[p] - previous[p]) < 0.5 for p in now)
            ):
                break
            previous = now
            time.sleep(0.5)

    def worker_pids(self) -> list[int]:
        """The processes answering requests: gunicorn's workers, or the development server itself."""
        if self.kind == "dev":
            return [self.proc.pid]
        return [pid for pid in children(self.proc.pid) if process_name(pid) != BUILDER_NAME]

    def builder_pid(self) -> int | None:
        """gunicorn's builder process (``make serve``'s rebuilds and drawings), if it runs."""
        if self.kind == "dev":
            return None
        return next((pid for pid in children(self.proc.pid) if process_name(pid) == BUILDER_NAME), None)

    def process_pids(self) -> list[int]:
        """Every process of the server: the workers and gunicorn's builder (its rebuilds and drawings,
        the deployment's CPU and memory as much as the workers')."""
        return [self.proc.pid] if self.kind == "dev" else children(self.proc.pid)

    def stop(self) -> None:
        stop_process_group(self.proc, signal.SIGTERM, grace=15)
        self.logfile.close()


if __name__ == "__main__":  # Server(kind="dev"): python -m dashboard.perf.server PORT
    serve_dev(int(sys.argv[1]))
