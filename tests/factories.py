"""Hand-built datasets for query tests: a tiny district, and row builders with explicit timestamps.

Everything is inserted with SQLAlchemy Core so the same rows land on SQLite, PostgreSQL and MariaDB.
Times are given in Asia/Shanghai with :func:`sh` and stored as UTC.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy import Connection, insert

from dashboard import schema

SH = dt.timezone(dt.timedelta(hours=8))

TOWN_A = "330109001"  # 城厢街道
TOWN_B = "330109002"  # 北干街道
TOWN_E = "330109007"  # an eastern (大江东) street
VILLAGE_A1 = TOWN_A + "201"
VILLAGE_A2 = TOWN_A + "202"
VILLAGE_B1 = TOWN_B + "201"
VILLAGE_E1 = TOWN_E + "201"
GRID_A1_1 = VILLAGE_A1 + "001"
GRID_A1_2 = VILLAGE_A1 + "002"
GRID_A2_1 = VILLAGE_A2 + "001"
GRID_B1_1 = VILLAGE_B1 + "001"
GRID_E1_1 = VILLAGE_E1 + "001"
GRIDS = (GRID_A1_1, GRID_A1_2, GRID_A2_1, GRID_B1_1, GRID_E1_1)

_seq = itertools.count(1)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """An Asia/Shanghai wall-clock time as an aware datetime."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=SH)


def add_units(conn: Connection) -> None:
    """Three towns (one eastern), four villages, five grids, with populations."""
    towns = [(TOWN_A, "城厢街道", "Chengxiang", 100_000), (TOWN_B, "北干街道", "Beigan", 80_000)]
    towns.append((TOWN_E, "河庄街道", "Hezhuang", 40_000))
    villages = [
        (VILLAGE_A1, "A一社区", "A1", 6_000, TOWN_A),
        (VILLAGE_A2, "A二社区", "A2", 4_000, TOWN_A),
        (VILLAGE_B1, "B一社区", "B1", 5_000, TOWN_B),
        (VILLAGE_E1, "E一村", "E1", 3_000, TOWN_E),
    ]
    base = {"valid_from": dt.date(2010, 1, 1)}
    rows = [
        {**base, "code": c, "name_zh": zh, "name_en": en, "level": "town", "unit_type": "街道",
         "parent_code": "330109", "population": pop}
        for c, zh, en, pop in towns
    ]  # fmt: skip
    rows += [
        {**base, "code": c, "name_zh": zh, "name_en": en, "level": "village", "unit_type": "社区",
         "parent_code": parent, "population": pop}
        for c, zh, en, pop, parent in villages
    ]  # fmt: skip
    conn.execute(insert(schema.admin_unit), rows)
    conn.execute(
        insert(schema.grid),
        [
            {"grid_code": g, "grid_name": f"网格{g[-5:]}", "village_code": g[:12], "town_code": g[:9],
             "grid_type": "基础网格", "households": 400, "population_registered": 1000,
             "population_floating": 200, "center_lng": 120.2, "center_lat": 30.1, "status": "ACTIVE"}
            for g in GRIDS
        ],
    )  # fmt: skip


def event_row(
    reported_at: dt.datetime,
    *,
    grid: str = GRID_A1_1,
    category: str = "FIRE",
    source: str = "GRID_APP",
    priority: str = "NORMAL",
    status: str = "ACCEPTED",
    **fields: Any,
) -> dict[str, Any]:
    """One event row; unspecified lifecycle timestamps stay NULL."""
    n = next(_seq)
    row: dict[str, Any] = {
        "event_no": f"XS-T-{n:07d}",
        "title": f"测试事件{n}",
        "category_l1": category,
        "source": source,
        "priority": priority,
        "grid_code": grid,
        "village_code": grid[:12],
        "town_code": grid[:9],
        "status": status,
        "reported_at": reported_at,
        "reporter_name": "张三",
        "reporter_phone": "13800000000",
        "address": "某路1号",
        "dispatch_count": 0,
        "extension_count": 0,
        "returned_count": 0,
        "reopened_count": 0,
        "is_supervised": False,
    }
    for col in (
        "accepted_at", "rejected_at", "dispatched_at", "dispatch_dept_code", "closed_at", "deadline_at",
        "extended_deadline_at", "supervised_at", "satisfaction", "level_of_handling", "handled_at",
    ):  # fmt: skip
        row.setdefault(col, None)
    row.update(fields)
    return row


def add_events(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert events and return their ids (in order)."""
    ids = []
    for row in rows:
        ids.append(int(conn.execute(insert(schema.event).values(**row)).inserted_primary_key[0]))
    return ids


def add_events_bulk(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(insert(schema.event), rows)


def add_action(conn: Connection, event_id: int, action: str, at: dt.datetime, to_status: str = "X") -> None:
    conn.execute(
        insert(schema.event_action),
        {"event_id": event_id, "action": action, "to_status": to_status, "at": at},
    )


def add_evaluation(conn: Connection, event_id: int, result: str, at: dt.datetime) -> None:
    conn.execute(
        insert(schema.evaluation), {"event_id": event_id, "channel": "APP", "result": result, "at": at}
    )


def patrol_row(
    grid: str,
    started: dt.datetime,
    ended: dt.datetime | None,
    *,
    staff: int = 1,
    kind: str = "GRID",
    valid: bool = True,
) -> dict[str, Any]:
    return {
        "staff_id": staff,
        "grid_code": grid,
        "town_code": grid[:9],
        "patrol_type": kind,
        "started_at": started,
        "ended_at": ended,
        "gps_fix_count": 5,
        "checkin_count": 1,
        "events_reported": 0,
        "valid": valid,
    }


def add_patrols(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(insert(schema.patrol), rows)


def add_video_point(conn: Connection, code: str, grid: str, installed: dt.datetime, name: str = "") -> None:
    conn.execute(
        insert(schema.video_point),
        {"point_code": code, "name": name or f"点位{code}", "point_class": "一类", "grid_code": grid,
         "town_code": grid[:9], "lng": 120.2, "lat": 30.1, "owner": "公安", "installed_at": installed,
         "online": True},
    )  # fmt: skip


def add_video_change(conn: Connection, code: str, online: bool, at: dt.datetime) -> None:
    conn.execute(insert(schema.video_status_change), {"point_code": code, "online": online, "at": at})


def add_police_stat(conn: Connection, day: dt.date, town: str, calls: int, prop: int, major: int) -> None:
    conn.execute(
        insert(schema.police_call_stat),
        {"stat_date": day, "town_code": town, "effective_110_calls": calls, "property_crime_cases": prop,
         "major_violent_cases": major},
    )  # fmt: skip


def add_inspection(conn: Connection, town: str, at: dt.datetime, found: int, rectified: int) -> None:
    conn.execute(
        insert(schema.safety_inspection),
        {"unit_name": "某厂", "town_code": town, "inspected_at": at, "hazards_found": found,
         "hazards_rectified": rectified},
    )  # fmt: skip


def add_key_area(
    conn: Connection, area_id: int, town: str, listed: dt.date, delisted: dt.date | None = None
) -> None:
    conn.execute(
        insert(schema.key_area),
        {"area_id": area_id, "name": f"重点地区{area_id}", "town_code": town, "listed_at": listed,
         "delisted_at": delisted},
    )  # fmt: skip
