"""Issue 19's "done when", end to end: the simulator drives a surge in 瓜沥镇 into a small sample district;
a signed-in deployment (AUTH=local, a fixed clock) refreshes its screens minute after minute and sees
exactly one open alert and exactly one webhook message at a local receiver; 瓜沥镇's staff take it on,
another town's staff are refused; it closes after the hold and stays in the history. A second target
that never answers is retried and then shows as failed on ``/health`` and on the 告警 page.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.core.clock import FixedClock
from dashboard.sample import simulate as sim
from dashboard.sample.seed import seed_database
from dashboard.web.app import create_app
from dashboard.web.context import app_context
from layouts import ids
from tests.support.dash_callbacks import restore_callbacks
from tests.support.receivers import Receiver
from tests.support.sample import NOW, SMALL
from tests.support.services import settings_on
from tests.support.signin import DASH, GUALI, PASSWORD, QUIET_DATATABLE, callback_body, sign_in

pytestmark = QUIET_DATATABLE

CHENGXIANG = "330109001"
SURGE_AT = NOW + dt.timedelta(minutes=1)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('push-district') / 'district.db'}"
    seed_database(url, **SMALL)
    # The simulator's surge: 15 to 30 reports in 瓜沥镇 within the five minutes before SURGE_AT.
    report = sim.step(
        url, SURGE_AT, rate=SMALL["scale"], seed=SMALL["seed"], surge=GUALI, rng=random.Random(5)
    )
    assert 15 <= report.surge_events <= 30
    return url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


@pytest.fixture
def site(district: str, tmp_path: Path, receiver: Receiver) -> Iterator[tuple[Any, FixedClock]]:
    restore_callbacks()
    clock = FixedClock(SURGE_AT)
    settings = settings_on(
        district,
        tmp_path,
        AUTH="local",
        ROLLUPS="off",
        BACKGROUND_REFRESH="off",
        # Only the surge rule speaks: more than 10 reports an hour in a town or grid; overdue growth off.
        ALERT_MIN_CASES=10,
        ALERT_OVERDUE_GROWTH=100_000,
        # The district's robot, and 城厢街道's own robot, which must not hear of 瓜沥镇; a dead one.
        ALERT_WEBHOOKS=(
            f"json:{receiver.url},{CHENGXIANG}:dingtalk:{receiver.url}&town=cx,wecom:http://127.0.0.1:9/dead"
        ),
    )
    app = create_app(settings, clock=clock)
    store = app.server.extensions["dashboard_auth"].store
    store.add_user("guali", "staff", password=PASSWORD, towns=frozenset({GUALI}))
    store.add_user("chengxiang", "staff", password=PASSWORD, towns=frozenset({CHENGXIANG}))
    yield app, clock
    app_context(app.server).service.source_engine.dispose()


def test_a_simulated_surge_opens_one_alert_one_message_taken_on_held_closed_and_kept(
    site: tuple[Any, FixedClock], receiver: Receiver
) -> None:
    app, clock = site
    mine, other = sign_in(app, "guali"), sign_in(app, "chengxiang")

    def refresh(minutes: float) -> None:
        clock.set(SURGE_AT + dt.timedelta(minutes=minutes))
        assert mine.get("/api/v1/snapshot").status_code == 200
        assert other.get("/api/v1/snapshot").status_code == 200

    def alerts(client: Any, query: str = "") -> tuple[list[dict[str, Any]], str]:
        body = client.get("/api/v1/alerts" + query).get_json()
        return body["alerts"], body["csrf_token"]

    for minute in range(5):
        refresh(minute)
    opened, token = alerts(mine, "?status=open")
    assert len(opened) == 1, opened
    [alert] = opened
    assert (alert["kind"], alert["unit_code"], alert["town_code"]) == ("surge", GUALI, GUALI)
    assert len(receiver.bodies) == 1, "one message when it opened, none per refresh"
    [message] = receiver.bodies
    assert message["title"] == "【告警】" + alert["text_zh"] and message["alerts"][0]["id"] == alert["id"]

    # 瓜沥镇's staff take it on; 城厢街道's staff neither see it nor may take it on.
    theirs, their_token = alerts(other)
    assert theirs == []
    refused = other.post(f"/api/v1/alerts/{alert['id']}/ack", json={}, headers={"X-CSRFToken": their_token})
    assert refused.status_code == 403
    taken = mine.post(f"/api/v1/alerts/{alert['id']}/ack", json={}, headers={"X-CSRFToken": token})
    assert taken.status_code == 200 and taken.get_json()["alert"]["acked_by"] == "guali"

    # The surge's reports leave the last hour, then the hold (30 minutes) closes the alert.
    for minute in range(10, 121, 10):
        refresh(minute)
    assert alerts(mine, "?status=open")[0] == []
    [kept] = alerts(mine, "?status=closed")[0]
    assert (kept["id"], kept["closed_by"], kept["acked_by"]) == (alert["id"], "system", "guali")
    assert len(receiver.bodies) == 1, "closing tells nobody; still exactly one message"

    # The dead robot was retried and then kept as failed: /health and the 告警 page say so.
    health = mine.get("/health").get_json()
    [failed] = health["alerts"]["failed_messages"]
    assert failed["channel"] == "wecom:127.0.0.1" and failed["attempts"] == 5 and failed["error"]
    assert health["status"] == "degraded" and health["alerts"]["pending_messages"] == 0
    # The 告警 page's list: its short section of failed messages, for 瓜沥镇's staff and not for others.
    section = page(app, mine)[ids.AL_PUSH_FAILED]
    assert section["hidden"] is False
    text = json.dumps(section["children"], ensure_ascii=False)
    assert "推送失败" in text and "wecom:127.0.0.1" in text and "重试 5 次仍失败，最后一次 11-25 1" in text
    assert page(app, other)[ids.AL_PUSH_FAILED]["hidden"] is True


def page(app: Any, client: Any) -> dict[str, Any]:
    """What the 告警 page's list callback answers ``client`` (its outputs by component id)."""
    values = {
        f"{ids.VIEW}.data": "",
        f"{ids.TICK}.n_intervals": 0,
        f"{ids.AL_STATE}.value": "active",
        f"{ids.AL_RULE}.value": "all",
    }
    answer = client.post(DASH, json=callback_body(app, f"{ids.AL_TABLE}.children", values))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return dict(answer.get_json()["response"])
