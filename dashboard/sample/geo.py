"""Synthetic, illustrative boundary polygons for towns, villages and grids (pure Python).

No legal boundary data is public, so the sample district draws its own: the 26 town label points are
turned into a Voronoi partition of a convex district outline, each town cell is cut into its villages
and each village into its grids by straight cuts that split the area in proportion to size. Every piece
is convex, pieces never overlap and the children of a unit tile it exactly (up to rounding to 1e-6°).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dashboard.source.units import ILLUSTRATIVE_NOTE  # one wording for the sample and the maps

Point = tuple[float, float]  # (lng, lat)
Polygon = list[Point]  # convex, counter-clockwise, not closed

KM_PER_DEG = 111.32
_REF_LAT = 30.1  # Xiaoshan's latitude: one scale factor is precise enough for illustrative areas


def polygon_area(poly: Sequence[Point]) -> float:
    """Area in square degrees (shoelace formula)."""
    s = 0.0
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def area_km2(poly: Sequence[Point]) -> float:
    """Approximate area in km² (local equirectangular scale)."""
    return polygon_area(poly) * KM_PER_DEG * KM_PER_DEG * math.cos(math.radians(_REF_LAT))


def centroid(poly: Sequence[Point]) -> Point:
    """Area centroid; falls back to the vertex mean for degenerate polygons."""
    a = cx = cy = 0.0
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        cross = x1 * y2 - x2 * y1
        a += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    if abs(a) < 1e-15:
        return (sum(p[0] for p in poly) / n, sum(p[1] for p in poly) / n)
    return (cx / (3 * a), cy / (3 * a))


def clip_halfplane(poly: Sequence[Point], a: float, b: float, c: float) -> Polygon:
    """Keep the part of a convex polygon where ``a*x + b*y <= c`` (one Sutherland–Hodgman pass)."""
    out: Polygon = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        fp = a * p[0] + b * p[1] - c
        fq = a * q[0] + b * q[1] - c
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def convex_hull(points: Iterable[Point]) -> Polygon:
    """Counter-clockwise convex hull (Andrew's monotone chain)."""
    pts = sorted(set(points))
    if len(pts) <= 2:
        return list(pts)

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: Polygon = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: Polygon = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def district_outline(sites: Sequence[Point], margin: float = 0.06) -> Polygon:
    """A convex outline around the label points: their hull, pushed outward by ``margin`` degrees."""
    ring = [(x + dx * margin, y + dy * margin) for x, y in sites for dx, dy in _OCTAGON]
    return convex_hull(ring)


_OCTAGON = [(math.cos(k * math.pi / 4), math.sin(k * math.pi / 4)) for k in range(8)]


def voronoi_cells(sites: Sequence[Point], outline: Sequence[Point]) -> list[Polygon]:
    """One convex cell per site: the outline clipped by the bisector with every other site."""
    cells: list[Polygon] = []
    for i, (xi, yi) in enumerate(sites):
        cell: Polygon = list(outline)
        for j, (xj, yj) in enumerate(sites):
            if i == j:
                continue
            # points closer to site i: (pj - pi)·x <= (|pj|² - |pi|²) / 2
            a, b = xj - xi, yj - yi
            c = (xj * xj + yj * yj - xi * xi - yi * yi) / 2.0
            cell = clip_halfplane(cell, a, b, c)
        cells.append(cell)
    return cells


def _cut(poly: Polygon, fraction: float) -> tuple[Polygon, Polygon]:
    """Cut a convex polygon across its longer side so the first piece holds ``fraction`` of the area."""
    xs = [p[0] for p in poly]
    ys = [p[1] for p in poly]
    width = (max(xs) - min(xs)) * math.cos(math.radians(_REF_LAT))
    height = max(ys) - min(ys)
    # Vertical cuts (west → east) when wide, horizontal (north → south) when tall: geographic order.
    if width >= height:
        a, b, lo, hi = 1.0, 0.0, min(xs), max(xs)
    else:
        a, b, lo, hi = 0.0, -1.0, -max(ys), -min(ys)
    total = polygon_area(poly)
    for _ in range(40):
        mid = (lo + hi) / 2.0
        if polygon_area(clip_halfplane(poly, a, b, mid)) < fraction * total:
            lo = mid
        else:
            hi = mid
    mid = (lo + hi) / 2.0
    return clip_halfplane(poly, a, b, mid), clip_halfplane(poly, -a, -b, -mid)


def split_by_weights(poly: Polygon, weights: Sequence[float]) -> list[Polygon]:
    """Tile a convex polygon with ``len(weights)`` convex pieces whose areas follow the weights."""
    if len(weights) == 1:
        return [list(poly)]
    total = float(sum(weights))
    # Split the children into two groups of about equal weight, keeping their order.
    acc, k = 0.0, 1
    for k in range(1, len(weights)):
        acc += weights[k - 1]
        if acc >= total / 2.0:
            break
    left_w, right_w = weights[:k], weights[k:]
    left, right = _cut(poly, sum(left_w) / total)
    return split_by_weights(left, left_w) + split_by_weights(right, right_w)


def geometry_json(poly: Sequence[Point]) -> str:
    """A GeoJSON Polygon geometry string (closed ring, 6 decimals ≈ 0.1 m).

    It carries the foreign member ``"illustrative": true`` (RFC 7946 §6.1): the maps show the 示意 note
    while any unit they draw has a generated shape, and an imported real boundary has no such member."""
    ring = [[round(x, 6), round(y, 6)] for x, y in poly]
    ring.append(ring[0])
    return json.dumps({"type": "Polygon", "coordinates": [ring], "illustrative": True}, separators=(",", ":"))


def polygon_from_geojson(text: str) -> Polygon:
    """The outer ring of a GeoJSON Polygon geometry string, without the closing point."""
    ring = json.loads(text)["coordinates"][0]
    return [(float(x), float(y)) for x, y in ring[:-1]]


def _first(row: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return None


def feature_collection(level: str, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of units (``admin_unit`` or ``grid`` rows as mappings).

    Each feature has ``id`` = the unit code, the row's scalar columns as properties, and
    ``illustrative: true`` with a note, because the boundaries are synthetic.
    """
    features = []
    for row in rows:
        geom = _first(row, ("boundary_geojson", "geometry"))
        if geom is None:
            continue
        code = _first(row, ("code", "grid_code", "unit_code"))
        props = {k: v for k, v in row.items() if k not in {"boundary_geojson", "geometry"}}
        props.update(
            code=code,
            name=_first(row, ("name_zh", "grid_name", "name")),
            level=level,
            illustrative=True,
            note=ILLUSTRATIVE_NOTE,
        )
        features.append(
            {
                "type": "Feature",
                "id": code,
                "geometry": json.loads(geom) if isinstance(geom, str) else geom,
                "properties": props,
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"level": level, "illustrative": True, "note": ILLUSTRATIVE_NOTE},
    }
