"""``python -m dashboard init-db``: create the canonical schema on any supported database."""

from __future__ import annotations

import argparse

from dashboard.core.settings import load_settings
from dashboard.source.engines import backend_name, init_db


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the database to write (default: DASHBOARD_DATABASE_URL or the sample SQLite file)",
    )


def database_url(args: argparse.Namespace) -> str:
    return args.database_url or load_settings().DATABASE_URL


def configure(parser: argparse.ArgumentParser) -> None:
    add_database_argument(parser)


def run(args: argparse.Namespace) -> int:
    url = database_url(args)
    engine = init_db(url)
    print(f"schema ready on {backend_name(url)}: {engine.url.render_as_string(hide_password=True)}")
    engine.dispose()
    return 0
