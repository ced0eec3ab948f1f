"""Kiosk scope (issue 20, hole 3): a wall's cookie reaches only the wall's callbacks, an allow-list
built from the wall layout's component ids (plus the shared URL/view sync and status callbacks the wall
page runs). The event list, the export button, the staff pages' panels and drill-down answer 403.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from layouts import ids
from layouts.wall import wall_layout
from tests.support.signin import (
    DASH,
    GUALI,
    QUIET_DATATABLE,
    callback_body,
    enrol_kiosk,
    sign_in,
    signed_site,
)

CHANGED_PNG = '{"format":"png","type":"export"}.n_clicks'

pytestmark = QUIET_DATATABLE


@pytest.fixture(scope="module")
def site(district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return signed_site(district, Path(tmp_path_factory.mktemp("kiosk")))


@pytest.fixture(scope="module")
def wall(site: Any) -> Any:
    _token, client = enrol_kiosk(site, frozenset({GUALI}))
    return client


def export_click(site: Any) -> dict[str, Any]:
    body = callback_body(
        site, f"{ids.EXPORT_DOWNLOAD}.data", {CHANGED_PNG: 1, "view.data": "", "url.pathname": "/"}
    )
    body["inputs"] = [
        [
            {
                "id": {"type": ids.EXPORT_TYPE, "format": fmt},
                "property": "n_clicks",
                "value": int(fmt == "png"),
            }
            for fmt in ("pptx", "pdf", "png")
        ]
    ]
    return body


def test_a_wall_cookie_cannot_read_the_event_list(site: Any, wall: Any) -> None:
    events = callback_body(site, f"{ids.EV_TABLE}.data", {"view.data": "period=month"})
    answer = wall.post(DASH, json=events)
    assert answer.status_code == 403
    assert "ev-table" not in answer.get_data(as_text=True)


def test_a_wall_cookie_cannot_press_export(site: Any, wall: Any) -> None:
    answer = wall.post(DASH, json=export_click(site))
    assert answer.status_code == 403
    assert "export-download" not in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("output", "values"),
    [
        ("ov-key.data", {"view.data": "", "tick.n_intervals": 1}),
        ("bl-key.data", {"view.data": "", "tick.n_intervals": 1}),
        ("url.search@", {"bl-ageing.clickData": {"points": [{"y": "x"}]}, "view.data": ""}),
    ],
)
def test_a_wall_cookie_cannot_call_staff_page_callbacks(
    site: Any, wall: Any, output: str, values: dict[str, Any]
) -> None:
    assert wall.post(DASH, json=callback_body(site, output, values)).status_code == 403


def test_the_wall_keeps_its_own_callbacks(site: Any, wall: Any) -> None:
    refresh = callback_body(site, f"{ids.WALL_KPIS}.children", {"view.data": "", "tick.n_intervals": 1})
    answer = wall.post(DASH, json=refresh)
    assert answer.status_code == 200
    assert answer.get_json()["response"][ids.WALL_DENIED]["hidden"] is True
    sync = callback_body(site, f"{ids.VIEW}.data", {"url.search": "?pages=overview", "url.pathname": "/wall"})
    assert wall.post(DASH, json=sync).status_code == 200
    for output, values in (
        (f"{ids.ROOT}.className", {"view.data": "", "url.pathname": "/wall"}),
        (f"{ids.DATA_AGE}.children", {"view.data": "", "tick.n_intervals": 1}),
        (f"{ids.BANNER_ERROR}.children", {"view-error.data": None, "view.data": ""}),
    ):
        assert wall.post(DASH, json=callback_body(site, output, values)).status_code == 200, output
    restore = callback_body(
        site, f"{ids.WALL_KPIS}.children", {"wall-need-local.data": True}, without=f"{ids.WALL_SAVED}.data"
    )
    assert wall.post(DASH, json=restore).status_code in {200, 204}


def router_body(site: Any, pathname: str) -> dict[str, Any]:
    return callback_body(
        site, "_pages_content.children", {"_pages_location.pathname": pathname, "_pages_location.search": ""}
    )


def test_a_wall_cookie_gets_the_wall_page_but_no_other(site: Any, wall: Any) -> None:
    """Dash Pages' router draws whichever page the pathname names: for a wall, only the wall."""
    drawn = wall.post(DASH, json=router_body(site, "/wall"))
    assert drawn.status_code == 200
    assert ids.WALL_KPIS in drawn.get_data(as_text=True)
    for other in ("/events", "/", "/backlog", "/wallx"):
        assert wall.post(DASH, json=router_body(site, other)).status_code == 403, other


def test_staff_still_reach_the_event_list_and_export(site: Any) -> None:
    staff = sign_in(site, "leader1")
    events = callback_body(site, f"{ids.EV_TABLE}.data", {"view.data": "period=month"})
    assert staff.post(DASH, json=events).status_code == 200


def test_the_allow_list_is_the_walls_callbacks(site: Any) -> None:
    from dashboard.web.signin import component_ids, wall_callbacks

    site.server.test_client().get("/health")  # Dash fills callback_map at the first request
    allowed = wall_callbacks(site.callback_map, component_ids(wall_layout()))
    assert any(f"{ids.WALL_KPIS}.children" in k for k in allowed)
    assert any(f"{ids.VIEW}.data" in k for k in allowed)
    for staff_only in (
        ids.EV_TABLE,
        ids.EXPORT_DOWNLOAD,
        ids.OV_KEY,
        ids.BL_KEY,
        ids.F_VILLAGE + ".options@",
    ):
        assert not any(staff_only in k and f"{ids.VIEW}.data" not in k for k in allowed), staff_only
