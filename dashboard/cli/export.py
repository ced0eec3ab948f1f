"""``python -m dashboard export``: the current view as a slide deck (PPTX), a PDF or one panel's PNG.

The same view flags as every other entry point (``--town``, ``--period`` …), and the same
:func:`dashboard.export.exporter.export_view` as the browser's export button and ``/export/*``, so a file made
here equals the one downloaded from the screen for the same view. It takes a slot of the same export
queue as they do (:mod:`dashboard.export.queue`), waiting for one, and saying so, while the deployment
is busy with others.

    python -m dashboard export --format pptx --town 城厢街道 --period week --out week.pptx
    python -m dashboard export --format pdf --pages overview,backlog --out board.pdf
    python -m dashboard export --format png --panel backlog_map --out map.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dashboard.cli.common import add_database_argument
from dashboard.core.scope import DISTRICT
from dashboard.core.viewstate import add_view_arguments, view_from_args
from dashboard.export.common import CHART_PANELS, FORMATS, PAGES, PNG_SIZE, ExportError, png_size


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="pptx, pdf or png (default: from the --out file's suffix)",
    )
    parser.add_argument("--out", required=True, help="file to write (- for standard output)")
    parser.add_argument(
        "--pages",
        default=None,
        help=f"deck pages, comma-separated, from {', '.join(PAGES)} (default: all)",
    )
    parser.add_argument("--panel", default=None, help=f"the chart of a PNG: {', '.join(CHART_PANELS)}")
    parser.add_argument(
        "--width", type=int, default=PNG_SIZE[0], help="PNG width in CSS pixels (drawn at 2x)"
    )
    parser.add_argument(
        "--height", type=int, default=PNG_SIZE[1], help="PNG height in CSS pixels (drawn at 2x)"
    )
    add_view_arguments(parser)
    add_database_argument(parser)


def output_format(args: argparse.Namespace) -> str:
    """``--format``, or the suffix of ``--out``; ValueError naming --format when neither says."""
    if args.format:
        return str(args.format)
    suffix = Path(args.out).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise ValueError(
        f"--format: give pptx, pdf or png (the --out suffix {suffix or '(none)'!r} does not say)"
    )


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args)
    view = view_from_args(args)  # ViewStateError (a ValueError) names the flag; cli.main exits 2
    width, height = (
        png_size("--width", args.width, PNG_SIZE[0]),
        png_size("--height", args.height, PNG_SIZE[1]),
    )
    if fmt == "png" and not args.panel:
        raise ValueError("--panel: required with --format png (e.g. --panel backlog_map)")
    from dashboard.core.settings import load_settings
    from dashboard.export.common import parse_pages
    from dashboard.export.exporter import export_view
    from dashboard.export.queue import ExportBusy, ExportQueue
    from dashboard.service.factory import create_service
    from dashboard.source.engines import make_source_engine
    from dashboard.source.units import UnitDirectory

    pages = parse_pages(args.pages) if args.pages else None
    settings = load_settings(**({"DATABASE_URL": args.database_url} if args.database_url else {}))
    service = create_service(settings)
    units = UnitDirectory(make_source_engine(settings.DATABASE_URL, timeout_ms=settings.STATEMENT_TIMEOUT_MS))
    started = time.perf_counter()
    try:
        with ExportQueue(service.cache).wait_for_slot(progress):
            payload, filename, _mime = export_view(
                service,
                units.geojson,
                view,
                fmt,
                pages,
                args.panel,
                scope=DISTRICT,
                width=width,
                height=height,
                progress=progress,
            )
    except (ExportError, ExportBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write(args.out, payload)
    took = time.perf_counter() - started
    where = "standard output" if args.out == "-" else args.out
    progress(f"已写入 / wrote {where} ({len(payload):,} bytes, {took:.1f} s; suggested name {filename})")
    return 0


def write(out: str, payload: bytes) -> None:
    if out == "-":
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
