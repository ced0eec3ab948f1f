"""Arguments several commands share: the database a command writes to."""

from __future__ import annotations

import argparse

from dashboard.core.settings import load_settings


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    """``--database-url``: the database a command writes to."""
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the database to write (default: DASHBOARD_DATABASE_URL or the sample SQLite file)",
    )


def database_url(args: argparse.Namespace) -> str:
    """``--database-url``, else the configured source."""
    return args.database_url or load_settings().DATABASE_URL
