"""``python -m dashboard screenshots``: thumbnails of every page and wall size of a running dashboard.

python -m dashboard screenshots                              # all of them into data/screens
python -m dashboard screenshots --which wall --only 7680     # the 32:9 wall only
python -m dashboard screenshots --conditions                 # the conditions gallery (~6 min, on its own)
python -m dashboard screenshots --conditions --month 2026-12 # …staged in that month

See :mod:`dashboard.perf.screenshots` (needs Chromium) and :mod:`dashboard.perf.conditions`.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from dashboard.core.clock import SystemClock
from dashboard.core.settings import DATA_DIR
from dashboard.perf.conditions import HALL_TZ, Plan, night_of, take_conditions
from dashboard.perf.screenshots import take_screenshots

CONDITIONS_DIR = DATA_DIR / "screens" / "conditions"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default="http://127.0.0.1:8050", help="a running dashboard")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the JPEG thumbnails (default data/screens, with --conditions data/screens/conditions)",
    )
    parser.add_argument("--which", choices=("all", "browser", "wall"), default="all")
    parser.add_argument("--keep-png", action="store_true", help="also keep the full-size PNGs (not for git)")
    parser.add_argument(
        "--only", default="", help="comma-separated name fragments to take (e.g. wall-patrol,7680)"
    )
    cond = parser.add_argument_group("conditions gallery (seeds and serves a district of its own)")
    cond.add_argument(
        "--conditions",
        action="store_true",
        help="stage night, the 1st of a month, a surge, a stopped feed, an outage reload, a one-town wall, "
        "English and a phone on a started clock, and photograph each",
    )
    cond.add_argument(
        "--month",
        default=None,
        help="YYYY-MM staged (01:30 on its 3rd, 09:00 on its 1st); default this month",
    )
    cond.add_argument("--days", type=int, default=400, help="days of history seeded (default 400)")
    cond.add_argument(
        "--scale", type=float, default=0.15, help="volume of the seeded district (default 0.15)"
    )


def conditions_plan(args: argparse.Namespace, today: dt.date) -> Plan:
    """The conditions run the arguments ask for; ValueError for what cannot be staged."""
    if args.days < 35 or args.scale <= 0:
        raise ValueError("--days must be at least 35 (a month and its comparisons) and --scale > 0")
    return Plan(
        night_of(args.month, today),
        args.out or CONDITIONS_DIR,
        days=args.days,
        scale=args.scale,
        keep_png=args.keep_png,
    )


def run(args: argparse.Namespace) -> int:
    if args.conditions:
        plan = conditions_plan(args, SystemClock().now().astimezone(HALL_TZ).date())
        taken, failed = take_conditions(plan)
        out = plan.out
        for line in plan.notes:
            print(f"  note: {line}")
    else:
        out = args.out or DATA_DIR / "screens"
        taken, failed = take_screenshots(
            args.base_url, out, args.which, keep_png=args.keep_png, only=args.only
        )
    print(f"{taken} screenshots in {out}")
    for line in failed:
        print(f"  failed: {line}")
    return 1 if failed else 0
