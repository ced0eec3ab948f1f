"""Event list: server-side keyset paging and sorting; the CSV link carries the same view."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, ctx

from callbacks.filters import view_from_store
from dashboard.core.viewstate import to_query
from dashboard.source.eventlist import COLUMNS, CSV_ROW_CAP, PAGE_SIZE, Sort, fetch_page, keyset_of
from dashboard.web.accounts import current_viewer


def columns(lang: str) -> list[dict[str, str]]:
    sortable = {"event_no", "reported_at", "deadline_at", "priority"}
    return [
        {"id": key, "name": en if lang == "en" else zh, "sortable": key in sortable}  # type: ignore[dict-item]
        for key, zh, en in COLUMNS
    ]


def sort_from_table(sort_by: list[dict[str, str]] | None) -> Sort:
    if not sort_by:
        return Sort()
    column = {
        "reported_at": "reported_at",
        "event_no": "event_no",
        "deadline_at": "deadline_at",
        "priority": "priority",
    }.get(sort_by[0]["column_id"], "reported_at")
    return Sort(column, sort_by[0]["direction"] == "desc")


@callback(
    Output("ev-table", "columns"),
    Output("ev-table", "data"),
    Output("ev-cursor", "data"),
    Output("ev-summary", "children"),
    Output("ev-csv", "href"),
    Output("ev-table", "page_current"),
    Input("view", "data"),
    Input("ev-table", "page_current"),
    Input("ev-table", "sort_by"),
    State("ev-cursor", "data"),
)
def page_events(
    query: str | None, page: int | None, sort_by: list[dict[str, str]] | None, cursor: dict[str, Any] | None
) -> tuple[Any, ...]:
    """Page ``page`` of the filtered events, walking keysets from the nearest known page."""
    from dashboard.web.app import get_clock, get_source_engine

    view = view_from_store(query)
    sort = sort_from_table(sort_by)
    # A new filter or sort order starts again at the first page.
    page = (
        0 if ctx.triggered_id in {"view"} or ctx.triggered_prop_ids.get("ev-table.sort_by") else (page or 0)
    )
    signature = f"{query}|{sort}"
    cursor = cursor if cursor and cursor.get("sig") == signature else {"sig": signature, "keys": {"0": None}}
    now = view.as_of or get_clock().now()
    with get_source_engine().connect() as conn:
        known = max(int(p) for p in cursor["keys"] if int(p) <= page)
        after = cursor["keys"][str(known)]
        rows: list[dict[str, Any]] = []
        for current in range(known, page + 1):
            rows = fetch_page(conn, view, now, sort=sort, after=after, viewer=current_viewer())
            if not rows:
                break
            after = keyset_of(rows[-1], sort)
            cursor["keys"][str(current + 1)] = after
    data = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    lang = view.lang
    personal = current_viewer().personal
    masked_en = "" if personal else "; names, phones and addresses are masked"
    masked_zh = "" if personal else "；姓名、电话和地址已脱敏"
    summary = (
        f"Page {page + 1}, {PAGE_SIZE} rows per page; CSV export is capped at {CSV_ROW_CAP:,} rows{masked_en}"
        if lang == "en"
        else f"第 {page + 1} 页，每页 {PAGE_SIZE} 条；CSV 导出上限 {CSV_ROW_CAP:,} 行{masked_zh}"
    )
    return columns(lang), data, cursor, summary, "/download/events.csv?" + to_query(view), page
