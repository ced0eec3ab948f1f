"""The event panels of a fast snapshot from the rollups: rankings, backlog, trends and alerts.

Each reads its counts from the tiers or the open facts and hands them to the direct module's public
assembly (``ranking_tables``, ``backlog_panel``, ``series_panel``, ``on_time_weekly`` …), so a panel is
shaped, named and ranked in one place whichever path counted it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, and_, func, literal, select, union_all

from dashboard.core.periods import SHANGHAI, Period, label_of, period_bounds
from dashboard.core.viewstate import ViewState
from dashboard.rollups.buckets import DAY_US, from_us, to_us
from dashboard.rollups.reader import Reader, one_if
from dashboard.source.queries import alerts, backlog, rankings, trends
from dashboard.source.queries.common import upto
from dashboard.source.queries.scope import Names, view_level

# --- rankings -------------------------------------------------------------------------------------------

# (kind, the ranking family's name, how many of its sums the rankings read): a town's villages are summed
# from the facts through the (town, key) indexes, which hold exactly these sums' columns (tables.py).
RANKED_SUMS = (("due", "due", 3), ("clo", "closed", 3), ("rep", "reported", 1))


def fast_rankings(conn: Connection, reader: Reader, view: ViewState, now: dt.datetime) -> dict[str, Any]:
    """The unit and department rankings (``rankings.rankings``) from the tiers and the open facts.

    The units are the ones one level below the view: towns from the tiers; a town's villages, or a
    village's grids, from the facts of the period (no tier keeps them), as of the view's moment.
    """
    child = view_level(view).child_level or "grid"
    period = period_bounds(view, now)
    rng = [("cur", to_us(period.start) or 0, to_us(period.cap) or 0)]
    rows: list[tuple[Any, ...]] = []
    got = reader.multi(("due", "clo", "rep"), rng, (child, "dept"), widths={k: n for k, _, n in RANKED_SUMS})
    for kind, kind_name, take in RANKED_SUMS:
        for key, acc in got.items():
            if key[0] != kind or not round(acc[0]):  # emptied by increments or moved to another
                continue  # department as of now: the direct query has no row for it
            vals = (acc[0], acc[1], acc[2])
            rows.append((kind_name, key[2], key[3], *(vals[:take] + (0.0,) * (3 - take))))
    for code, dept, n in open_counts(reader, view, now)["ranked"]:
        rows.append(("overdue", code, dept, n, 0, 0))
    return rankings.ranking_tables(conn, view, rows)


# --- the open facts, counted once for the rankings and the backlog ------------------------------------------

OpenCounts = dict[str, list[Any]]


def open_counts(reader: Reader, view: ViewState, now: dt.datetime) -> OpenCounts:
    """The open facts at the view's moment counted three ways: the overdue by unit one level down and
    department (``ranked``: code, dept, n), by unit (``units``: code, backlog, overdue and the age
    buckets) and the grids with the most overdue (``top``: grid_code, town_code, overdue, backlog).

    One statement for the three, read once per snapshot (:attr:`Reader.shared`): each read the open facts
    again, and as of a past moment the facts in flight then too (three reads of ~60–90 ms each in an
    as-of year's view at 10 M events, PostgreSQL)."""
    cap, now_us = to_us(upto(now)) or 0, to_us(now) or 0
    child = view_level(view).child_level or "grid"
    key = ("open_counts", cap, now_us, child)
    if key not in reader.shared:
        reader.shared[key] = _count_open(reader, cap, now_us, child)
    counts: OpenCounts = reader.shared[key]
    return counts


def _count_open(reader: Reader, cap: int, now_us: int, child: str) -> OpenCounts:
    o = reader.open_at(cap, shared=True)
    unit, overdue = o.c[child], func.sum(one_if(o.c.dl < now_us))
    ages = []
    for _, lo, hi in backlog.AGE_BUCKETS:
        cond = o.c.rep <= now_us - lo * DAY_US
        if hi is not None:
            cond = and_(cond, o.c.rep > now_us - hi * DAY_US)
        ages.append(func.sum(one_if(cond)))
    zero, blank = literal(0), literal("")

    def part(name: str, code: Any, dept: Any, town: Any, numbers: list[Any]) -> Any:
        numbers = numbers + [zero] * (2 + len(ages) - len(numbers))
        cols = [literal(name).label("part"), code.label("code"), dept.label("dept"), town.label("town")]
        return select(*cols, *(x.label(f"n{i}") for i, x in enumerate(numbers)))

    ranked = (
        part("ranked", unit, o.c.dept, blank, [func.count()]).where(o.c.dl < now_us).group_by(unit, o.c.dept)
    )
    units = part("units", unit, blank, blank, [func.count(), overdue, *ages]).group_by(unit)
    grids = (
        select(o.c.grid, o.c.town, overdue.label("overdue"), func.count().label("backlog"))
        .where(o.c.grid != "")  # grids only: town-level cases are no grid
        .group_by(o.c.grid, o.c.town)
        .having(overdue > 0)
        .order_by(overdue.desc(), o.c.grid)
        .limit(backlog.TOP_GRIDS)
        .subquery("g")
    )
    top = part("top", grids.c.grid, blank, grids.c.town, [grids.c.overdue, grids.c.backlog])
    out: OpenCounts = {"ranked": [], "units": [], "top": []}
    for row in reader.open_rows(union_all(ranked, units, top), cap):
        n = [int(x or 0) for x in row[4:]]
        if row.part == "ranked":
            out["ranked"].append((row.code, row.dept, n[0]))
        elif row.part == "units":
            ages_of = dict(zip((name for name, _, _ in backlog.AGE_BUCKETS), n[2:], strict=True))
            out["units"].append({"code": row.code, "backlog": n[0], "overdue": n[1], **ages_of})
        else:
            out["top"].append(
                {"grid_code": row.code, "town_code": row.town, "overdue": n[0], "backlog": n[1]}
            )
    out["top"].sort(key=lambda r: (-r["overdue"], r["grid_code"]))  # (a UNION keeps no order)
    return out


# --- backlog ---------------------------------------------------------------------------------------------


def fast_backlog(
    conn: Connection, reader: Reader, view: ViewState, now: dt.datetime, names: Names
) -> dict[str, Any]:
    """The backlog panel (``backlog.backlog``) from the open facts: units one level down, top grids."""
    level = view_level(view)
    return backlog.backlog_panel(
        conn,
        view,
        units=_unit_rows(conn, reader, view, now, names),  # a grid's view: the grid's own row
        top_grids=_top_grids(conn, reader, view, now, names),
        cases=_cases(conn, reader, view, now) if level.level == "grid" else [],
    )


def _unit_rows(
    conn: Connection, reader: Reader, view: ViewState, now: dt.datetime, names: Names
) -> list[dict[str, Any]]:
    found = backlog.by_code(open_counts(reader, view, now)["units"])
    return backlog.unit_rows(conn, view, found, names)


def _top_grids(
    conn: Connection, reader: Reader, view: ViewState, now: dt.datetime, names: Names
) -> list[dict[str, Any]]:
    rows = [dict(r) for r in open_counts(reader, view, now)["top"]]
    return backlog.named_grids(conn, rows, names)


def _cases(conn: Connection, reader: Reader, view: ViewState, now: dt.datetime) -> list[dict[str, Any]]:
    """A grid's open cases: which ones from the rollups (a grid holds few), their rows from the source."""
    cap = to_us(upto(now)) or 0
    o = reader.open_at(cap)
    ids = [int(eid) for (eid,) in reader.open_rows(select(o.c.event_id), cap)]
    return backlog.case_rows(conn, ids, now)


# --- trends ------------------------------------------------------------------------------------------------


def _label(bucket: int, unit: str) -> str:
    local = from_us(bucket).astimezone(SHANGHAI)
    key = local.strftime("%Y-%m-%d %H") if unit == "hour" else local.date().isoformat()
    return label_of(key, unit)


def fast_trends(conn: Connection, reader: Reader, view: ViewState, now: dt.datetime) -> dict[str, Any]:
    """The trends panel (``trends.trends``): series and weekly on-time rates from the tiers."""
    period = period_bounds(view, now)
    unit = trends.bucket_unit(period)
    # A monthly series (a year, a long custom range) sums its whole months from the month tier: three
    # years by day were ~1,100 buckets per series and range.
    by = unit if unit in ("hour", "month") else "day"
    ly_end = period.ly_start + (period.end - period.start)
    ranges = [
        ("cur", to_us(period.start) or 0, to_us(period.cap) or 0, by, unit),
        ("ly", to_us(period.ly_start) or 0, to_us(ly_end) or 0, by, unit),
        ("d90", to_us(trends.d90_start(period)) or 0, to_us(upto(period.now)) or 0, "day", "day"),
    ]
    series = {"rep": "reported", "clo": "closed"}
    units = {tag: unit_ for tag, _, _, _, unit_ in ranges}
    counts: trends.SeriesCounts = {}
    # One read per bucketing (the ranges by day together), both series at once.
    for by_ in dict.fromkeys(r[3] for r in ranges):
        chosen = [(tag, s, e) for tag, s, e, b, _ in ranges if b == by_]
        for (kind, tag, bucket), acc in reader.multi(tuple(series), chosen, by=by_, counts_only=True).items():
            key = (series[kind], tag, _label(int(bucket), units[tag]))
            counts[key] = counts.get(key, 0) + int(acc[0])
    out = trends.series_panel(counts, period, unit)
    out.update(_reported_mix(conn, reader, view, period))
    out["on_time_weekly"] = _on_time_weekly(reader, period)
    return out


def _reported_mix(conn: Connection, reader: Reader, view: ViewState, period: Period) -> dict[str, Any]:
    # The departments as they stood at the period's end (a finished period's end is before now).
    cap = to_us(period.cap) or 0
    rng = [("cur", to_us(period.start) or 0, cap)]
    tallies: list[dict[str, int]] = [{}, {}, {}]
    # Apart: each reads a small projection, where all three together need the finest.
    for i, dim in enumerate(("cat", "src", "dept")):
        for (_, code), acc in reader.sums("rep", rng, (dim,), at=cap, counts_only=True).items():
            if round(acc[0]):
                tallies[i][code] = tallies[i].get(code, 0) + round(acc[0])
    return trends.mix_panel(conn, tallies)


def _on_time_weekly(reader: Reader, period: Period) -> dict[str, Any]:
    buckets = trends.week_buckets(period)
    got = reader.sums("due", [(label, to_us(s) or 0, to_us(e) or 0) for label, s, e in buckets])
    sums = [got.get((label,), [0.0] * 5) for label, _, _ in buckets]
    return trends.on_time_weekly(buckets, [{"due": r[0], "on_time": r[2]} for r in sums])


# --- alerts ------------------------------------------------------------------------------------------------


def fast_alerts(conn: Connection, reader: Reader, view: ViewState, now: dt.datetime) -> list[dict[str, Any]]:
    """The wall's alerts (``alerts.alerts``): overdue growth from the tiers, surges from the facts."""
    limits = alerts.alert_thresholds()  # the build's scoped thresholds (set by the snapshot service)
    instants = [(tag, to_us(t) or 0) for tag, t in alerts.overdue_instants(upto(now), limits)]
    got = reader.state_at([("overdue", "d1:d2")], instants, ("town",))
    counts: dict[str, dict[str, int]] = {}
    for (tag, town), n in got["overdue"].items():
        if n:
            counts.setdefault(str(town), {})[tag] = int(n)
    found = _surges(reader, now, limits) + alerts.overdue_alerts(counts, limits)
    return alerts.finish_alerts(conn, found)


def _surges(reader: Reader, now: dt.datetime, limits: alerts.Limits) -> list[dict[str, Any]]:
    """``alerts.surge_rows`` from the facts: the reports of each window (lo, hi] per town and grid."""
    windows = [
        (str(k), (to_us(lo) or 0) + 1, to_us(upto(hi)) or 0)
        for k, lo, hi in alerts.surge_windows(now, alerts.surge_span(limits))
    ]
    counts: dict[tuple[str, str], dict[int, int]] = {}
    for (k, town, grid), n in reader.reported_by(windows).items():
        for unit in (("town", town), ("grid", grid)):
            by_window = counts.setdefault(unit, {})
            by_window[int(k)] = by_window.get(int(k), 0) + n
    return alerts.surges(counts, limits)
