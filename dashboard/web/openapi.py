"""The OpenAPI 3.1 description of the JSON API, built from the same enumerations the parser uses.

Generated rather than hand-written so a new category, source, department or period can never be
missing from it (served at ``/api/v1/openapi.json``).
"""

from __future__ import annotations

from typing import Any

from dashboard.core import domain
from dashboard.core.viewstate import EASTERN, LANGS, MAX_CUSTOM_YEARS, PERIODS

JSON = "application/json"


def _param(name: str, description: str, schema: dict[str, Any], *, explode: bool = False) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": False, "description": description}
    param["schema"] = schema
    if schema.get("type") == "array":
        param.update(style="form", explode=explode)
    return param


def _list_of(values: list[str]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string", "enum": values}}


def view_parameters() -> list[dict[str, Any]]:
    """The view-state query parameters with their enumerations."""
    town_values = sorted(t.code for t in domain.towns())
    return [
        _param(
            "town",
            "镇街: 9-digit code or name (城厢街道, 城厢, Chengxiang Jiedao); repeat or comma-separate. "
            "Absent: the whole district.",
            {"type": "array", "items": {"type": "string", "examples": town_values[:3]}},
        ),
        _param(
            "village",
            "村社: 12-digit code, inside the chosen town",
            {"type": "string", "pattern": r"^\d{12}$"},
        ),
        _param(
            "grid",
            "网格: 15-digit code, inside the chosen village",
            {"type": "string", "pattern": r"^\d{15}$"},
        ),
        _param("category", "Event category codes (repeatable)", _list_of(sorted(domain.CATEGORIES))),
        _param("source", "Event source codes (repeatable)", _list_of(sorted(domain.SOURCES))),
        _param("dept", "Department codes (repeatable)", _list_of(sorted(domain.DEPARTMENTS))),
        _param("period", "Aggregation period (default month)", {"type": "string", "enum": list(PERIODS)}),
        _param(
            "from",
            f"First day (YYYY-MM-DD, Asia/Shanghai) of period=custom; span at most {MAX_CUSTOM_YEARS} years",
            {"type": "string", "format": "date"},
        ),
        _param("to", "Last day (inclusive) of period=custom", {"type": "string", "format": "date"}),
        _param(
            "as_of",
            "Show the situation at this past instant (ISO 8601; +08:00 when no offset). Absent: live.",
            {"type": "string", "format": "date-time"},
        ),
        _param("lang", "Label language (default zh)", {"type": "string", "enum": list(LANGS)}),
        _param(
            "eastern",
            "Include the 大江东 streets (default include)",
            {"type": "string", "enum": list(EASTERN)},
        ),
    ]


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _components() -> dict[str, Any]:
    return {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string"},
                    "param": {"type": "string", "description": "the offending query parameter"},
                    "reason": {"type": "string"},
                },
            },
            "Meta": {
                "type": "object",
                "properties": {
                    "stale": {
                        "type": "boolean",
                        "description": "true: not a fresh computation for this request",
                    },
                    "age_seconds": {"type": ["number", "null"]},
                    "computed_at": {"type": ["string", "null"], "format": "date-time"},
                    "error": {
                        "type": ["string", "null"],
                        "description": "why the data is stale, if it failed",
                    },
                },
            },
            "Alert": _alert_schema(),
            "Annotation": _annotation_schema(),
            "Snapshot": {
                "type": "object",
                "description": "dashboard.core.snapshot.Snapshot: the whole situation for one view at one moment",
                "properties": {
                    "view": {"type": "object"},
                    "now": {"type": "string", "format": "date-time"},
                    "period_start": {"type": "string", "format": "date-time"},
                    "period_end": {"type": "string", "format": "date-time"},
                    "data_version": {"type": "string"},
                    "newest_data_at": {"type": ["string", "null"], "format": "date-time"},
                    "kpis": {"type": "object", "additionalProperties": {"type": "object"}},
                    "rankings": {"type": "object"},
                    "backlog": {"type": "object"},
                    "patrol": {"type": "object"},
                    "trends": {"type": "object"},
                    "ticker": {"type": "array", "items": {"type": "object"}},
                    "alerts": {"type": "array", "items": {"type": "object"}},
                    "annotations": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Annotation"},
                        "description": "notes on the timeline within the trends' window and the view's towns",
                    },
                    "meta": {"$ref": "#/components/schemas/Meta"},
                },
            },
        }
    }


ALERT_STATUSES = ["open", "acked", "closed"]


def _alert_schema() -> dict[str, Any]:
    instant = {"type": "string", "format": "date-time"}
    maybe_instant = {"type": ["string", "null"], "format": "date-time"}
    maybe_text = {"type": ["string", "null"]}
    return {
        "type": "object",
        "description": "One alert of the lifecycle: one per rule × unit from its first firing until it closes",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["surge", "overdue_growth"]},
            "level": {"type": "string", "enum": ["town", "grid"]},
            "unit_code": {"type": "string"},
            "town_code": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ALERT_STATUSES,
                "description": "open, acked (taken on, 认领) or closed; at as_of when given",
            },
            "opened_at": instant,
            "last_seen_at": {**instant, "description": "the last moment its condition held"},
            "count": {"type": "integer", "description": "the latest count"},
            "peak": {"type": "integer"},
            "threshold": {"type": "number"},
            "severity": {"type": "string", "enum": ["warn", "bad"], "description": "the worst seen"},
            "text_zh": {"type": "string"},
            "text_en": {"type": "string"},
            "acked_at": maybe_instant,
            "acked_by": maybe_text,
            "closed_at": maybe_instant,
            "closed_by": {**maybe_text, "description": "the person, or system after the hold"},
            "note": {**maybe_text, "description": "处置: what was done"},
            "may_act": {"type": "boolean", "description": "the caller may take it on or close it"},
        },
    }


def _alert_step(summary: str, operation: str, body: dict[str, Any] | None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "summary": summary,
        "operationId": operation,
        "description": "Needs the session's CSRF token in the X-CSRFToken header (`csrf_token` of "
        "GET /api/v1/alerts) and a JSON body.",
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "X-CSRFToken", "in": "header", "required": True, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": _json_response(
                "The alert after the step",
                {"type": "object", "properties": {"alert": {"$ref": "#/components/schemas/Alert"}}},
            ),
            "400": _error_response("No or a bad CSRF token, or (close) no note"),
            "403": _error_response("The caller's role or towns do not allow it"),
            "404": _error_response("No such alert"),
            "409": _error_response("Already taken on, or already closed"),
            "415": _error_response("The body is not application/json"),
        },
    }
    if body is not None:
        step["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    return step


def alert_paths() -> dict[str, Any]:
    """/api/v1/alerts and its two steps."""
    note = {
        "type": "object",
        "required": ["note"],
        "properties": {"note": {"type": "string", "maxLength": 2000}},
    }
    listing = {
        "type": "object",
        "properties": {
            "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
            "as_of": {"type": ["string", "null"], "format": "date-time"},
            "now": {"type": "string", "format": "date-time"},
            "csrf_token": {"type": ["string", "null"], "description": "for the POSTs; null without sign-in"},
        },
    }
    return {
        "/api/v1/alerts": {
            "get": {
                "summary": "The caller's towns' alerts: open ones first, then those closed lately",
                "operationId": "listAlerts",
                "parameters": [
                    _param(
                        "status",
                        "open (open or taken on), closed (closed since `since`), all; absent: open "
                        "ones and those closed since `since`",
                        {"type": "string", "enum": ["open", "closed", "all"]},
                    ),
                    _param(
                        "town", "镇街 code or name, comma-separated; within the caller's", {"type": "string"}
                    ),
                    _param(
                        "since",
                        "Closed alerts listed from this instant (ISO 8601; default a day ago)",
                        {"type": "string", "format": "date-time"},
                    ),
                    _param(
                        "as_of",
                        "The alerts open at this past instant (ISO 8601; +08:00 when no offset)",
                        {"type": "string", "format": "date-time"},
                    ),
                ],
                "responses": {
                    "200": _json_response("The alerts", listing),
                    "400": _error_response("A malformed parameter, named in `param`"),
                    "403": _error_response("A town outside the caller's"),
                },
            }
        },
        "/api/v1/alerts/{id}/ack": {"post": _alert_step("Take the alert on (认领)", "ackAlert", None)},
        "/api/v1/alerts/{id}/close": {
            "post": _alert_step("Close the alert with a note (处置)", "closeAlert", note)
        },
    }


def _annotation_schema() -> dict[str, Any]:
    instant = {"type": "string", "format": "date-time"}
    maybe_instant = {"type": ["string", "null"], "format": "date-time"}
    return {
        "type": "object",
        "description": "A note on the timeline: a moment (ends_at null) or a period, district-wide or for towns",
        "properties": {
            "id": {"type": "integer"},
            "starts_at": instant,
            "ends_at": {**maybe_instant, "description": "null: a moment"},
            "text": {"type": "string", "maxLength": 200},
            "towns": {
                "type": "array",
                "items": {"type": "string"},
                "description": "town codes; empty: district",
            },
            "created_at": instant,
            "created_by": {"type": "string"},
            "updated_at": maybe_instant,
            "updated_by": {"type": ["string", "null"]},
            "may_edit": {"type": "boolean", "description": "the caller may delete it (in the list only)"},
        },
    }


def annotation_paths() -> dict[str, Any]:
    """/api/v1/annotations: list, add, delete."""
    ref = {"$ref": "#/components/schemas/Annotation"}
    csrf = {"name": "X-CSRFToken", "in": "header", "required": True, "schema": {"type": "string"}}
    guarded = "Needs the session's CSRF token in the X-CSRFToken header (`csrf_token` of the list) and JSON."
    body = {
        "type": "object",
        "required": ["text", "starts_at"],
        "properties": {
            "text": {"type": "string", "maxLength": 200},
            "starts_at": {"type": "string", "format": "date-time"},
            "ends_at": {"type": ["string", "null"], "format": "date-time", "description": "absent: a moment"},
            "towns": {"type": "array", "items": {"type": "string"}, "description": "absent: the district"},
        },
    }
    refused = {
        "400": _error_response("No or a bad CSRF token, or a bad field, named in `param`"),
        "403": _error_response("The caller's role or towns do not allow it"),
        "415": _error_response("The body is not application/json"),
    }
    listing = {
        "type": "object",
        "properties": {
            "annotations": {"type": "array", "items": ref},
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "may_add": {"type": "boolean"},
            "csrf_token": {
                "type": ["string", "null"],
                "description": "for POST and DELETE; null without sign-in",
            },
        },
    }
    return {
        "/api/v1/annotations": {
            "get": {
                "summary": "Notes on the timeline touching [from, to): district-wide ones and the caller's towns'",
                "operationId": "listAnnotations",
                "parameters": [
                    _param("from", "Start (ISO 8601; default 91 days before `to`)", {"type": "string"}),
                    _param("to", "End, exclusive (ISO 8601; default now)", {"type": "string"}),
                    _param(
                        "town", "镇街 code or name, comma-separated; within the caller's", {"type": "string"}
                    ),
                ],
                "responses": {
                    "200": _json_response("The notes, oldest first", listing),
                    "400": _error_response("A malformed parameter, named in `param`"),
                    "403": _error_response("A town outside the caller's"),
                },
            },
            "post": {
                "summary": "Add a note on the timeline (audited)",
                "operationId": "addAnnotation",
                "description": guarded,
                "parameters": [csrf],
                "requestBody": {"required": True, "content": {JSON: {"schema": body}}},
                "responses": {
                    "201": _json_response("The note", {"type": "object", "properties": {"annotation": ref}}),
                    **refused,
                },
            },
        },
        "/api/v1/annotations/{id}": {
            "delete": {
                "summary": "Delete a note (audited, with what it said)",
                "operationId": "deleteAnnotation",
                "description": guarded,
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
                    csrf,
                ],
                "responses": {
                    "200": _json_response(
                        "The deleted note", {"type": "object", "properties": {"deleted": ref}}
                    ),
                    "404": _error_response("No such note"),
                    **refused,
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "萧山区一张网 situational-awareness API",
            "version": "1",
            "description": "Figures of the Xiaoshan 一张网 grid-governance database, read-only, and the "
            "alerts staff take on and close. Query parameters use the same view-state grammar as the "
            "dashboard URLs.",
        },
        "paths": {
            "/api/v1/snapshot": {
                "get": {
                    "summary": "The situation for one view (KPIs, rankings, backlog, patrol, trends, ticker)",
                    "operationId": "getSnapshot",
                    "parameters": view_parameters(),
                    "responses": {
                        "200": _json_response(
                            "The snapshot, with freshness meta", {"$ref": "#/components/schemas/Snapshot"}
                        ),
                        "400": _error_response("A malformed or unknown parameter, named in `param`"),
                        "403": _error_response("The view lies outside the towns the caller may see"),
                        "503": _error_response("The source is unreachable and no earlier snapshot exists"),
                    },
                }
            },
            **alert_paths(),
            **annotation_paths(),
            "/api/v1/metrics": {
                "get": {
                    "summary": "Definitions of every metric (labels, unit, definition, direction, thresholds)",
                    "operationId": "listMetrics",
                    "responses": {"200": _json_response("The metric registry", {"type": "object"})},
                }
            },
            "/api/v1/briefings": {
                "get": {
                    "summary": "The briefings' archive (日报 周汇总 月分析 季评估), newest first, within the caller's towns",
                    "operationId": "listBriefings",
                    "parameters": [
                        {
                            "name": "kind",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["day", "week", "month", "quarter"]},
                        }
                    ],
                    "responses": {
                        "200": _json_response(
                            "Each briefing with links to its PPTX and PDF", {"type": "object"}
                        ),
                        "400": _error_response("An unknown kind"),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Does the source answer, how old is its newest row, do cache and state work",
                    "operationId": "health",
                    "responses": {
                        "200": _json_response("The source answers", {"type": "object"}),
                        "503": _json_response("The source does not answer", {"type": "object"}),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {"200": _json_response("OpenAPI 3.1", {"type": "object"})},
                }
            },
        },
        "components": _components(),
    }
