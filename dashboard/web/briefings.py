"""The briefings' archive over HTTP: ``GET /api/v1/briefings`` lists it, ``/briefings/<kind>/<period>/<file>``
downloads a file. Both are filtered to the caller's towns: a town user sees and fetches only briefings
whose scope lies within their towns (a district briefing is not theirs). Names in the path are checked
against the archive's own patterns before any file is touched.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, abort, redirect, request, send_file
from flask.typing import ResponseReturnValue

from dashboard.briefings.archive import list_archive, read_entry
from dashboard.briefings.kinds import KINDS, kind_of
from dashboard.web.api import json_response
from dashboard.web.context import app_context

briefings_blueprint = Blueprint("briefings", __name__)
PERIOD = re.compile(r"^\d{4}-(\d{2}-\d{2}|W\d{2}|\d{2}|Q[1-4])$")
FILE = re.compile(r"^(district|\d{9}(\+\d{9})*)-(zh|en)\.(pptx|pdf)$")
MIMETYPES = {
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "pdf": "application/pdf",
}


def _root() -> Path:
    return Path(app_context().settings.BRIEFINGS_DIR)


@briefings_blueprint.get("/api/v1/briefings")
def briefings() -> Response:
    """The archive, newest period first: kind, period, scope, language, title, files with their links."""
    kind = request.args.get("kind")
    if kind:
        try:
            kind = kind_of(kind).key
        except ValueError as exc:
            return json_response({"error": str(exc), "param": "kind"}, 400)
    towns = app_context().scope().towns
    entries = list_archive(_root(), towns=towns, kind=kind)
    return json_response(
        {
            "briefings": [
                {
                    "kind": e.kind,
                    "period": e.period,
                    "first_day": e.first_day,
                    "last_day": e.last_day,
                    "scope": e.scope,
                    "lang": e.lang,
                    "title": e.title,
                    "made_at": e.made_at,
                    "files": {
                        name.rsplit(".", 1)[1]: f"/briefings/{e.kind}/{e.period}/{name}" for name in e.files
                    },
                }
                for e in entries
            ]
        }
    )


@briefings_blueprint.get("/briefings/<kind>/<period>/")
def briefing_period(kind: str, period: str) -> ResponseReturnValue:
    """The link in a briefing's messages: to the 简报 page, which lists that period's files within the
    reader's towns (404 for a name that is not a kind and period)."""
    if kind not in KINDS or not PERIOD.match(period):
        abort(404)
    return redirect("/briefings", 302)


@briefings_blueprint.get("/briefings/<kind>/<period>/<name>")
def briefing_file(kind: str, period: str, name: str) -> Response:
    """One archived file, if the caller's towns cover its scope; 404 for anything else (no hint of what
    exists outside them)."""
    match = FILE.match(name)
    if kind not in KINDS or not PERIOD.match(period) or match is None:
        abort(404)
    where = _root() / kind / period
    manifest = where / f"{name.rsplit('.', 1)[0]}.json"
    if not manifest.is_file() or not (where / name).is_file():
        abort(404)
    entry = read_entry(manifest)
    towns = app_context().scope().towns
    if towns is not None and (not entry.towns or not set(entry.towns) <= set(towns)):
        abort(404)
    return send_file(where / name, mimetype=MIMETYPES[match.group(4)], as_attachment=True, download_name=name)
