"""File downloads over HTTP: the filtered event list as CSV (streamed)."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, jsonify, request, stream_with_context

from dashboard.core.scope import ScopeError
from dashboard.core.viewstate import ViewStateError, parse_query
from dashboard.source.eventlist import csv_rows
from dashboard.web.context import app_context

downloads = Blueprint("downloads", __name__)


@downloads.get("/download/events.csv")
def events_csv() -> Response:
    """``GET /download/events.csv?<view state>``: UTF-8 with BOM so Excel on Chinese Windows opens it."""
    try:
        view = parse_query(request.query_string.decode("utf-8", "replace"))
    except ViewStateError as err:
        response = jsonify({"error": err.reason, "param": err.param})
        response.status_code = 400
        return response
    context = app_context()
    viewer = context.viewer()
    try:
        view = viewer.scope.apply(view)  # refused here, before a single byte of the file is sent
    except ScopeError as err:
        response = jsonify({"error": "forbidden", "param": err.param, "reason": err.reason})
        response.status_code = 403
        return response
    engine = context.source_engine
    now = view.as_of or context.now()

    def generate() -> Iterator[str]:
        with engine.connect() as conn:
            yield from csv_rows(conn, view, now, viewer=viewer)

    stamp = now.strftime("%Y%m%d%H%M")
    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename=events-{stamp}.csv",
            "Cache-Control": "no-store",
        },
    )
