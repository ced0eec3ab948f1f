"""Page refresh callbacks: one per page, each a thin loop over the page's panel spec.

Each refresh asks the service for the snapshot (a cache hit for every screen after the first) and
returns ``no_update`` when the snapshot has not changed since the last render, so nothing redraws and
nothing flickers; user choices survive because the filters live in the URL, not in the panels.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, no_update
from dash.exceptions import PreventUpdate

from callbacks.filters import replay_text, view_from_store
from dashboard.core.i18n import fmt_age, fmt_datetime, t
from dashboard.core.scope import Unauthorized
from dashboard.web.accounts import current_scope
from layouts import render

PAGE_SPECS: dict[str, list[tuple[str, str, str]]] = {
    # page → [(component id, kind, panel key)]
    "overview": [
        ("ov-kpis", "kpis", "overview"),
        ("ov-trend", "chart", "trend_90d"),
        ("ov-category", "chart", "by_category"),
        ("ov-backlog", "chart", "backlog_ageing"),
        ("ov-towns", "table", "town_ranking_short"),
        ("ov-ticker", "ticker", "ticker"),
    ],
    "backlog": [
        ("bl-crumbs", "crumbs", "crumbs"),
        ("bl-ageing", "chart", "backlog_ageing"),
        ("bl-map", "map", "backlog_map"),
        ("bl-top", "table", "top_grids"),
        ("bl-cases", "table", "open_cases"),
    ],
    "patrol": [
        ("pt-kpis", "kpis", "patrol"),
        ("pt-coverage", "chart", "patrol_coverage"),
        ("pt-map", "map", "patrol_map"),
        ("pt-duty", "chart", "on_duty"),
        ("pt-video", "table", "video_offline"),
    ],
    "trends": [
        ("tr-main", "chart", "trend_period"),
        ("tr-category", "chart", "by_category_bar"),
        ("tr-source", "chart", "by_source"),
        ("tr-dept", "chart", "by_dept"),
        ("tr-ontime", "chart", "ontime_weekly"),
    ],
    "rankings": [
        ("rk-towns", "table", "town_ranking"),
        ("rk-depts", "table", "dept_ranking"),
    ],
}
PROPERTY = {
    "kpis": "children",
    "chart": "figure",
    "map": "figure",
    "table": "children",
    "ticker": "children",
    "crumbs": "children",
}
KEY_IDS = {
    "overview": "ov-key",
    "backlog": "bl-key",
    "patrol": "pt-key",
    "trends": "tr-key",
    "rankings": "rk-key",
}


def fetch(query: str | None, last_key: str | None) -> tuple[Any, Any, str]:
    """(view, service result, render key); PreventUpdate when there is nothing new to draw."""
    from dashboard.web.app import get_service

    view = view_from_store(query)
    result = get_service().snapshot(view, current_scope())
    if result.snapshot is None:
        raise PreventUpdate  # nothing good yet: keep what is on screen; the banner says why
    key = render.render_key(result.snapshot, view)
    if key == last_key:
        raise PreventUpdate
    return view, result, key


def render_page(
    page: str, query: str | None, last_key: str | None, variant: str = "browser"
) -> tuple[Any, ...]:
    view, result, key = fetch(query, last_key)
    snap = result.snapshot
    outputs = [render.render_panel(kind, panel, snap, view, variant) for _id, kind, panel in PAGE_SPECS[page]]
    return (*outputs, key)


def _register(page: str) -> None:
    spec = PAGE_SPECS[page]

    @callback(
        *[Output(cid, PROPERTY[kind]) for cid, kind, _panel in spec],
        Output(KEY_IDS[page], "data"),
        Input("view", "data"),
        Input("tick", "n_intervals"),
        State(KEY_IDS[page], "data"),
    )
    def refresh(query: str | None, _n: int, last_key: str | None) -> tuple[Any, ...]:
        return render_page(page, query, last_key)

    refresh.__name__ = f"refresh_{page}"


for _page in PAGE_SPECS:
    _register(_page)


@callback(
    Output("data-age", "children"),
    Output("banner-stale", "children"),
    Output("banner-stale", "hidden"),
    Output("banner-asof", "hidden"),
    Output("banner-asof-text", "children"),
    Input("view", "data"),
    Input("tick", "n_intervals"),
)
def refresh_status(query: str | None, _n: int) -> tuple[Any, ...]:
    """Data age in the header, the stale banner when the source is down, the replay banner when as_of is set."""
    from dashboard.web.app import get_service

    try:
        view = view_from_store(query)
    except Unauthorized:  # signed out, disabled or password changed: say so instead of going quiet
        lang = "en" if query and "lang=en" in query else "zh"
        return ("", t("signed_out", lang), False, True, "")
    lang = view.lang
    result = get_service().snapshot(view, current_scope())
    age = ""
    if result.snapshot is not None:
        age = t(
            "data_as_of",
            lang,
            when=fmt_datetime(result.snapshot.newest_data_at or result.snapshot.now, lang, seconds=True),
        )
    # stale without an error only means another worker is refreshing this view: nothing to warn about.
    stale = bool(result.error) or result.snapshot is None
    stale_text = (
        t("stale_banner", lang, age=fmt_age(result.age_seconds or 0, lang))
        if result.snapshot
        else t("waiting", lang)
    )
    asof_hidden = view.as_of is None
    return (
        age,
        stale_text if stale else no_update,
        not stale,
        asof_hidden,
        "" if asof_hidden else replay_text(view),
    )
