"""Headless Chromium and a dashboard served in a subprocess, for the browser tests and the fault tests."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.services import need

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


GUALI = "330109113"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


@contextmanager
def serve_dashboard(database_url: str, state: Path, **env_extra: str) -> Iterator[str]:
    """``python -m dashboard serve`` in a subprocess on a free port, with its own state and cache."""
    port = free_port()
    env = {
        **os.environ,
        "DASHBOARD_DATABASE_URL": database_url,
        "DASHBOARD_STATE_URL": f"sqlite:///{state / 'state.db'}",
        "DASHBOARD_CACHE_DIR": str(state / "cache"),
        **env_extra,
    }
    log = open(state / "server.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def need_browser() -> None:
    need(Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists(), "Chromium and chromedriver")


@contextmanager
def chrome(width: int = 1600, height: int = 1000, *, motion: bool = False) -> Iterator[Any]:
    """Headless Chromium with a fresh profile (empty local storage), console and network logs on.

    Unless ``motion``, the page is told the screen prefers reduced motion: the wall then stops its
    ticker, pulse and fades (20-wall.css). Headless Chromium draws them in software, about 0.3 of a core
    per wall tab, on a 2-core machine whose suite is bound by its CPU; no test but those of motion needs
    them."""
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--window-size={width},{height}",
        f"--user-data-dir={tempfile.mkdtemp(prefix='chrome-')}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    if not motion:  # kept for the tab's life, across navigations
        still = {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]}
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", still)
    try:
        yield driver
    finally:
        driver.quit()


def assert_clean(driver: object) -> None:
    """No console errors, and every request went to 127.0.0.1 (or stayed inside the page)."""
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[attr-defined]
    assert not errors, errors
    hosts = set()
    for entry in driver.get_log("performance"):  # type: ignore[attr-defined]
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.startswith(("http://", "https://", "ws://", "wss://")):
                hosts.add(urlsplit(url).hostname)
    assert hosts <= {"127.0.0.1"}, hosts


def wait_for(condition: object, timeout: float = 30, message: str = "") -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = condition()  # type: ignore[operator]
            if last:
                return last
        except Exception as exc:  # the page is still rendering
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"timed out: {message} (last: {last!r})")


def query_of(driver: object) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)  # type: ignore[attr-defined]


def text_of(driver: object, css: str) -> str:
    return str(driver.find_element("css selector", css).text)  # type: ignore[attr-defined]


def open_dropdown(driver: object, dropdown_id: str, timeout: float = 30) -> list[str]:
    """Open a Dash dropdown and return its options' labels. A click that lands while the dropdown is
    drawn again (its value or options arriving from a callback) is lost, as it is for a person, who
    clicks again: seen once on a loaded machine (the town filter of a signed-in user, no options after
    30 s). So the click is repeated every few seconds until the options show."""
    d: Any = driver
    deadline = time.monotonic() + timeout
    while True:
        d.find_element("css selector", f"#{dropdown_id}").click()
        try:
            return wait_for(  # type: ignore[return-value]
                lambda: [o.text.strip() for o in d.find_elements("css selector", ".dash-dropdown-option")],
                timeout=min(5.0, max(0.5, deadline - time.monotonic())),
                message=f"the options of #{dropdown_id}",
            )
        except AssertionError:
            if time.monotonic() >= deadline:
                raise


def choose_option(driver: object, dropdown_id: str, search: str, label: str) -> None:
    """Pick ``label`` in a Dash dropdown the way a person does: open, type, click, close."""
    open_dropdown(driver, dropdown_id)
    box = wait_for(lambda: driver.find_element("css selector", ".dash-dropdown-search"), message="search box")  # type: ignore[attr-defined]
    box.send_keys(search)  # type: ignore[attr-defined]
    option = wait_for(
        lambda: [
            o
            for o in driver.find_elements("css selector", ".dash-dropdown-option")
            if o.text.strip() == label
        ],  # type: ignore[attr-defined]
        message=f"option {label}",
    )
    option[0].click()  # type: ignore[index]
    from selenium.webdriver.common.keys import Keys

    box.send_keys(Keys.ESCAPE)  # type: ignore[attr-defined]


def kpi_value(driver: object, key: str) -> str:
    return text_of(driver, f"#kpi-{key} .kpi-value")
