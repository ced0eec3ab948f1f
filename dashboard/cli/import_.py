"""``python -m dashboard import``: load CSV/XLSX exports into the canonical tables, in one transaction.

    python -m dashboard import units.csv grids.xlsx events.csv      # tables inferred from the headers
    python -m dashboard import --table event --dry-run 事件.csv       # check only, write nothing
    python -m dashboard import 镇街边界.zip --crs EPSG:4549          # real boundaries (shapefile, GeoJSON)
    python -m dashboard import --profile sipingtai.toml 事件导出.xlsx  # one system's headers and values

Every bad row is reported (file, line, column, reason) and then nothing is written; see
:mod:`dashboard.ingest.importer` for the file format. When the import wrote events, actions or
evaluations into the dashboard's source, the rollups in its state store are brought up to date before the
command ends (:mod:`dashboard.ingest.rollups`), and it says so; any import that wrote a row bumps the
state store's import epoch, so views of past moments see a backfill (:mod:`dashboard.ingest.epoch`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboard.cli.common import add_database_argument, database_url
from dashboard.ingest.boundaries import CODE_FIELDS
from dashboard.ingest.coords import CHOICES, parse_crs
from dashboard.ingest.epoch import mark_import
from dashboard.ingest.importer import import_files
from dashboard.ingest.results import ImportFailed, print_errors
from dashboard.ingest.rollups import update_after_import
from dashboard.ingest.specs import SPECS
from dashboard.source.units import TTL_SECONDS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="CSV or XLSX files; boundaries as GeoJSON (.geojson/.json) or shapefiles (.shp or a .zip)",
    )
    add_database_argument(parser)
    parser.add_argument(
        "--table",
        default=None,
        help=f"target table (default: inferred from headers and file name): {', '.join(SPECS)}",
    )
    parser.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument(
        "--state-url",
        default=None,
        help="the dashboard state store to update: rollups and import epoch (default DASHBOARD_STATE_URL, when "
        "the import targets DASHBOARD_DATABASE_URL)",
    )
    parser.add_argument("--no-rollups", action="store_true", help="leave the dashboard's rollups alone")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="a column-mapping profile (TOML) for one system's headers and values, e.g. "
        "dashboard/ingest/examples/sipingtai.toml",
    )
    parser.add_argument(
        "--crs",
        default=None,
        help=f"coordinates of boundary files: {CHOICES} (default: the file's .prj or crs member, else wgs84)",
    )
    parser.add_argument(
        "--code-field",
        default=None,
        help="the property that holds each boundary's unit code (default: the first of "
        f"{', '.join(CODE_FIELDS)})",
    )


def state_store_of(args: argparse.Namespace, url: str) -> str | None:
    """The dashboard's state store that follows this import: its own when the import targets its source,
    or ``--state-url``; None for another database."""
    from dashboard.core.settings import load_settings

    settings = load_settings()
    if args.state_url:
        return str(args.state_url)
    return settings.STATE_URL if url == settings.DATABASE_URL else None


def rollup_store_of(args: argparse.Namespace, url: str) -> str | None:
    """The state store whose rollups follow this import (:func:`state_store_of`); None with
    ``--no-rollups`` or DASHBOARD_ROLLUPS=off."""
    from dashboard.core.settings import load_settings

    if args.no_rollups or load_settings().ROLLUPS != "on":
        return None
    return state_store_of(args, url)


def run(args: argparse.Namespace) -> int:
    progress = not args.no_progress and sys.stderr.isatty()
    url = database_url(args)
    try:
        crs = parse_crs(args.crs) if args.crs else None
    except ValueError as exc:
        print(f"import: --crs: {exc}", file=sys.stderr)
        return 2
    try:
        report = import_files(
            url,
            list(args.paths),
            table=args.table,
            dry_run=args.dry_run,
            progress=progress,
            crs=crs,
            code_field=args.code_field,
            profile=args.profile,
        )
    except ImportFailed as exc:
        print_errors(exc.errors)
        print(f"import rejected: {exc}", file=sys.stderr)
        return 1
    for f in report.files:
        print(f.summary())
    for b in report.boundaries:
        print(b.summary())
    if report.boundaries and not report.dry_run:
        print(
            f"boundaries: a running dashboard draws them within {TTL_SECONDS // 60} minutes (its boundary cache)"
        )
    if report.dry_run:
        print("dry run: checked, nothing written")
        return 0
    dashboard_state = state_store_of(args, url)
    epoch = mark_import(dashboard_state, report) if dashboard_state is not None else None
    if epoch is not None:
        print(f"past views: import epoch {epoch}, views of past moments will be computed afresh")
    state_url = rollup_store_of(args, url)
    if state_url is not None:
        print("rollups: bringing them up to date with the import …", flush=True)
        synced = update_after_import(url, state_url, report, progress=progress)
        print(
            synced.summary()
            if synced
            else "rollups: nothing to update (none built yet, or no events written)"
        )
    return 0
