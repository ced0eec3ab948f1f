"""The 简报 page on a signed-in deployment: the archive with its downloads, the failed deliveries and the
definitions, each within the viewer's towns; admins define, change and delete briefings (CSRF-checked,
audited); a town user neither sees nor fetches another town's or the district's briefings."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.briefings import defined
from dashboard.service.state import audit_log
from dashboard.web.app import start_briefings
from dashboard.web.context import app_context
from layouts import ids
from tests.support.factories import TOWN_A, TOWN_B
from tests.support.signin import DASH, QUIET_DATATABLE, all_props, callback_body, sign_in
from tests.support.surge import T0, surge_site

pytestmark = QUIET_DATATABLE
HOOKS = "hall=dingtalk:https://oapi.dingtalk.com/robot/send?access_token=SECRET"


def archive(root: Path) -> None:
    """Three week briefings (the district's, TOWN_A's, TOWN_B's); TOWN_A's mail failed."""
    where = root / "week" / "2026-W48"
    where.mkdir(parents=True)
    for scope in ("district", TOWN_A, TOWN_B):
        stem = f"{scope}-zh"
        for fmt in ("pptx", "pdf"):
            (where / f"{stem}.{fmt}").write_bytes(f"{scope}.{fmt}".encode())
        manifest: dict[str, Any] = {
            "kind": "week", "period": "2026-W48", "first_day": "2026-11-23", "last_day": "2026-11-29",
            "scope": scope, "lang": "zh", "title": f"周汇总 · {scope}", "made_at": "2026-11-30T00:00:00+00:00",
            "files": [f"{stem}.pptx", f"{stem}.pdf"], "summary": [],
        }  # fmt: skip
        if scope == TOWN_A:
            manifest["deliveries"] = {
                "smtp:relay": {
                    "ok": False,
                    "attempts": 3,
                    "at": "2026-11-30T00:01:00+00:00",
                    "error": "refused",
                }
            }
        (where / f"{stem}.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Any]:
    archive(tmp_path / "briefings")
    users = (("admin1", "admin", None), ("chengxiang", "staff", frozenset({TOWN_A})))
    briefings = {"BRIEFINGS_DIR": str(tmp_path / "briefings"), "BRIEFING_WEBHOOKS": HOOKS}
    with surge_site(tmp_path, users, **briefings) as app:
        app.server.test_client().get("/_favicon.ico")  # Dash fills app.callback_map at the first request
        yield app


def page(site: Any, client: Any, view: str = "", kind: str = "all") -> dict[str, Any]:
    values = {f"{ids.VIEW}.data": view, f"{ids.BR_KIND}.value": kind, f"{ids.BR_DONE}.data": 0}
    answer = client.post(DASH, json=callback_body(site, f"{ids.BR_ARCHIVE}.children", values))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return dict(answer.get_json()["response"])


def links(shown: dict[str, Any]) -> list[str]:
    return [p["href"] for p in all_props(shown[ids.BR_ARCHIVE]["children"]) if "href" in p]


def define(site: Any, client: Any, token: str | None, *, delete: bool = False, **form: Any) -> str:
    button = ids.BR_DELETE if delete else ids.BR_SAVE
    values = {
        f"{button}.n_clicks": 1,
        f"{ids.BR_DEF_ID}.value": form.get("def_id"),
        f"{ids.BR_DEF_KIND}.value": form.get("kind", "week"),
        f"{ids.BR_DEF_TOWNS}.value": form.get("towns", []),
        f"{ids.BR_DEF_LANG}.value": form.get("lang", "zh"),
        f"{ids.BR_DEF_MAIL}.value": form.get("mail", ""),
        f"{ids.BR_DEF_HOOKS}.value": form.get("hooks", []),
        f"{ids.BR_CSRF}.data": token,
        f"{ids.VIEW}.data": "",
        f"{ids.BR_DONE}.data": 0,
    }
    answer = client.post(DASH, json=callback_body(site, f"{ids.BR_MESSAGE}.children", values))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return str(answer.get_json()["response"][ids.BR_MESSAGE]["children"])


def audited(site: Any) -> list[tuple[str, str, str]]:
    with app_context(site.server).service.state.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action.like("briefing_define%"))).all()
    return [(r.actor, r.action, r.detail) for r in rows]


def test_the_page_is_in_the_nav_and_lists_what_each_viewer_may_see(site: Any) -> None:
    admin, mine = sign_in(site, "admin1"), sign_in(site, "chengxiang")
    assert mine.get("/briefings").status_code == 200
    layout = mine.get("/_dash-layout", headers={"Referer": "http://localhost/briefings?town=" + TOWN_A})
    [link] = [p for p in all_props(layout.get_json()) if p.get("id") == ids.nav_link("briefings")]
    assert link["children"] == "简报" and link["href"] == f"/briefings?town={TOWN_A}"  # carries the view

    shown = page(site, admin)
    assert len(links(shown)) == 6 and shown[ids.BR_SUMMARY]["children"] == "共 3 份简报（周汇总 3）"
    assert "refused" in str(shown[ids.BR_FAILED]["children"]) and shown[ids.BR_FORM]["hidden"] is False
    assert [o["value"] for o in shown[ids.BR_DEF_HOOKS]["options"]] == ["hall"]
    assert "SECRET" not in json.dumps(shown)

    own = page(site, mine)  # a town user: their town's briefing only, and its failed mail
    assert links(own) == [
        f"/briefings/week/2026-W48/{TOWN_A}-zh.pptx",
        f"/briefings/week/2026-W48/{TOWN_A}-zh.pdf",
    ]
    assert "refused" in str(own[ids.BR_FAILED]["children"]) and own[ids.BR_FORM]["hidden"] is True
    assert own[ids.BR_DEF_ID]["options"] == [] and own[ids.BR_DEF_HOOKS]["options"] == []
    assert mine.get(links(own)[0]).status_code == 200
    assert mine.get(f"/briefings/week/2026-W48/{TOWN_B}-zh.pdf").status_code == 404
    assert mine.get("/briefings/week/2026-W48/district-zh.pdf").status_code == 404
    went = mine.get("/briefings/week/2026-W48/")  # the link in a briefing's messages: to this page
    assert went.status_code == 302 and went.headers["Location"].endswith("/briefings")
    assert mine.get("/briefings/fortnight/2026-W48/").status_code == 404

    narrowed = page(site, admin, f"town={TOWN_B}")  # the filter bar's towns narrow an admin's list too
    assert links(narrowed)[0].endswith(f"{TOWN_B}-zh.pptx") and "refused" not in str(narrowed[ids.BR_FAILED])
    assert page(site, admin, kind="month")[ids.BR_SUMMARY]["children"] == "共 0 份简报（—）"
    english = page(site, admin, "lang=en")
    assert english[ids.BR_SUMMARY]["children"] == "3 briefings (Weekly summary 3)"


def test_admins_define_change_and_delete_with_csrf_and_audit(site: Any) -> None:
    admin, mine = sign_in(site, "admin1"), sign_in(site, "chengxiang")
    token, staff_token = page(site, admin)[ids.BR_CSRF]["data"], page(site, mine)[ids.BR_CSRF]["data"]
    assert token and staff_token and token != staff_token
    form = {"towns": [TOWN_A], "mail": "a@hall.example", "hooks": ["hall"]}
    assert define(site, mine, staff_token, **form) == "只有管理员可以定义简报"
    assert define(site, admin, None, **form) == "页面已过期，请刷新后重试"
    assert define(site, admin, staff_token, **form) == "页面已过期，请刷新后重试"  # another session's
    assert define(site, admin, token, **(form | {"mail": "nobody"})).startswith("未保存：mail_to")
    assert audited(site) == []

    assert define(site, admin, token, **form) == "已新建简报定义 #1"
    assert define(site, admin, token, def_id="1", **(form | {"lang": "en"})) == "已保存简报定义 #1"
    assert define(site, admin, token, kind="month") == "已新建简报定义 #2"  # the district's
    shown = page(site, admin)
    assert "#1 周汇总" in str(shown[ids.BR_DEFS]) and "#2 月分析" in str(shown[ids.BR_DEFS])
    own = str(page(site, mine)[ids.BR_DEFS])
    assert "#1 周汇总" in own and "#2" not in own  # a town user sees their towns' definitions only

    values = {f"{ids.BR_DEF_ID}.value": "1"}  # choosing one fills the form
    filled = admin.post(DASH, json=callback_body(site, f"{ids.BR_DEF_KIND}.value", values)).get_json()[
        "response"
    ]
    assert filled[ids.BR_DEF_TOWNS]["value"] == [TOWN_A] and filled[ids.BR_DEF_LANG]["value"] == "en"
    assert filled[ids.BR_DEF_MAIL]["value"] == "a@hall.example" and filled[ids.BR_DEF_HOOKS]["value"] == [
        "hall"
    ]
    refused = mine.post(DASH, json=callback_body(site, f"{ids.BR_DEF_KIND}.value", values))
    assert refused.status_code == 204  # a town user's form stays empty (PreventUpdate)
    assert define(site, admin, token, delete=True) == "请先选择要删除的定义"
    assert define(site, admin, token, delete=True, def_id="2") == "已删除简报定义 #2"
    assert define(site, admin, token, delete=True, def_id="2") == "简报定义 #2 不存在"
    log = audited(site)
    assert [a for _, a, _ in log] == [
        "briefing_define_add", "briefing_define_update", "briefing_define_add", "briefing_define_delete"
    ]  # fmt: skip
    assert all(actor.startswith("user:admin1@") and "SECRET" not in detail for actor, _, detail in log)


def test_the_server_starts_the_scheduler_only_once_briefings_are_defined(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = (
        threading.Event()
    )  # the pass itself is the scheduler tests' (tests/briefings): here, only that it runs
    monkeypatch.setattr(defined, "scheduled_pass", lambda *a, **k: lambda: ran.set() or [])
    shown = page(site, sign_in(site, "admin1"))
    assert "尚未定义简报" in str(shown[ids.BR_DEFS])  # DASHBOARD_BRIEFINGS is empty by default
    assert start_briefings(site) is None  # what make run / make serve call: nothing defined, no scheduler
    app_context(site.server).briefing_defs.add("week", [TOWN_A], "zh", "", [], "admin", T0)
    scheduler = start_briefings(site)
    try:
        assert scheduler is not None and scheduler.running
        assert ran.wait(10)  # the missed-runs pass, at start
        time.sleep(0.2)  # APScheduler removes its one-off job after the run
    finally:
        scheduler.shutdown(wait=True)


def test_the_first_definition_on_the_page_starts_the_scheduler_without_a_restart(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server started with nothing defined runs no scheduler; the admin's first definition on the page
    starts it in that process (an app no server started, as in the test above, never runs one)."""
    from dashboard.web.context import SCHEDULER_KEY

    ran = threading.Event()
    monkeypatch.setattr(defined, "scheduled_pass", lambda *a, **k: lambda: ran.set() or [])
    admin = sign_in(site, "admin1")
    token = page(site, admin)[ids.BR_CSRF]["data"]
    assert define(site, admin, token, kind="month") == "已新建简报定义 #1"
    assert site.server.extensions.get(SCHEDULER_KEY) is None  # not a served app: nothing started
    app_context(site.server).briefing_defs.delete(1, "admin", T0)

    assert start_briefings(site) is None  # what make run / make serve call: nothing defined yet
    assert define(site, admin, token, kind="week").startswith("已新建简报定义 #")
    scheduler = site.server.extensions.get(SCHEDULER_KEY)
    try:
        assert scheduler is not None and scheduler.running
        assert ran.wait(10)  # the missed-runs pass, at start
        assert start_briefings(site) is scheduler  # once per process
        time.sleep(0.2)  # APScheduler removes its one-off job after the run
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
