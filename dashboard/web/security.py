"""Hardening of the HTTP surface: security headers, a guard for Dash's callback endpoint, limits, audit.

Installed by the app factory with :func:`install_security` (one call, after the blueprints):

* every answer carries a Content-Security-Policy that Dash works with (scripts from the app itself and
  Dash's own inline scripts by hash, no ``'unsafe-eval'``), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: same-origin`` (the layout request reads its page's Referer, so not ``no-referrer``)
  and ``X-Frame-Options: DENY``; answers under /api, /download and /export are never cached;
* ``POST /_dash-update-component`` is checked before Dash sees it: size (1 MB), JSON, shape, a known
  server-side callback and inputs/state that match its declaration (the event list's cursor field by
  field: :func:`dashboard.core.eventlist.cursor_problem`). Anything else answers 4xx JSON;
* every callback that passes runs within a time budget (``DASHBOARD_CALLBACK_BUDGET_MS``,
  :mod:`dashboard.core.budget`): its source queries share what is left of it as their statement
  timeout, and one that runs out answers 503 ``over_budget``;
* errors answer short JSON (or plain text for pages), never a traceback or a path: the handlers are
  :mod:`dashboard.web.errors`, registered by the app factory;
* exports (/export/* and the export button) and CSV downloads are limited per client address
  (sliding minute) and answer 429 with ``Retry-After`` beyond it; an export that finds every slot of
  the deployment's export queue taken (:mod:`dashboard.export.queue`) answers 429 too; each one that
  was served is written to the audit log of the state store (actor: the signed-in user or kiosk and the
  client address).

Limits can be changed per app through ``server.config`` (``SECURITY_EXPORTS_PER_MINUTE`` ...).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.core.budget import BudgetExceeded, close_budget, open_budget
from dashboard.core.eventlist import MAX_PAGE, cursor_problem
from dashboard.core.settings import Settings
from dashboard.export.queue import ExportBusy
from dashboard.web.audit import audit, viewer_label
from dashboard.web.errors import json_error
from dashboard.web.limits import LocalRateLimiter, SharedRateLimiter, make_limiter
from layouts import ids

log = logging.getLogger(__name__)

DASH_UPDATE_PATH = "/_dash-update-component"
MAX_CALLBACK_BODY = 1024 * 1024  # bytes; the largest real request (wall, 40 outputs) is a few KB
EXPORTS_PER_MINUTE = 10  # per client address, PPTX/PDF/PNG together (HTTP and the export button)
DOWNLOADS_PER_MINUTE = 30  # per client address, CSV downloads
WINDOW_SECONDS = 60.0
NO_STORE_PREFIXES = ("/api/", "/download/", "/export/", "/briefings/", "/health")
BLUEPRINT_PREFIXES = ("/api/", "/download/", "/export/")  # served by our blueprints, never by Dash's pages
EXPORT_OUTPUT = f"{ids.EXPORT_DOWNLOAD}.data"  # the export button's callback (callbacks/export.py)
EXPORT_CLICK = f'"type":"{ids.EXPORT_TYPE}"'  # in the changed property id of an export button

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def content_security_policy(script_hashes: list[str]) -> str:
    """The policy: only this origin, Dash's inline scripts by hash, inline styles (Dash needs them)."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


# The per-process limiter; install_security shares counts through Redis when the cache is Redis.
RateLimiter = LocalRateLimiter


def _client() -> str:
    # The direct peer. Behind a reverse proxy, configure werkzeug's ProxyFix so this is the real client.
    return (request.remote_addr or "unknown")[:128]


# --------------------------------------------------------------------------------------------------
# The callback guard


class CallbackRequestError(ValueError):
    """A request to /_dash-update-component that no Dash front end would send."""


def layout_ids(layout: Any) -> dict[str, list[dict[str, Any]]]:
    """The pattern-matching ids present in ``layout``, grouped by their ``type`` (e.g. the export
    buttons' formats). Ids made by callbacks at run time (breadcrumbs) are absent and not restricted."""
    found: dict[str, list[dict[str, Any]]] = {}
    stack = [layout]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        component_id = getattr(node, "id", None)
        if isinstance(component_id, dict) and "type" in component_id:
            found.setdefault(str(component_id["type"]), []).append(component_id)
        elif isinstance(component_id, str) and getattr(node, "multi", None) is True:
            found.setdefault(MULTI, []).append({"id": component_id})  # multi-select dropdowns
        children = getattr(node, "children", None)
        if children is not None and not isinstance(children, str | int | float):
            stack.append(children)
    return found


def _check_id(item: Any, spec_id: Any, where: str, known: dict[str, list[dict[str, Any]]]) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("property"), str):
        raise CallbackRequestError(f"{where}: expected an object with id and property")
    if isinstance(spec_id, dict):  # a pattern-matching id: same keys, fixed values equal
        got = item.get("id")
        if not isinstance(got, dict) or set(got) != set(spec_id):
            raise CallbackRequestError(f"{where}: id does not match the callback")
        for key, expected in spec_id.items():
            if isinstance(expected, list | tuple):  # ALL / MATCH / ALLSMALLER wildcard
                if not isinstance(got[key], str | int | float | bool) or got[key] is None:
                    raise CallbackRequestError(f"{where}: bad value for id key {key!r}")
            elif got[key] != expected:
                raise CallbackRequestError(f"{where}: id does not match the callback")
        instances = known.get(str(spec_id.get("type")))
        if instances and got not in instances:
            raise CallbackRequestError(f"{where}: unknown component id")
    elif item.get("id") != spec_id:
        raise CallbackRequestError(f"{where}: unknown component id")


# What the browser can send for the properties the callbacks read. A value of another JSON type did
# not come from our pages; the callback would fail on it, so it is refused with 400 first.
MAX_TEXT = 8192
MULTI = "\0multi"  # key of the multi-select components in layout_ids()


def _is_text(value: Any) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= MAX_TEXT)


def _is_count(value: Any) -> bool:
    return value is None or (type(value) is int and 0 <= value <= 10**9)


def _is_scalar(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _is_sort_by(value: Any) -> bool:
    return value is None or (
        isinstance(value, list)
        and len(value) <= 10
        and all(
            isinstance(s, dict)
            and isinstance(s.get("column_id"), str)
            and s.get("direction") in {"asc", "desc"}
            for s in value
        )
    )


def _is_value(value: Any) -> bool:  # dropdowns, radio items, inputs: every option value is a string
    if isinstance(value, list):
        return len(value) <= 1000 and all(isinstance(v, str) and len(v) <= 200 for v in value)
    return _is_text(value)


def _is_cursor(value: Any) -> bool:  # the event list's keyset cursor (callbacks/events.py)
    # Every field is checked against the order it was made for: a forged keyset (a malformed or naive
    # date, a number where a code belongs, a missing page) would otherwise fail inside the query: 500.
    return cursor_problem(value) is None


def _is_saved(value: Any) -> bool:  # the wall's copy in local storage (callbacks/wall.py)
    return value is None or (
        isinstance(value, dict)
        and isinstance(value.get("snapshot"), dict)
        and _is_text(value.get("computed_at"))
        and _is_text(value.get("query"))
    )


PROPERTY_CHECKS: dict[str, Callable[[Any], bool]] = {
    "n_clicks": _is_count,
    "n_intervals": _is_count,
    "page_current": lambda v: _is_count(v) and (v is None or v <= MAX_PAGE),
    "sort_by": _is_sort_by,
    "clickData": lambda v: v is None or isinstance(v, dict),
    "value": _is_value,
    "pathname": lambda v: v is None or (_is_text(v) and v.startswith("/")),  # location.pathname
    "search": _is_text,
    "hash": _is_text,
    "href": _is_text,
    "date": _is_text,
    "start_date": _is_text,
    "end_date": _is_text,
    "id": lambda v: isinstance(v, str | dict),
}
STORE_CHECKS: dict[str, Callable[[Any], bool]] = {
    ids.VIEW: _is_text,
    ids.VIEW_ERROR: _is_text,  # the message of a bad link
    ids.EV_CURSOR: _is_cursor,
    ids.AL_CSRF: _is_text,  # the 告警 page's CSRF token (callbacks/alerts.py)
    ids.AL_DONE: _is_count,
    ids.AL_RULES_DONE: _is_count,
    ids.BR_CSRF: _is_text,  # the 简报 page's CSRF token (callbacks/briefings.py)
    ids.BR_DONE: _is_count,
    ids.WALL_SAVED: _is_saved,
    ids.WALL_SCALE: lambda v: (
        v is None or (isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 20)
    ),
    ids.WALL_PAGES: lambda v: v is None or (isinstance(v, list) and all(isinstance(p, str) for p in v)),
    ids.WALL_NEED_LOCAL: lambda v: v is None or isinstance(v, bool),
    ids.WALL_PULSE: _is_count,
    ids.WALL_WIDE: lambda v: v is None or isinstance(v, bool),
}


def _value_ok(component: Any, prop: str, value: Any, known: dict[str, list[dict[str, Any]]]) -> bool:
    if prop == "value" and not isinstance(value, list | None) and {"id": component} in known.get(MULTI, []):
        return False  # a multi-select sends a list
    if prop == "value" and isinstance(value, list) and {"id": component} not in known.get(MULTI, []):
        return False  # single-valued inputs send one string
    if prop == "data" and isinstance(component, str):
        check = STORE_CHECKS.get(component) or (_is_text if component.endswith("-key") else None)
    else:
        check = PROPERTY_CHECKS.get(prop)
    return check is None or check(value)


def _spec_id(raw: str) -> Any:
    if raw.startswith("{"):
        return json.loads(raw)
    return raw


def _check_dependencies(
    items: Any, specs: list[dict[str, Any]], kind: str, known: dict[str, list[dict[str, Any]]]
) -> None:
    if not isinstance(items, list) or len(items) != len(specs):
        raise CallbackRequestError(f"{kind}: expected a list of {len(specs)}")
    for index, (item, spec) in enumerate(zip(items, specs, strict=True)):
        spec_id = _spec_id(spec["id"])
        where = f"{kind}[{index}]"
        if isinstance(spec_id, dict) and isinstance(item, list):  # ALL: one entry per matching component
            if len(item) > 1000:
                raise CallbackRequestError(f"{where}: too many components")
            entries = item
        else:
            entries = [item]
        for entry in entries:
            _check_id(entry, spec_id, where, known)
            if entry["property"] != spec["property"]:
                raise CallbackRequestError(f"{where}: unknown property")
            if not _value_ok(entry.get("id"), entry["property"], entry.get("value"), known):
                raise CallbackRequestError(f"{where}: unexpected value for {entry['property']}")


def _output_count(output: str) -> int:
    return len(output[2:-2].split("...")) if output.startswith("..") and output.endswith("..") else 1


def check_callback_body(
    body: Any, callback_map: dict[str, Any], known: dict[str, list[dict[str, Any]]] | None = None
) -> dict[str, Any]:
    """The callback entry for ``body``, or CallbackRequestError saying what is wrong with it."""
    if not isinstance(body, dict):
        raise CallbackRequestError("body: expected a JSON object")
    output = body.get("output")
    if not isinstance(output, str):
        raise CallbackRequestError("output: expected a string")
    entry = callback_map.get(output)
    if entry is None or "callback" not in entry:  # unknown, or a clientside-only callback
        raise CallbackRequestError("output: unknown callback")
    outputs = body.get("outputs")
    count = _output_count(output)
    if count == 1 and isinstance(outputs, list) and not output.startswith("{"):
        # Only a wildcard output (a pattern-matching id) comes as a list; Dash fails on any other (500).
        raise CallbackRequestError("outputs: expected an object with id and property")
    if count > 1 or isinstance(outputs, list):
        if not isinstance(outputs, list) or (count > 1 and len(outputs) != count):
            raise CallbackRequestError(f"outputs: expected a list of {count}")
        flat = [o for out in outputs for o in (out if isinstance(out, list) else [out])]
    else:
        flat = [outputs]
    for index, out in enumerate(flat):
        if not isinstance(out, dict) or not isinstance(out.get("property"), str):
            raise CallbackRequestError(f"outputs[{index}]: expected an object with id and property")
        if not isinstance(out.get("id"), str | dict):
            raise CallbackRequestError(f"outputs[{index}]: bad id")
    _check_dependencies(body.get("inputs"), entry.get("inputs", []), "inputs", known or {})
    _check_dependencies(body.get("state", []), entry.get("state", []), "state", known or {})
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        raise CallbackRequestError("changedPropIds: expected a list of strings")
    return entry  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# Installation


def install_security(app: Any, settings: Any = None) -> None:
    """Install headers, the callback guard, limits and the audit log on a Dash app."""
    server: Flask = app.server
    server.config.setdefault("SECURITY_EXPORTS_PER_MINUTE", EXPORTS_PER_MINUTE)
    server.config.setdefault("SECURITY_DOWNLOADS_PER_MINUTE", DOWNLOADS_PER_MINUTE)
    server.config.setdefault("SECURITY_MAX_CALLBACK_BODY", MAX_CALLBACK_BODY)
    budget_ms = getattr(settings, "CALLBACK_BUDGET_MS", None) or Settings().CALLBACK_BUDGET_MS
    server.config.setdefault("SECURITY_CALLBACK_BUDGET_MS", int(budget_ms))
    server.register_error_handler(BudgetExceeded, over_budget)
    server.register_error_handler(ExportBusy, exports_busy)
    limiters: dict[str, LocalRateLimiter | SharedRateLimiter] = {}
    cache_url = str(getattr(settings, "CACHE_URL", "") or "")
    csp_cache: dict[str, Any] = {"key": None, "value": ""}
    known_ids: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def limiter(kind: str) -> LocalRateLimiter | SharedRateLimiter:
        name = "SECURITY_EXPORTS_PER_MINUTE" if kind == "export" else "SECURITY_DOWNLOADS_PER_MINUTE"
        limit = int(server.config[name])
        found = limiters.get(kind)
        if found is None or found.limit != limit:
            # Shared by every worker and machine through Redis when the cache is Redis.
            found = limiters[kind] = make_limiter(limit, WINDOW_SECONDS, cache_url=cache_url, name=kind)
        return found

    def csp() -> str:
        from dash import _callback

        key = (len(app._inline_scripts), len(_callback.GLOBAL_INLINE_SCRIPTS))
        if key != csp_cache["key"]:
            hashes = list(app.csp_hashes())  # moves pending inline scripts into the app's list
            csp_cache["key"] = (len(app._inline_scripts), len(_callback.GLOBAL_INLINE_SCRIPTS))
            csp_cache["value"] = content_security_policy(hashes)
        return str(csp_cache["value"])

    def limited(kind: str) -> Response | None:
        retry = limiter(kind).take(_client())
        if retry is None:
            g.security_limited = kind
            return None
        message = "too many exports, try again later" if kind == "export" else "too many downloads"
        response = json_error(message, 429, retry_after=int(retry + 0.999))
        response.headers["Retry-After"] = str(int(retry + 0.999))
        return response

    @server.before_request
    def _guard() -> Response | None:
        path = request.path
        if path.startswith(BLUEPRINT_PREFIXES) and request.url_rule is not None and request.blueprint is None:
            # Dash's page catch-all would answer these with the app's HTML and 200.
            return json_error("not found", 404)
        if path.startswith("/export/"):
            return limited("export")
        if path.startswith("/download/"):
            return limited("download")
        if path == DASH_UPDATE_PATH:
            return _guard_callback() if request.method == "POST" else json_error("method not allowed", 405)
        return None

    def _guard_callback() -> Response | None:
        request.max_content_length = int(server.config["SECURITY_MAX_CALLBACK_BODY"])
        if request.mimetype != "application/json":
            return json_error("expected application/json", 415)
        try:
            raw = request.get_data(cache=True)
        except RequestEntityTooLarge:
            return json_error("request body too large", 413)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return json_error("malformed JSON", 400)
        try:
            if "ids" not in known_ids:
                known_ids["ids"] = layout_ids(app.validation_layout)
            check_callback_body(body, app.callback_map, known_ids["ids"])
        except CallbackRequestError as exc:
            return json_error(str(exc), 400)
        except RecursionError:
            return json_error("malformed request", 400)
        # From here the callback runs on a clock: its source queries share what is left of the budget.
        g.security_budget = open_budget(int(server.config["SECURITY_CALLBACK_BUDGET_MS"]))
        if EXPORT_OUTPUT in body["output"] and _export_clicked(body):
            g.security_export_body = body
            return limited("export")
        return None

    @server.teardown_request
    def _end_budget(_exc: BaseException | None) -> None:
        token = g.pop("security_budget", None)
        if token is not None:
            close_budget(token)

    @server.after_request
    def _headers(response: Response) -> Response:
        for name, value in STATIC_HEADERS.items():
            response.headers.setdefault(name, value)
        try:
            response.headers.setdefault("Content-Security-Policy", csp())
        except Exception:  # never fail an answer because of the header; the strict default applies
            log.exception("could not compute the CSP hashes")
            response.headers.setdefault("Content-Security-Policy", content_security_policy([]))
        if request.path.startswith(NO_STORE_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        kind = g.pop("security_limited", None)
        if kind is not None:
            if 400 <= response.status_code < 500 or not _delivered(response):
                limiter(kind).give_back(_client())  # a cheap refusal does not count
            elif response.status_code < 300:
                _audit(kind)
        return response

    def _delivered(response: Response) -> bool:
        """False for the export button's answers without a file (PreventUpdate, an export error)."""
        if g.get("security_export_body") is None:
            return True
        return response.status_code == 200 and f'"{ids.EXPORT_DOWNLOAD}"'.encode() in response.get_data()

    def _audit(kind: str) -> None:
        body = g.pop("security_export_body", None)
        if body is not None:
            action, detail = "export", _export_detail(body)
        elif kind == "export":
            action, detail = "export", request.full_path.rstrip("?")
        else:
            action, detail = "download_csv", request.full_path.rstrip("?")
        audit(action, viewer_label(), detail)  # never fails the answer: the file is already made


def over_budget(exc: BudgetExceeded) -> Response:
    """503 for a callback whose source queries ran out of its time budget (the thread is free again)."""
    seconds = f"{exc.budget_ms / 1000:g}"
    log.warning("callback %s stopped: over its budget of %s ms", request.path, exc.budget_ms)
    message = f"查询超过 {seconds} 秒，已停止，请缩小范围 / took longer than {seconds} s and was stopped"
    return _json_answer({"error": "over_budget", "message": message, "budget_ms": exc.budget_ms}, 503)


def exports_busy(exc: ExportBusy) -> Response:
    """429 with ``Retry-After`` when every export slot of the deployment is taken (the export button)."""
    response = _json_answer({"error": "busy", "message": str(exc), "retry_after": exc.retry_after}, 429)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _json_answer(body: dict[str, Any], status: int) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _export_clicked(body: dict[str, Any]) -> bool:
    return any(isinstance(c, str) and EXPORT_CLICK in c for c in body.get("changedPropIds", []))


def _export_detail(body: dict[str, Any]) -> str:
    changed = next((c for c in body.get("changedPropIds", []) if EXPORT_CLICK in c), "")
    fmt = changed.split('"format":"', 1)[-1].split('"', 1)[0] if '"format":"' in changed else "?"
    state = {s.get("id"): s.get("value") for s in body.get("state", []) if isinstance(s, dict) and "id" in s}
    view, page = state.get(ids.VIEW), state.get(ids.URL)
    return f"button {fmt} page={page} view={view if isinstance(view, str) else ''}"
