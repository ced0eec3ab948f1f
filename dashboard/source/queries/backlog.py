"""The backlog panel: open cases at ``now`` one level below the view (a grid's view: the grid itself),
aged, overdue, per 1,000 residents.

``snapshot.backlog`` = {
  "level", "code", "child_level", "breadcrumb": [(level, code, name_zh, name_en) …],
  "age_buckets": ["lt1d", "d1_3", "d3_7", "d7_30", "gt30d"],
  "units": [{code, name_zh, name_en, backlog, overdue, lt1d … gt30d, population, per_1000, rank}]
           (town-level cases, if any: a last row of code '' named 未落网格, rank None; a grid's view: the
           grid's own row, so its open cases by age and per 1,000 are drawn, not "no data"),
  "top_grids": [{grid_code, name_zh, name_en, town_code, overdue, backlog}] (20 most overdue),
  "cases": [...] (grid level only: the open cases, without personal data),
}
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, select

from dashboard.core import domain
from dashboard.core.viewstate import ViewState
from dashboard.source.queries.common import E, count_if, effective_deadline, open_at, upto
from dashboard.source.queries.scope import (
    Names,
    breadcrumb,
    child_codes,
    child_column,
    event_conditions,
    unit_names,
    view_level,
)
from dashboard.source.queries.sqlfuncs import aware_utc

AGE_BUCKETS = (("lt1d", 0, 1), ("d1_3", 1, 3), ("d3_7", 3, 7), ("d7_30", 7, 30), ("gt30d", 30, None))
TOP_GRIDS = 20
MAX_CASES = 200


def _age_columns(now: dt.datetime) -> list[Any]:
    """One count per ageing bucket, by now − reported_at (lower bound inclusive)."""
    cols = []
    for name, lo, hi in AGE_BUCKETS:
        cond = E.c.reported_at <= now - dt.timedelta(days=lo)
        if hi is not None:
            cond = cond & (E.c.reported_at > now - dt.timedelta(days=hi))
        cols.append(count_if(cond).label(name))
    return cols


def _unit_rows(conn: Connection, view: ViewState, now: dt.datetime, cache: Names) -> list[dict[str, Any]]:
    cap = upto(now)
    child = child_column(view, E)
    q = (
        select(
            child.label("code"),
            func.count().label("backlog"),
            count_if(effective_deadline() < now).label("overdue"),
            *_age_columns(now),
        )
        .where(*event_conditions(view), *open_at(cap))
        .group_by(child)
    )
    return unit_rows(conn, view, by_code(conn.execute(q).mappings()), cache)


def by_code(rows: Any) -> dict[str, dict[str, Any]]:
    """``{code: row}``; cases without a unit at the child level (town-level cases, grouped under NULL by
    the source and under '' by the rollups) go under :data:`~dashboard.core.domain.UNGRIDDED_CODE`."""
    found = {}
    for r in rows:
        row = dict(r)
        row["code"] = row["code"] or domain.UNGRIDDED_CODE
        found[row["code"]] = row
    return found


def unit_rows(
    conn: Connection, view: ViewState, found: dict[str, dict[str, Any]], names: Names
) -> list[dict[str, Any]]:
    """The ranked rows of every unit one level below the view, from the open-case counts ``found``
    per unit code (``backlog``, ``overdue`` and the age buckets): units without open cases get zeros."""
    codes = set(found) | set(child_codes(conn, view))
    return ranked_unit_rows(found, codes, unit_names(conn, codes, names))


def ranked_unit_rows(
    found: dict[str, dict[str, Any]], codes: set[str], names: dict[str, tuple[str, str, int | None]]
) -> list[dict[str, Any]]:
    """One row per child unit (zeros where it has no open case), with names, per-1,000 and rank; the
    未落网格 row (town-level cases) comes last, without a rank: it is not a unit."""
    rows = []
    for code in codes:
        row = found.get(code) or {
            "code": code,
            "backlog": 0,
            "overdue": 0,
            **{n: 0 for n, _, _ in AGE_BUCKETS},
        }
        row = {k: (v if k == "code" else int(v or 0)) for k, v in row.items()}
        zh, en, pop = names[code]
        row.update(name_zh=zh, name_en=en, population=pop)
        row["per_1000"] = round(row["backlog"] / pop * 1000, 3) if pop else None
        rows.append(row)
    rows.sort(key=lambda r: (r["code"] == domain.UNGRIDDED_CODE, -r["backlog"], -r["overdue"], r["code"]))
    for i, row in enumerate(rows, start=1):
        row["rank"] = None if row["code"] == domain.UNGRIDDED_CODE else i
    return rows


def _top_grids(conn: Connection, view: ViewState, now: dt.datetime, cache: Names) -> list[dict[str, Any]]:
    overdue = count_if(effective_deadline() < now)
    q = (
        select(E.c.grid_code, E.c.town_code, overdue.label("overdue"), func.count().label("backlog"))
        .where(*event_conditions(view), *open_at(upto(now)), E.c.grid_code.is_not(None))  # grids only
        .group_by(E.c.grid_code, E.c.town_code)
        .having(overdue > 0)
        .order_by(overdue.desc(), E.c.grid_code)
        .limit(TOP_GRIDS)
    )
    return named_grids(conn, [dict(r) for r in conn.execute(q).mappings()], cache)


def named_grids(conn: Connection, rows: list[dict[str, Any]], names: Names) -> list[dict[str, Any]]:
    """The top-grid rows (grid_code, town_code, overdue, backlog) as ints, with the grids' names."""
    found = unit_names(conn, {r["grid_code"] for r in rows}, names)
    for row in rows:
        row["overdue"], row["backlog"] = int(row["overdue"]), int(row["backlog"])
        row["name_zh"], row["name_en"], _ = found[row["grid_code"]]
    return rows


def _case_columns() -> list[Any]:
    return [
        E.c.event_no,
        E.c.title,
        E.c.category_l1,
        E.c.priority,
        E.c.reported_at,
        effective_deadline().label("deadline"),
        E.c.supervised_at,
    ]


def _cases(conn: Connection, view: ViewState, now: dt.datetime) -> list[dict[str, Any]]:
    """The open cases of one grid, masked: no reporter, phone or address."""
    cap = upto(now)
    q = (
        select(*_case_columns())
        .where(*event_conditions(view), *open_at(cap))
        .order_by(E.c.reported_at)
        .limit(MAX_CASES)
    )
    return _case_dicts(conn.execute(q).mappings(), now)


def case_rows(conn: Connection, event_ids: list[int], now: dt.datetime) -> list[dict[str, Any]]:
    """:func:`_cases` for open cases already known by id (the rollups path lists a grid's open cases)."""
    if not event_ids:
        return []
    q = select(*_case_columns()).where(E.c.event_id.in_(event_ids)).order_by(E.c.reported_at).limit(MAX_CASES)
    return _case_dicts(conn.execute(q).mappings(), now)


def _case_dicts(rows: Any, now: dt.datetime) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        due = aware_utc(r["deadline"])
        out.append(
            {
                "event_no": r["event_no"],
                "title": r["title"],
                "category": r["category_l1"],
                "priority": r["priority"],
                "reported_at": r["reported_at"].isoformat(),
                "age_days": round((now - r["reported_at"]).total_seconds() / 86400, 2),
                "deadline": due.isoformat() if due else None,
                "overdue": bool(due and due < now),
                "supervised": bool(r["supervised_at"] and r["supervised_at"] <= now),
            }
        )
    return out


def backlog(
    conn: Connection, view: ViewState, now: dt.datetime, names: Names | None = None
) -> dict[str, Any]:
    """The backlog panel at ``now`` (see the module docstring for the shape)."""
    lvl = view_level(view)
    cache: Names = {} if names is None else names
    return backlog_panel(
        conn,
        view,
        units=_unit_rows(conn, view, now, cache),
        top_grids=_top_grids(conn, view, now, cache),
        cases=_cases(conn, view, now) if lvl.level == "grid" else [],
    )


def backlog_panel(
    conn: Connection,
    view: ViewState,
    *,
    units: list[dict[str, Any]],
    top_grids: list[dict[str, Any]],
    cases: list[dict[str, Any]],
) -> dict[str, Any]:
    """The panel's dict (see the module docstring) around its three tables, on either path."""
    lvl = view_level(view)
    return {
        "level": lvl.level,
        "code": lvl.code,
        "child_level": lvl.child_level,
        "breadcrumb": [list(step) for step in breadcrumb(conn, view)],
        "age_buckets": [name for name, _, _ in AGE_BUCKETS],
        "units": units,
        "top_grids": top_grids,
        "cases": cases,
    }
