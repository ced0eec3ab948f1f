"""The alerts' push: one message when alerts open or escalate, grouped, rate-limited per target, sent once
however many processes drain, retried and then kept as failed; targets per scope; real SMTP (aiosmtpd).

The lifecycle is fed hand-made firing rules with fixed moments, so each step is exact; the local
receivers are real HTTP servers (tests/briefings/test_deliver.py's ``Receiver``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.core.domain import towns
from dashboard.service.alerts import AlertBook
from dashboard.service.push import ATTEMPTS, AlertPush, Target, parse_targets
from dashboard.service.state import StateStore, alert_notice_table
from dashboard.service.transport import Channel
from tests.support.receivers import Inbox, Receiver

T0 = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)
HOLD = dt.timedelta(minutes=30)
TOWN_CODES = [t.code for t in towns()]
GUALI, CHENGXIANG = "330109113", "330109001"


def firing(unit: str, count: int = 12, severity: str = "warn") -> dict[str, Any]:
    return {
        "kind": "surge",
        "level": "town" if len(unit) == 9 else "grid",
        "unit_code": unit,
        "count": count,
        "threshold": 5.0,
        "severity": severity,
        "text_zh": f"{unit} 近1小时上报 {count} 件",
        "text_en": f"{unit}: {count} reports in the last hour",
    }


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    made = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield made
    made.dispose()


@pytest.fixture
def robot() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def book_with(state: StateStore, *targets: Target, interval: float = 60.0) -> tuple[AlertBook, AlertPush]:
    push = AlertPush(state, targets, interval=interval, public_url="https://dash.xs.example")
    return AlertBook(state, HOLD, lambda _conn, _now: [], push), push


def storm(count: int) -> list[dict[str, Any]]:
    """``count`` town and grid alerts at once, across the district."""
    units = TOWN_CODES + [f"{code}201001" for code in TOWN_CODES]
    return [firing(unit) for unit in units[:count]]


def test_a_storm_of_30_alerts_makes_one_grouped_message_and_the_rate_limit_groups_the_next(
    state: StateStore, robot: Receiver
) -> None:
    book, push = book_with(state, Target(Channel("json", robot.url)))
    step = book.advance(storm(30), T0)
    assert len(step.opened) == 30
    assert push.drain(T0) is None and push.pending() == 0
    [message] = robot.bodies
    assert message["title"] == "30 条新告警" and len(message["alerts"]) == 30
    assert len(message["lines"]) == 21 and message["lines"][-1] == "……另 10 条"
    assert message["link"] == "https://dash.xs.example/alerts"

    # Later refreshes of the same alerts tell nobody again.
    for second in (10, 20, 30):
        book.advance(storm(30), T0 + dt.timedelta(seconds=second))
        push.drain(T0 + dt.timedelta(seconds=second))
    assert len(robot.bodies) == 1

    # Two more within the minute wait for the target's gate, then go out together; so does an escalation.
    at = T0 + dt.timedelta(seconds=40)
    more = [*storm(30), firing("330109001202001"), firing("330109002202001")]
    more[0] = firing(TOWN_CODES[0], count=40, severity="bad")
    step = book.advance(more, at)
    assert len(step.opened) == 2 and step.escalated == (1,)
    assert push.drain(at) == T0 + dt.timedelta(seconds=60)
    assert len(robot.bodies) == 1, "rate-limited: at most one message per target per minute"
    assert push.drain(T0 + dt.timedelta(seconds=60)) is None
    second = robot.bodies[1]
    assert second["title"] == "2 条新告警，1 条告警升级"
    assert {a["event"] for a in second["alerts"]} == {"open", "escalate"}
    assert any("升级为红色" in line for line in second["lines"])


def test_one_alert_is_named_and_a_town_target_hears_only_its_town(state: StateStore) -> None:
    district, guali = Receiver(), Receiver()
    try:
        book, push = book_with(
            state, Target(Channel("dingtalk", district.url)), Target(Channel("wecom", guali.url), GUALI)
        )
        book.advance([firing(CHENGXIANG)], T0)
        push.drain(T0)
        assert len(district.bodies) == 1 and guali.bodies == []
        ding = district.bodies[0]["markdown"]
        assert ding["title"] == f"【告警】{CHENGXIANG} 近1小时上报 12 件"
        assert "（橙色，10:00 起，峰值 12）" in ding["text"] and "/alerts)" in ding["text"]
        book.advance([firing(CHENGXIANG), firing(GUALI + "201001")], T0 + dt.timedelta(minutes=2))
        push.drain(T0 + dt.timedelta(minutes=2))
        assert len(district.bodies) == 2 and len(guali.bodies) == 1  # a grid of 瓜沥镇: its town's target
        assert guali.bodies[0]["markdown"]["content"].startswith(f"### 【告警】{GUALI}201001")
        # The same robot named for the district and for the town: told once.
        twice = AlertPush(
            state, [Target(Channel("wecom", guali.url)), Target(Channel("wecom", guali.url), GUALI)]
        )
        with state.engine.begin() as conn:
            assert twice.enqueue(conn, 99, GUALI, "open", T0) == 1
    finally:
        district.close()
        guali.close()


def test_several_processes_draining_at_once_send_each_alert_once(db_url: str, robot: Receiver) -> None:
    """Four workers, each with its own pool on one state store (SQLite, PostgreSQL, MariaDB), drain the
    same storm at the same moment: one message, every row sent."""
    target = Target(Channel("json", robot.url))
    stores = [StateStore(db_url) for _ in range(4)]
    try:
        book, _push = book_with(stores[0], target)
        book.advance(storm(30), T0)
        processes = [AlertPush(store, [target]) for store in stores]
        start = threading.Barrier(len(processes))

        def drain(push: AlertPush) -> None:
            start.wait()
            push.drain(T0)

        threads = [threading.Thread(target=drain, args=(p,)) for p in processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(robot.bodies) == 1 and len(robot.bodies[0]["alerts"]) == 30
        with stores[0].engine.connect() as conn:
            states = [r.state for r in conn.execute(select(alert_notice_table))]
        assert states == ["sent"] * 30
    finally:
        for store in stores:
            store.dispose()


def test_a_failing_target_is_retried_with_a_doubling_wait_then_kept_as_failed(state: StateStore) -> None:
    robot = Receiver(failures=99)
    try:
        book, push = book_with(state, Target(Channel("json", robot.url)), interval=1)
        book.advance([firing(CHENGXIANG)], T0)
        moment, waits = T0, []
        for _ in range(ATTEMPTS):
            due = push.drain(moment)
            if due is None:
                break
            waits.append((due - moment).total_seconds())
            moment = due
        assert waits == [30.0, 60.0, 120.0, 240.0]
        assert len(robot.bodies) == ATTEMPTS and push.pending() == 0
        [failed] = push.failed(T0)
        assert failed["attempts"] == ATTEMPTS and "500" in failed["error"] and "SECRET123" not in str(failed)
        assert failed["channel"] == "json:127.0.0.1" and failed["alert"].startswith(CHENGXIANG)
        assert push.failed(T0, frozenset({GUALI})) == []  # another town's staff do not see it
    finally:
        robot.close()


def test_mail_goes_through_a_real_smtp_server(state: StateStore, smtp: tuple[str, Inbox]) -> None:
    relay, inbox = smtp
    targets = parse_targets("", relay, f"zhihui@xs.example,{GUALI}:gl@xs.example")
    book, push = book_with(state, *targets)
    book.advance([firing(GUALI), firing(CHENGXIANG)], T0)
    push.drain(T0)
    mails = sorted(inbox.messages, key=lambda m: m[0])
    assert [rcpt for rcpt, _ in mails] == [["gl@xs.example"], ["zhihui@xs.example"]]
    town_mail, district_mail = mails[0][1], mails[1][1]
    assert district_mail["Subject"] == "2 条新告警" and district_mail["From"] == "dashboard@xs.example"
    assert town_mail["Subject"] == f"【告警】{GUALI} 近1小时上报 12 件"
    assert "https://dash.xs.example/alerts" in district_mail.get_content()


def test_targets_per_scope_from_the_settings() -> None:
    hooks = "dingtalk:https://oapi.dingtalk.com/robot/send?access_token=A,瓜沥镇:wecom:https://qyapi.weixin.qq.com/x"
    found = parse_targets(
        hooks + f",{CHENGXIANG}:json:http://10.0.0.5/hook", "smtp://relay", "a@x,瓜沥镇:b@x"
    )
    assert [(t.channel.kind, t.town) for t in found] == [
        ("dingtalk", None),
        ("wecom", GUALI),
        ("json", CHENGXIANG),
        ("smtp", None),
        ("smtp", GUALI),
    ]
    assert "access_token" not in found[0].channel.key and found[0].channel.key.startswith("dingtalk:oapi")
    with pytest.raises(ValueError, match="DASHBOARD_ALERT_WEBHOOKS: '火星镇'"):
        parse_targets("火星镇:dingtalk:https://x", "", "")
    with pytest.raises(ValueError, match="DASHBOARD_ALERT_WEBHOOKS"):
        parse_targets("slack:https://x", "", "")
    with pytest.raises(ValueError, match="DASHBOARD_ALERT_SMTP"):
        parse_targets("", "", "a@x")


def test_the_background_sender_drains_and_stops_when_nothing_waits(
    state: StateStore, robot: Receiver
) -> None:
    book, push = book_with(state, Target(Channel("json", robot.url)))
    book.advance(storm(3), T0)
    push.kick(lambda: T0)
    push.kick(lambda: T0)  # a second kick while it runs: no second thread, no second message
    for _ in range(100):
        if not push.running:
            break
        time.sleep(0.05)
    assert not push.running, "the thread ends once the outbox is empty"
    assert len(robot.bodies) == 1 and robot.bodies[0]["title"] == "3 条新告警"


def test_rows_for_a_target_taken_out_of_the_settings_show_as_failed(
    state: StateStore, robot: Receiver
) -> None:
    book, _push = book_with(state, Target(Channel("json", robot.url)))
    book.advance([firing(CHENGXIANG)], T0)
    changed = AlertPush(state, [Target(Channel("json", robot.url + "&v=2"))])  # its token rotated
    assert changed.drain(T0) is None and robot.bodies == [] and changed.pending() == 0
    [failed] = changed.failed(T0)
    assert failed["error"] == "the target is no longer configured" and failed["channel"] == "json:127.0.0.1"
