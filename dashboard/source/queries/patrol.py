"""The patrol panel: coverage per unit below the view, hours since each grid's last valid patrol.

``snapshot.patrol`` = {
  "child_level": "town" | "village" | "grid",
  "units": [{code, name_zh, name_en, grids, covered_today, covered_24h, coverage_today, coverage_24h}],
  "grids": [{grid_code, hours}] (hours since the last valid patrol, None = none in 30 days; for the map),
  "on_duty": {force: {on_duty, strength, label_zh, label_en}},
  "video_offline": [{point_code, name, town_code, since, hours}] (10 longest offline at now),
}
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, or_, select

from dashboard.core.metrics import figure
from dashboard.core.viewstate import ViewState
from dashboard.source import schema
from dashboard.source.queries.common import day_bounds, upto
from dashboard.source.queries.kpis import video_offline_longest
from dashboard.source.queries.scope import Names, grid_conditions, unit_names, view_level
from dashboard.source.queries.sqlfuncs import aware_utc

LOOKBACK = dt.timedelta(days=30)  # bound on the index range searched for a grid's last patrol


def _grid_rows(conn: Connection, view: ViewState, now: dt.datetime) -> list[tuple[str, str, str, Any]]:
    """(grid, village, town, last valid patrol start ≤ now) for every active grid in scope.

    One correlated MAX per grid on the (grid_code, started_at) index; bounded by the number of grids.
    """
    p, g = schema.patrol.c, schema.grid.c
    cap = upto(now)
    last = (  # the newest matching start: a backward walk of the index that stops at the first match
        select(p.started_at)
        .where(
            p.grid_code == g.grid_code,
            p.valid.is_(True),
            p.started_at < cap,
            p.started_at >= now - LOOKBACK,
            or_(p.ended_at.is_(None), p.ended_at < cap),
        )
        .order_by(p.started_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    q = select(g.grid_code, g.village_code, g.town_code, last.label("last")).where(*grid_conditions(view))
    return [(code, village, town, aware_utc(last_at)) for code, village, town, last_at in conn.execute(q)]


def patrol_panel(
    conn: Connection,
    view: ViewState,
    now: dt.datetime,
    on_duty: dict[str, Any] | None = None,
    names: Names | None = None,
    video: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Coverage per child unit, per-grid hours since the last valid patrol, on-duty forces, video outages.

    ``on_duty`` and ``video`` are the details of the patrol_on_duty and video_online_rate tiles when the
    caller has them (their forces and longest outages are read once for tile and panel).
    """
    d0, cap = day_bounds(now)
    lvl = view_level(view)
    child = lvl.child_level or "grid"
    rows = _grid_rows(conn, view, now)
    units: dict[str, dict[str, Any]] = {}
    grids = []
    for code, village, town, last in rows:
        key = {"town": town, "village": village}.get(child, code)
        acc = units.setdefault(key, {"code": key, "grids": 0, "covered_today": 0, "covered_24h": 0})
        acc["grids"] += 1
        acc["covered_today"] += int(last is not None and last >= d0)
        acc["covered_24h"] += int(last is not None and last >= cap - dt.timedelta(days=1))
        hours = round((now - last).total_seconds() / 3600, 2) if last else None
        grids.append({"grid_code": code, "hours": hours})
    found = unit_names(conn, set(units), names)
    for acc in units.values():
        acc["name_zh"], acc["name_en"], _ = found[acc["code"]]
        # The tiles' formulas, over this unit's grids.
        acc["coverage_today"] = figure(
            "patrol_coverage_today", {"covered": acc["covered_today"], "grids": acc["grids"]}
        )
        acc["coverage_24h"] = figure(
            "patrol_coverage_24h", {"covered": acc["covered_24h"], "grids": acc["grids"]}
        )
    ordered = sorted(units.values(), key=lambda u: (u["coverage_today"] or 0.0, u["code"]))
    return {
        "child_level": child,
        "units": ordered,
        "grids": sorted(grids, key=lambda x: x["grid_code"]),
        "on_duty": (on_duty or {}).get("forces", {}),
        "video_offline": video["offline_longest"]
        if video and "offline_longest" in video
        else video_offline_longest(conn, view, now),
    }
