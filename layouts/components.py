"""Small pure builders of component trees shared by the browser pages and the wall."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard.core.domain import towns
from dashboard.core.i18n import fmt_number, t
from dashboard.core.metrics import delta_text

# Plotly config for every chart: no mode bar clutter, no logo, no remote calls, responsive.
# Plotly's geo traces fetch a base-map topojson from a CDN even when the base map is hidden: point
# them at the empty topologies in assets/topojson so the maps draw offline (our own GeoJSON is the map).
GRAPH_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "displayModeBar": False,
    "topojsonURL": "/assets/topojson/",
}


def metric_text(metric: Any, lang: str) -> tuple[str, str, str]:
    """(label, unit, definition) of a registry metric in ``lang``."""
    if lang == "en":
        return metric.label_en, metric.unit_en, metric.definition_en
    return metric.label_zh, metric.unit, metric.definition_zh


def town_options(lang: str, allowed: frozenset[str] | None = None) -> list[dict[str, str]]:
    """The towns to choose from: all 26, or only the ones the viewer may see."""
    return [
        {"label": tw.name_en if lang == "en" else tw.name_zh, "value": tw.code}
        for tw in towns()
        if allowed is None or tw.code in allowed
    ]


def format_value(metric: Any, value: float | None) -> str:
    if value is None:
        return "—"
    # Rates are stored in percent (0–100), so the value is shown as it is.
    return fmt_number(value, metric.fmt)


def _delta(metric: Any, value: float | None, other: float | None, caption: str) -> html.Span:
    text, tone = delta_text(metric, value, other, caption)
    return html.Span(text, className=f"delta delta-{tone or 'none'}")


def sparkline(values: list[float | None]) -> html.Div:
    """A CSS bar sparkline: cheaper than a plotly graph per tile and never flickers."""
    recent = values[-20:]
    numbers = [v for v in recent if v is not None]
    low = min([0.0, *numbers])  # year-on-year changes can be negative: scale from the lowest value
    span = (max(numbers) - low) if numbers else 0
    bars = [
        html.Span(
            className="spark-bar",
            style={
                "height": f"{min(max(((v if v is not None else low) - low) / span * 100, 0), 100) if span else 0:.0f}%"
            },
        )
        for v in recent
    ]
    return html.Div(bars, className="spark")


def kpi_tile(metric: Any, kpi: Any, lang: str, *, tile_id: Any = None, town_figure: bool = False) -> html.Div:
    """One KPI tile: value + unit, change vs previous period and last year, sparkline, threshold colour.

    ``town_figure``: the figure is the town's, shown on a village's or grid's view (the metric's
    ``per_town``); the unit says so ("6.2 %（镇街）"), or the colour would read as the unit's own."""
    label, unit, definition = metric_text(metric, lang)
    if town_figure:
        unit += t("town_figure", lang)
    status = getattr(kpi, "status", None) or "none"
    value = getattr(kpi, "value", None)
    props: dict[str, Any] = {"id": tile_id} if tile_id is not None else {}
    return html.Div(
        [
            html.Div(label, className="kpi-label"),
            html.Div(
                [
                    html.Span(format_value(metric, value), className="kpi-value", **_data("value", value)),
                    html.Span(unit, className="kpi-unit"),
                ],
                className="kpi-main",
            ),
            html.Div(
                [
                    _delta(metric, value, getattr(kpi, "previous", None), t("vs_prev", lang)),
                    _delta(metric, value, getattr(kpi, "last_year", None), t("vs_ly", lang)),
                ],
                className="kpi-deltas",
            ),
            sparkline(list(getattr(kpi, "spark", []) or [])),
        ],
        className=f"kpi kpi-{status}",
        title=" · ".join([f"{label}: {definition}", *_companions(metric, kpi, lang)]),
        **props,
    )


def _companions(metric: Any, kpi: Any, lang: str) -> list[str]:
    """The counts shown beside the figure (the hazard tile's units inspected), from the registry."""
    detail = getattr(kpi, "detail", None) or {}
    return [c.text(detail.get(c.key), lang) for c in getattr(metric, "companions", ())]


def panel(
    title: str, body: Any, *, panel_id: str | None = None, extra_class: str = "", title_id: str | None = None
) -> html.Section:
    """A titled panel; ``title_id`` lets a callback rename it (a ranking names the units it ranks)."""
    props: dict[str, Any] = {"id": panel_id} if panel_id else {}
    title_props: dict[str, Any] = {"id": title_id} if title_id else {}
    return html.Section(
        [html.H3(title, className="panel-title", **title_props), html.Div(body, className="panel-body")],
        className=f"panel {extra_class}".strip(),
        **props,
    )


# What a chart shows before its first answer (or while its first answer waits on an outage): nothing,
# in the panel's own colours. Dash's default is an empty figure with axes from -1 to 6 and a white plot
# area, which reads as a broken chart (and paints a white block on the dark wall). The banner or the
# wall's waiting screen says why nothing is there yet.
BLANK_FIGURE: dict[str, Any] = {
    "data": [],
    "layout": {
        "xaxis": {"visible": False},
        "yaxis": {"visible": False},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
    },
}


def graph(graph_id: str, *, height: str | None = None) -> dcc.Graph:
    style = {"height": height} if height else {}
    config: Any = GRAPH_CONFIG  # a plain dict; Dash 4's stubs want their TypedDict
    return dcc.Graph(id=graph_id, figure=BLANK_FIGURE, config=config, style=style, className="graph")


def _data(name: str, value: Any) -> dict[str, Any]:
    """A ``data-*`` attribute for a Dash HTML component (passed as a keyword: the name has a dash)."""
    return {f"data-{name}": str(value)}


def simple_table(
    columns: list[str], rows: list[list[Any]], *, numeric_from: int = 1, row_ids: list[str] | None = None
) -> html.Table:
    """A plain HTML table (cheap, prints well, scales with CSS on the wall)."""
    head = html.Thead(html.Tr([html.Th(c) for c in columns]))
    body_rows = []
    for i, row in enumerate(rows):
        cells = [html.Td(v, className="num" if j >= numeric_from else "") for j, v in enumerate(row)]
        body_rows.append(html.Tr(cells, **(_data("code", row_ids[i]) if row_ids else {})))
    return html.Table([head, html.Tbody(body_rows)], className="table")


def empty_state(lang: str) -> html.Div:
    return html.Div(t("no_data", lang), className="empty")
