"""The root layout shared by every page, and page registration.

One state contract for both modes: every page reads the ``view`` store (the canonical query string)
and the ``tick`` interval. Browser pages add the header and filter bar, which write the URL; the wall
page hides them (CSS ``.mode-wall``) and takes its view from its own query string.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dash
from dash import dcc, html

from dashboard.core.domain import CATEGORIES, DEPARTMENTS, SOURCES
from dashboard.core.i18n import STRINGS, t, to_local
from dashboard.core.scope import Viewer
from dashboard.core.settings import Settings
from dashboard.core.viewstate import PERIODS, ViewState, to_query
from layouts import ids, pages, render, wall
from layouts.components import town_options

BROWSER_PAGES = ids.NAV_PAGES
PAGE_PATHS = {
    "overview": "/",
    "backlog": "/backlog",
    "patrol": "/patrol",
    "trends": "/trends",
    "rankings": "/rankings",
    "events": "/events",
    "alerts": "/alerts",
    "briefings": "/briefings",
}


def register_pages(settings: Settings) -> None:
    """Register every page with Dash pages (no pages folder: pages are plain layout functions)."""
    for order, (name, path) in enumerate(PAGE_PATHS.items()):
        dash.register_page(
            f"page_{name}",
            path=path,
            name=name,
            order=order,
            title="萧山区一张网 · 态势感知",
            layout=pages.page_layout_factory(name),
        )
    dash.register_page(
        "page_wall", path="/wall", name="wall", title="萧山区基层治理态势感知", layout=wall.wall_layout
    )
    # Dash pages uses the page whose module is named not_found_404 for any unknown path (/overview).
    dash.register_page(
        "not_found_404",
        path="/404",
        name="not_found",
        title="萧山区一张网 · 页面不存在",
        layout=pages.not_found_layout,
    )


def _options(labels: dict[str, Any], lang: str) -> list[dict[str, str]]:
    return [{"label": v.en if lang == "en" else v.zh, "value": k} for k, v in labels.items()]


DROPDOWN_TEXTS = (
    "select_all",
    "deselect_all",
    "selected_count",
    "search",
    "clear_search",
    "clear_selection",
    "no_options_found",
)


def dropdown_labels(lang: str) -> dict[str, str]:
    """A dropdown's own texts (search box, select all …) in ``lang``: Dash writes them in English.

    ``{num_selected}`` stays a placeholder: the dropdown fills it in.
    """
    return {name: STRINGS[f"dd_{name}"][1 if lang == "en" else 0] for name in DROPDOWN_TEXTS}


def dropdown(lang: str, **props: Any) -> dcc.Dropdown:
    """A filter dropdown speaking the interface's language."""
    return dcc.Dropdown(labels=dropdown_labels(lang), **props)  # type: ignore[arg-type]


def account(lang: str, viewer: Viewer | None, sign_out_token: str | None = None) -> html.Span | None:
    """Who is signed in, their role and a sign-out button (nothing for the local demo).

    Signing out is a POST with the CSRF token the web layer hands in (a link would let any site sign
    the user out with an image tag), so the button sits in a plain form, not in a callback.
    """
    if viewer is None or viewer.kind != "user" or not sign_out_token:
        return None
    role = viewer.role.en if lang == "en" else viewer.role.zh
    return html.Span(
        [
            html.Span(f"{viewer.name} · {role}", className="account-name"),
            html.Form(
                [
                    dcc.Input(type="hidden", name="csrf_token", value=sign_out_token),
                    html.Button(t("sign_out", lang), type="submit", className="btn btn-ghost", id="sign-out"),
                ],
                method="post",
                action="/logout",
                style={"display": "inline", "margin": 0},
            ),
        ],
        className="account",
        id="account",
    )


def nav_href(name: str, view: ViewState) -> str:
    """A page's link carrying the whole view (town, village, grid, filters, period, as_of, lang …):
    moving between pages keeps what the user chose."""
    query = to_query(view)
    return PAGE_PATHS[name] + ("?" + query if query else "")


def nav(lang: str, view: ViewState | None = None) -> html.Nav:
    view = view or ViewState(lang=lang)
    links = [
        dcc.Link(t(name, lang), href=nav_href(name, view), id=ids.nav_link(name), className="nav-link")
        for name in BROWSER_PAGES
    ]
    return html.Nav(links, className="nav", id="nav")


def header(
    lang: str, view: ViewState, viewer: Viewer | None = None, sign_out_token: str | None = None
) -> html.Header:
    return html.Header(
        [
            html.Div(
                [
                    html.Span("一张网", className="brand-mark"),
                    html.H1(render.scope_title("app_title", view, lang), id=ids.APP_TITLE),
                ],
                className="brand",
            ),
            nav(lang, view),
            html.Div(
                [
                    html.Span(id=ids.DATA_AGE, className="data-age"),
                    export_menu(lang),
                    html.A(
                        t("language", lang),
                        id=ids.LANG_TOGGLE,
                        className="btn btn-ghost",
                        href="?" + to_query(replace(view, lang="en" if lang == "zh" else "zh")),
                    ),
                    account(lang, viewer, sign_out_token),
                ],
                className="header-tools",
            ),
        ],
        className="header",
    )


def filter_bar(lang: str, view: ViewState, allowed: frozenset[str] | None = None) -> html.Div:
    """Every filter of the view-state grammar, pre-set from ``view``; the sync callback mirrors them to the URL."""
    as_of_local = to_local(view.as_of) if view.as_of else None

    def field(label_key: str, control: Any) -> html.Label:
        return html.Label(
            [html.Span(t(label_key, lang), className="field-label"), control], className="field"
        )

    def any_of(
        label_key: str, component_id: str, labels: dict[str, Any], chosen: tuple[str, ...]
    ) -> html.Label:
        options = _options(labels, lang)
        control = dropdown(
            lang, id=component_id, options=options, value=list(chosen), multi=True, placeholder=t("all", lang)
        )
        return field(label_key, control)

    return html.Div(
        [
            field(
                "town",
                dropdown(
                    lang,
                    id=ids.F_TOWN,
                    options=town_options(lang, allowed),
                    value=list(view.towns),
                    multi=True,
                    placeholder=t("district", lang),
                ),
            ),
            field(
                "village",
                dropdown(
                    lang,
                    id=ids.F_VILLAGE,
                    options=[{"label": view.village, "value": view.village}] if view.village else [],
                    value=view.village,
                    placeholder=t("all", lang),
                ),
            ),
            any_of("category", ids.F_CATEGORY, CATEGORIES, view.categories),
            any_of("source", ids.F_SOURCE, SOURCES, view.sources),
            any_of("dept", ids.F_DEPT, DEPARTMENTS, view.depts),
            field(
                "period",
                dropdown(
                    lang,
                    id=ids.F_PERIOD,
                    options=[{"label": t(p, lang), "value": p} for p in PERIODS],
                    value=view.period,
                    clearable=False,
                ),
            ),
            field(
                "custom",
                dcc.DatePickerRange(
                    id=ids.F_RANGE,
                    display_format="YYYY-MM-DD",
                    month_format=t("month_format", lang),
                    first_day_of_week=1,  # weeks start on Monday in China (and in the weekly KPIs)
                    start_date_placeholder_text=t("date_from", lang),
                    end_date_placeholder_text=t("date_to", lang),
                    minimum_nights=0,
                    start_date=view.date_from.isoformat() if view.date_from else None,
                    end_date=view.date_to.isoformat() if view.date_to else None,
                ),
            ),
            field(
                "eastern",
                dcc.RadioItems(
                    id=ids.F_EASTERN,
                    options=[{"label": t(v, lang), "value": v} for v in ("include", "exclude")],
                    value=view.eastern,
                    inline=True,
                ),
            ),
            field(
                "as_of",
                html.Div(
                    [
                        dcc.DatePickerSingle(
                            id=ids.F_ASOF_DATE,
                            display_format="YYYY-MM-DD",
                            month_format=t("month_format", lang),
                            first_day_of_week=1,
                            placeholder=t("date_pick", lang),
                            clearable=True,
                            date=as_of_local.date().isoformat() if as_of_local else None,
                        ),
                        dcc.Input(
                            id=ids.F_ASOF_TIME,
                            type="text",
                            placeholder=t("time_pick", lang),
                            debounce=True,
                            className="time-input",
                            value=as_of_local.strftime("%H:%M") if as_of_local else "",
                        ),
                    ],
                    className="asof-inputs",
                ),
            ),
        ],
        className="filters",
        id="filters",
    )


def export_menu(lang: str) -> html.Div:
    """Export what is on screen: the deck (PPTX/PDF) of the current page, or a PNG of its main panel."""
    buttons = [
        html.Button(label, id={"type": ids.EXPORT_TYPE, "format": fmt}, className="btn btn-light", n_clicks=0)
        for fmt, label in (("pptx", "PPTX"), ("pdf", "PDF"), ("png", "PNG"))
    ]
    return html.Div(
        [
            html.Span(t("export", lang), className="export-label"),
            *buttons,
            dcc.Loading(
                [
                    dcc.Download(id=ids.EXPORT_DOWNLOAD),
                    html.Span(id=ids.EXPORT_STATUS, className="export-status"),
                ],
                type="circle",
                delay_show=150,
            ),
        ],
        className="export-menu",
    )


def root_layout(
    settings: Settings,
    view: ViewState | None = None,
    viewer: Viewer | None = None,
    *,
    sign_out_token: str | None = None,
) -> html.Div:
    """Every page's frame; ``sign_out_token`` (the web layer's CSRF token) shows the sign-out button."""
    view = view or ViewState(lang=settings.LANG)
    lang = view.lang
    allowed = viewer.towns if viewer is not None else None
    return html.Div(
        [
            dcc.Location(id=ids.URL, refresh="callback-nav"),
            dcc.Store(id=ids.VIEW, data=None),
            dcc.Store(id=ids.VIEW_ERROR, data=None),
            dcc.Interval(id=ids.TICK, interval=settings.REFRESH_SECONDS * 1000, n_intervals=0),
            html.Div(
                [header(lang, view, viewer, sign_out_token), filter_bar(lang, view, allowed)],
                id="chrome",
                className="chrome",
            ),
            html.Div(
                id=ids.BANNER_ASOF,
                className="banner banner-asof",
                hidden=True,
                children=[
                    html.Span(id=ids.BANNER_ASOF_TEXT),
                    html.Button(
                        t("back_to_live", lang), id=ids.BACK_TO_LIVE, className="btn btn-light", n_clicks=0
                    ),
                ],
            ),
            html.Div(id=ids.BANNER_STALE, className="banner banner-stale", hidden=True),
            html.Div(id=ids.BANNER_FRESH, className="banner banner-fresh", hidden=True),
            html.Div(id=ids.BANNER_ERROR, className="banner banner-error", hidden=True),
            dash.page_container,
        ],
        id=ids.ROOT,
        className="root mode-browser",
        lang="zh-CN" if lang == "zh" else "en",
    )


def validation_layout(settings: Settings) -> html.Div:
    """Every component of every page, so Dash can validate callbacks that target other pages."""
    return html.Div(
        [root_layout(settings)]
        + [pages.page_layout_factory(name)() for name in BROWSER_PAGES]
        + [wall.wall_layout()]
    )
