"""The wall's header: the title names the place, the scope line beside it says what the title does not."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from dashboard.core import domain
from dashboard.core.viewstate import ViewState
from layouts import render

TOWNS = list(domain.town_by_code().values())
VILLAGE_EN = "Community 003, Chengxiang Jiedao"


def snap_of_village() -> Any:
    """What the header reads of a snapshot: the breadcrumb's last link names a village or grid."""
    link = {"name_zh": "城厢街道第三社区", "name_en": VILLAGE_EN}
    return SimpleNamespace(backlog={"breadcrumb": [link]})


def test_a_village_is_named_once_in_the_title_and_the_scope_line_says_the_period() -> None:
    town = TOWNS[0].code
    view = ViewState(towns=(town,), village=f"{town}003", lang="en")
    snap = snap_of_village()
    assert render.scope_title("wall_title", view, "en", snap) == f"{VILLAGE_EN} · Grid Governance Situation"
    assert render.scope_label(snap, view) == "This month"


def test_a_town_and_two_towns_in_the_title_the_period_beside() -> None:
    one, two = TOWNS[0], TOWNS[1]
    for towns in ((one.code,), (one.code, two.code)):
        view = ViewState(towns=towns)
        assert one.name_zh in render.scope_title("wall_title", view, "zh")
        assert render.scope_label(snap_of_village(), view) == "本月"


def test_the_district_and_three_towns_are_said_by_the_scope_line() -> None:
    assert render.scope_label(snap_of_village(), ViewState(period="week")) == "全区 · 本周"
    three = tuple(t.code for t in TOWNS[:3])
    view = ViewState(towns=three)
    assert render.scope_title("wall_title", view, "zh") == "萧山区基层治理态势感知"  # too many for a title
    assert render.scope_label(snap_of_village(), view) == "、".join(t.name_zh for t in TOWNS[:3]) + " · 本月"
