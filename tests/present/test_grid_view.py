"""A grid's view: the grid is the smallest unit, so the charts of the units inside a view say so in words,
its patrol map draws the grid over its village's boundaries, and an empty camera list says every camera
is online."""

from __future__ import annotations

from typing import Any

from dashboard.core.snapshot import KpiValue, Snapshot
from dashboard.present.figures import from_spec
from dashboard.present.panels import backlog_ageing, backlog_map, patrol_coverage, patrol_map, video_offline
from layouts.render import table_component

GRID = "330109001003004"


def snapshot(level: str, code: str) -> Snapshot:
    return Snapshot(
        view={"period": ["month"], "grid": [GRID]},
        now="2026-12-06T15:00:00+00:00",
        period_start="2026-11-30T16:00:00+00:00",
        period_end="2026-12-31T16:00:00+00:00",
        data_version="v",
        newest_data_at=None,
        kpis={},
        backlog={"level": level, "code": code, "child_level": None, "units": []},
        patrol={
            "units": [{"code": GRID, "grids": 1, "covered_today": 1, "coverage_today": 100.0}],
            "grids": [{"grid_code": GRID, "hours": 2.75}],
            "video_offline": [],
        },
    )


def annotation(figure: dict[str, Any]) -> str:
    return str(figure["layout"]["annotations"][0]["text"])


def test_the_charts_of_smaller_units_say_a_grid_has_none() -> None:
    snap = snapshot("grid", GRID)
    for build in (backlog_map, backlog_ageing, patrol_coverage):
        spec = build(snap, "zh")
        assert spec.empty_text == "网格是最小单元，没有下级单位", spec.key
        assert annotation(from_spec(spec, geojson={"features": []}, lang="zh")) == spec.empty_text
    assert backlog_map(snap, "en").empty_text == "A grid has no smaller units"


def test_a_village_with_no_units_to_show_still_says_no_data() -> None:
    spec = backlog_map(snapshot("village", GRID[:12]), "zh")
    assert spec.empty_text is None
    assert annotation(from_spec(spec, geojson={"features": []}, lang="zh")) == "暂无数据"


def test_a_grids_maps_draw_it_over_its_villages_boundaries() -> None:
    spec = patrol_map(snapshot("grid", GRID), "zh")
    assert (spec.map_level, spec.map_parent, spec.codes) == ("grid", GRID[:12], [GRID])
    snap = snapshot("grid", GRID)
    snap.backlog["units"] = [{"code": GRID, "name_zh": "第4网格", "backlog": 2, "per_1000": 1.5}]
    spec = backlog_map(snap, "zh")
    assert (spec.map_level, spec.map_parent, spec.codes) == ("grid", GRID[:12], [GRID])
    assert patrol_map(snapshot("village", GRID[:12]), "zh").map_parent == GRID[:12]
    assert patrol_map(snapshot("district", ""), "zh").map_parent is None


def test_no_camera_offline_is_said_in_words_where_there_are_cameras() -> None:
    snap = snapshot("grid", GRID)
    assert table_component(video_offline(snap, "en")).children == "—"  # no camera at all: nothing to say
    snap.kpis["video_online_rate"] = KpiValue("video_online_rate", 100.0, detail={"online": 3, "points": 3})
    spec = video_offline(snap, "en")
    assert not spec.rows and table_component(spec).children == "Every camera online"


def test_a_figure_kept_per_town_says_so_below_the_town() -> None:
    """On a grid's (or village's) view the 110 tile shows the town's figure, and its unit says so; the
    grid's own figures do not, nor does the town's view."""
    from layouts.render import kpi_tiles

    def units(snap: Snapshot, lang: str) -> dict[str, str]:
        tiles = kpi_tiles(snap, ["calls_110_yoy", "reported"], lang)
        return {tile.id: tile.children[1].children[1].children for tile in tiles}

    grid = snapshot("grid", GRID)
    grid.kpis["calls_110_yoy"] = KpiValue("calls_110_yoy", 6.2)
    grid.kpis["reported"] = KpiValue("reported", 4.0)
    assert units(grid, "zh") == {"kpi-calls_110_yoy": "%（镇街）", "kpi-reported": "件"}
    assert units(grid, "en")["kpi-calls_110_yoy"] == "% (town)"
    town = snapshot("town", GRID[:9])
    town.kpis.update(grid.kpis)
    assert units(town, "zh") == {"kpi-calls_110_yoy": "%", "kpi-reported": "件"}
