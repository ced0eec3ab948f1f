"""A stopped stream turns red on the wall and the staff pages within two refreshes, and clears again.

The video platform is played by the test: it writes every camera's heartbeat once a second, then stops.
With a video cadence of 3 s the stream is late after 6 s and stopped after 12 s without a beat; the
screens must say so in red, in words, within two refreshes of that moment, and go back to nothing when
the beats resume. The reports and the handling stay live (their cadences are long here), so the alerts
stay confirmed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import update

from tests.support.browser import assert_clean, chrome, need_browser, wait_for
from tests.support.servers import REFRESH, serve

pytestmark = pytest.mark.browser

VIDEO_CADENCE_S = 3.0
STOPPED_AFTER_S = 4 * VIDEO_CADENCE_S  # dashboard.core.freshness.BEATS_STOPPED beats
CADENCE = f"events=600,actions=600,patrols=600,video={VIDEO_CADENCE_S / 60}"
SLACK_S = 3.0  # two shared cores run the server, Chromium and the writer


class Heartbeats:
    """Every camera's heartbeat, once a second, until paused."""

    def __init__(self, url: str) -> None:
        from dashboard.source.engines import make_writer_engine

        self.engine = make_writer_engine(url)
        self.beating = threading.Event()
        self.done = threading.Event()
        self.last_beat = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from dashboard.source import schema

        while not self.done.is_set():
            if self.beating.is_set():
                with self.engine.begin() as conn:
                    conn.execute(update(schema.video_point).values(last_heartbeat_at=dt.datetime.now(dt.UTC)))
                self.last_beat = time.monotonic()
            self.done.wait(1.0)

    def __enter__(self) -> Heartbeats:
        self.beating.set()
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        self.thread.join(10)
        self.engine.dispose()


@pytest.fixture(scope="module")
def fresh_district(tmp_path_factory: pytest.TempPathFactory) -> str:
    from dashboard.sample.seed import seed_database

    url = f"sqlite:///{tmp_path_factory.mktemp('fresh') / 'district.db'}"
    seed_database(url, days=14, scale=0.1, patrol_days=1, progress=False)
    return url


def freshness(driver: Any, css: str) -> tuple[str, str]:
    """(class, text) of the freshness line, ('', '') while it is hidden."""
    element = driver.find_element("css selector", css)
    if not element.is_displayed():
        return "", ""
    return str(element.get_attribute("class")), str(element.text)


@pytest.mark.parametrize(("path", "css"), [("/wall", "#wall-fresh"), ("/", "#banner-fresh")])
def test_a_stopped_stream_turns_red_within_two_refreshes(
    fresh_district: str, tmp_path: Path, path: str, css: str
) -> None:
    need_browser()
    with (
        Heartbeats(fresh_district) as beats,
        serve(fresh_district, tmp_path, DASHBOARD_STREAM_CADENCE=CADENCE) as server,
        chrome(1920, 1080) as d,
    ):
        d.get(server.base + path)
        wait_for(lambda: d.find_elements("css selector", ".kpi .kpi-value"), 60, "KPI tiles")
        time.sleep(2 * REFRESH)
        assert freshness(d, css) == ("", ""), "a live feed shows no freshness warning"

        beats.beating.clear()
        time.sleep(1.5)  # a beat already under way lands
        stopped_at = beats.last_beat + STOPPED_AFTER_S
        try:
            wait_for(lambda: "stopped" in freshness(d, css)[0], STOPPED_AFTER_S + 2 * REFRESH + 30, "red")
        except AssertionError as exc:
            health = requests.get(server.base + "/health", timeout=10).json()
            raise AssertionError(f"{exc}; shown {freshness(d, css)}; health {health}") from exc
        delay = time.monotonic() - stopped_at
        print(f"[freshness] {path}: red {delay:.1f} s after the stream crossed its stopped threshold")
        assert delay <= 2 * REFRESH + SLACK_S, f"red only {delay:.1f} s after the threshold"
        text = freshness(d, css)[1]
        assert "视频监控数据已停更" in text and "告警" not in text, text

        beats.beating.set()
        wait_for(lambda: freshness(d, css) == ("", ""), 2 * REFRESH + 15, "the warning clears")
        assert_clean(d)
