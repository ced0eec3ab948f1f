"""Drill down district → town → village → grid by clicking, and back up by the breadcrumb.

The level is nothing but the view's town/village/grid, so it lives in the URL like every filter.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dash import ALL, Input, Output, State, callback, ctx
from dash.exceptions import PreventUpdate

from callbacks.filters import view_from_store
from dashboard.core.viewstate import ViewState, to_query
from layouts import ids


def drill_to(view: ViewState, code: str | None) -> ViewState:
    """The view one level down at unit ``code`` (a 9-, 12- or 15-digit code), or the district for None."""
    if not code:
        return replace(view, towns=(), village=None, grid=None)
    if len(code) == 9:
        return replace(view, towns=(code,), village=None, grid=None)
    if len(code) == 12:
        return replace(view, towns=(code[:9],), village=code, grid=None)
    if len(code) == 15:
        return replace(view, towns=(code[:9],), village=code[:12], grid=code)
    raise PreventUpdate


def clicked_code(click: dict[str, Any] | None) -> str:
    """The unit code carried by a clicked bar (customdata) or map area (location). The 未落网格 bar
    (town-level cases, the empty code) leads nowhere: there is no unit below to open."""
    if not click or not click.get("points"):
        raise PreventUpdate
    point = click["points"][0]
    code = point.get("customdata") or point.get("location")
    if isinstance(code, list):
        code = code[0]
    if not code:
        raise PreventUpdate
    return str(code)


@callback(
    Output(ids.URL, "search", allow_duplicate=True),
    Input(ids.BL_AGEING, "clickData"),
    Input(ids.BL_MAP, "clickData"),
    Input({"type": ids.CRUMB_TYPE, "code": ALL}, "n_clicks"),
    State(ids.VIEW, "data"),
    prevent_initial_call=True,
)
def drill(bar_click: Any, map_click: Any, _crumbs: list[int | None], query: str | None) -> str:
    """The URL one level down at the clicked bar or map area, or up at the clicked breadcrumb."""
    view = view_from_store(query)
    trigger = ctx.triggered_id
    if isinstance(trigger, dict):
        if not ctx.triggered[0].get("value"):
            raise PreventUpdate  # the breadcrumb was just (re)rendered, not clicked
        code = trigger["code"] or None
    else:
        code = clicked_code(bar_click if trigger == ids.BL_AGEING else map_click)
    target = drill_to(view, code)
    if target == view:
        raise PreventUpdate
    return "?" + to_query(target)


def _drill_from_map(click: Any, query: str | None) -> str:
    view = view_from_store(query)
    target = drill_to(view, clicked_code(click))
    if target == view:
        raise PreventUpdate
    return "?" + to_query(target)


# One callback per page: Dash fires a callback only when all of its inputs are on the page shown.
@callback(
    Output(ids.URL, "search", allow_duplicate=True),
    Input(ids.OV_MAP, "clickData"),
    State(ids.VIEW, "data"),
    prevent_initial_call=True,
)
def drill_overview_map(click: Any, query: str | None) -> str:
    """The overview one level down at the clicked map area (the page stays the overview)."""
    return _drill_from_map(click, query)


@callback(
    Output(ids.URL, "search", allow_duplicate=True),
    Input(ids.PT_MAP, "clickData"),
    State(ids.VIEW, "data"),
    prevent_initial_call=True,
)
def drill_patrol_map(click: Any, query: str | None) -> str:
    """The patrol page one level down at the clicked map area."""
    return _drill_from_map(click, query)
