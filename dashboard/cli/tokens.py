"""``python -m dashboard tokens``: kiosk tokens that enrol wall screens.

    python -m dashboard tokens create --name 指挥大厅主屏 --base-url http://10.0.0.5:8050
    python -m dashboard tokens create --name 瓜沥镇分屏 --towns 瓜沥镇
    python -m dashboard tokens list
    python -m dashboard tokens revoke 3f9a0c1b2d

A token is bound to its towns (empty: the whole district). Open the printed enrolment address once on
the wall PC: the dashboard trades the token for a cookie and drops it from the address. Revoking a token
turns its screen into 未授权屏幕 at its next refresh. Only a hash of the secret is stored, so a lost
token cannot be shown again: create a new one.
"""

from __future__ import annotations

import argparse
import json
from urllib.parse import urlencode

from dashboard.cli.users import add_state_argument, audit, open_store
from dashboard.core.domain import town_by_code
from dashboard.core.scope import parse_towns
from dashboard.web.accounts import KioskToken


def configure(parser: argparse.ArgumentParser) -> None:
    add_state_argument(parser)
    sub = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    create = sub.add_parser("create", help="make a token for one wall screen (printed once)")
    create.add_argument("--name", required=True, help="which screen, e.g. 指挥大厅主屏")
    create.add_argument(
        "--towns", default=None, help="town names or codes, comma-separated (default: district)"
    )
    create.add_argument(
        "--base-url", default="http://127.0.0.1:8050", help="the dashboard's address, for the enrolment link"
    )
    create.add_argument(
        "--wall-query", default="", help="wall parameters for the link, e.g. pages=overview,trends"
    )
    revoke = sub.add_parser("revoke", help="revoke a token: its screen shows 未授权屏幕 at the next refresh")
    revoke.add_argument("token_id")
    listing = sub.add_parser("list", help="list tokens (never their secrets)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    if args.action == "create":
        token, secret = store.create_token(args.name, parse_towns(args.towns))
        audit(store, "token_create", f"{token.token_id} {token.name} towns={_towns(token)}")
        query = args.wall_query.lstrip("?")
        link = (
            f"{args.base_url.rstrip('/')}/wall?{query + '&' if query else ''}{urlencode({'kiosk': secret})}"
        )
        print(f"token {token.token_id} for {token.name} ({_towns(token)})")
        print(f"secret (shown once): {secret}")
        print(f"open once on the wall PC: {link}")
    elif args.action == "revoke":
        token = store.revoke_token(args.token_id)
        audit(store, "token_revoke", f"{token.token_id} {token.name}")
        print(f"revoked {token.token_id} ({token.name}): its screen shows 未授权屏幕 at its next refresh")
    else:
        tokens = store.tokens()
        if args.json:
            print(json.dumps([_row(t) for t in tokens], ensure_ascii=False, indent=1, default=str))
            return 0
        if not tokens:
            print("no tokens yet: python -m dashboard tokens create --name 指挥大厅主屏")
        for t in tokens:
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "live"
            used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
            print(f"{t.token_id}  {t.name}  {_towns(t)}  {state}, {used} (UTC)")
    return 0


def _towns(token: KioskToken) -> str:
    if token.towns is None:
        return "全区"
    names = town_by_code()
    return ",".join(names[c].name_zh if c in names else c for c in sorted(token.towns))


def _row(token: KioskToken) -> dict[str, object]:
    return {
        "token_id": token.token_id,
        "name": token.name,
        "towns": sorted(token.towns) if token.towns is not None else None,
        "created_at": token.created_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
    }
