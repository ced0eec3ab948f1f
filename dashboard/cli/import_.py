"""``python -m dashboard import``: load CSV/XLSX exports into the canonical tables, in one transaction.

    python -m dashboard import units.csv grids.xlsx events.csv      # tables inferred from the headers
    python -m dashboard import --table event --dry-run 事件.csv       # check only, write nothing

Every bad row is reported (file, line, column, reason) and then nothing is written; see
:mod:`dashboard.ingest.importer` for the file format.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboard.cli.common import add_database_argument, database_url
from dashboard.ingest.importer import import_files
from dashboard.ingest.results import ImportFailed, print_errors
from dashboard.ingest.specs import SPECS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="CSV or XLSX files")
    add_database_argument(parser)
    parser.add_argument(
        "--table",
        default=None,
        help=f"target table (default: inferred from headers and file name): {', '.join(SPECS)}",
    )
    parser.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    progress = not args.no_progress and sys.stderr.isatty()
    try:
        report = import_files(
            database_url(args), list(args.paths), table=args.table, dry_run=args.dry_run, progress=progress
        )
    except ImportFailed as exc:
        print_errors(exc.errors)
        print(f"import rejected: {exc}", file=sys.stderr)
        return 1
    for f in report.files:
        print(f.summary())
    if report.dry_run:
        print("dry run: checked, nothing written")
    return 0
