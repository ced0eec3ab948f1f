"""The arrival model: where, when and what events are reported.

The seed and the live feed draw reports the same way (:func:`hourly_arrivals`), so seeding then
simulating looks like one continuous history.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dashboard.core.domain import CATEGORY_L2, SOURCES
from dashboard.sample import lifecycle
from dashboard.sample.draws import ROADS, person_name, phone_number, poisson
from dashboard.sample.lifecycle import DAY, HOUR

BASE_EVENTS_PER_DAY = 780.0  # at scale 1 on 2026-01-01 (a district like this reports 600–1,800 a day)
GROWTH_PER_YEAR = 0.04
GROWTH_REF = 1767196800  # 2026-01-01T00:00Z
HOUR_PROFILE = (
    0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.45, 0.9, 1.6, 1.9, 1.9, 1.6,
    1.1, 1.3, 1.7, 1.8, 1.6, 1.3, 0.9, 0.7, 0.55, 0.45, 0.3, 0.2,
)  # fmt: skip
_HOUR_NORM = 24 / sum(HOUR_PROFILE)
WEEKDAY_FACTOR = (1.1, 1.08, 1.07, 1.07, 1.05, 0.86, 0.77)
CATEGORY_MIX = {
    "WORK_SAFETY": 17.0, "FIRE": 14.0, "ILLEGAL_BUILD": 12.0, "DISPUTE": 10.0, "CITY_APPEARANCE": 9.0,
    "SANITATION_ENV": 8.0, "PUBLIC_ORDER": 6.0, "PUBLIC_FACILITY": 5.0, "CONSTRUCTION_MGMT": 4.0,
    "FOOD_DRUG": 3.0, "MARKET": 3.0, "SPECIAL_POP": 2.0, "EMERGENCY": 1.5, "POPULATION_SERVICE": 2.0,
    "PETITION_STABILITY": 1.0, "OTHER": 2.5,
}  # fmt: skip
SOURCE_MIX = {
    "GRID_APP": 62.0, "HOTLINE_12345": 10.0, "POLICE_110_LINKAGE": 5.0, "PATROL": 8.0, "VIDEO": 5.0,
    "CITY_MGMT_SUPERVISOR": 3.0, "DEPT_TRANSFER": 2.0, "PUBLIC_VISIT": 2.0, "PUBLIC_APP": 2.0,
    "PETITION": 0.5, "IOT": 0.5,
}  # fmt: skip
SUMMER_CATEGORIES = ("WORK_SAFETY", "FIRE")
_SOURCE_CODES = list(SOURCE_MIX)
_SOURCE_CUM = list(np.cumsum(list(SOURCE_MIX.values())))
_category_cum_cache: dict[int, tuple[list[str], list[float]]] = {}


def season(ts: int) -> float:
    """+1 in late July, −1 in late January."""
    return math.cos(2 * math.pi * ((ts / DAY) % 365.25 - 205) / 365.25)


def hourly_rate(hour_start: int, scale: float) -> float:
    """Expected reports in the hour starting at ``hour_start`` (weekday/daytime peaks, slow growth)."""
    growth = (1 + GROWTH_PER_YEAR) ** ((hour_start - GROWTH_REF) / (365.25 * DAY))
    local = lifecycle.local_hour(hour_start)
    per_hour = BASE_EVENTS_PER_DAY / 24 * HOUR_PROFILE[int(local)] * _HOUR_NORM
    return (
        scale
        * per_hour
        * growth
        * WEEKDAY_FACTOR[lifecycle.weekday(hour_start)]
        * (1 + 0.06 * season(hour_start))
    )


def _category_cum(ts: int) -> tuple[list[str], list[float]]:
    """Category mix with the summer rise in 安全生产/消防 (cached per ~month)."""
    key = int(ts // (30 * DAY))
    hit = _category_cum_cache.get(key)
    if hit is None:
        s = season(key * 30 * DAY + 15 * DAY)  # from the key, never from whichever report came first
        codes = list(CATEGORY_MIX)
        w = [CATEGORY_MIX[c] * (1 + 0.3 * s if c in SUMMER_CATEGORIES else 1.0) for c in codes]
        hit = (codes, list(np.cumsum(w)))
        _category_cum_cache[key] = hit
    return hit


@dataclass(frozen=True)
class GridInfo:
    """What a report needs of its grid: codes, centre, population weight, names and its two staff."""

    code: str
    village_code: str
    town_code: str
    lng: float
    lat: float
    weight: float
    town_name: str
    village_name: str
    leader: tuple[int, str, str]  # staff id, name, phone
    worker: tuple[int, str, str]


class Sampler:
    """Picks grids by population and draws the report mix; built the same way by seed and feed."""

    def __init__(self, grids: Sequence[GridInfo]) -> None:
        self.grids = sorted(grids, key=lambda g: g.code)
        self.cum = list(np.cumsum([g.weight for g in self.grids]))
        self.index = {g.code: i for i, g in enumerate(self.grids)}
        self.by_town: dict[str, list[int]] = {}
        for i, g in enumerate(self.grids):
            self.by_town.setdefault(g.town_code, []).append(i)

    def pick_grid(self, rng: random.Random) -> int:
        return min(bisect.bisect_right(self.cum, rng.random() * self.cum[-1]), len(self.grids) - 1)


@dataclass
class Arrival:
    """A new report before it gets its number: everything the event row needs at report time."""

    reported_at: int
    grid: GridInfo
    category: str
    category_l2: str
    source: str
    priority: str
    lng: float
    lat: float
    address: str
    title: str
    description: str
    reporter_type: str
    reporter_id: int | None
    reporter_name: str | None
    reporter_phone: str | None


def make_arrival(rng: random.Random, grid: GridInfo, at: int, category: str | None = None) -> Arrival:
    """One report in ``grid`` at ``at``: category, source, priority, reporter and text."""
    if category is None:
        codes, cum = _category_cum(at)
        category = codes[min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(codes) - 1)]
    l2s = CATEGORY_L2[category]
    l2 = l2s[int(rng.random() * len(l2s))]
    source = _SOURCE_CODES[
        min(bisect.bisect_right(_SOURCE_CUM, rng.random() * _SOURCE_CUM[-1]), len(_SOURCE_CODES) - 1)
    ]
    r = rng.random()
    if category == "EMERGENCY":
        priority = "MAJOR" if r < 0.1 else "URGENT"
    else:
        priority = "MAJOR" if r < 0.005 else "URGENT" if r < 0.06 else "NORMAL"
    reporter_type, reporter_id, name, phone = _reporter(rng, grid, source)
    address = f"{grid.town_name}{grid.village_name}{ROADS[int(rng.random() * len(ROADS))]}{1 + int(rng.random() * 300)}号"
    urgency = "立即" if priority != "NORMAL" else "及时"
    return Arrival(
        reported_at=at,
        grid=grid,
        category=category,
        category_l2=l2,
        source=source,
        priority=priority,
        lng=round(grid.lng + (rng.random() - 0.5) * 0.003, 6),
        lat=round(grid.lat + (rng.random() - 0.5) * 0.003, 6),
        address=address,
        title=f"{l2}（{grid.village_name}）",
        description=f"{SOURCES[source].zh}：发现{l2}，请{urgency}核实处置。",
        reporter_type=reporter_type,
        reporter_id=reporter_id,
        reporter_name=name,
        reporter_phone=phone,
    )


def _reporter(rng: random.Random, grid: GridInfo, source: str) -> tuple[str, int | None, str, str | None]:
    if source == "GRID_APP":
        sid, name, phone = grid.worker if rng.random() < 0.7 else grid.leader
        return "GRID_STAFF", sid, name, phone
    if source == "IOT":
        return "SYSTEM", None, "物联感知平台", None
    if source == "VIDEO":
        return "SYSTEM", None, "视频巡查平台", None
    if source in ("PATROL", "CITY_MGMT_SUPERVISOR", "DEPT_TRANSFER"):
        return "STAFF", None, person_name(rng), phone_number(rng)
    return "PUBLIC", None, person_name(rng), phone_number(rng)


def hourly_arrivals(sampler: Sampler, hour: int, seed: int, rate: float) -> list[Arrival]:
    """The reports of one clock hour (``hour`` = epoch // 3600), deterministic for (seed, hour, rate).

    Because an hour's reports depend only on these, the feed can resume in the middle of an hour
    and produce exactly the reports the seed would have produced after its ``now``.
    """
    rng = random.Random(seed * 1_000_003 + hour)
    start = hour * HOUR
    n = poisson(rng, hourly_rate(start, rate))
    offsets = sorted(int(rng.random() * HOUR) for _ in range(n))
    return [make_arrival(rng, sampler.grids[sampler.pick_grid(rng)], start + off) for off in offsets]


def sampler_from_rows(
    grid_rows_: Sequence[Sequence[Any]], staff: Sequence[Sequence[Any]], names: dict[str, str]
) -> Sampler:
    """Build the sampler from grid rows (code, village, town, pop, center_lng, center_lat, leader, worker)."""
    people = {r[0]: (r[0], r[1], r[6]) for r in staff if r[2] in ("GRID_LEADER", "GRID_WORKER")}
    infos = [
        GridInfo(code, village, town, float(lng), float(lat), float(pop), names[town], names[village],
                 people.get(leader, (leader, "", None)), people.get(worker, (worker, "", None)))
        for code, village, town, pop, lng, lat, leader, worker in grid_rows_
    ]  # fmt: skip
    return Sampler(infos)


def hourly_count(hour: int, seed: int, rate: float) -> int:
    """How many reports ``hourly_arrivals`` gives for ``hour``: its first draw, without the rest."""
    return poisson(random.Random(seed * 1_000_003 + hour), hourly_rate(hour * HOUR, rate))
