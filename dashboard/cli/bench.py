"""``python -m dashboard bench``: the district-scale benchmark (see :mod:`dashboard.perf.bench`).

python -m dashboard bench --mode quick     # a small district, about 1-2 minutes once seeded
python -m dashboard bench --mode full      # ≥1M and 10M events on SQLite and PostgreSQL (long)
python -m dashboard bench --mode full --scale 2 --backends postgresql --clients 1,10,50,200
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from dashboard.perf.bench import configure as configure_bench

    configure_bench(parser)


def run(args: argparse.Namespace) -> int:
    from dashboard.perf.bench import run as run_bench

    return run_bench(args)
