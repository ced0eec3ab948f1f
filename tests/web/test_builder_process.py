"""``make serve``'s builder process (dashboard/web/gunicorn_conf.py), under a real gunicorn: it runs
beside the workers at a lower priority, the rebuilds of the screens' views happen in it and not in the
workers, the master starts it again when it dies, and it ends with the master."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dashboard.perf.server import children
from dashboard.source.engines import init_db, make_writer_engine
from dashboard.source.schema import event
from tests.support import factories as f
from tests.support.browser import free_port, wait_http
from tests.support.servers import gunicorn_command, stop_process
from tests.support.services import need

ROOT = Path(__file__).resolve().parents[2]
BUILDER = "dashboard-build"


@dataclass
class Gunicorn:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def children(self) -> list[int]:
        return children(self.proc.pid)

    def builder(self) -> int | None:
        found = [pid for pid in self.children() if comm(pid) == BUILDER]
        return found[0] if found else None

    def computed_by(self) -> set[int]:
        """The processes that logged a snapshot computation."""
        text = self.log.read_text(errors="replace")
        return {
            int(pid) for pid in re.findall(r"\[(\d+)\] INFO dashboard\.service\.snapshots: computed", text)
        }


def comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def niceness(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19, counted after the name


def eventually(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def add_events(url: str, n: int) -> None:
    engine = make_writer_engine(url)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(event.insert(), [f.event_row(now - dt.timedelta(seconds=30 + i)) for i in range(n)])
    engine.dispose()


@pytest.fixture
def source(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    engine = init_db(url)
    with engine.begin() as conn:
        f.add_units(conn)
    engine.dispose()
    add_events(url, 5)
    return url


@pytest.fixture
def served(source: str, tmp_path: Path) -> Iterator[Gunicorn]:
    try:
        import gunicorn as _  # noqa: F401
    except ImportError:
        need(False, "gunicorn (the serve extra)")
    port = free_port()
    env = {**os.environ, "DASHBOARD_DATABASE_URL": source, "DASHBOARD_STATE_URL": f"sqlite:///{tmp_path / 's.db'}",
           "DASHBOARD_CACHE_DIR": str(tmp_path / "cache"), "DASHBOARD_CACHE_URL": "", "DASHBOARD_ROLLUPS": "off",
           "DASHBOARD_REFRESH_SECONDS": "2", "DASHBOARD_BRIEFING_SCHEDULER": "off"}  # fmt: skip
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            gunicorn_command(port, workers=2), env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        yield Gunicorn(f"http://127.0.0.1:{port}", proc, log)
    finally:
        stop_process(proc)


def ask(base: str) -> int:
    with urllib.request.urlopen(base + "/api/v1/snapshot", timeout=30) as resp:
        return int(resp.status)


def test_the_builder_rebuilds_the_watched_views_and_comes_back_when_killed(
    served: Gunicorn, source: str
) -> None:
    eventually(served.builder, 30, "the builder process")
    builder = served.builder()
    assert builder is not None and niceness(builder) == 10
    workers = [pid for pid in served.children() if pid != builder]
    assert len(workers) == 2
    assert ask(served.base) == 200  # the view's first build: on request, in a worker

    def rebuilt_by_builder() -> bool:
        ask(served.base)  # a screen watching the view
        add_events(source, 1)  # new rows: the view is due
        return builder in served.computed_by()

    eventually(rebuilt_by_builder, 45, f"a rebuild in the builder; log: {served.log.read_text()[-2000:]}")
    before = served.computed_by() & set(workers)
    for _ in range(8):  # more changes: the builder keeps the view fresh, the workers answer from the cache
        assert ask(served.base) == 200
        add_events(source, 1)
        time.sleep(0.5)
    assert served.computed_by() & set(workers) == before

    os.kill(builder, signal.SIGKILL)
    eventually(lambda: served.builder() not in (None, builder), 30, "a new builder after a kill")
    assert ask(served.base) == 200

    again = served.builder()
    assert again is not None
    served.proc.terminate()
    served.proc.wait(timeout=20)
    eventually(lambda: comm(again) != BUILDER, 10, "the builder ending with gunicorn's master")
