"""Unit names on a map picture drawn on the server (slides, PDF, PNG export) that never cover one another.

In the browser and on the wall, assets/35-map-labels.js places the names after each draw, where the real
boxes of the texts are known. A picture drawn by kaleido runs none of our scripts, so here the same rule
runs before the draw, on estimated boxes. The picture's map is given explicit longitude and latitude
ranges (the units' bounds) in place of ``fitbounds``, whose ranges carry an autorange padding that depends
on the texts drawn: Plotly then fits that range box into the plot area (d3's ``fitExtent``), so a name's
pixel position follows from its coordinates exactly. A name's box follows from its characters and type
size. Each name in turn (most important first, as the map sends them) keeps
its place when its box is free, else moves to the first free spot around its unit (above, below,
beside, diagonal), and is left out when none is free: the ranking on the same slide names every unit.

Written here, not taken from a library: no maintained Python package places labels for a Plotly
geo figure, and the rule must match the browser's script.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

Box = tuple[float, float, float, float]  # left, top, right, bottom in CSS pixels of the picture
PAD = 3.0  # px between two names (the browser's 2, plus room for the estimate's error)
WIDE_CHAR = 1.0  # a CJK character's advance, in em
NARROW_CHAR = 0.6  # a Latin letter's (Noto Sans, mixed case, rounded up)
LINE = 1.3  # a text's box height, in em
COLORBAR_PAD = 12.0  # px around the colour legend's bar and labels


def text_width(text: str, size: float) -> float:
    """Estimated width in px of ``text`` at ``size`` px: CJK characters are square, others narrower."""
    return sum(WIDE_CHAR if ord(ch) >= 0x2E80 else NARROW_CHAR for ch in text) * size


def _mercator(lon: float, lat: float) -> tuple[float, float]:
    return math.radians(lon), math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _lon_lat(x: float, y: float) -> tuple[float, float]:
    return math.degrees(x), math.degrees(2 * math.atan(math.exp(y)) - math.pi / 2)


def _points(coordinates: Any) -> Iterator[tuple[float, float]]:
    """Every (lon, lat) of a Polygon's or MultiPolygon's nested coordinate lists."""
    if coordinates and isinstance(coordinates[0], int | float):
        yield float(coordinates[0]), float(coordinates[1])
        return
    for part in coordinates or ():
        yield from _points(part)


class Projection:
    """Lon/lat to the picture's pixels, as Plotly fits a geo's lon/lat range box into its plot area
    (Mercator, ``bounds`` in degrees: west, south, east, north)."""

    def __init__(self, bounds: Box, frame: Box) -> None:
        west, south = _mercator(bounds[0], bounds[1])
        east, north = _mercator(bounds[2], bounds[3])
        self.x_min, self.y_max = west, north
        width, height = frame[2] - frame[0], frame[3] - frame[1]
        self.k = min(width / max(east - west, 1e-12), height / max(north - south, 1e-12))
        self.left = frame[0] + (width - self.k * (east - west)) / 2
        self.top = frame[1] + (height - self.k * (north - south)) / 2

    def to_px(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = _mercator(lon, lat)
        return self.left + self.k * (x - self.x_min), self.top + self.k * (self.y_max - y)

    def to_lon_lat(self, px: float, py: float) -> tuple[float, float]:
        return _lon_lat(self.x_min + (px - self.left) / self.k, self.y_max - (py - self.top) / self.k)


def units_bounds(geojson: dict[str, Any], codes: set[str]) -> Box | None:
    """(west, south, east, north) in degrees of the features whose code is in ``codes``."""
    lons: list[float] = []
    lats: list[float] = []
    for feature in geojson.get("features", []):
        if (feature.get("properties") or {}).get("code") not in codes:
            continue
        for lon, lat in _points((feature.get("geometry") or {}).get("coordinates")):
            lons.append(lon)
            lats.append(lat)
    return (min(lons), min(lats), max(lons), max(lats)) if lons else None


def map_bounds(data: Sequence[dict[str, Any]]) -> Box | None:
    """(west, south, east, north) of every unit a map's choropleth traces draw: each trace carries the
    boundaries of its own units (grey ones, classes, outlines), so the map is the union of theirs."""
    boxes = [
        box
        for t in data
        if t.get("type") == "choropleth" and t.get("geojson")
        if (box := units_bounds(t["geojson"], {str(c) for c in t.get("locations") or ()})) is not None
    ]
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _hit(a: Box, b: Box) -> bool:
    return a[0] < b[2] + PAD and b[0] < a[2] + PAD and a[1] < b[3] + PAD and b[1] < a[3] + PAD


def _inside(a: Box, frame: Box) -> bool:
    return a[0] >= frame[0] - 1 and a[2] <= frame[2] + 1 and a[1] >= frame[1] - 1 and a[3] <= frame[3] + 1


def place(
    centres: list[tuple[float, float]], sizes: list[tuple[float, float]], frame: Box, taken: list[Box]
) -> list[tuple[float, float] | None]:
    """Where each name's centre goes (px), in order, or None where no free spot is left (the browser's rule)."""
    placed: list[tuple[float, float] | None] = []
    for (cx, cy), (w, h) in zip(centres, sizes, strict=True):
        up, side = h + PAD, w / 2 + PAD  # a name's own height (or half its width) away, and the gap
        moves: list[tuple[float, float]] = [(0, 0), (0, -up), (0, up), (side, 0), (-side, 0)]
        moves += [(side, -up), (-side, -up), (side, up), (-side, up)]
        spot = None
        for dx, dy in moves:
            box = (cx + dx - w / 2, cy + dy - h / 2, cx + dx + w / 2, cy + dy + h / 2)
            if _inside(box, frame) and not any(_hit(box, other) for other in taken):
                spot = (cx + dx, cy + dy)
                taken.append(box)
                break
        placed.append(spot)
    return placed


def _frame(layout: dict[str, Any], width: int, height: int) -> Box:
    margin = layout.get("margin") or {}
    return (
        float(margin.get("l", 0)),
        float(margin.get("t", 0)),
        width - float(margin.get("r", 0)),
        height - float(margin.get("b", 0)),
    )


def _colorbar_box(data: list[dict[str, Any]], width: int, frame: Box) -> Box | None:
    """The colour legend's room at the right edge: its bar, its class labels and its title."""
    for trace in data:
        bar = trace.get("colorbar")
        if not bar or trace.get("showscale") is False:
            continue
        tick_size = float((bar.get("tickfont") or {}).get("size", 12))
        title = bar.get("title") or {}
        title_size = float((title.get("font") or {}).get("size", tick_size))
        labels = max((text_width(str(t), tick_size) for t in bar.get("ticktext") or ()), default=0.0)
        room = max(
            float(bar.get("thickness", 30)) + 6 + labels, text_width(str(title.get("text", "")), title_size)
        )
        return (width - room - COLORBAR_PAD, frame[1], float(width), frame[3])
    return None


def place_names(figure: dict[str, Any], width: int, height: int) -> None:
    """Move or leave out the unit names of map ``figure`` (drawn at ``width``×``height`` CSS px) so that
    none covers another or the colour legend. Changes the figure in place; a figure without names (or
    without boundaries) is left as it is."""
    data = figure.get("data") or []
    names = next((t for t in data if t.get("type") == "scattergeo" and t.get("mode") == "text"), None)
    if names is None or not names.get("text"):
        return
    bounds = map_bounds(data)
    if bounds is None:
        return
    layout = figure.setdefault("layout", {})
    geo = layout.setdefault("geo", {})
    geo.update({"fitbounds": False, "lonaxis": {"range": [bounds[0], bounds[2]]}})
    geo["lataxis"] = {"range": [bounds[1], bounds[3]]}
    frame = _frame(layout, width, height)
    projection = Projection(bounds, frame)
    size = float((names.get("textfont") or {}).get("size", 12))
    centres = [projection.to_px(lon, lat) for lon, lat in zip(names["lon"], names["lat"], strict=True)]
    sizes = [(text_width(str(text), size), size * LINE) for text in names["text"]]
    legend = _colorbar_box(data, width, frame)
    spots = place(centres, sizes, frame, [legend] if legend else [])
    kept = [i for i, spot in enumerate(spots) if spot is not None]
    moved = [projection.to_lon_lat(*spot) for spot in spots if spot is not None]
    for key in ("text", "customdata"):
        if names.get(key) is not None:
            names[key] = [names[key][i] for i in kept]
    names["lon"] = [lon for lon, _ in moved]
    names["lat"] = [lat for _, lat in moved]
