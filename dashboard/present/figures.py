"""Plotly figures as plain dicts, shared by the browser pages, the wall and the slide export.

Plain dicts instead of ``go.Figure`` objects: about 3 ms of CPU less per figure on hot paths (no
validation of every property), and they serialise as they are. The ``variant`` decides type scale,
colours and hover: ``browser`` (light), ``wall`` (dark, large type, no hover) and ``print`` (light, for
PNG/PDF/PPTX).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dashboard.present import maps
from dashboard.present.panels import ChartSpec, Mark
from dashboard.present.theme import (
    FONT_FAMILY,
    LAST_YEAR_COLOUR,
    NOTE_COLOUR,
    PALETTE,
    REPORTED_COLOUR,
    VARIANTS,
)

Figure = dict[str, Any]


def base_layout(variant: str, *, title: str | None = None, legend: bool = True) -> dict[str, Any]:
    v = VARIANTS[variant]
    layout: dict[str, Any] = {
        "font": {"family": FONT_FAMILY, "size": v["font"], "color": v["fg"]},
        "paper_bgcolor": v["bg"],
        "plot_bgcolor": v["bg"],
        "margin": {"l": 8, "r": 8, "t": 36 if title else 8, "b": 8},
        "showlegend": legend,
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": v["font"]}},
        "hovermode": "x unified" if v["hover"] else False,
        "dragmode": False if not v["hover"] else "zoom",
        # Half a line between the axis and its labels: the y-axis "0" hangs half a line below the axis and
        # met the first date under it.
        "xaxis": {
            "gridcolor": v["grid"],
            "automargin": True,
            "zeroline": False,
            "ticklabelstandoff": round(v["font"] * 0.5),
        },
        "yaxis": {"gridcolor": v["grid"], "automargin": True, "zeroline": False, "rangemode": "tozero"},
        "uirevision": "keep",  # keep zoom/legend choices across live refreshes
        "transition": {"duration": 0},
    }
    if title:
        layout["title"] = {"text": title, "x": 0, "font": {"size": v["title"]}}
    return layout


def empty_figure(message: str, variant: str = "browser") -> Figure:
    layout = base_layout(variant, legend=False)
    layout["xaxis"] = {"visible": False}
    layout["yaxis"] = {"visible": False}
    layout["annotations"] = [
        {
            "text": message,
            "showarrow": False,
            "xref": "paper",
            "yref": "paper",
            "x": 0.5,
            "y": 0.5,
            "font": {"size": VARIANTS[variant]["title"]},
        }
    ]
    return {"data": [], "layout": layout}


def trend_figure(
    buckets: list[str],
    series: list[tuple[str, list[float | None], str, bool]],
    *,
    variant: str = "browser",
    title: str | None = None,
    percent: bool = False,
    running: int | None = None,
    running_label: str | None = None,
    lang: str = "zh",
    marks: list[Mark] | None = None,
) -> Figure:
    """Lines over category buckets. ``series`` items: (name, values, colour, dashed).

    ``marks``: notes on the timeline, a moment as a vertical line and a period as a shaded band, each
    labelled at the top of the plot (:func:`note_shapes`).

    ``running``: the index of a bucket still in progress (today, this week). Its count is partial: each
    line stops before it, and the value so far is an open marker standing apart (no line leads to it, so
    a day that has just begun never reads as a fall), named ``running_label`` ("今日截至 01:30") in the
    legend. Last year's overlay (``dashed``) is complete and drawn whole.
    """
    width = 3 if variant.startswith("wall") else 2
    hover = "%{y:.1f}%" if percent else "%{y:,}"
    so_far = f" ({running_label})" if running_label else (" (so far)" if lang == "en" else "（进行中）")
    data: list[dict[str, Any]] = []
    labelled = False
    for name, values, colour, dashed in series:
        line: dict[str, Any] = {
            "type": "scatter",
            "mode": "lines",
            "name": name,
            "x": buckets,
            "legendgroup": name,
        }
        line["line"] = {"color": colour, "width": width, "dash": "dot" if dashed else "solid"}
        line["hovertemplate"] = hover
        if dashed or running is None or running >= len(values) or values[running] is None:
            data.append({**line, "y": values})
            continue
        data.append({**line, "y": [*values[:running], None, *values[running + 1 :]]})
        partial: dict[str, Any] = {
            "type": "scatter",
            "mode": "markers",
            "name": name,
            "legendgroup": name,
            "x": [buckets[running]],
            "y": [values[running]],
            "marker": {
                "symbol": "circle-open",
                "size": width * 4,
                "color": colour,
                "line": {"color": colour, "width": width},
            },
            "showlegend": False,
            "cliponaxis": False,
            "hovertemplate": hover + so_far,
        }
        labelled = labelled or bool(running_label)
        data.append(partial)
    if labelled:
        # The open marker's meaning, as an entry of the legend's row ("○ 今日截至 01:30"): the legend lays
        # it out with the lines' names and wraps it, where a label beside the marker met the lines or the
        # legend on a small panel.
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": running_label,
                "x": [None],
                "y": [None],
                "marker": {"symbol": "circle-open", "size": width * 4, "color": VARIANTS[variant]["fg"]},
                "hoverinfo": "skip",
            }
        )
    # One line needs no legend (the panel's title names it): on a half-height wall panel the legend's
    # row is a third of the plot.
    layout = base_layout(variant, title=title, legend=len(series) > 1 or labelled)
    layout["xaxis"]["type"] = "category"  # "2024-01" would otherwise be parsed as a date
    # Four dates on the wall: its trend panels are a quarter of the screen wide and its type is large;
    # six "09-07"s ran into one another at 1920×1080.
    layout["xaxis"].update(date_ticks(buckets, 4 if variant.startswith("wall") else 8))
    if variant.startswith("wall"):  # wall type is large: more y labels collide on a half-height panel
        layout["yaxis"]["nticks"] = 3
    layout["xaxis"]["tickangle"] = 0
    if percent:  # values are percentages (0–100), not fractions; rates live near the top: zoom in
        layout["yaxis"].update({"ticksuffix": "%", "rangemode": "normal"})
    if marks:
        shapes, labels = note_shapes(marks, variant, len(buckets))
        layout["shapes"] = shapes
        layout["annotations"] = labels
    return {"data": data, "layout": layout}


NOTE_LABEL_CHARS = {"browser": 16, "print": 16}  # a label longer than this is cut (the wall: 10)


def note_shapes(
    marks: list[Mark], variant: str, buckets: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shapes and labels of notes on a category axis of ``buckets`` buckets: bucket ``i`` sits at x = i,
    so a period from bucket a to b is shaded from a − 0.5 to b + 0.5 and a moment is a line at its
    bucket. Labels stack down one line per note (three lines, then again from the top), so two notes
    close together do not print over each other; in the right half of the plot a label ends at its mark
    instead of starting there, so it stays inside the plot."""
    v = VARIANTS[variant]
    wall = variant.startswith("wall")
    cut = NOTE_LABEL_CHARS.get(variant.split("@")[0], 10)
    shapes: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for row, mark in enumerate(marks):
        name = f"note-{mark.note_id}" if mark.note_id is not None else f"note-{row}"
        if mark.end is None:
            shapes.append(
                {
                    "type": "line",
                    "name": name,
                    "xref": "x",
                    "yref": "paper",
                    "x0": mark.start,
                    "x1": mark.start,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": NOTE_COLOUR, "width": 3 if wall else 2, "dash": "dash"},
                    "layer": "above",
                }
            )
        else:
            shapes.append(
                {
                    "type": "rect",
                    "name": name,
                    "xref": "x",
                    "yref": "paper",
                    "x0": mark.start - 0.5,
                    "x1": mark.end + 0.5,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": NOTE_COLOUR,
                    "opacity": 0.28 if wall else 0.16,
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
        text = mark.text if len(mark.text) <= cut else mark.text[: cut - 1] + "…"
        right = mark.start > buckets / 2
        edge = (mark.end if mark.end is not None else mark.start) + 0.5 if right else mark.start - 0.5
        size = round(v["font"] * 0.85)
        labels.append(
            {
                "name": name,
                "text": text,
                "hovertext": mark.text,
                "xref": "x",
                "yref": "paper",
                "x": mark.start if mark.end is None else edge,
                "y": 1,
                "yshift": -round(size * 1.6) * (row % 3),
                "xanchor": "right" if right else "left",
                "yanchor": "top",
                "showarrow": False,
                "font": {"size": size, "color": v["fg"]},
                "bgcolor": "rgba(10,20,36,0.85)" if wall else "rgba(255,255,255,0.85)",
                "bordercolor": NOTE_COLOUR,
                "borderwidth": 1,
                "borderpad": 2,
            }
        )
    return shapes, labels


def stacked_bar_figure(
    categories: list[str],
    stacks: list[tuple[str, list[float], str]],
    *,
    variant: str = "browser",
    title: str | None = None,
    horizontal: bool = True,
    customdata: list[str] | None = None,
) -> Figure:
    """Stacked bars (e.g. backlog by age per unit). ``customdata`` carries unit codes for drill-down clicks."""
    data = []
    for name, values, colour in stacks:
        trace: dict[str, Any] = {"type": "bar", "name": name, "marker": {"color": colour}}
        if horizontal:
            trace.update({"y": categories, "x": values, "orientation": "h"})
        else:
            trace.update({"x": categories, "y": values})
        if customdata is not None:
            trace["customdata"] = customdata
        data.append(trace)
    layout = base_layout(variant, title=title)
    layout["barmode"] = "stack"
    if horizontal:
        layout["yaxis"].update(
            {"autorange": "reversed", "type": "category", **every_label(categories, variant)}
        )
        layout["hovermode"] = "y unified" if VARIANTS[variant]["hover"] else False
        upright_values(layout["xaxis"])
    else:
        layout["xaxis"]["type"] = "category"
    return {"data": data, "layout": layout}


def every_label(categories: list[str], variant: str) -> dict[str, Any]:
    """Axis settings that name every bar: Plotly hides every other category label when they crowd, and
    a drill-down bar nobody can name is a unit nobody can find. Long lists get a smaller font instead,
    never below MIN_LABEL_PX (9 px names were unreadable at 1366×768): the pages give such charts the
    height they need (layouts/pages.py)."""
    font = VARIANTS[variant]["font"]
    crowded = len(categories) > 18
    size = max(min(MIN_LABEL_PX, font), round(font * 18 / len(categories))) if crowded else font
    axis: dict[str, Any] = {"dtick": 1, "tickfont": {"size": size}}
    if any(len(c) > CUT_AT for c in categories):
        # A long English name ("Hezhuang Jiedao Comprehensive governance platform") took the plot's width
        # at 1366 px and was cut at the figure's edge: it is shortened, whole words first, with "…" (the
        # hover names it in full); on two lines it met its neighbours.
        axis.update({"tickmode": "array", "tickvals": categories, "ticktext": shorten_all(categories)})
    return axis


MIN_LABEL_PX = 12
CUT_AT = 26  # characters: about a third of a 1366 px panel's width at the browser's type


def shorten(label: str, width: int = CUT_AT) -> str:
    """``label`` cut to ``width`` characters with "…", at a space when one is near the end."""
    if len(label) <= width:
        return label
    head = label[: width - 1]
    space = head.rfind(" ")
    return (head[:space] if space >= width // 2 else head).rstrip() + "…"


def shorten_all(labels: list[str], width: int = CUT_AT) -> list[str]:
    """Each label cut by :func:`shorten`, told apart where that makes two the same: a town's own departments
    in English ("Guali Zhen Comprehensive governance platform", "… enforcement platform") were both
    "Guali Zhen Comprehensive…". Those keep their first word and go on from the first word they do not
    share ("Guali…governance platform"); a label still not told apart stays whole."""
    short = [shorten(label, width) for label in labels]
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(short):
        groups.setdefault(text, []).append(i)
    for same in (ids for ids in groups.values() if len(ids) > 1 and len({labels[i] for i in ids}) > 1):
        words = [labels[i].split() for i in same]
        shared = 0
        while all(len(w) > shared + 1 and w[shared] == words[0][shared] for w in words):
            shared += 1
        for i, w in zip(same, words, strict=True):
            short[i] = shorten(w[0] + "…" + " ".join(w[shared:]), width) if shared else labels[i]
    counts = Counter(short)
    return [text if counts[text] == 1 else label for text, label in zip(short, labels, strict=True)]


def date_ticks(categories: list[str], count: int) -> dict[str, Any]:
    """At most ``count`` labels on a category axis of periods, evenly spaced, and days of one year as
    "12-01": Plotly does not thin category labels by their width, and ten-character dates met one another
    on a wall panel and on a phone."""
    if not categories:
        return {}
    step = -(-len(categories) // count)
    same_year = len({c[:4] for c in categories}) == 1
    shown = categories[::step]

    def short(c: str) -> str:
        return c[5:] if same_year and len(c) == 10 and c[4] == "-" and c[7] == "-" else c

    return {"tickmode": "array", "tickvals": shown, "ticktext": [short(c) for c in shown]}


def bar_figure(
    labels: list[str],
    values: list[float | None],
    *,
    variant: str = "browser",
    title: str | None = None,
    colour: str = REPORTED_COLOUR,
    horizontal: bool = True,
    reference: list[float] | None = None,
    reference_name: str | None = None,
    name: str | None = None,
) -> Figure:
    """A single bar series, optionally with a reference series (e.g. strength vs on duty)."""
    data: list[dict[str, Any]] = []
    if reference is not None:
        data.append(_bar(labels, reference, reference_name or "", LAST_YEAR_COLOUR, horizontal))
    data.append(_bar(labels, values, name or "", colour, horizontal))
    layout = base_layout(variant, title=title, legend=reference is not None)
    layout["barmode"] = "overlay" if reference is not None else "group"
    if reference is not None and horizontal and variant.startswith("wall"):
        # Beside the bars, not above them: on a half-height wall panel a legend row leaves the bars'
        # labels too little height; the panel is wide. Long (English) names and the legend beside leave
        # the bars a narrow plot: three values on its axis, where five piled up.
        layout["legend"].update({"orientation": "v", "x": 1.01, "xanchor": "left", "y": 1, "yanchor": "top"})
        layout["xaxis"]["nticks"] = 3
    if horizontal:
        layout["yaxis"].update({"autorange": "reversed", "type": "category", **every_label(labels, variant)})
        upright_values(layout["xaxis"])
    else:
        layout["xaxis"]["type"] = "category"
    return {"data": data, "layout": layout}


VALUE_TICKS = 4


def upright_values(axis: dict[str, Any]) -> None:
    """A horizontal bar chart's value axis with a few upright labels. Plotly turns crowded labels on
    end, and on a 4K wall in English "0 50 100 … 400" stood upright under the bars, took a third of the
    panel's height from them and pushed the bars' names into one another."""
    axis["nticks"] = min(axis.get("nticks", VALUE_TICKS), VALUE_TICKS)
    axis["tickangle"] = 0


def _bar(labels: list[str], values: list[Any], name: str, colour: str, horizontal: bool) -> dict[str, Any]:
    if horizontal:
        return {
            "type": "bar",
            "orientation": "h",
            "y": labels,
            "x": values,
            "name": name,
            "marker": {"color": colour},
        }
    return {"type": "bar", "x": labels, "y": values, "name": name, "marker": {"color": colour}}


def donut_figure(
    labels: list[str], values: list[float], *, variant: str = "browser", title: str | None = None
) -> Figure:
    data = [
        {
            "type": "pie",
            "labels": labels,
            "values": values,
            "hole": 0.55,
            "sort": False,
            "marker": {"colors": PALETTE * 3},
            "textinfo": "text",
            "text": slice_labels(values),
            "textposition": "inside",
            "hoverinfo": "label+value+percent" if VARIANTS[variant]["hover"] else "skip",
        }
    ]
    layout = base_layout(variant, title=title)
    layout["legend"] = {"orientation": "v", "x": 1.0, "y": 0.5, "font": {"size": VARIANTS[variant]["font"]}}
    if variant.startswith("wall"):  # no room for a legend at ten metres: label the slices themselves
        layout["showlegend"] = False
        data[0].update({"textinfo": "label+percent", "textposition": "outside", "automargin": True})
        data[0].pop("text")
    return {"data": data, "layout": layout}


SLICE_LABEL_SHARE = 0.08  # a thinner slice's percentage met its neighbour's ("6.89%" over "6.89%")


def slice_labels(values: list[float]) -> list[str]:
    """The share printed inside each slice of a donut, and nothing inside the thin ones: the legend and
    the hover name them, and two neighbours' figures printed over each other read as neither."""
    total = sum(v for v in values if v) or 1.0
    return [f"{v / total:.1%}" if (v or 0) / total >= SLICE_LABEL_SHARE else "" for v in values]


MIN_SCALE, MAX_SCALE = 0.6, 4.0  # a phone's wall at one end, an 8K panel at scale 1 at the other


def type_scale(raw: float | None) -> float:
    """The figures' type scale for a screen's reported ``raw`` scale: within bounds and in steps of 0.05,
    so that screens of nearly the same size share one drawn board and a client cannot mint new ones."""
    if raw is None or raw != raw:  # None or NaN
        return 1.0
    return min(MAX_SCALE, max(MIN_SCALE, round(raw * 20) / 20))


def scaled(variant: str, scale: float) -> str:
    """Register (once) and return a variant whose type is ``scale`` times that of a 1920×1080 screen
    (larger on 4K walls at scale 1, smaller on a 1366×768 laptop or a phone)."""
    scale = type_scale(scale)
    if abs(scale - 1.0) < 0.01:
        return variant
    name = f"{variant}@{scale:.2f}"
    if name not in VARIANTS:
        base = VARIANTS[variant]
        VARIANTS[name] = {**base, "font": round(base["font"] * scale), "title": round(base["title"] * scale)}
    return name


def from_spec(
    spec: Any, variant: str = "browser", *, geojson: dict[str, Any] | None = None, lang: str = "zh"
) -> Figure:
    """A plotly figure for a :class:`dashboard.present.panels.ChartSpec` (the one mapping used by screens and images)."""
    assert isinstance(spec, ChartSpec)
    if spec.kind == "map":
        if not geojson or not spec.categories:
            return empty_figure(spec.empty_text or ("暂无数据" if lang == "zh" else "No data"), variant)
        values = spec.series[0].values if spec.series else []
        classes = "颜色按分位分级" if lang == "zh" else "Colours in quantile classes"
        # The boundary note stands while any unit drawn has a generated shape; real ones drop it.
        boundary_note = spec.note if (geojson.get("properties") or {}).get("illustrative", True) else None
        # The English note is about twice as long as the Chinese: on two lines it fits a third of a wall.
        joint = " · " if lang == "zh" else "<br>"
        return maps.stage_map(
            geojson,
            spec.codes,
            values,
            spec.map_texts or spec.categories,
            names=spec.categories if spec.map_level != "grid" else (),
            outlined=spec.map_outlined,
            variant=variant,
            legend_title=spec.series[0].name if spec.series else "",
            note=f"{boundary_note}{joint}{classes}" if boundary_note else classes,
        )
    if spec.is_empty:
        return empty_figure(spec.empty_text or ("暂无数据" if lang == "zh" else "No data"), variant)
    if spec.kind == "line":
        series = [
            (s.name, s.values, s.colour or PALETTE[i % len(PALETTE)], s.dashed)
            for i, s in enumerate(spec.series)
        ]
        return trend_figure(
            spec.categories,
            series,
            variant=variant,
            percent=spec.percent,
            running=spec.running,
            running_label=(spec.running_short if variant.startswith("wall") else None) or spec.running_label,
            lang=lang,
            marks=spec.marks,
        )
    if spec.kind == "donut":
        return donut_figure(spec.categories, [v or 0 for v in spec.series[0].values], variant=variant)
    if spec.kind in {"stacked_hbar", "stacked_bar"}:
        stacks = [
            (s.name, [v or 0 for v in s.values], s.colour or PALETTE[i % len(PALETTE)])
            for i, s in enumerate(spec.series)
        ]
        return stacked_bar_figure(
            spec.categories,
            stacks,
            variant=variant,
            horizontal=spec.kind == "stacked_hbar",
            customdata=spec.codes or None,
        )
    first = spec.series[0]
    reference = spec.series[1] if len(spec.series) > 1 else None
    fig = bar_figure(
        spec.categories,
        first.values,
        variant=variant,
        colour=first.colour or REPORTED_COLOUR,
        horizontal=spec.kind == "hbar",
        name=first.name,
        reference=[v or 0 for v in reference.values] if reference else None,
        reference_name=reference.name if reference else None,
    )
    if spec.percent:
        axis = "xaxis" if spec.kind == "hbar" else "yaxis"
        fig["layout"][axis].update({"ticksuffix": "%", "range": [0, 100]})
    if spec.codes:
        for trace in fig["data"]:
            trace["customdata"] = spec.codes
    if spec.note:
        note_above(fig, spec.note, variant)
    return fig


def note_above(fig: Figure, note: str, variant: str) -> None:
    """``note`` in small muted type above the plot, left: what a chart leaves out and why (a chart of
    three villages out of eighty must say so)."""
    v = VARIANTS[variant]
    size = max(v["font"] - 2, 10)
    layout = fig["layout"]
    layout["margin"]["t"] = int(layout["margin"].get("t", 8)) + round(size * 1.6)
    layout.setdefault("annotations", []).append(
        {
            "text": note,
            "showarrow": False,
            "xref": "paper",
            "yref": "paper",
            "x": 0,
            "y": 1,
            "xanchor": "left",
            "yanchor": "bottom",
            "yshift": round(size * 0.3),
            "font": {"size": size, "color": "#7b8794"},  # muted on the white pages and the dark wall alike
        }
    )
