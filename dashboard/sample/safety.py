"""Public-safety records: daily 110 statistics since 2012, 挂牌整治 key areas and safety inspections."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
from sqlalchemy import Connection

from dashboard.core.progress import Progress
from dashboard.sample.arrivals import GridInfo, Sampler
from dashboard.sample.draws import SURNAMES, poisson
from dashboard.sample.lifecycle import DAY
from dashboard.sample.times import UTC, fmt_ts, local_date, to_epoch
from dashboard.sample.writes import insert_rows
from dashboard.source import schema

POLICE_STATS_FROM = dt.date(2012, 1, 1)

POLICE_COLUMNS = (
    "stat_date",
    "town_code",
    "effective_110_calls",
    "property_crime_cases",
    "major_violent_cases",
)
KEY_AREA_COLUMNS = ("area_id", "name", "town_code", "issue", "listed_at", "delisted_at")
ANNUAL_2012 = {
    "effective_110_calls": 165_000.0,
    "property_crime_cases": 21_000.0,
    "major_violent_cases": 64.0,
}
ANNUAL_DECLINE = {"effective_110_calls": 0.055, "property_crime_cases": 0.09, "major_violent_cases": 0.11}


def police_rows(seed: int, today: dt.date, town_weights: dict[str, float]) -> list[tuple[Any, ...]]:
    """Daily 110 statistics per town from 2012 to ``today``: every annual total below the last (三降)."""
    rng = np.random.default_rng([seed, 110])
    codes = sorted(town_weights)
    tw = np.array([town_weights[c] for c in codes], dtype=float)
    tw /= tw.sum()
    rows: list[tuple[Any, ...]] = []
    for year in range(POLICE_STATS_FROM.year, today.year + 1):
        first = dt.date(year, 1, 1)
        last = min(dt.date(year, 12, 31), today)
        ndays = (last - first).days + 1
        year_len = (dt.date(year, 12, 31) - first).days + 1
        doy = np.arange(ndays)
        day_w = 1 + 0.12 * np.cos(2 * np.pi * (doy - 200) / 365.25) + rng.normal(0, 0.05, ndays)
        cell_w = np.outer(np.clip(day_w, 0.5, None), tw).ravel()
        cell_w /= cell_w.sum()
        counts = {}
        for col, base in ANNUAL_2012.items():
            total = base * (1 - ANNUAL_DECLINE[col]) ** (year - 2012) * ndays / year_len
            counts[col] = rng.multinomial(round(total), cell_w).reshape(ndays, len(codes))
        for d in range(ndays):
            day = (first + dt.timedelta(days=d)).isoformat()
            for j, code in enumerate(codes):
                rows.append((day, code, int(counts["effective_110_calls"][d, j]),
                             int(counts["property_crime_cases"][d, j]), int(counts["major_violent_cases"][d, j])))  # fmt: skip
    return rows


def police_day_rows(seed: int, day: dt.date, town_weights: dict[str, float]) -> list[tuple[Any, ...]]:
    """One local day's 110 statistics per town, as the live feed writes them once the day is over: the
    day's expected totals of :func:`police_rows` (the year's, declining, with its seasonal swing) drawn
    afresh, deterministic for the seed and the day. Without them a feed running for days left the
    statistics at the seed's last day, and the 三降 tiles fell towards −100 %, in green."""
    rng = np.random.default_rng([seed, 110, day.toordinal()])
    codes = sorted(town_weights)
    tw = np.array([town_weights[c] for c in codes], dtype=float)
    tw /= tw.sum()
    first = dt.date(day.year, 1, 1)
    year_len = (dt.date(day.year, 12, 31) - first).days + 1
    day_w = max(0.5, 1 + 0.12 * float(np.cos(2 * np.pi * ((day - first).days - 200) / 365.25)))
    counts = {
        col: rng.multinomial(
            int(rng.poisson(base * (1 - ANNUAL_DECLINE[col]) ** (day.year - 2012) / year_len * day_w)), tw
        )
        for col, base in ANNUAL_2012.items()
    }
    return [
        (day.isoformat(), code, *(int(counts[col][j]) for col in POLICE_COLUMNS[2:]))
        for j, code in enumerate(codes)
    ]


def town_weights(sampler: Sampler) -> dict[str, float]:
    """Each town's share of the district's activity: the sum of its grids' weights."""
    weights: dict[str, float] = {}
    for g in sampler.grids:
        weights[g.town_code] = weights.get(g.town_code, 0.0) + g.weight
    return weights


KEY_AREA_ISSUES = (
    "治安乱点",
    "出租房集中区",
    "消防隐患集中",
    "违章搭建集中",
    "交通秩序混乱",
    "黄赌毒线索集中",
)


def key_area_rows(seed: int, sampler: Sampler, today: dt.date) -> list[tuple[Any, ...]]:
    """23 areas listed in 2015–16 and all delisted by late 2016 (seed), plus five recent listings."""
    rng = random.Random(seed * 7 + 4)
    rows: list[tuple[Any, ...]] = []
    for k in range(28):
        g = sampler.grids[sampler.pick_grid(rng)]
        issue = KEY_AREA_ISSUES[int(rng.random() * len(KEY_AREA_ISSUES))]
        if k < 23:
            listed = dt.date(2015, 3, 1) + dt.timedelta(days=int(rng.random() * 360))
            delisted: dt.date | None = dt.date(2016, 6, 1) + dt.timedelta(days=int(rng.random() * 170))
        else:
            listed = today - dt.timedelta(days=int(30 + rng.random() * 300))
            delisted = listed + dt.timedelta(days=int(60 + rng.random() * 60)) if k < 25 else None
            if delisted is not None and delisted > today:
                delisted = None
        rows.append((k + 1, f"{g.town_name}{g.village_name}{issue}", g.town_code, issue, listed.isoformat(),
                     delisted.isoformat() if delisted else None))  # fmt: skip
    return rows


INSPECTION_COLUMNS = ("unit_name", "town_code", "grid_code", "inspected_at", "hazards_found", "hazards_rectified",
                      "rectify_deadline", "unit_code")  # fmt: skip
REVISIT_SHARE = 0.3  # recent inspections that return to a unit already inspected in the window (复查)
UNIT_KINDS = (
    "机械厂",
    "纺织厂",
    "五金加工店",
    "物流仓库",
    "农贸市场",
    "小餐馆",
    "出租房",
    "化工厂",
    "汽修店",
    "幼儿园",
)


def inspection_rows(seed: int, sampler: Sampler, now: int, days: int, scale: float) -> list[tuple[Any, ...]]:
    """The 2016 campaign (7,351 units, 15,954 hazards, 98.78 % rectified) and ongoing recent checks."""
    rng = random.Random(seed * 7 + 5)
    nrng = np.random.default_rng([seed, 2016])
    rows: list[tuple[Any, ...]] = []
    found = nrng.multinomial(15_954, np.full(7_351, 1 / 7_351))
    # 15,954 − 15,759 = 195 hazards still open, spread over the units that have hazards.
    open_ = np.bincount(
        nrng.choice(np.repeat(np.arange(7_351), found), 15_954 - 15_759, replace=False), minlength=7_351
    )
    campaign_start = to_epoch(dt.datetime(2016, 3, 1, tzinfo=UTC))
    for i in range(7_351):  # 检查单位 7,351 家: one code per campaign unit
        g = sampler.grids[sampler.pick_grid(rng)]
        at = campaign_start + int(rng.random() * 200 * DAY)
        rows.append((_unit_name(rng, g), g.town_code, g.code, fmt_ts(at), int(found[i]), int(found[i] - open_[i]),
                     (local_date(at) + dt.timedelta(days=30)).isoformat(), _unit_code("91", i)))  # fmt: skip
    # Revisits draw from their own stream, so every other value stays what earlier seeds wrote.
    revisit = random.Random(seed * 7 + 6)
    units: list[tuple[str, str, str, str]] = []  # (name, town, grid, code) of the window's units
    per_day = 14 * scale
    for d in range(days):
        for _ in range(poisson(rng, per_day)):
            g = sampler.grids[sampler.pick_grid(rng)]
            at = now - (d + 1) * DAY + int(rng.random() * DAY)
            found_n = poisson(rng, 2.1)
            deadline = local_date(at) + dt.timedelta(days=30)
            progress = min(1.0, (now - at) / (30 * DAY))
            fixed_n = found_n if rng.random() < 0.985 * progress else int(found_n * progress)
            unit = (_unit_name(rng, g), g.town_code, g.code, _unit_code("92", len(units)))
            if units and revisit.random() < REVISIT_SHARE:
                unit = units[int(revisit.random() * len(units))]
            else:
                units.append(unit)
            name, town, grid, code = unit
            rows.append((name, town, grid, fmt_ts(at), found_n, fixed_n, deadline.isoformat(), code))
    return rows


def _unit_code(kind: str, n: int) -> str:
    """An 18-character 统一社会信用代码 look-alike: ``91`` companies, ``92`` sole traders; fake, unique."""
    return f"{kind}330109MA{n:07d}X"


def _unit_name(rng: random.Random, g: GridInfo) -> str:
    return f"{g.village_name}{SURNAMES[int(rng.random() * len(SURNAMES))]}氏{UNIT_KINDS[int(rng.random() * len(UNIT_KINDS))]}"


def write_safety(
    conn: Connection, sampler: Sampler, *, seed: int, now: int, days: int, scale: float, show: bool
) -> dict[str, int]:
    """Write the 110 statistics, key areas and inspections up to ``now``; return the row counts."""
    today = local_date(now)
    police = police_rows(seed, today, town_weights(sampler))
    areas = key_area_rows(seed, sampler, today)
    inspections = inspection_rows(seed, sampler, now, days, scale)
    with Progress("统计 statistics", 3, enabled=show) as bar:
        insert_rows(conn, schema.police_call_stat, POLICE_COLUMNS, police)
        bar.advance()
        insert_rows(conn, schema.key_area, KEY_AREA_COLUMNS, areas)
        bar.advance()
        insert_rows(conn, schema.safety_inspection, INSPECTION_COLUMNS, inspections)
        bar.advance()
    conn.commit()
    return {"police_call_stat": len(police), "key_area": len(areas), "safety_inspection": len(inspections)}
