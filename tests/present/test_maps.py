"""The map as the stage: quantile classes that spread the values present, a legend of their ranges,
every unit drawn, alerted units outlined, and names where they can be read."""

from __future__ import annotations

from typing import Any

from dashboard.present import maps
from dashboard.present.figures import from_spec, type_scale
from dashboard.present.panels import ChartSpec, Series


def square(code: str, x: float) -> dict[str, Any]:
    ring = [[x, 0.0], [x + 1, 0.0], [x + 1, 1.0], [x, 1.0], [x, 0.0]]
    return {
        "type": "Feature",
        "properties": {"code": code},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def district(n: int) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [square(f"U{i:02d}", i * 1.0) for i in range(n)]}


def test_a_narrow_band_of_values_still_spreads_over_every_class() -> None:
    """0.76–1.24 everywhere: a continuous scale would paint it all one orange; five classes of about
    equal counts tell the units apart."""
    values = [0.76 + 0.02 * i for i in range(25)]
    edges = maps.class_edges(values)
    assert len(edges) == 6 and edges[0] == values[0] and edges[-1] == values[-1]
    counts = [0] * 5
    for v in values:
        counts[maps.class_of(v, edges)] += 1  # type: ignore[index]
    assert counts == [5, 5, 5, 5, 5]
    assert maps.class_labels(edges)[0] == "0.76–0.86"


def test_few_distinct_values_make_fewer_classes_and_none_is_no_class() -> None:
    edges = maps.class_edges([0, 0, 0, 0, 3, None])
    assert edges == [0, 3]
    assert (
        maps.class_of(0, edges) == 0 and maps.class_of(3, edges) == 0 and maps.class_of(None, edges) is None
    )
    assert maps.class_edges([None, None]) == []
    assert maps.class_labels(maps.class_edges([2, 2])) == ["2.00"]


def test_every_unit_is_drawn_and_alerted_units_are_outlined() -> None:
    geo = district(4)
    codes = ["U00", "U01", "U02", "U03"]
    fig = maps.stage_map(
        geo, codes, [1.0, None, 3.0, 2.0], codes, outlined=["U02"], names=["a", "b", "c", "d"]
    )
    base, classes, outline, names = fig["data"]
    assert base["locations"] == ["U01"] and base["showscale"] is False  # no figure: grey, not a hole
    assert classes["locations"] == ["U00", "U02", "U03"] and classes["colorbar"]["ticktext"]
    assert outline["locations"] == ["U02"] and outline["marker"]["line"]["color"] == maps.ALERT_OUTLINE
    # Each trace carries the boundaries of its own units only: every outline is sent once per role.
    for trace in (base, classes, outline):
        assert [f["properties"]["code"] for f in trace["geojson"]["features"]] == trace["locations"]
    # Most important first (the browser places names in this order and drops one that finds no room):
    # the alerted unit, then the highest figures, then the unit without one.
    assert names["text"] == ["c", "d", "a", "b"]
    assert names["customdata"] == ["U02", "U03", "U00", "U01"]  # a click on a name drills
    assert names["lon"][2] == 0.5 and names["lat"][2] == 0.5  # the centre of U00's square


def test_a_map_whose_units_all_have_figures_sends_their_boundaries_once() -> None:
    geo = district(4)
    codes = ["U00", "U01", "U02", "U03"]
    fig = maps.stage_map(geo, codes, [1.0, 4.0, 3.0, 2.0], codes)
    base, classes = fig["data"]
    assert base["locations"] == [] and base["geojson"]["features"] == []
    assert classes["locations"] == codes and len(classes["geojson"]["features"]) == 4


def test_many_units_name_only_the_alerted_and_the_highest() -> None:
    codes = [f"U{i:02d}" for i in range(26)]
    values = [float(i) for i in range(26)]
    named = maps.named_units(codes, values, outlined=["U03"])
    assert len(named) == maps.NAMED_AT_MOST and "U00" not in named
    assert named[:3] == ["U03", "U25", "U24"]  # the alerted unit first, then the highest


def test_a_map_spec_carries_its_alerts_and_legend_to_the_figure() -> None:
    spec = ChartSpec(
        "backlog_map",
        "每千人在办件",
        "Open per 1,000",
        "map",
        categories=["甲镇", "乙镇"],
        codes=["U00", "U01"],
        series=[Series("每千人", [0.5, 1.5])],
        map_level="town",
        map_outlined=["U01"],
        note="示意边界",
    )
    fig = from_spec(spec, "wall", geojson=district(2), lang="zh")
    assert [t["type"] for t in fig["data"]] == ["choropleth", "choropleth", "choropleth", "scattergeo"]
    assert fig["data"][1]["colorbar"]["title"]["text"] == "每千人"
    assert "分位" in fig["layout"]["annotations"][0]["text"]
    english = from_spec(spec, "wall", geojson=district(2), lang="en")["layout"]
    # The English note is on two lines (it is twice as long), and the margin holds both.
    assert english["annotations"][0]["text"].count("<br>") == 1
    assert english["margin"]["b"] >= 2.5 * english["annotations"][0]["font"]["size"]
    assert (
        fig["layout"]["margin"]["b"] >= fig["layout"]["annotations"][0]["font"]["size"]
    )  # the note is not cut


def test_the_type_scale_is_bounded_and_stepped() -> None:
    assert type_scale(None) == 1.0 and type_scale(float("nan")) == 1.0
    assert type_scale(0.2) == 0.6 and type_scale(0.711) == 0.7 and type_scale(2.0) == 2.0
    assert type_scale(1e9) == 4.0


def test_a_town_is_outlined_for_an_alert_on_a_village_inside_it() -> None:
    from types import SimpleNamespace

    from dashboard.present.panels import alerted

    snap = SimpleNamespace(alerts=[{"unit_code": "330109113201"}, {"unit_code": ""}])
    assert alerted(snap, ["330109113", "330109120", "330109113201"]) == ["330109113", "330109113201"]  # type: ignore[arg-type]
