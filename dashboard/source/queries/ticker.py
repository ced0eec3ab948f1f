"""The ticker: the newest events at ``now``, urgent, major and supervised ones first.

No personal data ever leaves this query: reporter name, phone and address are not selected.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, and_, case, or_, select

from dashboard.core import domain
from dashboard.core.viewstate import ViewState
from dashboard.source import schema
from dashboard.source.queries.common import E, closed_by, not_rejected_by, upto
from dashboard.source.queries.scope import event_conditions

WINDOW = dt.timedelta(days=3)  # bounds the reported_at index range; older events are not "news"
SIZE = 20
VILLAGE = schema.admin_unit.alias("village")


def title_en(category_l2: str | None, village_en: str | None) -> str:
    """An English title for the English screens: the title is free text in Chinese, written by the
    reporter; its sub-category and village have English names ("Burst pipe (Longbu Shequ)")."""
    if not category_l2 or category_l2 not in domain.CATEGORY_L2_EN:
        return ""
    name = domain.CATEGORY_L2_EN[category_l2]
    return f"{name} ({village_en})" if village_en else name


def ticker(
    conn: Connection, view: ViewState, now: dt.datetime, names: dict[str, tuple[str, str]] | None = None
) -> list[dict[str, Any]]:
    """Up to 20 events reported in the 3 days before now, prominent first, then newest."""
    cap = upto(now)
    supervised = and_(E.c.supervised_at.is_not(None), E.c.supervised_at < cap)
    prominent = case((or_(E.c.priority.in_(("URGENT", "MAJOR")), supervised), 0), else_=1)
    q = (
        select(
            E.c.event_no,
            E.c.reported_at,
            E.c.town_code,
            E.c.category_l1,
            E.c.priority,
            E.c.title,
            E.c.category_l2,
            VILLAGE.c.name_en.label("village_en"),
            supervised.label("supervised"),
            closed_by(cap).label("closed"),
        )
        .select_from(E.outerjoin(VILLAGE, VILLAGE.c.code == E.c.village_code))
        .where(
            *event_conditions(view),
            E.c.reported_at >= now - WINDOW,
            E.c.reported_at < cap,
            not_rejected_by(cap),
        )
        .order_by(prominent, E.c.reported_at.desc(), E.c.event_no)
        .limit(SIZE)
    )
    towns = names or {t.code: (t.name_zh, t.name_en) for t in domain.towns()}
    out = []
    for r in conn.execute(q).mappings():
        cat = domain.CATEGORIES.get(r["category_l1"])
        prio = domain.PRIORITIES.get(r["priority"])
        town = towns.get(r["town_code"], (r["town_code"], r["town_code"]))
        out.append(
            {
                "event_no": r["event_no"],
                "reported_at": r["reported_at"].isoformat(),
                "town_code": r["town_code"],
                "town_zh": town[0],
                "town_en": town[1],
                "category": r["category_l1"],
                "category_zh": cat.zh if cat else r["category_l1"],
                "category_en": cat.en if cat else r["category_l1"],
                "priority": r["priority"],
                "priority_zh": prio.zh if prio else r["priority"],
                "priority_en": prio.en if prio else r["priority"],
                "supervised": bool(r["supervised"]),
                "closed": bool(r["closed"]),
                "title": r["title"],
                "title_en": title_en(r["category_l2"], r["village_en"]) or r["title"],
            }
        )
    return out
