"""The event list's shape: its columns, page size, CSV cap and sort orders (pure data).

The query that fills it lives in :mod:`dashboard.source.eventlist`; the page (callbacks/events.py), its
layout and the CSV download read the same names from here.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 25
CSV_ROW_CAP = 100_000  # stated in the UI and README: larger extracts belong to the DBA, not a dashboard

COLUMNS: list[tuple[str, str, str]] = [
    # (key, zh, en)
    ("event_no", "事件编号", "Case no."),
    ("reported_at", "上报时间", "Reported"),
    ("town", "镇街", "Town"),
    ("grid_code", "网格", "Grid"),
    ("category", "类别", "Category"),
    ("source", "来源", "Source"),
    ("priority", "紧急程度", "Priority"),
    ("status", "状态", "Status"),
    ("dept", "承办部门", "Department"),
    ("deadline_at", "办理时限", "Deadline"),
    ("overdue", "超期", "Overdue"),
    ("supervised", "督办", "Supervised"),
    ("reporter", "上报人", "Reporter"),
    ("phone", "联系电话", "Phone"),
    ("address", "地址", "Address"),
    ("title", "标题", "Title"),
]

# The event columns the list can be ordered by (each is a column of the event table).
SORT_COLUMNS = ("reported_at", "event_no", "deadline_at", "town_code", "category_l1", "priority")


@dataclass(frozen=True)
class Sort:
    """An order of the event list: one of :data:`SORT_COLUMNS`, newest or largest first by default."""

    column: str = "reported_at"
    descending: bool = True

    def __post_init__(self) -> None:
        if self.column not in SORT_COLUMNS:
            raise ValueError(f"sort: unknown column {self.column!r}")


NEWEST_FIRST = Sort()  # the list's default order
