"""The export buttons: the deck (PPTX, PDF) of the page on screen, or a PNG of its main panel."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from callbacks.filters import view_from_store
from dashboard.web.accounts import current_scope

# Which deck pages and which PNG panel belong to each browser page.
PAGE_EXPORT = {
    "/": ("overview", "trend_90d"),
    "/backlog": ("backlog", "backlog_map"),
    "/patrol": ("patrol", "patrol_map"),
    "/trends": ("trends", "trend_period"),
    "/rankings": ("rankings", "backlog_ageing"),
    "/events": ("overview", "trend_90d"),
}


@callback(
    Output("export-download", "data"),
    Output("export-status", "children"),
    Input({"type": "export", "format": ALL}, "n_clicks"),
    State("view", "data"),
    State("url", "pathname"),
    prevent_initial_call=True,
)
def export_current_view(clicks: list[int | None], query: str | None, pathname: str | None) -> tuple[Any, str]:
    """Build the file in this request (dcc.Loading shows progress) and hand it to the browser."""
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    from flask import current_app

    from dashboard.export.common import ExportError
    from dashboard.export.exporter import export_view

    fmt = ctx.triggered_id["format"]
    view = view_from_store(query)
    page, panel = PAGE_EXPORT.get(pathname or "/", PAGE_EXPORT["/"])
    service = current_app.extensions["dashboard_service"]
    units = current_app.extensions["dashboard_units"]
    try:
        payload, filename, _mime = export_view(
            service, units.geojson, view, fmt, pages=[page], panel=panel, scope=current_scope()
        )
    except ExportError as err:
        return no_update, str(err)
    return dcc.send_bytes(payload, filename), ""
