"""The wall (kiosk) page: no controls, dark theme, type sized for ten metres, rotating views.

The view comes from the wall's own URL (``/wall?town=…&pages=overview,backlog&rotate=30&lang=zh``):
each screen of the hall gets its own view by its URL alone. Rotation and the clock run in the browser
(clientside callbacks), so they keep going even when the server is unreachable.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from dash import dcc, get_asset_url, html

from dashboard.core.i18n import t
from dashboard.core.viewstate import WALL_PAGES, ViewState, ViewStateError, parse_query
from layouts import ids
from layouts.components import graph
from layouts.render import scope_title

SERVER_TIME_EVERY_MS = 10 * 60 * 1000  # the wall clock takes the server's time again (a PC's clock drifts)


class WallPanel(NamedTuple):
    """One panel of a wall page: its graph or table id, its CSS grid area, what it shows and how many bars
    or table rows fit it on a 16:9 screen (the tightest wall shape; wide walls give every panel full
    height).

    Why a fixed count: type on the wall scales with the screen, so a half-height panel holds the same
    five bars or four rows at 1080p and at 4K. More than that and Plotly drops every other label, or a
    table loses its last rows below the panel's edge without a word.
    """

    id: str
    area: str
    key: str  # the panel key of dashboard.present.panels
    kind: str = "chart"  # chart, map or table
    limit: int | None = None  # bars or rows; None: a map or a line chart
    both_ends: bool = False  # a ranking too long for the panel shows its first and last rows

    def fits(self, wide: bool) -> int | None:
        """Bars or rows to show: on a wide wall (32:9, 48:9) every panel is full height."""
        if self.limit is None or not wide:
            return self.limit
        return max(self.limit, RANKING_ROWS if self.both_ends else FULL_BARS)


HALF_BARS, FULL_BARS = 5, 10
HALF_ROWS, FULL_ROWS = 4, 10
RANKING_ROWS = FULL_ROWS + 1  # the first five, a "⋯" row, the last five

WALL_PANELS: dict[str, list[WallPanel]] = {
    # 16:9 grids in assets/20-wall.css; "map" is the tall area of each page.
    "overview": [
        WallPanel("wall-ov-map", "map", "backlog_map", "map"),
        WallPanel("wall-ov-trend", "a", "trend_90d"),
        # bars read better than a donut from ten metres
        WallPanel("wall-ov-category", "b", "by_category_bar", limit=HALF_BARS),
        WallPanel("wall-ov-towns", "c", "town_ranking_short", "table", FULL_ROWS),
    ],
    "backlog": [
        WallPanel("wall-bl-ageing", "map", "backlog_ageing", limit=FULL_BARS),
        WallPanel("wall-bl-map", "a", "backlog_map", "map"),
        WallPanel("wall-bl-top", "c", "top_grids", "table", FULL_ROWS),
    ],
    "patrol": [
        WallPanel("wall-pt-map", "map", "patrol_map", "map"),
        WallPanel("wall-pt-coverage", "a", "patrol_coverage", limit=HALF_BARS),
        WallPanel("wall-pt-duty", "b", "on_duty", limit=HALF_BARS),
        WallPanel("wall-pt-video", "c", "video_offline", "table", HALF_ROWS),
    ],
    "trends": [
        WallPanel("wall-tr-main", "map", "trend_period"),
        WallPanel("wall-tr-category", "a", "by_category_bar", limit=HALF_BARS),
        WallPanel("wall-tr-source", "b", "by_source", limit=HALF_BARS),
        WallPanel("wall-tr-ontime", "c", "ontime_weekly"),
    ],
    "rankings": [
        WallPanel("wall-rk-towns", "map", "town_ranking", "table", RANKING_ROWS, both_ends=True),
        WallPanel("wall-rk-depts", "c", "dept_ranking", "table", RANKING_ROWS, both_ends=True),
    ],
}
TABLE_PANELS = {p.id for page in WALL_PANELS.values() for p in page if p.kind == "table"}


def wall_view(query: dict[str, Any]) -> ViewState:
    """The wall's view from its query string; a malformed one falls back to the default view."""
    try:
        return parse_query({k: v for k, v in query.items() if v is not None}, wall=True)
    except ViewStateError:
        return ViewState()


def _panel(panel: WallPanel) -> html.Div:
    body = html.Div(id=panel.id, className="wall-table") if panel.kind == "table" else graph(panel.id)
    return html.Div(
        [html.H3(id=ids.title_of(panel.id), className="wall-panel-title"), body],
        className=f"wall-panel area-{panel.area}",
    )


def _data_page(page: str) -> dict[str, Any]:
    return {"data-page": page}


def wall_layout(**query: Any) -> html.Div:
    view = wall_view(query)
    lang = view.lang
    # Every page is rendered (so every callback output exists); rotation only visits view.pages.
    first = view.pages[0] if view.pages else WALL_PAGES[0]
    sections = [
        html.Section(
            [_panel(p) for p in WALL_PANELS[page]],
            id={"type": ids.WALL_PAGE_TYPE, "page": page},
            className="wall-page" + (" active" if page == first else ""),
            **_data_page(page),
        )
        for page in WALL_PAGES
    ]
    return html.Div(
        [
            dcc.Store(id=ids.WALL_KEY),
            dcc.Store(id=ids.WALL_SAVED, storage_type="local"),
            dcc.Store(id=ids.WALL_SAVED_KEY),
            dcc.Store(id=ids.WALL_NEED_LOCAL, data=False),
            dcc.Store(id=ids.WALL_PULSE),
            dcc.Store(id=ids.WALL_PAGES, data=list(view.pages)),
            dcc.Store(id=ids.WALL_SCALE, data=1.0),
            dcc.Store(id=ids.WALL_WIDE, data=False),
            dcc.Interval(id=ids.WALL_ROTATE, interval=max(view.rotate, 5) * 1000),
            dcc.Interval(id=ids.WALL_CLOCK_TICK, interval=1000),
            dcc.Interval(id=ids.WALL_SERVER_TICK, interval=SERVER_TIME_EVERY_MS),
            dcc.Store(id=ids.WALL_SERVER_NOW),
            dcc.Store(id=ids.WALL_POPUP_DATA),
            dcc.Store(id=ids.WALL_POPUP_SHOWN),
            # The chime of a new red alert. A kiosk browser plays it without a click only when started
            # with --autoplay-policy=no-user-gesture-required (README, "On the wall").
            html.Audio(id=ids.WALL_CHIME, src=get_asset_url("chime.wav"), preload="auto"),
            html.Header(
                [
                    html.Div(
                        [
                            html.Span("一张网", className="brand-mark"),
                            # Named again at each refresh: a village or grid is named by the snapshot.
                            html.H1(scope_title("wall_title", view, lang), id=ids.WALL_TITLE),
                        ],
                        className="wall-brand",
                    ),
                    html.Div(id=ids.WALL_SCOPE, className="wall-scope"),
                    html.Div(
                        [
                            html.Div(id=ids.WALL_CLOCK, className="wall-clock"),
                            html.Div(id=ids.WALL_AGE, className="wall-age"),
                            html.Div(id=ids.WALL_FRESH, className="wall-fresh", hidden=True),
                        ],
                        className="wall-time",
                    ),
                ],
                className="wall-header",
            ),
            html.Div(id=ids.WALL_BANNER, className="wall-banner", hidden=True),
            html.Div(id=ids.WALL_ALERTS, className="wall-alerts"),
            html.Div(id=ids.WALL_KPIS, className="wall-kpis"),
            html.Div(sections, className="wall-stage", id="wall-stage"),
            html.Div(html.Div(id=ids.WALL_TICKER, className="wall-ticker-track"), className="wall-ticker"),
            html.Div(t("waiting", lang), id=ids.WALL_WAITING, className="wall-waiting", hidden=True),
            html.Div(
                [html.Div(t("denied_screen", lang), className="wall-denied-title"), t("denied_text", lang)],
                id=ids.WALL_DENIED,
                className="wall-denied",
                hidden=True,
            ),
        ],
        className="wall",
        id=ids.WALL_ROOT,
        lang="zh-CN" if lang == "zh" else "en",
    )
