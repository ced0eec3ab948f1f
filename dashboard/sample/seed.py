"""``python -m dashboard seed``: generate the sample Xiaoshan district and its history up to now.

Everything is synthetic and deterministic for a given ``--seed`` and ``--now``: 26 towns, ≈570 村社,
≈1,850 grids with illustrative polygons (:mod:`dashboard.sample.geo`), staff and patrol forces, 5,037 video
points with their outage history, ``--days`` of events with their full action logs (the lifecycle
model of :mod:`dashboard.sample.lifecycle`), recent patrols, 110 statistics since 2012, 挂牌整治 areas and
safety inspections. The live feed (:mod:`dashboard.sample.simulate`) reuses the arrival, patrol and camera
models below, so seeding then simulating looks like one continuous history.

Speed matters (the first ``make run`` seeds): rows are built as plain tuples with timestamps already
formatted, and written by chunked ``executemany`` through the driver (no per-row ORM/type work).
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import functools
import math
import multiprocessing as mp
import os
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Table, func, select, text

from dashboard.core.domain import (
    CATEGORY_L2,
    DEPARTMENTS,
    DISTRICT_CODE,
    DISTRICT_NAME_EN,
    DISTRICT_NAME_ZH,
    FORCE_STRENGTH,
    SOURCES,
    VIDEO_POINT_TOTAL,
    Town,
    towns,
)
from dashboard.core.progress import Progress
from dashboard.sample import geo, lifecycle
from dashboard.sample.lifecycle import DAY, HOUR, SHANGHAI, Context, EventInfo, Plan
from dashboard.source import schema
from dashboard.source.engines import init_db, refresh_planner_statistics

UTC = dt.UTC
DEFAULT_DAYS = 760
DEFAULT_PATROL_DAYS = 14
POLICE_STATS_FROM = dt.date(2012, 1, 1)

# --- Time helpers ------------------------------------------------------------------------------------

_prefix_cache: dict[int, str] = {}
_MMSS = tuple(f"{m:02d}:{sec:02d}.000000" for m in range(60) for sec in range(60))


def to_epoch(value: dt.datetime) -> int:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware instant")
    return int(value.timestamp())


def from_epoch(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, UTC)


def fmt_ts(ts: int | None) -> str | None:
    """Naive-UTC text in SQLAlchemy's SQLite storage format, accepted as-is by PostgreSQL and MariaDB.

    Formatting millions of timestamps is the seed's hottest path: the ``YYYY-MM-DD HH:`` prefix is
    cached per hour.
    """
    if ts is None:
        return None
    hour, rest = divmod(ts, 3600)
    prefix = _prefix_cache.get(hour)
    if prefix is None:
        if len(_prefix_cache) > 50_000:
            _prefix_cache.clear()
        prefix = dt.datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%d %H:")
        _prefix_cache[hour] = prefix
    return prefix + _MMSS[rest]


def local_date(ts: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=lifecycle.local_day(ts))


def day_start(day: int) -> int:
    """UTC epoch of 00:00 Asia/Shanghai on local day number ``day``."""
    return day * DAY - SHANGHAI


# --- Bulk writes -------------------------------------------------------------------------------------


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> int:
    """Insert tuples (values already in storage form) with the driver's executemany, in chunks.

    PostgreSQL gets COPY (psycopg's executemany is one round trip per row);
    PyMySQL rewrites executemany into multi-row INSERTs by itself; SQLite's executemany is already fast.
    """
    if not rows:
        return 0
    quote = conn.dialect.identifier_preparer.quote
    cols = ", ".join(quote(c) for c in columns)
    head = f"INSERT INTO {quote(table.name)} ({cols}) VALUES "
    ncol = len(columns)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(head + "(" + ", ".join("?" * ncol) + ")", list(rows))
    elif conn.dialect.name == "postgresql":
        # COPY through the same connection (and transaction): an order of magnitude faster than INSERT.
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {quote(table.name)} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    else:
        sql = head + "(" + ", ".join(["%s"] * ncol) + ")"
        for i in range(0, len(rows), 5000):
            conn.exec_driver_sql(sql, list(rows[i : i + 5000]))
    return len(rows)


SERIAL_KEYS = {"event": "event_id", "patrol": "patrol_id"}


def sync_sequences(conn: Connection) -> None:
    """Explicit ids leave PostgreSQL's serial sequences behind: move them past the largest id."""
    if conn.dialect.name != "postgresql":
        return
    for tbl, col in SERIAL_KEYS.items():
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{tbl}', '{col}'), "
                f"COALESCE((SELECT MAX({col}) FROM {tbl}), 0) + 1, false)"
            )
        )


def next_id(conn: Connection, column: Any) -> int:
    return int(conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one()) + 1


# --- Names -------------------------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅方邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文红玲云飞鹏辉斌波宇浩凯健俊帆晨欣怡佳雪琳婷海峰亮林东志春立新庆德永利丹萍燕慧颖"
PLACE_A = "东西南北新长永兴安和丰富荣华联胜光明建民山湖江河塘桥湾浦前后上下凤龙云梅竹桂花金银"
PLACE_B = "山湖江河塘桥湾浦村庄园港埠岭坞圩田沙墩溪桥头里坝垫"
ROADS = (
    "人民路",
    "金城路",
    "市心路",
    "通惠路",
    "育才路",
    "工人路",
    "建设一路",
    "建设二路",
    "萧金路",
    "湘湖路",
    "文化路",
    "山阴路",
    "博学路",
    "风情大道",
    "萧绍路",
    "南秀路",
)


def person_name(rng: random.Random) -> str:
    given = GIVEN[int(rng.random() * len(GIVEN))]
    if rng.random() < 0.7:
        given += GIVEN[int(rng.random() * len(GIVEN))]
    return SURNAMES[int(rng.random() * len(SURNAMES))] + given


def phone_number(rng: random.Random) -> str:
    return f"1{'3578'[int(rng.random() * 4)]}{int(rng.random() * 1e9):09d}"


# --- The district: towns, villages, grids with polygons ------------------------------------------------

CENTRAL_STREETS = frozenset({"330109001", "330109002", "330109003", "330109004"})
TARGET_VILLAGE_TOTAL = 570
KNOWN_COUNTS = {  # DOMAIN §7: (villages, communities)
    "330109113": (63, 11),
    "330109013": (15, 11),
    "330109014": (15, 7),
    "330109009": (12, 1),
    "330109011": (3, 1),
}
TOWN_VALID_FROM = {"330109113": dt.date(2013, 8, 30), "330109014": dt.date(2014, 8, 1)}


@dataclass
class Village:
    code: str
    name: str
    name_en: str
    town: Town
    is_community: bool
    polygon: geo.Polygon = field(default_factory=list)


@dataclass
class GridUnit:
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
    rows = []
    for g in d.grids:
        cx, cy = geo.centroid(g.polygon)
        rows.append(
            (g.code, g.name, g.village.code, g.village.town.code, "基础网格", g.households, g.pop_registered,
             g.pop_floating, g.leader_id, g.worker_id, round(cx, 6), round(cy, 6), geo.geometry_json(g.polygon),
             "ACTIVE")
        )  # fmt: skip
    return rows


# --- Departments and staff ---------------------------------------------------------------------------

DEPT_COLUMNS = ("dept_code", "name_zh", "name_en", "level", "parent_code")
STAFF_COLUMNS = (
    "staff_id",
    "name",
    "role",
    "grid_code",
    "town_code",
    "dept_code",
    "phone",
    "device_id",
    "active",
)
DISPATCHERS_PER_TOWN = 4
HANDLERS_PER_DEPT = 20
HANDLERS_PER_PLATFORM = 3
ASSISTANTS = 2600
FORCE_ROLES = {"FULL_TIME": "PATROL_FULL", "PART_TIME": "PATROL_PART", "VOLUNTEER": "VOLUNTEER"}


def department_rows() -> list[tuple[Any, ...]]:
    """The 15 district departments plus each town's four platforms (四个平台), which also take cases."""
    rows: list[tuple[Any, ...]] = [
        (code, lab.zh, lab.en, "district", None) for code, lab in DEPARTMENTS.items()
    ]
    for t in towns():
        for key, (zh, en) in lifecycle.PLATFORMS.items():
            rows.append(
                (
                    lifecycle.platform_code(t.code, key),
                    t.name_zh + zh,
                    f"{t.name_en} {en}",
                    "town",  # 镇街四个平台 (the schema's level column holds 12 characters)
                    None,
                )
            )
    return rows


def staff_rows(d: District, seed: int) -> list[tuple[Any, ...]]:
    """Everyone with an id, in a fixed order; sets each grid's leader and worker."""
    rng = random.Random(seed * 7 + 2)
    rows: list[tuple[Any, ...]] = []

    def add(role: str, grid: str | None, town: str | None, dept: str | None, device: bool = False) -> int:
        sid = len(rows) + 1
        dev = f"PAE{sid:07d}" if device else None
        rows.append((sid, person_name(rng), role, grid, town, dept, phone_number(rng), dev, True))
        return sid

    for g in d.grids:
        g.leader_id = add("GRID_LEADER", g.code, g.village.town.code, None, True)
        g.worker_id = add("GRID_WORKER", g.code, g.village.town.code, None, True)
    for t in towns():
        for _ in range(DISPATCHERS_PER_TOWN):
            add("DISPATCHER", None, t.code, None)
    for code in DEPARTMENTS:
        for _ in range(HANDLERS_PER_DEPT):
            add("HANDLER", None, None, code)
    for t in towns():
        for key in lifecycle.PLATFORMS:
            for _ in range(HANDLERS_PER_PLATFORM):
                add("HANDLER", None, t.code, lifecycle.platform_code(t.code, key))
    weights = [g.pop_registered + g.pop_floating for g in d.grids]
    dept_codes = list(DEPARTMENTS)
    for gi in _weighted_indexes(rng, weights, ASSISTANTS):
        g = d.grids[gi]
        add("GRID_ASSISTANT", g.code, g.village.town.code, dept_codes[int(rng.random() * len(dept_codes))])
    for force, role in FORCE_ROLES.items():
        for gi in _weighted_indexes(rng, weights, FORCE_STRENGTH[force]):
            g = d.grids[gi]
            add(role, g.code, g.village.town.code, None)
    return rows


def _weighted_indexes(rng: random.Random, weights: Sequence[float], k: int) -> list[int]:
    return sorted(rng.choices(range(len(weights)), weights=weights, k=k))


def lifecycle_context(staff: Sequence[Sequence[Any]]) -> Context:
    """Who acts on events, from staff rows (staff_id, name, role, grid, town, dept, ...)."""
    grid_staff: dict[str, list[int]] = {}
    dispatchers: dict[str, list[int]] = {}
    handlers: dict[str, list[int]] = {}
    for sid, _name, role, grid, town, dept, *_ in sorted(staff, key=lambda r: r[0]):
        if role in ("GRID_LEADER", "GRID_WORKER"):
            grid_staff.setdefault(grid, [0, 0])[0 if role == "GRID_LEADER" else 1] = sid
        elif role == "DISPATCHER":
            dispatchers.setdefault(town, []).append(sid)
        elif role == "HANDLER":
            handlers.setdefault(dept, []).append(sid)
    return Context(
        grid_staff={k: (v[0], v[1]) for k, v in grid_staff.items()},
        dispatchers={k: tuple(v) for k, v in dispatchers.items()},
        handlers={k: tuple(v) for k, v in handlers.items()},
    )


# --- The arrival model: where, when and what events are reported ------------------------------------

BASE_EVENTS_PER_DAY = 780.0  # at scale 1 on 2026-01-01 (DOMAIN §5.1a: 600–1,800 a day)
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


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


@dataclass(frozen=True)
class GridInfo:
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


# --- Turning arrivals and plans into rows --------------------------------------------------------------

EVENT_COLUMNS = (
    "event_id", "event_no", "title", "description", "category_l1", "category_l2", "source", "priority",
    "grid_code", "village_code", "town_code", "lng", "lat", "address", "reporter_type", "reporter_id",
    "reporter_name", "reporter_phone", "reported_at", *lifecycle.LIFECYCLE_COLUMNS,
)  # fmt: skip
ACTION_COLUMNS = (
    "event_id", "action", "from_status", "to_status", "actor_staff_id", "actor_dept_code", "target_dept_code",
    "comment", "at", "duration_seconds",
)  # fmt: skip
EVALUATION_COLUMNS = ("event_id", "channel", "result", "speed_score", "effect_score", "at")


_day_label: dict[int, str] = {}


def event_no(at: int, seq: int) -> str:
    day = lifecycle.local_day(at)
    label = _day_label.get(day)
    if label is None:
        label = _day_label[day] = f"XS{local_date(at):%Y%m%d}-"
    return f"{label}{seq:06d}"


def plan_for(a: Arrival, number: str, ctx: Context) -> Plan:
    info = EventInfo(
        number, a.reported_at, a.category, a.priority, a.source, a.grid.code, a.grid.town_code, a.reporter_id
    )
    rng = random.Random(lifecycle.event_seed(number, a.reported_at, a.grid.code, a.category))
    return lifecycle.plan_event(info, ctx, rng)


_LIFECYCLE_KINDS = tuple((c, c in lifecycle.TIME_COLUMNS) for c in lifecycle.LIFECYCLE_COLUMNS)


def lifecycle_values(state: dict[str, object]) -> tuple[Any, ...]:
    """The lifecycle columns in storage form (times formatted)."""
    return tuple(
        fmt_ts(state[c]) if is_time else state[c]  # type: ignore[arg-type]
        for c, is_time in _LIFECYCLE_KINDS
    )


def action_rows(event_id: int, plan: Plan, start: int, stop: int) -> list[tuple[Any, ...]]:
    """Action tuples for plan.actions[start:stop] (duration = time since the previous action)."""
    acts = plan.actions
    fmt = fmt_ts
    return [
        (event_id, a[1], a[2], a[3], a[4], a[5], a[6], a[7], fmt(a[0]), a[0] - acts[i - 1][0] if i else None)
        for i, a in ((i, acts[i]) for i in range(start, stop))
    ]


def evaluation_row(event_id: int, plan: Plan, start: int, stop: int) -> tuple[Any, ...] | None:
    """The evaluation tuple if the EVALUATE action is among plan.actions[start:stop]."""
    if plan.evaluation is None:
        return None
    for i in range(start, stop):
        if plan.actions[i][1] == "EVALUATE":
            channel, result, speed, effect = plan.evaluation
            return (event_id, channel, result, speed, effect, fmt_ts(plan.actions[i][0]))
    return None


def new_event_rows(
    event_id: int, number: str, a: Arrival, ctx: Context, upto: int, plan: Plan | None = None
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], tuple[Any, ...] | None]:
    """(event row, its action rows, its evaluation row or None) as of ``upto``."""
    plan = plan or plan_for(a, number, ctx)
    state, n = lifecycle.fold(plan, upto)
    g = a.grid
    row = (
        event_id, number, a.title, a.description, a.category, a.category_l2, a.source, a.priority, g.code,
        g.village_code, g.town_code, a.lng, a.lat, a.address, a.reporter_type, a.reporter_id, a.reporter_name,
        a.reporter_phone, fmt_ts(a.reported_at), *lifecycle_values(state),
    )  # fmt: skip
    return row, action_rows(event_id, plan, 0, n), evaluation_row(event_id, plan, 0, n)


@dataclass
class EventBatch:
    events: list[tuple[Any, ...]] = field(default_factory=list)
    actions: list[tuple[Any, ...]] = field(default_factory=list)
    evaluations: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, row: tuple[Any, ...], acts: list[tuple[Any, ...]], ev: tuple[Any, ...] | None) -> None:
        self.events.append(row)
        self.actions.extend(acts)
        if ev is not None:
            self.evaluations.append(ev)

    def write(self, conn: Connection) -> None:
        insert_rows(conn, schema.event, EVENT_COLUMNS, self.events)
        insert_rows(conn, schema.event_action, ACTION_COLUMNS, self.actions)
        insert_rows(conn, schema.evaluation, EVALUATION_COLUMNS, self.evaluations)
        self.events, self.actions, self.evaluations = [], [], []


class Numberer:
    """Hands out event ids and per-day event numbers (XS20261128-000123)."""

    def __init__(self, next_event_id: int, day_seq: dict[int, int] | None = None) -> None:
        self.next_id = next_event_id
        self.day_seq = day_seq or {}

    def take(self, at: int) -> tuple[int, str]:
        day = lifecycle.local_day(at)
        seq = self.day_seq.get(day, 0) + 1
        self.day_seq[day] = seq
        eid = self.next_id
        self.next_id += 1
        return eid, event_no(at, seq)


# --- Patrols -----------------------------------------------------------------------------------------

PATROL_COLUMNS = (
    "patrol_id", "staff_id", "grid_code", "town_code", "patrol_type", "started_at", "ended_at", "distance_m",
    "gps_fix_count", "checkin_count", "events_reported", "valid",
)  # fmt: skip
CHECKIN_COLUMNS = ("patrol_id", "checkpoint_code", "method", "at", "lng", "lat")
CHECKIN_METHODS = ("QR", "GPS", "NFC", "PHOTO")
# (daily probability, shift start hours local, median minutes) per force [A]
PATROL_HABITS: dict[str, tuple[float, tuple[float, ...], float]] = {
    "GRID_WORKER": (0.93, (8.0, 9.0, 14.0), 100.0),
    "GRID_LEADER": (0.25, (9.5, 15.0), 70.0),
    "FULL_TIME": (0.85, (8.0, 14.0, 19.0, 23.0), 180.0),
    "PART_TIME": (0.28, (8.5, 18.5, 19.5), 110.0),
    "VOLUNTEER": (0.15, (9.0, 10.0, 14.5), 75.0),
}
PATROL_TYPE = {"GRID_WORKER": "GRID", "GRID_LEADER": "GRID", "FULL_TIME": "FULL_TIME", "PART_TIME": "PART_TIME",
               "VOLUNTEER": "VOLUNTEER"}  # fmt: skip
STAFF_FORCE = {"GRID_WORKER": "GRID_WORKER", "GRID_LEADER": "GRID_LEADER", "PATROL_FULL": "FULL_TIME",
               "PATROL_PART": "PART_TIME", "VOLUNTEER": "VOLUNTEER"}  # fmt: skip


@dataclass
class Forces:
    """Patrolling staff by force: (staff ids, home grid indexes into the sampler), sorted by id."""

    members: dict[str, tuple[np.ndarray, np.ndarray]]


def forces_from_staff(staff: Sequence[Sequence[Any]], sampler: Sampler) -> Forces:
    by: dict[str, tuple[list[int], list[int]]] = {k: ([], []) for k in PATROL_HABITS}
    for sid, _name, role, grid, *_ in sorted(staff, key=lambda r: r[0]):
        force = STAFF_FORCE.get(role)
        if force is None or grid not in sampler.index:
            continue
        by[force][0].append(sid)
        by[force][1].append(sampler.index[grid])
    return Forces(
        {k: (np.array(v[0], dtype=np.int64), np.array(v[1], dtype=np.int64)) for k, v in by.items()}
    )


@dataclass
class PatrolDay:
    """One local day's patrols (sorted by start) and their check-ins; all times epoch seconds."""

    staff: np.ndarray
    grid: np.ndarray
    ptype: list[str]
    start: np.ndarray
    end: np.ndarray
    distance: np.ndarray
    gps: np.ndarray
    events: np.ndarray
    checkin_patrol: np.ndarray  # index into the patrols above
    checkin_at: np.ndarray
    checkin_method: np.ndarray
    checkin_serial: np.ndarray
    checkin_jitter: np.ndarray  # (n, 2) offsets from the grid centre

    def __len__(self) -> int:
        return len(self.start)


def patrol_day(forces: Forces, day: int, seed: int, scale: float) -> PatrolDay:
    """Plan every patrol that starts on local day ``day`` (deterministic for seed and day).

    Every member's draws are made whether or not they patrol, so a member's patrol is the same at
    any ``scale``: a lower scale only drops patrols (the feed can resume a seed made at another scale).
    """
    rng = np.random.default_rng([seed, day, 17])
    weekend = (day + 3) % 7 >= 5
    cols: dict[str, list[np.ndarray]] = {}
    types: list[str] = []
    for force, (p, shifts, median) in PATROL_HABITS.items():
        ids, grids = forces.members[force]
        m = len(ids)
        prob = min(1.0, p * (1.6 if force == "VOLUNTEER" and weekend else 1.0))
        if force not in ("GRID_WORKER", "GRID_LEADER"):  # every grid is walked daily at any scale
            prob *= min(scale, 1.0)
        draws = {
            "on": rng.random(m) < prob,
            "staff": ids,
            "grid": grids,
            "start": day_start(day)
            + ((np.asarray(shifts)[rng.integers(0, len(shifts), m)] + rng.random(m) * 1.5) * HOUR).astype(
                np.int64
            ),
            "minutes": median * np.exp(rng.normal(0, 0.35, m)),
            "short": rng.random(m) < 0.05,  # cut short: fails the 30-minute rule
            "short_minutes": rng.uniform(8, 29, m),
            "gps_fail": rng.random(m) < 0.03,
            "gps_low": rng.integers(0, 3, m),
            "ncheck": np.where(rng.random(m) < 0.03, 0, rng.integers(1, 5, m)),
            "speed": rng.uniform(0.5, 1.2, m),
            "events": (rng.random(m) < 0.08).astype(np.int64),
            "frac": rng.uniform(-0.3, 0.3, (m, 4)),
            "method": rng.integers(0, len(CHECKIN_METHODS), (m, 4)),
            "jitter": rng.uniform(-0.002, 0.002, (m, 4, 2)),
        }
        on = draws.pop("on")
        for key, arr in draws.items():
            cols.setdefault(key, []).append(arr[on])
        types.extend([PATROL_TYPE[force]] * int(on.sum()))
    c = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((c["staff"], c["start"]))
    c = {k: v[order] for k, v in c.items()}
    types = [types[i] for i in order]
    start = c["start"]
    minutes = np.where(c["short"], c["short_minutes"], np.maximum(c["minutes"], 31))
    dur = (minutes * 60).astype(np.int64)
    ncheck = c["ncheck"]
    n = len(start)
    cp = np.repeat(np.arange(n), ncheck)
    serial = np.concatenate([np.arange(k) for k in ncheck]) if n else np.zeros(0, np.int64)
    frac = (serial + 0.5 + c["frac"][cp, serial]) / np.repeat(np.maximum(ncheck, 1), ncheck)
    return PatrolDay(
        staff=c["staff"],
        grid=c["grid"],
        ptype=types,
        start=start,
        end=start + dur,
        distance=(dur * c["speed"]).astype(np.int64),
        gps=np.where(c["gps_fail"], c["gps_low"], np.maximum(3, dur // 300)),
        events=c["events"],
        checkin_patrol=cp,
        checkin_at=start[cp] + (frac * dur[cp]).astype(np.int64),
        checkin_method=c["method"][cp, serial],
        checkin_serial=serial,
        checkin_jitter=c["jitter"][cp, serial],
    )


def patrol_row(
    pd: PatrolDay, i: int, pid: int, sampler: Sampler, upto: int, done_checkins: int
) -> tuple[Any, ...]:
    """A patrol tuple as of ``upto``: finished, or still under way (no end, not yet valid)."""
    g = sampler.grids[int(pd.grid[i])]
    start, end = int(pd.start[i]), int(pd.end[i])
    if end <= upto:
        checks = int(np.count_nonzero(pd.checkin_patrol == i)) if done_checkins < 0 else done_checkins
        valid = end - start >= 1800 and int(pd.gps[i]) >= 3 and checks >= 1
        return (pid, int(pd.staff[i]), g.code, g.town_code, pd.ptype[i], fmt_ts(start), fmt_ts(end),
                int(pd.distance[i]), int(pd.gps[i]), checks, int(pd.events[i]), valid)  # fmt: skip
    frac = (upto - start) / max(end - start, 1)
    return (pid, int(pd.staff[i]), g.code, g.town_code, pd.ptype[i], fmt_ts(start), None, None,
            int(int(pd.gps[i]) * frac), max(done_checkins, 0), 0, False)  # fmt: skip


def checkin_row(pd: PatrolDay, k: int, pid: int, sampler: Sampler) -> tuple[Any, ...]:
    g = sampler.grids[int(pd.grid[int(pd.checkin_patrol[k])])]
    return (pid, f"CP{g.code}{int(pd.checkin_serial[k]) + 1:02d}", CHECKIN_METHODS[int(pd.checkin_method[k])],
            fmt_ts(int(pd.checkin_at[k])), round(g.lng + float(pd.checkin_jitter[k, 0]), 6),
            round(g.lat + float(pd.checkin_jitter[k, 1]), 6))  # fmt: skip


def patrol_rows(
    pd: PatrolDay, sampler: Sampler, first_id: int, after: int, upto: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[int, tuple[int, int]]]:
    """Rows for the patrols of ``pd`` that start in (after, upto], with their check-ins up to ``upto``.

    Also returns the patrols still under way: id → (index in ``pd``, check-ins written).
    """
    sel = np.nonzero((pd.start > after) & (pd.start <= upto))[0]
    ids = {int(i): first_id + k for k, i in enumerate(sel)}
    ck = np.nonzero(np.isin(pd.checkin_patrol, sel) & (pd.checkin_at <= upto))[0]
    checkins = [checkin_row(pd, int(k), ids[int(pd.checkin_patrol[k])], sampler) for k in ck]
    done = np.bincount(pd.checkin_patrol[ck], minlength=len(pd)) if len(ck) else np.zeros(len(pd), np.int64)
    patrols = [patrol_row(pd, int(i), ids[int(i)], sampler, upto, int(done[i])) for i in sel]
    under_way = {ids[int(i)]: (int(i), int(done[i])) for i in sel if int(pd.end[i]) > upto}
    return patrols, checkins, under_way


# --- Video points and their outages ------------------------------------------------------------------

VIDEO_COLUMNS = ("point_code", "name", "point_class", "grid_code", "town_code", "lng", "lat", "owner",
                 "installed_at", "online", "last_heartbeat_at", "fault_since")  # fmt: skip
VIDEO_CHANGE_COLUMNS = ("point_code", "online", "at", "reason")
VIDEO_BLOCK = 30 * DAY
MEAN_UP_DAYS = {"一类": 30.0, "二类": 20.0, "三类": 14.0}
OUTAGE_REASONS = ("断电", "网络", "设备故障", "维护")


@dataclass(frozen=True)
class VideoPoint:
    index: int
    code: str
    point_class: str


def video_point_rows(sampler: Sampler, seed: int, installed_before: int) -> list[tuple[Any, ...]]:
    """5,037 points over the grids (more where more people live); state fields filled in later."""
    rng = random.Random(seed * 7 + 3)
    weights = [g.weight for g in sampler.grids]
    rows = []
    for n, gi in enumerate(_weighted_indexes(rng, weights, VIDEO_POINT_TOTAL), start=1):
        g = sampler.grids[gi]
        cls = rng.choices(("一类", "二类", "三类"), (0.15, 0.35, 0.5))[0]
        owner = rng.choices(("公安", "综治", "社会面"), (0.5, 0.25, 0.25))[0]
        installed = installed_before - int(rng.uniform(30, 2500) * DAY)
        name = f"{g.village_name}{ROADS[int(rng.random() * len(ROADS))]}{n % 97 + 1}号点"
        rows.append([f"XSV{n:05d}", name, cls, g.code, g.town_code, round(g.lng + (rng.random() - 0.5) * 0.004, 6),
                     round(g.lat + (rng.random() - 0.5) * 0.004, 6), owner, fmt_ts(installed), True, None, None])  # fmt: skip
    return [tuple(r) for r in rows]


def outages(seed: int, point: VideoPoint, block: int) -> list[tuple[int, int, str]]:
    """Non-overlapping outages (start, end, reason) beginning in one 30-day block (deterministic)."""
    rng = random.Random((seed * 7919 + point.index) * 100_003 + block)
    lo, hi = block * VIDEO_BLOCK, (block + 1) * VIDEO_BLOCK
    mean_up = MEAN_UP_DAYS[point.point_class] * DAY
    out = []
    t = lo + int(rng.expovariate(1 / mean_up))
    while t < hi - 1:
        r = rng.random()
        if r < 0.6:
            dur = 120 + int(40 * 60 * math.exp(rng.gauss(0, 0.8)))  # minutes: reboot, power blip
        elif r < 0.93:
            dur = int(6 * HOUR * math.exp(rng.gauss(0, 0.6)))  # hours: network, repair visit
        else:
            dur = int(rng.uniform(1, 12) * DAY)  # days: hardware replacement
        end = min(t + dur, hi - 1)  # an outage never spans blocks, so blocks stay independent
        out.append((t, end, OUTAGE_REASONS[int(rng.random() * 4)]))
        t = end + 60 + int(rng.expovariate(1 / mean_up))
    return out


def video_changes(seed: int, point: VideoPoint, after: int, upto: int) -> list[tuple[int, bool, str]]:
    """Status changes (at, online, reason) of one point in (after, upto]."""
    out: list[tuple[int, bool, str]] = []
    for block in range(after // VIDEO_BLOCK, upto // VIDEO_BLOCK + 1):
        for start, end, reason in outages(seed, point, block):
            if after < start <= upto:
                out.append((start, False, reason))
            if after < end <= upto:
                out.append((end, True, "恢复"))
    return out


# --- Police statistics, key areas, inspections ------------------------------------------------------

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
                      "rectify_deadline")  # fmt: skip
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
    for i in range(7_351):
        g = sampler.grids[sampler.pick_grid(rng)]
        at = campaign_start + int(rng.random() * 200 * DAY)
        rows.append((_unit_name(rng, g), g.town_code, g.code, fmt_ts(at), int(found[i]), int(found[i] - open_[i]),
                     (local_date(at) + dt.timedelta(days=30)).isoformat()))  # fmt: skip
    per_day = 14 * scale
    for d in range(days):
        for _ in range(poisson(rng, per_day)):
            g = sampler.grids[sampler.pick_grid(rng)]
            at = now - (d + 1) * DAY + int(rng.random() * DAY)
            found_n = poisson(rng, 2.1)
            deadline = local_date(at) + dt.timedelta(days=30)
            progress = min(1.0, (now - at) / (30 * DAY))
            fixed_n = found_n if rng.random() < 0.985 * progress else int(found_n * progress)
            rows.append(
                (_unit_name(rng, g), g.town_code, g.code, fmt_ts(at), found_n, fixed_n, deadline.isoformat())
            )
    return rows


def _unit_name(rng: random.Random, g: GridInfo) -> str:
    return f"{g.village_name}{SURNAMES[int(rng.random() * len(SURNAMES))]}氏{UNIT_KINDS[int(rng.random() * len(UNIT_KINDS))]}"


# --- The seed ----------------------------------------------------------------------------------------


@dataclass
class SeedReport:
    counts: dict[str, int]
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        rows = ", ".join(f"{k} {v:,}" for k, v in self.counts.items())
        return f"seeded in {self.seconds:.1f} s: {rows}"


def is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        for table in (schema.admin_unit, schema.event):
            if conn.execute(select(table).limit(1)).first() is not None:
                return False
    return True


def clear(engine: Engine) -> None:
    """--force: drop and recreate the canonical tables (faster than deleting millions of rows)."""
    schema.metadata.drop_all(engine, tables=schema.ALL_TABLES)
    schema.metadata.create_all(engine)


BULK_TABLES = (schema.event, schema.event_action, schema.evaluation, schema.patrol, schema.patrol_checkin,
               schema.video_status_change, schema.police_call_stat, schema.safety_inspection)  # fmt: skip


@dataclass
class SeedJob:
    url: str
    seed: int
    days: int
    scale: float
    patrol_days: int
    now: int
    progress: bool
    counts: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)


def seed_database(
    url: str,
    *,
    seed: int = 42,
    days: int = DEFAULT_DAYS,
    scale: float = 1.0,
    patrol_days: int = DEFAULT_PATROL_DAYS,
    now: dt.datetime | None = None,
    progress: bool = True,
    force: bool = False,
) -> SeedReport:
    """Create the schema on ``url`` and fill it with the sample district up to ``now``.

    Refuses a database that already holds data unless ``force`` (then the tables are recreated).
    Deterministic for the same seed, days, scale, patrol_days and now.
    """
    if days < 1 or scale <= 0 or patrol_days < 0:
        raise ValueError("--days must be ≥ 1, --scale > 0 and --patrol-days ≥ 0")
    started = time.monotonic()
    now_ts = to_epoch(now or dt.datetime.now(UTC))
    engine = init_db(url)
    try:
        if not is_empty(engine):
            if not force:
                raise ValueError("数据库非空 / the database already holds data: use --force to replace it")
            clear(engine)
        job = SeedJob(url, seed, days, scale, patrol_days, now_ts, progress)
        _run_seed(engine, job)
    finally:
        engine.dispose()
    return SeedReport(job.counts, time.monotonic() - started, job.phases)


def _run_seed(engine: Engine, job: SeedJob) -> None:
    district = build_district(job.seed)
    staff = staff_rows(district, job.seed)
    names = {t.code: t.name_zh for t in towns()} | {v.code: v.name for v in district.villages}
    grows = grid_rows(district)
    sampler = sampler_from_rows(
        [(r[0], r[2], r[3], r[6] + r[7], r[10], r[11], r[8], r[9]) for r in grows], staff, names
    )
    ctx = lifecycle_context(staff)
    with engine.connect() as conn:
        _fast_sqlite(conn)
        dropped = _drop_bulk_indexes(conn)
        _phase(job, "units", lambda: _write_units(conn, district, grows, staff))
        _phase(job, "video", lambda: _write_video(conn, job, sampler))
        _phase(job, "events", lambda: _write_events(conn, job, sampler, ctx))
        _phase(job, "patrols", lambda: _write_patrols(conn, job, sampler, staff))
        _phase(job, "statistics", lambda: _write_stats(conn, job, sampler, district))
        _phase(job, "indexes", lambda: _create_indexes(conn, dropped, job.progress))
        sync_sequences(conn)
        conn.commit()
        _restore_sqlite(conn)
    # A freshly loaded database has no planner statistics and no visibility map until autovacuum gets to
    # it (hours, on a big one): queries planned meanwhile read far more than they need (and covering
    # indexes still visit the table), and benchmarks would measure that.
    _phase(
        job,
        "analyze",
        lambda: refresh_planner_statistics(engine, [t.name for t in schema.ALL_TABLES], vacuum=True),
    )


def _phase(job: SeedJob, name: str, fn: Any) -> None:
    t = time.monotonic()
    fn()
    job.phases[name] = round(time.monotonic() - t, 2)


def _fast_sqlite(conn: Connection) -> None:
    """A fresh sample database needs no crash safety while it is being filled."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA journal_mode=OFF")  # one write of each page instead of WAL + checkpoint
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        conn.exec_driver_sql("PRAGMA cache_size=-262144")
        conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        conn.exec_driver_sql("PRAGMA threads=2")  # lets CREATE INDEX sort with a helper thread
        conn.commit()


def _restore_sqlite(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")


def _drop_bulk_indexes(conn: Connection) -> list[Any]:
    """Bulk loads into unindexed tables, then one index build each, are much faster (SQLite only:
    MariaDB refuses to drop an index that backs a foreign key, and tests there are small)."""
    dropped: list[Any] = []
    if conn.dialect.name != "sqlite":
        return dropped
    for table in BULK_TABLES:
        for idx in sorted(table.indexes, key=lambda i: i.name or ""):
            idx.drop(conn)
            dropped.append(idx)
    conn.commit()
    return dropped


def _create_indexes(conn: Connection, indexes: list[Any], show: bool) -> None:
    with Progress("索引 indexes", len(indexes), enabled=show) as bar:
        for idx in indexes:
            idx.create(conn)
            conn.commit()
            bar.advance()


def _write_units(
    conn: Connection, d: District, grows: list[tuple[Any, ...]], staff: list[tuple[Any, ...]]
) -> None:
    insert_rows(conn, schema.admin_unit, ADMIN_COLUMNS, admin_rows(d))
    insert_rows(conn, schema.grid, GRID_COLUMNS, grows)
    insert_rows(conn, schema.department, DEPT_COLUMNS, department_rows())
    insert_rows(conn, schema.staff, STAFF_COLUMNS, staff)
    conn.commit()


def _write_video(conn: Connection, job: SeedJob, sampler: Sampler) -> None:
    window_start = job.now - job.days * DAY
    points = video_point_rows(sampler, job.seed, window_start)
    changes: list[tuple[Any, ...]] = []
    final = []
    with Progress("视频点位 video points", len(points), enabled=job.progress) as bar:
        for i, row in enumerate(points):
            vp = VideoPoint(i, row[0], row[2])
            ch = video_changes(job.seed, vp, window_start, job.now)
            changes.extend((row[0], online, fmt_ts(at), reason) for at, online, reason in ch)
            online = ch[-1][1] if ch else True
            fault = None if online else fmt_ts(ch[-1][0])
            beat = fmt_ts(job.now - (i * 7919) % 60) if online else fault
            final.append((*row[:9], online, beat, fault))
            bar.advance()
    changes.sort(key=lambda r: (r[2], r[0]))
    insert_rows(conn, schema.video_point, VIDEO_COLUMNS, final)
    insert_rows(conn, schema.video_status_change, VIDEO_CHANGE_COLUMNS, changes)
    conn.commit()
    job.counts["video_point"] = len(final)
    job.counts["video_status_change"] = len(changes)


# Event generation is most of the seed's CPU: with more than a few weeks of history and at least four
# CPUs it runs in worker processes, one chunk of whole Shanghai days each, while this process writes. Chunks start at local
# midnight, where event numbers restart, and each knows its first event id from a cheap count of the
# hours before it, so the output is identical to a sequential run.
PARALLEL_MIN_DAYS = 60
PARALLEL_MIN_CPUS = 4
CHUNK_DAYS = 10
_worker: dict[str, Any] = {}


@dataclass(frozen=True)
class ChunkSpec:
    first_hour: int
    last_hour: int  # inclusive
    first_event_id: int


def _window_arrivals(sampler: Sampler, hour: int, job: SeedJob) -> list[Arrival]:
    start = job.now - job.days * DAY
    return [
        a for a in hourly_arrivals(sampler, hour, job.seed, job.scale) if start < a.reported_at <= job.now
    ]


def hourly_count(hour: int, seed: int, rate: float) -> int:
    """How many reports ``hourly_arrivals`` gives for ``hour``: its first draw, without the rest."""
    return poisson(random.Random(seed * 1_000_003 + hour), hourly_rate(hour * HOUR, rate))


def _chunk_specs(job: SeedJob, sampler: Sampler) -> list[ChunkSpec]:
    first_hour = (job.now - job.days * DAY) // HOUR
    last_hour = job.now // HOUR
    specs: list[ChunkSpec] = []
    next_id = 1
    hour = first_hour
    while hour <= last_hour:
        # the chunk ends just before a local midnight CHUNK_DAYS later (or at the last hour)
        midnight = day_start(lifecycle.local_day(hour * HOUR) + CHUNK_DAYS) // HOUR
        end = min(last_hour, midnight - 1)
        specs.append(ChunkSpec(hour, end, next_id))
        for h in range(hour, end + 1):
            edge = h in (first_hour, last_hour)
            next_id += (
                len(_window_arrivals(sampler, h, job)) if edge else hourly_count(h, job.seed, job.scale)
            )
        hour = end + 1
    return specs


def _make_chunk(spec: ChunkSpec, sampler: Sampler, ctx: Context, job: SeedJob) -> EventBatch:
    numberer = Numberer(spec.first_event_id)
    batch = EventBatch()
    for hour in range(spec.first_hour, spec.last_hour + 1):
        for a in _window_arrivals(sampler, hour, job):
            eid, number = numberer.take(a.reported_at)
            batch.add(*new_event_rows(eid, number, a, ctx, job.now))
    return batch


def _init_worker(sampler: Sampler, ctx: Context, job: SeedJob) -> None:
    _worker.update(sampler=sampler, ctx=ctx, job=job)


def _chunk_in_worker(spec: ChunkSpec) -> EventBatch:
    return _make_chunk(spec, _worker["sampler"], _worker["ctx"], _worker["job"])


def _chunks(job: SeedJob, sampler: Sampler, ctx: Context, specs: list[ChunkSpec]) -> Iterator[EventBatch]:
    """Event batches in order: from two worker processes for long histories, else in-process."""
    # Measured on the shared 2-core machine, two workers did not beat one process (other jobs held the
    # cores), so the pool is used only where there is headroom.
    if (
        job.days < PARALLEL_MIN_DAYS
        or len(specs) < 3
        or (os.cpu_count() or 1) < PARALLEL_MIN_CPUS
        or "fork" not in mp.get_all_start_methods()
    ):
        for spec in specs:
            yield _make_chunk(spec, sampler, ctx, job)
        return
    with mp.get_context("fork").Pool(2, initializer=_init_worker, initargs=(sampler, ctx, job)) as pool:
        yield from pool.imap(_chunk_in_worker, specs)


def _write_events(conn: Connection, job: SeedJob, sampler: Sampler, ctx: Context) -> None:
    specs = _chunk_specs(job, sampler)
    totals = {"event": 0, "event_action": 0, "evaluation": 0}
    with Progress("事件 events (days)", job.days, enabled=job.progress) as bar:
        for spec, batch in zip(specs, _chunks(job, sampler, ctx, specs), strict=True):
            if batch.events and batch.events[0][0] != spec.first_event_id:
                raise RuntimeError("event chunk numbering drifted")  # would break ids: fail loudly
            _count_batch(totals, batch)
            batch.write(conn)
            conn.commit()
            bar.advance(round((spec.last_hour - spec.first_hour + 1) / 24))
    job.counts.update(totals)


def _count_batch(totals: dict[str, int], batch: EventBatch) -> None:
    totals["event"] += len(batch.events)
    totals["event_action"] += len(batch.actions)
    totals["evaluation"] += len(batch.evaluations)


def _write_patrols(conn: Connection, job: SeedJob, sampler: Sampler, staff: list[tuple[Any, ...]]) -> None:
    forces = forces_from_staff(staff, sampler)
    today = lifecycle.local_day(job.now)
    first_day = today - job.patrol_days + 1
    next_pid = 1
    n_patrol = n_check = 0
    with Progress("巡查 patrols (days)", max(job.patrol_days, 1), enabled=job.progress) as bar:
        for day in range(first_day, today + 1):
            pd = patrol_day(forces, day, job.seed, job.scale)
            patrols, checkins, _ = patrol_rows(pd, sampler, next_pid, 0, job.now)
            insert_rows(conn, schema.patrol, PATROL_COLUMNS, patrols)
            insert_rows(conn, schema.patrol_checkin, CHECKIN_COLUMNS, checkins)
            conn.commit()
            next_pid += len(patrols)
            n_patrol += len(patrols)
            n_check += len(checkins)
            bar.advance()
    job.counts["patrol"] = n_patrol
    job.counts["patrol_checkin"] = n_check


def _write_stats(conn: Connection, job: SeedJob, sampler: Sampler, d: District) -> None:
    weights: dict[str, float] = {}
    for g in sampler.grids:
        weights[g.town_code] = weights.get(g.town_code, 0.0) + g.weight
    today = local_date(job.now)
    police = police_rows(job.seed, today, weights)
    areas = key_area_rows(job.seed, sampler, today)
    inspections = inspection_rows(job.seed, sampler, job.now, job.days, job.scale)
    with Progress("统计 statistics", 3, enabled=job.progress) as bar:
        insert_rows(conn, schema.police_call_stat, ("stat_date", "town_code", "effective_110_calls",
                    "property_crime_cases", "major_violent_cases"), police)  # fmt: skip
        bar.advance()
        insert_rows(
            conn,
            schema.key_area,
            ("area_id", "name", "town_code", "issue", "listed_at", "delisted_at"),
            areas,
        )
        bar.advance()
        insert_rows(conn, schema.safety_inspection, INSPECTION_COLUMNS, inspections)
        bar.advance()
    conn.commit()
    job.counts.update(
        admin_unit=1 + len(d.town_polygons) + len(d.villages),
        grid=len(d.grids),
        police_call_stat=len(police),
        key_area=len(areas),
        safety_inspection=len(inspections),
    )


# --- Command line -------------------------------------------------------------------------------------


def parse_now(text_: str | None) -> dt.datetime | None:
    if not text_:
        return None
    value = dt.datetime.fromisoformat(text_.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("--now needs a UTC offset, e.g. 2026-11-28T08:00:00+08:00")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    from dashboard.cli.initdb import add_database_argument

    add_database_argument(parser)
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed + now → same data)")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of event history (default 760)")
    parser.add_argument("--scale", type=float, default=1.0, help="volume multiplier for events and patrols")
    parser.add_argument("--patrol-days", type=int, default=DEFAULT_PATROL_DAYS, help="days of patrol history")
    parser.add_argument("--now", default=None, help="end of the history, ISO 8601 with offset (default: now)")
    parser.add_argument("--force", action="store_true", help="replace the data of a non-empty database")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from dashboard.cli.initdb import database_url

    report = seed_database(
        database_url(args),
        seed=args.seed,
        days=args.days,
        scale=args.scale,
        patrol_days=args.patrol_days,
        now=parse_now(args.now),
        progress=not args.quiet,
        force=args.force,
    )
    print(report.summary())
    return 0


__all__ = ["SeedReport", "seed_database"]
