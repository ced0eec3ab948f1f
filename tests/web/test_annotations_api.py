"""Notes on the timeline through the API on a signed-in deployment (AUTH=local) with a fixed clock: who
may add and delete them (CSRF, JSON, role, towns), who sees them (district notes and one's own towns',
never another town's), the audit lines, and the snapshot carrying them to the trend figures.

The district is the tiny hand-built one of the lifecycle tests (tests/service/test_alert_lifecycle.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.core.snapshot import Snapshot
from dashboard.present import figures, panels
from dashboard.service.state import audit_log
from dashboard.web.context import app_context
from layouts import ids
from tests.support.factories import TOWN_A, TOWN_B
from tests.support.signin import DASH, QUIET_DATATABLE, callback_body, sign_in
from tests.support.surge import T0, surge_site

pytestmark = QUIET_DATATABLE

DAY = dt.timedelta(days=1)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Any]:
    users = (
        ("admin1", "admin", None),
        ("town_a", "staff", frozenset({TOWN_A})),
        ("town_b", "staff", frozenset({TOWN_B})),
        ("leader1", "leader", None),
    )
    with surge_site(tmp_path, users) as app:
        yield app


def token_of(client: Any) -> str:
    answer = client.get("/api/v1/annotations")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_json()["csrf_token"])


def add(client: Any, body: dict[str, Any], token: str | None) -> Any:
    headers = {"X-CSRFToken": token} if token else {}
    return client.post("/api/v1/annotations", json=body, headers=headers)


def texts(client: Any, query: str = "") -> list[str]:
    answer = client.get("/api/v1/annotations" + query)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return [n["text"] for n in answer.get_json()["annotations"]]


def audited(site: Any) -> list[tuple[str, str, str]]:
    with app_context(site.server).service.state.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.action, audit_log.c.actor, audit_log.c.detail)
            .where(audit_log.c.action.like("annotation_%"))
            .order_by(audit_log.c.id)
        )
        return [(r.action, r.actor, r.detail) for r in rows]


def test_who_adds_who_sees_and_the_audit(site: Any) -> None:
    admin, mine, theirs, leader = (sign_in(site, n) for n in ("admin1", "town_a", "town_b", "leader1"))
    period = {"starts_at": (T0 - 10 * DAY).isoformat(), "ends_at": (T0 - 5 * DAY).isoformat()}
    made = add(admin, {"text": "亚运会安保", **period}, token_of(admin))
    assert made.status_code == 201, made.get_data(as_text=True)
    district_note = made.get_json()["annotation"]
    assert district_note["towns"] == [] and district_note["created_by"] == "admin1"

    token = token_of(mine)
    moment = {"starts_at": (T0 - 2 * DAY).isoformat()}
    ok = add(mine, {"text": "城厢 台风", "towns": ["城厢街道"], **moment}, token)
    assert ok.status_code == 201 and ok.get_json()["annotation"]["towns"] == [TOWN_A]
    # A town's staff: never district-wide, never about another town; a leader writes none.
    assert add(mine, {"text": "全区", **moment}, token).status_code == 403
    assert add(mine, {"text": "北干", "towns": [TOWN_B], **moment}, token).status_code == 403
    assert add(leader, {"text": "领导", **moment}, token_of(leader)).status_code == 403
    # CSRF: no token, another session's token, a form body: nothing written.
    assert add(mine, {"text": "x", **moment}, None).status_code == 400
    assert add(mine, {"text": "x", "towns": [TOWN_A], **moment}, token_of(theirs)).status_code == 400
    form = mine.post("/api/v1/annotations", data={"text": "x"}, headers={"X-CSRFToken": token})
    assert form.status_code == 415
    # Bad fields are named.
    bad = add(mine, {"text": " ", "towns": [TOWN_A], **moment}, token)
    assert bad.status_code == 400 and bad.get_json()["param"] == "text"
    backwards = {"starts_at": T0.isoformat(), "ends_at": (T0 - DAY).isoformat(), "towns": [TOWN_A]}
    assert add(mine, {"text": "x", **backwards}, token).get_json()["param"] == "ends_at"

    # Who sees what: the district note everywhere, 城厢's note in 城厢 and the district view only.
    assert texts(admin) == ["亚运会安保", "城厢 台风"]
    assert texts(mine) == ["亚运会安保", "城厢 台风"]
    assert texts(theirs) == ["亚运会安保"]
    assert texts(admin, f"?town={TOWN_B}") == ["亚运会安保"]
    assert theirs.get(f"/api/v1/annotations?town={TOWN_A}").status_code == 403
    assert texts(admin, f"?from={(T0 - 3 * DAY).isoformat()}") == ["城厢 台风"]
    assert admin.get("/api/v1/annotations?from=yesterday").status_code == 400

    # Delete: the other town may not, its own town may; the audit keeps every step with its text.
    note_id = ok.get_json()["annotation"]["id"]
    gone = theirs.delete(f"/api/v1/annotations/{note_id}", json={}, headers={"X-CSRFToken": token_of(theirs)})
    assert gone.status_code == 403
    assert mine.delete(f"/api/v1/annotations/{note_id}", json={}).status_code == 400  # no CSRF token
    deleted = mine.delete(f"/api/v1/annotations/{note_id}", json={}, headers={"X-CSRFToken": token})
    assert deleted.status_code == 200, deleted.get_data(as_text=True)
    assert mine.delete("/api/v1/annotations/999", json={}, headers={"X-CSRFToken": token}).status_code == 404
    assert texts(mine) == ["亚运会安保"]
    steps = audited(site)
    assert [(a, actor.split(":")[-1].split("@")[0]) for a, actor, _ in steps] == [
        ("annotation_add", "admin1"),
        ("annotation_add", "town_a"),
        ("annotation_delete", "town_a"),
    ]
    assert "城厢 台风" in steps[2][2] and TOWN_A in steps[2][2]


def test_the_snapshot_carries_the_notes_to_the_trend_figures(site: Any) -> None:
    admin, theirs = sign_in(site, "admin1"), sign_in(site, "town_b")
    token = token_of(admin)
    period = {"starts_at": (T0 - 10 * DAY).isoformat(), "ends_at": (T0 - 5 * DAY).isoformat()}
    assert add(admin, {"text": "亚运会安保", **period}, token).status_code == 201
    moment = {"starts_at": (T0 - 2 * DAY).isoformat(), "towns": [TOWN_A]}
    assert add(admin, {"text": "台风", **moment}, token).status_code == 201

    body = admin.get("/api/v1/snapshot?period=month").get_json()
    body.pop("meta")
    snap = Snapshot.from_dict(body)
    assert [n["text"] for n in snap.annotations] == ["亚运会安保", "台风"]
    spec = panels.chart(snap, "trend_90d", "zh")
    band, line = spec.marks
    assert band.end is not None and band.end - band.start == 5  # 10:00 to 10:00 five days on: six days
    assert line.end is None and line.text == "台风（城厢街道）"
    for variant in ("browser", "wall", "print"):
        fig = figures.from_spec(spec, variant)
        shapes = fig["layout"]["shapes"]
        assert [s["type"] for s in shapes] == ["rect", "line"]
        assert shapes[0]["x0"] == band.start - 0.5 and shapes[1]["x0"] == line.start
        assert [a["hovertext"] for a in fig["layout"]["annotations"]] == ["亚运会安保", "台风（城厢街道）"]
    month = figures.from_spec(panels.chart(snap, "trend_period", "zh"), "browser")
    # This month (from 1 December) holds the moment; the November period lies before it.
    assert [s["name"] for s in month["layout"]["shapes"]] == ["note-2"]

    # Another town's staff never get 城厢's note, in the snapshot or its figures.
    other = theirs.get("/api/v1/snapshot").get_json()
    assert [n["text"] for n in other["annotations"]] == ["亚运会安保"]


def note_step(site: Any, client: Any, values: dict[str, Any]) -> str:
    """Click 添加标注 or 删除标注 on the 告警 page; the message it shows."""
    base = {
        f"{ids.NT_ADD}.n_clicks": 0,
        f"{ids.NT_DELETE}.n_clicks": 0,
        f"{ids.VIEW}.data": "",
        f"{ids.NT_DONE}.data": 0,
    }
    answer = client.post(
        DASH,
        json=callback_body(
            site,
            f"{ids.NT_MESSAGE}.children",
            {**values, **{k: v for k, v in base.items() if k not in values}},
        ),
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return str(answer.get_json()["response"][ids.NT_MESSAGE]["children"])


def note_list(site: Any, client: Any) -> dict[str, Any]:
    values = {f"{ids.VIEW}.data": "", f"{ids.NT_DONE}.data": 0}
    answer = client.post(DASH, json=callback_body(site, f"{ids.NT_LIST}.children", values))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return dict(answer.get_json()["response"])


def test_the_alerts_page_adds_and_deletes_notes_for_staff_with_the_csrf_token(site: Any) -> None:
    mine, leader = sign_in(site, "town_a", next_path="/alerts"), sign_in(site, "leader1", next_path="/alerts")
    token = token_of(mine)
    when = {f"{ids.NT_START}.value": "2026-12-01 08:00", f"{ids.NT_END}.value": ""}
    add_click = {f"{ids.NT_ADD}.n_clicks": 1, f"{ids.NT_TEXT}.value": "城厢 防汛", **when}
    # Without the session's token nothing is written; district-wide is refused to a town's staff.
    assert note_step(site, mine, {**add_click, f"{ids.AL_CSRF}.data": None}) == "页面已过期，请刷新后重试"
    refused = note_step(site, mine, {**add_click, f"{ids.AL_CSRF}.data": token})
    assert refused == "您的角色或镇街不允许此操作"
    added = note_step(
        site, mine, {**add_click, f"{ids.NT_TOWNS}.value": [TOWN_A], f"{ids.AL_CSRF}.data": token}
    )
    assert added == "已添加标注 #1"
    shown = note_list(site, mine)
    assert shown[ids.NT_FORM]["hidden"] is False
    assert [o["value"] for o in shown[ids.NT_TOWNS]["options"]] == [TOWN_A]  # only their own towns
    assert [o["value"] for o in shown[ids.NT_TARGET]["options"]] == ["1"]
    assert "城厢 防汛" in str(shown[ids.NT_LIST]["children"])
    # A leader sees the list, not the form.
    assert note_list(site, leader)[ids.NT_FORM]["hidden"] is True
    deleted = note_step(
        site,
        mine,
        {f"{ids.NT_DELETE}.n_clicks": 1, f"{ids.NT_TARGET}.value": "1", f"{ids.AL_CSRF}.data": token},
    )
    assert deleted == "已删除标注 #1"
    assert [a for a, _, _ in audited(site)] == ["annotation_add", "annotation_delete"]
