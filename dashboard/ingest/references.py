"""Checks against the reference tables, derived columns and the sanity rules of each table.

Codes must name a row of the database or of this import; missing town and village codes are filled in
from the grid (and cross-checked when given); event, action and patrol rows are checked for order and
for statuses that agree with their times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy import select as sa_select

from dashboard.core import domain
from dashboard.ingest.conversion import SHANGHAI
from dashboard.ingest.derive import (
    DEPT_NAME_KEPT,
    FROM_ACTION_LOG,
    TITLE_DERIVED,
    boundary_centre,
    derive_unit_columns,
    event_title,
    missing_intermediate_times,
)
from dashboard.ingest.job import FileJob, Row
from dashboard.source import schema
from dashboard.source.engines import not_null_columns

CHUNK = 500  # keys per SELECT … IN (…): well under every backend's parameter limit


def lookup(conn: Connection, table: Table, key: str, values: Iterable[Any], cols: Sequence[str]) -> dict:
    """``{key value: row}`` for the given key values, read in chunks."""
    wanted = sorted({v for v in values if v is not None}, key=str)
    found: dict[Any, Any] = {}
    columns = [table.c[key], *(table.c[c] for c in cols)]
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        for row in conn.execute(sa_select(*columns).where(table.c[key].in_(chunk))):
            found[row[0]] = row
    return found


# Reference columns whose export may give a name instead of a code: field → (table, key, name column).
BY_NAME: dict[str, tuple[Table, str, str]] = {
    "town_code": (schema.admin_unit, "code", "name_zh"),
    "village_code": (schema.admin_unit, "code", "name_zh"),
    "parent_code": (schema.admin_unit, "code", "name_zh"),
    "grid_code": (schema.grid, "grid_code", "grid_name"),
    "dispatch_dept_code": (schema.department, "dept_code", "name_zh"),
    "dept_code": (schema.department, "dept_code", "name_zh"),
}
NAMED_BY = "codes given by name"


def codes_from_names(job: FileJob, conn: Connection) -> None:
    """Replace a reference given by its name (城厢街道, 城管局) with its code, when the name is unique.

    A value that is already a known code is left alone; a name two units share is an error that names
    their codes. Names are looked up in the database (reference rows imported in the same run included)."""
    for fieldname, (table, key, name_col) in BY_NAME.items():
        if fieldname not in job.spec.fields or (job.spec.name == "admin_unit" and fieldname != "parent_code"):
            continue
        values = {r.values[fieldname] for r in job.rows if r.values.get(fieldname) is not None}
        if not values:
            continue
        known = lookup(conn, table, key, values, ())
        names = values - set(known)
        if not names:
            continue
        by_name: dict[Any, list[Any]] = {}
        for code, name in _rows_named(conn, table, key, name_col, names):
            by_name.setdefault(name, []).append(code)
        if job.spec.table is table:  # a parent named by a row of the same file
            for r in job.rows:
                name, code = r.values.get(name_col), r.values.get(key)
                if name in names and code is not None and code not in by_name.get(name, []):
                    by_name.setdefault(name, []).append(code)
        for r in job.rows:
            value = r.values.get(fieldname)
            codes = by_name.get(value) if value in names else None
            if codes and len(codes) == 1:
                r.values[fieldname] = codes[0]
                job.warn(f"{job.label(fieldname)}: {NAMED_BY}", r.line)
            elif codes:
                job.bad(
                    r,
                    fieldname,
                    f"the name {value!r} is shared by {', '.join(sorted(map(str, codes)))}: give the code",
                )


def _rows_named(conn: Connection, table: Table, key: str, name_col: str, names: set[Any]) -> list[Any]:
    wanted = sorted(names, key=str)
    out: list[Any] = []
    for start in range(0, len(wanted), CHUNK):
        query = sa_select(table.c[key], table.c[name_col]).where(
            table.c[name_col].in_(wanted[start : start + CHUNK])
        )
        out.extend(conn.execute(query).all())
    return out


def _check_refs(
    job: FileJob, conn: Connection, fieldname: str, table: Table, key: str, what: str, *, self_key: str = ""
) -> dict:
    """Report rows whose ``fieldname`` names no row of ``table`` (nor of this file, for self references)."""
    rows = [r for r in job.rows if r.values.get(fieldname) is not None]
    found = lookup(conn, table, key, (r.values[fieldname] for r in rows), ())
    local = {r.values.get(self_key) for r in job.rows} if self_key else set()
    for r in rows:
        value = r.values[fieldname]
        if value not in found and value not in local:
            job.bad(r, fieldname, f"unknown {what} {value!r} (not in the database nor in this import)")
    return found


def _grid_places(job: FileJob, conn: Connection, *, village: bool) -> None:
    """Check grid_code exists; fill (and cross-check) town_code / village_code from the grid."""
    grids = lookup(
        conn,
        schema.grid,
        "grid_code",
        (r.values.get("grid_code") for r in job.rows),
        ("village_code", "town_code"),
    )
    targets = ("village_code", "town_code") if village else ("town_code",)
    for r in job.rows:
        code = r.values.get("grid_code")
        if code is None:
            continue
        g = grids.get(code)
        if g is None:
            job.bad(r, "grid_code", f"unknown grid {code!r} (not in the grid table nor in this import)")
            continue
        for col in targets:
            expected = g._mapping[col]
            given = r.values.get(col)
            if given is None:
                r.values[col] = expected
            elif given != expected:
                job.bad(r, col, f"{given!r} does not match grid {code}'s {col} {expected!r}")


def _village_places(job: FileJob, conn: Connection) -> None:
    """Rows without a grid: the village exists and is a village; the town is taken from it (and
    cross-checked when given)."""
    rows = [r for r in job.rows if r.ok and r.values.get("grid_code") is None]
    villages = lookup(
        conn,
        schema.admin_unit,
        "code",
        (r.values.get("village_code") for r in rows),
        ("parent_code", "level"),
    )
    for r in rows:
        village = r.values.get("village_code")
        if village is None:
            continue
        found = villages.get(village)
        if found is None or found._mapping["level"] != "village":
            job.bad(
                r, "village_code", f"unknown village {village!r} (not in the database nor in this import)"
            )
            continue
        town, given = found._mapping["parent_code"], r.values.get("town_code")
        if given is None:
            r.values["town_code"] = town
        elif given != town:
            job.bad(r, "town_code", f"{given!r} does not match village {village}'s town {town!r}")


def _town_level_allowed(job: FileJob, conn: Connection) -> None:
    """A database made by an older init-db holds event.grid_code NOT NULL: say how to upgrade it,
    per row, rather than fail on the insert."""
    rows = [r for r in job.rows if r.ok and r.values.get("grid_code") is None]
    if not rows:
        return
    stale = not_null_columns(conn, "event")
    for r in rows:
        for col in stale:
            if r.values.get(col) is None:
                job.bad(
                    r, col, f"this database was made before town-level cases: run init-db again ({col} NULL)"
                )


def _missing_derived(job: FileJob, cols: Sequence[str], why: str) -> None:
    for r in job.rows:
        for col in cols:
            if r.ok and r.values.get(col) is None:
                job.bad(r, col, f"required value is missing ({why})")


def _towns(job: FileJob, conn: Connection, *, level: bool = False) -> None:
    """The towns exist; ``level``: and are towns (a case without a grid is counted in it, so a village's
    or the district's code there would put it in no town's figures)."""
    found = _check_refs(job, conn, "town_code", schema.admin_unit, "code", "town")
    if not level:
        return
    levels = lookup(conn, schema.admin_unit, "code", found, ("level",))
    for r in job.rows:
        code = r.values.get("town_code")
        unit = levels.get(code)
        if r.ok and unit is not None and unit._mapping["level"] != "town":
            job.bad(r, "town_code", f"{code!r} is a {unit._mapping['level']}, not a town")


def resolve_admin_unit(job: FileJob, conn: Connection) -> None:
    """Parents exist; validity dates in order; optional columns derived (:mod:`dashboard.ingest.derive`)."""
    codes_from_names(job, conn)
    _check_refs(job, conn, "parent_code", schema.admin_unit, "code", "parent unit", self_key="code")
    for r in job.rows:
        if r.ok:
            derive_unit_columns(job, r)
    _ordered(job, "valid_from", "valid_to")


def resolve_grid(job: FileJob, conn: Connection) -> None:
    """Villages exist; the town is taken from the village when not given; a grid without a type is a
    基础网格 (the ordinary kind: 专属网格 are the few an export names)."""
    codes_from_names(job, conn)
    villages = _check_refs(job, conn, "village_code", schema.admin_unit, "code", "village")
    parents = lookup(conn, schema.admin_unit, "code", villages, ("parent_code",))
    for r in job.rows:
        village = r.values.get("village_code")
        if r.values.get("town_code") is None and village in parents:
            r.values["town_code"] = parents[village]._mapping["parent_code"]
    _towns(job, conn)
    _missing_derived(job, ["town_code"], "and the village has no parent town")
    for r in job.rows:
        if r.ok and r.values.get("center_lng") is None and r.values.get("boundary_geojson"):
            centre = boundary_centre(str(r.values["boundary_geojson"]))
            if centre is not None:
                r.values["center_lng"], r.values["center_lat"] = centre
                job.warn(f"{job.label('center_lng')}: the boundary's centre", r.line)
        if r.ok and not r.values.get("grid_type"):
            r.values["grid_type"] = "基础网格"
            job.warn(f"{job.label('grid_type')}: taken as 基础网格", r.line)


def resolve_department(job: FileJob, conn: Connection) -> None:
    """Parent departments exist."""
    _check_refs(
        job, conn, "parent_code", schema.department, "dept_code", "parent department", self_key="dept_code"
    )
    for r in job.rows:
        if r.ok and not r.values.get("name_en"):
            r.values["name_en"] = r.values.get("name_zh")
            job.warn(f"{job.label('name_en')}: {DEPT_NAME_KEPT}", r.line)


def resolve_staff(job: FileJob, conn: Connection) -> None:
    """Grid, town and department exist; the town is taken from the grid."""
    codes_from_names(job, conn)
    _grid_places(job, conn, village=False)
    _towns(job, conn)
    _check_refs(job, conn, "dept_code", schema.department, "dept_code", "department")


def resolve_event(job: FileJob, conn: Connection) -> None:
    """Places from the grid, the dispatch department exists, the lifecycle is consistent, a title.

    A case may name only its village or its town (a 12345 hotline case, 未落网格): the grid is then
    left empty and the case counts at town level; a case that names no place at all is refused."""
    codes_from_names(job, conn)
    _grid_places(job, conn, village=True)
    _village_places(job, conn)
    _towns(job, conn, level=True)
    _missing_derived(job, ["town_code"], "give the grid, the village or at least the town")
    _town_level_allowed(job, conn)
    _check_refs(job, conn, "dispatch_dept_code", schema.department, "dept_code", "department")
    for r in job.rows:
        if r.ok:
            check_event_lifecycle(job, r)
        if r.ok and not r.values.get("title"):
            r.values["title"] = event_title(r.values)
            job.warn(f"{job.label('title')}: {TITLE_DERIVED}", r.line)


EVENT_TIMES = (
    "accepted_at",
    "rejected_at",
    "dispatched_at",
    "signed_at",
    "handled_at",
    "closed_at",
    "verified_at",
    "archived_at",
)


def check_event_lifecycle(job: FileJob, r: Row) -> None:
    """Timestamps in order and a status that agrees with them (the lifecycle's order of events)."""
    v = r.values
    reported = v.get("reported_at")
    for col in EVENT_TIMES:
        at = v.get(col)
        if at is not None and reported is not None and at < reported:
            job.bad(r, col, f"{_local(at)} is before reported_at {_local(reported)}")
    accepted, closed = v.get("accepted_at"), v.get("closed_at")
    if accepted is not None and closed is not None and closed < accepted:
        job.bad(r, "closed_at", f"{_local(closed)} is before accepted_at {_local(accepted)}")
    status = v.get("status")
    if status in domain.CLOSED_STATUSES and closed is None:
        job.bad(r, "closed_at", f"status {status} needs a closed_at (办结时间)")
    if status not in domain.CLOSED_STATUSES and status is not None and closed is not None:
        job.bad(r, "status", f"status {status} is not closed, but closed_at is set")
    if status == "REJECTED" and accepted is not None:
        job.bad(r, "status", "a rejected (不予受理) event cannot have accepted_at")
    for col in missing_intermediate_times(status, v):
        job.warn(f"status {status} without {job.label(col)}: {FROM_ACTION_LOG}", r.line)


def _local(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") + " (+08:00)"


def _ordered(job: FileJob, first: str, then: str) -> None:
    for r in job.rows:
        a, b = r.values.get(first), r.values.get(then)
        if a is not None and b is not None and b < a:
            job.bad(r, then, f"{b} is before {first} {a}")


def _event_ids(job: FileJob, conn: Connection) -> None:
    events = lookup(
        conn, schema.event, "event_no", (r.values.get("event_no") for r in job.rows), ("event_id",)
    )
    for r in job.rows:
        no = r.values.get("event_no")
        if no is None:
            continue
        if no in events:
            r.values["event_id"] = events[no]._mapping["event_id"]
        else:
            job.bad(r, "event_no", f"unknown event {no!r} (not in the database nor in this import)")


def resolve_event_action(job: FileJob, conn: Connection) -> None:
    """The event exists; the action can make the given (or the only possible) transition."""
    _event_ids(job, conn)
    for r in job.rows:
        action, before, after = (r.values.get(k) for k in ("action", "from_status", "to_status"))
        allowed = domain.TRANSITIONS.get(action or "", set())
        if after is None:
            targets = {t for _, t in allowed}
            if len(targets) == 1:
                r.values["to_status"] = after = targets.pop()
            elif r.ok:
                job.bad(r, "to_status", f"required for action {action} (it can lead to several states)")
                continue
        if before is not None and after is not None and (before, after) not in allowed:
            job.bad(r, "to_status", f"action {action} cannot move {before} → {after}")


def resolve_evaluation(job: FileJob, conn: Connection) -> None:
    """The event exists; scores are 1–5."""
    _event_ids(job, conn)
    for r in job.rows:
        for col in ("speed_score", "effect_score"):
            score = r.values.get(col)
            if score is not None and not 1 <= score <= 5:
                job.bad(r, col, f"score {score} is outside 1–5")


def resolve_patrol(job: FileJob, conn: Connection) -> None:
    """Places from the grid; the patrol ends after it starts."""
    codes_from_names(job, conn)
    _grid_places(job, conn, village=False)
    _ordered(job, "started_at", "ended_at")


def resolve_patrol_checkin(job: FileJob, conn: Connection) -> None:
    """The patrol is found by id, or by its staff and start time."""
    _check_refs(job, conn, "patrol_id", schema.patrol, "patrol_id", "patrol")
    pending = [r for r in job.rows if r.values.get("patrol_id") is None]
    patrols = _patrols_by_staff(conn, {r.values.get("staff_id") for r in pending})
    for r in pending:
        staff_id, started = r.values.get("staff_id"), r.values.get("patrol_started_at")
        if staff_id is None or started is None:
            if r.ok:
                job.bad(r, "patrol_id", "give patrol_id, or staff_id and patrol_started_at")
        elif (staff_id, started) in patrols:
            r.values["patrol_id"] = patrols[(staff_id, started)]
        else:
            job.bad(r, "patrol_started_at", f"no patrol by staff {staff_id} started at {_local(started)}")


def _patrols_by_staff(conn: Connection, staff_ids: set[Any]) -> dict[tuple[int, dt.datetime], int]:
    """(staff_id, started_at) → patrol_id for the given staff, read in chunks."""
    p = schema.patrol
    wanted = sorted(s for s in staff_ids if s is not None)
    found: dict[tuple[int, dt.datetime], int] = {}
    for start in range(0, len(wanted), CHUNK):
        query = sa_select(p.c.staff_id, p.c.started_at, p.c.patrol_id).where(
            p.c.staff_id.in_(wanted[start : start + CHUNK])
        )
        for staff_id, started, patrol_id in conn.execute(query):
            found[(staff_id, started)] = patrol_id
    return found


def resolve_video_point(job: FileJob, conn: Connection) -> None:
    """The grid exists; the town is taken from it."""
    codes_from_names(job, conn)
    _grid_places(job, conn, village=False)


def resolve_video_status_change(job: FileJob, conn: Connection) -> None:
    """The video point exists."""
    _check_refs(job, conn, "point_code", schema.video_point, "point_code", "video point")


def resolve_key_area(job: FileJob, conn: Connection) -> None:
    """The town exists; delisted after listed."""
    codes_from_names(job, conn)
    _towns(job, conn)
    _ordered(job, "listed_at", "delisted_at")


def resolve_safety_inspection(job: FileJob, conn: Connection) -> None:
    """Places from the grid; no more hazards rectified than found."""
    codes_from_names(job, conn)
    _grid_places(job, conn, village=False)
    _towns(job, conn)
    _missing_derived(job, ["town_code"], "give town_code or grid_code")
    for r in job.rows:
        found, fixed = r.values.get("hazards_found"), r.values.get("hazards_rectified")
        if found is not None and fixed is not None and fixed > found:
            job.bad(r, "hazards_rectified", f"{fixed} rectified is more than the {found} found")


def resolve_police_call_stat(job: FileJob, conn: Connection) -> None:
    """The town exists (given by code or name)."""
    codes_from_names(job, conn)
    _towns(job, conn)


RESOLVERS: dict[str, Callable[[FileJob, Connection], None]] = {
    "admin_unit": resolve_admin_unit,
    "grid": resolve_grid,
    "department": resolve_department,
    "staff": resolve_staff,
    "event": resolve_event,
    "event_action": resolve_event_action,
    "evaluation": resolve_evaluation,
    "patrol": resolve_patrol,
    "patrol_checkin": resolve_patrol_checkin,
    "video_point": resolve_video_point,
    "video_status_change": resolve_video_status_change,
    "police_call_stat": resolve_police_call_stat,
    "key_area": resolve_key_area,
    "safety_inspection": resolve_safety_inspection,
}
