"""The JSON API on a bare Flask app with a service on a fake builder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from dashboard.core.clock import FixedClock
from dashboard.core.scope import ROLES, Viewer
from dashboard.core.settings import load_settings
from dashboard.core.viewstate import PERIODS
from dashboard.service.cache import init_cache
from dashboard.service.snapshots import SnapshotService
from dashboard.service.state import StateStore
from dashboard.source.engines import init_db, make_source_engine
from dashboard.source.units import UnitDirectory
from dashboard.web.api import api
from dashboard.web.context import AppContext, app_context, install_context
from dashboard.web.errors import install_error_handlers
from tests.support.fakes import T0, FakeSource

BAD = [
    ("colour=red", "colour"),
    ("town=东京", "town"),
    ("period=custom&from=2024-02-01&to=2024-01-01", "to"),
    ("from=2024-13-01", "from"),
    ("as_of=2099-01-01", "as_of"),
    ("lang=fr", "lang"),
    ("pages=overview", "pages"),
]


@pytest.fixture
def fake() -> FakeSource:
    return FakeSource()


@pytest.fixture
def app(tmp_path: Path, fake: FakeSource) -> Iterator[Flask]:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    init_db(source).dispose()
    settings = load_settings(
        env={},
        DATABASE_URL=source,
        STATE_URL=f"sqlite:///{tmp_path / 'state.db'}",
        CACHE_DIR=str(tmp_path / "c"),
    )
    app = Flask(__name__)
    engine = make_source_engine(source)
    service = SnapshotService(
        engine,
        StateStore(settings.STATE_URL),
        init_cache(settings),
        FixedClock(T0),
        builder=fake.build,
        versioner=fake.data_version,
    )
    install_context(app, AppContext(service, settings, service.clock, UnitDirectory(engine)))
    install_error_handlers(app)
    app.register_blueprint(api)
    yield app
    engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_snapshot_json_with_meta(client: FlaskClient, fake: FakeSource) -> None:
    response = client.get("/api/v1/snapshot?town=城厢&period=week&lang=en")
    assert response.status_code == 200
    body = response.get_json()
    assert body["view"] == {"town": ["330109001"], "period": ["week"], "lang": ["en"]}
    assert body["kpis"]["reported_count"]["value"] == 1.0
    assert body["meta"] == {"stale": False, "age_seconds": 0, "computed_at": T0.isoformat(), "error": None}
    assert response.headers["Cache-Control"] == "no-store"
    assert "城厢" in client.get("/api/v1/openapi.json").get_data(as_text=True)  # not \u-escaped


@pytest.mark.parametrize(("query", "param"), BAD)
def test_bad_parameters_answer_400_naming_them(client: FlaskClient, query: str, param: str) -> None:
    response = client.get(f"/api/v1/snapshot?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["param"] == param
    assert body["error"].startswith(f"{param}: ")


def test_stale_answer_and_503_without_any(client: FlaskClient, fake: FakeSource, app: Flask) -> None:
    assert client.get("/api/v1/snapshot").status_code == 200
    fake.fail = True
    app_context(app).service.clock.advance(120)
    stale = client.get("/api/v1/snapshot")
    assert stale.status_code == 200
    assert stale.get_json()["meta"]["stale"] is True
    assert stale.get_json()["meta"]["age_seconds"] == 120
    missing = client.get("/api/v1/snapshot?lang=en")
    assert missing.status_code == 503
    assert "connection refused" in missing.get_json()["error"]


def test_scope_outside_answers_403(app: Flask) -> None:
    @app.before_request
    def _only_one_town() -> None:
        g.dashboard_viewer = Viewer("town", ROLES["staff"], frozenset({"330109001"}))

    client = app.test_client()
    assert client.get("/api/v1/snapshot").get_json()["view"]["town"] == ["330109001"]
    forbidden = client.get("/api/v1/snapshot?town=瓜沥")
    assert forbidden.status_code == 403
    assert forbidden.get_json()["param"] == "town"


def test_unexpected_errors_answer_500_without_a_traceback(app: Flask) -> None:
    service = app_context(app).service

    def explode(*_args: object) -> None:
        raise RuntimeError("secret detail /etc/passwd")

    service.health = explode
    response = app.test_client().get("/health")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error"}


def test_health_200_and_503(client: FlaskClient, app: Flask, tmp_path: Path) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["source"]["ok"] is True
    app_context(app).service.source_engine = make_source_engine("postgresql+psycopg://x@127.0.0.1:1/x")
    down = client.get("/health")
    assert down.status_code == 503
    assert down.get_json()["status"] == "down"


def test_metrics_lists_the_registry(client: FlaskClient) -> None:
    from dashboard.core.metrics import METRICS

    body = client.get("/api/v1/metrics").get_json()
    keys = [m["key"] for m in body["metrics"]]
    assert keys == list(METRICS)
    first = body["metrics"][0]
    for name in ("label_zh", "label_en", "unit", "definition_zh", "definition_en", "direction", "thresholds"):
        assert name in first
    assert "compute" not in first
    hazards = next(m for m in body["metrics"] if m["key"] == "hazard_rectification_rate")
    assert [c["key"] for c in hazards["companions"]] == ["units_inspected"]  # 检查单位, defined once
    assert hazards["companions"][0]["definition_zh"].startswith("期内接受安全检查的不同单位数")


def test_openapi_document(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/api/v1/snapshot", "/api/v1/metrics", "/api/v1/briefings", "/health", "/api/v1/openapi.json",
        "/api/v1/alerts", "/api/v1/alerts/{id}/ack", "/api/v1/alerts/{id}/close",
        "/api/v1/annotations", "/api/v1/annotations/{id}",
    }  # fmt: skip
    assert doc["paths"]["/api/v1/alerts/{id}/close"]["post"]["requestBody"]["required"] is True
    assert "Alert" in doc["components"]["schemas"]
    params = {p["name"]: p for p in doc["paths"]["/api/v1/snapshot"]["get"]["parameters"]}
    assert params["period"]["schema"]["enum"] == list(PERIODS)
    assert "FIRE" in params["category"]["schema"]["items"]["enum"]
    assert set(params) == {
        "town", "village", "grid", "category", "source", "dept", "period", "from", "to", "as_of", "lang", "eastern"
    }  # fmt: skip


def test_unknown_method_is_json_not_html(client: FlaskClient) -> None:
    response = client.post("/api/v1/snapshot")
    assert response.status_code == 405
    assert "error" in response.get_json()
    assert client.get("/api/v1/nothing").get_json()["error"]
    assert client.get("/not-api").mimetype == "text/plain"  # a page's 404 is not JSON
    assert dt.datetime.fromisoformat(client.get("/health").get_json()["checked_at"]) == T0


def test_a_computed_snapshot_is_serialized_once(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Warm answers reuse the JSON text of their snapshot; only ``meta`` is written per request."""
    from dashboard.core.snapshot import Snapshot

    calls = []
    original = Snapshot.to_dict
    monkeypatch.setattr(Snapshot, "to_dict", lambda self: calls.append(1) or original(self))
    first = client.get("/api/v1/snapshot?town=330109002&period=month")
    built = len(calls)  # the build stores it in the cache and the state store, the answer serializes it
    second = client.get("/api/v1/snapshot?town=330109002&period=month")
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert len(calls) == built
    assert set(first.get_json()) == {*Snapshot.__dataclass_fields__, "meta"}
