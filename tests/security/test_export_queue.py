"""Hole 7: the export button ignored the export cap.

``/export/*`` held two exports at once per server process, but the header's export button built its
file in the callback with no cap at all: 12 parallel clicks ran 10 exports at once (the per-client
rate limit was the only bound). Now the button, ``/export/*`` and ``python -m dashboard export`` take a
slot of one queue shared by every process (Redis, or lock files on one machine). When every slot is
taken, ``/export/*`` answers 429 with ``Retry-After``, the button says so beside itself (Dash's front end
would show nothing for a 429) and builds nothing, and the command line waits for a slot and says so.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dashboard.export.queue import EXPORT_SLOTS, ExportQueue
from dashboard.web.context import app_context
from tests.support.callback_bodies import DASH, QUIET_DATATABLE, answer_of, export_click_body, make_app
from tests.support.services import need_redis

pytestmark = QUIET_DATATABLE

CLICKS = 12


def turned_away(answer: Any) -> bool:
    """A click answered without a file and with the queue's "try again" beside the button."""
    if answer.status_code != 200:
        return False
    status = str(answer_of(answer, "export-status", "children"))
    made_a_file = "export-download" in answer.get_json()["response"]
    return "重试" in status and "try again" in status and not made_a_file


class SlowExport:
    """Stands in for the renderer: takes a while and remembers how many ran at once."""

    def __init__(self, seconds: float = 0.6) -> None:
        self.seconds = seconds
        self.active = 0
        self.most = 0
        self.done = 0
        self.lock = threading.Lock()

    def __call__(self, *_args: Any, **_kwargs: Any) -> tuple[bytes, str, str]:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(self.seconds)
        with self.lock:
            self.active -= 1
            self.done += 1
        return b"PK slow deck", "deck.pptx", "application/octet-stream"


@pytest.fixture
def app(district: str, tmp_path: Path) -> Any:
    return make_app(district, tmp_path)


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> SlowExport:
    fake = SlowExport()
    monkeypatch.setattr("dashboard.web.context.export_view", fake)  # the button and /export/*
    return fake


def test_twelve_parallel_clicks_run_at_most_the_cap_at_once(app: Any, slow: SlowExport) -> None:
    gate = threading.Barrier(CLICKS)
    answers: list[Any] = []

    def click(n: int) -> None:
        client = app.server.test_client()
        gate.wait()
        answers.append(client.post(DASH, json=export_click_body(fmt="pptx", clicks=n + 1)))

    threads = [threading.Thread(target=click, args=(n,)) for n in range(CLICKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == CLICKS
    assert 1 <= slow.most <= EXPORT_SLOTS, f"{slow.most} exports ran at once"
    busy = [a for a in answers if turned_away(a)]
    # the per-client limit (10 a minute) when clicks race it
    limited = [a for a in answers if a.status_code == 429]
    made = [a for a in answers if a.status_code == 200 and not turned_away(a)]
    assert len(made) == slow.done and len(made) + len(busy) + len(limited) == CLICKS
    for answer in limited:
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.get_json()["error"] == "too many exports, try again later"
    assert busy, "the queue turned clicks away with a message on the page"


def test_the_button_and_http_share_the_slots(app: Any, slow: SlowExport) -> None:
    client = app.server.test_client()
    queue = ExportQueue(app_context(app.server).service.cache)
    with queue.slot(), queue.slot():  # another process (or the command line) holds every slot
        assert turned_away(client.post(DASH, json=export_click_body(fmt="pptx")))
        http = client.get("/export/deck.pptx?pages=rankings")
        assert http.status_code == 429 and http.headers["Retry-After"]
    assert client.post(DASH, json=export_click_body(fmt="pptx", clicks=2)).status_code == 200
    assert client.get("/export/deck.pptx?pages=rankings").status_code == 200
    assert slow.done == 2


HOLDER = """
import sys, time
from dashboard.core.settings import load_settings
from dashboard.export.queue import EXPORT_SLOTS, ExportQueue
from dashboard.service.cache import init_cache
from dashboard.service.factory import key_prefix_for

settings = load_settings(env={}, CACHE_DIR=sys.argv[1], CACHE_URL=sys.argv[2], DATABASE_URL=sys.argv[3])
queue = ExportQueue(init_cache(settings, key_prefix=key_prefix_for(settings)))  # the deployment's cache
slots = [queue.slot() for _ in range(EXPORT_SLOTS)]
for slot in slots:
    slot.__enter__()
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.mark.parametrize("backend", ["files", "redis"])
def test_another_process_holding_the_slots_turns_exports_away(
    district: str, tmp_path: Path, slow: SlowExport, backend: str
) -> None:
    cache_url = need_redis() if backend == "redis" else ""
    app = make_app(district, tmp_path, CACHE_URL=cache_url)
    cache_dir = app_context(app.server).settings.CACHE_DIR
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, cache_dir, cache_url, district],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        client = app.server.test_client()
        assert client.get("/export/deck.pptx?pages=rankings").status_code == 429
        assert turned_away(client.post(DASH, json=export_click_body(fmt="png")))
    finally:
        holder.communicate("\n", timeout=30)  # the holder lets go and exits
    assert client.get("/export/deck.pptx?pages=rankings").status_code == 200


def test_the_command_line_waits_for_a_slot_and_says_so(
    district: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dashboard import cli
    from dashboard.core.settings import load_settings
    from dashboard.service.cache import init_cache

    monkeypatch.setenv("DASHBOARD_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("DASHBOARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DASHBOARD_BACKGROUND_REFRESH", "off")
    monkeypatch.setattr("dashboard.export.exporter.export_view", SlowExport(0.1))
    queue = ExportQueue(init_cache(load_settings(env={}, CACHE_DIR=str(tmp_path / "cache"))))
    result: list[int] = []
    out = tmp_path / "deck.pptx"
    argv = ["export", "--out", str(out), "--pages", "rankings", "--database-url", district]
    with queue.slot(), queue.slot():
        runner = threading.Thread(target=lambda: result.append(cli.main(argv)))
        runner.start()
        time.sleep(2.5)
        assert runner.is_alive() and not out.exists()  # waiting, not failing
    runner.join(60)
    assert result == [0] and out.read_bytes() == b"PK slow deck"
    err = capsys.readouterr().err
    assert "waiting for an export slot" in err and "got an export slot" in err
