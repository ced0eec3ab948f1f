"""The 未落网格 row (town-level cases, the empty code) in the panels: listed, never ranked, praised or
blamed, not on the map, and a click on its bar goes nowhere."""

from __future__ import annotations

import pytest
from dash.exceptions import PreventUpdate

from callbacks.drill import clicked_code
from dashboard.core import domain
from dashboard.core.snapshot import Snapshot, UnitRow
from dashboard.present.analysis import analyse
from dashboard.present.panels import backlog_ageing, backlog_map

TOWN = "330109113"


def unit(code: str, name: str, backlog: int, name_en: str = "") -> dict[str, object]:
    return {"code": code, "name_zh": name, "name_en": name_en or name, "backlog": backlog, "lt1d": backlog}


def snapshot(units: list[dict[str, object]], ranked: list[UnitRow]) -> Snapshot:
    return Snapshot(
        view={"period": ["month"], "town": [TOWN]},
        now="2026-11-28T06:00:00+00:00",
        period_start="2026-10-31T16:00:00+00:00",
        period_end="2026-11-30T16:00:00+00:00",
        data_version="v",
        newest_data_at=None,
        kpis={},
        rankings={"units": ranked},
        backlog={"level": "town", "code": TOWN, "child_level": "village", "units": units},
    )


def test_the_row_is_a_bar_but_not_a_map_area_nor_a_best_or_worst_unit() -> None:
    units = [unit(f"{TOWN}00{i}", f"村{i}", 10 - i) for i in range(1, 4)]
    units.append(unit(domain.UNGRIDDED_CODE, domain.UNGRIDDED_ZH, 40, domain.UNGRIDDED_EN))
    ranked = [
        UnitRow(f"{TOWN}00{i}", f"村{i}", f"V{i}", {"on_time_rate": 90.0 - i, "due": 20}) for i in (1, 2)
    ]
    # Town-level cases with the best rate of all: still not "the best unit" (it is not one).
    ranked.append(UnitRow("", domain.UNGRIDDED_ZH, domain.UNGRIDDED_EN, {"on_time_rate": 100.0, "due": 50}))
    snap = snapshot(units, ranked)
    bars = backlog_ageing(snap, "zh")
    assert bars.categories[0] == "未落网格" and bars.codes[0] == ""  # the most open cases: first bar
    assert backlog_ageing(snap, "en").categories[0] == "Not assigned to a grid"
    area = backlog_map(snap, "zh")
    assert "" not in area.codes and "未落网格" not in area.categories and len(area.codes) == 3
    lines = analyse(snap).lines
    assert all("未落网格" not in line.text for line in lines["best"] + lines["worst"])


def test_a_click_on_the_row_opens_nothing() -> None:
    with pytest.raises(PreventUpdate):
        clicked_code({"points": [{"customdata": ""}]})
    assert clicked_code({"points": [{"customdata": f"{TOWN}001"}]}) == f"{TOWN}001"
