"""Unit and department rankings: by on-time close rate, then close rate (ties by code).

The units are the ones one level below the view: the towns of the district, the villages of a town,
the grids of a village (``units``); ``towns`` always ranks towns (the ticker names its towns from it).

One UNION ALL statement computes the rankings: each branch groups the period's events by
(unit, department), and Python folds the rows into the tables (at most a few hundred rows) with
:func:`ranking_tables`, which the rollups path uses for its own rows too. The rates are the registry's
formulas (:func:`dashboard.core.metrics.figure`) over the same named counts as the KPI tiles.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, literal, select, union_all

from dashboard.core import domain
from dashboard.core.metrics import METRICS, figure, has_base
from dashboard.core.periods import period_bounds
from dashboard.core.snapshot import UnitRow
from dashboard.core.viewstate import ViewState
from dashboard.source import schema
from dashboard.source.queries.common import (
    E,
    count_if,
    dept_at,
    due_aggs,
    due_conditions,
    due_hint,
    effective_deadline,
    open_at,
    sum_if,
    upto,
)
from dashboard.source.queries.scope import (
    TOWN_CODE_LEN,
    child_codes,
    child_column,
    event_conditions,
    place_conditions,
    unit_names,
    view_level,
)
from dashboard.source.queries.sqlfuncs import hours_between

_ZERO = literal(0)
DEPT_NONE = "NONE"  # events not dispatched to any department
RANKED_BY = "on_time_rate"  # its minimum base (cases due) decides which units are ranked


def _branches(view: ViewState, now: dt.datetime) -> list[Any]:
    """(kind, unit, dept, a, b, c) rows: due/closed/on-time, closed hours, reported, overdue open
    (the row shape :func:`ranking_tables` folds); the unit is the one below the view."""
    period = period_bounds(view, now)
    start, cap = period.start, period.cap
    unit, dept = child_column(view, E), func.coalesce(dept_at(upto(now)), DEPT_NONE)
    scope = event_conditions(view)
    due = due_aggs(upto(now))
    accepted = E.c.accepted_at.is_not(None)

    def branch(kind: str, cols: list[Any], where: list[Any]) -> Any:
        return (
            select(literal(kind).label("kind"), unit.label("unit"), dept.label("dept"), *cols)
            .where(*where)
            .group_by(unit, dept)
        )

    deadline = effective_deadline()
    return [
        branch(
            "due",
            [due["due"].label("a"), due["due_closed"].label("b"), due["on_time"].label("c")],
            [*due_conditions(view, upto(now)), deadline >= start, deadline < cap, *due_hint(start, cap)],
        ),
        branch(
            "closed",
            [
                func.count().label("a"),
                sum_if(accepted, hours_between(E.c.accepted_at, E.c.closed_at)).label("b"),
                count_if(accepted).label("c"),
            ],
            [*scope, E.c.closed_at >= start, E.c.closed_at < cap],
        ),
        branch(
            "reported",
            [func.count().label("a"), _ZERO.label("b"), _ZERO.label("c")],
            [*scope, E.c.reported_at >= start, E.c.reported_at < cap],
        ),
        branch(
            "overdue",
            [func.count().label("a"), _ZERO.label("b"), _ZERO.label("c")],
            [*scope, *open_at(upto(now)), deadline < now],
        ),
    ]


def _empty() -> dict[str, float]:
    return dict.fromkeys(
        ("due", "due_closed", "on_time", "closed", "hours_sum", "hours_n", "reported", "overdue"), 0.0
    )


Folded = dict[str, dict[str, float]]


def _fold(rows: list[Any], town: str) -> tuple[Folded, Folded, Folded]:
    """(units, towns, departments): a unit's town is the first nine digits of its code; town-level
    cases (no unit at this level: NULL, '' on the rollups path) are ``town``'s, the view's own town."""
    units: Folded = {}
    towns: Folded = {}
    depts: Folded = {}
    names = {
        "due": ("due", "due_closed", "on_time"),
        "closed": ("closed", "hours_sum", "hours_n"),
        "reported": ("reported",),
        "overdue": ("overdue",),
    }
    for kind, unit_code, dept, a, b, c in rows:
        unit = unit_code or domain.UNGRIDDED_CODE
        unit_town = str(unit)[:TOWN_CODE_LEN] if unit else town
        for table, code in ((units, unit), (towns, unit_town), (depts, dept)):
            acc = table.setdefault(code, _empty())
            for name, value in zip(names[kind], (a, b, c), strict=False):
                acc[name] += float(value or 0)
    return units, towns, depts


def _rows(units: dict[str, dict[str, float]], names: dict[str, tuple[str, str]]) -> list[UnitRow]:
    out = []
    for code, acc in units.items():
        zh, en = names.get(code, (code, code))
        values: dict[str, float | int | None] = {
            "on_time_rate": figure("on_time_rate", acc),
            "close_rate": figure("close_rate", acc),
            "overdue": int(acc["overdue"]),
            "mean_hours_to_close": figure("mean_hours_to_close", acc),
            "due": int(acc["due"]),
            "closed": int(acc["closed"]),
            "reported": int(acc["reported"]),
        }
        out.append(UnitRow(code, zh, en, values))

    # 未落网格 (town-level cases) is listed but never ranked: it is not a unit.
    ranked = {
        row.code
        for row in out
        if row.code != domain.UNGRIDDED_CODE and has_base(METRICS[RANKED_BY], units[row.code])
    }

    def order(row: UnitRow) -> tuple[bool, bool, bool, float, bool, float, str]:
        on_time, close = row.values["on_time_rate"], row.values["close_rate"]
        return (
            row.code == domain.UNGRIDDED_CODE,
            row.code not in ranked,
            on_time is None,
            -(on_time or 0.0),
            close is None,
            -(close or 0.0),
            row.code,
        )

    out.sort(key=order)
    # A unit with too little due (nothing, or under the metric's minimum base) is listed after the
    # ranked ones without a rank: 0 of 2 due is not "the worst unit of the district".
    for i, row in enumerate(out, start=1):
        row.values["rank"] = i if row.code in ranked else None
    return out


def _town_names(conn: Connection, view: ViewState) -> dict[str, tuple[str, str]]:
    """Every town in scope (so a town with no cases still appears), named from admin_unit."""
    au = schema.admin_unit.c
    q = select(au.code, au.name_zh, au.name_en).where(au.level == "town", *place_conditions(view, au.code))
    names = {code: (zh, en) for code, zh, en in conn.execute(q)}
    if not names:  # a database without admin units: the 2016 town list
        east = domain.eastern_town_codes() if view.eastern == "exclude" else frozenset()
        wanted = set(view.towns) or {t.code for t in domain.towns()}
        names = {t.code: (t.name_zh, t.name_en) for t in domain.towns() if t.code in wanted - east}
    return names


def dept_names(conn: Connection) -> dict[str, tuple[str, str]]:
    """{department code: (name_zh, name_en)}: the district's list, the database's names, "not dispatched"."""
    d = schema.department.c
    names = {code: (label.zh, label.en) for code, label in domain.DEPARTMENTS.items()}
    names.update({code: (zh, en) for code, zh, en in conn.execute(select(d.dept_code, d.name_zh, d.name_en))})
    names[DEPT_NONE] = ("未派单", "Not dispatched")
    return names


def rankings(conn: Connection, view: ViewState, now: dt.datetime) -> dict[str, list[UnitRow]]:
    """``{"towns": [...], "units": [...], "departments": [...]}`` ranked by on_time_rate, then close_rate
    (None last); ``units`` are the towns, villages or grids one level below the view. Units with fewer
    cases due than on_time_rate's minimum base follow, without a rank."""
    return ranking_tables(conn, view, list(conn.execute(union_all(*_branches(view, now)))))


def ranking_tables(conn: Connection, view: ViewState, rows: list[Any]) -> dict[str, list[UnitRow]]:
    """The ranked tables from ``(kind, unit, dept, a, b, c)`` rows, kind one of "due" (due,
    due_closed, on_time), "closed" (closed, hours_sum, hours_n), "reported" and "overdue" (a count);
    the unit is a town, or the village or grid one level below the view."""
    lvl = view_level(view)
    units, towns, depts = _fold(rows, lvl.code[:TOWN_CODE_LEN] if lvl.level != "district" else "")
    town_names = _town_names(conn, view)
    for code in town_names:
        towns.setdefault(code, _empty())
    depts.pop(DEPT_NONE, None)  # undispatched cases have no department to rank
    ranked = {"towns": _rows(towns, town_names), "departments": _rows(depts, dept_names(conn))}
    if view_level(view).child_level == "town":
        ranked["units"] = ranked["towns"]
    else:
        children = set(units) | set(child_codes(conn, view))
        for code in children:
            units.setdefault(code, _empty())
        names = {code: (zh, en) for code, (zh, en, _pop) in unit_names(conn, children).items()}
        ranked["units"] = _rows(units, names)
    return ranked
