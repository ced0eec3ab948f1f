"""``python -m dashboard soak``: many polling screens, then a wall tab in Chromium, with the live feed for a
long time (see :mod:`dashboard.perf.soak`); exits 1 when the soak fails (errors, growing worker memory, a
dead feed, a wall tab whose heap, DOM nodes or listeners grow).

python -m dashboard soak                          # 200 screens for an hour, then the wall tab for 5,000 s
python -m dashboard soak --minutes 10 --clients 50 --wall-cycles 600
python -m dashboard soak --sections wall          # only the wall tab in Chromium
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from dashboard.perf.soak import SECTIONS, SoakConfig, describe, run_soak, write_report
from dashboard.perf.wallsoak import WallSoakConfig


def configure(parser: argparse.ArgumentParser) -> None:
    d = SoakConfig()
    parser.add_argument("--minutes", type=float, default=d.minutes, help="how long the screens poll")
    parser.add_argument("--clients", type=int, default=d.clients, help="polling screens")
    parser.add_argument("--refresh-seconds", type=int, default=d.refresh_seconds, help="polling interval")
    parser.add_argument("--workers", type=int, default=d.workers, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=d.threads, help="threads per worker")
    parser.add_argument("--scale", type=float, default=d.scale, help="seed scale of the soak district")
    parser.add_argument("--days", type=int, default=d.days, help="days of history of the soak district")
    parser.add_argument("--database-url", default=None, help="an existing SQLite source (default: seeded)")
    parser.add_argument("--no-feed", action="store_true", help="without the live feed")
    parser.add_argument("--feed-rate", type=float, default=d.feed_rate, help="the feed's --rate")
    parser.add_argument("--redis-url", default=d.redis_url, help="Redis for the shared cache (run prefix)")
    parser.add_argument("--data-dir", type=Path, default=d.data_dir, help="dataset, logs and the report")
    parser.add_argument("--max-rss-growth-mb", type=float, default=d.max_rss_growth_mb)
    parser.add_argument("--sections", default=",".join(d.sections), help=f"of {','.join(SECTIONS)}")
    w = d.wall
    parser.add_argument("--wall-cycles", type=int, default=w.cycles, help="the wall tab's refresh cycles")
    parser.add_argument(
        "--wall-refresh-seconds", type=int, default=w.refresh_seconds, help="the wall's refresh"
    )
    parser.add_argument(
        "--wall-sample-every", type=int, default=w.sample_every, help="cycles between samples"
    )
    parser.add_argument(
        "--wall-baseline-cycle", type=int, default=w.baseline_cycle, help="growth is from here"
    )
    parser.add_argument("--wall-max-growth-pct", type=float, default=w.max_growth_pct)
    parser.add_argument("--wall-control-cycles", type=int, default=w.control_cycles, help="a fresh tab after")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    sections = tuple(s for s in args.sections.split(",") if s)
    unknown = set(sections) - set(SECTIONS)
    if unknown or not sections:
        raise SystemExit(f"--sections: choose from {','.join(SECTIONS)} (got {args.sections!r})")
    wall = replace(
        WallSoakConfig(),
        cycles=args.wall_cycles, refresh_seconds=args.wall_refresh_seconds, sample_every=args.wall_sample_every,
        baseline_cycle=args.wall_baseline_cycle, max_growth_pct=args.wall_max_growth_pct,
        control_cycles=args.wall_control_cycles, quiet=args.quiet,
    )  # fmt: skip
    cfg = replace(
        SoakConfig(),
        minutes=args.minutes, clients=args.clients, refresh_seconds=args.refresh_seconds,
        workers=args.workers, threads=args.threads, scale=args.scale, days=args.days,
        database_url=args.database_url, feed=not args.no_feed, feed_rate=args.feed_rate,
        redis_url=args.redis_url, data_dir=args.data_dir, max_rss_growth_mb=args.max_rss_growth_mb,
        quiet=args.quiet, sections=sections, wall=wall,
    )  # fmt: skip
    report = run_soak(cfg)
    files = write_report(report, cfg.data_dir)
    print(describe(report))
    print("report: " + ", ".join(str(f) for f in files[:2]))
    return 1 if report["verdict"] else 0
