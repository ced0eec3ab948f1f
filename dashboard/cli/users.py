"""``python -m dashboard users``: accounts for DASHBOARD_AUTH=local or proxy.

    python -m dashboard users add zhang --role staff --towns 瓜沥镇,党湾镇     # asks for the password
    python -m dashboard users add li --role leader --sso                      # signs in through SSO only
    echo "$PASSWORD" | python -m dashboard users passwd zhang --password-stdin
    python -m dashboard users set zhang --towns 瓜沥镇 --disable
    python -m dashboard users list
    python -m dashboard users remove zhang

Roles: admin (whole district, personal data, manages), leader (whole district), handler (their towns,
personal data), staff (their towns). Users live in the dashboard's state store (DASHBOARD_STATE_URL),
never in the source database; every change is written to the audit log.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import secrets
import sys
from typing import Any

from dashboard.core.domain import town_by_code
from dashboard.core.scope import ROLES, parse_towns
from dashboard.web.accounts import MIN_PASSWORD, AuthStore, User


def configure(parser: argparse.ArgumentParser) -> None:
    add_state_argument(parser)
    sub = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    roles = ", ".join(f"{r.code} ({r.en.lower()})" for r in ROLES.values())

    add = sub.add_parser("add", help="add a user", description=f"Add a user. Roles: {roles}.")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=list(ROLES))
    add.add_argument("--towns", default=None, help="town names or codes, comma-separated (handler, staff)")
    add.add_argument("--display-name", default=None)
    how = add.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    how.add_argument("--sso", action="store_true", help="no password: signs in through the SSO proxy only")

    passwd = sub.add_parser("passwd", help="set a user's password (ends their sessions)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    change = sub.add_parser("set", help="change a user's role, towns, name or status")
    change.add_argument("username")
    change.add_argument("--role", choices=list(ROLES))
    change.add_argument("--towns", default=None, help="town names or codes, comma-separated; 'all' to clear")
    change.add_argument("--display-name", default=None)
    status = change.add_mutually_exclusive_group()
    status.add_argument("--disable", action="store_true", help="refuse the user from their next request on")
    status.add_argument("--enable", action="store_true")

    remove = sub.add_parser("remove", help="delete a user")
    remove.add_argument("username")

    listing = sub.add_parser("list", help="list users")
    listing.add_argument("--json", action="store_true", help="machine-readable output")


def add_state_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-url", default=None, help="the dashboard's state store (default: DASHBOARD_STATE_URL)"
    )


def open_store(args: argparse.Namespace) -> AuthStore:
    from dashboard.core.settings import load_settings
    from dashboard.service.state import StateStore

    state = StateStore(args.state_url or load_settings().STATE_URL)  # creates the audit log if new
    return AuthStore(state.engine)


def audit(store: AuthStore, action: str, detail: str) -> None:
    """CLI changes go to the same audit log as sign-ins (actor: the operating-system user)."""
    from dashboard.service.state import StateStore

    StateStore("", engine=store.engine).audit(dt.datetime.now(dt.UTC), f"cli:{os_user()}", action, detail)


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container): the uid says enough
        return str(os.getuid()) if hasattr(os, "getuid") else "admin"


def read_password(from_stdin: bool) -> tuple[str, bool]:
    """The new password and whether it was generated here (then it is printed once)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValueError("password: the two entries differ")
        return first, False
    return secrets.token_urlsafe(12), True


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    action = args.action
    if action == "list":
        return _list(store, as_json=args.json)
    if action == "add":
        password, generated = (None, False) if args.sso else read_password(args.password_stdin)
        user = store.add_user(
            args.username,
            args.role,
            password=password,
            towns=parse_towns(args.towns),
            display_name=args.display_name,
        )
        audit(store, "user_add", f"{user.username} role={user.role.code} towns={_towns(user)}")
        print(f"added {describe(user)}")
        if generated:
            print(f"generated password (shown once, at least {MIN_PASSWORD} characters): {password}")
    elif action == "passwd":
        password, generated = read_password(args.password_stdin)
        user = store.update_user(args.username, password=password)
        audit(store, "user_passwd", user.username)
        print(f"password changed for {user.username}; their sessions end at their next request")
        if generated:
            print(f"generated password (shown once): {password}")
    elif action == "set":
        towns: Any = "keep" if args.towns is None else parse_towns(args.towns)
        disabled = True if args.disable else (False if args.enable else None)
        user = store.update_user(
            args.username, role=args.role, towns=towns, display_name=args.display_name, disabled=disabled
        )
        audit(store, "user_set", describe(user))
        print(f"changed {describe(user)}")
    elif action == "remove":
        store.remove_user(args.username)
        audit(store, "user_remove", args.username)
        print(f"removed {args.username}")
    return 0


def _towns(user: User) -> str:
    if user.towns is None or user.role.district:
        return "全区"
    names = town_by_code()
    return ",".join(names[c].name_zh if c in names else c for c in sorted(user.towns))


def describe(user: User) -> str:
    state = "disabled" if user.disabled else "active"
    login = "password" if user.has_password else "sso"
    return f"{user.username} ({user.role.code}, {_towns(user)}, {login}, {state})"


def _list(store: AuthStore, *, as_json: bool) -> int:
    users = store.users()
    if as_json:
        rows = [
            {
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role.code,
                "towns": sorted(u.towns) if u.towns is not None else None,
                "disabled": u.disabled,
                "sign_in": "password" if u.has_password else "sso",
            }
            for u in users
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not users:
        print("no users yet: python -m dashboard users add NAME --role admin")
    for user in users:
        print(describe(user))
    return 0
