"""Sign-in, roles, kiosk tokens and the viewer's scope at every entry point (DASHBOARD_AUTH=local/proxy).

The app runs on the shared small seeded district through the Flask test client; users and tokens are
made with the same store the ``users``/``tokens`` commands use. A town user must get only their towns'
rows from pages, the event list, CSV, the API, PPTX/PDF/PNG exports, as-of views and raw (forged)
``/_dash-update-component`` requests; personal data is shown only to the roles that may see it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.core.domain import town_by_code
from dashboard.service.state import audit_log
from dashboard.web.accounts import AuthStore
from dashboard.web.app import create_app
from dashboard.web.context import app_context
from tests.support.dash_callbacks import restore_callbacks
from tests.support.services import settings_on
from tests.support.signin import (
    CHENGXIANG,
    DANGWAN,
    DASH,
    GUALI,
    PASSWORD,
    QUIET_DATATABLE,
    callback_body,
    form_token,
    logout_token,
    sign_in,
    signed_site,
)

pytestmark = QUIET_DATATABLE

ALL_TOWN_NAMES = {t.name_zh for t in town_by_code().values()}


# --- the app and its people --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(district: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A signed-in deployment (AUTH=local) with one user per role."""
    yield signed_site(district, tmp_path_factory.mktemp("auth"))


@pytest.fixture
def staff(site: Any) -> Any:
    return sign_in(site, "staff1")


def audit(site: Any, action: str) -> list[Any]:
    with app_context(site.server).service.state.engine.connect() as conn:
        return list(conn.execute(select(audit_log).where(audit_log.c.action == action)))


# --- sign-in -------------------------------------------------------------------------------------------


def test_strangers_are_sent_to_sign_in_and_json_answers_401(site: Any) -> None:
    client = site.server.test_client()
    page = client.get("/backlog?town=瓜沥镇")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=")
    assert "%E7%93%9C%E6%B2%A5%E9%95%87" in page.headers["Location"]  # the town survives the detour
    for path in ("/api/v1/snapshot", "/download/events.csv", "/export/deck.pptx", "/_dash-layout"):
        assert client.get(path).status_code == 401, path
    assert client.post(DASH, json=callback_body(site, "ev-table.data", {"view.data": ""})).status_code == 401
    assert client.get("/health").status_code == 200
    assert client.get("/login").status_code == 200
    assert client.get("/assets/10-base.css").status_code == 200


def test_sign_in_checks_the_password_the_form_token_and_the_next_address(site: Any) -> None:
    client = site.server.test_client()
    csrf = form_token(client.get("/login").get_data(as_text=True))
    wrong = client.post(
        "/login", data={"csrf_token": csrf, "username": "leader1", "password": "not it at all"}
    )
    assert wrong.status_code == 401
    assert "用户名或密码错误" in wrong.get_data(as_text=True)
    forged = client.post("/login", data={"csrf_token": "forged", "username": "leader1", "password": PASSWORD})
    assert forged.status_code == 400
    away = client.post(
        "/login?next=//evil.example/x",
        data={"csrf_token": csrf, "username": "leader1", "password": PASSWORD},
    )
    assert away.status_code == 303
    assert away.headers["Location"] == "/"  # never to another site
    assert client.get("/api/v1/snapshot").status_code == 200
    assert audit(site, "sign_in_failed")
    assert any(row.actor == "leader1" for row in audit(site, "sign_in"))


def test_passwords_are_stored_hashed_in_the_state_store_only(site: Any, district: str) -> None:
    store: AuthStore = site.test_store
    with store.engine.connect() as conn:
        hashes = [r[0] for r in conn.exec_driver_sql("SELECT password_hash FROM dashboard_user")]
    assert hashes
    assert all(h.startswith(("scrypt:", "pbkdf2:")) and PASSWORD not in h for h in hashes)
    from sqlalchemy import create_engine, inspect

    source_tables = inspect(create_engine(district)).get_table_names()
    assert "dashboard_user" not in source_tables and "dashboard_kiosk_token" not in source_tables


def test_repeated_failures_are_limited(site: Any) -> None:
    site.test_store.add_user("victim1", "leader", password=PASSWORD)
    client = site.server.test_client()
    csrf = form_token(client.get("/login").get_data(as_text=True))
    codes = [
        client.post(
            "/login", data={"csrf_token": csrf, "username": "victim1", "password": f"guess {i}"}
        ).status_code
        for i in range(7)
    ]
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429, 429]
    right = client.post("/login", data={"csrf_token": csrf, "username": "victim1", "password": PASSWORD})
    assert right.status_code == 429  # even the right password waits: no guessing through the limit
    assert int(right.headers["Retry-After"]) > 0
    assert audit(site, "sign_in_limited")
    # Other names from the same address are not locked out by one name's failures.
    assert sign_in(site, "handler1").get("/api/v1/snapshot").status_code == 200


def test_disabling_a_user_or_changing_the_password_ends_their_sessions(site: Any) -> None:
    store: AuthStore = site.test_store
    store.add_user("temp1", "leader", password=PASSWORD)
    client = sign_in(site, "temp1")
    assert client.get("/api/v1/snapshot").status_code == 200
    store.update_user("temp1", password="another long password")
    assert client.get("/api/v1/snapshot").status_code == 401
    store.update_user("temp1", password=PASSWORD)
    client = sign_in(site, "temp1")
    store.update_user("temp1", disabled=True)
    assert client.get("/api/v1/snapshot").status_code == 401
    assert client.get("/overview").status_code == 302
    # An open page learns it at its next refresh: a banner says so, and no data comes back.
    status = client.post(
        DASH, json=callback_body(site, "data-age.children", {"view.data": "", "tick.n_intervals": 3})
    )
    assert status.status_code == 200
    banner = status.get_json()["response"]["banner-stale"]
    assert "登录已失效" in banner["children"] and banner["hidden"] is False
    refresh = callback_body(site, "ov-key.data", {"view.data": "", "tick.n_intervals": 3})
    assert client.post(DASH, json=refresh).status_code == 401


def test_sign_out_ends_the_session(site: Any) -> None:
    client = sign_in(site, "leader1")
    assert client.post("/logout").status_code == 400  # without the header form's token: refused
    assert client.get("/api/v1/snapshot").status_code == 200
    assert client.post("/logout", data={"csrf_token": logout_token(site, client)}).status_code == 303
    assert client.get("/api/v1/snapshot").status_code == 401
    assert audit(site, "sign_out")


# --- scope at every entry point --------------------------------------------------------------------


def test_api_and_as_of_views_obey_the_towns(staff: Any) -> None:
    mine = staff.get("/api/v1/snapshot").get_json()
    assert sorted(mine["view"]["town"]) == [GUALI, DANGWAN]
    ranking_towns = {row["code"] for row in mine.get("rankings", {}).get("towns", []) if "code" in row}
    assert ranking_towns <= {GUALI, DANGWAN}
    assert staff.get("/api/v1/snapshot?town=" + CHENGXIANG).status_code == 403
    assert staff.get(f"/api/v1/snapshot?town={GUALI},{CHENGXIANG}").status_code == 200  # narrowed
    as_of = staff.get("/api/v1/snapshot?as_of=2026-11-20T10:00&town=" + CHENGXIANG)
    assert as_of.status_code == 403
    past = staff.get("/api/v1/snapshot?as_of=2026-11-20T10:00").get_json()
    assert sorted(past["view"]["town"]) == [GUALI, DANGWAN]


def csv_rows(client: Any, query: str = "period=month") -> list[list[str]]:
    import csv

    answer = client.get("/download/events.csv?" + query)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:200]
    text = answer.get_data(as_text=True).lstrip("\ufeff")
    return [r for r in csv.reader(io.StringIO(text)) if r and not r[0].startswith("#")]


def test_csv_has_only_the_users_towns_and_masks_personal_data(site: Any, staff: Any) -> None:
    rows = csv_rows(staff)
    header, body = rows[0], rows[1:]
    assert body
    town, reporter, phone, address = (header.index(c) for c in ("镇街", "上报人", "联系电话", "地址"))
    assert {r[town] for r in body} <= {"瓜沥镇", "党湾镇"}
    assert all(re.fullmatch(r"\d{3}\*{4}\d{4}|", r[phone]) for r in body)
    assert all(r[reporter].endswith("*") for r in body if r[reporter])
    assert all(r[address].endswith("****") for r in body if r[address])
    assert staff.get("/download/events.csv?town=" + CHENGXIANG).status_code == 403


def test_roles_that_may_see_personal_data_see_it(site: Any) -> None:
    handler = sign_in(site, "handler1")
    rows = csv_rows(handler)
    header, body = rows[0], rows[1:]
    town, phone, address = (header.index(c) for c in ("镇街", "联系电话", "地址"))
    assert {r[town] for r in body} == {"瓜沥镇"}
    assert any(re.fullmatch(r"1\d{10}", r[phone]) for r in body)
    assert any(r[address] and not r[address].endswith("****") for r in body)
    leader_rows = csv_rows(sign_in(site, "leader1"))
    phone_l = leader_rows[0].index("联系电话")
    assert len({r[leader_rows[0].index("镇街")] for r in leader_rows[1:]}) > 2  # the whole district
    assert all("****" in r[phone_l] for r in leader_rows[1:] if r[phone_l])
    admin_rows = csv_rows(sign_in(site, "admin1"))
    assert any(re.fullmatch(r"1\d{10}", r[admin_rows[0].index("联系电话")]) for r in admin_rows[1:])


def test_forged_update_requests_cannot_leave_the_towns(site: Any, staff: Any) -> None:
    events = callback_body(site, "ev-table.data", {"view.data": "period=month&town=" + CHENGXIANG})
    assert staff.post(DASH, json=events).status_code == 403
    refresh = callback_body(site, "ov-key.data", {"view.data": "town=" + CHENGXIANG, "tick.n_intervals": 1})
    assert staff.post(DASH, json=refresh).status_code == 403
    own = callback_body(site, "ev-table.data", {"view.data": "period=month"})
    answer = staff.post(DASH, json=own)
    assert answer.status_code == 200
    rows = answer.get_json()["response"]["ev-table"]["data"]
    assert rows and {r["town"] for r in rows} <= {"瓜沥镇", "党湾镇"}
    villages = callback_body(site, "f-village.options", {"f-town.value": [CHENGXIANG], "view.data": ""})
    answer = staff.post(DASH, json=villages)
    assert answer.status_code == 200
    assert answer.get_json()["response"]["f-village"]["options"] == []
    own_town = callback_body(site, "f-village.options", {"f-town.value": [GUALI], "view.data": ""})
    offered = staff.post(DASH, json=own_town).get_json()["response"]["f-village"]["options"]
    assert offered and all(o["value"].startswith(GUALI) for o in offered)


def test_pages_offer_only_the_users_towns(site: Any, staff: Any) -> None:
    layout = staff.get("/_dash-layout", headers={"Referer": "http://localhost/backlog"}).get_data(
        as_text=True
    )
    offered = set(re.findall(r'"value":\s*"(3301091\d\d)"', layout))
    assert offered == {GUALI, DANGWAN}
    assert "staff1" in layout  # the header names who is signed in, with a sign-out link
    assert staff.get("/backlog").status_code == 200


def deck_towns(payload: bytes) -> set[str]:
    from pptx import Presentation

    deck = Presentation(io.BytesIO(payload))
    text = []
    for slide in deck.slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                text.append(shape.text_frame.text)
            if getattr(shape, "has_chart", False) and shape.has_chart:
                for plot in shape.chart.plots:
                    text.extend(str(c) for c in plot.categories)
            if getattr(shape, "has_table", False) and shape.has_table:
                text.extend(cell.text for row in shape.table.rows for cell in row.cells)
    joined = "\n".join(text)
    return {name for name in ALL_TOWN_NAMES if name in joined}


def test_exports_obey_the_towns(site: Any, staff: Any) -> None:
    for path in ("/export/deck.pptx", "/export/deck.pdf", "/export/panel.png?panel=backlog_map"):
        joiner = "&" if "?" in path else "?"
        assert staff.get(f"{path}{joiner}town={CHENGXIANG}").status_code == 403, path
    deck = staff.get("/export/deck.pptx?pages=overview,backlog,rankings")
    assert deck.status_code == 200
    assert deck_towns(deck.data) <= {"瓜沥镇", "党湾镇"}
    assert "瓜沥镇" in deck_towns(deck.data)
    leader = sign_in(site, "leader1").get("/export/deck.pptx?pages=rankings")
    assert len(deck_towns(leader.data)) > 2  # the same deck for a leader names the whole district


def test_png_and_pdf_exports_are_built_from_the_narrowed_view(
    site: Any, staff: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every snapshot an export reads is the town user's (the renderer itself is stubbed here)."""
    service = app_context(site.server).service
    seen: list[tuple[str, ...]] = []
    real = service.snapshot

    def spy(view: Any, scope: Any = None) -> Any:
        result = real(view, scope)
        seen.append(tuple(result.snapshot.view.get("town", [])) if result.snapshot else ())
        return result

    monkeypatch.setattr(service, "snapshot", spy)
    converted: list[bytes] = []

    def fake_pdf(deck: bytes) -> bytes:
        converted.append(deck)
        return b"%PDF-1.4 stub"

    monkeypatch.setattr("dashboard.export.pdf.pptx_to_pdf", fake_pdf)
    import dashboard.export.exporter as export

    def fake_png(snapshot: Any, *_a: Any, **_k: Any) -> bytes:
        return b"\x89PNG stub"

    monkeypatch.setattr(export, "_panel_png", fake_png)
    answer = staff.get("/export/panel.png?panel=backlog_map")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:200]
    pdf = staff.get("/export/deck.pdf?pages=rankings")
    assert pdf.status_code == 200, pdf.get_data(as_text=True)[:200]
    assert len(seen) == 2 and all(set(t) == {GUALI, DANGWAN} for t in seen)
    assert deck_towns(converted[0]) <= {"瓜沥镇", "党湾镇"}  # the deck the PDF is made from


# --- kiosk screens -------------------------------------------------------------------------------------


def test_a_kiosk_token_is_traded_for_a_cookie_and_opens_only_the_wall(site: Any) -> None:
    store: AuthStore = site.test_store
    token, secret = store.create_token("瓜沥镇分屏", frozenset({GUALI}))
    wall = site.server.test_client()
    enrol = wall.get(f"/wall?pages=overview&kiosk={secret}")
    assert enrol.status_code == 303
    assert enrol.headers["Location"] == "/wall?pages=overview"  # the token leaves the address
    assert wall.get("/wall?pages=overview").status_code == 200
    refresh = callback_body(site, "wall-kpis.children", {"view.data": "", "tick.n_intervals": 1})
    answer = wall.post(DASH, json=refresh)
    assert answer.status_code == 200
    response = answer.get_json()["response"]
    assert response["wall-denied"]["hidden"] is True
    assert response["wall-scope"]["children"]  # the wall shows its town
    forged = callback_body(
        site, "wall-kpis.children", {"view.data": "town=" + CHENGXIANG, "tick.n_intervals": 2}
    )
    assert wall.post(DASH, json=forged).status_code == 403
    for path in ("/overview", "/api/v1/snapshot", "/download/events.csv", "/export/deck.pptx"):
        assert wall.get(path).status_code == 403, path
    assert any(r.actor == f"kiosk:{token.token_id}" for r in audit(site, "kiosk_enrolled"))

    # Revoked: the next refresh clears the screen and shows 未授权屏幕; a reload shows only that.
    store.revoke_token(token.token_id)
    store._cache.clear()  # another worker would see it within LOOKUP_TTL; this test needs no wait
    answer = wall.post(DASH, json=refresh)
    assert answer.status_code == 200
    response = answer.get_json()["response"]
    assert response["wall-denied"]["hidden"] is False
    assert response["wall-kpis"]["children"] == []
    assert response["wall-saved"]["data"] is None  # the browser's local copy is dropped too
    reload = wall.get("/wall?pages=overview")
    assert reload.status_code == 403
    assert "未授权屏幕" in reload.get_data(as_text=True)
    assert wall.post(DASH, json=callback_body(site, "ev-table.data", {"view.data": ""})).status_code == 401


def test_bad_and_revoked_tokens_get_the_unauthorised_screen(site: Any) -> None:
    store: AuthStore = site.test_store
    token, secret = store.create_token("旧屏", None)
    store.revoke_token(token.token_id)
    for attempt in (secret, "xsk_0000000000_" + "a" * 43, "nonsense", ""):
        answer = site.server.test_client().get("/wall?kiosk=" + attempt)
        assert answer.status_code == 403
        assert "未授权屏幕" in answer.get_data(as_text=True)
    assert audit(site, "kiosk_refused")


# --- proxy sign-in (single sign-on) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxied(district: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    restore_callbacks()
    tmp = tmp_path_factory.mktemp("proxy")
    settings = settings_on(district, tmp, AUTH="proxy", PROXY_TRUSTED="127.0.0.1,10.0.0.0/8")
    app = create_app(settings)
    app.server.extensions["dashboard_auth"].store.add_user(
        "sso-staff", "staff", password=None, towns=frozenset({GUALI})
    )
    yield app


def test_proxy_header_is_trusted_only_from_the_proxy(proxied: Any) -> None:
    client = proxied.server.test_client()
    header = {"X-Remote-User": "sso-staff"}
    mine = client.get("/api/v1/snapshot", headers=header, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert mine.status_code == 200
    assert mine.get_json()["view"]["town"] == [GUALI]
    outsider = proxied.server.test_client().get(
        "/api/v1/snapshot", headers=header, environ_base={"REMOTE_ADDR": "192.168.9.9"}
    )
    assert outsider.status_code == 401
    unknown = proxied.server.test_client().get("/overview", headers={"X-Remote-User": "nobody"})
    assert unknown.status_code == 403
    assert "尚未开通" in unknown.get_data(as_text=True)
    none = proxied.server.test_client().get("/overview")
    assert none.status_code == 403


# --- the command line ----------------------------------------------------------------------------------


def run_cli(command: str, *args: str, state: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m dashboard`` in a subprocess, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "dashboard", command, "--state-url", f"sqlite:///{state}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_main(
    command: str, *args: str, state: Path, monkeypatch: pytest.MonkeyPatch, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """The same command through ``dashboard.cli.main`` in this process (a subprocess costs ~2.5 s of
    imports); an exception, which a subprocess would print as a traceback, fails the test."""
    from contextlib import redirect_stderr, redirect_stdout

    from dashboard.cli import main

    argv = [command, "--state-url", f"sqlite:///{state}", *args]
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def test_users_and_tokens_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first two commands run as an operator runs them (a subprocess: the entry point, its exit codes
    and a bad password without a traceback); the others through ``main`` in this process."""
    state = tmp_path / "state.db"
    added = run_cli("users", "add", "wang", "--role", "staff", "--towns", "瓜沥,党湾镇", "--password-stdin",
                    state=state, stdin="a long enough password\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "瓜沥镇,党湾镇" in added.stdout
    short = run_cli("users", "passwd", "wang", "--password-stdin", state=state, stdin="short\n")
    assert short.returncode == 2 and "at least 10" in short.stderr and "Traceback" not in short.stderr

    def cli(command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_main(command, *args, state=state, monkeypatch=monkeypatch)

    nowhere = cli("users", "add", "li", "--role", "staff", "--sso")
    assert nowhere.returncode == 2 and "needs the towns" in nowhere.stderr
    mars = cli("users", "add", "li", "--role", "staff", "--towns", "火星镇", "--sso")
    assert mars.returncode == 2 and "unknown town" in mars.stderr
    listing = json.loads(cli("users", "list", "--json").stdout)
    assert listing == [
        {
            "username": "wang",
            "display_name": None,
            "role": "staff",
            "towns": sorted([GUALI, DANGWAN]),
            "disabled": False,
            "sign_in": "password",
        }
    ]
    made = cli("tokens", "create", "--name", "大厅主屏", "--base-url", "http://10.0.0.5:8050")
    assert made.returncode == 0, made.stderr
    link = re.search(r"http://10\.0\.0\.5:8050/wall\?kiosk=(xsk_\w+_[\w-]+)", made.stdout)
    assert link is not None
    # The secret is token_urlsafe: it may itself hold "_" (or start with one), so split twice only.
    _prefix, token_id, secret = link.group(1).split("_", 2)
    assert "revoked" in cli("tokens", "revoke", token_id).stdout
    again = cli("tokens", "revoke", token_id)
    assert again.returncode == 2 and "revoked already" in again.stderr
    listed = cli("tokens", "list").stdout
    assert token_id in listed and "revoked" in listed and secret not in listed
    store = AuthStore(
        __import__("dashboard.source.engines", fromlist=["x"]).make_writer_engine(f"sqlite:///{state}")
    )
    assert store.redeem(link.group(1)) is None  # revoked
    actions = [r[0] for r in store.engine.connect().exec_driver_sql("SELECT action FROM audit_log")]
    assert actions == ["user_add", "token_create", "token_revoke"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_auth_store_on_each_backend(backend: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from dashboard.source.engines import make_writer_engine
    from tests.support.services import make_empty_database

    urls = make_empty_database(backend, tmp_path_factory)
    url = next(urls)
    try:
        store = AuthStore(make_writer_engine(url))
        store.add_user("zhao", "handler", password=PASSWORD, towns=frozenset({GUALI}))
        assert store.verify_password("zhao", PASSWORD) is not None
        assert store.verify_password("zhao", "wrong password!") is None
        assert store.verify_password("nobody", PASSWORD) is None
        with pytest.raises(ValueError, match="exists already"):
            store.add_user("zhao", "admin", password=PASSWORD)
        token, secret = store.create_token("屏", frozenset({GUALI}))
        redeemed = store.redeem(secret)
        assert redeemed is not None and redeemed.token_id == token.token_id and redeemed.towns == {GUALI}
        store.revoke_token(token.token_id)
        assert store.redeem(secret) is None
        assert store.secret_key() == store.secret_key()
        first, second = (store.start_session("zhao", 12, "10.0.0.9") for _ in range(2))
        found = store.session(first)
        assert found is not None and found.username == "zhao"
        assert found.expires_at - found.created_at >= dt.timedelta(hours=12) - dt.timedelta(seconds=1)
        store.end_session(first)
        assert store.session(first) is None and store.session(second) is not None
        store.update_user("zhao", password="a new long password")  # ends the rest
        assert store.session(second) is None
        store.engine.dispose()
    finally:
        next(urls, None)
