"""The district's units: 26 towns, ≈570 villages and communities, ≈1,850 grids with their polygons.

Deterministic for a seed; the polygons are illustrative (:mod:`dashboard.sample.geo`).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from dataclasses import dataclass, field
from typing import Any

from dashboard.core.domain import DISTRICT_CODE, DISTRICT_NAME_EN, DISTRICT_NAME_ZH, Town, towns
from dashboard.sample import geo

PLACE_A = "东西南北新长永兴安和丰富荣华联胜光明建民山湖江河塘桥湾浦前后上下凤龙云梅竹桂花金银"
PLACE_B = "山湖江河塘桥湾浦村庄园港埠岭坞圩田沙墩溪桥头里坝垫"
CENTRAL_STREETS = frozenset({"330109001", "330109002", "330109003", "330109004"})
TARGET_VILLAGE_TOTAL = 570
KNOWN_COUNTS = {  # (villages, communities) of the towns whose counts are known
    "330109113": (63, 11),
    "330109013": (15, 11),
    "330109014": (15, 7),
    "330109009": (12, 1),
    "330109011": (3, 1),
}
TOWN_VALID_FROM = {"330109113": dt.date(2013, 8, 30), "330109014": dt.date(2014, 8, 1)}


@dataclass
class Village:
    """A village (村) or community (社区) with its polygon."""

    code: str
    name: str
    name_en: str
    town: Town
    is_community: bool
    polygon: geo.Polygon = field(default_factory=list)


@dataclass
class GridUnit:
    """A grid with its households, population, polygon and (once staffed) its leader and worker."""

    code: str
    name: str
    village: Village
    households: int
    pop_registered: int
    pop_floating: int
    polygon: geo.Polygon
    leader_id: int = 0
    worker_id: int = 0


@dataclass
class District:
    """The generated units: town polygons, villages and grids, sorted by code."""

    town_polygons: dict[str, geo.Polygon]
    villages: list[Village]
    grids: list[GridUnit]


def _village_counts(rng: random.Random) -> dict[str, tuple[int, int]]:
    """(villages, communities) per town: the known counts, else 10–35 with a total of ≈570."""
    others = [t for t in towns() if t.code not in KNOWN_COUNTS]
    sizes = {t.code: int(rng.triangular(10, 35, 17)) for t in others}
    target = TARGET_VILLAGE_TOTAL - sum(v + c for v, c in KNOWN_COUNTS.values())
    codes = sorted(sizes)
    while sum(sizes.values()) != target:
        code = codes[int(rng.random() * len(codes))]
        step = 1 if sum(sizes.values()) < target else -1
        if 10 <= sizes[code] + step <= 35:
            sizes[code] += step
    counts = dict(KNOWN_COUNTS)
    for t in others:
        share = 0.85 if t.code in CENTRAL_STREETS else 0.35 if t.unit_type == "街道" else 0.12
        communities = max(1, round(sizes[t.code] * share * rng.uniform(0.8, 1.2)))
        communities = min(communities, sizes[t.code])
        counts[t.code] = (sizes[t.code] - communities, communities)
    return counts


def _place_names(rng: random.Random, n: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        name = PLACE_A[int(rng.random() * len(PLACE_A))] + PLACE_B[int(rng.random() * len(PLACE_B))]
        if name not in seen and name[0] != name[1]:
            seen.add(name)
            names.append(name)
    return names


@functools.lru_cache(maxsize=4)
def build_district(seed: int) -> District:
    """Villages, grids and their polygons, deterministic for ``seed`` (cached: pure geometry work)."""
    rng = random.Random(seed * 7 + 1)
    town_list = towns()
    sites = [(t.lng, t.lat) for t in town_list]
    cells = geo.voronoi_cells(sites, geo.district_outline(sites, margin=0.045))
    counts = _village_counts(rng)
    villages: list[Village] = []
    grids: list[GridUnit] = []
    town_polygons: dict[str, geo.Polygon] = {}
    for town, cell in zip(town_list, cells, strict=True):
        town_polygons[town.code] = cell
        n_vil, n_com = counts[town.code]
        names = _place_names(rng, n_vil + n_com)
        units = [
            Village(f"{town.code}{k + 1:03d}", names[k] + "社区", f"Community {k + 1:03d}", town, True)
            for k in range(n_com)
        ] + [
            Village(
                f"{town.code}{201 + k:03d}", names[n_com + k] + "村", f"Village {201 + k:03d}", town, False
            )
            for k in range(n_vil)
        ]
        rng.shuffle(units)  # communities and villages interleave on the map
        grid_counts = [
            rng.choices((3, 4, 5, 6), (0.35, 0.3, 0.2, 0.15))[0]
            if v.is_community
            else rng.choices((2, 3, 4), (0.35, 0.4, 0.25))[0]
            for v in units
        ]
        weights = [
            n * (0.35 if v.is_community else 1.0) * rng.uniform(0.7, 1.3)
            for v, n in zip(units, grid_counts, strict=True)
        ]
        for v, poly, n in zip(units, geo.split_by_weights(cell, weights), grid_counts, strict=True):
            v.polygon = poly
            villages.append(v)
            grids.extend(_grids_of(v, n, rng))
    villages.sort(key=lambda v: v.code)
    grids.sort(key=lambda g: g.code)
    return District(town_polygons, villages, grids)


def _grids_of(v: Village, n: int, rng: random.Random) -> list[GridUnit]:
    households = [int(rng.uniform(300, 500)) for _ in range(n)]
    polys = geo.split_by_weights(v.polygon, [h * rng.uniform(0.8, 1.2) for h in households])
    urban = v.is_community or v.town.unit_type == "街道"
    out = []
    for k, (hh, poly) in enumerate(zip(households, polys, strict=True)):
        reg = int(hh * rng.uniform(2.2, 2.9))
        floating = int(reg * (rng.uniform(0.3, 0.9) if urban else rng.uniform(0.1, 0.5)))
        out.append(GridUnit(f"{v.code}{k + 1:03d}", f"{v.name}第{k + 1}网格", v, hh, reg, floating, poly))
    return out


def admin_rows(d: District) -> list[tuple[Any, ...]]:
    """admin_unit tuples: the district, 26 towns, and every village/community."""
    by_town: dict[str, list[GridUnit]] = {}
    by_village: dict[str, list[GridUnit]] = {}
    for g in d.grids:
        by_town.setdefault(g.village.town.code, []).append(g)
        by_village.setdefault(g.village.code, []).append(g)

    def totals(gs: list[GridUnit]) -> tuple[int, int]:
        return sum(g.pop_registered + g.pop_floating for g in gs), sum(g.households for g in gs)

    outline = geo.convex_hull(p for poly in d.town_polygons.values() for p in poly)
    pop, hh = totals(d.grids)
    c = geo.centroid(outline)
    rows: list[tuple[Any, ...]] = [
        (DISTRICT_CODE, DISTRICT_NAME_ZH, DISTRICT_NAME_EN, "district", "区", None, "2001-03-25", None, None,
         c[0], c[1], pop, hh, round(geo.area_km2(outline), 2), geo.geometry_json(outline)),
    ]  # fmt: skip
    for t in towns():
        poly = d.town_polygons[t.code]
        pop, hh = totals(by_town[t.code])
        valid_from = TOWN_VALID_FROM.get(t.code, dt.date(2001, 3, 25)).isoformat()
        rows.append(
            (t.code, t.name_zh, t.name_en, "town", t.unit_type, DISTRICT_CODE, valid_from, None, t.managed_by,
             t.lng, t.lat, pop, hh, round(geo.area_km2(poly), 2), geo.geometry_json(poly))
        )  # fmt: skip
    for v in d.villages:
        pop, hh = totals(by_village[v.code])
        cx, cy = geo.centroid(v.polygon)
        rows.append(
            (v.code, v.name, f"{v.name_en}, {v.town.name_en}", "village", "社区" if v.is_community else "村",
             v.town.code, "2016-01-01", None, v.town.managed_by, round(cx, 6), round(cy, 6), pop, hh,
             round(geo.area_km2(v.polygon), 3), geo.geometry_json(v.polygon))
        )  # fmt: skip
    return rows


ADMIN_COLUMNS = (
    "code", "name_zh", "name_en", "level", "unit_type", "parent_code", "valid_from", "valid_to", "managed_by",
    "lng", "lat", "population", "households", "area_km2", "boundary_geojson",
)  # fmt: skip
GRID_COLUMNS = (
    "grid_code", "grid_name", "village_code", "town_code", "grid_type", "households", "population_registered",
    "population_floating", "leader_staff_id", "worker_staff_id", "center_lng", "center_lat",
    "boundary_geojson", "status",
)  # fmt: skip


def grid_rows(d: District) -> list[tuple[Any, ...]]:
    """grid tuples in ``GRID_COLUMNS`` order."""
    rows = []
    for g in d.grids:
        cx, cy = geo.centroid(g.polygon)
        rows.append(
            (g.code, g.name, g.village.code, g.village.town.code, "基础网格", g.households, g.pop_registered,
             g.pop_floating, g.leader_id, g.worker_id, round(cx, 6), round(cy, 6), geo.geometry_json(g.polygon),
             "ACTIVE")
        )  # fmt: skip
    return rows
