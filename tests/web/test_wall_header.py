"""The wall's header: the title names the place, the scope line beside it says what the title does not."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from dashboard.core import domain
from dashboard.core.viewstate import ViewState
from layouts import render
from tests.support.callback_bodies import QUIET_DATATABLE

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


@QUIET_DATATABLE
def test_the_staff_pages_title_names_a_village_or_a_grid_not_its_town(district: str, tmp_path: Any) -> None:
    """The staff pages' title has no snapshot: it names the unit from the unit lists the filters offer."""
    from sqlalchemy import create_engine, text

    from callbacks.filters import frame_for_view
    from dashboard.core.viewstate import to_query
    from tests.support.callback_bodies import make_app

    engine = create_engine(district)
    with engine.connect() as conn:
        grid, village, town = conn.execute(
            text("SELECT grid_code, village_code, town_code FROM grid ORDER BY grid_code LIMIT 1")
        ).one()
        village_zh = conn.execute(
            text("SELECT name_zh FROM admin_unit WHERE code = :v"), {"v": village}
        ).scalar()
        grid_zh = conn.execute(text("SELECT grid_name FROM grid WHERE grid_code = :g"), {"g": grid}).scalar()
    engine.dispose()
    app = make_app(district, tmp_path)
    town_zh = domain.town_by_code()[town].name_zh
    with app.server.test_request_context("/"):
        for view, name in (
            (ViewState(towns=(town,), village=village), village_zh),
            (ViewState(towns=(town,), village=village, grid=grid), grid_zh),
            (ViewState(towns=(town,), village=village, grid=grid, lang="en"), f"Grid {grid[-3:]}"),
        ):
            title = frame_for_view(to_query(view), "/")[2]
            assert name in title and town_zh not in title, title
        assert town_zh in frame_for_view(to_query(ViewState(towns=(town,))), "/")[2]
