"""Browser page layouts: skeletons with stable ids that the page callbacks fill from the snapshot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import dash_table, dcc, html

from dashboard.core.i18n import t
from layouts.components import graph, panel


def _lang(query: dict[str, Any]) -> str:
    return "en" if query.get("lang") == "en" else "zh"


def overview(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id="ov-key"),
            html.Div(id="ov-kpis", className="kpi-grid"),
            html.Div(
                [
                    panel(t("trends", lang), graph("ov-trend", height="300px"), extra_class="span-2"),
                    panel(t("by_category", lang), graph("ov-category", height="300px")),
                ],
                className="row",
            ),
            html.Div(
                [
                    panel(t("ageing", lang), graph("ov-backlog", height="420px"), extra_class="span-2"),
                    panel(t("town_ranking", lang), html.Div(id="ov-towns")),
                ],
                className="row",
            ),
            panel(t("ticker", lang), html.Div(id="ov-ticker", className="ticker-list")),
        ],
        className="page page-overview",
    )


def backlog(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id="bl-key"),
            html.Nav(id="bl-crumbs", className="crumbs"),
            html.Div(
                [
                    panel(t("ageing", lang), graph("bl-ageing", height="520px"), extra_class="span-2"),
                    panel(t("per_1000", lang), graph("bl-map", height="520px")),
                ],
                className="row",
            ),
            panel(t("top_overdue_grids", lang), html.Div(id="bl-top")),
            html.Div(id="bl-cases"),
        ],
        className="page page-backlog",
    )


def patrol(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id="pt-key"),
            html.Div(id="pt-kpis", className="kpi-grid"),
            html.Div(
                [
                    panel(t("coverage_by_town", lang), graph("pt-coverage", height="520px")),
                    panel(
                        t("hours_since_patrol", lang), graph("pt-map", height="520px"), extra_class="span-2"
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    panel(t("on_duty", lang), graph("pt-duty", height="300px")),
                    panel(t("video_offline", lang), html.Div(id="pt-video"), extra_class="span-2"),
                ],
                className="row",
            ),
        ],
        className="page page-patrol",
    )


PRESETS = (
    ("week", "周汇总", "Weekly summary"),
    ("month", "月分析", "Monthly analysis"),
    ("quarter", "季评估", "Quarterly review"),
)


def trends(lang: str) -> html.Div:
    buttons = [
        html.Button(
            en if lang == "en" else zh,
            id={"type": "preset", "period": period},
            className="btn btn-light",
            n_clicks=0,
        )
        for period, zh, en in PRESETS
    ]
    return html.Div(
        [
            dcc.Store(id="tr-key"),
            html.Div(buttons, className="presets"),
            panel(t("trends", lang), graph("tr-main", height="340px")),
            html.Div(
                [
                    panel(t("by_category", lang), graph("tr-category", height="380px")),
                    panel(t("by_source", lang), graph("tr-source", height="380px")),
                    panel(t("by_dept", lang), graph("tr-dept", height="380px")),
                ],
                className="row row-3",
            ),
            panel(
                "按期办结率（周）" if lang == "zh" else "On-time close rate (weekly)",
                graph("tr-ontime", height="280px"),
            ),
        ],
        className="page page-trends",
    )


def rankings(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id="rk-key"),
            html.Div(
                [
                    panel(t("town_ranking", lang), html.Div(id="rk-towns")),
                    panel(t("dept_ranking", lang), html.Div(id="rk-depts")),
                ],
                className="row row-2",
            ),
        ],
        className="page page-rankings",
    )


def events(lang: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Span(id="ev-summary", className="muted"),
                    html.A("CSV", id="ev-csv", className="btn", href="/download/events.csv"),
                ],
                className="toolbar",
            ),
            dash_table.DataTable(  # type: ignore[attr-defined]  # deprecated in Dash 4, still shipped
                id="ev-table",
                columns=[],
                data=[],
                page_action="custom",
                page_current=0,
                page_size=25,
                sort_action="custom",
                sort_mode="single",
                sort_by=[],
                style_table={"overflowX": "auto"},
                style_cell={
                    "fontFamily": "inherit",
                    "fontSize": "13px",
                    "padding": "6px",
                    "textAlign": "left",
                },
                style_header={"fontWeight": "600", "backgroundColor": "#f1f4f8"},
            ),
            dcc.Store(id="ev-cursor", data={}),
        ],
        className="page page-events",
    )


BUILDERS: dict[str, Callable[[str], html.Div]] = {
    "overview": overview,
    "backlog": backlog,
    "patrol": patrol,
    "trends": trends,
    "rankings": rankings,
    "events": events,
}


def page_layout_factory(name: str) -> Callable[..., html.Div]:
    """A Dash pages layout function for page ``name`` (query params arrive as keyword arguments)."""

    def layout(**query: Any) -> html.Div:
        return BUILDERS[name](_lang(query))

    layout.__name__ = f"{name}_layout"
    return layout
