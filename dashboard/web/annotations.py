"""The annotations' JSON API: notes on the timeline (亚运会安保, a typhoon, a campaign).

``GET /api/v1/annotations?from=&to=&town=`` lists the notes touching [from, to) that the caller may see:
district-wide ones and those about the caller's towns (:func:`dashboard.service.annotations.visible`).
``POST /api/v1/annotations`` adds one and ``DELETE /api/v1/annotations/<id>`` removes one; they are
guarded like the alerts' steps (:mod:`dashboard.web.alerts`): the session's CSRF token in the
``X-CSRFToken`` header (the list hands it out as ``csrf_token``), ``application/json`` bodies, and the
caller's role and towns (:func:`dashboard.core.scope.may_annotate`). Every step is audited by the book.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, request

from dashboard.core.scope import ScopeError, may_annotate
from dashboard.core.viewstate import ViewStateError, parse_instant, parse_query
from dashboard.service.annotations import AnnotationNotFound, AnnotationRefused
from dashboard.web.api import bad_parameter, json_response, refuse_non_json
from dashboard.web.audit import viewer_label
from dashboard.web.context import app_context
from dashboard.web.signin import sign_out_token

annotations_api = Blueprint("annotations_api", __name__)
annotations_api.register_error_handler(ViewStateError, bad_parameter)

DEFAULT_SPAN = dt.timedelta(days=91)  # no ``from``: the 90-day trend's window


@annotations_api.get("/api/v1/annotations")
def list_annotations() -> Response:
    """The notes touching [``from``, ``to``) within the caller's towns (``town``: some of them)."""
    context = app_context()
    viewer = context.viewer()
    now = context.now()
    args = request.args
    end = parse_instant(args["to"], param="to") if args.get("to") else now
    start = parse_instant(args["from"], param="from") if args.get("from") else end - DEFAULT_SPAN
    if start >= end:
        raise ViewStateError("from", "must be before to")
    asked = parse_query({"town": [args["town"]]}).towns if args.get("town", "").strip() else ()
    towns = frozenset(asked) or viewer.towns
    if viewer.towns is not None and not (towns or frozenset()) <= viewer.towns:
        raise ScopeError("town", "outside the towns you may see")
    notes = context.annotations.between(start, end, towns)
    return json_response(
        {
            "annotations": [
                {**n.to_dict(), "may_edit": may_annotate(viewer.role, viewer.towns, n.towns)} for n in notes
            ],
            "from": start.isoformat(),
            "to": end.isoformat(),
            "may_add": viewer.role.alerts,
            "csrf_token": sign_out_token(),  # for the POST and DELETE below (None when nobody signs in)
        }
    )


@annotations_api.post("/api/v1/annotations")
def add_annotation() -> Response:
    """Add a note: ``{"text", "starts_at", "ends_at" (optional: a moment), "towns" (optional: district)}``."""
    refused = refuse_non_json()
    if refused is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return json_response({"error": "the body must be a JSON object", "param": "body"}, 400)
    text, starts, ends, towns = (
        body.get("text"),
        body.get("starts_at"),
        body.get("ends_at"),
        body.get("towns"),
    )
    if not isinstance(text, str):
        return json_response({"error": "a note needs a text", "param": "text"}, 400)
    if not isinstance(starts, str) or not (ends is None or isinstance(ends, str)):
        return json_response(
            {"error": "starts_at (and ends_at) as ISO 8601 times", "param": "starts_at"}, 400
        )
    if towns is not None and not (isinstance(towns, list) and all(isinstance(t, str) for t in towns)):
        return json_response({"error": "towns: a list of town names or codes", "param": "towns"}, 400)
    start = parse_instant(starts, param="starts_at")
    end = parse_instant(ends, param="ends_at") if ends else None
    codes = frozenset(parse_query({"town": [",".join(towns)]}).towns) if towns else frozenset()
    context = app_context()
    viewer = context.viewer()
    try:
        note = context.annotations.add(text, start, end, codes, viewer, viewer_label(), context.now())
    except AnnotationRefused as exc:
        return json_response({"error": str(exc)}, 403)
    except ValueError as exc:
        param, _, reason = str(exc).partition(": ")
        return json_response({"error": reason or str(exc), "param": param}, 400)
    return json_response({"annotation": note.to_dict()}, 201)


@annotations_api.delete("/api/v1/annotations/<int:note_id>")
def delete_annotation(note_id: int) -> Response:
    """Remove a note (the audit log keeps what it said)."""
    refused = refuse_non_json()
    if refused is not None:
        return refused
    context = app_context()
    try:
        note = context.annotations.delete(note_id, context.viewer(), viewer_label(), context.now())
    except AnnotationNotFound as exc:
        return json_response({"error": str(exc)}, 404)
    except AnnotationRefused as exc:
        return json_response({"error": str(exc)}, 403)
    return json_response({"deleted": note.to_dict()})
