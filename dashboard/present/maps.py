"""The map as the stage: an SVG choropleth over local GeoJSON, in classes that spread the values present.

Why classes and not a continuous scale: the district's units are often close to one another (a
per-1,000 backlog of 0.76–1.24 everywhere), and a continuous red scale stretched over that narrow band
paints an even district orange to maroon. Quantile classes give each colour about the same number of
units, and the legend says which range each colour holds, so the map shows where a unit stands among
the others and still says what the figures are.

Every unit is drawn (units without a figure in a neutral grey, never as a hole); units that hold an open
alert are outlined in the alert colour; when there are few enough units to read, each carries its name.
Names and areas carry their unit code, so a click drills down in the browser.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from typing import Any

from dashboard.present.theme import FONT_FAMILY, VARIANTS

Figure = dict[str, Any]

CLASSES = 5
# Low (pale) to high (dark): every map's values are "more is worse" (backlog per 1,000, hours unpatrolled).
CLASS_COLOURS = ("#fff1c1", "#fdc57a", "#f98e52", "#e0452f", "#a3141c")
NO_FIGURE = {"browser": "#d9dde3", "print": "#d9dde3", "wall": "#24364f"}
BORDER = {"browser": "#ffffff", "print": "#ffffff", "wall": "#0b1526"}
ALERT_OUTLINE = "#ff2d3d"
# Names on the map: every unit when there are few; otherwise the units that matter (an open alert, then
# the highest figures), because 26 names on a panel a third of a screen wide cover the map they name.
# Hover (browser) and the ranking beside the map name the rest.
ALL_NAMED_UP_TO = 12
NAMED_AT_MOST = 8


def named_units(
    locations: Sequence[str], values: Sequence[float | None], outlined: Sequence[str]
) -> list[str]:
    """The units whose names go on the map (see ``ALL_NAMED_UP_TO`` and ``NAMED_AT_MOST``), most important
    first: units with an open alert, then the highest figures, then the others. The browser places the
    names in this order and hides one that finds no free spot (assets/35-map-labels.js), so where names
    crowd (北干/城厢, 义蓬/河庄 in the dense north) the one that matters keeps its place."""
    ranked = sorted(
        range(len(locations)),
        key=lambda i: (values[i] is None, -(values[i] or 0.0)),
    )
    chosen = list(dict.fromkeys([*(c for c in outlined if c in locations), *(locations[i] for i in ranked)]))
    return chosen if len(locations) <= ALL_NAMED_UP_TO else chosen[:NAMED_AT_MOST]


def class_edges(values: Sequence[float | None], classes: int = CLASSES) -> list[float]:
    """Quantile class edges [low, …, high] of the values present; fewer classes when fewer distinct values."""
    present = sorted(v for v in values if v is not None)
    if not present:
        return []
    distinct = sorted(set(present))
    k = min(classes, len(distinct))
    if k == 1:
        return [distinct[0], distinct[0]]
    edges = [present[0]]
    for i in range(1, k):
        cut = present[min(len(present) - 1, round(i * len(present) / k))]
        if cut > edges[-1]:
            edges.append(cut)
    if present[-1] > edges[-1]:
        edges.append(present[-1])
    return edges


def class_of(value: float | None, edges: Sequence[float]) -> int | None:
    """The class index of ``value`` (0 = lowest) for ``edges`` from :func:`class_edges`."""
    if value is None or len(edges) < 2:
        return None
    return max(0, min(len(edges) - 2, bisect.bisect_right(edges, value) - 1))


def _decimals(edges: Sequence[float]) -> int:
    span = edges[-1] - edges[0] if edges else 0
    return 2 if span < 10 else 1 if span < 100 else 0


def class_labels(edges: Sequence[float]) -> list[str]:
    """``0.76–0.85`` per class (one value when a class holds a single value)."""
    places = _decimals(edges)
    labels = []
    for low, high in itertools.pairwise(edges):
        labels.append(f"{low:,.{places}f}" if low == high else f"{low:,.{places}f}–{high:,.{places}f}")
    return labels


def _colours(n: int) -> list[str]:
    """``n`` class colours spread over the palette, the darkest always for the highest class."""
    if n >= len(CLASS_COLOURS):
        return list(CLASS_COLOURS)
    step = (len(CLASS_COLOURS) - 1) / max(n - 1, 1)
    return [CLASS_COLOURS[round(i * step)] for i in range(n)]


def _stepped(colours: Sequence[str]) -> list[list[Any]]:
    """A colour scale in flat steps, one per class, for z = class index with zmin -0.5 and zmax n - 0.5."""
    n = len(colours)
    scale: list[list[Any]] = []
    for i, colour in enumerate(colours):
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    return scale


def centre(geometry: dict[str, Any]) -> tuple[float, float] | None:
    """(lon, lat) of a label: the area centroid of the largest ring of a Polygon or MultiPolygon."""
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    rings = (
        [coords[0]]
        if kind == "Polygon" and coords
        else [p[0] for p in coords if p]
        if kind == "MultiPolygon"
        else []
    )
    best: tuple[float, float, float] | None = None
    for ring in rings:
        area = cx = cy = 0.0
        for (x0, y0), (x1, y1) in itertools.pairwise(ring):
            cross = x0 * y1 - x1 * y0
            area += cross
            cx += (x0 + x1) * cross
            cy += (y0 + y1) * cross
        if area and (best is None or abs(area) > best[0]):
            best = (abs(area), cx / (3 * area), cy / (3 * area))
    return (best[1], best[2]) if best else None


def _names_trace(
    geojson: dict[str, Any], locations: Sequence[str], names: Sequence[str], variant: str
) -> dict[str, Any] | None:
    by_code = {
        f.get("properties", {}).get("code"): f.get("geometry") or {} for f in geojson.get("features", [])
    }
    lons, lats, texts, codes = [], [], [], []
    for code, name in zip(locations, names, strict=False):
        at = centre(by_code.get(code) or {})
        if at is not None:
            lons.append(at[0])
            lats.append(at[1])
            texts.append(name)
            codes.append(code)
    if not texts:
        return None
    v = VARIANTS[variant]
    return {
        "type": "scattergeo",
        "lon": lons,
        "lat": lats,
        "text": texts,
        "customdata": codes,
        "mode": "text",
        "textfont": {
            "family": FONT_FAMILY,
            # Nine tenths of the screen's type, at least 11 px: at three points under it (10 px in the
            # browser) the names were the smallest text on the page.
            "size": max(round(v["font"] * 0.9), 11),
            "color": "#1f2933",
            "shadow": "auto",
        },
        "hoverinfo": "skip",
        "showlegend": False,
    }


def stage_map(
    geojson: dict[str, Any],
    locations: list[str],
    values: list[float | None],
    texts: list[str],
    *,
    names: Sequence[str] = (),
    outlined: Sequence[str] = (),
    variant: str = "browser",
    legend_title: str = "",
    note: str | None = None,
) -> Figure:
    """The map: ``values`` in quantile classes with a legend of their ranges, ``outlined`` units (open
    alerts) in the alert colour, and ``names`` on the units when there are few enough to read."""
    base_variant = variant.split("@")[0]
    v = VARIANTS[variant]
    edges = class_edges(values)
    labels = class_labels(edges)
    colours = _colours(max(len(edges) - 1, 1))
    classes = [class_of(value, edges) for value in values]
    line = {"color": BORDER.get(base_variant, "#ffffff"), "width": 0.5}
    # The text is shown only on hover: a wall or a slide never shows it, so it is not sent to them.
    hover = {"hovertemplate": "%{text}<extra></extra>"} if v["hover"] else {"hoverinfo": "skip"}

    def text_of(chosen: list[str]) -> dict[str, Any]:
        return {"text": chosen} if v["hover"] else {}

    shown = [i for i, c in enumerate(classes) if c is not None]
    unshown = [i for i, c in enumerate(classes) if c is None]
    grey = [locations[i] for i in unshown]
    coloured = [locations[i] for i in shown]
    data: list[dict[str, Any]] = [
        {  # the units without a figure, in grey: such a unit is still on the map, never a hole
            "type": "choropleth",
            "geojson": features_of(geojson, grey),
            "featureidkey": "properties.code",
            "locations": grey,
            "z": [0] * len(unshown),
            **text_of([texts[i] for i in unshown]),
            "colorscale": [
                [0, NO_FIGURE.get(base_variant, "#d9dde3")],
                [1, NO_FIGURE.get(base_variant, "#d9dde3")],
            ],
            "showscale": False,
            "marker": {"line": line},
            **hover,
        }
    ]
    if shown:
        data.append(
            {
                "type": "choropleth",
                "geojson": features_of(geojson, coloured),
                "featureidkey": "properties.code",
                "locations": coloured,
                "z": [classes[i] for i in shown],
                **text_of([texts[i] for i in shown]),
                "zmin": -0.5,
                "zmax": len(colours) - 0.5,
                "colorscale": _stepped(colours),
                "marker": {"line": line},
                "colorbar": {
                    "title": {"text": legend_title, "font": {"size": v["font"]}},
                    "tickvals": list(range(len(colours))),
                    "ticktext": labels,
                    "tickfont": {"color": v["fg"], "size": max(v["font"] - 2, 9)},
                    "thickness": max(round(v["font"] * 0.9), 10),
                    "len": 0.75,
                    "outlinewidth": 0,
                    # Anchored by its right edge, labels included: at the default place a village's one
                    # class label ("0.00–0.00") ran past the figure's edge.
                    "x": 1.0,
                    "xanchor": "right",
                },
                **hover,
            }
        )
    alerted = set(outlined)
    marked = [code for code in locations if code in alerted]
    if marked:
        data.append(
            {
                "type": "choropleth",
                "geojson": features_of(geojson, marked),
                "featureidkey": "properties.code",
                "locations": marked,
                "z": [0] * len(marked),
                "colorscale": [[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
                "showscale": False,
                "marker": {"line": {"color": ALERT_OUTLINE, "width": 3}},
                "hoverinfo": "skip",
            }
        )
    named = named_units(locations, values, marked)
    if names and named:
        name_of = dict(zip(locations, names, strict=False))
        chosen = [code for code in named if code in name_of]
        trace = _names_trace(geojson, chosen, [name_of[c] for c in chosen], variant)
        if trace is not None:
            data.append(trace)
    return {"data": data, "layout": _layout(variant, note)}


def features_of(geojson: dict[str, Any], codes: Sequence[str]) -> dict[str, Any]:
    """``geojson`` with only the features of ``codes``. Each trace carries the boundaries of its own units,
    so a unit's outline is sent once and not once per trace: the grid map's boundaries are 585 kB, and a
    wall board sent them twice (grey units and classes) in every whole board."""
    wanted = set(codes)
    features = [f for f in geojson.get("features", []) if (f.get("properties") or {}).get("code") in wanted]
    return {**geojson, "features": features}


def _layout(variant: str, note: str | None) -> dict[str, Any]:
    v = VARIANTS[variant]
    note_size = max(v["font"] - 3, 10)
    lines = (note or "").count("<br>") + 1
    layout: dict[str, Any] = {
        "font": {"family": FONT_FAMILY, "size": v["font"], "color": v["fg"]},
        "paper_bgcolor": v["bg"],
        "plot_bgcolor": v["bg"],
        "showlegend": False,
        "hovermode": "closest" if v["hover"] else False,
        "dragmode": False,
        "uirevision": "keep",
        "transition": {"duration": 0},
        "geo": {
            "fitbounds": "locations",
            "visible": False,
            "bgcolor": "rgba(0,0,0,0)",
            "projection": {"type": "mercator"},
        },
        # The note's line is as tall as its type, at every screen scale (a fixed 24 px cut it in half at 4K).
        "margin": {"l": 0, "r": 0, "t": 0, "b": round(note_size * (0.8 + 1.35 * lines)) if note else 0},
    }
    if note:
        layout["annotations"] = [
            {
                "text": note,
                "align": "left",
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": 0,
                "xanchor": "left",
                "yanchor": "top",
                "yshift": -round(note_size * 0.3),
                "font": {"size": note_size},
            }
        ]
    return layout
