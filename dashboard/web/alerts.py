"""The alerts' JSON API: list them, take one on (认领), close one with a note (处置).

``GET /api/v1/alerts`` lists the caller's towns' alerts (open ones and those closed lately, or those open
at ``as_of``). ``POST /api/v1/alerts/<id>/ack`` and ``…/close`` change one; they are the only writing
API endpoints, so they are guarded like the sign-out form: the CSRF token bound to the session cookie
(in the ``X-CSRFToken`` header; the list hands it out as ``csrf_token``, readable only by this site's
own pages and scripts), ``application/json`` bodies only, and the viewer's role and towns
(:func:`dashboard.core.scope.may_act_on_alert`). Every step is audited by the alert book.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from dashboard.core.scope import Viewer, may_act_on_alert
from dashboard.core.viewstate import ViewState, ViewStateError, parse_instant, parse_query
from dashboard.service.alerts import Alert, AlertConflict, AlertNotFound, AlertRefused
from dashboard.web.api import bad_parameter, json_response, refuse_non_json
from dashboard.web.audit import viewer_label
from dashboard.web.context import app_context
from dashboard.web.signin import sign_out_token

alerts_api = Blueprint("alerts_api", __name__)
alerts_api.register_error_handler(ViewStateError, bad_parameter)

STATUSES = ("", "open", "closed", "all")


@alerts_api.get("/api/v1/alerts")
def list_alerts() -> Response:
    """The caller's towns' alerts: ``status`` (open | closed | all), ``town``, ``since``, ``as_of``."""
    context = app_context()
    viewer = context.viewer()
    now = context.now()
    args = request.args
    status = args.get("status", "").strip().lower()
    if status not in STATUSES:
        raise ViewStateError("status", "must be open, closed or all")
    towns = _towns(viewer, args.get("town", ""))
    since = parse_instant(args["since"], param="since") if args.get("since") else None
    as_of = parse_instant(args["as_of"], param="as_of") if args.get("as_of") else None
    found = context.alert_book.alerts(now, towns=towns, status=status, since=since, as_of=as_of)
    return json_response(
        {
            "alerts": [_alert_dict(a, viewer, as_of) for a in found],
            "as_of": as_of.isoformat() if as_of else None,
            "now": now.isoformat(),
            "csrf_token": sign_out_token(),  # for the POSTs below (None when nobody signs in)
        }
    )


def _towns(viewer: Viewer, text: str) -> frozenset[str] | None:
    """The towns asked for within the viewer's (a town outside them: 403); None: the whole district."""
    asked = parse_query({"town": [text]}).towns if text.strip() else ()
    if not asked and viewer.towns is None:
        return None
    return frozenset(viewer.scope.apply(ViewState(towns=asked)).towns)


def _alert_dict(alert: Alert, viewer: Viewer, as_of: Any) -> dict[str, Any]:
    data = alert.to_dict(as_of)
    data["may_act"] = alert.closed_at is None and may_act_on_alert(viewer.role, viewer.towns, alert.town_code)
    return data


@alerts_api.post("/api/v1/alerts/<int:alert_id>/ack")
def ack(alert_id: int) -> Response:
    """Take the alert on (认领)."""
    refused = refuse_non_json()
    if refused is not None:
        return refused
    context = app_context()
    return _answer(
        lambda: context.alert_book.ack(alert_id, context.viewer(), viewer_label(), context.now()),
        alert_id,
    )


@alerts_api.post("/api/v1/alerts/<int:alert_id>/close")
def close(alert_id: int) -> Response:
    """Close the alert with ``{"note": "what was done"}`` (处置)."""
    refused = refuse_non_json()
    if refused is not None:
        return refused
    body = request.get_json(silent=True)
    note = body.get("note") if isinstance(body, dict) else None
    if not isinstance(note, str):
        return json_response({"error": "the body must be a JSON object with a note", "param": "note"}, 400)
    context = app_context()
    return _answer(
        lambda: context.alert_book.close(alert_id, context.viewer(), viewer_label(), note, context.now()),
        alert_id,
    )


ID_LIMIT = 2**63  # no database integer is larger: such an id names no alert (not an overflow error)


def _answer(step: Any, alert_id: int) -> Response:
    if not 0 < alert_id < ID_LIMIT:
        return json_response({"error": f"no alert {alert_id}"}, 404)
    try:
        alert = step()
    except AlertNotFound as exc:
        return json_response({"error": str(exc)}, 404)
    except AlertRefused as exc:
        return json_response({"error": str(exc)}, 403)
    except AlertConflict as exc:
        return json_response({"error": str(exc)}, 409)
    except ValueError as exc:
        return json_response({"error": str(exc), "param": "note"}, 400)
    return json_response({"alert": alert.to_dict()})
