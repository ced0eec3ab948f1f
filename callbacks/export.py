"""The export buttons: the deck (PPTX, PDF) of the page on screen, or a PNG of its main panel."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from callbacks.filters import view_from_store
from dashboard.web.context import ExportBusy, ExportError, app_context
from layouts import ids
from layouts.shell import PAGE_PATHS

# Which deck pages and which PNG panel belong to each browser page.
PAGE_EXPORT = {
    PAGE_PATHS["overview"]: ("overview", "trend_90d"),
    PAGE_PATHS["backlog"]: ("backlog", "backlog_map"),
    PAGE_PATHS["patrol"]: ("patrol", "patrol_map"),
    PAGE_PATHS["trends"]: ("trends", "trend_period"),
    PAGE_PATHS["rankings"]: ("rankings", "backlog_ageing"),
    PAGE_PATHS["events"]: ("overview", "trend_90d"),
    PAGE_PATHS["alerts"]: ("overview", "trend_90d"),
    PAGE_PATHS["briefings"]: ("overview", "trend_90d"),
}


@callback(
    Output(ids.EXPORT_DOWNLOAD, "data"),
    Output(ids.EXPORT_STATUS, "children"),
    Input({"type": ids.EXPORT_TYPE, "format": ALL}, "n_clicks"),
    State(ids.VIEW, "data"),
    State(ids.URL, "pathname"),
    prevent_initial_call=True,
)
def export_current_view(clicks: list[int | None], query: str | None, pathname: str | None) -> tuple[Any, str]:
    """Build the file in this request (dcc.Loading shows progress) and hand it to the browser.

    A full export queue is said on the page, beside the button: Dash's front end shows nothing for a
    callback answered with an HTTP error, so a 429 here would make the click silently do nothing.
    """
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    fmt = ctx.triggered_id["format"]
    view = view_from_store(query)
    page, panel = PAGE_EXPORT.get(pathname or "/", PAGE_EXPORT["/"])
    context = app_context()
    try:
        payload, filename, _mime = context.export(view, fmt, pages=[page], panel=panel, scope=context.scope())
    except ExportError as err:
        return no_update, str(err)
    except ExportBusy as busy:  # every slot of the deployment's queue is taken: say when to try again
        return no_update, str(busy)
    return dcc.send_bytes(payload, filename), ""
