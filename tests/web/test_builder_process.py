"""``make serve``'s builder process (dashboard/web/gunicorn_conf.py), under a real gunicorn: it runs
beside the workers at a lower priority, the rebuilds of the screens' views happen in it and not in the
workers, the master starts it again when it dies, and it ends with the master."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.perf.server import children, process_name
from dashboard.source.engines import init_db, make_writer_engine
from dashboard.source.schema import event
from dashboard.web.gunicorn_conf import BUILDER_NAME as BUILDER
from tests.support import factories as f
from tests.support.browser import wait_for
from tests.support.servers import Server, serve_gunicorn


def builder_of(server: Server) -> int | None:
    return next((pid for pid in children(server.proc.pid) if process_name(pid) == BUILDER), None)


def computed_by(server: Server) -> set[int]:
    """The processes that logged a snapshot computation."""
    text = server.log.read_text(errors="replace")
    return {int(pid) for pid in re.findall(r"\[(\d+)\] INFO dashboard\.service\.snapshots: computed", text)}


def niceness(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19, counted after the name


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
def served(source: str, tmp_path: Path) -> Iterator[Server]:
    with serve_gunicorn(
        source, tmp_path / "server", workers=2, DASHBOARD_ROLLUPS="off", DASHBOARD_REFRESH_SECONDS="2"
    ) as server:
        yield server


def ask(base: str) -> int:
    with urllib.request.urlopen(base + "/api/v1/snapshot", timeout=30) as resp:
        return int(resp.status)


def test_the_builder_rebuilds_the_watched_views_and_comes_back_when_killed(
    served: Server, source: str
) -> None:
    wait_for(lambda: builder_of(served), 30, "the builder process")
    builder = builder_of(served)
    assert builder is not None and niceness(builder) == 10
    workers = [pid for pid in children(served.proc.pid) if pid != builder]
    assert len(workers) == 2
    assert ask(served.base) == 200  # the view's first build: on request, in a worker

    def rebuilt_by_builder() -> bool:
        ask(served.base)  # a screen watching the view
        add_events(source, 1)  # new rows: the view is due
        return builder in computed_by(served)

    # 90 s: the builder runs at nice 10, and on a machine loaded to 5 (a 10 M rollup build beside the
    # suite) it had not had its turn within 45 s.
    wait_for(rebuilt_by_builder, 90, f"a rebuild in the builder; log: {served.log.read_text()[-2000:]}")
    before = computed_by(served) & set(workers)
    for _ in range(8):  # more changes: the builder keeps the view fresh, the workers answer from the cache
        assert ask(served.base) == 200
        add_events(source, 1)
        time.sleep(0.5)
    assert computed_by(served) & set(workers) == before

    os.kill(builder, signal.SIGKILL)
    wait_for(lambda: builder_of(served) not in (None, builder), 30, "a new builder after a kill")
    assert ask(served.base) == 200

    again = builder_of(served)
    assert again is not None
    served.proc.terminate()
    served.proc.wait(timeout=20)
    wait_for(lambda: process_name(again) != BUILDER, 10, "the builder ending with gunicorn's master")
