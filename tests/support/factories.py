"""Hand-built datasets for query tests: a tiny district, and row builders with explicit timestamps.

Everything is inserted with SQLAlchemy Core so the same rows land on SQLite, PostgreSQL and MariaDB.
Times are given in Asia/Shanghai with :func:`sh` and stored as UTC.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy import Connection, insert

from dashboard.source import schema

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


def add_inspection(
    conn: Connection,
    town: str,
    at: dt.datetime,
    found: int,
    rectified: int,
    unit: str = "某厂",
    unit_code: str | None = None,
    deadline: dt.date | None = None,
) -> None:
    conn.execute(
        insert(schema.safety_inspection),
        {"unit_name": unit, "unit_code": unit_code, "town_code": town, "inspected_at": at,
         "hazards_found": found, "hazards_rectified": rectified, "rectify_deadline": deadline},
    )  # fmt: skip


def add_key_area(
    conn: Connection, area_id: int, town: str, listed: dt.date, delisted: dt.date | None = None
) -> None:
    conn.execute(
        insert(schema.key_area),
        {"area_id": area_id, "name": f"重点地区{area_id}", "town_code": town, "listed_at": listed,
         "delisted_at": delisted},
    )  # fmt: skip


def build_district(conn: Connection) -> dict[str, int]:
    """The worked example used by test_metrics and test_queries (answers in their docstrings).

    Clock: 2026-11-18 (Wed) 10:00 Asia/Shanghai. Returns event ids by name (E1 … E12).
    """
    add_units(conn)
    ev = {
        "E1": event_row(sh(2026, 11, 2, 9), accepted_at=sh(2026, 11, 2, 10), closed_at=sh(2026, 11, 3, 10),
                        deadline_at=sh(2026, 11, 5), level_of_handling="GRID", dispatch_dept_code="D05_FIRE",
                        dispatched_at=sh(2026, 11, 2, 10, 30), dispatch_count=1, status="CLOSED"),
        "E2": event_row(sh(2026, 11, 5, 8), grid=GRID_A1_2, category="DISPUTE", accepted_at=sh(2026, 11, 5, 10),
                        closed_at=sh(2026, 11, 7, 10), deadline_at=sh(2026, 11, 6, 10), level_of_handling="TOWN",
                        dispatch_dept_code="D03_CITYMGMT", dispatched_at=sh(2026, 11, 5, 13), dispatch_count=2,
                        returned_count=1, reopened_count=1, status="CLOSED"),
        "E3": event_row(sh(2026, 11, 10, 8), grid=GRID_B1_1, accepted_at=sh(2026, 11, 10, 9),
                        closed_at=sh(2026, 11, 10, 21), deadline_at=sh(2026, 11, 12), level_of_handling="VILLAGE",
                        dispatch_dept_code="D05_FIRE", dispatched_at=sh(2026, 11, 10, 10), dispatch_count=1,
                        status="CLOSED"),
        "E4": event_row(sh(2026, 11, 12, 8), grid=GRID_A2_1, category="ILLEGAL_BUILD", priority="URGENT",
                        accepted_at=sh(2026, 11, 12, 9), deadline_at=sh(2026, 11, 15), supervised_at=sh(2026, 11, 16),
                        is_supervised=True, dispatch_dept_code="D03_CITYMGMT", dispatched_at=sh(2026, 11, 12, 10),
                        dispatch_count=1, status="DISPATCHED"),
        "E5": event_row(sh(2026, 11, 18, 9), accepted_at=sh(2026, 11, 18, 9, 30), deadline_at=sh(2026, 11, 20)),
        "E6": event_row(sh(2026, 11, 6, 8), grid=GRID_E1_1, accepted_at=sh(2026, 11, 6, 9),
                        closed_at=sh(2026, 11, 7, 9), deadline_at=sh(2026, 11, 8), level_of_handling="GRID",
                        dispatch_dept_code="D05_FIRE", status="CLOSED"),
        "E7": event_row(sh(2026, 11, 14, 8), grid=GRID_B1_1, rejected_at=sh(2026, 11, 14, 9), status="REJECTED"),
        "E8": event_row(sh(2026, 10, 3, 8), accepted_at=sh(2026, 10, 3, 9), closed_at=sh(2026, 10, 4, 9),
                        deadline_at=sh(2026, 10, 6), level_of_handling="GRID", status="ARCHIVED"),
        "E9": event_row(sh(2026, 9, 1, 8), grid=GRID_A1_2, accepted_at=sh(2026, 9, 1, 9),
                        deadline_at=sh(2026, 9, 10), status="IN_PROGRESS"),
        "E10": event_row(sh(2025, 11, 3, 8), accepted_at=sh(2025, 11, 3, 9), closed_at=sh(2025, 11, 4, 9),
                         deadline_at=sh(2025, 11, 5), level_of_handling="GRID", status="ARCHIVED"),
        "E12": event_row(sh(2026, 11, 16, 8), grid=GRID_B1_1, priority="MAJOR", accepted_at=sh(2026, 11, 16, 9),
                         closed_at=sh(2026, 11, 18, 12), deadline_at=sh(2026, 11, 17),
                         dispatch_dept_code="D01_POLICE", dispatched_at=sh(2026, 11, 18, 11), dispatch_count=1,
                         status="CLOSED"),
    }  # fmt: skip
    ids = dict(zip(ev, add_events(conn, list(ev.values())), strict=True))
    for name, action, at in (
        ("E1", "DISPATCH", sh(2026, 11, 2, 10, 30)),
        ("E2", "DISPATCH", sh(2026, 11, 5, 11)),
        ("E2", "RETURN", sh(2026, 11, 5, 12)),
        ("E2", "DISPATCH", sh(2026, 11, 5, 13)),
        ("E2", "VERIFY_FAIL", sh(2026, 11, 6, 12)),
        ("E3", "DISPATCH", sh(2026, 11, 10, 10)),
        ("E4", "DISPATCH", sh(2026, 11, 12, 10)),
        ("E12", "DISPATCH", sh(2026, 11, 18, 11)),  # after now: not dispatched yet at now
    ):
        add_action(conn, ids[name], action, at)
    add_evaluation(conn, ids["E1"], "满意", sh(2026, 11, 4))
    add_evaluation(conn, ids["E2"], "不满意", sh(2026, 11, 8))
    add_evaluation(conn, ids["E3"], "基本满意", sh(2026, 11, 11))
    add_patrols(
        conn,
        [
            patrol_row(GRID_A1_1, sh(2026, 11, 18, 8), sh(2026, 11, 18, 9), staff=1),
            patrol_row(GRID_A1_2, sh(2026, 11, 17, 12), sh(2026, 11, 17, 13), staff=2),
            patrol_row(GRID_B1_1, sh(2026, 11, 18, 7), None, staff=3, kind="FULL_TIME"),
            patrol_row(GRID_A2_1, sh(2026, 11, 18, 6), sh(2026, 11, 18, 7), staff=4, valid=False),
            patrol_row(GRID_E1_1, sh(2026, 11, 16, 9), sh(2026, 11, 16, 10), staff=5),
            patrol_row(GRID_A2_1, sh(2026, 11, 18, 9, 30), sh(2026, 11, 18, 11), staff=6, kind="PART_TIME"),
            patrol_row(GRID_A1_1, sh(2026, 11, 17, 8), sh(2026, 11, 17, 9), staff=1),
        ],
    )
    # The patrol forces' staff (their strength per scope): full-time 3 in town B; part-time 6 and 7 in
    # town A; a volunteer in town E who left (inactive: not counted).
    conn.execute(
        schema.staff.insert(),
        [
            {
                "staff_id": 3,
                "name": "王三",
                "role": "PATROL_FULL",
                "grid_code": GRID_B1_1,
                "town_code": TOWN_B,
                "active": True,
            },
            {
                "staff_id": 6,
                "name": "李六",
                "role": "PATROL_PART",
                "grid_code": GRID_A2_1,
                "town_code": TOWN_A,
                "active": True,
            },
            {
                "staff_id": 7,
                "name": "赵七",
                "role": "PATROL_PART",
                "grid_code": GRID_A1_1,
                "town_code": TOWN_A,
                "active": True,
            },
            {
                "staff_id": 8,
                "name": "钱八",
                "role": "VOLUNTEER",
                "grid_code": GRID_E1_1,
                "town_code": TOWN_E,
                "active": False,
            },
        ],
    )
    add_video_point(conn, "V1", GRID_A1_1, sh(2026, 1, 1))
    add_video_point(conn, "V2", GRID_A1_2, sh(2026, 1, 1), name="二号点")
    add_video_point(conn, "V3", GRID_B1_1, sh(2026, 1, 1), name="三号点")
    add_video_point(conn, "V4", GRID_E1_1, sh(2026, 1, 1))
    add_video_point(conn, "V5", GRID_A1_1, sh(2026, 11, 18, 12))
    for code, online, at in (
        ("V2", False, sh(2026, 11, 10, 8)),
        ("V2", False, sh(2026, 11, 12, 8)),
        ("V3", False, sh(2026, 11, 1)),
        ("V3", True, sh(2026, 11, 2)),
        ("V3", False, sh(2026, 11, 17, 10)),
        ("V4", False, sh(2026, 11, 18, 11)),
        # V1's short outage is the district's newest online change: each point's "since" must look at
        # its own last online change, not at anyone's.
        ("V1", False, sh(2026, 11, 13, 9)),
        ("V1", True, sh(2026, 11, 14, 9)),
    ):
        add_video_change(conn, code, online, at)
    for day, town, calls, prop, major in (
        (dt.date(2026, 11, 5), TOWN_A, 90, 10, 2),
        (dt.date(2026, 11, 18), TOWN_B, 10, 0, 0),
        (dt.date(2025, 11, 10), TOWN_A, 125, 8, 2),
        (dt.date(2025, 11, 25), TOWN_A, 1000, 100, 10),
        (dt.date(2026, 10, 10), TOWN_A, 50, 5, 1),
        (dt.date(2025, 10, 10), TOWN_A, 40, 5, 1),
    ):
        add_police_stat(conn, day, town, calls, prop, major)
    add_key_area(conn, 1, TOWN_A, dt.date(2026, 1, 1), dt.date(2026, 6, 1))
    add_key_area(conn, 2, TOWN_B, dt.date(2026, 3, 1))
    add_key_area(conn, 3, TOWN_A, dt.date(2026, 11, 18))
    add_key_area(conn, 4, TOWN_A, dt.date(2026, 12, 1))
    return ids


def without_min_base(monkeypatch: Any) -> None:
    """The registry with no minimum bases: the hand-built districts check the arithmetic of each figure
    and comparison with a handful of cases (``tests/core/test_colour_rules.py`` checks the bases)."""
    import dataclasses

    from dashboard.core.metrics import METRICS

    for key, metric in list(METRICS.items()):
        monkeypatch.setitem(METRICS, key, dataclasses.replace(metric, min_base=0.0))
