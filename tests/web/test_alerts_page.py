"""The 告警 page on a signed-in deployment (AUTH=local) with a fixed clock: who sees which alerts, who may
take one on or close it from the page, the CSRF token its steps need, and the thresholds section (admins).

The district is the tiny hand-built one of the lifecycle tests: a surge in 城厢街道 (TOWN_A) opens one
alert at the first refresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.service.state import audit_log
from dashboard.web.context import app_context
from layouts import ids
from layouts.pages import ALERT_COLUMNS
from tests.support.factories import TOWN_A, TOWN_B
from tests.support.signin import DASH, GUALI, QUIET_DATATABLE, all_props, callback_body, sign_in
from tests.support.surge import T0, surge_site

pytestmark = QUIET_DATATABLE


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Any]:
    users = (
        ("admin1", "admin", None),
        ("leader1", "leader", None),
        ("chengxiang", "staff", frozenset({TOWN_A})),
        ("guali", "staff", frozenset({GUALI, TOWN_B})),
    )
    with surge_site(tmp_path, users) as app:
        app.server.test_client().get("/_favicon.ico")  # Dash fills app.callback_map at the first request
        yield app


def page(site: Any, client: Any, view: str = "", state: str = "active") -> dict[str, Any]:
    """What the page's list callback answers ``client`` (its outputs by component id)."""
    values = {
        f"{ids.VIEW}.data": view,
        f"{ids.TICK}.n_intervals": 0,
        f"{ids.AL_STATE}.value": state,
        f"{ids.AL_RULE}.value": "all",
    }
    answer = client.post(DASH, json=callback_body(site, f"{ids.AL_TABLE}.children", values))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return {k: v for k, v in answer.get_json()["response"].items()}


def table(shown: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the page's table: id, state and each column's text."""
    rows = []
    for props in all_props(shown[ids.AL_TABLE]["children"]):
        if "data-status" in props:
            cells = [cell["props"]["children"] for cell in props["children"]]
            rows.append(
                {
                    "id": int(props["data-id"]),
                    "status": props["data-status"],
                    **dict(zip(ALERT_COLUMNS, cells, strict=True)),
                }
            )
    return rows


def act(site: Any, client: Any, step: str, alert_id: int, token: str | None, note: str = "") -> str:
    """Click 认领 (``ack``) or 处置并关闭 (``close``) on the page; the message it shows."""
    button = ids.AL_ACK if step == "ack" else ids.AL_CLOSE
    values = {
        f"{button}.n_clicks": 1,
        f"{ids.AL_TARGET}.value": str(alert_id),
        f"{ids.AL_NOTE}.value": note,
        f"{ids.AL_CSRF}.data": token,
        f"{ids.VIEW}.data": "",
        f"{ids.AL_DONE}.data": 0,
    }
    answer = client.post(DASH, json=callback_body(site, f"{ids.AL_MESSAGE}.children", values))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return str(answer.get_json()["response"][ids.AL_MESSAGE]["children"])


def change_rule(
    site: Any, client: Any, step: str, token: str | None, town: str, param: str, value: str = ""
) -> str:
    button = ids.AL_RULE_SET if step == "set" else ids.AL_RULE_UNSET
    values = {
        f"{button}.n_clicks": 1,
        f"{ids.AL_RULE_TOWN}.value": town,
        f"{ids.AL_RULE_PARAM}.value": param,
        f"{ids.AL_RULE_VALUE}.value": value,
        f"{ids.AL_CSRF}.data": token,
        f"{ids.VIEW}.data": "",
        f"{ids.AL_RULES_DONE}.data": 0,
    }
    answer = client.post(DASH, json=callback_body(site, f"{ids.AL_RULE_MESSAGE}.children", values))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return str(answer.get_json()["response"][ids.AL_RULE_MESSAGE]["children"])


def audited(site: Any, action: str) -> list[tuple[str, str]]:
    with app_context(site.server).service.state.engine.connect() as conn:
        found = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail).where(audit_log.c.action == action)
        )
        return [(r.actor, r.detail) for r in found]


@pytest.fixture
def opened(site: Any) -> int:
    """The id of the surge alert of 城厢街道, opened by a screen's refresh."""
    assert sign_in(site, "admin1").get("/api/v1/snapshot").status_code == 200
    [alert] = app_context(site.server).alert_book.alerts(T0)
    return alert.id


def test_the_page_is_in_the_nav_and_lists_what_each_viewer_may_see(site: Any, opened: int) -> None:
    admin, leader, mine, other = (sign_in(site, n) for n in ("admin1", "leader1", "chengxiang", "guali"))
    assert mine.get("/alerts").status_code == 200
    layout = mine.get("/_dash-layout", headers={"Referer": "http://localhost/alerts?town=" + TOWN_A})
    [link] = [p for p in all_props(layout.get_json()) if p.get("id") == ids.nav_link("alerts")]
    assert link["children"] == "告警" and link["href"] == f"/alerts?town={TOWN_A}"  # carries the view

    shown = page(site, admin)
    [row] = table(shown)
    assert (row["id"], row["status"], row["al_state"], row["al_peak"]) == (opened, "open", "待认领", "12")
    assert "城厢街道" in row["al_text"] and row["al_rule"] == "上报激增" and row["al_opened"] == "12-03 10:00"
    assert shown[ids.AL_ACTIONS]["hidden"] is False and shown[ids.AL_RULES]["hidden"] is False
    assert "min_cases" not in str(shown[ids.AL_RULES_TABLE]["children"])  # named in words, not codes

    led = page(site, leader)  # leaders watch: the alert, but no panel to act and no thresholds
    assert len(table(led)) == 1
    assert led[ids.AL_ACTIONS]["hidden"] is True and led[ids.AL_RULES]["hidden"] is True

    own = page(site, mine)
    assert [r["id"] for r in table(own)] == [opened]
    assert [o["value"] for o in own[ids.AL_TARGET]["options"]] == [str(opened)]
    assert own[ids.AL_ACTIONS]["hidden"] is False and own[ids.AL_RULES]["hidden"] is True

    theirs = page(site, other)  # another town's staff: not their alert
    assert table(theirs) == [] and theirs[ids.AL_TARGET]["options"] == []
    assert theirs[ids.AL_SUMMARY]["children"] == "没有符合条件的告警"
    forged = other.post(
        DASH,
        json=callback_body(
            site,
            f"{ids.AL_TABLE}.children",
            {
                f"{ids.VIEW}.data": f"town={TOWN_A}",
                f"{ids.AL_STATE}.value": "active",
                f"{ids.AL_RULE}.value": "all",
            },
        ),
    )
    assert forged.status_code == 403

    english = page(site, admin, "lang=en")
    assert table(english)[0]["al_state"] == "Open"
    assert "Rule" in str(english[ids.AL_TABLE]["children"])


def test_taking_on_and_closing_from_the_page_checks_town_role_and_csrf(site: Any, opened: int) -> None:
    mine, other, leader = (sign_in(site, n) for n in ("chengxiang", "guali", "leader1"))
    token = page(site, mine)[ids.AL_CSRF]["data"]
    their_token = page(site, other)[ids.AL_CSRF]["data"]
    assert token and their_token and token != their_token

    assert act(site, other, "ack", opened, their_token) == "您的角色或镇街无权处理该告警"
    assert act(site, leader, "ack", opened, page(site, leader)[ids.AL_CSRF]["data"]).startswith("您的角色")
    assert act(site, mine, "ack", opened, None) == "页面已过期，请刷新后重试"  # no token
    assert act(site, mine, "ack", opened, their_token) == "页面已过期，请刷新后重试"  # another session's
    assert audited(site, "alert_ack") == []

    assert act(site, mine, "ack", opened, token) == f"已认领告警 #{opened}"
    [(actor, _)] = audited(site, "alert_ack")
    assert actor.startswith("user:chengxiang@")
    assert act(site, mine, "ack", opened, token).startswith("无法操作")  # already taken on
    [row] = table(page(site, mine))
    assert row["status"] == "acked" and row["al_taken_by"].startswith("chengxiang ")

    assert act(site, mine, "close", opened, token, "  ") == "请填写处置说明"
    assert act(site, other, "close", opened, their_token, "不是我们的").startswith("您的角色")
    assert act(site, mine, "close", opened, token, "已核实，重复上报") == f"已关闭告警 #{opened}"
    assert table(page(site, mine)) == []  # no longer open
    [closed] = table(page(site, mine, state="closed"))
    assert closed["al_note"] == "已核实，重复上报" and closed["al_closed_at"].startswith("chengxiang ")
    assert any("重复上报" in detail for _, detail in audited(site, "alert_close"))


def test_thresholds_change_from_the_page_for_admins_only(site: Any, opened: int) -> None:
    admin, mine = sign_in(site, "admin1"), sign_in(site, "chengxiang")
    token, staff_token = page(site, admin)[ids.AL_CSRF]["data"], page(site, mine)[ids.AL_CSRF]["data"]
    assert (
        change_rule(site, mine, "set", staff_token, TOWN_A, "min_cases", "50") == "只有管理员可以修改告警阈值"
    )
    assert change_rule(site, admin, "set", None, TOWN_A, "min_cases", "50") == "页面已过期，请刷新后重试"
    assert change_rule(site, admin, "set", token, TOWN_A, "min_cases", "x").startswith("数值无效")
    assert audited(site, "alert_rule_set") == []

    assert (
        change_rule(site, admin, "set", token, TOWN_A, "min_cases", "50") == "已设定 城厢街道 min_cases = 50"
    )
    [(actor, detail)] = audited(site, "alert_rule_set")
    assert actor.startswith("user:admin1@") and detail == f"{TOWN_A} min_cases=50 (was default)"
    assert "城厢街道 50" in str(page(site, admin)[ids.AL_RULES_TABLE]["children"])
    assert change_rule(site, admin, "unset", token, TOWN_A, "min_cases") == "城厢街道 min_cases 已恢复默认"
    assert len(audited(site, "alert_rule_unset")) == 1
