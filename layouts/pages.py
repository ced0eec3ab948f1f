"""Browser page layouts: skeletons with stable ids that the page callbacks fill from the snapshot.

:data:`PAGE_PANELS` says what fills each id (its kind and panel key), so the page callbacks need no
second list of ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from dash import dash_table, dcc, html

from dashboard.core.eventlist import PAGE_SIZE
from dashboard.core.i18n import t
from layouts import ids
from layouts.components import graph, panel


class PagePanel(NamedTuple):
    """One panel of a browser page: its component id, what it shows and the key of what it shows.

    ``kind`` is kpis, chart, map, table, ticker, crumbs or title (a panel's title naming what it shows); ``key`` is a panel key of
    :mod:`dashboard.present.panels` (or a KPI set of layouts/render.py for ``kpis``).
    """

    id: str
    kind: str
    key: str

    @property
    def prop(self) -> str:
        """The component property the panel's callback sets: a graph's figure or a container's children."""
        return "figure" if self.kind in {"chart", "map"} else "children"


PAGE_PANELS: dict[str, list[PagePanel]] = {
    "overview": [
        PagePanel(ids.OV_KPIS, "kpis", "overview"),
        PagePanel(ids.OV_MAP, "map", "backlog_map"),
        PagePanel(ids.OV_TREND, "chart", "trend_90d"),
        PagePanel(ids.OV_CATEGORY, "chart", "by_category"),
        PagePanel(ids.OV_BACKLOG, "chart", "backlog_ageing"),
        PagePanel(ids.OV_TOWNS, "table", "town_ranking_short"),
        PagePanel(ids.title_of(ids.OV_TOWNS), "title", "town_ranking_short"),
        PagePanel(ids.OV_TICKER, "ticker", "ticker"),
    ],
    "backlog": [
        PagePanel(ids.BL_CRUMBS, "crumbs", "crumbs"),
        PagePanel(ids.BL_KPIS, "kpis", "backlog"),
        PagePanel(ids.BL_AGEING, "chart", "backlog_ageing"),
        PagePanel(ids.BL_MAP, "map", "backlog_map"),
        PagePanel(ids.BL_TOP, "table", "top_grids"),
        PagePanel(ids.BL_CASES, "table", "open_cases"),
    ],
    "patrol": [
        PagePanel(ids.PT_KPIS, "kpis", "patrol"),
        PagePanel(ids.PT_COVERAGE, "chart", "patrol_coverage"),
        PagePanel(ids.PT_MAP, "map", "patrol_map"),
        PagePanel(ids.PT_DUTY, "chart", "on_duty"),
        PagePanel(ids.PT_VIDEO, "table", "video_offline"),
    ],
    "trends": [
        PagePanel(ids.TR_MAIN, "chart", "trend_period"),
        PagePanel(ids.TR_CATEGORY, "chart", "by_category_bar"),
        PagePanel(ids.TR_SOURCE, "chart", "by_source"),
        PagePanel(ids.TR_DEPT, "chart", "by_dept"),
        PagePanel(ids.TR_ONTIME, "chart", "ontime_weekly"),
    ],
    "rankings": [
        PagePanel(ids.RK_TOWNS, "table", "town_ranking"),
        PagePanel(ids.title_of(ids.RK_TOWNS), "title", "town_ranking"),
        PagePanel(ids.RK_DEPTS, "table", "dept_ranking"),
    ],
}
# The store of each page's last drawn render key (a page redraws only when it changes).
PAGE_KEYS = {
    "overview": ids.OV_KEY,
    "backlog": ids.BL_KEY,
    "patrol": ids.PT_KEY,
    "trends": ids.TR_KEY,
    "rankings": ids.RK_KEY,
}


def _lang(query: dict[str, Any]) -> str:
    return "en" if query.get("lang") == "en" else "zh"


def overview(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.OV_KEY),
            html.Div(id=ids.OV_KPIS, className="kpi-grid"),
            html.Div(
                [
                    # The map is the stage (issue 17): two thirds of the page's width, first below the
                    # figures, beside the ranking it colours; a click on a unit drills down.
                    panel(t("per_1000", lang), graph(ids.OV_MAP, height="520px"), extra_class="span-2"),
                    panel(
                        t("town_ranking", lang),
                        html.Div(id=ids.OV_TOWNS),
                        title_id=ids.title_of(ids.OV_TOWNS),
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    panel(t("trends", lang), graph(ids.OV_TREND, height="300px"), extra_class="span-2"),
                    panel(t("by_category", lang), graph(ids.OV_CATEGORY, height="300px")),
                ],
                className="row",
            ),
            panel(t("ageing", lang), graph(ids.OV_BACKLOG, height="420px")),
            panel(t("ticker", lang), html.Div(id=ids.OV_TICKER, className="ticker-list")),
        ],
        className="page page-overview",
    )


def backlog(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.BL_KEY),
            html.Nav(id=ids.BL_CRUMBS, className="crumbs"),
            html.Div(id=ids.BL_KPIS, className="kpi-grid kpi-grid-short"),
            html.Div(
                [
                    # Up to 30 units, each named at a readable size (figures.every_label): 640 px.
                    panel(t("ageing", lang), graph(ids.BL_AGEING, height="640px"), extra_class="span-2"),
                    panel(t("per_1000", lang), graph(ids.BL_MAP, height="640px")),
                ],
                className="row",
            ),
            panel(t("top_overdue_grids", lang), html.Div(id=ids.BL_TOP)),
            html.Div(id=ids.BL_CASES),
        ],
        className="page page-backlog",
    )


def patrol(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.PT_KEY),
            html.Div(id=ids.PT_KPIS, className="kpi-grid"),
            html.Div(
                [
                    panel(t("coverage_by_town", lang), graph(ids.PT_COVERAGE, height="520px")),
                    panel(
                        t("hours_since_patrol", lang), graph(ids.PT_MAP, height="520px"), extra_class="span-2"
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    panel(t("on_duty", lang), graph(ids.PT_DUTY, height="300px")),
                    panel(t("video_offline", lang), html.Div(id=ids.PT_VIDEO), extra_class="span-2"),
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
            id={"type": ids.PRESET_TYPE, "period": period},
            className="btn btn-light",
            n_clicks=0,
        )
        for period, zh, en in PRESETS
    ]
    return html.Div(
        [
            dcc.Store(id=ids.TR_KEY),
            html.Div(buttons, className="presets"),
            panel(t("trends", lang), graph(ids.TR_MAIN, height="340px")),
            html.Div(
                [
                    panel(t("by_category", lang), graph(ids.TR_CATEGORY, height="380px")),
                    panel(t("by_source", lang), graph(ids.TR_SOURCE, height="380px")),
                    panel(t("by_dept", lang), graph(ids.TR_DEPT, height="380px")),
                ],
                className="row row-3",
            ),
            panel(
                "按期办结率（周）" if lang == "zh" else "On-time close rate (weekly)",
                graph(ids.TR_ONTIME, height="280px"),
            ),
        ],
        className="page page-trends",
    )


def rankings(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.RK_KEY),
            html.Div(
                [
                    panel(
                        t("town_ranking", lang),
                        html.Div(id=ids.RK_TOWNS),
                        title_id=ids.title_of(ids.RK_TOWNS),
                    ),
                    panel(t("dept_ranking", lang), html.Div(id=ids.RK_DEPTS)),
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
                    html.Span(id=ids.EV_SUMMARY, className="muted"),
                    html.A("CSV", id=ids.EV_CSV, className="btn", href="/download/events.csv"),
                ],
                className="toolbar",
            ),
            dash_table.DataTable(  # type: ignore[attr-defined]  # deprecated in Dash 4, still shipped
                id=ids.EV_TABLE,
                columns=[],
                data=[],
                page_action="custom",
                page_current=0,
                page_size=PAGE_SIZE,
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
            dcc.Store(id=ids.EV_CURSOR, data={}),
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


def not_found_layout(**query: Any) -> html.Div:
    """Dash pages' 404 (a module named ``not_found_404``): in the page's language and theme, with the way
    back to the overview (Dash's own is an English "404 - Page not found" heading on a bare page)."""
    lang = _lang(query)
    home = "/?lang=en" if lang == "en" else "/"
    return html.Div(
        html.Div(
            [
                html.H2(t("not_found", lang), className="not-found-title"),
                html.P(t("not_found_body", lang)),
                dcc.Link(t("back_to_overview", lang), href=home, className="btn"),
            ],
            className="panel not-found",
        ),
        className="page",
    )


def page_layout_factory(name: str) -> Callable[..., html.Div]:
    """A Dash pages layout function for page ``name`` (query params arrive as keyword arguments)."""

    def layout(**query: Any) -> html.Div:
        return BUILDERS[name](_lang(query))

    layout.__name__ = f"{name}_layout"
    return layout
