"""``python -m dashboard screenshots``: thumbnails of every page and wall size of a running dashboard.

python -m dashboard screenshots                              # all of them into data/screens
python -m dashboard screenshots --which wall --only 7680     # the 32:9 wall only

See :mod:`dashboard.perf.screenshots` (needs Chromium).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dashboard.core.settings import DATA_DIR
from dashboard.perf.screenshots import take_screenshots


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
    taken, failed = take_screenshots(
        args.base_url, args.out, args.which, keep_png=args.keep_png, only=args.only
    )
    print(f"{taken} screenshots in {args.out}")
    for line in failed:
        print(f"  failed: {line}")
    return 1 if failed else 0
