"""The app's one set of error answers: short JSON for scripts, plain text for pages, never a traceback.

Registered by the app factory with :func:`install_error_handlers`. A path under :data:`JSON_PREFIXES`
(or a request that asks for JSON) gets ``{"error": ...}``; anything else a one-line text. Sign-in and
the request guard answer their own refusals with :func:`json_error`.
"""

from __future__ import annotations

import json
from typing import Any

from dash.exceptions import DependencyException
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, NotFound

from dashboard.core.scope import Unauthorized

# Paths whose callers are scripts or Dash's front end, never a person reading a page: they answer
# JSON, also when they fail or are refused. (/_reload-hash is Dash's hot-reload poll, debug mode only.)
JSON_PREFIXES = ("/api/", "/download/", "/export/", "/briefings/", "/_dash-", "/_reload-hash", "/health")
HANDLED = (400, 403, 404, 405, 413, 415, 429)


def json_error(message: str, status: int, **extra: Any) -> Response:
    """``{"error": message, **extra}`` with ``status``, never cached."""
    body = json.dumps({"error": message, **extra}, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def wants_json() -> bool:
    """Whether the current request's errors answer JSON (see :data:`JSON_PREFIXES`)."""
    return request.path.startswith(JSON_PREFIXES) or request.accept_mimetypes.best == "application/json"


def install_error_handlers(server: Flask) -> None:
    """Answer 4xx and 500 without internals, in JSON or plain text (see the module docstring)."""
    for code in HANDLED:
        server.register_error_handler(code, http_error)
    server.register_error_handler(500, internal_error)
    server.register_error_handler(DependencyException, not_found)
    # A callback asked for towns outside the viewer's (a forged update request), or has no viewer.
    server.register_error_handler(PermissionError, forbidden)


def http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    if wants_json():
        return json_error(exc.name.lower(), code)
    return Response(f"{code} {exc.name}\n", status=code, mimetype="text/plain")


def not_found(_exc: Exception) -> Response:
    """Dash's answer to /_dash-component-suites/<unknown library>/... is a plain 404."""
    return http_error(NotFound())


def forbidden(exc: Exception) -> Response:
    if isinstance(exc, Unauthorized):
        return json_error("unauthorized", 401)
    return json_error(f"forbidden: {exc}", 403)


def internal_error(_exc: Exception) -> Response:
    # Flask has already logged the traceback (app.logger); the client learns nothing about it.
    if wants_json():
        return json_error("internal error", 500)
    return Response("500 Internal Server Error\n", status=500, mimetype="text/plain")
