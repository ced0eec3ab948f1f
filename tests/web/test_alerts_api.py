"""The alerts' API on a signed-in deployment (AUTH=local) with a fixed clock: a surge in 城厢街道 opens one
alert however often the screens refresh; its town's staff take it on and close it, another town's staff
are refused; the hold closes the next one; the history and the as-of answer stay.

The district is the tiny hand-built one of the lifecycle tests (tests/service/test_alert_lifecycle.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.core.clock import FixedClock
from dashboard.core.snapshot import Snapshot
from dashboard.service.state import audit_log
from dashboard.web.context import app_context
from layouts import render
from tests.support.factories import TOWN_A, TOWN_B
from tests.support.signin import GUALI, QUIET_DATATABLE, sign_in
from tests.support.surge import T0, surge_site

pytestmark = QUIET_DATATABLE


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def site(tmp_path: Path, clock: FixedClock) -> Iterator[Any]:
    users = (
        ("chengxiang", "staff", frozenset({TOWN_A})),
        ("guali", "staff", frozenset({GUALI, TOWN_B})),
        ("leader1", "leader", None),
    )
    with surge_site(tmp_path, users, clock=clock) as app:
        yield app


def refresh(site: Any, client: Any, clock: FixedClock, minutes: float) -> None:
    """A screen's refresh at T0 + ``minutes``: a live snapshot of the whole district."""
    clock.set(T0 + dt.timedelta(minutes=minutes))
    assert client.get("/api/v1/snapshot").status_code == 200


def listing(client: Any, query: str = "") -> tuple[list[dict[str, Any]], str]:
    answer = client.get("/api/v1/alerts" + query)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    return body["alerts"], body["csrf_token"]


def post(client: Any, alert_id: int, step: str, token: str | None, body: Any = None, **kw: Any) -> Any:
    headers = {"X-CSRFToken": token} if token else {}
    return client.post(f"/api/v1/alerts/{alert_id}/{step}", json=body or {}, headers=headers, **kw)


def audited(site: Any, action: str) -> list[tuple[str, str]]:
    with app_context(site.server).service.state.engine.connect() as conn:
        found = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail).where(audit_log.c.action == action)
        )
        return [(r.actor, r.detail) for r in found]


def test_one_alert_taken_on_by_its_town_refused_to_others_closed_and_kept(
    site: Any, clock: FixedClock
) -> None:
    mine, other, leader = (sign_in(site, name) for name in ("chengxiang", "guali", "leader1"))
    for minute in range(4):
        refresh(site, mine, clock, minute)
        refresh(site, other, clock, minute + 0.5)  # another scope's screen in the same minute
    alerts, token = listing(mine)
    assert len(alerts) == 1, alerts
    [alert] = alerts
    assert (alert["kind"], alert["unit_code"], alert["status"], alert["peak"]) == (
        "surge",
        TOWN_A,
        "open",
        12,
    )
    assert alert["opened_at"] == T0.isoformat() and alert["may_act"] is True
    assert "城厢街道" in alert["text_zh"]
    [chip] = mine.get("/api/v1/snapshot").get_json()["alerts"]
    assert chip["taken_on"] is False

    # Another town's staff: not in their list, refused when they ask for it or try to take it on.
    theirs, their_token = listing(other)
    assert theirs == []
    assert other.get(f"/api/v1/alerts?town={TOWN_A}").status_code == 403
    refused = post(other, alert["id"], "ack", their_token)
    assert refused.status_code == 403 and "towns" in refused.get_json()["error"]
    [seen] = listing(leader)[0]
    assert (
        seen["may_act"] is False and post(leader, alert["id"], "ack", listing(leader)[1]).status_code == 403
    )

    # Without the session's CSRF token, or with a form body, nothing happens.
    assert post(mine, alert["id"], "ack", None).status_code == 400
    assert post(mine, alert["id"], "ack", their_token).status_code == 400  # another session's token
    form = mine.post(f"/api/v1/alerts/{alert['id']}/ack", data={"x": "1"}, headers={"X-CSRFToken": token})
    assert form.status_code == 415
    assert audited(site, "alert_ack") == []

    clock.set(T0 + dt.timedelta(minutes=4))
    taken = post(mine, alert["id"], "ack", token)
    assert taken.status_code == 200, taken.get_data(as_text=True)
    assert (
        taken.get_json()["alert"]["status"] == "acked"
        and taken.get_json()["alert"]["acked_by"] == "chengxiang"
    )
    assert post(mine, alert["id"], "ack", token).status_code == 409
    # The next live snapshot marks it taken on, and the wall's chip says so and stops pulsing.
    refresh(site, mine, clock, 4.5)
    snapshot = mine.get("/api/v1/snapshot").get_json()
    snapshot.pop("meta")
    [shown] = [a for a in snapshot["alerts"] if a["unit_code"] == TOWN_A and a["kind"] == "surge"]
    assert shown["taken_on"] is True
    # The chip, and the wall's "N more" chip, hidden while it counts none.
    [chip, more] = render.alerts(Snapshot.from_dict(snapshot), "zh")
    assert chip.className == "wall-alert bad acked" and chip.children.endswith("· 已认领") and more.hidden
    [chip, _more] = render.alerts(Snapshot.from_dict(snapshot), "en")
    assert chip.children.endswith("· taken on")
    assert post(mine, alert["id"], "close", token, {"note": " "}).status_code == 400
    assert post(mine, 10_000, "ack", token).status_code == 404
    clock.set(T0 + dt.timedelta(minutes=5))
    closed = post(mine, alert["id"], "close", token, {"note": "已联系网格员核实，系同一噪音投诉重复上报"})
    assert closed.status_code == 200 and closed.get_json()["alert"]["status"] == "closed"
    [(actor, _)] = audited(site, "alert_ack")
    assert actor.startswith("user:chengxiang@")
    assert any("重复上报" in detail for _, detail in audited(site, "alert_close"))

    # The surge still holds: the next refresh opens a new alert; the hold closes it once it clears.
    refresh(site, mine, clock, 6)
    current = [a for a in listing(mine, "?status=open")[0]]
    assert len(current) == 1 and current[0]["id"] != alert["id"]
    for minute in (49, 50, 78):
        refresh(site, mine, clock, minute)
        assert listing(mine, "?status=open")[0] != [], f"still open at +{minute} min"
    refresh(site, mine, clock, 80)  # clear since +50: the 30-minute hold is over
    assert listing(mine, "?status=open")[0] == []
    history = listing(mine, "?status=closed")[0]
    assert [(a["closed_by"], a["note"]) for a in history] == [
        ("system", None),
        ("chengxiang", "已联系网格员核实，系同一噪音投诉重复上报"),
    ]

    # As of a past moment: the alerts open then, as they stood then.
    then, _ = listing(mine, "?as_of=" + (T0 + dt.timedelta(minutes=4, seconds=30)).isoformat())
    assert [(a["id"], a["status"]) for a in then] == [(alert["id"], "acked")]
    later, _ = listing(mine, "?as_of=" + (T0 + dt.timedelta(minutes=60)).isoformat())
    assert [a["id"] for a in later] == [current[0]["id"]]
    assert listing(mine, "?as_of=" + (T0 - dt.timedelta(minutes=1)).isoformat())[0] == []
    assert mine.get("/api/v1/alerts?status=maybe").status_code == 400
    assert mine.get("/api/v1/alerts?as_of=yesterday").status_code == 400
