"""The alert lifecycle: a surge opens one alert, staff take it on and close it, the hold closes it.

A tiny hand-built district (tests/support/surge.py) on SQLite with a fixed clock: twelve reports in
one town within an hour make a surge (no history: the threshold is ``ALERT_MIN_CASES``), spread over
three grids so that no grid surges by itself. The fixtures are in tests/service/conftest.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from dashboard.core.clock import FixedClock
from dashboard.core.scope import DISTRICT, ROLES, Scope, Viewer
from dashboard.core.settings import Settings
from dashboard.core.viewstate import ViewState
from dashboard.service.alerts import AlertBook, AlertConflict, AlertRefused
from dashboard.service.factory import create_service
from dashboard.service.snapshots import SnapshotService
from dashboard.service.state import StateStore, alert_table
from tests.support.factories import (
    TOWN_A,
    TOWN_B,
)
from tests.support.surge import T0, audited

MINUTE = 60


def counting(book: AlertBook) -> list[dt.datetime]:
    """Count the rule evaluations of ``book`` (one per advance)."""
    calls: list[dt.datetime] = []
    evaluate = book.evaluate

    def counted(conn: Any, now: dt.datetime) -> list[dict[str, Any]]:
        calls.append(now)
        return evaluate(conn, now)

    book.evaluate = counted
    return calls


def rows(state: StateStore) -> list[Any]:
    with state.engine.connect() as conn:
        return list(conn.execute(select(alert_table).order_by(alert_table.c.id)))


def viewer(role: str, towns: frozenset[str] | None = None, name: str = "") -> Viewer:
    return Viewer(name or f"{role}1", ROLES[role], towns)


def test_a_surge_opens_one_alert_that_closes_after_the_hold(
    settings: Settings, service: SnapshotService, clock: FixedClock
) -> None:
    assert service.alert_book is not None
    calls = counting(service.alert_book)
    for _minute in range(3):
        service.snapshot(ViewState(), DISTRICT)
        service.snapshot(ViewState(), Scope(frozenset({TOWN_B})))  # another view, the same minute
        clock.advance(MINUTE)
    assert len(calls) == 3, "the lifecycle advances once per data version and minute, not per view"
    [alert] = rows(service.state)
    assert (alert.kind, alert.level, alert.unit_code, alert.town_code) == ("surge", "town", TOWN_A, TOWN_A)
    assert alert.opened_at == T0 and alert.peak == 12 and alert.closed_at is None
    assert alert.last_seen_at == T0 + dt.timedelta(minutes=2)

    # Another process on the same cache and state store: it builds its own view but does not step again.
    other = create_service(settings, clock)
    other_calls = counting(other.alert_book)  # type: ignore[arg-type]
    clock.set(T0 + dt.timedelta(minutes=2))  # the minute the first service last stepped in
    other.snapshot(ViewState(period="week"), DISTRICT)
    assert other_calls == [] and len(rows(service.state)) == 1
    other.source_engine.dispose()

    # A past view never moves the lifecycle.
    before = len(calls)
    service.snapshot(ViewState(as_of=T0 + dt.timedelta(minutes=1)), DISTRICT)
    assert len(calls) == before

    def at(minutes: int) -> Any:
        clock.set(T0 + dt.timedelta(minutes=minutes))
        service.snapshot(ViewState(), DISTRICT)
        return rows(service.state)

    # The reports are 5 to 16 minutes old at T0: 6 of them (more than the threshold 5) are still within
    # the last hour 49 minutes later, 5 a minute after that.
    [still] = at(49)
    assert still.closed_at is None and still.last_seen_at == T0 + dt.timedelta(minutes=49)
    assert (still.count, still.peak) == (6, 12)
    [clear] = at(50)
    assert clear.closed_at is None, "clear since a minute: still open"
    [clear] = at(78)
    assert clear.closed_at is None, "clear for 29 minutes: still open"
    [closed] = at(80)
    assert closed.closed_at == T0 + dt.timedelta(minutes=80) and closed.closed_by == "system"
    assert closed.open_key is None and closed.peak == 12
    assert len(audited(service.state, "alert_open")) == 1
    assert len(audited(service.state, "alert_close")) == 1


def test_staff_of_the_town_take_it_on_and_close_it_with_a_note(service: SnapshotService) -> None:
    book = service.alert_book
    assert book is not None
    service.snapshot(ViewState(), DISTRICT)
    [row] = rows(service.state)
    now = T0 + dt.timedelta(minutes=1)
    with pytest.raises(AlertRefused):
        book.ack(row.id, viewer("staff", frozenset({TOWN_B})), "user:b", now)  # another town
    with pytest.raises(AlertRefused):
        book.ack(row.id, viewer("leader"), "user:leader1", now)  # leaders watch, they do not take on
    acked = book.ack(row.id, viewer("staff", frozenset({TOWN_A})), "user:staff1", now)
    assert acked.status() == "acked" and acked.acked_by == "staff1" and acked.acked_at == now
    with pytest.raises(AlertConflict):
        book.ack(row.id, viewer("handler", frozenset({TOWN_A})), "user:handler1", now)
    with pytest.raises(ValueError, match="note"):
        book.close(row.id, viewer("staff", frozenset({TOWN_A})), "user:staff1", "  ", now)
    closed = book.close(row.id, viewer("admin"), "user:admin1", "已派城管到场处置", now)
    assert closed.status() == "closed" and closed.note == "已派城管到场处置" and closed.closed_by == "admin1"
    with pytest.raises(AlertConflict):
        book.close(row.id, viewer("admin"), "user:admin1", "again", now)
    assert [a.actor for a in audited(service.state, "alert_ack")] == ["user:staff1"]
    assert [a.actor for a in audited(service.state, "alert_close")] == ["user:admin1"]

    # The surge still holds: the next minute opens a new alert, and the closed one stays as history.
    service.clock.advance(MINUTE)  # type: ignore[attr-defined]
    service.snapshot(ViewState(), DISTRICT)
    history, new = rows(service.state)
    assert history.id == row.id and history.closed_at is not None and new.closed_at is None
    open_now = book.alerts(T0, status="open")
    assert [a.id for a in open_now] == [new.id]
    assert [a.id for a in book.alerts(T0, as_of=T0 + dt.timedelta(seconds=30))] == [row.id]
    assert book.alerts(T0, towns=frozenset({TOWN_B})) == []


def test_one_open_alert_per_rule_and_unit_on_each_backend(db_url: str) -> None:
    state = StateStore(db_url)
    book = AlertBook(state, dt.timedelta(minutes=30), lambda conn, now: [])
    firing = {"kind": "surge", "level": "town", "unit_code": TOWN_A, "count": 8, "threshold": 5.0}
    firing |= {"severity": "warn", "text_zh": "城厢街道 近1小时上报 8 件", "text_en": "Chengxiang: 8"}
    first = book.advance([firing], T0)
    again = book.advance([{**firing, "count": 11, "severity": "bad"}], T0 + dt.timedelta(minutes=1))
    assert len(first.opened) == 1 and again.opened == () and again.updated == first.opened
    [row] = rows(state)
    assert (row.count, row.peak, row.severity) == (11, 11, "bad")
    # What keeps two workers from opening it twice: the database refuses a second open row.
    with pytest.raises(IntegrityError), state.engine.begin() as conn:
        conn.execute(insert(alert_table).values({**row._mapping, "id": None}))
    book.advance([], T0 + dt.timedelta(minutes=40))
    book.advance([firing], T0 + dt.timedelta(minutes=41))
    book.advance([], T0 + dt.timedelta(minutes=80))
    assert [r.closed_at is not None for r in rows(state)] == [True, True], "closed ones pile up"
    state.dispose()
