"""``python -m dashboard init-db``: create the canonical schema on any supported database."""

from __future__ import annotations

import argparse

from dashboard.cli.common import add_database_argument, database_url
from dashboard.source.engines import backend_name, init_db


def configure(parser: argparse.ArgumentParser) -> None:
    add_database_argument(parser)


def run(args: argparse.Namespace) -> int:
    url = database_url(args)
    engine = init_db(url)
    print(f"schema ready on {backend_name(url)}: {engine.url.render_as_string(hide_password=True)}")
    engine.dispose()
    return 0
