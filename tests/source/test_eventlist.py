"""Event list: keyset paging and sorting, masking, and the CSV download, on all three backends."""

from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import insert

from dashboard.core.scope import LOCAL_VIEWER
from dashboard.core.viewstate import ViewState
from dashboard.source import schema
from dashboard.source.engines import init_db, make_source_engine
from dashboard.source.eventlist import Sort, csv_rows, fetch_page, keyset_of, mask_name, mask_phone

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
                "deadline_at": reported + dt.timedelta(days=1),
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
