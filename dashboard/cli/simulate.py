"""``python -m dashboard simulate``: the live feed that keeps the sample district moving.

    python -m dashboard simulate                        # catch up to now, then a tick every 2 s
    python -m dashboard simulate --surge 瓜沥镇          # with a burst of reports in one town

One feed writes to a source at a time. Beside a running feed (``make run`` starts one), ``--surge`` hands
the burst to it and returns; a second plain ``simulate`` is refused (it would write every report twice).

See :mod:`dashboard.sample.simulate` for what a tick writes.
"""

from __future__ import annotations

import argparse

from dashboard.cli.common import add_database_argument, database_url
from dashboard.core.clock import clock_starting_at
from dashboard.core.settings import load_settings
from dashboard.sample.simulate import hand_over_surge, run_feed


def configure(parser: argparse.ArgumentParser) -> None:
    add_database_argument(parser)
    parser.add_argument("--rate", type=float, default=1.0, help="volume multiplier for new reports")
    parser.add_argument(
        "--surge", default=None, help="inject a burst of 15–30 reports into a town/village/grid"
    )
    parser.add_argument("--tick", type=float, default=2.0, help="seconds between ticks (default 2)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--seed", type=int, default=42, help="the seed used by `seed` (same arrivals)")
    parser.add_argument("--quiet", action="store_true", help="no progress or tick log")
    parser.add_argument(
        "--start-at",
        default=None,
        metavar="ISO",
        help="the feed's clock starts at this moment and runs on (as `serve --start-at`; default "
        "DASHBOARD_START_AT; empty: this machine's clock)",
    )


def run(args: argparse.Namespace) -> int:
    if args.surge and hand_over_surge(database_url(args), args.surge):
        return 0  # the feed already running (e.g. make run's) releases the burst on its next ticks
    start_at = args.start_at if args.start_at is not None else load_settings().START_AT
    clock = clock_starting_at(start_at)
    total = run_feed(
        database_url(args),
        rate=args.rate,
        surge=args.surge,
        tick=args.tick,
        duration=args.duration,
        seed=args.seed,
        clock=clock.now,
        progress=not args.quiet,
        log=None if args.quiet else print,
    )
    print(f"feed stopped: {total.events:,} events, {total.actions:,} actions, {total.checkins:,} check-ins")
    return 0
