"""The HTTP JSON API: snapshots, metric definitions, health and the OpenAPI document.

A thin layer: parse the view state, ask the service, serialise. The blueprint holds no state: it asks
the app context (:mod:`dashboard.web.context`) for the service and the caller's scope. Bad parameters
answer 400 naming the parameter; nothing answers with a traceback (routing errors: :mod:`dashboard.web.errors`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from dashboard.briefings.deliver import failed_deliveries
from dashboard.core import jsontext
from dashboard.core.scope import ScopeError
from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewStateError, parse_query
from dashboard.web.context import app_context

log = logging.getLogger(__name__)

api = Blueprint("api", __name__)


def json_response(data: Any, status: int = 200) -> Response:
    """JSON with Chinese left readable (not \\u-escaped), never cached by browsers or proxies."""
    response = Response(jsontext.dump_bytes(data), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@api.get("/api/v1/snapshot")
def snapshot() -> Response:
    """The snapshot of the view named by the query string, plus freshness ``meta``."""
    context = app_context()
    query = request.query_string.decode("utf-8", errors="replace")
    view = parse_query(query, now=context.service.clock.now())
    scope = context.scope()  # the caller's towns (from sign-in; the whole district without it)
    result = context.snapshot(view, scope)
    if result.snapshot is None:  # source down and nothing good remembered for this view
        return json_response({"error": result.error or "no data", "meta": result.meta()}, 503)
    body = snapshot_body(result.snapshot, result.computed_at, scope.token())
    meta = jsontext.dump_bytes(result.meta())
    # One buffer per answer, the UTF-8 body copied once (no slice, no text to encode): an answer's few
    # hundred kB are one allocation, which the allocator hands back at once (core/runtime.py).
    response = Response(
        b"".join((memoryview(body)[:-1], b',"meta":', meta, b"}")), mimetype="application/json"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


_BODIES: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
_BODIES_LOCK = threading.Lock()
BODY_MEMORY = 16  # serialized snapshots kept per process (a few hundred kB each)


def snapshot_body(snapshot: Snapshot, computed_at: Any, scope_token: str) -> bytes:
    """The snapshot as UTF-8 JSON, serialized once per computed snapshot and process: a warm answer then
    costs a cache read and a copy, not a walk over every figure (most of a cache hit's time before)."""
    # What the service puts on a snapshot after its cache (the notes on the timeline, the alerts' taken-on
    # marks and ids) is part of the key: a note added did not show in the API until the data changed.
    asides = jsontext.dumps([snapshot.annotations, snapshot.alerts], sort_keys=True)
    key = (
        jsontext.dumps(snapshot.view, sort_keys=True),
        scope_token,
        snapshot.now,
        snapshot.data_version,
        str(computed_at),
        hashlib.sha1(asides.encode("utf-8"), usedforsecurity=False).hexdigest(),
    )
    with _BODIES_LOCK:
        body = _BODIES.get(key)
        if body is not None:
            _BODIES.move_to_end(key)
            return body
    body = jsontext.dump_bytes(snapshot.to_dict())
    with _BODIES_LOCK:
        _BODIES[key] = body
        while len(_BODIES) > BODY_MEMORY:
            _BODIES.popitem(last=False)
    return body


@api.get("/api/v1/metrics")
def metrics() -> Response:
    """Every metric's key, labels, unit, definition, direction and thresholds."""
    from dashboard.core.metrics import METRICS

    return json_response({"metrics": [_metric_dict(m) for m in METRICS.values()]})


def _metric_dict(metric: Any) -> dict[str, Any]:
    is_instance = dataclasses.is_dataclass(metric) and not isinstance(metric, type)
    data = dataclasses.asdict(metric) if is_instance else dict(vars(metric))
    data.pop("formula", None)  # how the counts combine: code, not part of the contract
    return data


@api.get("/health")
def health() -> Response:
    """200 when the source answers, 503 otherwise; the body says what works."""
    context = app_context()
    report = context.service.health()
    # A briefing a channel could not reach (mail relay, robot) is named here until a pass delivers it.
    failed = failed_deliveries(Path(context.settings.BRIEFINGS_DIR))
    shown = ("title", "channel", "error", "at")  # /health names no scope: the 简报 page filters by it
    report["briefings"] = {"failed_deliveries": [{k: f.get(k) for k in shown} for f in failed[:20]]}
    # Likewise an alert message that failed for good in the last day (dashboard/service/push.py).
    pushed = _alert_push_report(context)
    if pushed is not None:
        report["alerts"] = pushed
        failed = failed or pushed["failed_messages"]
    if failed and report["status"] == "ok":
        report["status"] = "degraded"
    return json_response(report, 200 if report["source"]["ok"] else 503)


def _alert_push_report(context: Any) -> dict[str, Any] | None:
    book = context.service.alert_book
    if book is None or book.push is None:
        return None
    try:
        since = context.now() - dt.timedelta(hours=24)
        return {"failed_messages": book.push.failed(since)[:20], "pending_messages": book.push.pending()}
    except Exception:  # the state store's own health says why
        log.exception("could not read the alerts' outbox")
        return None


@api.get("/api/v1/openapi.json")
def openapi() -> Response:
    from dashboard.web.openapi import openapi_document

    return json_response(openapi_document())


@api.errorhandler(ViewStateError)
def bad_parameter(exc: ViewStateError) -> Response:
    """A bad parameter's answer: 400 naming it, or 403 for towns outside the caller's (every JSON API's)."""
    status = 403 if isinstance(exc, ScopeError) else 400
    return json_response({"error": str(exc), "param": exc.param, "reason": exc.reason}, status)


def refuse_non_json() -> Response | None:
    """415 unless the body is ``application/json`` (the writing endpoints'); None when it is.

    A cross-site form cannot send application/json, and a cross-site script cannot without a CORS
    preflight this server never grants: a second guard besides the CSRF token."""
    if request.mimetype != "application/json":
        return json_response({"error": "expected application/json"}, 415)
    return None


@api.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):  # 404, 405 ...: keep their status, answer in JSON
        return json_response({"error": exc.description or exc.name}, exc.code or 500)
    log.exception("unhandled error in %s", request.path)
    return json_response({"error": "internal error"}, 500)
