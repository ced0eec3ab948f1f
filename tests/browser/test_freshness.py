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


SCREENS = {"/wall": "#wall-fresh", "/": "#banner-fresh"}  # path → its freshness line


def turned_red(screens: dict[str, Any], deadline: float) -> dict[str, float]:
    """Watch every screen at once until each shows the stopped stream: path → the moment it did."""
    red: dict[str, float] = {}
    while len(red) < len(screens) and time.monotonic() < deadline:
        for path, d in screens.items():
            if path not in red and "stopped" in freshness(d, SCREENS[path])[0]:
                red[path] = time.monotonic()
        time.sleep(0.25)
    return red


def test_a_stopped_stream_turns_red_within_two_refreshes(fresh_district: str, tmp_path: Path) -> None:
    """The wall and a staff page, each in its own browser, watch one server while the stream stops (one
    stop for both: the wait for the threshold is the test's length)."""
    need_browser()
    with (
        Heartbeats(fresh_district) as beats,
        serve(fresh_district, tmp_path, DASHBOARD_STREAM_CADENCE=CADENCE) as server,
        chrome(1920, 1080) as wall,
        chrome(1920, 1080) as page,
    ):
        screens = {"/wall": wall, "/": page}
        for path, d in screens.items():
            d.get(server.base + path)
        for path, d in screens.items():
            wait_for(
                lambda d=d: d.find_elements("css selector", ".kpi .kpi-value"), 60, f"KPI tiles on {path}"
            )
        time.sleep(2 * REFRESH)
        for path, d in screens.items():
            assert freshness(d, SCREENS[path]) == ("", ""), (
                f"a live feed shows no freshness warning on {path}"
            )

        beats.beating.clear()
        time.sleep(1.5)  # a beat already under way lands
        stopped_at = beats.last_beat + STOPPED_AFTER_S
        red = turned_red(screens, time.monotonic() + STOPPED_AFTER_S + 2 * REFRESH + 30)
        for path, d in screens.items():
            if path not in red:
                health = requests.get(server.base + "/health", timeout=10).json()
                shown = freshness(d, SCREENS[path])
                raise AssertionError(f"timed out: red on {path}; shown {shown}; health {health}")
            delay = red[path] - stopped_at
            print(f"[freshness] {path}: red {delay:.1f} s after the stream crossed its stopped threshold")
            assert delay <= 2 * REFRESH + SLACK_S, f"{path}: red only {delay:.1f} s after the threshold"
            text = freshness(d, SCREENS[path])[1]
            assert "视频监控数据已停更" in text and "告警" not in text, (path, text)

        beats.beating.set()
        for path, d in screens.items():
            wait_for(
                lambda d=d, css=SCREENS[path]: freshness(d, css) == ("", ""),
                2 * REFRESH + 15,
                f"the warning clears on {path}",
            )
            assert_clean(d)
