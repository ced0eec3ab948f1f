"""The wall (/wall) in headless Chromium: a database outage, a long run with the live feed, rotation.

* Outage: the server reads PostgreSQL through :class:`tests.tcpproxy.TcpProxy`; cutting the proxy is the
  outage (the database server itself is never touched). The wall must keep its figures under a banner
  within one refresh, keep them across a reload, and recover by itself without a reload.
* Long run: the live feed writes to a SQLite district while the wall refreshes every 2 s; the server's
  RSS and the page's JS heap must stay flat. ``WALL_SOAK_CYCLES`` (default 20) sets the length. The
  long run of days is ``make soak``'s wall section (:mod:`dashboard.perf.wallsoak`, 5,000 cycles of 1 s).
* Rotation and URL parameters: only the pages named rotate; scope and language come from the URL; a
  malformed URL falls back to the default view.

Measured figures are printed (``pytest -s``) and, when ``WALL_FIGURES`` names a file, appended to it as
JSON lines.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.support.browser import GUALI, chrome, need_browser, wait_for
from tests.support.servers import REFRESH, Server, serve, server_warnings, stop_process, via_proxy
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.browser

# Slack on top of one refresh: a source failure is remembered for 5 s by the service (so recovery can
# take that long), and two shared cores run the server, Chromium and the feed at once.
MARGIN = 10
SOAK_CYCLES = int(os.environ.get("WALL_SOAK_CYCLES", "20"))
FEED_REPORTS_PER_HOUR = 1200  # ~13 new reports in the 40 s of a default long run
RSS_GROWTH_MB = 60  # server RSS, cycle 5 → last cycle
HEAP_GROWTH_MB = 30  # page JS heap after a forced GC, cycle 5 → last cycle
PG_PORT = 5432


def report(name: str, value: Any) -> None:
    """Print a measured figure, and append it to $WALL_FIGURES (JSON lines) when that is set."""
    print(f"[wall] {name}: {value}")
    target = os.environ.get("WALL_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps({"name": name, "value": value}, ensure_ascii=False) + "\n")


# --- server, feed and browser ------------------------------------------------------------------------


@contextmanager
def feed(database_url: str, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The live feed (``python -m dashboard simulate``): a tick a second, about FEED_REPORTS_PER_HOUR.

    The seed's arrival model follows the clock (at 1 a.m. on a Sunday a twentieth of the weekday
    peak), so the multiplier is chosen for the hour the test runs in: the board must move whatever
    the time of day CI happens to run at.
    """
    from dashboard.sample.arrivals import hourly_rate

    rate = FEED_REPORTS_PER_HOUR / hourly_rate(int(time.time()) // 3600 * 3600, 1.0)
    cmd = [sys.executable, "-m", "dashboard", "simulate", "--database-url", database_url]
    with open(workdir / "feed.log", "wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--tick", "1", "--rate", f"{rate:.2f}", "--quiet"], stdout=out, stderr=out
        )
    try:
        yield proc
    finally:
        stop_process(proc)


@dataclass
class PageLog:
    """Console errors and network responses, drained often so Chromium's log buffers never drop any."""

    severe: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[tuple[int, str]] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)

    def drain(self, driver: Any) -> None:
        self.severe += [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message.get("method") == "Network.responseReceived":
                response = params["response"]
                self.statuses.append((int(response["status"]), response["url"]))
            elif message.get("method") == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if url.startswith(("http://", "https://", "ws://", "wss://")):
                    self.hosts.add(urlsplit(url).hostname or "")

    def assert_clean(self, driver: Any) -> None:
        """No console errors, no 5xx (Dash callbacks included), nothing but 127.0.0.1, no traceback."""
        self.drain(driver)
        assert not self.severe, json.dumps(self.severe, ensure_ascii=False)
        failed = [(s, u) for s, u in self.statuses if s >= 500]
        assert not failed, failed
        assert any("_dash-update-component" in u for _, u in self.statuses)
        assert self.hosts <= {"127.0.0.1"}, self.hosts
        assert_no_traceback(driver)


def assert_no_traceback(driver: Any) -> None:
    body = driver.find_element("css selector", "body").text
    assert "Traceback" not in body and "Error:" not in body, body[:500]


# --- what the wall shows ----------------------------------------------------------------------------


def kpis(driver: Any) -> dict[str, str]:
    """KPI tile id → the value text, for the tiles on screen."""
    script = """
        return Array.from(document.querySelectorAll('#wall-kpis .kpi')).map(
            t => [t.id, (t.querySelector('.kpi-value') || {}).textContent || '']);
    """
    return {tile: value.strip() for tile, value in driver.execute_script(script)}


def wait_kpis(driver: Any, timeout: float = 60) -> dict[str, str]:
    def ready() -> dict[str, str] | None:
        found = kpis(driver)
        return found if len(found) >= 5 and all(found.values()) else None

    return wait_for(ready, timeout=timeout, message="KPI tiles")  # type: ignore[return-value]


def banner(driver: Any) -> str:
    """The stale banner's text when it is shown, else ''."""
    element = driver.find_element("css selector", "#wall-banner")
    return str(element.text) if element.is_displayed() else ""


def timed(condition: Callable[[], object], timeout: float, message: str) -> float:
    """Seconds until ``condition`` holds (fails after ``timeout``)."""
    started = time.monotonic()
    wait_for(condition, timeout=timeout, message=message)
    return round(time.monotonic() - started, 2)


def active_page(driver: Any) -> str:
    return str(driver.execute_script("return document.querySelector('.wall-page.active').dataset.page"))


# --- a. outage on PostgreSQL --------------------------------------------------------------------------


def add_reports(url: str, town: str, n: int) -> None:
    """``n`` reports in ``town`` over the last minutes, written straight to the source (not the proxy)."""
    from dashboard.source import schema
    from dashboard.source.engines import make_writer_engine
    from tests.support.factories import event_row

    engine = make_writer_engine(url)
    now = dt.datetime.now(dt.UTC)
    try:
        with engine.begin() as conn:
            grid = conn.execute(
                select(schema.grid.c.grid_code).where(schema.grid.c.town_code == town).limit(1)
            ).scalar_one()
            rows = [event_row(now - dt.timedelta(seconds=20 + 5 * i), grid=grid) for i in range(n)]
            conn.execute(schema.event.insert(), rows)
    finally:
        engine.dispose()


def test_outage_keeps_the_last_good_figures_and_recovers(pg_district: str, tmp_path: Path) -> None:
    need_browser()
    with (
        TcpProxy("127.0.0.1", PG_PORT) as proxy,
        serve(via_proxy(pg_district, proxy.port), tmp_path / "server") as server,
        chrome(1920, 1080) as d,
    ):
        log = PageLog()
        d.get(server.base + "/wall")
        before = wait_kpis(d)
        assert not banner(d)

        proxy.cut()
        delay = timed(lambda: banner(d), REFRESH + MARGIN, "stale banner")
        assert "数据源暂不可用" in banner(d) and "前的数据" in banner(d)
        assert kpis(d) == before, "the last good figures stay on screen"
        report("banner delay after the cut (s)", delay)

        add_reports(pg_district, GUALI, 20)  # the feed goes on writing while the wall cannot see it
        d.refresh()
        wait_for(lambda: banner(d) and kpis(d) == before, timeout=60, message="last good after reload")
        log.drain(d)
        assert_fresh_wall_waits(server.base + "/wall?period=week")
        assert_other_view_waits(d, server)
        d.get(server.base + "/wall")
        wait_for(lambda: banner(d) and kpis(d) == before, timeout=60, message="last good again")
        log.drain(d)

        d.execute_script("window.__sameDocument = true")
        proxy.restore()
        recovery = timed(
            lambda: not banner(d) and kpis(d)["kpi-reported"] != before["kpi-reported"],
            REFRESH + MARGIN,
            "recovered with the new reports, without a reload",
        )
        report("recovery after restore (s)", recovery)
        assert d.execute_script("return window.__sameDocument") is True
        alerts = wait_for(lambda: d.find_element("css selector", "#wall-alerts").text, 10, "alert")
        assert "瓜沥镇 近1小时上报" in str(alerts)
        log.assert_clean(d)


def test_a_server_restarted_during_an_outage_serves_the_last_good_from_its_state_store(
    pg_district: str, tmp_path: Path
) -> None:
    """Restart with an empty cache while the source is down: figures from the state store, no error.

    Nothing is cached in the new process (not even the map geometry), so every panel that would need
    the source must make do without it.
    """
    need_browser()
    with TcpProxy("127.0.0.1", PG_PORT) as proxy, chrome(1920, 1080) as d:
        log = PageLog()
        url = via_proxy(pg_district, proxy.port)
        with serve(url, tmp_path) as server:
            d.get(server.base + "/wall")
            before = wait_kpis(d)
            log.drain(d)
            d.get("about:blank")  # so no poll hits the stopped server
        proxy.cut()
        with serve(url, tmp_path, cache="cache-after-restart") as server:
            d.get(server.base + "/wall")
            wait_for(lambda: banner(d) and kpis(d) == before, timeout=60, message="last good after restart")
            log.assert_clean(d)


def test_a_town_wall_started_during_an_outage_waits_without_errors(pg_district: str, tmp_path: Path) -> None:
    need_browser()
    with TcpProxy("127.0.0.1", PG_PORT) as proxy, chrome(1920, 1080) as d:
        proxy.cut()
        with serve(via_proxy(pg_district, proxy.port), tmp_path) as server:
            log = PageLog()
            d.get(server.base + "/wall?town=瓜沥镇")
            wait_for(
                lambda: d.find_element("css selector", "#wall-waiting").is_displayed(),
                timeout=30,
                message="waiting screen",
            )
            time.sleep(REFRESH)
            log.assert_clean(d)


def assert_fresh_wall_waits(url: str) -> None:
    """A wall that has never seen data (new browser, view never computed) waits: no error, no blank."""
    with chrome(1920, 1080) as fresh:
        log = PageLog()
        fresh.get(url)
        waiting = wait_for(
            lambda: [w for w in fresh.find_elements("css selector", "#wall-waiting") if w.is_displayed()],
            timeout=30,
            message="waiting screen",
        )[0]  # type: ignore[index]
        assert "正在连接数据源" in waiting.text
        assert not kpis(fresh)
        time.sleep(REFRESH + 1)  # a few more failing refreshes change nothing
        assert waiting.is_displayed()
        log.assert_clean(fresh)


def assert_other_view_waits(driver: Any, server: Server) -> None:
    """The browser's local copy belongs to one wall URL: another view must not show it as its own."""
    assert server.proc.poll() is None, (
        f"the server exited with {server.proc.poll()}: {server_warnings(server)}"
    )
    driver.get(server.base + "/wall?eastern=exclude&period=quarter")
    try:
        wait_for(
            lambda: driver.find_element("css selector", "#wall-waiting").is_displayed(),
            timeout=30,
            message="waiting screen for a view never seen",
        )
    except AssertionError as exc:  # say what the wall showed instead, and what the server last logged
        shown = {"url": driver.current_url, "kpis": kpis(driver), "banner": banner(driver)}
        raise AssertionError(
            f"{exc}; wall: {shown}; server exit {server.proc.poll()}: {server_warnings(server)}"
        ) from exc
    assert not kpis(driver)


# --- b. long run with the live feed, c. rotation and URL parameters -------------------------------------


@pytest.fixture(scope="module")
def live_district(tmp_path_factory: pytest.TempPathFactory) -> str:
    from dashboard.sample.seed import seed_database

    url = f"sqlite:///{tmp_path_factory.mktemp('wall') / 'district.db'}"
    seed_database(url, days=14, scale=0.2, patrol_days=1, progress=False)
    return url


@pytest.fixture(scope="module")
def live_server(live_district: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The wall's server with the live feed and a 2 s refresh: the data moves under every cycle."""
    workdir = tmp_path_factory.mktemp("wall-server")
    with feed(live_district, workdir), serve(live_district, workdir) as server:
        yield server


@pytest.fixture(scope="module")
def layout_server(live_district: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The wall's server with the live feed at a 6 s refresh, for the layout checks: the data still moves
    under every size they measure (each takes ~20 s), and a figure is still redrawn at a size it was not
    first drawn at. At the 2 s refresh of ``live_server`` Chromium redrew every figure of the wall's
    pages three times as often, on a 2-core machine whose suite is bound by its CPU."""
    workdir = tmp_path_factory.mktemp("layout-server")
    with feed(live_district, workdir), serve(live_district, workdir, DASHBOARD_REFRESH_SECONDS="6") as server:
        yield server


@pytest.fixture(scope="module")
def still_district(live_district: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the seeded district that no feed writes to. ``live_server``'s feed writes into
    ``live_district`` from the first test that asks for it to the module's end, so a server reading that
    file was still only until then, and in the module's order the mend test and the banner's come after
    it."""
    import sqlite3

    copy = tmp_path_factory.mktemp("still") / "district.db"
    source, target = sqlite3.connect(live_district.removeprefix("sqlite:///")), sqlite3.connect(copy)
    try:
        source.backup(target)  # a consistent copy, even with a feed writing
    finally:
        source.close()
        target.close()
    return f"sqlite:///{copy}"


@pytest.fixture(scope="module")
def still_server(still_district: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The wall's server without the feed, at the product's refresh (10 s), for what does not move with
    the data: rotation, URL parameters, a one-town wall, whole rows under the banner. A wall tab
    beside the feed at a 2 s refresh kept most of a core busy (Chromium redrawing 0.7 of one, the server
    0.2; 0.09 without the feed), on a 2-core machine whose suite is bound by its CPU. The fit test at every
    size and the phone stay beside the feed, one server on their worker: the data moving under them is the
    harder case. (A still wall mends a lost fit at its next tick: the test of that is on this server.)

    Its streams' cadence is four hours: without a feed they would be judged stopped minutes after the
    module's seed (video's cadence is 5 minutes), and the red line under the clock then takes a row's height
    from every panel in the middle of whichever test runs at that moment (CI saw a one-town ranking's row
    and a mended row hidden by it). The freshness line has tests of its own (test_freshness.py)."""
    workdir = tmp_path_factory.mktemp("still-server")
    cadence = ",".join(f"{stream}=240" for stream in ("events", "actions", "patrols", "video"))
    with serve(
        still_district, workdir, DASHBOARD_REFRESH_SECONDS="10", DASHBOARD_STREAM_CADENCE=cadence
    ) as server:
        yield server


def js_heap_mb(driver: Any, *, collect: bool = False) -> float:
    """JSHeapUsedSize in MB (CDP, so exact); after a forced garbage collection when ``collect``."""
    if collect:
        driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    metrics = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize")) / 2**20


def test_rotation_visits_only_the_pages_named(still_server: Server) -> None:
    with chrome(1920, 1080) as d:
        log = PageLog()
        d.get(still_server.base + "/wall?pages=backlog,patrol&rotate=5")
        wait_for(lambda: d.find_elements("css selector", ".wall-page.active"), message="wall rendered")
        seen: list[str] = []
        # Two rotations take 10 s; a loaded CI machine may sample slowly, so watch up to 60 s.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and set(seen) != {"backlog", "patrol"}:
            seen.append(active_page(d))
            assert len(d.find_elements("css selector", ".wall-page.active")) == 1
            assert set(seen) <= {"backlog", "patrol"}, seen  # never a page the URL did not name
            time.sleep(0.5)
        assert set(seen) == {"backlog", "patrol"}, seen  # which comes first depends on load time
        log.assert_clean(d)


TICKER_PROBE = """
const track = document.querySelector('.wall-ticker-track'), box = document.querySelector('.wall-ticker');
const item = track && track.querySelector('.wall-ticker-item');
if (!track || !box || !item) return null;
const b = box.getBoundingClientRect(), i = item.getBoundingClientRect();
return {reduce: matchMedia('(prefers-reduced-motion: reduce)').matches,
        animation: getComputedStyle(track).animationName, x: Math.round(i.left),
        first_item_shown: i.left >= b.left - 1 && i.left < b.right};
"""


def test_a_screen_that_reduces_motion_gets_a_still_wall(still_server: Server) -> None:
    """The hall's wall scrolls its ticker; a screen set to reduce motion (and every browser test but this
    one, for their CPU) sees it stand with its first item shown, and no pulse."""
    for motion in (True, False):
        with chrome(1920, 1080, motion=motion) as d:
            d.get(still_server.base + "/wall")
            wait_kpis(d, timeout=120)
            first = wait_for(lambda: d.execute_script(TICKER_PROBE), timeout=60, message="ticker filled")
            time.sleep(1.5)
            later = d.execute_script(TICKER_PROBE)
            assert isinstance(first, dict) and later, (first, later)
            assert first["reduce"] is not motion, first
            if motion:
                assert first["animation"] == "ticker" and later["x"] < first["x"], (first, later)
            else:
                assert first["animation"] == "none" and first["first_item_shown"], first
                assert later["x"] == first["x"], (first, later)
                pulse = d.execute_script(
                    "return Array.from(document.querySelectorAll('.wall-alert'))"
                    ".map(a => getComputedStyle(a).animationName).filter(n => n !== 'none')"
                )
                assert pulse == [], pulse


def test_url_parameters_set_scope_and_language_and_bad_ones_fall_back(still_server: Server) -> None:
    with chrome(1920, 1080) as d:
        log = PageLog()
        d.get(still_server.base + "/wall?town=瓜沥镇&lang=en")
        wait_kpis(d)
        wait_for(lambda: d.find_element("css selector", "#wall-scope").text == "This month", message="scope")
        title = d.find_element("css selector", ".wall-brand h1").get_attribute("textContent")
        assert title == "Guali Zhen · Grid Governance Situation"  # a town's wall is named after it
        # ... once: the scope line beside it says the period only
        assert d.find_element("css selector", "#wall-root").get_attribute("lang") == "en"
        for query in ("town=火星镇&rotate=abc", "pages=nope&period=century", "as_of=yesterday&lang=xx"):
            d.get(f"{still_server.base}/wall?{query}")
            wait_kpis(d)
            assert "全区" in d.find_element("css selector", "#wall-scope").text, query
            assert not banner(d)
            assert len(d.find_elements("css selector", ".wall-page.active")) == 1
            log.drain(d)
        log.assert_clean(d)


@pytest.mark.parametrize(
    ("lang", "title", "ranking"),
    [
        ("zh", "瓜沥镇基层治理态势感知", "村社排名（按期办结率）"),
        ("en", "Guali Zhen · Grid Governance Situation", "Villages ranking (on-time close rate)"),
    ],
)
def test_a_one_town_wall_ranks_its_villages_under_the_towns_name(
    still_server: Server, lang: str, title: str, ranking: str
) -> None:
    """``/wall?town=瓜沥镇`` ranked one town ("1 瓜沥镇") in a full-height panel under 萧山区's title: it
    ranks the town's villages, names the town, and every row it shows fits its panel."""
    with chrome(1920, 1080) as d:
        log = PageLog()
        url = f"{still_server.base}/wall?town=瓜沥镇&pages=rankings,overview&lang={lang}"
        found = _open_wall(d, url, 1920, 1080)
        assert d.find_element("css selector", ".wall-brand h1").get_attribute("textContent") == title
        # The title may go on to say why some units have no rank ("· —：应办结不足10件，不排名").
        assert (
            d.find_element("css selector", "#wall-rk-towns-title")
            .get_attribute("textContent")
            .startswith(ranking)
        )
        names = d.execute_script(
            "return Array.from(document.querySelectorAll('#wall-rk-towns tbody tr'))"
            ".map(r => r.cells[1].textContent)"
        )
        assert len(names) > 5 and not {"瓜沥镇", "Guali Zhen"} & set(names), names
        # Rows give way only to a line that takes the panels' height: the red "数据已停更" line under the
        # clock when a stream is stopped (seen in CI before this server's cadence was set: 36 px, one row of
        # each table), the stale banner or an alert row.
        squeezed = d.execute_script(SQUEEZE_PROBE)
        for item in found:
            if "overflow" in item:
                assert item["overflow"] <= 1, (lang, item)
                assert item["hidden"] == 0 or (squeezed and item["whole"] > 1), (lang, item, squeezed)
        log.assert_clean(d)


def test_a_wall_on_a_started_clock_shows_that_time_and_a_village_wall_names_the_village(
    live_district: str, tmp_path: Path
) -> None:
    """``serve --start-at`` (DASHBOARD_START_AT) runs the server's clock from a chosen moment: the wall's
    clock shows that time, not the PC's. A village's wall names the village in its title, not its town."""
    import sqlite3

    shanghai = dt.timezone(dt.timedelta(hours=8))
    start = (dt.datetime.now(shanghai) - dt.timedelta(days=2)).replace(
        hour=1, minute=30, second=0, microsecond=0
    )
    path = live_district.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        village, name = db.execute(
            "SELECT code, name_zh FROM admin_unit WHERE level = 'village' AND code LIKE ? ORDER BY code LIMIT 1",
            (GUALI + "%",),
        ).fetchone()
    with (
        serve(live_district, tmp_path, DASHBOARD_START_AT=start.isoformat()) as server,
        chrome(1920, 1080) as d,
    ):
        log = PageLog()
        d.get(f"{server.base}/wall?town={GUALI}&village={village}")
        wait_kpis(d)
        shown = start.strftime("%Y/%m/%d")
        clock = wait_for(
            lambda: (text := d.find_element("css selector", "#wall-clock").text) and shown in text and text,
            timeout=20,
            message=f"the served date {shown} on the wall clock",
        )
        assert " 01:3" in str(clock), clock  # the served hour, whatever the PC's time is
        wait_for(
            lambda: d.find_element("css selector", ".wall-brand h1").text == f"{name}基层治理态势感知",
            timeout=30,
            message=f"the title names {name}",
        )
        # In English, on the smallest screen of the hall, the longest title (the village's name and its
        # town's) is whole on one line, with the period and the clock beside it: not cut, not a column.
        d.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False},
        )
        d.get(f"{server.base}/wall?town={GUALI}&village={village}&lang=en")
        wait_kpis(d)
        wait_for(lambda: d.find_element("css selector", "#wall-scope").text == "This month", message="period")
        header = wait_for(lambda: _settled_header(d), timeout=20, message="the header laid out")
        assert header["title"].endswith(" · Grid Governance Situation") and "Guali" in header["title"], header
        assert not header["cut"], header  # no "…" in the title or the period
        # The clock, the data's age and a stream's freshness line stack to ~12 % of the height; squeezed
        # into a column by the title, they took a quarter.
        assert header["height"] < 0.15 * 768 and header["clock_right"] <= 1366, header
        log.assert_clean(d)


HEADER_PROBE = """
const h1 = document.querySelector('.wall-brand h1'), scope = document.querySelector('#wall-scope');
const header = document.querySelector('.wall-header').getBoundingClientRect();
const clock = document.querySelector('#wall-clock').getBoundingClientRect();
return {title: h1.textContent, height: header.height, clock_right: clock.right, clock_text: !!clock.width,
        cut: [h1, scope].filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)};
"""


def _settled_header(d: Any) -> dict[str, Any] | None:
    """The header's measures once the village's name has come with the snapshot and the clock ticks."""
    found = d.execute_script(HEADER_PROBE)
    named = found["title"] != "Guali Zhen · Grid Governance Situation"  # the layout's, before the snapshot
    return found if found["clock_text"] and named else None


@pytest.mark.slow
@pytest.mark.long  # a soak beside the live feed: `make test-long` (make test stays under twelve minutes)
def test_long_run_with_the_live_feed_stays_flat(live_server: Server) -> None:
    with chrome(1920, 1080) as d:
        log = PageLog()
        d.get(live_server.base + "/wall?rotate=5")
        wait_kpis(d)
        d.execute_cdp_cmd("Performance.enable", {})
        base = min(5, SOAK_CYCLES - 1)  # growth is measured from here: the first cycles warm caches up
        rss, heap, boards, collected, stale = [], [], [], {}, 0
        started = time.monotonic()
        for cycle in range(SOAK_CYCLES):
            # Keep the cadence of the wall's own refresh, whatever the sampling costs.
            time.sleep(max(0.0, started + (cycle + 1) * REFRESH - time.monotonic()))
            rss.append(live_server.rss_mb())
            heap.append(js_heap_mb(d))
            boards.append(kpis(d))
            stale += bool(banner(d))
            if cycle in (base, SOAK_CYCLES - 1):
                collected[cycle] = js_heap_mb(d, collect=True)
            if cycle % 10 == 9:
                log.drain(d)
        elapsed = time.monotonic() - started
        rss_growth = rss[-1] - rss[base]
        heap_growth = collected[SOAK_CYCLES - 1] - collected[base]
        report(
            f"{SOAK_CYCLES} cycles in {elapsed:.0f} s: server RSS MB (first, cycle {base}, last, max)",
            [round(rss[0], 1), round(rss[base], 1), round(rss[-1], 1), round(max(rss), 1)],
        )
        report("server RSS MB every 50 cycles", [round(v, 1) for v in rss[::50]])
        report(
            f"JS heap MB (first, max; after GC at cycle {base} and at the end)",
            [
                round(heap[0], 1),
                round(max(heap), 1),
                round(collected[base], 1),
                round(collected[SOAK_CYCLES - 1], 1),
            ],
        )
        assert rss_growth < RSS_GROWTH_MB, rss
        assert heap_growth < HEAP_GROWTH_MB, heap
        changes = sum(1 for a, b in itertools.pairwise(boards) if a != b)
        report("refresh cycles in which the KPI tiles changed", changes)
        assert changes >= 1, "the feed moves the board"
        # The source stays up, but on two shared cores a snapshot can overrun the statement timeout while
        # the feed writes: the wall then shows the stale banner for a cycle. Rare, and it must recover.
        report("refresh cycles showing the stale banner", stale)
        assert stale <= SOAK_CYCLES // 10, server_warnings(live_server)
        wait_for(lambda: not banner(d), timeout=REFRESH + MARGIN, message="fresh at the end")
        log.assert_clean(d)


# --- d. what fits a panel: bars and rows the screen can show, every label named ---------------------


def _table_rows(table: Any) -> list[list[str]]:
    """The body cells of a rendered ``simple_table`` as text."""
    body = table.children[1].children
    return [[str(td.children) for td in tr.children] for tr in body]


PANEL_NOW = dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)  # 14:00 in Xiaoshan, a Saturday


@pytest.fixture(scope="module")
def district_snapshot(district: str) -> Any:
    from dashboard.core.viewstate import ViewState
    from dashboard.source.engines import make_source_engine
    from dashboard.source.queries.snapshot import build_snapshot

    with make_source_engine(district).connect() as conn:
        return build_snapshot(conn, ViewState(), PANEL_NOW)


def test_wall_panels_show_only_the_bars_and_rows_that_fit_them(district_snapshot: Any) -> None:
    """A half-height panel shows five bars and says so in its title; a ranking longer than its panel shows
    its first and last units around a ``⋯`` row, with their real ranks."""
    from callbacks.wall import PANEL_KEYS, PANELS
    from dashboard.core.viewstate import ViewState
    from dashboard.present import panels
    from layouts import render
    from layouts.wall import TABLE_PANELS

    view, snap = ViewState(), district_snapshot
    trimmed = 0
    for panel in (p for p in PANELS if p.limit is not None):
        key = PANEL_KEYS[panel.id]
        assert panel.limit is not None
        if panel.id in TABLE_PANELS:
            table, _title = render.wall_panel(
                "table", key, snap, view, scale=1.0, limit=panel.limit, both_ends=panel.both_ends
            )
            full = panels.table(snap, key, "zh").rows
            assert len(_table_rows(table)) == min(panel.limit, len(full)), panel.id
            continue
        figure, title = render.wall_panel("chart", key, snap, view, scale=1.0, limit=panel.limit)
        categories = panels.chart(snap, key, "zh").categories
        shown = figure["data"][-1]["y"]
        assert len(shown) == min(panel.limit, len(categories)), panel.id
        assert shown == categories[: len(shown)], panel.id  # the first ones in the chart's own order
        assert figure["layout"]["yaxis"]["dtick"] == 1, panel.id  # Plotly may not skip a label
        cut = len(categories) > panel.limit
        trimmed += cut
        assert (
            title.endswith(f"前{panel.limit}" if key != "patrol_coverage" else f"最低{panel.limit}个") == cut
        )
    assert trimmed >= 3  # categories (twice) and towns: the district has more than fit
    # A 48:9 wall has one row of full-height panels: ten bars or rows, a ranking's five and five.
    assert {p.fits(wide=True) for p in PANELS if p.limit is not None} == {10, 11}
    wide, title = render.wall_panel(
        "chart", "by_category_bar", snap, view, scale=1.0, limit=PANELS[2].fits(True)
    )
    assert PANELS[2].id == "wall-ov-category" and len(wide["data"][-1]["y"]) == 10
    assert title == (
        "按类别 · 前10" if len(panels.chart(snap, "by_category_bar", "zh").categories) > 10 else "按类别"
    )

    towns = panels.table(snap, "town_ranking", "zh").rows
    assert len(towns) == 26
    table, _title = render.wall_panel(
        "table", "town_ranking", snap, view, scale=1.0, limit=11, both_ends=True
    )
    ranks = [row[0] for row in _table_rows(table)]
    # Towns with too little due are listed unranked ("—") after the ranked ones, and never shown as the
    # bottom of a trimmed ranking: its last rows are the lowest *ranked* towns.
    ranked = [row[0] for row in towns if row[0] != "—"]
    assert ranked == [str(i) for i in range(1, len(ranked) + 1)]
    if len(ranked) > 11:
        assert ranks == [*ranked[:5], "⋯", *ranked[-5:]]
    else:
        assert ranks == [row[0] for row in towns[:11]]
    english, title = render.wall_panel(
        "chart", "by_category_bar", snap, ViewState(lang="en"), scale=1.0, limit=5
    )
    assert title == "By category · top 5" and len(english["data"][-1]["y"]) == 5


DRAWN = ".wall-page.active .main-svg, .wall-page.active .wall-table table"


FIT_PROBE = """
const out = [];
for (const panel of document.querySelectorAll('.wall-page.active .wall-panel')) {
  const table = panel.querySelector('.wall-table');
  if (table) {
    const hidden = Array.from(table.querySelectorAll('tbody tr')).filter(r => r.style.display === 'none');
    const overflow = table.scrollHeight - table.clientHeight, mark = table.getAttribute('data-hidden');
    // The overflow with every row the server sent (and no "⋯ +N" mark): more than a pixel when the rows
    // hidden had no room. Put back as found before anything is painted.
    hidden.forEach(r => { r.style.display = ''; });
    table.removeAttribute('data-hidden');
    const whole = table.scrollHeight - table.clientHeight;
    hidden.forEach(r => { r.style.display = 'none'; });
    if (mark !== null) table.setAttribute('data-hidden', mark);
    out.push({id: table.id, overflow: overflow, hidden: hidden.length, whole: whole});
    continue;
  }
  const gd = panel.querySelector('.js-plotly-plot');
  if (!gd || !gd.data || !gd.data.length || gd.data[0].orientation !== 'h') continue;
  const labels = Array.from(gd.querySelectorAll('.ytick text')).map(t => t.getBoundingClientRect())
    .sort((a, b) => a.top - b.top);
  // A text box is ~1.45 em tall (the font's ascent and descent) and a CJK glyph ~0.9 em: boxes may
  // touch by a quarter of their height before the ink does.
  let overlap = 0;
  for (let i = 1; i < labels.length; i++) {
    overlap = Math.max(overlap, (labels[i - 1].bottom - labels[i].top) / labels[i].height);
  }
  out.push({id: gd.parentElement.id, bars: gd.data[gd.data.length - 1].y.length, labels: labels.length,
            overlap: overlap});
}
return out;
"""
# What takes height from the wall's panels besides their own content: the freshness line when a stream is
# late or stopped, the stale-data banner and the alert row (texts of those shown).
SQUEEZE_PROBE = """
return Array.from(document.querySelectorAll('#wall-fresh, #wall-banner, .wall .wall-alerts'))
  .filter(e => !e.hidden && e.offsetHeight > 0).map(e => e.textContent);
"""
WIDE = (5760, 1080)  # a 48:9 video wall: one row of full-height panels, ten bars and rows


def _open_wall(d: Any, url: str, width: int, height: int) -> list[dict[str, Any]]:
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    d.get(url)
    wait_kpis(d)
    # Drawn and settled: Plotly fits its figures to their panels after the first paint.
    wait_for(lambda: d.find_elements("css selector", DRAWN), message="wall drawn")
    time.sleep(2)
    return list(d.execute_script(FIT_PROBE))


def assert_rows_and_bars_fit(found: list[dict[str, Any]], where: str, *, wide: bool) -> None:
    """What FIT_PROBE found on one wall page: every row the server sends fits its panel, and every bar
    chart names every bar without labels overlapping (full-height panels on a 48:9 wall: ten bars)."""
    assert found, where
    for item in found:
        if "overflow" in item:
            assert item["overflow"] <= 1 and item["hidden"] == 0, (where, item)
        else:
            assert item["labels"] == item["bars"], (where, item)
            assert item["overlap"] <= 0.25, (where, item)
    if wide and where.endswith("overview"):
        assert [i["bars"] for i in found if "bars" in i] == [10], (where, found)


def test_under_the_stale_banner_and_alerts_whole_rows_give_way(still_server: Server) -> None:
    """The stale-data banner and an alert row take height from every panel: whole rows give way, not half
    ones, and the bottom of a trimmed ranking is its lowest ranked towns. (Every page at every size of the
    hall is measured by the fit test below.)"""
    with chrome(1920, 1080) as d:
        log = PageLog()
        _open_wall(d, f"{still_server.base}/wall?pages=rankings", 1920, 1080)
        # The stale-data banner and an alert row take height from every panel.
        d.execute_script(
            "const b = document.querySelector('#wall-banner'); b.hidden = false;"
            "b.textContent = '数据源暂不可用，显示 5 分钟前的数据';"
            "document.querySelector('.wall-alerts').insertAdjacentHTML('beforeend', '<div class=\"wall-alert\">测试</div>');"
        )
        time.sleep(1)
        for item in d.execute_script(FIT_PROBE):
            assert item.get("overflow", 0) <= 1, item
        ranks = d.execute_script(
            "return Array.from(document.querySelectorAll('#wall-rk-towns tbody tr'))"
            ".filter(r => r.offsetParent !== null).map(r => r.cells[0].textContent)"
        )
        # The bottom rows are the lowest *ranked* towns (those with too little due are left out): the
        # last shown rank is a number, and the ranks count down to it without a "—".
        assert ranks[0] == "1" and ranks[-1].isdigit() and "⋯" in ranks and len(ranks) < 11, ranks
        assert "—" not in ranks and int(ranks[-1]) == int(ranks[-2]) + 1, ranks
        # A table without a gap row that left rows out from its end says how many, under its last row.
        tables = d.execute_script(LEFT_OUT_PROBE)
        assert any(t["hidden"] and not t["gap"] for t in tables), tables  # the departments, here
        for table in tables:
            if table["hidden"] and not table["gap"]:
                assert table["mark"] == f"+{table['hidden']}", table
                assert f"⋯ +{table['hidden']}" in table["after"], table
            elif not table["hidden"]:
                assert table["mark"] is None, table
        log.assert_clean(d)


BREAK_FIT = """
// What a lost resize or a passing squeeze leaves (30-wall.js, wallMend): a table row hidden with room for
// it, and a figure whose frame is not its panel's size, with nothing on a still wall to set fitting off.
// The row is the last one shown of the page's first table (rows the panel has no room for may be hidden
// already: hiding one more leaves room for it). A break the wall mended at once is broken again afresh.
document.querySelectorAll('[data-broken], [data-astray]').forEach(e => {
  e.removeAttribute('data-broken'); e.removeAttribute('data-astray');
});
const box = document.querySelector('.wall-page.active .wall-table');
const shown = Array.from(box.querySelectorAll('tbody tr')).filter(r => r.style.display !== 'none');
const row = shown[shown.length - 1];
row.style.display = 'none';
row.setAttribute('data-broken', '1');
const gd = document.querySelector('.wall-page.active .js-plotly-plot');
// Another figure's x labels where a draw at another height left them (Plotly sets a label's y only when
// it makes the label), 400 px below their axis.
const other = Array.from(document.querySelectorAll('.wall-page.active .js-plotly-plot'))
  .find(g => g !== gd && g.querySelector('.xtick text'));
other.setAttribute('data-astray', '1');
other.querySelectorAll('.xtick text').forEach(t => t.setAttribute('y', String(parseFloat(t.getAttribute('y')) + 400)));
return Plotly.relayout(gd, {width: 600, height: 300}).then(() => {
  delete gd.layout.width; delete gd.layout.height;
  return box.id;
});
"""
MENDED_PROBE = """
const box = document.getElementById(arguments[0]);
const row = box.querySelector('tr[data-broken]');
// A row hidden with room for it: shown alone again, it would not make the table overflow. A row the
// table has no room for (a squeeze since the break: an alert row, the stale banner) is hidden rightly.
// A table drawn afresh (new data) has lost the broken row: its own rows are judged the same way.
const roomFor = r => {
  r.style.display = '';
  const fits = box.scrollHeight <= box.clientHeight + 1;
  r.style.display = 'none';
  return fits;
};
const judged = (row ? [row] : Array.from(box.querySelectorAll('tbody tr'))).filter(r => r.style.display === 'none');
const gd = document.querySelector('.wall-page.active .js-plotly-plot');
const other = document.querySelector('[data-astray]'), svg = other.querySelector('.main-svg').getBoundingClientRect();
const below = Math.max(...Array.from(other.querySelectorAll('.xtick text')).map(t => t.getBoundingClientRect().bottom - svg.bottom));
return {redrawn: !row, hidden_with_room: judged.some(roomFor),
        overflow: box.scrollHeight - box.clientHeight,
        width: Math.round(gd.clientWidth - gd._fullLayout.width),
        height: Math.round(gd.clientHeight - gd._fullLayout.height), labels_below: Math.round(below)};
"""


# wallMend (30-wall.js) wrapped to count its calls; the global is what every tick and rotation calls.
COUNT_MENDS = """
if (!window.__mendsWrapped) {
  const mend = window.wallMend;
  window.__mends = 0;
  window.wallMend = function () { window.__mends += 1; return mend.apply(this, arguments); };
  window.__mendsWrapped = true;
}
window.__mends = 0;
"""
MENDS = "return window.__mends || 0;"
# One tick mends all of it (the row refitted, the figure resized, the other's labels redrawn) unless a
# figure is still waiting for the board it asked for: three allow two such ticks.
MEND_TICKS = 3
MEND_WAIT_S = 90  # three 10 s ticks, with room for ticks held back by a loaded machine


def mended(m: dict[str, Any]) -> bool:
    """No row hidden with room for it, the figure at its panel's size and no axis label below its figure."""
    return (
        not m["hidden_with_room"]
        and abs(m["width"]) <= 2
        and abs(m["height"]) <= 2
        and m["labels_below"] <= 0
    )


def test_a_still_wall_mends_a_lost_fit_by_the_next_tick(still_server: Server) -> None:
    """On a still wall (no new data, no new board) a table row hidden with room for it, a figure left at
    another size than its panel's and axis labels left below their figure are mended by the next refresh
    tick, not kept until the data moves: a 1080p video row hidden with room for it, and x labels 185–406 px
    below their figure (a phone, 4K), were seen under the suite's load."""
    with chrome(1920, 1080) as d:
        log = PageLog()
        _open_wall(d, f"{still_server.base}/wall?pages=patrol", 1920, 1080)
        # The wall mends at every tick (10 s here) and a second after each rotation: one of them may fall
        # between the break and the probe under load (the break awaits a redraw), and mend it before it
        # is seen (a clean-clone run found it mended already). The break is then made again.
        for _ in range(3):
            table = d.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "(function () {" + BREAK_FIT + "})().then(done, e => done('error: ' + e));"
            )
            assert table and not str(table).startswith("error"), table
            broken = d.execute_script(MENDED_PROBE, table)
            took = broken["hidden_with_room"] and broken["width"] > 100 and broken["labels_below"] > 300
            if took:
                break
        assert took, broken  # the break took
        # Under the suite's load a tick can come late, or find a figure still waiting for the board it asked
        # for (a pending figure is left for the next tick): the wall is judged by its ticks, not by the
        # clock. Each call of wallMend (every tick, and a second after each rotation) is counted from here.
        d.execute_script(COUNT_MENDS)
        seen: list[dict[str, Any]] = []

        def probe() -> dict[str, Any]:
            seen.append(d.execute_script(MENDED_PROBE, table) | {"mends": d.execute_script(MENDS)})
            return seen[-1]

        def mended_or_enough_ticks() -> bool:
            last = probe()
            return mended(last) or last["mends"] >= MEND_TICKS

        started = time.monotonic()
        with suppress(AssertionError):  # judged below, on the last probe
            wait_for(mended_or_enough_ticks, timeout=MEND_WAIT_S)
            if not mended(seen[-1]):  # the last mend's resize and redraw are drawn after its call
                wait_for(lambda: mended(probe()), timeout=5)
        waited = round(time.monotonic() - started, 1)
        assert seen and mended(seen[-1]), f"not mended in {waited} s: {seen[-1:]}"
        assert d.execute_script(MENDED_PROBE, table)["overflow"] <= 1
        log.assert_clean(d)


LEFT_OUT_PROBE = """
return Array.from(document.querySelectorAll('.wall .wall-table')).map(b => {
  const rows = Array.from(b.querySelectorAll('tbody tr'));
  return {id: b.id, gap: rows.some(r => r.cells.length && r.cells[0].textContent === '⋯'),
          hidden: rows.filter(r => r.style.display === 'none').length,
          mark: b.getAttribute('data-hidden'), after: getComputedStyle(b, '::after').content};
});
"""


PHONE = (390, 844)  # a leader's phone, portrait, in CSS pixels
# The hall's screens: a laptop, 1080p, 4K at scale 1, a 48:9 video wall, a phone.
HALL_SIZES = ((1366, 768), (1920, 1080), (3840, 2160), WIDE, PHONE)
# Staff pages are measured where room is scarcest: the smallest laptop and the phone.
FIT_PAGES = ("/", "/backlog", "/trends")
FIT_PAGES_AT = (1366, PHONE[0])
TEXT_PROBE = """
// Text that is clipped or overlaps other text, and boxes wider than their room, on what is shown.
// The ticker scrolls through the viewport by design; the event grid is a box one scrolls through.
const SKIP = '.wall-ticker, [hidden], .modebar-container, .dash-spreadsheet-container';
const shown = el => {
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    const s = getComputedStyle(e);
    if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0) return false;
  }
  return true;
};
const texts = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (!n.textContent.trim() || !el || el.closest(SKIP) || el.closest('script, style, noscript, title')) continue;
  if (!shown(el)) continue;
  // An SVG text's range boxes are its glyphs'; the element's box is the text's (Plotly: one line a <text>).
  const svg = el instanceof SVGElement;
  const r = document.createRange(); r.selectNodeContents(n);
  const rects = (svg ? [el.getBoundingClientRect()] : Array.from(r.getClientRects()))
    .filter(b => b.width > 0.5 && b.height > 0.5);
  if (!rects.length) continue;
  const box = {left: Math.min(...rects.map(b => b.left)), right: Math.max(...rects.map(b => b.right)),
               top: Math.min(...rects.map(b => b.top)), bottom: Math.max(...rects.map(b => b.bottom))};
  texts.push({el, text: n.textContent.trim().slice(0, 40), box, lines: rects});
}
const problems = [];
const vw = document.documentElement.clientWidth;
// Clipped: a text's box beyond the box of an ancestor that clips (overflow not visible), or the viewport's width.
// On a phone the page links and the filters are each one row that scrolls sideways on its own (10-base.css).
const strip = el => { const s = el.closest('.nav, .filters'); return s && /auto|scroll/.test(getComputedStyle(s).overflowX); };
for (const t of texts) {
  if (strip(t.el)) continue;
  if (t.box.right > vw + 1 || t.box.left < -1) { problems.push({kind: 'offscreen', text: t.text}); continue; }
  for (let e = t.el.parentElement; e && e !== document.body; e = e.parentElement) {
    const s = getComputedStyle(e);
    const clips = s.overflowX !== 'visible' || s.overflowY !== 'visible' || e.tagName.toLowerCase() === 'svg';
    if (!clips) continue;
    const c = e.getBoundingClientRect();
    const over = Math.max(c.left - t.box.left, t.box.right - c.right, s.overflowY === 'visible' ? 0 : c.top - t.box.top,
                          s.overflowY === 'visible' ? 0 : t.box.bottom - c.bottom);
    // a quarter of a line: a text box is taller than its ink
    if (over > Math.max(2, (t.box.bottom - t.box.top) * 0.25)) {
      const found = {kind: 'clipped', text: t.text, by: e.className && e.className.baseVal !== undefined ? e.className.baseVal : String(e.className), over: Math.round(over)};
      // A chart's text outside its own SVG: say how the figure was laid out, so the cause can be read
      // from one failure (this dump showed x labels Plotly had left at another height: labelsAstray).
      const gd = t.el.closest('.js-plotly-plot');
      if (gd && gd._fullLayout) {
        const fl = gd._fullLayout, g = gd.getBoundingClientRect(), axis = t.el.closest('.xtick, .ytick');
        found.figure = {id: gd.id, text_box: t.box, svg_box: {left: c.left, right: c.right, top: c.top, bottom: c.bottom},
          gd_box: {width: g.width, height: g.height}, layout_size: [fl.width, fl.height], margin: fl.margin,
          pushed: Object.keys(fl._pushmargin || {}), axis: axis ? axis.getAttribute('class') : null, size: fl._size,
          x_at: fl.xaxis && [fl.xaxis._offset, fl.xaxis._length], y_at: fl.yaxis && [fl.yaxis._offset, fl.yaxis._length],
          tick_at: axis && [axis.getAttribute('transform'), t.el.getAttribute('transform'), t.el.getAttribute('y')],
          x_domain: fl.xaxis && fl.xaxis.domain, y_domain: fl.yaxis && fl.yaxis.domain,
          own_layout: {width: gd.layout.width, height: gd.layout.height, autosize: gd.layout.autosize}};
      }
      problems.push(found);
      break;
    }
  }
  // text-overflow: ellipsis hides a cut word: the element is narrower than its text
  const s = getComputedStyle(t.el);
  if (s.textOverflow === 'ellipsis' && t.el.scrollWidth > t.el.clientWidth + 1) problems.push({kind: 'ellipsis', text: t.text});
}
// Overlap: two texts whose line boxes cross by more than a quarter of the smaller height and 2 px across.
for (let i = 0; i < texts.length; i++) {
  for (let j = i + 1; j < texts.length; j++) {
    const a = texts[i], b = texts[j];
    if (a.box.right <= b.box.left || b.box.right <= a.box.left || a.box.bottom <= b.box.top || b.box.bottom <= a.box.top) continue;
    let worst = 0;
    for (const p of a.lines) for (const q of b.lines) {
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > 2 && h > 0) worst = Math.max(worst, h / Math.min(p.height, q.height));
    }
    if (worst > 0.25) problems.push({kind: 'overlap', text: a.text, other: b.text, by: Math.round(worst * 100) / 100});
  }
}
// Touching: two chart labels on one line (an axis's dates) with no gap between them read as one word
// ("09-0709-22"): the overlap rule above lets boxes that only meet pass.
const tick = t => t.el instanceof SVGElement && t.el.closest('.xtick, .ytick');
for (let i = 0; i < texts.length; i++) {
  for (let j = i + 1; j < texts.length; j++) {
    const a = texts[i], b = texts[j];
    if (!tick(a) || !tick(b)) continue;
    const h = Math.min(a.box.bottom, b.box.bottom) - Math.max(a.box.top, b.box.top);
    if (h < 0.5 * Math.min(a.box.bottom - a.box.top, b.box.bottom - b.box.top)) continue;
    const gap = Math.max(a.box.left, b.box.left) - Math.min(a.box.right, b.box.right);
    if (gap < 3) problems.push({kind: 'touching', text: a.text, other: b.text, gap: Math.round(gap)});
  }
}
// Boxes wider than their room: the page, tables and panels scroll sideways.
if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push({kind: 'hscroll', width: document.documentElement.scrollWidth});
for (const e of document.querySelectorAll('table, .wall-panel, .panel, .card, .wall-table, .kpi')) {
  if (!shown(e) || e.closest(SKIP)) continue;
  if (e.scrollWidth > e.clientWidth + 1) problems.push({kind: 'wide', el: (e.id || e.className), by: e.scrollWidth - e.clientWidth});
}
return problems;
"""


def _settled_problems(d: Any, where: str, settle_seconds: float = 20.0) -> dict[str, Any]:
    """The problems of a page just shown, once its figures have had time to lay out: a figure drawn
    while its page was hidden is resized when the page shows, and on a loaded machine (the suite on two
    workers, the serial browser group's Chromium beside) that took longer than a fixed wait, and than
    5 s once (axis labels 140 px outside their figure, at 1366×768). What is still wrong after
    ``settle_seconds`` is reported; a page that settles at once costs nothing more."""
    deadline = time.monotonic() + settle_seconds
    found = _shown_problems(d, where)
    while found and time.monotonic() < deadline:
        time.sleep(0.5)
        found = _shown_problems(d, where)
    return found


def _shown_problems(d: Any, where: str) -> dict[str, Any]:
    # A new red alert's pop-up lies over the stage on purpose for a few seconds (31-wall-popup.js): the
    # layout is measured without it (the feed here opens alerts at random). Removed in the probe's own
    # script: between two scripts an answer can arrive and pop up a new one (seen once).
    found = d.execute_script(
        "document.querySelectorAll('.wall-popup').forEach(function (p) { p.remove(); });\n" + TEXT_PROBE
    )
    return {where: found} if found else {}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_text_is_clipped_or_overlaps_and_nothing_runs_off_sideways(
    layout_server: Server, lang: str
) -> None:
    """At every size of the hall, from a laptop to a 48:9 wall and a phone, no text on any wall page (nor on
    the staff pages where room is scarcest) is cut by its box or the screen, no two texts overlap (unit
    names on the map included), and no table or panel is wider than its room; at 1080p and on the 48:9
    wall every row the server sends fits and every bar is named. One load per size: the wall carries every
    page and each is shown in turn."""
    from dashboard.core.viewstate import WALL_PAGES

    problems: dict[str, Any] = {}
    with chrome(1920, 1080) as d:
        log = PageLog()
        for width, height in HALL_SIZES:
            phone = width < 600
            metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": phone}
            d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            d.get(f"{layout_server.base}/wall?lang={lang}&pages={','.join(WALL_PAGES)}&rotate=3600")
            wait_kpis(d, timeout=120)
            for page in WALL_PAGES:
                d.execute_script(
                    "document.querySelectorAll('.wall-page').forEach("
                    "p => p.classList.toggle('active', p.dataset.page === arguments[0]))",
                    page,
                )
                wait_for(lambda: d.find_elements("css selector", DRAWN), timeout=60, message=f"{page} drawn")
                time.sleep(1.5 if phone else 0.5)  # a page shown on a phone is laid out only now
                problems |= _settled_problems(d, f"{width}x{height} /wall {page}")
                if (width, height) in ((1920, 1080), WIDE):
                    where = f"{width}x{height} {lang} {page}"
                    assert_rows_and_bars_fit(d.execute_script(FIT_PROBE), where, wide=(width, height) == WIDE)
            if width in FIT_PAGES_AT:
                for path in FIT_PAGES:
                    d.get(f"{layout_server.base}{path}?lang={lang}")
                    wait_for(lambda: d.find_elements("css selector", ".main-svg"), timeout=60, message=path)
                    time.sleep(1.5)
                    problems |= _shown_problems(d, f"{width}x{height} {path}")
            log.drain(d)
        assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)[:6000]
        log.assert_clean(d)


PHONE_PROBE = """
const first = Array.from(document.querySelectorAll('.kpi-value')).find(e => e.textContent.trim());
const box = first ? first.getBoundingClientRect() : null;
const small = Array.from(document.querySelectorAll('.kpi-label, .kpi-value, .nav-link, .wall-panel-title'))
  .filter(e => e.offsetParent !== null && e.textContent.trim())
  .map(e => parseFloat(getComputedStyle(e).fontSize)).filter(px => px < 12);
const title = Array.from(document.querySelectorAll('.brand h1, .wall-brand h1')).find(e => e.offsetParent !== null);
const lines = title ? title.getBoundingClientRect().height / (parseFloat(getComputedStyle(title).fontSize) * 1.2) : 0;
return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth, title_lines: lines,
        kpi_bottom: box ? box.bottom : null, kpi_px: first ? parseFloat(getComputedStyle(first).fontSize) : 0,
        small: small.length};
"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_phone_reads_the_headline_figures_on_the_first_screen(layout_server: Server, lang: str) -> None:
    """At 390×844 the pages and the wall scroll only downwards, show a KPI value on the first screen at a
    size read without zooming, and no tile label, page link or panel title is below 12 px."""
    width, height = PHONE
    with chrome(width, height) as d:
        metrics = {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True}
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        log = PageLog()
        for path in ("/", "/backlog", "/wall"):
            d.get(f"{layout_server.base}{path}?lang={lang}")
            if path == "/wall":
                wait_kpis(d, timeout=120)  # the wall's own view, cold, on a loaded machine
            else:
                shown = ".kpi-value" if path == "/" else ".main-svg"
                wait_for(lambda: d.find_elements("css selector", shown), timeout=60, message=f"{path} drawn")  # noqa: B023
            time.sleep(1)
            found = d.execute_script(PHONE_PROBE)
            assert found["inner"] == width and found["scroll"] <= width, (path, found)
            assert found["small"] == 0, (path, found)
            assert 0 < found["title_lines"] <= 3, (path, found)  # not squeezed to a character a line
            if path != "/backlog":
                assert found["kpi_bottom"] is not None and found["kpi_bottom"] <= height, (path, found)
                assert found["kpi_px"] >= 20, (path, found)
            if path == "/":
                assert_sideways_rows_say_there_is_more(d)
            log.drain(d)
        log.assert_clean(d)


ROW_MARKS = "return Array.from(document.querySelectorAll('.nav, .filters')).map(r => r.className);"


def assert_sideways_rows_say_there_is_more(d: Any) -> None:
    """The page links and the filters, each one row wider than the phone, fade at the edge with more past
    it (37-scroll-hints.js): the right edge at first, the left one once scrolled to the end."""
    marks = d.execute_script(ROW_MARKS)
    assert len(marks) == 2 and all("more-right" in m and "more-left" not in m for m in marks), marks
    d.execute_script(
        "document.querySelectorAll('.nav, .filters').forEach(r => { r.scrollLeft = r.scrollWidth; });"
    )
    wait_for(
        lambda: all("more-left" in m and "more-right" not in m for m in d.execute_script(ROW_MARKS)),
        timeout=5,
        message="the rows scrolled to their end fade on the left only",
    )


def test_a_bucket_still_running_is_drawn_apart_so_the_line_does_not_dive(district_snapshot: Any) -> None:
    """At 14:00 today is half over: the 90-day lines stop at yesterday and today's count so far is an open
    marker standing apart (no line leads to it), labelled "今日截至 14:00"; this week's on-time rate
    likewise. A finished range has none."""
    from dashboard.present import figures, panels

    snap = district_snapshot
    spec = panels.chart(snap, "trend_90d", "zh")
    assert spec.running == len(spec.categories) - 1 and spec.categories[-1] == "11-28"
    assert spec.running_label == "今日截至 14:00"
    figure = figures.from_spec(spec, "wall", lang="zh")
    solid = [t for t in figure["data"] if t.get("showlegend", True) and t["x"] != [None]]
    partial = [t for t in figure["data"] if t.get("showlegend", True) is False]
    assert [t["name"] for t in solid] == ["上报", "办结"] and len(partial) == 2
    for line, alone, series in zip(solid, partial, spec.series, strict=True):
        assert line["y"][-1] is None and line["y"][-2] == series.values[-2]
        assert alone["x"] == spec.categories[-1:] and alone["y"] == series.values[-1:]
        assert "lines" not in alone["mode"] and alone["marker"]["symbol"] == "circle-open"
        assert alone["legendgroup"] == line["legendgroup"]
    # The open marker's meaning is a legend entry, laid out with the lines' names (beside the marker it
    # met the lines or the legend on a small panel).
    key = [t for t in figure["data"] if t["name"] == "今日截至 14:00"]
    assert len(key) == 1 and key[0]["x"] == [None] and figure["layout"]["showlegend"] is True
    # In English the wall says "So far": "Today to 14:00" wrapped the legend onto a second row of the
    # quarter-width panel. The browser, with room, and the decks keep the time.
    english = panels.chart(snap, "trend_90d", "en")
    assert english.running_label == "Today to 14:00"
    named = {t["name"] for t in figures.from_spec(english, "wall", lang="en")["data"]}
    assert "So far" in named and "Today to 14:00" not in named
    assert "Today to 14:00" in {t["name"] for t in figures.from_spec(english, "browser", lang="en")["data"]}
    weekly = panels.chart(snap, "ontime_weekly", "zh")
    assert weekly.running == len(weekly.categories) - 1 and weekly.categories[-1] == "2026-11-23"
    assert panels.running_bucket(["2026-11-26", "2026-11-27"], "day", snap.now) is None
    assert panels.running_bucket(["2026-11 "], "month", snap.now) is None
    assert panels.running_bucket(["2026-10", "2026-11"], "month", snap.now) == 1
    assert panels.running_bucket(["2026-11-28 13", "2026-11-28 14"], "hour", snap.now) == 1
    whole = figures.trend_figure(["a", "b"], [("x", [1, 2], "#000", False)], running=None)
    assert len(whole["data"]) == 1 and whole["data"][0]["y"] == [1, 2]


def test_the_wall_shows_one_row_of_alerts_and_counts_the_rest(district_snapshot: Any) -> None:
    """A second row of chips would take its height from every panel: the worst three are shown (five on a
    wide wall) and a last chip counts the others."""
    from dataclasses import replace

    from layouts import render

    found = [
        {"text_zh": f"告警{i}", "text_en": f"alert {i}", "severity": "bad" if i < 2 else "warn"}
        for i in range(8)
    ]
    snap = replace(district_snapshot, alerts=found)
    chips = render.alerts(snap, "zh")
    assert [c.children for c in chips] == ["告警0", "告警1", "告警2", "另有 5 条告警"]
    assert chips[0].className == "wall-alert bad" and chips[-1].className == "wall-alert more"
    wide = render.alerts(snap, "en", wide=True)
    assert len(wide) == 6 and wide[-1].children == "3 more alerts"
    # The last chip is there, hidden, when nothing is left out: the browser counts in it the chips that
    # do not fit the row.
    three = render.alerts(replace(snap, alerts=found[:3]), "zh")
    assert [c.children for c in three[:3]] == ["告警0", "告警1", "告警2"]
    assert three[-1].hidden is True and three[-1].className == "wall-alert more"
    assert chips[-1].hidden is False
    assert render.alerts(replace(snap, alerts=[]), "zh") == []
