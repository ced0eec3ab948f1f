"""Event list: keyset paging and sorting, page turns, the capped count, masking and the CSV download, on
all three backends."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import insert

from dashboard.core.eventlist import DATE_SORTS, NULLABLE_SORTS, SORT_COLUMNS, Cursor, page_count
from dashboard.core.scope import LOCAL_VIEWER
from dashboard.core.viewstate import ViewState
from dashboard.source import schema
from dashboard.source.engines import init_db, make_source_engine
from dashboard.source.eventlist import (
    Sort,
    count_events,
    csv_rows,
    fetch_page,
    fetch_page_before,
    keyset_of,
    mask_name,
    mask_phone,
    turn_page,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
TOWNS = ("330109001", "330109002")


def _events(n: int) -> list[dict[str, object]]:
    rows = []
    for i in range(n):
        town = TOWNS[i % 2]
        reported = NOW - dt.timedelta(hours=i * 3 + 1)
        rows.append(
            {
                "event_no": f"XS20261120-{i:06d}",
                "title": f"事件 {i}",
                "category_l1": "FIRE" if i % 3 else "DISPUTE",
                "source": "GRID_APP",
                "priority": "URGENT" if i % 7 == 0 else "NORMAL",
                "grid_code": f"{town}201001",
                "village_code": f"{town}201",
                "town_code": town,
                "status": "CLOSED" if i % 4 == 0 else "ACCEPTED",
                "reported_at": reported,
                "accepted_at": reported + dt.timedelta(minutes=10),
                "closed_at": reported + dt.timedelta(hours=2) if i % 4 == 0 else None,
                "deadline_at": None if i % 5 == 4 else reported + dt.timedelta(days=1 + i % 3),
                "reporter_name": "张三丰",
                "reporter_phone": "13812345678",
                "dispatch_count": 0,
                "extension_count": 0,
                "returned_count": 0,
                "reopened_count": 0,
                "is_supervised": False,
            }
        )
    return rows


def _engine(db_url: str, n: int = 60):  # type: ignore[no-untyped-def]
    writer = init_db(db_url)
    with writer.begin() as conn:
        conn.execute(insert(schema.event), _events(n))
    writer.dispose()
    return make_source_engine(db_url)


def test_masking() -> None:
    assert mask_name("张三丰") == "张**"
    assert mask_name("李") == "李*"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("") == ""


def test_keyset_pages_cover_every_row_once_in_order(db_url: str) -> None:
    engine = _engine(db_url)
    view = ViewState(period="year")
    with engine.connect() as conn:
        for sort in (Sort("reported_at", True), Sort("event_no", False), Sort("priority", True)):
            seen: list[str] = []
            after = None
            while True:
                rows = fetch_page(conn, view, NOW, sort=sort, after=after, limit=25, viewer=LOCAL_VIEWER)
                if not rows:
                    break
                seen += [r["event_no"] for r in rows]
                after = keyset_of(rows[-1], sort)
            assert len(seen) == 60 and len(set(seen)) == 60, sort
            if sort.column == "event_no":
                assert seen == sorted(seen)
            if sort.column == "reported_at":
                assert seen == [f"XS20261120-{i:06d}" for i in range(60)]
    engine.dispose()


def test_filters_masking_and_time_travel(db_url: str) -> None:
    engine = _engine(db_url)
    with engine.connect() as conn:
        rows = fetch_page(
            conn, ViewState(period="year", towns=(TOWNS[1],)), NOW, limit=100, viewer=LOCAL_VIEWER
        )
        assert rows and {r["town"] for r in rows} == {"北干街道"}
        assert {r["reporter"] for r in rows} == {"张**"} and {r["phone"] for r in rows} == {"138****5678"}
        # 10 hours earlier the newest events did not exist yet, and none of them was closed.
        past = NOW - dt.timedelta(hours=10)
        early = fetch_page(conn, ViewState(period="year"), past, limit=100, viewer=LOCAL_VIEWER)
        assert len(early) == 60 - 3  # events 0..2 were reported within the last 10 hours
        assert all(r["event_no"] >= "XS20261120-000003" for r in early)
    engine.dispose()


def test_csv_has_bom_header_masked_rows_and_cap(db_url: str) -> None:
    engine = _engine(db_url)
    with engine.connect() as conn:
        text = "".join(csv_rows(conn, ViewState(period="year"), NOW, viewer=LOCAL_VIEWER))
        assert text.startswith("\ufeff事件编号,上报时间")
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert len(rows) == 61
        assert "13812345678" not in text and "张三丰" not in text
        capped = "".join(
            csv_rows(conn, ViewState(period="year", lang="en"), NOW, cap=10, viewer=LOCAL_VIEWER)
        )
        lines = capped.lstrip("\ufeff").splitlines()
        assert lines[0].startswith("Case no.") and len(lines) == 12 and "truncated at 10 rows" in lines[-1]
    engine.dispose()


ORDERS = [
    Sort("reported_at", True),
    Sort("reported_at", False),
    Sort("event_no", False),
    Sort("deadline_at", False),  # NULLs (every fifth event) come last in both directions
    Sort("deadline_at", True),
    Sort("priority", True),  # many ties: the event id decides
]


def _all(conn: object, sort: Sort) -> list[str]:
    rows = fetch_page(conn, ViewState(period="year"), NOW, sort=sort, limit=1000, viewer=LOCAL_VIEWER)  # type: ignore[arg-type]
    return [r["event_no"] for r in rows]


def test_turns_reach_every_page_and_agree_with_the_whole_list(db_url: str) -> None:
    engine = _engine(db_url)
    view = ViewState(period="year")
    with engine.connect() as conn:
        for sort in ORDERS:
            whole = _all(conn, sort)
            pages = [whole[i : i + 25] for i in range(0, 60, 25)]  # 25, 25, 10

            def go(
                cursor: Cursor | None, page: int, sort: Sort = sort
            ) -> tuple[list[str] | None, Cursor, str]:
                turn = turn_page(
                    conn, view, NOW, sig="q", sort=sort, cursor=cursor, page=page, viewer=LOCAL_VIEWER
                )
                rows = None if turn.rows is None else [r["event_no"] for r in turn.rows]
                return rows, turn.cursor, turn.turn

            rows, cursor, _ = go(None, 0)
            assert rows == pages[0] and cursor.total == 60 and page_count(cursor.total) == 3, sort
            rows, cursor, _ = go(cursor, 1)
            assert rows == pages[1] and cursor.page == 1, sort
            rows, cursor, _ = go(cursor, 2)
            assert rows == pages[2], sort
            rows, same, what = go(cursor, 3)  # past the last page: the table stays
            assert rows is None and same == cursor and what == "refuse"
            rows, cursor, _ = go(cursor, 1)  # previous
            assert rows == pages[1] and cursor.page == 1, sort
            rows, cursor, _ = go(cursor, 1)  # this page again
            assert rows == pages[1], sort
            rows, cursor, _ = go(cursor, 0)  # previous to the first
            assert rows == pages[0] and cursor.start is None, sort
            rows, cursor, _ = go(cursor, 2)  # last, straight from the first
            assert rows == pages[2] and cursor.page == 2, sort
            rows, cursor, _ = go(cursor, 1)  # and back from there
            assert rows == pages[1], sort
    engine.dispose()


def test_a_jump_is_refused_without_a_query(sqlite_url: str) -> None:
    engine = _engine(sqlite_url, n=200)  # 8 pages
    with engine.connect() as conn:
        first = turn_page(
            conn,
            ViewState(period="year"),
            NOW,
            sig="q",
            sort=Sort(),
            cursor=None,
            page=0,
            viewer=LOCAL_VIEWER,
        )
        assert first.cursor.total == 200 and page_count(200) == 8
        for page in (3, 5, 99_999):
            turn = turn_page(
                conn,
                ViewState(period="year"),
                NOW,
                sig="q",
                sort=Sort(),
                cursor=first.cursor,
                page=page,
                viewer=LOCAL_VIEWER,
            )
            assert turn.rows is None and turn.cursor == first.cursor and turn.turn == "refuse"
    engine.dispose()


def test_the_count_stops_at_the_cap(db_url: str) -> None:
    engine = _engine(db_url)
    with engine.connect() as conn:
        assert count_events(conn, ViewState(period="year"), NOW, viewer=LOCAL_VIEWER) == 60
        assert count_events(conn, ViewState(period="year"), NOW, cap=10, viewer=LOCAL_VIEWER) == 11
        assert count_events(conn, ViewState(period="year", towns=(TOWNS[1],)), NOW, viewer=LOCAL_VIEWER) == 30
    assert page_count(100_001) is None and page_count(100_000) == 4000 and page_count(0) == 1
    engine.dispose()


def test_reading_backwards_gives_the_rows_before_in_order(db_url: str) -> None:
    engine = _engine(db_url)
    view = ViewState(period="year")
    with engine.connect() as conn:
        for sort in ORDERS:
            whole = fetch_page(conn, view, NOW, sort=sort, limit=1000, viewer=LOCAL_VIEWER)
            for index in (1, 7, 30, 47, 59):
                before = fetch_page_before(
                    conn,
                    view,
                    NOW,
                    sort=sort,
                    before=keyset_of(whole[index], sort),
                    limit=5,
                    viewer=LOCAL_VIEWER,
                )
                assert [r["event_no"] for r in before] == [
                    r["event_no"] for r in whole[max(0, index - 5) : index]
                ], (sort, index)
            tail = fetch_page_before(conn, view, NOW, sort=sort, limit=4, viewer=LOCAL_VIEWER)
            assert [r["event_no"] for r in tail] == [r["event_no"] for r in whole[-4:]], sort
    engine.dispose()


@pytest.mark.parametrize(
    ("sort", "keyset"),
    [
        (Sort("reported_at", True), ("2026-13-45T99:00", 5)),
        (Sort("reported_at", True), ("2026-11-20T08:00:00", 5)),  # no offset
        (Sort("reported_at", True), (None, 5)),  # never empty
        (Sort("reported_at", True), (5, 5)),
        (Sort("event_no", True), ("XS", "5")),
        (Sort("event_no", True), ("XS\x00", 5)),
        (Sort("deadline_at", True), ("2026-11-20T08:00:00+00:00", 2**64)),
    ],
)
def test_a_forged_keyset_never_reaches_the_database(
    db_url: str, sort: Sort, keyset: tuple[object, object]
) -> None:
    engine = _engine(db_url, n=3)
    with engine.connect() as conn, pytest.raises(ValueError, match="keyset"):
        fetch_page(conn, ViewState(period="year"), NOW, sort=sort, after=keyset, viewer=LOCAL_VIEWER)
    engine.dispose()


def test_the_sort_facts_match_the_schema() -> None:
    """core.eventlist says which orders are instants and which may be empty: the schema must agree."""
    for name in SORT_COLUMNS:
        column = schema.event.c[name]
        assert (name in NULLABLE_SORTS) == bool(column.nullable), name
        assert (name in DATE_SORTS) == isinstance(column.type, schema.UTCDateTime), name
