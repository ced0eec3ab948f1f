"""``python -m dashboard rollups``: build the event rollups in the state store, or bring them up to date.

python -m dashboard rollups             # the first time: a full build (minutes on millions of events)
python -m dashboard rollups --rebuild   # from scratch (they are derived data: nothing is lost)

The dashboard keeps them current by itself (DASHBOARD_ROLLUPS=on, the default), ``make run`` builds them
on its first start and an import brings them up to date; this command builds them ahead of time for
other servers (gunicorn), so the first screens do not wait for the build (they get the direct queries
meanwhile).
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="the source (default DASHBOARD_DATABASE_URL)")
    parser.add_argument("--state-url", help="where the rollups live (default DASHBOARD_STATE_URL)")
    parser.add_argument("--rebuild", action="store_true", help="drop the rollups and build them again")


def run(args: argparse.Namespace) -> int:
    from dashboard.core.settings import load_settings
    from dashboard.rollups.store import update_rollups

    settings = load_settings()
    report = update_rollups(
        args.database_url or settings.DATABASE_URL,
        args.state_url or settings.STATE_URL,
        rebuild=args.rebuild,
        progress=True,
    )
    print(report.summary())
    return 0
