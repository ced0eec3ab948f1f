"""Property-based fuzzing of the HTTP surface through the Flask test client (no sockets, no browser).

Random query strings against the JSON API, the CSV download and the PNG export (validation path only:
the renderer is replaced by a stub), random and mutated JSON bodies against Dash's callback endpoint,
and schemathesis against the OpenAPI document. Every answer must be below 500 and must not leak a
traceback. The counts of inputs are printed with ``-s`` (``FUZZ_COUNTS``).
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.core.scope import DISTRICT
from dashboard.core.settings import load_settings
from dashboard.web.app import create_app
from dashboard.web.context import app_context
from tests.support.dash_callbacks import restore_callbacks

pytestmark = [
    pytest.mark.slow,
    # Dash 4 warns that its DataTable (the event list) will move out of the core package one day.
    pytest.mark.filterwarnings(r"ignore:\s*The dash_table.DataTable will be removed:DeprecationWarning"),
]

# Deterministic by default (the same inputs on every `make test`); for a deeper, new search run
# FUZZ_RANDOM=1 FUZZ_SCALE=10 pytest tests/web/test_fuzz.py -s
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
RANDOM = os.environ.get("FUZZ_RANDOM", "") == "1"


def fuzz(examples: int) -> Any:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        suppress_health_check=list(HealthCheck),
    )


FUZZ = fuzz(250)
LEAKS = ("Traceback", 'File "', "/work/", "site-packages", "sqlalchemy.exc", "Error:")
FUZZ_COUNTS: Counter[str] = Counter()

PARAMS = [
    "town", "village", "grid", "category", "source", "dept", "period", "from", "to", "as_of", "lang",
    "eastern", "pages", "rotate", "panel", "width", "height", "colour", "TOWN", "town[]", "",
]  # fmt: skip
VALUES = [
    "城厢", "城厢街道", "330109001", "330109113", "330109001,330109113", "chengxiang", "瓜沥", "东京",
    "330109001001", "330109001001001", "999999999", "FIRE", "fire", "消防安全", "FIRE,DISPUTE",
    "HOTLINE_12345", "D05_FIRE", "day", "week", "month", "quarter", "year", "custom", "2026-11-01",
    "2026-11-20", "2026-13-01", "2019-01-01", "0000-00-00", "2026-11-28T09:00+08:00", "2026-11-20T01:00Z",
    "2099-01-01", "2026-11-20 09:00", "zh", "en", "EN", "fr", "include", "exclude", "overview",
    "overview,backlog", "backlog_map", "trend_90d", "1600", "900", "0", "-1", "99999", "1e9", "NaN",
    "", " ", "%00", "\x00", "<script>alert(1)</script>", "'; DROP TABLE event;--", "../../etc/passwd",
    "%E5%9F%8E%E5%8E%A2", "%ZZ", "a" * 3000, "😀", "\ud7ff",
]  # fmt: skip

names = st.one_of(st.sampled_from(PARAMS), st.text(max_size=12))
values = st.one_of(st.sampled_from(VALUES), st.text(max_size=40))
structured_query = st.lists(st.tuples(names, values), max_size=7).map(urlencode)
raw_query = st.binary(max_size=200).map(lambda b: quote_from_bytes(b, safe="=&%+;,/?:@"))
text_query = st.text(max_size=120).map(lambda s: quote(s, safe="=&%+;,/?:@"))
queries = st.one_of(structured_query, structured_query, raw_query, text_query)


def assert_clean(response: Any, label: str) -> str:
    body = response.get_data().decode("utf-8", "replace")
    assert response.status_code < 500, (label, response.status_code, body[:500])
    for leak in LEAKS:
        assert leak not in body, (label, leak, body[:500])
    FUZZ_COUNTS[label] += 1
    return body


def make_app(district: str, state: Path) -> Any:
    restore_callbacks()
    settings_ = load_settings(
        env={},
        DATABASE_URL=district,
        STATE_URL=f"sqlite:///{state / 'state.db'}",
        CACHE_DIR=str(state / "cache"),
    )
    app = create_app(settings_)
    app.server.config["SECURITY_EXPORTS_PER_MINUTE"] = 10**9  # the limits are tested in test_security
    app.server.config["SECURITY_DOWNLOADS_PER_MINUTE"] = 10**9
    return app


@pytest.fixture(scope="module")
def app(district: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real app; the PNG renderer is a stub so valid export requests answer at once."""
    app = make_app(district, tmp_path_factory.mktemp("fuzz-state"))
    app.export_calls = [0]

    def stub(*_args: Any, **_kwargs: Any) -> tuple[bytes, str, str]:
        app.export_calls[0] += 1
        return b"\x89PNG stub", "x.png", "image/png"

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dashboard.web.context.export_view", stub)  # /export/* and the export button
        yield app


@pytest.fixture(scope="module")
def client(app: Any) -> Any:
    client = app.server.test_client()
    assert client.get("/").status_code == 200  # Dash sets itself up on the first request
    return client


@pytest.fixture(scope="module")
def fast_client(district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A second app whose snapshot builder returns one precomputed snapshot: the query-string fuzz
    then costs parsing, caching and serialising, not one SQL aggregation per random valid view."""
    app = make_app(district, tmp_path_factory.mktemp("fuzz-fast"))
    service = app_context(app.server).service
    from dashboard.core.viewstate import ViewState

    district_snapshot = service.snapshot(ViewState(), DISTRICT).snapshot
    assert district_snapshot is not None
    builds: Counter[int] = Counter()

    def builder(_conn: Any, _view: Any, _now: Any) -> Any:
        # Counted per thread: the refresher's thread may rebuild an earlier valid view at any moment,
        # and only the request's own thread (the test's, under the test client) says what it cost.
        builds[threading.get_ident()] += 1
        return district_snapshot

    service._builder = builder
    client = app.server.test_client()
    client.builds = builds  # type: ignore[attr-defined]
    return client


# --- query strings ----------------------------------------------------------------------------------


@FUZZ
@given(query=queries)
def test_snapshot_api_query_strings(fast_client: Any, query: str) -> None:
    builds = fast_client.builds[threading.get_ident()]
    response = fast_client.get("/api/v1/snapshot?" + query)
    body = assert_clean(response, "api/v1/snapshot")
    assert response.status_code in {200, 400, 403, 503}, (query, response.status_code)
    assert response.mimetype == "application/json"
    if response.status_code == 400:
        assert json.loads(body)["param"] is not None
        # Refused before any work (counted, not timed).
        assert fast_client.builds[threading.get_ident()] == builds, query


@FUZZ
@given(query=queries)
def test_csv_download_query_strings(client: Any, query: str) -> None:
    response = client.get("/download/events.csv?" + query)
    body = assert_clean(response, "download/events.csv")
    assert response.status_code in {200, 400}, (query, response.status_code)
    if response.status_code == 200:
        assert response.mimetype == "text/csv"
        assert body.startswith("\ufeff")


@FUZZ
@given(query=queries, panel=st.one_of(st.none(), st.sampled_from(["backlog_map", "trend_90d", "nope", ""])))
def test_png_export_validation(app: Any, client: Any, query: str, panel: str | None) -> None:
    suffix = "" if panel is None else "&panel=" + quote(panel)
    exports = app.export_calls[0]
    response = client.get("/export/panel.png?" + query + suffix)
    assert_clean(response, "export/panel.png")
    assert response.status_code in {200, 400}, (query, response.status_code)
    if response.status_code == 400:
        assert response.get_json()["error"] == "bad_parameter"
        assert app.export_calls[0] == exports, query  # refused before any rendering (counted, not timed)


@fuzz(60)
@given(query=queries)
def test_deck_export_validation(client: Any, query: str) -> None:
    response = client.get("/export/deck.pptx?" + query)
    assert_clean(response, "export/deck.pptx")
    assert response.status_code in {200, 400}


# --- Dash's callback endpoint -------------------------------------------------------------------------

DASH = "/_dash-update-component"
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["view", "url", "ev-table", "view.data", "..x.y..", "period=week", "town=城厢"]),
)
any_json = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=25,
)


@fuzz(400)
@given(body=any_json)
def test_callback_endpoint_random_json(client: Any, body: Any) -> None:
    response = client.post(DASH, json=body)
    assert_clean(response, "dash random json")
    assert 400 <= response.status_code < 500, (body, response.status_code)
    assert response.mimetype == "application/json"


@fuzz(300)
@given(raw=st.binary(max_size=300), mimetype=st.sampled_from(["application/json", "text/plain", ""]))
def test_callback_endpoint_random_bytes(client: Any, raw: bytes, mimetype: str) -> None:
    response = client.post(DASH, data=raw, content_type=mimetype or None)
    assert_clean(response, "dash random bytes")
    assert 400 <= response.status_code < 500


def test_callback_endpoint_refuses_large_deep_and_foreign_bodies(client: Any) -> None:
    cases = [
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting: RecursionError in a naive parser
        json.dumps({"output": "x" * (2 * 1024 * 1024)}).encode(),  # > 1 MB
        b'{"output": "view.data", "inputs": [], "outputs": {}}',  # not a server callback
        b'{"output": "wall-scale.data", "inputs": [], "outputs": {}}',  # clientside only
    ]
    for raw in cases:
        response = client.post(DASH, data=raw, content_type="application/json")
        assert_clean(response, "dash edge cases")
        assert response.status_code in {400, 413}, raw[:80]
    assert client.get(DASH).status_code == 405


MULTI_SELECT = {"f-town", "f-category", "f-source", "f-dept", "br-def-towns", "br-def-hooks", "nt-towns"}
SAMPLE_KEYS = {"format": "png", "period": "week", "page": "overview", "code": "330109001"}


def templates(app: Any) -> list[dict[str, Any]]:
    """A well-formed request for every server-side callback, as the browser would send it."""
    bodies = []
    for output, entry in app.callback_map.items():
        if "callback" not in entry:
            continue
        if output.startswith(".."):
            outs: Any = [
                {"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1].split("@")[0]}
                for o in output[2:-2].split("...")
            ]
        else:
            oid, prop = output.rsplit(".", 1)
            outs = {"id": oid, "property": prop.split("@")[0]}
            if oid.startswith("{"):
                outs = [{"id": {**json.loads(oid), "page": "overview"}, "property": prop.split("@")[0]}]

        def deps(specs: list[dict[str, Any]]) -> list[Any]:
            items: list[Any] = []
            for spec in specs:
                if spec["id"].startswith("{"):
                    pattern = json.loads(spec["id"])
                    concrete = {
                        k: (SAMPLE_KEYS.get(k, "x") if isinstance(v, list) else v) for k, v in pattern.items()
                    }
                    items.append([{"id": concrete, "property": spec["property"], "value": None}])
                else:
                    items.append({"id": spec["id"], "property": spec["property"], "value": None})
            return items

        inputs = deps(entry["inputs"])
        first = entry["inputs"][0]
        changed = [f"{first['id']}.{first['property']}"]
        bodies.append(
            {
                "output": output,
                "outputs": outs,
                "inputs": inputs,
                "state": deps(entry.get("state", [])),
                "changedPropIds": changed,
            }
        )
    return bodies


VIEWS = [None, "", "period=week", "town=330109001", "lang=en", "category=FIRE&period=day", "town=东京", "%%"]
typed_values = {
    "data": st.one_of(st.sampled_from(VIEWS), st.text(max_size=40)),
    "n_clicks": st.one_of(st.none(), st.integers(0, 50)),
    "n_intervals": st.one_of(st.none(), st.integers(0, 50)),
    "page_current": st.one_of(st.none(), st.integers(0, 40)),
    "sort_by": st.one_of(
        st.none(),
        st.lists(
            st.fixed_dictionaries(
                {
                    "column_id": st.sampled_from(["event_no", "reported_at", "town", "x"]),
                    "direction": st.sampled_from(["asc", "desc"]),
                }
            ),
            max_size=2,
        ),
    ),
    "value:multi": st.one_of(
        st.none(), st.lists(st.sampled_from(["330109001", "FIRE", "x", "D05_FIRE"]), max_size=3)
    ),
    "value": st.one_of(
        st.none(),
        st.sampled_from(["330109001", "week", "custom", "exclude", "09:00", "25:99"]),
        st.text(max_size=20),
    ),
    "search": st.one_of(st.none(), st.sampled_from(["?" + (v or "") for v in VIEWS]), st.text(max_size=40)),
    "pathname": st.sampled_from(["/", "/backlog", "/events", "/wall", "/nope", None]),
    "clickData": st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {
                "points": st.lists(
                    st.fixed_dictionaries(
                        {
                            "customdata": st.one_of(
                                st.none(),
                                st.sampled_from(["330109001", "330109001001", "123"]),
                                st.lists(st.text(max_size=15), max_size=2),
                            )
                        }
                    ),
                    max_size=2,
                )
            }
        ),
    ),
    "date": st.one_of(st.none(), st.sampled_from(["2026-11-20", "2026-02-30", "x"])),
    "start_date": st.one_of(st.none(), st.sampled_from(["2026-11-01", "2026-11-30", "bad"])),
    "end_date": st.one_of(st.none(), st.sampled_from(["2026-11-20", "2025-01-01", "bad"])),
}


def _slots(body: dict[str, Any]) -> list[dict[str, Any]]:
    slots = []
    for kind in ("inputs", "state"):
        for item in body[kind]:
            slots.extend(item if isinstance(item, list) else [item])
    return slots


@pytest.fixture(scope="module")
def callback_templates(app: Any, client: Any) -> list[dict[str, Any]]:
    bodies = templates(app)
    assert len(bodies) >= 10
    return bodies


@fuzz(150)
@given(data=st.data())
def test_callbacks_with_values_the_browser_can_send(
    client: Any, callback_templates: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Every server callback with property values of the right type (random views, pages, clicks)."""
    body = copy.deepcopy(data.draw(st.sampled_from(callback_templates)))
    for slot in _slots(body):
        store = slot["id"] if isinstance(slot["id"], str) else ""
        multi = store in MULTI_SELECT and slot["property"] == "value"
        strategy = typed_values.get("value:multi" if multi else slot["property"])
        if slot["property"] == "data" and not (store == "view" or store.endswith("-key")):
            continue  # the other stores hold the app's own structures (cursor, wall copy, scale)
        if strategy is not None:
            slot["value"] = data.draw(strategy)
    inputs = [s for item in body["inputs"] for s in (item if isinstance(item, list) else [item])]
    trigger = data.draw(st.sampled_from(inputs))
    tid = (
        json.dumps(trigger["id"], separators=(",", ":"), sort_keys=True)
        if isinstance(trigger["id"], dict)
        else trigger["id"]
    )
    body["changedPropIds"] = [f"{tid}.{trigger['property']}"]
    response = client.post(DASH, json=body)
    assert_clean(response, "dash typed values")
    assert response.status_code in {200, 204}, (
        body,
        response.status_code,
        response.get_data(as_text=True)[:300],
    )


@FUZZ
@given(data=st.data())
def test_callbacks_with_mutated_bodies(
    client: Any, callback_templates: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Real request bodies with one part replaced by random JSON: refused with 4xx or answered."""
    body = copy.deepcopy(data.draw(st.sampled_from(callback_templates)))
    where = data.draw(
        st.sampled_from(["output", "outputs", "inputs", "state", "changedPropIds", "slot", "drop"])
    )
    junk = data.draw(any_json)
    if where == "slot":
        slots = _slots(body)
        slot = data.draw(st.sampled_from(slots))
        slot[data.draw(st.sampled_from(["id", "property", "value"]))] = junk
    elif where == "drop":
        body.pop(data.draw(st.sampled_from(sorted(body))))
    else:
        body[where] = junk
    response = client.post(DASH, json=body)
    assert_clean(response, "dash mutated bodies")


# --- the OpenAPI document -------------------------------------------------------------------------------


def test_openapi_schemathesis(fast_client: Any) -> None:
    """Schemathesis generates requests from /api/v1/openapi.json (valid and invalid) against the WSGI app."""
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.checks import not_a_server_error

    wsgi = fast_client.application
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi)
    seen: Counter[str] = Counter()

    @fuzz(50)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        for operation in schema.get_all_operations():
            op = operation.ok()
            case = data.draw(op.as_strategy())
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error])
            text = response.text
            for leak in LEAKS:
                assert leak not in text, (case.path, leak)
            seen[op.path] += 1

    run()
    FUZZ_COUNTS["schemathesis"] += sum(seen.values())
    assert seen["/api/v1/snapshot"] >= 40


def test_zz_report_counts() -> None:
    """Not a check: prints how many inputs each fuzz target received (run with -s)."""
    total = sum(FUZZ_COUNTS.values())
    print(f"\nFUZZ_COUNTS total={total} " + json.dumps(dict(FUZZ_COUNTS), ensure_ascii=False))
