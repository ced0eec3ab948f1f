"""``python -m dashboard rollups``: build the event rollups in the state store, or bring them up to date.

python -m dashboard rollups             # the first time: a full build (minutes on millions of events)
python -m dashboard rollups --rebuild   # from scratch, e.g. after an import that rewrote event rows

The dashboard keeps them current by itself when DASHBOARD_ROLLUPS=on; this command builds them ahead of
time, so the first screens do not wait for the build (they get the direct queries meanwhile).
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="the source (default DASHBOARD_DATABASE_URL)")
    parser.add_argument("--state-url", help="where the rollups live (default DASHBOARD_STATE_URL)")
    parser.add_argument("--rebuild", action="store_true", help="drop the rollups and build them again")


def run(args: argparse.Namespace) -> int:
    from dashboard.core.settings import load_settings
    from dashboard.rollups.store import RollupStore
    from dashboard.source.engines import make_source_engine, make_writer_engine

    settings = load_settings()
    source = make_source_engine(args.database_url or settings.DATABASE_URL, timeout_ms=24 * 3_600_000)
    store = RollupStore(make_writer_engine(args.state_url or settings.STATE_URL))
    try:
        with source.connect() as conn:
            report = store.sync(conn, rebuild=args.rebuild, progress=True)
    finally:
        source.dispose()
        store.engine.dispose()
    what = "built" if report.rebuilt else "brought up to date"
    print(
        f"rollups {what}: {report.events:,} events, {report.evaluations:,} evaluations in {report.seconds} s"
    )
    return 0
