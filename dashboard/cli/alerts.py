"""``python -m dashboard alerts rules``: the alert thresholds of each town, beside the district defaults.

    python -m dashboard alerts rules list                       # every parameter: default, towns' own
    python -m dashboard alerts rules set 瓜沥镇 min_cases 8      # 瓜沥镇's own minimum for a surge
    python -m dashboard alerts rules unset 瓜沥镇 min_cases      # back to the district default

Parameters (the registry's ``ALERT_PARAMS``): min_cases, sigma, weeks (上报激增), overdue_growth,
overdue_minutes (超期增长). The district default of each is its ``DASHBOARD_ALERT_*`` setting; a town's own
value wins over it. Values live in the state store (DASHBOARD_STATE_URL); every change is audited
(actor ``cli:<operating-system user>``), like the 告警 page's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from dashboard.cli.users import os_user
from dashboard.core.domain import town_by_code
from dashboard.core.i18n import to_local
from dashboard.core.metrics import ALERT_PARAMS, ALERT_RULES
from dashboard.core.scope import parse_towns
from dashboard.service.alert_rules import AlertRules


def _state_argument(parser: argparse.ArgumentParser, default: object = None) -> None:
    parser.add_argument(
        "--state-url", default=default, help="the dashboard's state store (default: DASHBOARD_STATE_URL)"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    _state_argument(parser)
    sub = parser.add_subparsers(dest="what", metavar="<what>", required=True)
    rules = sub.add_parser("rules", help="the alert thresholds per town: list, set, unset")
    actions = rules.add_subparsers(dest="action", metavar="<action>", required=True)
    listing = actions.add_parser("list", help="every parameter: its default and the towns' own values")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    names = ", ".join(ALERT_PARAMS)
    change = actions.add_parser("set", help="give a town its own value of a parameter")
    change.add_argument("town", help="a town's name or code")
    change.add_argument("param", choices=list(ALERT_PARAMS), metavar="param", help=names)
    change.add_argument("value")
    clear = actions.add_parser("unset", help="give a town the district default again")
    clear.add_argument("town", help="a town's name or code")
    clear.add_argument("param", choices=list(ALERT_PARAMS), metavar="param", help=names)
    for action in (listing, change, clear):  # also after the action (a sub-parser's own default: kept)
        _state_argument(action, argparse.SUPPRESS)


def open_rules(args: argparse.Namespace) -> AlertRules:
    from dashboard.core.settings import load_settings
    from dashboard.service.factory import alert_rules
    from dashboard.service.state import StateStore

    settings = load_settings()
    return alert_rules(settings, StateStore(args.state_url or settings.STATE_URL))


def one_town(text: str) -> str:
    """The code of one town named by name or code (ValueError otherwise)."""
    found = parse_towns(text)
    if found is None or len(found) != 1:
        raise ValueError(f"town: name one town, got {text!r}")
    return next(iter(found))


def run(args: argparse.Namespace) -> int:
    rules = open_rules(args)
    actor = f"cli:{os_user()}"
    now = dt.datetime.now(dt.UTC)
    if args.action == "list":
        return _list(rules, as_json=args.json)
    town = one_town(args.town)
    name = town_by_code()[town].name_zh
    if args.action == "set":
        made = rules.set(town, args.param, args.value, actor, now)
        print(f"{name} ({town}) {args.param} = {made.value:g}")
    elif rules.unset(town, args.param, actor, now):
        print(f"{name} ({town}) {args.param}: back to the default {getattr(rules.defaults, args.param):g}")
    else:
        print(
            f"{name} ({town}) {args.param}: had no value of its own (default {getattr(rules.defaults, args.param):g})"
        )
    return 0


def _list(rules: AlertRules, *, as_json: bool) -> int:
    own = rules.overrides()
    names = town_by_code()
    if as_json:
        rows = {
            "defaults": {p: getattr(rules.defaults, p) for p in ALERT_PARAMS},
            "towns": [
                {
                    "town": o.town_code,
                    "param": o.param,
                    "value": o.value,
                    "set_by": o.set_by,
                    "set_at": o.set_at.isoformat(),
                }
                for o in own
            ],
        }
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    for rule in ALERT_RULES.values():
        print(f"{rule.zh} ({rule.kind})")
        for param in rule.params:
            print(f"  {param.name:<16} default {getattr(rules.defaults, param.name):g}  ({param.setting})")
            for o in own:
                if o.param == param.name:
                    town = names[o.town_code].name_zh if o.town_code in names else o.town_code
                    print(
                        f"    {town} ({o.town_code}) {o.value:g}  set by {o.set_by} at {to_local(o.set_at):%Y-%m-%d %H:%M}"
                    )
    return 0
