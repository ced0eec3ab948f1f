"""The event list (事件明细): keyset paging, sorting and a streamed CSV download.

Keyset, not OFFSET: a page is "the next N rows after this (sort value, event_id)", or the N before
it read backwards, so page 1 and page 10,000 cost the same on millions of rows. The list is counted
once per view and order, and only up to the CSV cap (:func:`count_events`). :func:`turn_page` turns
to the first, previous, next or last page with one query each and refuses any other jump.

Who may see what is decided here, in the data layer, so no screen or download can forget it: the
viewer (an argument: the web layer knows who asks) narrows the view to its towns, and reporters'
names, phone numbers and addresses are masked unless the viewer's role may see personal data.

Every cell of the CSV is neutralised against formula injection (:func:`csv_cell`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, literal, or_, select, tuple_

from dashboard.core import domain
from dashboard.core.eventlist import (
    COLUMNS,
    CSV_ROW_CAP,
    DATE_SORTS,
    NEWEST_FIRST,
    NULLABLE_SORTS,
    PAGE_SIZE,
    SORT_COLUMNS,
    Cursor,
    Keyset,
    Sort,
    keyset_problem,
    page_count,
    parse_instant,
    plan_turn,
)
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


def _conditions(view: ViewState, now: dt.datetime) -> list[ColumnElement[bool]]:
    """The view's filters and its period, up to ``now`` (rows written later are not shown)."""
    period = period_bounds(view, now)
    return [
        *event_conditions(view),
        E.c.reported_at >= period.start,
        E.c.reported_at < min(period.end, now + dt.timedelta(microseconds=1)),
    ]


def _base_query(view: ViewState, now: dt.datetime) -> Any:
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
        .where(*_conditions(view, now))
    )


def keyset_values(sort: Sort, keyset: Sequence[Any]) -> tuple[Any, int]:
    """The typed ``(sort value, event id)`` of a keyset; ValueError for one no page of ours made."""
    if len(keyset) != 2:
        raise ValueError("keyset: expected [value, event id]")
    problem = keyset_problem(list(keyset), sort.column)
    if problem is not None:
        raise ValueError(f"keyset: {problem}")
    value, event_id = keyset
    if value is not None and sort.column in DATE_SORTS:
        value = parse_instant(value)
    return value, event_id


def _order(sort: Sort, *, backwards: bool = False) -> list[ColumnElement[Any]]:
    """The list's order (read from its end with ``backwards``); NULLs of a nullable column come last."""
    col = SORTABLE[sort.column]
    descending = sort.descending != backwards
    order: list[ColumnElement[Any]] = []
    if sort.column in NULLABLE_SORTS:
        order.append(col.is_(None).desc() if backwards else col.is_(None).asc())
    order.append(col.desc() if descending else col.asc())
    order.append(E.c.event_id.desc() if descending else E.c.event_id.asc())
    return order


def _beyond(
    sort: Sort, keyset: Sequence[Any] | None, *, backwards: bool = False
) -> list[ColumnElement[bool]]:
    """The rows after ``keyset`` in the list's order (before it with ``backwards``).

    Besides the row comparison, a plain range on the sort column, so every planner reads the index
    from the keyset on instead of filtering the rows before it (what made deep pages slow).
    """
    if keyset is None:
        return []
    col = SORTABLE[sort.column]
    value, event_id = keyset_values(sort, keyset)
    descending = sort.descending != backwards
    key_id = literal(event_id, E.c.event_id.type)
    if value is None:  # a keyset in the NULL block (deadline_at), which comes last
        beyond_id = E.c.event_id < key_id if descending else E.c.event_id > key_id
        if backwards:
            return [or_(col.is_not(None), and_(col.is_(None), beyond_id))]
        return [col.is_(None), beyond_id]
    key = literal(value, col.type)
    pair, bound = tuple_(col, E.c.event_id), tuple_(key, key_id)
    beyond = [col <= key, pair < bound] if descending else [col >= key, pair > bound]
    if sort.column not in NULLABLE_SORTS:
        return beyond
    if backwards:
        return [col.is_not(None), *beyond]
    return [or_(col.is_(None), and_(*beyond))]


def _fetch(
    conn: Connection,
    view: ViewState,
    now: dt.datetime,
    *,
    sort: Sort,
    keyset: Sequence[Any] | None,
    backwards: bool,
    limit: int,
    viewer: Viewer,
) -> list[dict[str, Any]]:
    view = viewer.scope.apply(view)
    query = (
        _base_query(view, now)
        .where(*_beyond(sort, keyset, backwards=backwards))
        .order_by(*_order(sort, backwards=backwards))
        .limit(limit)
    )
    rows = [present(row, now, view.lang, personal=viewer.personal) for row in conn.execute(query).mappings()]
    return rows[::-1] if backwards else rows


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

    Raises :class:`~dashboard.core.scope.ScopeError` when the view asks for towns outside the viewer's,
    ValueError for a keyset that does not fit the order.
    """
    return _fetch(conn, view, now, sort=sort, keyset=after, backwards=False, limit=limit, viewer=viewer)


def fetch_page_before(
    conn: Connection,
    view: ViewState,
    now: dt.datetime,
    *,
    sort: Sort = NEWEST_FIRST,
    before: Sequence[Any] | None = None,
    limit: int = PAGE_SIZE,
    viewer: Viewer,
) -> list[dict[str, Any]]:
    """The ``limit`` rows just before the keyset ``before`` (the list's last rows for None), in the
    list's order: one query, read from the other end of the same index."""
    return _fetch(conn, view, now, sort=sort, keyset=before, backwards=True, limit=limit, viewer=viewer)


def count_events(
    conn: Connection, view: ViewState, now: dt.datetime, *, cap: int = CSV_ROW_CAP, viewer: Viewer
) -> int:
    """How many events of the list ``viewer`` may see, counted up to ``cap + 1`` and no further: one
    query that stops after ``cap + 1`` index entries however long the history."""
    view = viewer.scope.apply(view)
    matching = select(E.c.event_id).where(*_conditions(view, now)).limit(cap + 1).subquery()
    return int(conn.execute(select(func.count()).select_from(matching)).scalar_one())


def keyset_of(row: dict[str, Any], sort: Sort) -> Keyset:
    """The keyset that continues after ``row`` (JSON-able, for the browser's cursor store)."""
    value = row["_sort"][sort.column]
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    return (value, row["_id"])


@dataclass(frozen=True)
class Turn:
    """A page turn of the list: the rows now on screen and the cursor that goes with them."""

    rows: list[dict[str, Any]] | None  # None: the page on screen stays (a refused jump, or no next page)
    cursor: Cursor
    turn: str  # what was done: one of dashboard.core.eventlist.TURNS


def turn_page(
    conn: Connection,
    view: ViewState,
    now: dt.datetime,
    *,
    sig: str,
    sort: Sort,
    cursor: Cursor | None,
    page: int,
    viewer: Viewer,
) -> Turn:
    """Turn the list to ``page`` from where ``cursor`` stands, with at most two bounded queries.

    Without a cursor (a new view or order) the list is counted (up to the CSV cap) and its first page
    read. Next, previous, first, last and this page are each one keyset query (:func:`plan_turn`); a
    jump to any other page is refused, never walked.
    """
    turn = plan_turn(cursor, page)
    if cursor is None:
        cursor = Cursor(sig, sort, 0, None, None, None, count_events(conn, view, now, viewer=viewer))
    if turn == "refuse":
        return Turn(None, cursor, turn)
    start: Keyset | None = None
    if turn in {"again", "next"}:
        page, start = (cursor.page, cursor.start) if turn == "again" else (cursor.page + 1, cursor.last)
        rows = fetch_page(conn, view, now, sort=sort, after=start, viewer=viewer)
        if not rows and turn == "next":  # the last page was on screen: it stays
            return Turn(None, cursor, "refuse")
    elif turn in {"previous", "last"}:
        if turn == "previous":
            page, size, before = cursor.page - 1, PAGE_SIZE, cursor.first
        else:
            page = (page_count(cursor.total) or 1) - 1
            size, before = cursor.total - page * PAGE_SIZE, None
        # One row more than the page, read backwards: that row is the keyset just before the page.
        found = fetch_page_before(conn, view, now, sort=sort, before=before, limit=size + 1, viewer=viewer)
        start, rows = (keyset_of(found[0], sort), found[1:]) if len(found) > size else (None, [])
        if start is None:  # the page is the top of the list after all (rows came or went since the count)
            page, rows = 0, fetch_page(conn, view, now, sort=sort, viewer=viewer)
    else:
        page, rows = 0, fetch_page(conn, view, now, sort=sort, viewer=viewer)
    first = keyset_of(rows[0], sort) if rows else None
    last = keyset_of(rows[-1], sort) if rows else None
    return Turn(rows, Cursor(sig, sort, page, start, first, last, cursor.total), turn)


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
        "grid_code": row["grid_code"] or (domain.UNGRIDDED_EN if en else domain.UNGRIDDED_ZH),
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


# A spreadsheet reads a cell starting with one of these as a formula (=, +, -, @), or skips them and
# reads on (tab, carriage return). OWASP's advice: start such a cell with a single quote, so it is shown
# as text. The full-width forms (what a Chinese input method types) are treated alike, as a precaution.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def csv_cell(value: Any) -> Any:
    """``value`` made safe for a spreadsheet: text that could start a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


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
            writer.writerow([csv_cell(row[key]) for key, _zh, _en in COLUMNS])
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
