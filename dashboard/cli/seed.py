"""``python -m dashboard seed``: generate the sample Xiaoshan district and its history up to now.

    python -m dashboard seed                                  # 760 days into the configured database
    python -m dashboard seed --days 3 --scale 0.05 --force    # a small one, replacing what is there

The same seed and ``--now`` give the same data (see :mod:`dashboard.sample.seed`).
"""

from __future__ import annotations

import argparse
import datetime as dt

from dashboard.cli.common import add_database_argument, database_url
from dashboard.sample.seed import DEFAULT_DAYS, DEFAULT_PATROL_DAYS, seed_database


def configure(parser: argparse.ArgumentParser) -> None:
    add_database_argument(parser)
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed + now → same data)")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of event history (default 760)")
    parser.add_argument("--scale", type=float, default=1.0, help="volume multiplier for events and patrols")
    parser.add_argument("--patrol-days", type=int, default=DEFAULT_PATROL_DAYS, help="days of patrol history")
    parser.add_argument("--now", default=None, help="end of the history, ISO 8601 with offset (default: now)")
    parser.add_argument("--force", action="store_true", help="replace the data of a non-empty database")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def parse_now(text: str | None) -> dt.datetime | None:
    """``--now`` as an aware instant; ValueError (exit 2) when it has no UTC offset."""
    if not text:
        return None
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("--now needs a UTC offset, e.g. 2026-11-28T08:00:00+08:00")
    return value


def run(args: argparse.Namespace) -> int:
    report = seed_database(
        database_url(args),
        seed=args.seed,
        days=args.days,
        scale=args.scale,
        patrol_days=args.patrol_days,
        now=parse_now(args.now),
        progress=not args.quiet,
        force=args.force,
    )
    print(report.summary())
    return 0
