"""Sign-in and kiosk screens in headless Chromium against a real server (DASHBOARD_AUTH=local).

* a town user signs in through the form, lands where they were going, sees only their towns and signs out
  with the header's button (a POST with the form's CSRF token), after which a copy of their cookie is
  refused by the server;
* a wall enrolled with a kiosk token shows its data without the token in the address, and turns into
  未授权屏幕 (data cleared) within one refresh of the token being revoked.

Screenshots go to ``AUTH_SCREENSHOTS`` when that variable names a folder (to look at them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dashboard.source.engines import make_writer_engine
from dashboard.web.accounts import AuthStore
from tests.support.browser import assert_clean, chrome, open_dropdown, serve_dashboard, text_of, wait_for

REFRESH = 2
GUALI, DANGWAN = "330109113", "330109120"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def signed_site(district: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, AuthStore]]:
    state = tmp_path_factory.mktemp("auth-site")
    store = AuthStore(make_writer_engine(f"sqlite:///{state / 'state.db'}"))
    store.add_user("staff1", "staff", password=PASSWORD, towns=frozenset({GUALI, DANGWAN}))
    with serve_dashboard(
        district, state, DASHBOARD_AUTH="local", DASHBOARD_REFRESH_SECONDS=str(REFRESH)
    ) as base:
        yield base, store


def shot(driver: Any, name: str) -> None:
    folder = os.environ.get("AUTH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_a_town_user_signs_in_sees_their_towns_and_signs_out(signed_site: tuple[str, AuthStore]) -> None:
    base, _store = signed_site
    with chrome(1600, 1000) as d:
        d.get(base + "/backlog?period=month")
        wait_for(lambda: "/login" in d.current_url, message="sent to sign in")
        shot(d, "login")
        d.find_element("css selector", "#username").send_keys("staff1")
        d.find_element("css selector", "#password").send_keys(PASSWORD)
        d.find_element("css selector", "button[type=submit]").click()
        wait_for(lambda: "/backlog" in d.current_url and "period=month" in d.current_url, message="back")
        wait_for(lambda: "staff1" in text_of(d, "#account"), message="account in the header")
        wait_for(
            lambda: "瓜沥镇" in text_of(d, "#f-town") and "党湾镇" in text_of(d, "#f-town"),
            message="the town filter holds the user's towns",
        )
        offered = open_dropdown(d, "f-town")
        assert sorted(offered) == ["党湾镇", "瓜沥镇"], offered  # type: ignore[arg-type]
        from selenium.webdriver.common.keys import Keys

        d.switch_to.active_element.send_keys(Keys.ESCAPE)
        wait_for(
            lambda: d.find_elements("css selector", "#bl-ageing .main-svg"), timeout=90, message="charts"
        )
        shot(d, "signed-in")
        assert_clean(d)
        cookie = {"xsdash_session": d.get_cookie("xsdash_session")["value"]}
        assert requests.get(base + "/api/v1/snapshot", cookies=cookie, timeout=30).status_code == 200
        assert requests.get(base + "/logout", cookies=cookie, timeout=30).status_code == 405
        d.find_element("css selector", "#sign-out").click()
        wait_for(lambda: "/login" in d.current_url, message="signed out")
        d.get(base + "/overview")
        wait_for(lambda: "/login" in d.current_url, message="signed out for good")
        # The server ended the session: the cookie as it was before sign-out is refused too.
        assert requests.get(base + "/api/v1/snapshot", cookies=cookie, timeout=30).status_code == 401
        assert requests.get(base + "/download/events.csv", cookies=cookie, timeout=30).status_code == 401


def test_a_revoked_wall_shows_unauthorised_at_its_next_refresh(signed_site: tuple[str, AuthStore]) -> None:
    base, store = signed_site
    token, secret = store.create_token("瓜沥镇分屏", frozenset({GUALI}))
    with chrome(1920, 1080) as d:
        d.get(f"{base}/wall?rotate=30&kiosk={secret}")
        wait_for(lambda: d.current_url.endswith("/wall?rotate=30"), message="token dropped from the address")
        wait_for(
            lambda: len(d.find_elements("css selector", "#wall-kpis .kpi")) >= 5,
            timeout=90,  # a cold view, while the other xdist worker loads the machine
            message="wall data shown",
        )
        wait_for(lambda: text_of(d, "#wall-scope"), message="the board's scope line")
        assert "瓜沥镇" in text_of(d, ".wall-brand h1")  # the token's town names the wall
        assert not d.find_element("css selector", "#wall-denied").is_displayed()
        assert_clean(d)
        revoked_at = time.monotonic()
        store.revoke_token(token.token_id)
        wait_for(
            lambda: d.find_element("css selector", "#wall-denied").is_displayed(),
            timeout=REFRESH * 2 + 5,
            message="未授权屏幕 after the next refresh",
        )
        took = time.monotonic() - revoked_at
        print(f"[auth] revoked wall showed 未授权屏幕 after {took:.1f} s (refresh {REFRESH} s)")
        assert "未授权屏幕" in text_of(d, "#wall-denied")
        assert not d.find_elements("css selector", "#wall-kpis .kpi")
        saved = d.execute_script("return window.localStorage.getItem('wall-saved');")
        assert saved in (None, "null")
        shot(d, "wall-denied")
        d.refresh()
        wait_for(lambda: d.find_elements("css selector", "#unauthorised"), message="reload shows only that")
        assert "未授权屏幕" in text_of(d, "#unauthorised h1")
