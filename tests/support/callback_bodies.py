"""The dashboard on a seeded district, and ``/_dash-update-component`` bodies as the browser sends them.

Used by the security suite (tests/security) to replay the event list's page turns, forged cursors and
export-button clicks against the real callbacks, through the Flask test client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from tests.support.dash_callbacks import restore_callbacks
from tests.support.services import settings_on

DASH = "/_dash-update-component"
QUIET_DATATABLE = pytest.mark.filterwarnings(
    r"ignore:\s*The dash_table.DataTable will be removed:DeprecationWarning"
)
EVENT_LIST = "ev-table.data"  # a part of the event list callback's output key
EXPORT_KEY = "..export-download.data...export-status.children.."


def make_app(database_url: str, tmp: Path, **settings: Any) -> Any:
    """The dashboard (Dash app) on ``database_url`` with its own state store and cache in ``tmp``."""
    from dashboard.web.app import create_app

    restore_callbacks()
    config = settings_on(database_url, tmp, **{"BACKGROUND_REFRESH": "off", **settings})
    app = create_app(config)
    assert app.server.test_client().get("/").status_code < 500  # Dash sets itself up (or sign-in refuses)
    return app


def outputs_of(key: str) -> list[dict[str, str]]:
    """The ``outputs`` list of a multi-output callback key."""
    return [
        {"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]} for o in key[2:-2].split("...")
    ]


def event_list_body(
    app: Any,
    *,
    page: int | None,
    cursor: Any,
    view: str = "period=year",
    sort_by: list[dict[str, str]] | None = None,
    changed: str = "ev-table.page_current",
) -> dict[str, Any]:
    """The event list's update request: the table turned to ``page`` with the stored ``cursor``."""
    key = next(k for k in app.callback_map if EVENT_LIST in k)
    return {
        "output": key,
        "outputs": outputs_of(key),
        "inputs": [
            {"id": "view", "property": "data", "value": view},
            {"id": "ev-table", "property": "page_current", "value": page},
            {"id": "ev-table", "property": "sort_by", "value": sort_by or []},
        ],
        "state": [{"id": "ev-cursor", "property": "data", "value": cursor}],
        "changedPropIds": [changed],
    }


def export_click_body(
    *, fmt: str = "pptx", clicks: int = 1, view: str = "", pathname: str = "/"
) -> dict[str, Any]:
    """A click on the header's export button ``fmt`` (pptx, pdf or png)."""
    return {
        "output": EXPORT_KEY,
        "outputs": outputs_of(EXPORT_KEY),
        "inputs": [
            [
                {
                    "id": {"type": "export", "format": f},
                    "property": "n_clicks",
                    "value": clicks if f == fmt else 0,
                }
                for f in ("pptx", "pdf", "png")
            ]
        ],
        "state": [
            {"id": "view", "property": "data", "value": view},
            {"id": "url", "property": "pathname", "value": pathname},
        ],
        "changedPropIds": [f'{{"format":"{fmt}","type":"export"}}.n_clicks'],
    }


def answer_of(response: Any, component: str, prop: str) -> Any:
    """One output value of a callback answer."""
    return response.get_json()["response"][component][prop]


@contextmanager
def statements_on(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` inside the block (each in the list, as sent)."""
    seen: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", remember)
