"""``/export/*``: the current view as a download, for the browser's export button and for scripts.

    GET /export/deck.pptx?<view state>&pages=overview,backlog
    GET /export/deck.pdf?<view state>&pages=...
    GET /export/panel.png?<view state>&panel=backlog_map&width=1600&height=900

The view parameters follow the one view-state grammar (:func:`dashboard.core.viewstate.parse_query`); the
export-only parameters are taken out first and checked here. A bad parameter answers 400 with JSON
naming it. An export holds a LibreOffice or Chromium for seconds, so it waits for nothing: it takes a
slot of the deployment's one export queue (:mod:`dashboard.export.queue`, shared with the export button
and the command line) or answers 429 with ``Retry-After`` instead of piling up work.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from dashboard.core.viewstate import ViewState, parse_query
from dashboard.export.common import PNG_SIZE, ExportError, check_panel, parse_pages, png_size
from dashboard.web.context import ExportBusy, app_context

EXPORT_ONLY = ("pages", "panel", "width", "height")

export_blueprint = Blueprint("export", __name__, url_prefix="/export")


@export_blueprint.get("/deck.pptx")
def deck_pptx() -> Any:
    """The slide deck of the view (native, editable charts and tables)."""
    return answer("pptx")


@export_blueprint.get("/deck.pdf")
def deck_pdf() -> Any:
    """The same deck as PDF (needs LibreOffice on the server)."""
    return answer("pdf")


@export_blueprint.get("/panel.png")
def panel_png() -> Any:
    """One chart or map of the view as a PNG picture."""
    return answer("png")


def bad_request(exc: ValueError) -> tuple[Any, int]:
    """400 naming the parameter: ViewStateError carries it, our own messages start with it."""
    param = getattr(exc, "param", None) or str(exc).split(":", 1)[0].strip()
    return jsonify({"error": "bad_parameter", "param": param, "message": str(exc)}), 400


def split_query(fmt: str) -> tuple[ViewState, dict[str, Any]]:
    """The view (from the view parameters) and the checked export-only parameters."""
    args = request.args
    view_params = {k: args.getlist(k) for k in args if k not in EXPORT_ONLY}
    view = parse_query(view_params, now=app_context().now())
    if fmt != "png":
        for name in ("panel", "width", "height"):
            if name in args:
                raise ValueError(f"{name}: only for /export/panel.png")
        return view, {"pages": parse_pages(args.getlist("pages"))}
    if "pages" in args:
        raise ValueError("pages: only for the decks (/export/deck.pptx, /export/deck.pdf)")
    return view, {
        "panel": check_panel(args.get("panel")),
        "width": png_size("width", args.get("width"), PNG_SIZE[0]),
        "height": png_size("height", args.get("height"), PNG_SIZE[1]),
    }


def answer(fmt: str) -> Any:
    try:
        view, extra = split_query(fmt)
    except ValueError as exc:
        return bad_request(exc)
    try:
        context = app_context()
        payload, filename, mimetype = context.export(view, fmt, scope=context.scope(), **extra)
    except ExportBusy as exc:  # every slot of the deployment's export queue is taken
        body = jsonify({"error": "busy", "message": str(exc)})
        return body, 429, {"Retry-After": str(exc.retry_after)}
    except PermissionError as exc:  # the service's ScopeError: towns outside what the caller may see
        return jsonify({"error": "forbidden", "param": getattr(exc, "param", None), "message": str(exc)}), 403
    except ValueError as exc:
        return bad_request(exc)
    except ExportError as exc:
        current_app.logger.warning("export %s failed: %s", fmt, exc)
        return jsonify({"error": "export_failed", "message": str(exc)}), 503
    response = Response(payload, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
