"""Hole 10: a forged event-list cursor gave 500.

The cursor the event list keeps in the browser comes back with every page turn. ``{"keys": {"5": null}}``
failed on ``max()`` of an empty list and a malformed date failed in the query: 500, where the README
promises 4xx for any invalid callback body. Now the callback guard checks the cursor field by field
against the order it was made for, and refuses a forged one with 400 before any query runs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.core.eventlist import CURSOR_FIELDS, cursor_problem
from dashboard.web.context import app_context
from tests.support.callback_bodies import (
    DASH,
    QUIET_DATATABLE,
    answer_of,
    event_list_body,
    make_app,
    statements_on,
)

pytestmark = QUIET_DATATABLE

VIEW = "period=year"
OLD_SIG = f"{VIEW}|Sort(column='reported_at', descending=True)"  # the cursor's signature before the fix


@pytest.fixture(scope="module")
def app(district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_app(district, Path(tmp_path_factory.mktemp("cursor")))


@pytest.fixture(scope="module")
def good(app: Any) -> dict[str, Any]:
    """A real cursor, from the first two pages of the list."""
    client = app.server.test_client()
    first = client.post(DASH, json=event_list_body(app, page=0, cursor={}, changed="view.data"))
    second = client.post(
        DASH, json=event_list_body(app, page=1, cursor=answer_of(first, "ev-cursor", "data"))
    )
    cursor = answer_of(second, "ev-cursor", "data")
    assert cursor and cursor["page"] == 1
    return dict(cursor)


REPORTED = [  # the cursors of the report, in the shape the list kept before the fix
    ("keys without page 0", {"sig": OLD_SIG, "keys": {"5": None}}),
    ("a malformed date", {"sig": OLD_SIG, "keys": {"0": None, "1": ["2026-13-45T99:00", 7]}}),
    ("a text event id", {"sig": OLD_SIG, "keys": {"0": None, "1": ["2026-11-20T08:00:00+00:00", "x"]}}),
]


@pytest.mark.parametrize(("label", "cursor"), REPORTED, ids=[label for label, _ in REPORTED])
def test_the_reported_forgeries_answer_400(app: Any, label: str, cursor: Any) -> None:
    response = app.server.test_client().post(DASH, json=event_list_body(app, page=1, cursor=cursor))
    assert response.status_code == 400, response.get_data(as_text=True)[:200]
    assert response.mimetype == "application/json"


def forged(good: dict[str, Any]) -> list[tuple[str, Any]]:
    """Cursors no page of ours makes: the report's two, and one of every other kind."""
    return [
        ("keys without page 0 (the report)", {"sig": OLD_SIG, "keys": {"5": None}}),
        (
            "a malformed date (the report)",
            {"sig": OLD_SIG, "keys": {"0": None, "1": ["2026-13-45T99:00", 7]}},
        ),
        ("a malformed date", {**good, "last": ["2026-13-45T99:00", 7]}),
        ("a date without its offset", {**good, "last": ["2026-11-20T08:00:00", 7]}),
        ("a date in year 1", {**good, "last": ["0001-01-01T00:00:00+14:00", 7]}),
        ("a number for a date", {**good, "last": [5, 7]}),
        ("text for an event id", {**good, "last": [good["last"][0], "7"]}),
        ("a huge event id", {**good, "last": [good["last"][0], 10**30]}),
        ("a boolean event id", {**good, "last": [good["last"][0], True]}),
        ("an empty reported_at", {**good, "last": [None, 7]}),
        ("a NUL byte in a code", {**good, "sort": ["event_no", True], "last": ["XS\x00", 7]}),
        ("a lone surrogate", {**good, "sort": ["event_no", True], "last": ["\ud800", 7]}),
        ("a keyset of three", {**good, "first": [good["first"][0], 1, 2]}),
        ("a keyset object", {**good, "start": {"0": 1}}),
        ("an unknown order", {**good, "sort": ["title", True]}),
        ("a descending flag of 1", {**good, "sort": ["reported_at", 1]}),
        ("a page as text", {**good, "page": "3"}),
        ("a negative page", {**good, "page": -1}),
        ("a count beyond the cap", {**good, "total": 10**9}),
        ("a field missing", {k: v for k, v in good.items() if k != "total"}),
        ("a field more", {**good, "keys": {"0": None}}),
        ("a list", [good]),
        ("a string", "cursor"),
    ]


def test_forged_cursors_are_refused_with_400_before_any_query(app: Any, good: dict[str, Any]) -> None:
    client = app.server.test_client()
    engine = app_context(app.server).source_engine
    for label, cursor in forged(good):
        for page in (0, 1, 2, 5):
            with statements_on(engine) as seen:
                response = client.post(DASH, json=event_list_body(app, page=page, cursor=cursor))
            assert response.status_code == 400, (label, page, response.status_code)
            assert response.get_json()["error"], label
            assert seen == [], label


def test_the_real_cursor_still_turns_the_page(app: Any, good: dict[str, Any]) -> None:
    response = app.server.test_client().post(DASH, json=event_list_body(app, page=2, cursor=good))
    assert response.status_code == 200
    assert answer_of(response, "ev-table", "page_current") == 2


def _json() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=30),
        st.sampled_from(["2026-11-20T08:00:00+00:00", "2026-02-30T00:00:00+08:00", "XS20261120-000001"]),
    )  # fmt: skip
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=8,
    )


@settings(
    max_examples=100, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(data=st.data())
def test_mutated_cursors_answer_4xx_or_a_page_never_500(
    app: Any, good: dict[str, Any], data: st.DataObject
) -> None:
    cursor = copy.deepcopy(good)
    for _ in range(data.draw(st.integers(1, 3))):
        field = data.draw(st.sampled_from(sorted(CURSOR_FIELDS)))
        if isinstance(cursor.get(field), list) and cursor[field] and data.draw(st.booleans()):
            cursor[field][data.draw(st.integers(0, len(cursor[field]) - 1))] = data.draw(_json())
        else:
            cursor[field] = data.draw(_json())
    page = data.draw(st.integers(0, 4))
    response = app.server.test_client().post(DASH, json=event_list_body(app, page=page, cursor=cursor))
    assert response.status_code == (200 if cursor_problem(cursor) is None else 400), (cursor, page)
