"""Sessions end on the server (issue 20, hole 5): after sign-out a copy of the old cookie answers 401
or a redirect to /login everywhere at once, not when it expires; sign-out is a POST with the header
form's CSRF token (GET answers 405); sessions expire after ``DASHBOARD_SESSION_HOURS``; a password
change, disabling or removing the user ends every session of theirs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.web import accounts
from tests.support.signin import (
    DASH,
    PASSWORD,
    QUIET_DATATABLE,
    all_props,
    callback_body,
    client_with_cookie,
    logout_token,
    session_cookie,
    sign_in,
    signed_site,
)

HOURS = 2

pytestmark = QUIET_DATATABLE


@pytest.fixture(scope="module")
def site(district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return signed_site(district, Path(tmp_path_factory.mktemp("sessions")), SESSION_HOURS=HOURS)


def refused_everywhere(site: Any, client: Any) -> None:
    """The snapshot API, the CSV, a page and a page refresh all refuse this cookie."""
    assert client.get("/api/v1/snapshot").status_code == 401
    assert client.get("/download/events.csv").status_code == 401
    page = client.get("/backlog")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    refresh = callback_body(site, "ov-key.data", {"view.data": "", "tick.n_intervals": 1})
    assert client.post(DASH, json=refresh).status_code == 401


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(site: Any) -> None:
    client = sign_in(site, "leader1")
    copy = session_cookie(client)
    assert client_with_cookie(site, copy).get("/api/v1/snapshot").status_code == 200
    out = client.post("/logout", data={"csrf_token": logout_token(site, client)})
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    refused_everywhere(site, client_with_cookie(site, copy))
    refused_everywhere(site, client)


def test_get_logout_answers_405_and_signs_nobody_out(site: Any) -> None:
    client = sign_in(site, "leader1")
    assert client.get("/logout").status_code == 405
    assert client.get("/api/v1/snapshot").status_code == 200


@pytest.mark.parametrize("token", [None, "", "-", "forged"])
def test_logout_without_the_form_token_is_refused(site: Any, token: str | None) -> None:
    """A cross-site form can send the cookie-less POST, but not the token: nobody is signed out."""
    client = sign_in(site, "leader1")
    answer = client.post("/logout", data={} if token is None else {"csrf_token": token})
    assert answer.status_code == 400
    assert client.get("/api/v1/snapshot").status_code == 200


def test_the_header_offers_sign_out_as_a_form_post(site: Any) -> None:
    client = sign_in(site, "staff1")
    layout = client.get("/_dash-layout", headers={"Referer": "http://localhost/backlog"})
    props = list(all_props(json.loads(layout.get_data(as_text=True))))
    forms = [p for p in props if p.get("action") == "/logout"]
    assert len(forms) == 1 and forms[0]["method"] == "post"
    assert not [p for p in props if p.get("href") == "/logout"]  # no GET link any more
    assert logout_token(site, client)


def test_sessions_expire_after_session_hours(site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = sign_in(site, "leader1")
    real_now = accounts._now
    monkeypatch.setattr(accounts, "_now", lambda: real_now() + dt.timedelta(hours=HOURS, minutes=-1))
    assert client.get("/api/v1/snapshot").status_code == 200
    monkeypatch.setattr(accounts, "_now", lambda: real_now() + dt.timedelta(hours=HOURS, minutes=1))
    assert client.get("/api/v1/snapshot").status_code == 401


@pytest.mark.parametrize("change", ["password", "disable", "remove"])
def test_a_password_change_or_disabling_ends_every_session(site: Any, change: str) -> None:
    store = site.test_store
    name = f"temp-{change}"
    store.add_user(name, "leader", password=PASSWORD)
    copies = [session_cookie(sign_in(site, name)) for _ in range(2)]
    if change == "password":
        store.update_user(name, password="another long password")
    elif change == "disable":
        store.update_user(name, disabled=True)
    else:
        store.remove_user(name)
    for copy in copies:
        assert client_with_cookie(site, copy).get("/api/v1/snapshot").status_code == 401
    from dashboard.web.accounts import session_table

    with store.engine.connect() as conn:
        assert not conn.execute(select(session_table).where(session_table.c.username == name)).first()


def test_the_state_store_keeps_only_a_digest_of_the_session_id(site: Any) -> None:
    from dashboard.web.accounts import session_table

    client = sign_in(site, "admin1")
    serializer = site.server.session_interface.get_signing_serializer(site.server)
    session_id = serializer.loads(session_cookie(client))["sid"]
    with site.test_store.engine.connect() as conn:
        rows = conn.execute(select(session_table).where(session_table.c.username == "admin1")).all()
    digests = {row.session_sha256 for row in rows}
    assert hashlib.sha256(session_id.encode()).hexdigest() in digests
    assert session_id not in digests
    row = next(r for r in rows if r.session_sha256 == hashlib.sha256(session_id.encode()).hexdigest())
    assert row.expires_at - row.created_at == dt.timedelta(hours=HOURS)
