"""Departments and staff: who works in which grid, town or department, and who acts on events."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from dashboard.core.domain import DEPARTMENTS, FORCE_STRENGTH, towns
from dashboard.sample import lifecycle
from dashboard.sample.district import District
from dashboard.sample.draws import person_name, phone_number, weighted_indexes
from dashboard.sample.lifecycle import Context

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
    for gi in weighted_indexes(rng, weights, ASSISTANTS):
        g = d.grids[gi]
        add("GRID_ASSISTANT", g.code, g.village.town.code, dept_codes[int(rng.random() * len(dept_codes))])
    for force, role in FORCE_ROLES.items():
        for gi in weighted_indexes(rng, weights, FORCE_STRENGTH[force]):
            g = d.grids[gi]
            add(role, g.code, g.village.town.code, None)
    return rows


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
