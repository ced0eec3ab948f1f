"""The view's scope as SQL conditions, and the unit hierarchy one level below it.

Codes nest by prefix: a village code starts with its 9-digit town code and a grid code with
its 12-digit village code, so the town of a village or grid is its first nine digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, or_, select, true

from dashboard.core import domain
from dashboard.core.viewstate import ViewState
from dashboard.source import schema

TOWN_CODE_LEN = 9


@dataclass(frozen=True)
class Level:
    """Where the view stands: the unit's level and code (district code at the top)."""

    level: str  # district | town | village | grid
    code: str
    child_level: str | None  # the level the backlog and patrol tables group by


def view_level(view: ViewState) -> Level:
    if view.grid:
        return Level("grid", view.grid, None)
    if view.village:
        return Level("village", view.village, "grid")
    if len(view.towns) == 1:
        return Level("town", view.towns[0], "village")
    return Level("district", domain.DISTRICT_CODE, "town")


def _eastern_ok(view: ViewState, town_col: ColumnElement[Any]) -> list[ColumnElement[bool]]:
    if view.eastern == "exclude":
        return [town_col.not_in(sorted(domain.eastern_town_codes()))]
    return []


def place_conditions(
    view: ViewState,
    town_col: ColumnElement[Any],
    village_col: ColumnElement[Any] | None = None,
    grid_col: ColumnElement[Any] | None = None,
) -> list[ColumnElement[bool]]:
    """Town / village / grid / eastern filters for any table with these columns.

    A table without a village or grid column (police statistics, key areas) falls back to the town that
    contains the selected village or grid: those figures exist only per town.
    """
    conds = _eastern_ok(view, town_col)
    if view.towns:
        conds.append(town_col.in_(view.towns))
    if view.grid:
        if grid_col is not None:
            conds.append(grid_col == view.grid)
        else:
            conds.append(town_col == view.grid[:TOWN_CODE_LEN])
    elif view.village:
        if village_col is not None:
            conds.append(village_col == view.village)
        elif grid_col is not None:
            conds.append(
                grid_col.in_(
                    select(schema.grid.c.grid_code).where(schema.grid.c.village_code == view.village)
                )
            )
        else:
            conds.append(town_col == view.village[:TOWN_CODE_LEN])
    return conds


def event_conditions(view: ViewState, table: Table = schema.event) -> list[ColumnElement[bool]]:
    """Every view filter that applies to events: place, category, source and department."""
    c = table.c
    conds = place_conditions(view, c.town_code, c.village_code, c.grid_code)
    if view.categories:
        conds.append(c.category_l1.in_(view.categories))
    if view.sources:
        conds.append(c.source.in_(view.sources))
    if view.depts:
        conds.append(c.dispatch_dept_code.in_(view.depts))
    return conds


def grid_conditions(view: ViewState) -> list[ColumnElement[bool]]:
    """Active grids within the view's place scope (the patrol-coverage denominator)."""
    g = schema.grid.c
    return [g.status == "ACTIVE", *place_conditions(view, g.town_code, g.village_code, g.grid_code)]


def child_column(view: ViewState, table: Table) -> ColumnElement[Any]:
    """The column one level below the view (town → village → grid); the grid itself at grid level."""
    child = view_level(view).child_level
    if child == "town":
        return table.c.town_code
    if child == "village":
        return table.c.village_code
    return table.c.grid_code


def child_codes(conn: Connection, view: ViewState) -> list[str]:
    """The units one level below the view (towns, a town's villages, a village's grids), so units
    without cases still get a row in a table or a ranking."""
    lvl = view_level(view)
    au = schema.admin_unit.c
    if lvl.child_level == "town":
        q = select(au.code).where(au.level == "town", *place_conditions(view, au.code))
    elif lvl.child_level == "village":
        q = select(au.code).where(au.level == "village", au.parent_code == lvl.code)
    else:
        q = select(schema.grid.c.grid_code).where(*grid_conditions(view))
    return [code for (code,) in conn.execute(q)]


def any_of(conds: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*conds) if conds else true()


Names = dict[str, tuple[str, str, int | None]]


def unit_names(conn: Connection, codes: set[str], cache: Names | None = None) -> Names:
    """code → (name_zh, name_en, population) for admin units and grids, in one statement.

    The empty code is the row of town-level cases (:data:`~dashboard.core.domain.UNGRIDDED_CODE`, 未落网格).

    Falls back to the domain's town list (and then the bare code) for codes the database does not hold.
    ``cache`` (shared by the panels of one snapshot) saves looking the same units up twice.
    """
    cache = {} if cache is None else cache
    cache.setdefault(domain.UNGRIDDED_CODE, (domain.UNGRIDDED_ZH, domain.UNGRIDDED_EN, None))
    wanted = sorted(codes - set(cache))
    if not wanted:
        return {code: cache[code] for code in codes}
    au, g = schema.admin_unit.c, schema.grid.c
    names: Names = {}
    village = schema.admin_unit.alias("village")
    units = select(au.code, au.name_zh, au.name_en, au.population, au.name_zh, au.name_en).where(
        au.code.in_(wanted)
    )
    grids = (
        select(
            g.grid_code,
            g.grid_name,
            g.grid_name,
            g.population_registered + g.population_floating,
            village.c.name_zh,
            village.c.name_en,
        )
        .select_from(schema.grid.outerjoin(village, village.c.code == g.village_code))
        .where(g.grid_code.in_(wanted))
    )
    for code, zh, en, pop, village_zh, village_en in conn.execute(units.union_all(grids)):
        if zh == en:  # a grid: its name is Chinese only
            en = grid_name_en(zh, village_zh, village_en)
        names[code] = (zh, en, None if pop is None else int(pop))
    for code in wanted:
        if code not in names:
            town = domain.town_by_code().get(code)
            names[code] = (town.name_zh, town.name_en, None) if town else (code, code, None)
    cache.update(names)
    return {code: cache[code] for code in codes}


_GRID_NO = re.compile(r"^第?(\d+)网格$")


def grid_name_en(name: str, village_zh: str | None, village_en: str | None) -> str:
    """A grid's English name, derived: grids are named in Chinese only, most as their village's name and a
    number ("上庄社区第1网格" → "Shangzhuang Shequ grid 1"); any other name stays as written."""
    if village_zh and village_en and name.startswith(village_zh):
        number = _GRID_NO.match(name[len(village_zh) :])
        if number:
            return f"{village_en} grid {number.group(1)}"
    return name


def breadcrumb(conn: Connection, view: ViewState) -> list[tuple[str, str, str, str]]:
    """(level, code, name_zh, name_en) from the district down to the view's unit."""
    chain = [("district", domain.DISTRICT_CODE)]
    lvl = view_level(view)
    if lvl.level in ("town", "village", "grid"):
        town = view.towns[0] if len(view.towns) == 1 else lvl.code[:TOWN_CODE_LEN]
        chain.append(("town", town))
    if lvl.level in ("village", "grid"):
        chain.append(("village", view.village or lvl.code[:12]))
    if lvl.level == "grid":
        chain.append(("grid", lvl.code))
    names = unit_names(conn, {code for _, code in chain[1:]})
    out = [("district", domain.DISTRICT_CODE, domain.DISTRICT_NAME_ZH, domain.DISTRICT_NAME_EN)]
    out += [(level, code, names[code][0], names[code][1]) for level, code in chain[1:]]
    return out
