"""Public paths (issue 20, hole 9): without sign-in only real static files are served. Path tricks
(``/assets//x``, ``..``, encoded slashes, unknown component suites) that Dash's page catch-all would
answer with the app get the sign-in redirect or 401 instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.signin import QUIET_DATATABLE, sign_in, signed_site

TRICKS = [
    "/assets//x",
    "/assets//10-base.css",
    "/assets/../x",
    "/assets/%2e%2e/x",
    "/assets/%2e%2e/%2e%2e/README.md",
    "/assets/x%2F..%2F..%2Fy",
    "/assets/%2F10-base.css",
    "/assets/",
    "/assets",
    "/assets/nope.css",
    "/_dash-component-suites/x",
    "/_dash-component-suites//dash/x.js",
    "/static/x",
    "/favicon.ico",
    "/health/",
    "/login/x",
    "//assets/10-base.css",
]

pytestmark = QUIET_DATATABLE


@pytest.fixture(scope="module")
def site(district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return signed_site(district, Path(tmp_path_factory.mktemp("public")))


@pytest.mark.parametrize("path", TRICKS)
def test_path_tricks_do_not_serve_the_app_without_sign_in(site: Any, path: str) -> None:
    answer = site.server.test_client().get(path)
    body = answer.get_data(as_text=True)
    assert answer.status_code in {302, 401, 404}, (answer.status_code, body[:100])
    assert "_dash-config" not in body and "dash-renderer" not in body  # not the app's page
    if answer.status_code == 302:
        assert answer.headers["Location"].startswith("/login?next=")


def test_real_static_files_stay_public(site: Any) -> None:
    stranger = site.server.test_client()
    assert stranger.get("/assets/10-base.css").status_code == 200
    page = sign_in(site, "leader1").get("/backlog").get_data(as_text=True)
    scripts = re.findall(r'src="(/_dash-component-suites/[^"]+)"', page)
    assert scripts
    for src in scripts[:3]:
        assert stranger.get(src).status_code == 200, src
    for path in ("/login", "/health", "/api/v1/openapi.json"):
        assert stranger.get(path).status_code in {200, 503}, path
