"""Command line: ``python -m dashboard <command> [--help]``.

Each command is a small adapter module of this package, ``dashboard/cli/<command>.py``, which exposes
``configure(parser)`` (its arguments) and ``run(args) -> int`` (the exit status) and calls the functions
of the tool it fronts; the tools themselves hold no argument parsing. Administration commands (init-db,
seed, simulate, import) open their own write connection; the dashboard itself only ever reads the source.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init-db": ("dashboard.cli.initdb", "create the canonical 一张网 schema on a database URL"),
    "seed": ("dashboard.cli.seed", "generate the sample Xiaoshan district with its history up to now"),
    "simulate": (
        "dashboard.cli.simulate",
        "run the live feed: new events, lifecycle actions, patrols, cameras",
    ),
    "import": ("dashboard.cli.import_", "import CSV/XLSX exports into the canonical tables"),
    "serve": ("dashboard.cli.serve", "start the dashboard web server"),
    "export": ("dashboard.cli.export", "export a view as a slide deck (PPTX), PDF or one panel's PNG"),
    "briefing": (
        "dashboard.cli.briefing",
        "make a 日报 / 周汇总 / 月分析 / 季评估 (PPTX and PDF) into the archive, or list the archive",
    ),
    "screenshots": (
        "dashboard.cli.screenshots",
        "headless-Chromium screenshots of every page and wall size",
    ),
    "users": ("dashboard.cli.users", "manage sign-in accounts: add, passwd, set, remove, list"),
    "tokens": ("dashboard.cli.tokens", "manage kiosk tokens of wall screens: create, list, revoke"),
    "alerts": (
        "dashboard.cli.alerts",
        "alert thresholds per town beside the district defaults: rules list, set, unset",
    ),
    "annotations": (
        "dashboard.cli.annotations",
        "notes on the timeline (亚运会安保, a typhoon): list, add, edit, delete",
    ),
    "rollups": (
        "dashboard.cli.rollups",
        "build the event rollups in the state store (the fast path), or bring them up to date",
    ),
    "bench": (
        "dashboard.cli.bench",
        "measure snapshots, HTTP load, memory, feed latency and export at scale",
    ),
    "soak": (
        "dashboard.cli.soak",
        "many polling screens and a wall tab in Chromium with the live feed for a long time: errors, latency, memory",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The parser with one sub-command per entry of COMMANDS."""
    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Xiaoshan 一张网 situational-awareness dashboard",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; usage errors and bad input exit 2 with a message, Ctrl-C exits 130."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except ValueError as exc:  # bad input: a clear message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
