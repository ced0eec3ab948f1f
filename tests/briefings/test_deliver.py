"""Delivery to a real SMTP server (aiosmtpd, started here) and to local webhook receivers: DingTalk and
WeCom markdown, plain JSON; retries with a doubling wait, the outcome kept, each channel sent once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.briefings.deliver import (
    channels_from_settings,
    deliver,
    deliver_pending,
    failed_deliveries,
)
from tests.support.factories import sh
from tests.support.receivers import Inbox, Receiver

MANIFEST = {
    "kind": "week",
    "period": "2026-W48",
    "first_day": "2026-11-23",
    "last_day": "2026-11-29",
    "scope": "330109113",
    "lang": "zh",
    "title": "周汇总 · 2026年第48周（11月23日至11月29日）",
    "made_at": "2026-11-30T00:00:00+00:00",
    "files": ["330109113-zh.pptx", "330109113-zh.pdf"],
    "summary": [
        ["核心指标", ["上报量 135件（环比 +15.4%；同比无可比数据）"]],
        ["问题", ["就地化解率 34.62%，低于标准"]],
    ],
}


@pytest.fixture
def briefing(tmp_path: Path) -> Path:
    where = tmp_path / "week" / "2026-W48"
    where.mkdir(parents=True)
    (where / "330109113-zh.pptx").write_bytes(b"PK deck")
    (where / "330109113-zh.pdf").write_bytes(b"%PDF-1.7 deck")
    manifest = where / "330109113-zh.json"
    manifest.write_text(json.dumps(MANIFEST, ensure_ascii=False), encoding="utf-8")
    return manifest


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    made = {"dingtalk": Receiver(), "wecom": Receiver(failures=2), "json": Receiver()}
    yield made
    for r in made.values():
        r.close()


def test_mail_and_webhooks_deliver_once_with_retries(
    briefing: Path, smtp: tuple[str, Inbox], receivers: dict[str, Receiver]
) -> None:
    smtp_url, inbox = smtp
    hooks = ",".join(f"{kind}:{r.url}" for kind, r in receivers.items())
    channels = channels_from_settings(smtp_url, "zhihui@xs.example,ld@xs.example", hooks)
    waits: list[float] = []
    outcome = deliver(briefing, channels, public_url="https://dash.xs.example", sleep=waits.append)
    assert {name: o["ok"] for name, o in outcome.items()} == {
        "smtp:127.0.0.1": True, "dingtalk:127.0.0.1": True, "wecom:127.0.0.1": True, "json:127.0.0.1": True,
    }  # fmt: skip
    assert outcome["wecom:127.0.0.1"]["attempts"] == 3 and waits == [2.0, 4.0]  # two 500s, then delivered
    ((rcpt, mail),) = inbox.messages
    assert rcpt == ["zhihui@xs.example", "ld@xs.example"] and mail["Subject"] == MANIFEST["title"]
    parts = {p.get_filename(): p.get_payload(decode=True) for p in mail.walk() if p.get_filename()}
    assert parts == {"330109113-zh.pptx": b"PK deck", "330109113-zh.pdf": b"%PDF-1.7 deck"}
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_content()
    assert "上报量 135件" in text and "https://dash.xs.example/briefings/week/2026-W48/" in text
    ding = receivers["dingtalk"].bodies[0]
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"] == MANIFEST["title"]
    assert (
        "【问题】" in ding["markdown"]["text"]
        and "(https://dash.xs.example/briefings/week/2026-W48/)" in ding["markdown"]["text"]
    )
    assert receivers["wecom"].bodies[-1]["markdown"]["content"].startswith("### 周汇总")
    assert (
        receivers["json"].bodies[0]["scope"] == "330109113"
        and "deliveries" not in receivers["json"].bodies[0]
    )
    # The outcome is kept with the briefing, without any secret; a rerun sends nothing again.
    kept = json.loads(briefing.read_text(encoding="utf-8"))
    assert set(kept["deliveries"]) == set(outcome) and "SECRET123" not in briefing.read_text(encoding="utf-8")
    deliver(briefing, channels, sleep=waits.append)
    assert len(inbox.messages) == 1 and len(receivers["dingtalk"].bodies) == 1


def test_a_failing_channel_is_recorded_without_secrets_and_retried_later(
    briefing: Path, tmp_path: Path
) -> None:
    robot = Receiver(failures=99)
    refusing = Receiver(answer={"errcode": 310000, "errmsg": "sign not match"})
    try:
        channels = channels_from_settings("", "", f"dingtalk:{robot.url},wecom:{refusing.url}")
        outcome = deliver(briefing, channels, sleep=lambda _s: None)
        assert not outcome["dingtalk:127.0.0.1"]["ok"] and outcome["dingtalk:127.0.0.1"]["attempts"] == 3
        assert "SECRET123" not in json.dumps(outcome) and "500" in outcome["dingtalk:127.0.0.1"]["error"]
        assert "errcode 310000" in outcome["wecom:127.0.0.1"]["error"]  # a robot's refusal is a failure too
        failed = failed_deliveries(tmp_path)
        assert {f["channel"] for f in failed} == {"dingtalk:127.0.0.1", "wecom:127.0.0.1"}
        robot.failures = 0  # the robot is back: the next pass delivers what failed, and only that
        refusing.bodies.clear()
        again = deliver_pending(tmp_path, channels[:1], since=sh(2026, 11, 1), sleep=lambda _s: None)
        assert next(iter(again.values()))["dingtalk:127.0.0.1"]["ok"]
    finally:
        robot.close()
        refusing.close()


def test_bad_channel_settings_name_the_setting() -> None:
    with pytest.raises(ValueError, match="DASHBOARD_BRIEFING_MAIL_TO"):
        channels_from_settings("smtp://relay.xs.example", "", "")
    with pytest.raises(ValueError, match="DASHBOARD_BRIEFING_WEBHOOKS"):
        channels_from_settings("", "", "slack:https://hooks.example")
    with pytest.raises(ValueError, match="DASHBOARD_BRIEFING_SMTP"):
        channels_from_settings("mail.xs.example", "a@xs.example", "")
    (channel,) = channels_from_settings("smtp://user:pw@relay.xs.example:587?starttls=1", "a@xs.example", "")
    assert channel.name == "smtp:relay.xs.example"  # what logs and the archive show: no user, no password
