"""Headless-Chromium screenshots of every page and wall size (``python -m dashboard screenshots``).

Used to look at what we build and to keep the README's gallery current. Needs Chromium (Debian
package ``chromium``) and a running dashboard (``make run``).
"""

from __future__ import annotations

import base64
import importlib.util
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dashboard.core.progress import Progress

BROWSER_PAGES = {
    "overview": "/",
    "backlog": "/backlog",
    "patrol": "/patrol",
    "trends": "/trends",
    "rankings": "/rankings",
    "events": "/events",
    "alerts": "/alerts",
    "briefings": "/briefings",
}
BROWSER_SIZES = {"1366x768": (1366, 768, 1), "1920x1080": (1920, 1080, 1)}
WALL_PAGES = ("overview", "backlog", "patrol", "trends", "rankings")
WALL_SIZES = {
    "1920x1080": (1920, 1080, 1),
    "3840x2160-scale2": (1920, 1080, 2),  # a 4K PC rendering at 200 %
    "3840x2160-scale1": (3840, 2160, 1),  # a 4K PC rendering 3840 CSS pixels
    "7680x2160": (7680, 2160, 1),  # 32:9 video wall
    "5760x1080": (5760, 1080, 1),  # 48:9 video wall
}
THUMB_WIDTH = 960


# The headless flags every Chromium the tools drive starts with (screenshots, the wall soak).
HEADLESS_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")


def chromium() -> str:
    """The Chromium binary; ValueError naming the package when it is missing."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise ValueError("screenshots need Chromium: apt-get install --no-install-recommends chromium")
    return path


def capture(url: str, out: Path, width: int, height: int, scale: int) -> None:
    """One screenshot with the Chromium command line; Dash needs a virtual-time budget to render first.

    The fallback when chromedriver is missing: under virtual time Plotly does not refit its figures to
    their panels after the first paint, so graphs can come out smaller than the screen shows them.
    """
    with tempfile.TemporaryDirectory(prefix="shot-") as profile:
        cmd = [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--force-device-scale-factor={scale}",
            "--virtual-time-budget=20000",
            f"--screenshot={out}",
            url,
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)


DRAWN = ".main-svg, .wall-table table, .table, .dash-spreadsheet-container td, .cell-table td"


class Browser:
    """One headless Chromium driven over chromedriver, in real time: pages are captured once drawn and
    settled, as a screen in the hall shows them (figures fitted to their panels)."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium()
        for arg in (*HEADLESS_ARGS, "--hide-scrollbars"):
            opts.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(chromedriver()), options=opts)
        self.driver.set_page_load_timeout(60)

    def capture(
        self,
        url: str,
        out: Path,
        width: int,
        height: int,
        scale: int,
        settle: float = 3.0,
        *,
        mobile: bool = False,
    ) -> None:
        """Open ``url`` at that size (``mobile``: a phone's viewport and touch), wait until drawn, save a PNG."""
        self.open(url, width, height, scale, mobile=mobile)
        self.shot(out, settle)

    def open(self, url: str, width: int, height: int, scale: int, *, mobile: bool = False) -> None:
        """Load ``url`` at that size and wait until a figure or table is drawn."""
        from selenium.common.exceptions import WebDriverException

        metrics = {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile}
        try:
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            self.driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": mobile})
            self.driver.get(url)
            self.wait_drawn()
        except WebDriverException as exc:  # reported per page by the caller, like a failed command line
            raise OSError(f"Chromium: {exc.msg}") from exc

    def reload(self) -> None:
        """Reload the open page (F5 on the wall) and wait until it is drawn again."""
        self.driver.refresh()
        self.wait_drawn()

    def wait_drawn(self, timeout: float = 60.0, selector: str = DRAWN) -> bool:
        """Wait until ``selector`` matches (default: a figure or table); False when it never did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.driver.find_elements("css selector", selector):
                return True
            time.sleep(0.25)
        return False

    def shot(self, out: Path, settle: float = 3.0) -> None:
        """A PNG of the open page as it stands after ``settle`` seconds."""
        from selenium.common.exceptions import WebDriverException

        try:
            time.sleep(settle)  # Plotly refits its figures to their panels after the first paint
            shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        except WebDriverException as exc:
            raise OSError(f"Chromium: {exc.msg}") from exc
        out.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        self.driver.quit()


def chromedriver() -> str:
    """The chromedriver binary (its usual path when not on PATH)."""
    return shutil.which("chromedriver") or "/usr/bin/chromedriver"


def open_browser() -> Browser | None:
    """A driven Chromium when selenium and chromedriver are there, else None (the command line is used)."""
    if importlib.util.find_spec("selenium") is None or not Path(chromedriver()).exists():
        return None
    return Browser()


def thumbnail(png: Path, jpg: Path, width: int = THUMB_WIDTH) -> None:
    """A small JPEG for the README (the full-size PNG stays out of git), ``width`` pixels wide."""
    from PIL import Image

    with Image.open(png) as img:
        ratio = width / img.width
        small = img.convert("RGB").resize(
            (width, max(1, round(img.height * ratio))), Image.Resampling.LANCZOS
        )
        small.save(jpg, "JPEG", quality=78, optimize=True)


def jobs(base: str, which: str) -> list[tuple[str, str, tuple[int, int, int]]]:
    """(name, address, (width, height, scale)) of every shot of ``which``."""
    out: list[tuple[str, str, tuple[int, int, int]]] = []
    if which in {"all", "browser"}:
        for name, path in BROWSER_PAGES.items():
            for size, dims in BROWSER_SIZES.items():
                out.append((f"browser-{name}-{size}", f"{base}{path}", dims))
    if which in {"all", "wall"}:
        for page in WALL_PAGES:
            for size, dims in WALL_SIZES.items():
                out.append((f"wall-{page}-{size}", f"{base}/wall?pages={page}", dims))
    return out


def take_screenshots(
    base_url: str, out: Path, which: str = "all", *, keep_png: bool = False, only: str = ""
) -> tuple[int, list[str]]:
    """Capture every page and size of ``which`` into ``out`` as JPEG thumbnails.

    ``only`` keeps the shots whose name contains one of its comma-separated fragments. Returns how
    many were taken and the failures (``name: reason``); one slow page does not lose the rest.
    """
    out.mkdir(parents=True, exist_ok=True)
    todo = jobs(base_url.rstrip("/"), which)
    if only:
        wanted = [w for w in only.split(",") if w]
        todo = [job for job in todo if any(w in job[0] for w in wanted)]
    failed: list[str] = []
    browser = open_browser()
    if browser is None:
        print("chromedriver or selenium missing: using the Chromium command line (figures may be undersized)")
    try:
        with Progress("截图 screenshots", len(todo)) as bar, tempfile.TemporaryDirectory() as tmp:
            for name, url, (w, h, scale) in todo:
                png = (out if keep_png else Path(tmp)) / f"{name}.png"
                try:
                    if browser is None:
                        capture(url, png, w, h, scale)
                    else:
                        browser.capture(url, png, w, h, scale)
                    thumbnail(png, out / f"{name}.jpg")
                except (subprocess.SubprocessError, OSError) as exc:  # one slow page must not lose the rest
                    failed.append(f"{name}: {exc.__class__.__name__}")
                bar.advance()
    finally:
        if browser is not None:
            browser.close()
    return len(todo) - len(failed), failed
