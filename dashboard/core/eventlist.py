"""The event list's shape: its columns, page size, CSV cap, sort orders and paging cursor (pure data).

The query that fills it lives in :mod:`dashboard.source.eventlist`; the page (callbacks/events.py), its
layout, the callback guard and the CSV download read the same names from here.

Paging is by keyset only: the browser keeps a :class:`Cursor` (where the page on screen starts and
ends, and the list's count) and may turn to the first, previous, next or last page, each one bounded
query away (:func:`plan_turn`). A jump to any other page is refused rather than walked page by page.
"""

from __future__ import annotations

import datetime as dt
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

# What the keyset value of each sort order is, so a cursor from the browser can be checked before it
# reaches a query: instants travel as ISO 8601 text with an offset; the other orders are short codes.
DATE_SORTS = frozenset({"reported_at", "deadline_at"})
NULLABLE_SORTS = frozenset({"deadline_at"})  # NULLs sort last in both directions
MAX_PAGE = 100_000  # the highest page the browser may name (the callback guard's bound of page_current)
MAX_EVENT_ID = 2**63 - 1
_KEY_TEXT = 64  # longer than any event number, town code, category or priority
_YEARS = (1900, 2999)  # instants outside these years come from no event (and overflow some drivers)

Keyset = tuple[str | None, int]  # (sort value as JSON sends it, event id): where a page starts or ends


def page_count(total: int) -> int | None:
    """Pages of a list of ``total`` rows counted up to ``CSV_ROW_CAP + 1``; None when there are more
    than the cap (the count stopped there, so the last page is unknown: "at least" that many)."""
    if total > CSV_ROW_CAP:
        return None
    return max(1, -(-total // PAGE_SIZE))


@dataclass(frozen=True)
class Cursor:
    """Where the event list stands, kept in the browser between two page turns.

    ``start`` is the keyset just before the page on screen (None on the first page), ``first`` and
    ``last`` those of its first and last rows (None when it is empty); ``total`` is the number of
    matching rows counted once per view and order, up to ``CSV_ROW_CAP + 1``. Every page the table
    can ask for next (first, previous, next, last, this one) is one bounded query away from here.
    """

    sig: str  # the view's canonical query: a new view starts again at the first page
    sort: Sort
    page: int
    start: Keyset | None
    first: Keyset | None
    last: Keyset | None
    total: int

    def to_json(self) -> dict[str, object]:
        """The JSON the browser keeps (``dcc.Store``)."""
        return {
            "sig": self.sig,
            "sort": [self.sort.column, self.sort.descending],
            "page": self.page,
            "start": _keyset_json(self.start),
            "first": _keyset_json(self.first),
            "last": _keyset_json(self.last),
            "total": self.total,
        }

    @classmethod
    def from_json(cls, value: object) -> Cursor | None:
        """The cursor the browser sent back; None for none yet (``{}``); ValueError for a forged one."""
        problem = cursor_problem(value)
        if problem is not None:
            raise ValueError(f"cursor: {problem}")
        if not value:
            return None
        assert isinstance(value, dict)
        column, descending = value["sort"]
        sort = Sort(column, descending)
        return cls(
            sig=value["sig"],
            sort=sort,
            page=value["page"],
            start=_keyset_tuple(value["start"]),
            first=_keyset_tuple(value["first"]),
            last=_keyset_tuple(value["last"]),
            total=value["total"],
        )


CURSOR_FIELDS = frozenset({"sig", "sort", "page", "start", "first", "last", "total"})


def cursor_problem(value: object) -> str | None:
    """What is wrong with a cursor the browser sent, or None if our pages could have made it.

    The callback guard refuses a request carrying a bad one with 400 before any query runs: a forged
    keyset (a malformed or naive date, a number where a code belongs, a NUL byte) must never reach SQL.
    """
    if value is None or value == {}:
        return None
    if not isinstance(value, dict) or set(value) != CURSOR_FIELDS:
        return "expected an object with " + ", ".join(sorted(CURSOR_FIELDS))
    if not isinstance(value["sig"], str) or len(value["sig"]) > 8192:
        return "sig: expected a view query"
    sort = value["sort"]
    if not (isinstance(sort, list) and len(sort) == 2 and sort[0] in SORT_COLUMNS and type(sort[1]) is bool):
        return "sort: expected [column, descending]"
    if not _is_int(value["page"], MAX_PAGE):
        return "page: expected a page number"
    if not _is_int(value["total"], CSV_ROW_CAP + 1):
        return "total: expected a row count"
    for name in ("start", "first", "last"):
        problem = keyset_problem(value[name], sort[0])
        if problem is not None:
            return f"{name}: {problem}"
    return None


def keyset_problem(keyset: object, column: str) -> str | None:
    """What is wrong with ``keyset`` (``[sort value, event id]`` or null) for the order ``column``."""
    if keyset is None:
        return None
    if not isinstance(keyset, list) or len(keyset) != 2:
        return "expected [value, event id]"
    value, event_id = keyset
    if not _is_int(event_id, MAX_EVENT_ID):
        return "expected an event id"
    if value is None:
        return None if column in NULLABLE_SORTS else f"{column} is never empty"
    if not isinstance(value, str) or not 0 < len(value) <= _KEY_TEXT or not value.isprintable():
        return f"expected a {column} value"
    if column in DATE_SORTS and parse_instant(value) is None:
        return f"{column}: expected an ISO 8601 instant with its offset"
    return None


def parse_instant(text: str) -> dt.datetime | None:
    """The timezone-aware instant of an ISO 8601 text, or None for anything else (naive, malformed,
    out of range)."""
    try:
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None or moment.utcoffset() is None:
            return None
        moment = moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None
    return moment if _YEARS[0] <= moment.year <= _YEARS[1] else None


def _is_int(value: object, upper: int) -> bool:
    return type(value) is int and 0 <= value <= upper


def _keyset_json(keyset: Keyset | None) -> list[object] | None:
    return None if keyset is None else [keyset[0], keyset[1]]


def _keyset_tuple(value: object) -> Keyset | None:
    if value is None:
        return None
    assert isinstance(value, list)
    return (value[0], value[1])


TURNS = ("first", "again", "next", "previous", "last", "refuse")


def plan_turn(cursor: Cursor | None, page: int) -> str:
    """How to reach ``page`` from ``cursor`` with one bounded query: one of :data:`TURNS`.

    ``first`` without a cursor (a new view or order) or for page 0; ``again`` for the page on screen;
    ``next``/``previous`` for its neighbours; ``last`` for the last page when the count is exact;
    ``refuse`` for any other page (a typed page number): it would cost a query per page in between.
    """
    if cursor is None or page == 0:
        return "first"
    if page == cursor.page:
        return "again"
    if page == cursor.page + 1:
        return "next" if cursor.last is not None else "refuse"
    if page == cursor.page - 1:
        return "previous" if cursor.first is not None else "first"
    count = page_count(cursor.total)
    if count is not None and page == count - 1:
        return "last"
    return "refuse"
