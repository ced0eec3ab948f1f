"""Event list: server-side keyset paging (first, previous, next, last) and sorting; the CSV link carries
the same view. A typed page number other than those is refused: it would cost a query per page between."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, ctx, no_update

from callbacks.filters import view_from_store
from dashboard.core.eventlist import COLUMNS, CSV_ROW_CAP, PAGE_SIZE, Cursor, Sort, page_count
from dashboard.core.viewstate import to_query
from dashboard.web.context import BudgetExceeded, app_context
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


def summary(cursor: Cursor, lang: str, personal: bool, note: str = "") -> str:
    """The line above the table: which page of how many, the CSV cap, masking, and a refusal if any."""
    en, page, total, pages = lang == "en", cursor.page + 1, cursor.total, page_count(cursor.total)
    at_least = CSV_ROW_CAP // PAGE_SIZE  # the count stops at the CSV cap: more pages than this
    if en:
        where = (
            f"Page {page} of {pages:,} ({total:,} events)"
            if pages
            else f"Page {page} of at least {at_least:,} (over {CSV_ROW_CAP:,} events)"
        )
        masked = "" if personal else "; names, phones and addresses are masked"
        line = f"{where}, {PAGE_SIZE} per page; CSV export is capped at {CSV_ROW_CAP:,} rows{masked}"
    else:
        where = (
            f"第 {page} 页，共 {pages:,} 页（{total:,} 条）"
            if pages
            else f"第 {page} 页，至少 {at_least:,} 页（超过 {CSV_ROW_CAP:,} 条）"
        )
        masked = "" if personal else "；姓名、电话和地址已脱敏"
        line = f"{where}，每页 {PAGE_SIZE} 条；CSV 导出上限 {CSV_ROW_CAP:,} 行{masked}"
    return (". " if en else "。").join([line, note]) if note else line


NOTES = {  # why the page on screen did not change (zh, en)
    "refuse": (
        "只能逐页翻动：首页、上一页、下一页或末页",
        "Pages turn one at a time: first, previous, next or last",
    ),
}


def over_budget(budget_ms: int, lang: str) -> str:
    """The line shown instead of a page whose queries ran out of the callback's time budget."""
    seconds = f"{budget_ms / 1000:g}"
    if lang == "en":
        return (
            f"The event list took longer than {seconds} s and was stopped: narrow the filters or the period"
        )
    return f"事件明细查询超过 {seconds} 秒，已停止：请缩小筛选条件或时间范围"


@callback(
    Output(ids.EV_TABLE, "columns"),
    Output(ids.EV_TABLE, "data"),
    Output(ids.EV_CURSOR, "data"),
    Output(ids.EV_SUMMARY, "children"),
    Output(ids.EV_CSV, "href"),
    Output(ids.EV_TABLE, "page_current"),
    Output(ids.EV_TABLE, "page_count"),
    Input(ids.VIEW, "data"),
    Input(ids.EV_TABLE, "page_current"),
    Input(ids.EV_TABLE, "sort_by"),
    State(ids.EV_CURSOR, "data"),
)
def page_events(
    query: str | None, page: int | None, sort_by: list[dict[str, str]] | None, stored: dict[str, Any] | None
) -> tuple[Any, ...]:
    """Turn the event list to ``page``: first, previous, next or last by keyset; other jumps refused."""
    context = app_context()
    view = view_from_store(query)
    sort, sig = sort_from_table(sort_by), to_query(view)
    cursor = Cursor.from_json(stored)  # the callback guard refused a forged one with 400
    # A new filter or sort order starts again at the first page.
    new_order = ctx.triggered_id in {ids.VIEW} or ctx.triggered_prop_ids.get(f"{ids.EV_TABLE}.sort_by")
    if new_order or cursor is None or (cursor.sig, cursor.sort) != (sig, sort):
        cursor, page = None, 0
    viewer = context.viewer()
    now = view.as_of or context.now()
    csv = "/download/events.csv?" + to_query(view)
    try:
        turn = context.turn_events(view, sort, cursor, page or 0, sig=sig, now=now, viewer=viewer)
    except BudgetExceeded as exc:
        return columns(view.lang), [], {}, over_budget(exc.budget_ms, view.lang), csv, 0, None
    note = NOTES[turn.turn][view.lang == "en"] if turn.turn in NOTES else ""
    return (
        columns(view.lang),
        no_update if turn.rows is None else turn.rows,
        turn.cursor.to_json(),
        summary(turn.cursor, view.lang, viewer.personal, note),
        csv,
        turn.cursor.page,
        page_count(turn.cursor.total),
    )
