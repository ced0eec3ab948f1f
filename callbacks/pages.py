"""Page refresh callbacks: one per page, each a thin loop over the page's panel spec.

Each refresh asks the service for the snapshot (a cache hit for every screen after the first) and
returns ``no_update`` when the snapshot has not changed since the last render, so nothing redraws and
nothing flickers; user choices survive because the filters live in the URL, not in the panels. A page's
board is drawn once per render key for every process, and a tick sends only what changed
(:mod:`callbacks.screens`).
"""

from __future__ import annotations

import functools
from typing import Any

from dash import Input, Output, State, callback, no_update
from dash.exceptions import PreventUpdate

from callbacks.filters import replay_text, view_from_store
from callbacks.maps import map_figure
from callbacks.screens import as_output, board_changes, draw_ahead
from dashboard.core.i18n import fmt_age, fmt_datetime, t
from dashboard.core.scope import Scope, Unauthorized
from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState
from dashboard.web.context import app_context
from layouts import ids, render
from layouts.pages import PAGE_KEYS, PAGE_PANELS, PagePanel


def fetch(query: str | None, last_key: str | None) -> tuple[ViewState, Snapshot, str, Scope]:
    """(view, snapshot, render key, the viewer's scope); PreventUpdate when there is nothing new to draw."""
    context = app_context()
    view = view_from_store(query)
    scope = context.scope()
    snap = context.snapshot(view, scope).snapshot
    if snap is None:
        raise PreventUpdate  # nothing good yet: keep what is on screen; the banner says why
    key = render.render_key(snap, view)
    if key == last_key:
        raise PreventUpdate
    return view, snap, key, scope


def draw(panel: PagePanel, snap: Snapshot, view: ViewState, variant: str) -> Any:
    """One panel's property value (a map with the boundaries it draws over)."""
    if panel.kind == "map":
        return map_figure(panel.key, snap, view, variant)
    return render.render_panel(panel.kind, panel.key, snap, view, variant)


def page_board(
    snap: Snapshot, _computed_at: Any = None, *, page: str, view: ViewState, variant: str
) -> list[Any]:
    """Every panel of ``page`` drawn from ``snap``."""
    return [draw(panel, snap, view, variant) for panel in PAGE_PANELS[page]]


def render_page(
    page: str, query: str | None, last_key: str | None, variant: str = "browser"
) -> tuple[Any, ...]:
    """Every panel of ``page`` for the view in the store, and the render key they were drawn for: drawn
    once per render key for every process, sent as what changed since the screen's last key."""
    view, snap, key, scope = fetch(query, last_key)
    drawn_for = functools.partial(page_board, page=page, view=view, variant=variant)  # picklable: BoardRecipe
    kind = f"page:{page}:{variant}:{scope.token()}"
    changes = board_changes(kind, key, last_key, lambda: drawn_for(snap))
    draw_ahead(kind, key, view, scope, drawn_for)
    return (*[as_output(change) for change in changes], key)


def _register(page: str) -> None:
    @callback(
        *[Output(panel.id, panel.prop) for panel in PAGE_PANELS[page]],
        Output(PAGE_KEYS[page], "data"),
        Input(ids.VIEW, "data"),
        Input(ids.TICK, "n_intervals"),
        State(PAGE_KEYS[page], "data"),
    )
    def refresh(query: str | None, _n: int, last_key: str | None) -> tuple[Any, ...]:
        if query is None:  # the URL is not read yet: drawing now would draw the district, not this view
            raise PreventUpdate
        return render_page(page, query, last_key)

    refresh.__name__ = f"refresh_{page}"


for _page in PAGE_PANELS:
    _register(_page)


@callback(
    Output(ids.DATA_AGE, "children"),
    Output(ids.BANNER_STALE, "children"),
    Output(ids.BANNER_STALE, "hidden"),
    Output(ids.BANNER_ASOF, "hidden"),
    Output(ids.BANNER_ASOF_TEXT, "children"),
    Input(ids.VIEW, "data"),
    Input(ids.TICK, "n_intervals"),
)
def refresh_status(query: str | None, _n: int) -> tuple[Any, ...]:
    """Data age in the header, the stale banner when the source is down, the replay banner when as_of is set."""
    if query is None:  # the URL is not read yet
        raise PreventUpdate
    context = app_context()
    try:
        view = view_from_store(query)
    except Unauthorized:  # signed out, disabled or password changed: say so instead of going quiet
        lang = "en" if query and "lang=en" in query else "zh"
        return ("", t("signed_out", lang), False, True, "")
    lang = view.lang
    result = context.snapshot(view, context.scope())
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
