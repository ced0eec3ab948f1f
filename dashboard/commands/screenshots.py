"""``python -m dashboard screenshots``: headless-Chromium screenshots of every page and wall size.

Used to look at what we build and to keep the README's gallery current. Needs Chromium (Debian
package ``chromium``) and a running dashboard (``make run``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from dashboard.progress import Progress
from dashboard.settings import DATA_DIR

BROWSER_PAGES = {
    "overview": "/",
    "backlog": "/backlog",
    "patrol": "/patrol",
    "trends": "/trends",
    "rankings": "/rankings",
    "events": "/events",
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


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise ValueError("screenshots need Chromium: apt-get install --no-install-recommends chromium")
    return path


def capture(url: str, out: Path, width: int, height: int, scale: int) -> None:
    """One screenshot; Dash needs a virtual-time budget to render its callbacks first."""
    with tempfile.TemporaryDirectory(prefix="shot-") as profile:
        cmd = [
            chromium(),
            "--headless",
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


def thumbnail(png: Path, jpg: Path) -> None:
    """A small JPEG for the README (the full-size PNG stays out of git)."""
    from PIL import Image

    with Image.open(png) as img:
        ratio = THUMB_WIDTH / img.width
        small = img.convert("RGB").resize(
            (THUMB_WIDTH, max(1, round(img.height * ratio))), Image.Resampling.LANCZOS
        )
        small.save(jpg, "JPEG", quality=78, optimize=True)


def jobs(base: str, which: str) -> list[tuple[str, str, tuple[int, int, int]]]:
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


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default="http://127.0.0.1:8050", help="a running dashboard")
    parser.add_argument(
        "--out", type=Path, default=DATA_DIR / "screens", help="folder for the JPEG thumbnails"
    )
    parser.add_argument("--which", choices=("all", "browser", "wall"), default="all")
    parser.add_argument("--keep-png", action="store_true", help="also keep the full-size PNGs (not for git)")
    parser.add_argument(
        "--only", default="", help="comma-separated name fragments to take (e.g. wall-patrol,7680)"
    )


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    todo = jobs(args.base_url.rstrip("/"), args.which)
    if args.only:
        wanted = [w for w in args.only.split(",") if w]
        todo = [job for job in todo if any(w in job[0] for w in wanted)]
    failed: list[str] = []
    with Progress("截图 screenshots", len(todo)) as bar, tempfile.TemporaryDirectory() as tmp:
        for name, url, (w, h, scale) in todo:
            png = (args.out if args.keep_png else Path(tmp)) / f"{name}.png"
            try:
                capture(url, png, w, h, scale)
                thumbnail(png, args.out / f"{name}.jpg")
            except (subprocess.SubprocessError, OSError) as exc:  # one slow page must not lose the rest
                failed.append(f"{name}: {exc.__class__.__name__}")
            bar.advance()
    print(f"{len(todo) - len(failed)} screenshots in {args.out}")
    for line in failed:
        print(f"  failed: {line}")
    return 1 if failed else 0
