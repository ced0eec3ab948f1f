"""A signed-in deployment (``DASHBOARD_AUTH=local``) under the Flask test client, and the requests its
tests send: the sign-in form, a forged or well-formed ``/_dash-update-component`` body, a kiosk enrolment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.core.settings import load_settings
from tests.support.dash_callbacks import restore_callbacks

DASH = "/_dash-update-component"
GUALI, DANGWAN, CHENGXIANG = "330109113", "330109120", "330109001"
PASSWORD = "correct horse battery"
SESSION_COOKIE = "xsdash_session"
# Building the app's layouts warns about dash_table's future; whole-app test modules set it as pytestmark.
QUIET_DATATABLE = pytest.mark.filterwarnings(
    r"ignore:\s*The dash_table.DataTable will be removed:DeprecationWarning"
)
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def signed_site(district: str, folder: Path, **settings: Any) -> Any:
    """The app with AUTH=local on ``district`` and one user per role (``app.test_store`` holds them)."""
    from dashboard.web.app import create_app

    restore_callbacks()
    app = create_app(
        load_settings(
            env={},
            DATABASE_URL=district,
            STATE_URL=f"sqlite:///{folder / 'state.db'}",
            CACHE_DIR=str(folder / "cache"),
            AUTH="local",
            **settings,
        )
    )
    store = app.server.extensions["dashboard_auth"].store
    store.add_user("admin1", "admin", password=PASSWORD)
    store.add_user("leader1", "leader", password=PASSWORD)
    store.add_user("staff1", "staff", password=PASSWORD, towns=frozenset({GUALI, DANGWAN}))
    store.add_user("handler1", "handler", password=PASSWORD, towns=frozenset({GUALI}))
    app.test_store = store
    app.server.test_client().get("/_favicon.ico")  # Dash fills app.callback_map at the first request
    return app


def form_token(text: str) -> str:
    """The CSRF token of the sign-in form (an HTML page) or of the sign-out form (a Dash layout)."""
    found = CSRF_FIELD.search(text)
    if found is not None:
        return found.group(1)
    tokens = [
        props["value"]
        for props in all_props(json.loads(text))
        if props.get("name") == "csrf_token" and isinstance(props.get("value"), str)
    ]
    assert tokens, "no CSRF token in the page"
    return tokens[0]


def all_props(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from all_props(item)
    elif isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict):
            yield props
            yield from all_props(props.get("children"))


def sign_in(site: Any, name: str, *, next_path: str = "/backlog") -> Any:
    """A test client signed in as ``name`` through the form (GET /login for the token, then POST)."""
    client = site.server.test_client()
    token = form_token(client.get("/login").get_data(as_text=True))
    answer = client.post(
        "/login?next=" + next_path, data={"csrf_token": token, "username": name, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)[:300]
    assert answer.headers["Location"] == next_path
    return client


def session_cookie(client: Any) -> str:
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None, "no session cookie"
    return str(cookie.value)


def client_with_cookie(site: Any, value: str) -> Any:
    """A fresh test client that sends only the given session cookie (a copy taken by an attacker)."""
    client = site.server.test_client()
    client.set_cookie(SESSION_COOKIE, value)
    return client


def logout_token(site: Any, client: Any) -> str:
    """The sign-out form's token, read from the page layout the way the browser gets it."""
    layout = client.get("/_dash-layout", headers={"Referer": "http://localhost/backlog"})
    assert layout.status_code == 200, layout.status_code
    return form_token(layout.get_data(as_text=True))


def enrol_kiosk(site: Any, towns: frozenset[str] | None = None) -> tuple[Any, Any]:
    """(token, client) for a wall enrolled with a fresh kiosk token."""
    token, secret = site.test_store.create_token("测试屏", towns)
    client = site.server.test_client()
    assert client.get(f"/wall?pages=overview&kiosk={secret}").status_code == 303
    return token, client


def callback_body(
    site: Any, output_part: str, values: dict[str, Any], *, without: str | None = None
) -> dict[str, Any]:
    """A well-formed update request for the callback whose output names ``output_part`` (and not
    ``without``, to tell apart two callbacks writing the same output)."""
    key = next(k for k in site.callback_map if output_part in k and not (without and without in k))
    entry = site.callback_map[key]
    inner = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1].split("@")[0]} for o in inner]

    def deps(kind: str) -> list[Any]:
        found: list[Any] = []
        for dep in entry[kind]:
            if dep["id"].startswith("{"):  # a wildcard (ALL) input: no matching components on the page
                found.append([])
                continue
            name = f"{dep['id']}.{dep['property']}"
            found.append({"id": dep["id"], "property": dep["property"], "value": values.get(name)})
        return found

    return {
        "output": key,
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": deps("inputs"),
        "state": deps("state"),
        "changedPropIds": [next(iter(values))],
    }
