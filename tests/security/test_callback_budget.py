"""A time budget for every callback, enforced (the cure behind hole 1).

Deep paging showed that one callback could keep a server thread busy for minutes, one query after
another. Every callback now runs within ``DASHBOARD_CALLBACK_BUDGET_MS``: the source queries it runs
share what is left of the budget as their statement timeout (PostgreSQL ``SET LOCAL statement_timeout``,
MariaDB ``SET STATEMENT max_statement_time … FOR``, SQLite's progress handler), a statement is not even
started once the budget is spent, and a callback over budget answers a clear error instead of minutes
of work. The database stops the statement too, so the thread and the connection are free again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dashboard.core.budget import BudgetExceeded, time_budget
from dashboard.source.engines import init_db, make_source_engine, make_writer_engine
from dashboard.web.context import app_context
from tests.support.callback_bodies import (
    DASH,
    QUIET_DATATABLE,
    answer_of,
    event_list_body,
    make_app,
    outputs_of,
)

pytestmark = QUIET_DATATABLE

SLOW = {  # a statement that runs for seconds on each backend
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(5)",
    "mysql": "SELECT SLEEP(5)",
}


def test_a_statement_gets_only_what_is_left_of_the_budget(db_url: str) -> None:
    init_db(db_url).dispose()
    engine = make_source_engine(db_url, timeout_ms=20_000)
    slow = SLOW[engine.dialect.name]
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded), time_budget(400), engine.connect() as conn:
        conn.execute(text("SELECT 1")).all()  # a quick one first: the slow one gets the rest
        conn.execute(text(slow)).all()
    took = time.perf_counter() - started
    assert 0.35 < took < 3.0, took
    with engine.connect() as conn:  # outside a budget: the engine's own timeout again, and it works
        assert conn.execute(text("SELECT 1")).scalar() == 1
        if engine.dialect.name == "postgresql":
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "20s"
    engine.dispose()


def test_no_statement_starts_once_the_budget_is_spent(sqlite_url: str) -> None:
    init_db(sqlite_url).dispose()
    engine = make_source_engine(sqlite_url)
    with pytest.raises(BudgetExceeded), time_budget(100), engine.connect() as conn:
        time.sleep(0.15)
        conn.execute(text("SELECT 1"))
    engine.dispose()


@pytest.fixture(scope="module")
def app(district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_app(district, Path(tmp_path_factory.mktemp("budget")))


def test_a_callback_over_budget_answers_503_in_time(app: Any) -> None:
    """Any callback whose queries outrun the budget: a clear JSON error, no traceback, no waiting."""
    key = next(k for k in app.callback_map if "root.className" in k)
    entry = app.callback_map[key]
    engine = app_context(app.server).source_engine

    def slow_callback(*_args: Any, **_kwargs: Any) -> None:
        with engine.connect() as conn:
            conn.execute(text(SLOW["sqlite"])).all()

    app.server.config["SECURITY_CALLBACK_BUDGET_MS"] = 500
    original, entry["callback"] = entry["callback"], slow_callback
    try:
        started = time.perf_counter()
        response = app.server.test_client().post(
            DASH,
            json={
                "output": key,
                "outputs": outputs_of(key),
                "inputs": [
                    {"id": "view", "property": "data", "value": ""},
                    {"id": "url", "property": "pathname", "value": "/"},
                ],
                "changedPropIds": ["view.data"],
            },
        )
        took = time.perf_counter() - started
    finally:
        entry["callback"] = original
        app.server.config["SECURITY_CALLBACK_BUDGET_MS"] = 60_000
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "over_budget" and body["budget_ms"] == 500
    assert "0.5 s" in body["message"] and "Traceback" not in response.get_data(as_text=True)
    assert took < 2.5, took


def test_the_budget_covers_the_whole_callback_not_each_query(app: Any) -> None:
    """Queries one after another: together, not each, within the budget (what deep paging did)."""
    key = next(k for k in app.callback_map if "root.className" in k)
    entry = app.callback_map[key]
    engine = app_context(app.server).source_engine
    ran: list[float] = []

    def many_queries(*_args: Any, **_kwargs: Any) -> None:
        for _ in range(50):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1")).all()
                time.sleep(0.05)
                ran.append(time.perf_counter())

    app.server.config["SECURITY_CALLBACK_BUDGET_MS"] = 400
    original, entry["callback"] = entry["callback"], many_queries
    try:
        response = app.server.test_client().post(
            DASH,
            json={
                "output": key,
                "outputs": outputs_of(key),
                "inputs": [
                    {"id": "view", "property": "data", "value": ""},
                    {"id": "url", "property": "pathname", "value": "/"},
                ],
                "changedPropIds": ["view.data"],
            },
        )
    finally:
        entry["callback"] = original
        app.server.config["SECURITY_CALLBACK_BUDGET_MS"] = 60_000
    assert response.status_code == 503
    assert 1 <= len(ran) <= 10  # stopped after about 400 ms, not 50 × 50 ms


# --- a real slow query: the event table locked on PostgreSQL -------------------------------------------


@pytest.fixture(scope="module")
def pg_app(pg_district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_app(pg_district, Path(tmp_path_factory.mktemp("budget-pg")), CALLBACK_BUDGET_MS=1500)


def waiting_on_locks(url: str) -> int:
    """Statements of the dashboard's database still waiting for a lock (a cancelled one is not)."""
    engine = make_writer_engine(url)
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    engine.dispose()
    return int(found)


def test_the_event_list_on_a_locked_table_stops_at_its_budget(pg_app: Any, pg_district: str) -> None:
    client = pg_app.server.test_client()
    locker = make_writer_engine(pg_district)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with locker.begin() as conn:
            conn.execute(text("LOCK TABLE event IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.perf_counter()
        response = client.post(DASH, json=event_list_body(pg_app, page=0, cursor={}, changed="view.data"))
        took = time.perf_counter() - started
        assert response.status_code == 200
        assert "超过 1.5 秒" in answer_of(response, "ev-summary", "children")
        assert answer_of(response, "ev-table", "data") == []
        assert 1.4 < took < 4.0, took
        assert waiting_on_locks(pg_district) == 0  # the database let the statement go too
    finally:
        release.set()
        holder.join(30)
        locker.dispose()
    again = client.post(DASH, json=event_list_body(pg_app, page=0, cursor={}, changed="view.data"))
    assert again.status_code == 200 and len(answer_of(again, "ev-table", "data")) == 25
