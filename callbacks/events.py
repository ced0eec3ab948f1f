"""Event list: server-side keyset paging and sorting; the CSV link carries the same view."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, ctx

from callbacks.filters import view_from_store
from dashboard.core.eventlist import COLUMNS, CSV_ROW_CAP, PAGE_SIZE, Sort
from dashboard.core.viewstate import to_query
from dashboard.web.context import app_context
from layouts import ids

SORTABLE = ("event_no", "reported_at", "deadline_at", "priority")  # the columns the table lets you sort


def columns(lang: str) -> list[dict[str, Any]]:
    """The table's columns in ``lang``: every column of the list, the sortable ones marked."""
    return [
        {"id": key, "name": en if lang == "en" else zh, "sortable": key in SORTABLE}
        for key, zh, en in COLUMNS
    ]


def sort_from_table(sort_by: list[dict[str, str]] | None) -> Sort:
    """The list's order from the table's ``sort_by`` (newest first when none or unknown)."""
    if not sort_by:
        return Sort()
    column = sort_by[0]["column_id"]
    return Sort(column if column in SORTABLE else "reported_at", sort_by[0]["direction"] == "desc")


def summary(page: int, lang: str, personal: bool) -> str:
    """The line above the table: which page, its size, the CSV cap and whether personal data is masked."""
    if lang == "en":
        masked = "" if personal else "; names, phones and addresses are masked"
        return f"Page {page + 1}, {PAGE_SIZE} rows per page; CSV export is capped at {CSV_ROW_CAP:,} rows{masked}"
    masked = "" if personal else "；姓名、电话和地址已脱敏"
    return f"第 {page + 1} 页，每页 {PAGE_SIZE} 条；CSV 导出上限 {CSV_ROW_CAP:,} 行{masked}"


@callback(
    Output(ids.EV_TABLE, "columns"),
    Output(ids.EV_TABLE, "data"),
    Output(ids.EV_CURSOR, "data"),
    Output(ids.EV_SUMMARY, "children"),
    Output(ids.EV_CSV, "href"),
    Output(ids.EV_TABLE, "page_current"),
    Input(ids.VIEW, "data"),
    Input(ids.EV_TABLE, "page_current"),
    Input(ids.EV_TABLE, "sort_by"),
    State(ids.EV_CURSOR, "data"),
)
def page_events(
    query: str | None, page: int | None, sort_by: list[dict[str, str]] | None, cursor: dict[str, Any] | None
) -> tuple[Any, ...]:
    """Page ``page`` of the filtered events, walking keysets from the nearest known page."""
    context = app_context()
    view = view_from_store(query)
    sort = sort_from_table(sort_by)
    # A new filter or sort order starts again at the first page.
    new_order = ctx.triggered_id in {ids.VIEW} or ctx.triggered_prop_ids.get(f"{ids.EV_TABLE}.sort_by")
    page = 0 if new_order else (page or 0)
    signature = f"{query}|{sort}"
    cursor = cursor if cursor and cursor.get("sig") == signature else {"sig": signature, "keys": {"0": None}}
    now = view.as_of or context.now()
    viewer = context.viewer()
    known = max(int(p) for p in cursor["keys"] if int(p) <= page)
    after = cursor["keys"][str(known)]
    rows: list[dict[str, Any]] = []
    for current in range(known, page + 1):
        found = context.event_page(view, sort, after, now=now, viewer=viewer)
        rows = found.rows
        if not rows:
            break
        after = found.after
        cursor["keys"][str(current + 1)] = after
    return (
        columns(view.lang),
        rows,
        cursor,
        summary(page, view.lang, viewer.personal),
        "/download/events.csv?" + to_query(view),
        page,
    )
