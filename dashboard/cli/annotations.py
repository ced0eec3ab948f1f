"""``python -m dashboard annotations``: notes on the timeline (亚运会安保, a typhoon, a campaign).

    python -m dashboard annotations list [--from 2026-09-01] [--to 2026-10-01] [--town 瓜沥镇] [--json]
    python -m dashboard annotations add "亚运会安保" --start 2026-09-20 --end 2026-10-09
    python -m dashboard annotations add "台风“梅花”登陆" --start "2026-09-14 18:00" --town 瓜沥镇,党湾镇
    python -m dashboard annotations edit 3 --text "亚运会安保（延长）" --end 2026-10-12
    python -m dashboard annotations delete 3

A note without ``--end`` marks a moment; with it, a period (``--end`` exclusive). Times are local
(Asia/Shanghai) unless they carry an offset. Without ``--town`` a note is about the whole district. The
notes live in the state store (DASHBOARD_STATE_URL) and show on every trend chart within minutes; every
change is audited (actor ``cli:<operating-system user>``), like the API's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from dashboard.cli.users import os_user
from dashboard.core.domain import town_by_code
from dashboard.core.i18n import to_local
from dashboard.core.scope import ROLES, Viewer, parse_towns
from dashboard.core.viewstate import parse_instant
from dashboard.service.annotations import Annotation, AnnotationBook


def _state_argument(parser: argparse.ArgumentParser, default: object = None) -> None:
    parser.add_argument(
        "--state-url", default=default, help="the dashboard's state store (default: DASHBOARD_STATE_URL)"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    _state_argument(parser)
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    listing = actions.add_parser("list", help="the notes touching a window (default: the last 91 days)")
    listing.add_argument("--from", dest="start", help="start (ISO 8601, local time unless an offset)")
    listing.add_argument("--to", dest="end", help="end, exclusive (default: now)")
    listing.add_argument("--town", help="only notes shown in these towns (names or codes, comma)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    add = actions.add_parser("add", help="a new note: a moment, or a period with --end")
    add.add_argument("text")
    add.add_argument("--start", required=True, help="when (ISO 8601, local time unless an offset)")
    add.add_argument("--end", help="the end of a period, exclusive; absent: a moment")
    add.add_argument("--town", help="the towns it is about (names or codes, comma); absent: the district")
    edit = actions.add_parser("edit", help="change a note's text or times")
    edit.add_argument("id", type=int)
    edit.add_argument("--text")
    edit.add_argument("--start")
    edit.add_argument("--end", help="a new end; 'none' makes it a moment")
    remove = actions.add_parser("delete", help="delete a note (the audit log keeps what it said)")
    remove.add_argument("id", type=int)
    for action in (listing, add, edit, remove):  # also after the action
        _state_argument(action, argparse.SUPPRESS)


def open_book(args: argparse.Namespace) -> AnnotationBook:
    from dashboard.core.settings import load_settings
    from dashboard.service.state import StateStore

    settings = load_settings()
    return AnnotationBook(StateStore(args.state_url or settings.STATE_URL))


def describe(note: Annotation) -> str:
    names = town_by_code()
    where = "、".join(names[c].name_zh if c in names else c for c in sorted(note.towns)) or "全区"
    span = f"{to_local(note.starts_at):%Y-%m-%d %H:%M}"
    if note.ends_at is not None:
        span += f" — {to_local(note.ends_at):%Y-%m-%d %H:%M}"
    return f"#{note.id}  {span}  [{where}]  {note.text}  (by {note.updated_by or note.created_by})"


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (LookupError, PermissionError) as exc:  # no such note: a clear message, no traceback
        print(f"error: {exc}")
        return 1


def _run(args: argparse.Namespace) -> int:
    book = open_book(args)
    actor = f"cli:{os_user()}"
    admin = Viewer(actor, ROLES["admin"], None, kind="cli")  # the command line acts for the district
    now = dt.datetime.now(dt.UTC)
    if args.action == "list":
        end = parse_instant(args.end, param="to") if args.end else now
        start = parse_instant(args.start, param="from") if args.start else end - dt.timedelta(days=91)
        notes = book.between(start, end, parse_towns(args.town))
        if args.json:
            print(json.dumps([n.to_dict() for n in notes], ensure_ascii=False, indent=1))
        for note in [] if args.json else notes:
            print(describe(note))
        return 0
    if args.action == "add":
        starts = parse_instant(args.start, param="start")
        ends = parse_instant(args.end, param="end") if args.end else None
        towns = parse_towns(args.town) or frozenset()
        print(describe(book.add(args.text, starts, ends, towns, admin, actor, now)))
    elif args.action == "edit":
        new_end: dt.datetime | bool | None = False  # False: keep the end
        if args.end is not None:
            new_end = None if args.end.strip().lower() == "none" else parse_instant(args.end, param="end")
        new_start = parse_instant(args.start, param="start") if args.start else None
        changed = book.edit(args.id, admin, actor, now, text=args.text, starts_at=new_start, ends_at=new_end)
        print(describe(changed))
    else:
        print(f"deleted {describe(book.delete(args.id, admin, actor, now))}")
    return 0
