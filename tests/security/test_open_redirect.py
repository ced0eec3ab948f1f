"""Open redirect (issue 20, hole 6): ``next=`` after sign-in accepts only a same-site path. Anything
that decodes (percent-escapes, tabs and line breaks browsers drop, backslashes they read as slashes)
into a scheme, a host or ``//`` goes to ``/`` instead, and no value answers 500.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard.web.signin import safe_next
from tests.support.signin import PASSWORD, QUIET_DATATABLE, form_token, signed_site

AWAY = [
    "/%09/evil.example/",  # the reported one: a tab browsers drop, leaving //evil.example/
    "/%0D/evil.example",  # the reported 500: a line break in the Location header
    "/%0A/evil.example",
    "//evil",
    "/%5Cevil",  # /\evil
    "/%5C/evil",
    "https://evil",
    "http:/evil.example",
    "javascript:alert(1)",
    "/%2F/evil.example",  # decodes to ///evil.example
    "/%252F%252Fevil.example",  # decodes twice to ///evil.example
    "%2F%2Fevil.example",
    "/%00/evil.example",
    "/%C2%85/evil.example",  # NEL, a C1 control
]
ODD = ["%", "/%", "/%zz", "/%FF%FE", "/" + "a" * 5000, "/%25%25%25"]

pytestmark = QUIET_DATATABLE


@pytest.fixture(scope="module")
def site(district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return signed_site(district, Path(tmp_path_factory.mktemp("redirect")))


def sign_in_to(site: Any, raw_next: str) -> Any:
    client = site.server.test_client()
    token = form_token(client.get("/login?next=" + raw_next).get_data(as_text=True))
    return client.post(
        "/login?next=" + raw_next,
        data={"csrf_token": token, "csrf": token, "username": "leader1", "password": PASSWORD},
    )


@pytest.mark.parametrize("raw_next", AWAY)
def test_next_never_leaves_the_site(site: Any, raw_next: str) -> None:
    answer = sign_in_to(site, raw_next)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/"


@pytest.mark.parametrize("raw_next", ODD)
def test_odd_next_values_never_answer_500(site: Any, raw_next: str) -> None:
    answer = sign_in_to(site, raw_next)
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/") and not answer.headers["Location"].startswith("//")


def test_a_normal_next_keeps_the_page_and_its_view(site: Any) -> None:
    answer = sign_in_to(site, "/backlog%3Ftown%3D%E7%93%9C%E6%B2%A5%E9%95%87%26period%3Dmonth")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/backlog?town=%E7%93%9C%E6%B2%A5%E9%95%87&period=month"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/\t/evil.example/", "/"),
        ("/\r/evil.example", "/"),
        ("/\\evil", "/"),
        ("//evil", "/"),
        ("https://evil", "/"),
        ("/%2F%2Fevil", "/"),
        ("", "/"),
        (None, "/"),
        ("/backlog?town=瓜沥镇", "/backlog?town=瓜沥镇"),
        ("/wall?pages=overview,backlog&rotate=30", "/wall?pages=overview,backlog&rotate=30"),
        ("/events?sort=reported_at%20desc", "/events?sort=reported_at%20desc"),
    ],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected
