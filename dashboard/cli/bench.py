"""``python -m dashboard bench``: the district-scale benchmark (see :mod:`dashboard.perf.bench`).

python -m dashboard bench --mode quick     # a small district, about 1-2 minutes once seeded
python -m dashboard bench --mode full      # ≥1M and 10M events on SQLite and PostgreSQL (long)
python -m dashboard bench --mode full --scale 2 --backends postgresql --clients 1,10,50,200
python -m dashboard bench --mode full --scale 17 --backends postgresql --sections rollups,coverage  # 10 M
python -m dashboard bench --retarget data/bench/latest-full.json   # verdicts again, with the latest 10 M run
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dashboard.perf.bench import retarget, run_bench
from dashboard.perf.config import EXTRA_SECTIONS, MODES, SECTIONS, Config


def _floats(text_: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text_.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma list of numbers: {text_!r}") from exc
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("give positive numbers")
    return values


def _ints(text_: str) -> tuple[int, ...]:
    return tuple(int(v) for v in _floats(text_))


def _words(text_: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text_.split(",") if x.strip())


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=tuple(MODES), default="quick",
                        help="full: ≥1M and 10M events (scales 2 and 17, 760 days, a year of patrols), long; quick: a small "
                             "district in 1-2 minutes; tiny: seconds (tests)")  # fmt: skip
    parser.add_argument(
        "--scale", type=_floats, default=None, help="comma list of seed scales (overrides the mode)"
    )
    parser.add_argument("--days", type=int, default=None, help="days of history to seed")
    parser.add_argument(
        "--patrol-days", type=int, default=None, help="days of patrols and check-ins to seed (full: a year)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--backends", type=_words, default=None, help="comma list: sqlite,postgresql")
    parser.add_argument(
        "--http-backend", default=None, help="backend of the gunicorn load test (default postgresql)"
    )
    parser.add_argument(
        "--clients", type=_ints, default=None, help="comma list of client counts, e.g. 1,10,50,200"
    )
    parser.add_argument("--level-seconds", type=float, default=None, help="seconds of load per client count")
    parser.add_argument("--refresh-seconds", type=int, default=None, help="the clients' polling interval")
    parser.add_argument("--repeats", type=int, default=None, help="cold snapshot runs per scope (median)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=None, help="threads per gunicorn worker")
    parser.add_argument(
        "--sections",
        type=_words,
        default=None,
        help=f"comma list from {', '.join(SECTIONS + EXTRA_SECTIONS)} (sql: plain SQL without pandas)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="datasets and reports (default data/bench)"
    )
    parser.add_argument(
        "--postgres-url", default=None, help="PostgreSQL admin URL (creates xsbench_* databases)"
    )
    parser.add_argument(
        "--redis-url", default=None, help="Redis for the shared cache (keys under a run prefix)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--http-rollups",
        action="store_true",
        help="serve the HTTP and feed-latency sections through the dataset's rollups (the fast path)",
    )
    parser.add_argument(
        "--retarget",
        type=Path,
        default=None,
        metavar="REPORT.json",
        help="measure nothing: judge the targets of a written report again with the latest soak and 10 M "
        "reports, and rewrite it and its .md",
    )
    parser.add_argument(
        "--profile-rate",
        type=int,
        default=None,
        help="py-spy samples per second of each server process during the load levels (default 50; 0: off)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    """The run's Config: the mode's sizes with the given options on top."""
    return Config.for_mode(
        args.mode,
        seed=args.seed,
        scales=args.scale,
        days=args.days,
        patrol_days=args.patrol_days,
        backends=args.backends,
        http_backend=args.http_backend,
        clients=args.clients,
        level_seconds=args.level_seconds,
        refresh_seconds=args.refresh_seconds,
        repeats=args.repeats,
        workers=args.workers,
        threads=args.threads,
        sections=args.sections,
        data_dir=args.data_dir,
        pg_url=args.postgres_url,
        http_rollups=args.http_rollups or None,
        redis_url=args.redis_url,
        quiet=args.quiet or None,
        profile_rate=args.profile_rate,
    )


def run(args: argparse.Namespace) -> int:
    if args.retarget is not None:
        report = retarget(args.retarget, config_from_args(args))
        for t in report["targets"]:
            print(f"  {t['verdict']:>12}  {t['target']}")
        print(f"Rewrote {args.retarget} and {args.retarget.with_suffix('.md')}")
        return 0
    report = run_bench(config_from_args(args))
    print(f"\nBenchmark ({report['mode']}, {report['seconds']} s):")
    for line in report["ratios"]:
        print("  " + line)
    for s in report["skipped"]:
        print(f"  skipped {s['what']}: {s['why']}")
    print("Reports: " + ", ".join(report["files"]))
    return 0
