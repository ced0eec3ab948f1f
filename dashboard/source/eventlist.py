"""The event list (事件明细): keyset paging, sorting and a streamed CSV download.

Keyset, not OFFSET/COUNT: a page is "the next N rows after this (sort value, event_id)", so page 1
and page 10,000 cost the same on millions of rows, and no total count is ever computed.

Who may see what is decided here, in the data layer, so no screen or download can forget it: the
viewer (an argument: the web layer knows who asks) narrows the view to its towns, and reporters' names, phone numbers and addresses are masked unless
the viewer's role may see personal data.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, or_, select, tuple_

from dashboard.core import domain
from dashboard.core.eventlist import COLUMNS, CSV_ROW_CAP, NEWEST_FIRST, PAGE_SIZE, SORT_COLUMNS, Sort
from dashboard.core.i18n import SHANGHAI
from dashboard.core.periods import period_bounds
from dashboard.core.scope import Viewer
from dashboard.core.viewstate import ViewState
from dashboard.source import schema
from dashboard.source.queries.scope import event_conditions

E = schema.event
CSV_BATCH = 5_000

# The SQL column behind each sort order of the list (the orders themselves are core data).
SORTABLE = {name: E.c[name] for name in SORT_COLUMNS}


def mask_name(name: str | None) -> str:
    """张三丰 → 张**: keep the surname, hide the rest."""
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str | None) -> str:
    """13812345678 → 138****5678."""
    if not phone:
        return ""
    digits = phone.replace(" ", "")
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 7 else "****"


_PLACE_END = re.compile(r"^.*?(?:街道|社区|村|镇)(?!.*(?:街道|社区|村|镇))")


def mask_address(address: str | None) -> str:
    """萧山区瓜沥镇东恩村建设路12号 → 萧山区瓜沥镇东恩村****: the place, not the door."""
    if not address:
        return ""
    place = _PLACE_END.match(address)
    return (place.group(0) if place else address[:4]) + "****"


def status_at(now: dt.datetime) -> ColumnElement[Any]:
    """The status as the board stood at ``now``, from timestamps (time travel safe)."""
    return case(
        (and_(E.c.closed_at.is_not(None), E.c.closed_at <= now), "CLOSED"),
        (and_(E.c.rejected_at.is_not(None), E.c.rejected_at <= now), "REJECTED"),
        (and_(E.c.handled_at.is_not(None), E.c.handled_at <= now), "HANDLED"),
        (and_(E.c.signed_at.is_not(None), E.c.signed_at <= now), "IN_PROGRESS"),
        (and_(E.c.dispatched_at.is_not(None), E.c.dispatched_at <= now), "DISPATCHED"),
        (and_(E.c.accepted_at.is_not(None), E.c.accepted_at <= now), "ACCEPTED"),
        else_="REPORTED",
    )


def _base_query(view: ViewState, now: dt.datetime) -> Any:
    period = period_bounds(view, now)
    d = schema.department
    return (
        select(
            E.c.event_id,
            E.c.event_no,
            E.c.reported_at,
            E.c.town_code,
            E.c.grid_code,
            E.c.category_l1,
            E.c.source,
            E.c.priority,
            status_at(now).label("status_now"),
            E.c.dispatch_dept_code,
            d.c.name_zh.label("dept_zh"),  # town platforms (四个平台) are only named in the table
            d.c.name_en.label("dept_en"),
            E.c.deadline_at,
            E.c.extended_deadline_at,
            E.c.closed_at,
            E.c.supervised_at,
            E.c.reporter_name,
            E.c.reporter_phone,
            E.c.address,
            E.c.title,
        )
        .select_from(E.outerjoin(d, d.c.dept_code == E.c.dispatch_dept_code))
        .where(
            *event_conditions(view),
            E.c.reported_at >= period.start,
            E.c.reported_at < min(period.end, now + dt.timedelta(microseconds=1)),
        )
    )


def _keyset(sort: Sort, after: Sequence[Any] | None) -> list[ColumnElement[bool]]:
    if not after:
        return []
    col = SORTABLE[sort.column]
    value, event_id = after
    if sort.column in {"reported_at", "deadline_at"} and isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is None:  # NULLs sort last: continue inside the NULL block only
        return [col.is_(None), E.c.event_id < event_id if sort.descending else E.c.event_id > event_id]
    if sort.descending:
        return [or_(col.is_(None), tuple_(col, E.c.event_id) < tuple_(value, event_id))]
    return [or_(col.is_(None), tuple_(col, E.c.event_id) > tuple_(value, event_id))]


def fetch_page(
    conn: Connection,
    view: ViewState,
    now: dt.datetime,
    *,
    sort: Sort = NEWEST_FIRST,
    after: Sequence[Any] | None = None,
    limit: int = PAGE_SIZE,
    viewer: Viewer,
) -> list[dict[str, Any]]:
    """One page of the events ``viewer`` may see, starting after the keyset ``after``.

    Raises :class:`~dashboard.core.scope.ScopeError` when the view asks for towns outside the viewer's.
    """
    view = viewer.scope.apply(view)
    col = SORTABLE[sort.column]
    order = [col.is_(None), col.desc() if sort.descending else col.asc()]
    order.append(E.c.event_id.desc() if sort.descending else E.c.event_id.asc())
    query = _base_query(view, now).where(*_keyset(sort, after)).order_by(*order).limit(limit)
    return [present(row, now, view.lang, personal=viewer.personal) for row in conn.execute(query).mappings()]


def keyset_of(row: dict[str, Any], sort: Sort) -> list[Any]:
    """The keyset that continues after ``row`` (JSON-able, for the browser's cursor store)."""
    value = row["_sort"][sort.column]
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    return [value, row["_id"]]


def _local(moment: dt.datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


def present(row: Any, now: dt.datetime, lang: str, *, personal: bool = False) -> dict[str, Any]:
    """A display row: labels in ``lang``, times in Asia/Shanghai, personal data masked unless ``personal``."""
    en = lang == "en"
    towns = domain.town_by_code()
    town = towns.get(row["town_code"])
    deadline = row["extended_deadline_at"] or row["deadline_at"]
    closed = row["closed_at"] if row["closed_at"] and row["closed_at"] <= now else None
    overdue = bool(deadline and ((closed or now) > deadline))
    supervised = bool(row["supervised_at"] and row["supervised_at"] <= now)

    def lab(table: dict[str, domain.Label], code: str | None) -> str:
        item = table.get(code or "")
        return (item.en if en else item.zh) if item else (code or "")

    yes, no = ("Yes", "") if en else ("是", "")
    return {
        "event_no": row["event_no"],
        "reported_at": _local(row["reported_at"]),
        "town": (town.name_en if en else town.name_zh) if town else row["town_code"],
        "grid_code": row["grid_code"],
        "category": lab(domain.CATEGORIES, row["category_l1"]),
        "source": lab(domain.SOURCES, row["source"]),
        "priority": lab(domain.PRIORITIES, row["priority"]),
        "status": lab(domain.STATUSES, row["status_now"]),
        "dept": (row["dept_en"] if en else row["dept_zh"])
        or lab(domain.DEPARTMENTS, row["dispatch_dept_code"]),
        "deadline_at": _local(deadline),
        "overdue": yes if overdue else no,
        "supervised": yes if supervised else no,
        "reporter": (row["reporter_name"] or "") if personal else mask_name(row["reporter_name"]),
        "phone": (row["reporter_phone"] or "") if personal else mask_phone(row["reporter_phone"]),
        "address": (row["address"] or "") if personal else mask_address(row["address"]),
        "title": row["title"],
        "_id": row["event_id"],
        "_sort": {k: row[k] for k in SORTABLE},
    }


def csv_rows(
    conn: Connection,
    view: ViewState,
    now: dt.datetime,
    *,
    sort: Sort = NEWEST_FIRST,
    cap: int = CSV_ROW_CAP,
    viewer: Viewer,
) -> Iterator[str]:
    """The filtered events as CSV text chunks: UTF-8 with BOM (Excel on Chinese Windows), streamed in batches.

    The caller resolves ``viewer`` before the first chunk: a streamed body outlives the request's context.
    """
    view = viewer.scope.apply(view)
    en = view.lang == "en"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    writer.writerow([en_label if en else zh for _key, zh, en_label in COLUMNS])
    sent, after = 0, None
    while sent < cap:
        limit = min(CSV_BATCH, cap - sent)
        rows = fetch_page(conn, view, now, sort=sort, after=after, limit=limit, viewer=viewer)
        for row in rows:
            writer.writerow([row[key] for key, _zh, _en in COLUMNS])
        sent += len(rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < limit:
            return  # every matching row was sent
        after = keyset_of(rows[-1], sort)
    if fetch_page(conn, view, now, sort=sort, after=after, limit=1, viewer=viewer):
        note = f"# truncated at {cap:,} rows" if en else f"# 已截断：最多导出 {cap:,} 行"
        yield note + "\r\n"
