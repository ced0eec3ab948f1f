"""Login CSRF (issue 20, hole 2): the sign-in form's token is bound to the pre-session cookie that
GET /login sets. A POST without that cookie, with a token from another browser or with a forged token
answers 400 and signs nobody in, so a cross-site page cannot sign a victim in as the attacker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.support.signin import PASSWORD, QUIET_DATATABLE, form_token, sign_in, signed_site

pytestmark = QUIET_DATATABLE


@pytest.fixture(scope="module")
def site(district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return signed_site(district, Path(tmp_path_factory.mktemp("login-csrf")))


def credentials(token: str) -> dict[str, str]:
    return {"csrf_token": token, "csrf": token, "username": "leader1", "password": PASSWORD}


def test_a_post_without_the_pre_session_cookie_signs_nobody_in(site: Any) -> None:
    """The reported attack: no cookie, ``csrf=-`` and the attacker's name and password."""
    client = site.server.test_client()
    answer = client.post("/login", data=credentials("-"))
    assert answer.status_code == 400
    assert "页面已过期" in answer.get_data(as_text=True)
    assert client.get("/api/v1/snapshot").status_code == 401


def test_a_token_from_another_browser_is_refused(site: Any) -> None:
    attacker = site.server.test_client()
    token = form_token(attacker.get("/login").get_data(as_text=True))
    victim = site.server.test_client()  # has no pre-session cookie: the token is not bound to it
    assert victim.post("/login", data=credentials(token)).status_code == 400
    assert victim.get("/api/v1/snapshot").status_code == 401


@pytest.mark.parametrize("forged", ["-", "", "forged", "another key"])
def test_a_forged_token_is_refused_even_with_the_cookie(site: Any, forged: str) -> None:
    client = site.server.test_client()
    real = form_token(client.get("/login").get_data(as_text=True))
    if forged == "another key":  # well-formed, but signed with a key other than the server's
        forged = str(URLSafeTimedSerializer("not the key", salt="wtf-csrf-token").dumps("0" * 40))
    assert forged != real
    assert client.post("/login", data=credentials(forged)).status_code == 400
    assert client.get("/api/v1/snapshot").status_code == 401


def test_the_form_signs_in_with_its_own_token_and_a_new_session(site: Any) -> None:
    client = site.server.test_client()
    token = form_token(client.get("/login").get_data(as_text=True))
    before = client.get_cookie("xsdash_session").value
    assert client.post("/login?next=/backlog", data=credentials(token)).status_code == 303
    assert client.get_cookie("xsdash_session").value != before  # the pre-session cookie is replaced
    assert client.get("/api/v1/snapshot").status_code == 200
    assert sign_in(site, "staff1").get("/api/v1/snapshot").status_code == 200
