"""Hole 1: event-list deep paging tied up the server.

A ``/_dash-update-component`` body for the event list with ``page_current=100`` (``period=year``) walked
a hundred page queries one after the other (98 s on the 591k-event sample), and ``page_current=100000``
kept a server thread busy for more than 12 minutes. Now the list turns by keyset only (first, previous,
next, last), a typed page number costs no page query at all (the jump is refused and said so), and the
table knows its page count.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture(scope="module")
def app(district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_app(district, Path(tmp_path_factory.mktemp("paging")))


def turn(app: Any, page: int, cursor: Any, **kwargs: Any) -> tuple[Any, list[str], float]:
    """Post one page turn; the answer, the event queries it ran and how long it took."""
    engine = app_context(app.server).source_engine
    client = app.server.test_client()
    with statements_on(engine) as seen:
        started = time.perf_counter()
        response = client.post(DASH, json=event_list_body(app, page=page, cursor=cursor, **kwargs))
        took = time.perf_counter() - started
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response, [s for s in seen if " event" in s], took


def first_page(app: Any) -> Any:
    response, _queries, _took = turn(app, 0, {}, changed="view.data")
    return response


@pytest.mark.parametrize("page", [100, 100_000])
def test_a_deep_page_jump_costs_no_page_query(app: Any, page: int) -> None:
    start = first_page(app)
    cursor = answer_of(start, "ev-cursor", "data")
    response, queries, took = turn(app, page, cursor)
    assert len(queries) <= 1, f"{len(queries)} queries for one page turn"
    assert took < 5
    # The table stays on the page it was on, and says why.
    assert answer_of(response, "ev-table", "page_current") == 0
    assert "只能逐页翻动" in answer_of(response, "ev-summary", "children")


def test_every_turn_is_one_bounded_query_and_the_pages_fit_together(app: Any) -> None:
    start = first_page(app)
    cursor = answer_of(start, "ev-cursor", "data")
    pages = answer_of(start, "ev-table", "page_count")
    assert pages and pages > 3
    summary = answer_of(start, "ev-summary", "children")
    assert summary.startswith(f"第 1 页，共 {pages} 页")
    first_rows = answer_of(start, "ev-table", "data")
    seen = [first_rows]
    for page in (1, 2):  # next, next
        response, queries, _took = turn(app, page, cursor)
        assert len(queries) == 1
        cursor = answer_of(response, "ev-cursor", "data")
        seen.append(answer_of(response, "ev-table", "data"))
    response, queries, _took = turn(app, 1, cursor)  # previous
    assert len(queries) == 1 and answer_of(response, "ev-table", "data") == seen[1]
    response, queries, _took = turn(app, pages - 1, answer_of(response, "ev-cursor", "data"))  # last
    assert len(queries) == 1
    assert answer_of(response, "ev-table", "page_current") == pages - 1
    last_rows = answer_of(response, "ev-table", "data")
    assert 0 < len(last_rows) <= 25
    assert f"第 {pages} 页，共 {pages} 页" in answer_of(response, "ev-summary", "children")
    response, queries, _took = turn(app, 0, answer_of(response, "ev-cursor", "data"))  # first
    assert len(queries) == 1 and answer_of(response, "ev-table", "data") == first_rows
    numbers = [row["event_no"] for rows in seen for row in rows]
    assert len(numbers) == len(set(numbers)) == 75  # three full pages, no row twice


def test_the_page_count_is_said_in_english_too(app: Any) -> None:
    response, _queries, _took = turn(app, 0, {}, view="period=year&lang=en", changed="view.data")
    pages = answer_of(response, "ev-table", "page_count")
    assert answer_of(response, "ev-summary", "children").startswith(f"Page 1 of {pages} (")
    cursor = answer_of(response, "ev-cursor", "data")
    refused, _queries, _took = turn(app, 30, cursor, view="period=year&lang=en")
    assert "Pages turn one at a time" in answer_of(refused, "ev-summary", "children")
