"""Unit names on a server-drawn map picture: fitted like Plotly fits the range box, never on one another."""

from __future__ import annotations

import pytest

from dashboard.present import mapnames


def test_the_range_box_fills_the_frame_and_is_centred() -> None:
    frame = (0.0, 64.0, 1000.0, 574.0)
    projection = mapnames.Projection((120.0, 30.0, 120.5, 30.5), frame)
    west, north = projection.to_px(120.0, 30.5)
    east, south = projection.to_px(120.5, 30.0)
    assert north == pytest.approx(64.0) and south == pytest.approx(574.0)  # taller than wide: fits the height
    assert (west + east) / 2 == pytest.approx(500.0)  # centred across
    lon, lat = projection.to_lon_lat(*projection.to_px(120.2, 30.1))
    assert (lon, lat) == (pytest.approx(120.2), pytest.approx(30.1))


def test_a_name_that_meets_another_moves_and_one_without_room_is_left_out() -> None:
    frame = (0.0, 0.0, 200.0, 100.0)
    sizes = [(80.0, 20.0)] * 3
    spots = mapnames.place([(100.0, 50.0)] * 3, sizes, frame, [])
    assert spots[0] == (100.0, 50.0)  # the first (most important) keeps its place
    assert spots[1] == (100.0, 50.0 - 20.0 - mapnames.PAD)  # the next goes above, a gap between
    assert spots[2] == (100.0, 50.0 + 20.0 + mapnames.PAD)  # then below
    crowded = mapnames.place([(40.0, 10.0)] * 2, [(80.0, 20.0)] * 2, (0.0, 0.0, 80.0, 20.0), [])
    assert crowded == [(40.0, 10.0), None]  # no free spot inside the frame: left out, never over the first


def test_names_keep_off_the_colour_legend() -> None:
    legend = (150.0, 0.0, 200.0, 100.0)
    spots = mapnames.place([(150.0, 50.0)], [(40.0, 20.0)], (0.0, 0.0, 200.0, 100.0), [legend])
    assert spots[0] is not None and spots[0][0] + 20.0 + mapnames.PAD <= legend[0]  # moved to the left


def test_wide_characters_count_double() -> None:
    assert mapnames.text_width("瓜沥镇", 10) == 30
    assert mapnames.text_width("Guali", 10) == pytest.approx(30)


def test_a_map_without_names_is_left_as_it_is() -> None:
    figure = {"data": [{"type": "choropleth", "geojson": {"features": []}, "locations": []}], "layout": {}}
    mapnames.place_names(figure, 400, 300)
    assert figure == {
        "data": [{"type": "choropleth", "geojson": {"features": []}, "locations": []}],
        "layout": {},
    }
