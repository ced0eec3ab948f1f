"""The canonical schema is created the same way on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, inspect, select

from dashboard.cli import main
from dashboard.source import schema
from dashboard.source.engines import init_db, make_source_engine


def test_init_db_creates_every_table_and_index(db_url: str) -> None:
    assert main(["init-db", "--database-url", db_url]) == 0
    engine = init_db(db_url)  # idempotent
    insp = inspect(engine)
    assert set(insp.get_table_names()) >= {t.name for t in schema.ALL_TABLES}
    indexed = {tuple(ix["column_names"]) for ix in insp.get_indexes("event")}
    assert ("town_code", "reported_at") in indexed
    engine.dispose()


def test_timestamps_round_trip_as_utc(db_url: str) -> None:
    engine = init_db(db_url)
    shanghai = dt.timezone(dt.timedelta(hours=8))
    moment = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=shanghai)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.key_area),
            {"area_id": 1, "name": "x", "town_code": "330109001", "listed_at": dt.date(2026, 1, 1)},
        )
        conn.execute(
            insert(schema.safety_inspection),
            {
                "unit_name": "厂",
                "town_code": "330109001",
                "inspected_at": moment,
                "hazards_found": 2,
                "hazards_rectified": 1,
            },
        )
        got = conn.execute(select(schema.safety_inspection.c.inspected_at)).scalar_one()
    assert got == moment
    assert got.tzinfo is not None and got.utcoffset() == dt.timedelta(0)
    assert got.hour == 1  # 09:30 in Shanghai is 01:30 UTC
    engine.dispose()


def test_naive_datetimes_are_rejected(sqlite_url: str) -> None:
    engine = init_db(sqlite_url)
    from sqlalchemy.exc import StatementError

    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as conn:
        conn.execute(
            insert(schema.safety_inspection),
            {
                "unit_name": "厂",
                "town_code": "330109001",
                "inspected_at": dt.datetime(2026, 1, 1),
                "hazards_found": 0,
                "hazards_rectified": 0,
            },
        )
    engine.dispose()


def test_source_engine_cannot_write(db_url: str) -> None:
    init_db(db_url).dispose()
    ro = make_source_engine(db_url, timeout_ms=2000)
    with pytest.raises(Exception) as err, ro.begin() as conn:
        conn.execute(
            insert(schema.key_area),
            {"area_id": 2, "name": "y", "town_code": "330109001", "listed_at": dt.date(2026, 1, 1)},
        )
    assert any(w in str(err.value).lower() for w in ("read-only", "readonly", "read only"))
    ro.dispose()
