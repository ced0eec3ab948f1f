"""``python -m dashboard briefing``: make a 日报 / 周汇总 / 月分析 / 季评估 now, or list the archive.

    python -m dashboard briefing run --kind week --town 瓜沥镇            # last ISO week, 瓜沥镇, PPTX + PDF
    python -m dashboard briefing run --kind month --as-of 2026-12-01T08:00+08:00 --lang en
    python -m dashboard briefing list [--kind week] [--town 瓜沥镇]
    python -m dashboard briefing schedule [--once]          # the hall's cadence (DASHBOARD_BRIEFINGS …)
    python -m dashboard briefing run --kind week --deliver  # and send it: mail, DingTalk, WeCom, JSON
    python -m dashboard briefing define list                 # the stored definitions (what the scheduler runs)
    python -m dashboard briefing define add --kind week --town 瓜沥镇 --mail a@hall.example --webhook hall
    python -m dashboard briefing define update 3 --lang en --district
    python -m dashboard briefing define delete 3

A definition is a kind, a scope (the district or towns), a language and recipients: mail addresses and
the names of webhook targets of ``DASHBOARD_BRIEFING_WEBHOOKS`` (``name=kind:url``; URLs and the relay's
secrets stay in the settings). Definitions live in the state store (``--state-url``, default
DASHBOARD_STATE_URL); each change is audited (actor ``cli:<operating-system user>``), like the 简报
page's. With none stored, the settings' DASHBOARD_BRIEFINGS … are the default definition.

A briefing covers the last whole period before ``--as-of`` (default: now), and goes to the archive
(``--out``, default ``DASHBOARD_BRIEFINGS_DIR``); one already there is not made again
(:mod:`dashboard.briefings.archive`). It takes a slot of the export queue like every other export.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from dashboard.briefings.kinds import KINDS
from dashboard.cli.common import add_database_argument
from dashboard.core.viewstate import parse_instant, parse_query


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    run = sub.add_parser("run", help="make one briefing now (PPTX and PDF) into the archive")
    run.add_argument("--kind", required=True, help=f"{', '.join(KINDS)} (or 日报, 周汇总, 月分析, 季评估)")
    run.add_argument(
        "--town", action="append", default=[], help="a town by name or code (repeat; default: the district)"
    )
    run.add_argument("--lang", choices=("zh", "en"), default="zh")
    run.add_argument(
        "--as-of", default=None, help="make it as if now were this moment (ISO 8601), e.g. for a missed run"
    )
    run.add_argument("--formats", default="pptx,pdf", help="pptx, pdf or both (default pptx,pdf)")
    run.add_argument(
        "--out", type=Path, default=None, help="the archive folder (default DASHBOARD_BRIEFINGS_DIR)"
    )
    run.add_argument(
        "--deliver",
        action="store_true",
        help="send it on the configured channels (mail, webhooks) it has not reached",
    )
    add_database_argument(run)
    schedule = sub.add_parser(
        "schedule",
        help="run the briefings' schedule (DASHBOARD_BRIEFINGS at DASHBOARD_BRIEFING_AT), making missed ones first",
    )
    schedule.add_argument("--once", action="store_true", help="one pass now (what is due), then exit")
    schedule.add_argument(
        "--out", type=Path, default=None, help="the archive folder (default DASHBOARD_BRIEFINGS_DIR)"
    )
    add_database_argument(schedule)
    _configure_define(sub)
    listing = sub.add_parser("list", help="the briefings in the archive, newest first")
    listing.add_argument("--kind", default=None, help=f"only this kind: {', '.join(KINDS)}")
    listing.add_argument("--town", action="append", default=[], help="only briefings within these towns")
    listing.add_argument(
        "--out", type=Path, default=None, help="the archive folder (default DASHBOARD_BRIEFINGS_DIR)"
    )


def _configure_define(sub: Any) -> None:
    define = sub.add_parser(
        "define", help="the briefing definitions the scheduler runs: list, add, update, delete"
    )
    define.add_argument("--state-url", default=None, help="the state store (default: DASHBOARD_STATE_URL)")
    actions = define.add_subparsers(dest="define_action", metavar="<action>", required=True)
    listing = actions.add_parser("list", help="the stored definitions (and the default when none)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    add = actions.add_parser("add", help="define a briefing")
    add.add_argument("--kind", required=True, help=f"{', '.join(KINDS)} (or 日报, 周汇总, 月分析, 季评估)")
    change = actions.add_parser("update", help="change a definition (what is not given is kept)")
    change.add_argument("id", type=int)
    change.add_argument("--kind", default=None, help=f"{', '.join(KINDS)}")
    change.add_argument("--district", action="store_true", help="the whole district instead of towns")
    for parser in (add, change):
        parser.add_argument("--town", action="append", default=None, help="a town by name or code (repeat)")
        parser.add_argument("--lang", choices=("zh", "en"), default=None)
        parser.add_argument("--mail", default=None, help="mail recipients, comma-separated ('' for none)")
        parser.add_argument(
            "--webhook", action="append", default=None, help="a webhook target name of the settings (repeat)"
        )
    drop = actions.add_parser("delete", help="delete a definition")
    drop.add_argument("id", type=int)
    for parser in (listing, add, change, drop):
        parser.add_argument("--state-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _define(args: argparse.Namespace, settings: Any) -> int:
    from dashboard.briefings.deliver import webhook_names
    from dashboard.briefings.kinds import kind_of
    from dashboard.cli.users import os_user
    from dashboard.service.briefing_defs import BriefingDefs
    from dashboard.service.state import StateStore

    book = BriefingDefs(StateStore(args.state_url or settings.STATE_URL))
    action = args.define_action
    if action == "list":
        return _define_list(book, settings, as_json=args.json)
    actor, now = f"cli:{os_user()}", dt.datetime.now(dt.UTC)
    if action == "delete":
        if not book.delete(args.id, actor, now):
            print(f"error: no briefing definition #{args.id}", file=sys.stderr)
            return 1
        print(f"deleted #{args.id}")
        return 0
    known = webhook_names(settings.BRIEFING_WEBHOOKS)
    kind = kind_of(args.kind).key if args.kind else None
    towns = _towns(args.town) if args.town is not None else (() if getattr(args, "district", False) else None)
    try:
        if action == "add":
            made = book.add(
                kind or "", towns or (), args.lang or "zh", args.mail, args.webhook, actor, now,
                known_webhooks=known,
            )  # fmt: skip
        else:
            made = book.update(
                args.id, actor, now, kind=kind, towns=towns, lang=args.lang, mail_to=args.mail,
                webhooks=args.webhook, known_webhooks=known,
            )  # fmt: skip
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{'defined' if action == 'add' else 'updated'}: {_describe(made)}")
    return 0


def _describe(d: Any) -> str:
    from dashboard.briefings.archive import scope_name
    from dashboard.briefings.kinds import kind_of

    to = ", ".join([*d.mail_to, *(f"webhook {w}" for w in d.webhooks)]) or "no recipient (archive only)"
    scope = scope_name(d.towns, "zh")
    return f"#{d.id} {kind_of(d.kind).zh} {scope} ({d.scope}) {d.lang} → {to}"


def _define_list(book: Any, settings: Any, *, as_json: bool) -> int:
    import json

    from dashboard.briefings.defined import jobs

    stored = book.all()
    if as_json:
        print(json.dumps([d.to_dict() for d in stored], ensure_ascii=False, indent=1))
        return 0
    for d in stored:
        print(_describe(d))
    if not stored:
        default = jobs([], settings)
        if not default:
            print("no briefing defined, and DASHBOARD_BRIEFINGS is empty: the scheduler makes none")
        for job in default:
            names = ", ".join(c.name for c in job.channels) or "no channel"
            print(
                f"(default, from the settings) {job.kind} {'+'.join(job.towns) or 'district'} {job.lang} → {names}"
            )
    return 0


def _towns(names: list[str]) -> tuple[str, ...]:
    """Town names or codes as codes (ValueError names --town for one it does not know)."""
    try:
        return parse_query({"town": names}).towns if names else ()
    except ValueError as exc:
        raise ValueError(f"--town: {exc}") from exc


def _formats(text: str) -> tuple[str, ...]:
    chosen = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in chosen if f not in ("pptx", "pdf")]
    if bad or not chosen:
        raise ValueError(f"--formats: {', '.join(bad) or '(none)'} is not pptx or pdf")
    return chosen


def run(args: argparse.Namespace) -> int:
    from dashboard.core.settings import load_settings

    settings = load_settings(
        **({"DATABASE_URL": args.database_url} if getattr(args, "database_url", None) else {})
    )
    if args.action == "define":
        return _define(args, settings)
    root = args.out or Path(settings.BRIEFINGS_DIR)
    if args.action == "list":
        return _list(root, args)
    if args.action == "schedule":
        return _schedule(root, args, settings)
    return _run(root, args, settings)


def _schedule(root: Path, args: argparse.Namespace, settings: Any) -> int:
    from dashboard.briefings.defined import jobs, scheduled_pass
    from dashboard.briefings.schedule import Plan, start_scheduler
    from dashboard.service.briefing_defs import BriefingDefs
    from dashboard.service.factory import create_service
    from dashboard.source.engines import make_source_engine
    from dashboard.source.units import UnitDirectory

    service = create_service(settings)
    book = BriefingDefs(service.state)
    found = jobs(book.all(), settings)
    if not found:
        print(
            "no briefing is defined (the 简报 page, `briefing define add`) and DASHBOARD_BRIEFINGS is empty"
        )
        return 0
    units = UnitDirectory(make_source_engine(settings.DATABASE_URL, timeout_ms=settings.STATEMENT_TIMEOUT_MS))
    one_pass = scheduled_pass(
        service, units.geojson, root, settings, book.all, lambda: dt.datetime.now(dt.UTC),
        say=lambda line: print(line, flush=True),
    )  # fmt: skip
    if args.once:
        one_pass()
        return 0
    plan = Plan.from_settings(",".join(KINDS), settings.BRIEFING_AT, "district")
    where = "the stored definitions" if found[0].source != "settings" else "DASHBOARD_BRIEFINGS"
    print(
        f"briefings: {len(found)} from {where}, at {plan.at:%H:%M} Asia/Shanghai into {root} (Ctrl-C stops)",
        flush=True,
    )
    start_scheduler(one_pass, plan, blocking=True)
    return 0


def _list(root: Path, args: argparse.Namespace) -> int:
    from dashboard.briefings.archive import list_archive
    from dashboard.briefings.kinds import kind_of

    kind = kind_of(args.kind).key if args.kind else None
    towns = _towns(args.town) or None
    entries = list_archive(root, towns=towns, kind=kind)
    if not entries:
        print(f"no briefings in {root}")
        return 0
    for e in entries:
        print(f"{e.kind:8} {e.period:10} {e.scope:22} {e.lang}  {e.title}  ({', '.join(e.files)})")
    return 0


def _run(root: Path, args: argparse.Namespace, settings: object) -> int:
    from dashboard.briefings.archive import run_briefing
    from dashboard.core.scope import DISTRICT
    from dashboard.export.common import ExportError
    from dashboard.export.queue import ExportBusy, ExportQueue
    from dashboard.service.factory import create_service
    from dashboard.source.engines import make_source_engine
    from dashboard.source.units import UnitDirectory

    towns, formats = _towns(args.town), _formats(args.formats)
    now = parse_instant(args.as_of, param="--as-of") if args.as_of else dt.datetime.now(dt.UTC)
    service = create_service(settings)  # type: ignore[arg-type]
    url, timeout = settings.DATABASE_URL, settings.STATEMENT_TIMEOUT_MS  # type: ignore[attr-defined]
    units = UnitDirectory(make_source_engine(url, timeout_ms=timeout))
    try:
        with ExportQueue(service.cache).wait_for_slot(_say):
            entry, made = run_briefing(
                service, units.geojson, root, kind=args.kind, towns=towns, lang=args.lang, now=now,
                scope=DISTRICT, formats=formats, progress=_say,
            )  # fmt: skip
    except (ExportError, ExportBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = root / entry.kind / entry.period
    print(
        f"{'made' if made else 'already in the archive'}: {entry.title} → {where} ({', '.join(entry.files)})"
    )
    if args.deliver:
        return _deliver_one(where / f"{entry.scope}-{entry.lang}.json", settings)
    return 0


def _deliver_one(manifest: Path, settings: Any) -> int:
    from dashboard.briefings.deliver import deliver

    channels = _channels(settings)
    if not channels:
        print("no channel configured (DASHBOARD_BRIEFING_SMTP, DASHBOARD_BRIEFING_WEBHOOKS)", file=sys.stderr)
        return 1
    outcome = deliver(manifest, channels, public_url=settings.PUBLIC_URL)
    _report_deliveries({str(manifest): outcome})
    return 0 if all(o["ok"] for o in outcome.values()) else 1


def _channels(settings: Any) -> list[Any]:
    from dashboard.briefings.deliver import channels_from_settings

    return channels_from_settings(
        settings.BRIEFING_SMTP, settings.BRIEFING_MAIL_TO, settings.BRIEFING_WEBHOOKS
    )


def _report_deliveries(sent: dict[str, dict[str, dict[str, Any]]]) -> None:
    for where, outcome in sent.items():
        for channel, o in outcome.items():
            tries = f"{o['attempts']} attempt{'s' if o['attempts'] > 1 else ''}"
            state = f"sent ({tries})" if o["ok"] else f"FAILED after {tries}: {o['error']}"
            print(f"{Path(where).name}: {channel}: {state}", flush=True)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
