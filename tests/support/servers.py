"""The dashboard and its live feed as subprocesses, as the hall runs them (for wall and fault tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from tests.support.browser import free_port, wait_http

REFRESH = 2  # DASHBOARD_REFRESH_SECONDS for every server here
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def rss_mb(self) -> float:
        """VmRSS of the server process, in MB (fails, with the log's last warnings, if it died)."""
        code = self.proc.poll()
        # -11 (SIGSEGV) was SQLAlchemy's SingletonThreadPool closing SQLite connections in use.
        assert code is None, f"the server exited with {code}: {server_warnings(self)}"
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")


def server_warnings(server: Server, last: int = 5) -> list[str]:
    """The server log's last warnings (why a snapshot failed), for assertion messages."""
    lines = server.log.read_text(errors="replace").splitlines()
    return [line[:300] for line in lines if "WARNING" in line or "Error" in line][-last:]


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextmanager
def serve(database_url: str, workdir: Path, cache: str = "cache", **env_extra: str) -> Iterator[Server]:
    """The dashboard in a subprocess on a free port, with its own state store and cache (``env_extra``:
    more DASHBOARD_* settings, e.g. a Redis cache URL or a statement timeout)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "DASHBOARD_DATABASE_URL": database_url,
        "DASHBOARD_STATE_URL": f"sqlite:///{workdir / 'state.db'}",
        "DASHBOARD_CACHE_DIR": str(workdir / cache),
        "DASHBOARD_CACHE_URL": "",
        "DASHBOARD_REFRESH_SECONDS": str(REFRESH),
        "DASHBOARD_BRIEFING_SCHEDULER": "off",  # a test server makes no briefings (even with some defined)
        **env_extra,
    }
    log = workdir / f"server-{cache}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/wall")  # not /health: it answers 503 while the source is down
        yield Server(base, proc, log)
    finally:
        stop_process(proc)


@contextmanager
def serve_gunicorn(database_url: str, workdir: Path, workers: int = 1, **env_extra: str) -> Iterator[Server]:
    """``make serve``'s gunicorn (its settings module with the builder process, the dashboard's worker) on
    a free port, with its own state store and on-disk cache (``env_extra``: more DASHBOARD_* settings)."""
    from tests.support.services import need

    try:
        import gunicorn as _  # noqa: F401
    except ImportError:
        need(False, "gunicorn (the serve extra)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "DASHBOARD_DATABASE_URL": database_url,
        "DASHBOARD_STATE_URL": f"sqlite:///{workdir / 'state.db'}",
        "DASHBOARD_CACHE_DIR": str(workdir / "cache"),
        "DASHBOARD_CACHE_URL": "",
        "DASHBOARD_BRIEFING_SCHEDULER": "off",
        **env_extra,
    }
    cmd = [sys.executable, "-m", "gunicorn", "-c", "python:dashboard.web.gunicorn_conf",
           "--workers", str(workers), "--threads", "2", "-k", "dashboard.web.gunicorn_worker.JsonErrorWorker",
           "--bind", f"127.0.0.1:{port}", "dashboard.web.wsgi:server"]  # fmt: skip
    log = workdir / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health")
        yield Server(base, proc, log)
    finally:
        stop_process(proc)


def via_proxy(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
