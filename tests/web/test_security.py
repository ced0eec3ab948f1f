"""Security headers, the callback guard, error answers, per-client limits and the audit log.

Most checks use the Flask test client on a small seeded district; one starts the dashboard and loads
its pages in headless Chromium to prove the Content-Security-Policy does not break Dash.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.core.scope import DISTRICT
from dashboard.core.settings import load_settings
from dashboard.service.state import audit_log
from dashboard.web.app import create_app
from dashboard.web.context import app_context
from dashboard.web.security import content_security_policy
from tests.support.dash_callbacks import restore_callbacks
from tests.support.services import need

pytestmark = pytest.mark.filterwarnings(
    r"ignore:\s*The dash_table.DataTable will be removed:DeprecationWarning"
)

DASH = "/_dash-update-component"
LEAKS = ("Traceback", 'File "', "/work/", "site-packages", "secret")


@pytest.fixture
def app(district: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    restore_callbacks()
    settings = load_settings(
        env={},
        DATABASE_URL=district,
        STATE_URL=f"sqlite:///{tmp_path / 'state.db'}",
        CACHE_DIR=str(tmp_path / "c"),
    )

    def stub(*_args: Any, **_kwargs: Any) -> tuple[bytes, str, str]:
        return b"\x89PNG stub", "panel.png", "image/png"

    monkeypatch.setattr("dashboard.web.context.export_view", stub)  # /export/* and the export button
    app = create_app(settings)
    assert app.server.test_client().get("/").status_code == 200  # Dash sets itself up
    return app


@pytest.fixture
def client(app: Any) -> Any:
    return app.server.test_client()


def audit_rows(app: Any) -> list[Any]:
    store = app_context(app.server).service.state
    with store.engine.connect() as conn:
        return list(conn.execute(select(audit_log).order_by(audit_log.c.id)))


# --- headers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/wall", "/api/v1/snapshot", "/download/events.csv", "/health"])
def test_security_headers_on_every_answer(client: Any, app: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in csp
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"]
    for digest in app.csp_hashes():  # Dash's inline scripts (renderer, page-title callback) by hash
        assert digest in directives["script-src"]
    if path != "/" and path != "/wall":
        assert headers["Cache-Control"] == "no-store"


def test_export_answers_are_not_cached(client: Any) -> None:
    response = client.get("/export/panel.png?panel=backlog_map")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in response.headers


def test_policy_text() -> None:
    policy = content_security_policy(["'sha256-abc='"])
    assert policy.startswith(
        "default-src 'self'; script-src 'self' 'sha256-abc='; style-src 'self' 'unsafe-inline'"
    )
    assert "img-src 'self' data: blob:" in policy and "connect-src 'self'" in policy
    assert "base-uri 'self'" in policy and "font-src 'self' data:" in policy


# --- the callback guard and error answers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (
            b'{"output": "nope.children", "outputs": {"id": "nope", "property": "children"}, "inputs": []}',
            400,
        ),
        (json.dumps({"output": "x", "pad": "x" * (1024 * 1024)}).encode(), 413),
    ],
)
def test_bad_callback_requests_answer_json_4xx(client: Any, body: bytes, status: int) -> None:
    response = client.post(DASH, data=body, content_type="application/json")
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert "error" in response.get_json()


def test_unknown_pattern_id_is_refused(client: Any) -> None:
    body = {
        "output": "..export-download.data...export-status.children..",
        "outputs": [
            {"id": "export-download", "property": "data"},
            {"id": "export-status", "property": "children"},
        ],
        "inputs": [[{"id": {"type": "export", "format": "exe"}, "property": "n_clicks", "value": 1}]],
        "state": [
            {"id": "view", "property": "data", "value": ""},
            {"id": "url", "property": "pathname", "value": "/"},
        ],
        "changedPropIds": ['{"format":"exe","type":"export"}.n_clicks'],
    }
    response = client.post(DASH, json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "inputs[0]: unknown component id"


def test_a_list_of_outputs_for_one_plain_output_is_refused(client: Any) -> None:
    # Dash takes a list as a wildcard output's and fails on it (500): found by the fuzz test.
    body = {
        "output": "wall-server-now.data",
        "outputs": [],
        "inputs": [{"id": "wall-server-tick", "property": "n_intervals", "value": None}],
        "state": [],
        "changedPropIds": ["wall-server-tick.n_intervals"],
    }
    response = client.post(DASH, json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "outputs: expected an object with id and property"


def test_a_failing_callback_answers_without_its_traceback(app: Any, client: Any) -> None:
    key = "..data-age.children...banner-stale.children...banner-stale.hidden...banner-asof.hidden...banner-asof-text.children.."
    entry = app.callback_map[key]

    def explode(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret detail /etc/passwd")

    original, entry["callback"] = entry["callback"], explode
    try:
        response = client.post(
            DASH,
            json={
                "output": key,
                "outputs": [
                    {"id": o.split(".")[0], "property": o.split(".")[1]} for o in key[2:-2].split("...")
                ],
                "inputs": [
                    {"id": "view", "property": "data", "value": ""},
                    {"id": "tick", "property": "n_intervals", "value": 1},
                ],
                "changedPropIds": ["tick.n_intervals"],
            },
        )
    finally:
        entry["callback"] = original
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error"}
    body = response.get_data(as_text=True)
    for leak in LEAKS:
        assert leak not in body


def test_the_walls_saved_copy_passes_the_guard(app: Any, client: Any) -> None:
    """The largest real request: the wall's fallback sends back the snapshot kept in local storage."""
    from dashboard.core.viewstate import ViewState

    snapshot = app_context(app.server).service.snapshot(ViewState(), DISTRICT).snapshot
    key = next(
        k
        for k, v in app.callback_map.items()
        if v["inputs"] == [{"id": "wall-need-local", "property": "data"}]
    )
    saved = {"snapshot": snapshot.to_dict(), "computed_at": "2026-11-28T06:00:00+00:00", "query": ""}
    body = {
        "output": key,
        "outputs": [
            {"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]} for o in key[2:-2].split("...")
        ],
        "inputs": [{"id": "wall-need-local", "property": "data", "value": True}],
        "state": [
            {"id": "wall-saved", "property": "data", "value": saved},
            {"id": "view", "property": "data", "value": ""},
            {"id": "wall-scale", "property": "data", "value": 1.0},
            {"id": "wall-wide", "property": "data", "value": False},
        ],
        "changedPropIds": ["wall-need-local.data"],
    }
    raw = json.dumps(body, ensure_ascii=False, default=str).encode()
    assert len(raw) < 1024 * 1024 / 2  # half the limit: room for a larger district
    response = client.post(DASH, data=raw, content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


def test_error_answers_carry_no_internals(client: Any) -> None:
    cases = [
        (client.get("/api/v1/nothing"), 404, "application/json"),
        (client.get("/_dash-component-suites/evil/x.js"), 404, "application/json"),
        (client.get("/assets/missing.css"), 404, "text/plain"),
        (client.get(DASH), 405, "application/json"),
        (client.put("/api/v1/snapshot"), 405, "application/json"),
        (client.post(DASH, data=b"{}", content_type="text/plain"), 415, "application/json"),
    ]
    for response, status, mimetype in cases:
        assert response.status_code == status, response.request.path
        assert response.mimetype == mimetype, response.request.path
        body = response.get_data(as_text=True)
        assert "<html" not in body.lower() and "Traceback" not in body


# --- limits and the audit log ---------------------------------------------------------------------------


def test_csv_downloads_are_limited_per_client_and_audited(app: Any, client: Any) -> None:
    app.server.config["SECURITY_DOWNLOADS_PER_MINUTE"] = 3
    assert client.get("/download/events.csv?period=week").status_code == 200
    assert client.get("/download/events.csv?colour=red").status_code == 400  # a refusal does not count
    for _ in range(2):
        assert client.get("/download/events.csv?period=week").status_code == 200
    refused = client.get("/download/events.csv?period=week")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["error"]
    other = client.get("/download/events.csv", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other.status_code == 200  # the limit is per client address
    rows = [r for r in audit_rows(app) if r.action == "download_csv"]
    assert [r.actor for r in rows] == ["127.0.0.1"] * 3 + ["10.0.0.7"]
    assert rows[0].detail == "/download/events.csv?period=week"


def test_exports_are_limited_per_client_and_audited(app: Any, client: Any) -> None:
    app.server.config["SECURITY_EXPORTS_PER_MINUTE"] = 2
    assert client.get("/export/panel.png?panel=backlog_map&town=城厢").status_code == 200
    assert client.get("/export/panel.png?panel=nope").status_code == 400  # does not count
    assert client.get("/export/deck.pptx?period=week").status_code == 200
    refused = client.get("/export/deck.pptx?period=week")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    rows = [r for r in audit_rows(app) if r.action == "export"]
    assert len(rows) == 2
    assert rows[0].actor == "127.0.0.1"
    assert rows[0].detail.startswith("/export/panel.png?panel=backlog_map")
    assert rows[1].detail == "/export/deck.pptx?period=week"


def test_the_export_button_is_limited_and_audited(
    app: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.server.config["SECURITY_EXPORTS_PER_MINUTE"] = 1
    key = "..export-download.data...export-status.children.."

    def click(n: int) -> Any:
        return client.post(
            DASH,
            json={
                "output": key,
                "outputs": [
                    {"id": "export-download", "property": "data"},
                    {"id": "export-status", "property": "children"},
                ],
                "inputs": [
                    [
                        {
                            "id": {"type": "export", "format": f},
                            "property": "n_clicks",
                            "value": n if f == "png" else 0,
                        }
                        for f in ("pptx", "pdf", "png")
                    ]
                ],
                "state": [
                    {"id": "view", "property": "data", "value": "town=330109001"},
                    {"id": "url", "property": "pathname", "value": "/backlog"},
                ],
                "changedPropIds": ['{"format":"png","type":"export"}.n_clicks'],
            },
        )

    from dashboard.export.common import ExportError

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise ExportError("renderer unavailable")

    with monkeypatch.context() as patch:
        patch.setattr("dashboard.web.context.export_view", broken)
        failed = click(1)  # the page shows the error; no file, so neither counted nor audited
        assert failed.status_code == 200 and "renderer unavailable" in failed.get_data(as_text=True)
    first = click(2)
    assert first.status_code == 200, first.get_data(as_text=True)[:300]
    assert click(3).status_code == 429
    rows = [r for r in audit_rows(app) if r.action == "export"]
    assert len(rows) == 1
    assert rows[0].detail == "button png page=/backlog view=town=330109001"


# --- the policy in a real browser -------------------------------------------------------------------------

PAGES = {
    "/": "#kpi-reported .kpi-value",
    "/backlog": "#bl-ageing .main-svg",
    "/events": "#ev-table tbody tr",
    "/wall": "#wall-kpis > *",
}


@pytest.fixture(scope="module")
def server(district: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.support.browser import serve_dashboard

    with serve_dashboard(district, tmp_path_factory.mktemp("security-server")) as base:
        yield base


@pytest.mark.browser
def test_pages_render_under_the_policy_in_chromium(server: str) -> None:
    from tests.support.browser import CHROMEDRIVER, CHROMIUM, wait_for

    need(Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists(), "Chromium and chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1600,1000", f"--user-data-dir={tempfile.mkdtemp(prefix='chrome-')}",
    ):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    # Record every violation the page reports, from before its first script runs.
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.__csp = []; document.addEventListener('securitypolicyviolation', e =>"
            " window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        },
    )
    try:
        for path, ready in PAGES.items():
            driver.get(server + path)
            wait_for(lambda ready=ready: driver.find_elements("css selector", ready), 45, f"{path} rendered")
            time.sleep(0.3)  # late scripts (plotly chunks) report violations asynchronously
            violations = driver.execute_script("return window.__csp")
            assert violations == [], (path, violations)
            logs = driver.get_log("browser")
            severe = [e for e in logs if e["level"] == "SEVERE"]
            csp_logs = [e for e in logs if "Content Security Policy" in e["message"]]
            assert not severe and not csp_logs, (path, severe, csp_logs)
    finally:
        driver.quit()
