"""Screens cost what the API costs: a board is drawn once for every process, and a tick sends what changed.

Two app instances on one cache directory stand for two gunicorn workers (or two machines on one Redis).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from dashboard.core.clock import FixedClock
from dashboard.core.settings import load_settings
from dashboard.perf.client import is_tick, update_body
from tests.support.dash_callbacks import restore_callbacks

pytestmark = pytest.mark.filterwarnings(
    r"ignore:\s*The dash_table.DataTable will be removed:DeprecationWarning"
)

DASH = "/_dash-update-component"
PATCH = "__dash_patch_update"


def _app(district: str, tmp_path: Path, clock: FixedClock, background: str = "off") -> Any:
    from dashboard.web.app import create_app

    restore_callbacks()
    settings = load_settings(
        env={},
        DATABASE_URL=district,
        STATE_URL=f"sqlite:///{tmp_path / 'state.db'}",
        CACHE_DIR=str(tmp_path / "cache"),  # shared by both apps, as by the workers of one machine
        BACKGROUND_REFRESH=background,
    )
    app = create_app(settings, clock=clock)
    assert app.server.test_client().get("/").status_code == 200
    return app


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime.now(dt.UTC).replace(second=5, microsecond=0))


@pytest.fixture
def apps(district: str, tmp_path: Path, clock: FixedClock) -> tuple[Any, Any]:
    return _app(district, tmp_path, clock), _app(district, tmp_path, clock)


def _tick(app: Any, store: str, last_key: str | None, view: str = "") -> tuple[int, dict[str, Any], int]:
    """(status, outputs by component, body size) of the tick of the callback keyed by ``store``."""
    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if is_tick(d) and any(s["id"] == store for s in d.get("state", [])))
    body = update_body(dep, view, last_key)
    response = client.post(DASH, json=body)
    if response.status_code != 200:
        return response.status_code, {}, 0
    return 200, response.get_json()["response"], len(response.data)


def test_fields_are_added_to_an_objects_text() -> None:
    import orjson

    from callbacks.screens import with_fields

    def value(text: bytes, **fields: Any) -> Any:
        return json.loads(orjson.dumps({"v": with_fields(text, fields)}))["v"]

    assert value(b'{"snapshot":{"a":1}}', query="town=1&p=\u002f") == {
        "query": "town=1&p=/",
        "snapshot": {"a": 1},
    }
    assert value(b"{}", query="") == {"query": ""}
    assert value(b"[1]") == [1]
    with pytest.raises(ValueError):
        with_fields(b"[1]", {"query": ""})


def test_two_workers_draw_a_wall_board_once(apps: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import callbacks.wall as wall

    drawn: list[str] = []
    real = wall.render_wall

    def counting(*args: Any, **kwargs: Any) -> Any:
        drawn.append("wall")
        return real(*args, **kwargs)

    monkeypatch.setattr(wall, "render_wall", counting)
    first, second = apps
    status, one, _size = _tick(first, "wall-key", None)
    assert status == 200 and drawn == ["wall"]
    status, two, _size = _tick(second, "wall-key", None)
    assert status == 200 and drawn == ["wall"]  # the other worker served the same drawing
    assert one == two
    assert one["wall-saved"]["data"]["query"] == ""  # the browser's copy, with the view it belongs to


def test_a_tick_that_moves_numbers_sends_patches(apps: tuple[Any, Any], clock: FixedClock) -> None:
    """A new minute ages the open cases: numbers move, the maps' geometry does not. The answer to a
    screen showing the last board patches the numbers; a screen with nothing gets the whole board."""
    first, second = apps
    status, whole, whole_size = _tick(first, "wall-key", None)
    assert status == 200
    key = whole["wall-key"]["data"]
    assert _tick(second, "wall-key", key)[0] == 204  # nothing new: nothing sent
    clock.advance(minutes=1)
    status, tick, tick_size = _tick(second, "wall-key", key)
    assert status == 200 and tick["wall-key"]["data"] != key
    figures = {c: v["figure"] for c, v in tick.items() if "figure" in v}
    assert figures, "a new minute moves some figure"
    assert all(PATCH in fig for fig in figures.values()), "figures are patched, not sent whole"
    assert "geojson" not in json.dumps({c: v for c, v in tick.items() if c != "wall-saved"})
    # The browser's local copy of the data is refreshed once a minute, whole: here a new minute began.
    assert tick["wall-saved-key"]["data"] == tick["wall-key"]["data"]
    assert PATCH not in tick["wall-saved"]["data"]
    figures_size = len(json.dumps(figures))
    assert figures_size < whole_size / 10
    # Another screen that already holds this minute's copy gets the figures' patches alone.
    client = second.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if any(s["id"] == "wall-key" for s in d.get("state", [])))
    body = update_body(dep, "", key)
    new_key = tick["wall-key"]["data"]
    body["state"] = [{**s, "value": new_key} if s["id"] == "wall-saved-key" else s for s in body["state"]]
    answer = client.post(DASH, json=body)
    assert "wall-saved" not in answer.get_json()["response"]
    assert len(answer.data) < tick_size / 2 and len(answer.data) < whole_size / 10
    # A page does the same: its board once, then only what moved.
    status, page, page_size = _tick(first, "bl-key", None)
    assert status == 200
    clock.advance(minutes=1)
    status, moved, moved_size = _tick(second, "bl-key", page["bl-key"]["data"])
    assert status == 200 and moved_size < page_size
    assert all(PATCH in v.get("figure", {PATCH: 1}) for v in moved.values())


def test_a_screen_whose_local_copy_is_another_keeps_getting_it_whole(
    apps: tuple[Any, Any], clock: FixedClock
) -> None:
    """The copy in local storage is patched only from the copy the screen holds."""
    first, _second = apps
    _status, whole, _size = _tick(first, "wall-key", None)
    key = whole["wall-key"]["data"]
    clock.advance(minutes=1)
    client = first.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if any(s["id"] == "wall-key" for s in d.get("state", [])))
    body = update_body(dep, "", key)
    body["state"] = [{**s, "value": "another"} if s["id"] == "wall-saved-key" else s for s in body["state"]]
    saved = client.post(DASH, json=body).get_json()["response"]["wall-saved"]["data"]
    assert PATCH not in saved and saved["snapshot"]["kpis"] and saved["query"] == ""


def test_a_screen_that_showed_its_local_copy_gets_the_whole_board(
    apps: tuple[Any, Any], clock: FixedClock
) -> None:
    """After the local copy (key "local", set by the wall when the server had nothing, and by the local
    copy's callback), and after a reload (no key), the answer is whole: a patch needs the server's board
    under it, and applied to another one it would mix the two and keep the banner up."""
    first, second = apps
    _status, whole, _size = _tick(first, "wall-key", None)
    assert PATCH not in json.dumps(whole)
    clock.advance(minutes=1)
    for last_key in ("local", None):
        status, answer, _size = _tick(second, "wall-key", last_key)
        assert status == 200 and PATCH not in json.dumps(answer), last_key
        assert answer["wall-kpis"]["children"] and answer["wall-banner"]["hidden"] is True


@pytest.mark.parametrize("view", ["", "town=330109113&lang=en"])
def test_boards_are_written_as_plotly_writes_them(
    apps: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch, view: str
) -> None:
    """The boards' own orjson encoding (without Plotly's walk over every value) gives the very JSON that
    Plotly's encoder gives, for the wall and every page, in both languages and a town's scope."""
    from plotly.io.json import to_json_plotly

    import callbacks.screens as screens

    compared: list[int] = []
    real = screens.plain_board

    def both(values: list[Any]) -> list[Any]:
        fast = real(values)
        assert fast == json.loads(to_json_plotly(values))
        compared.append(len(values))
        return fast

    def plotly_path(_values: Any) -> str:
        raise AssertionError("the board fell back to Plotly's encoder")

    monkeypatch.setattr(screens, "plain_board", both)
    monkeypatch.setattr(screens, "to_json_plotly", plotly_path)
    first, _second = apps
    for store in ("wall-key", "ov-key", "bl-key", "pt-key", "tr-key", "rk-key"):
        assert _tick(first, store, None, view)[0] == 200
    assert len(compared) == 6 and all(compared)


def test_the_next_board_is_drawn_ahead_once_the_view_is_rebuilt(
    district: str, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With background refresh, the board a screen will ask for next is drawn in the refresher's thread
    right after its view is rebuilt (a new minute here), with the step from the board it shows: the
    screen's tick then draws nothing and gets the patches at once."""
    import time

    import callbacks.pages as pages
    import callbacks.wall as wall
    from dashboard.web.context import app_context

    app = _app(district, tmp_path, clock, background="on")
    status, whole, _size = _tick(app, "wall-key", None)
    assert status == 200
    key = whole["wall-key"]["data"]
    status, page, _size = _tick(app, "pt-key", None)  # a page with a map, too
    assert status == 200
    warmer = app_context(app.server).board_warmer
    assert warmer.drawn == 0
    drawn: list[str] = []
    real = wall.render_wall
    monkeypatch.setattr(wall, "render_wall", lambda *a, **k: drawn.append("wall") or real(*a, **k))
    panels: list[str] = []
    real_panel = pages.draw
    monkeypatch.setattr(pages, "draw", lambda panel, *a: panels.append(panel.id) or real_panel(panel, *a))
    clock.advance(minutes=1)  # the minute turns: the view is due, the refresher rebuilds it
    deadline = time.monotonic() + 60
    while warmer.drawn < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert warmer.drawn == 2 and drawn == ["wall"], "the next boards were drawn in the background"
    drawn_panels = len(panels)
    assert drawn_panels > 0
    status, tick, _size = _tick(app, "wall-key", key)
    assert status == 200 and tick["wall-key"]["data"] != key
    assert drawn == ["wall"], "the screen's tick drew nothing"
    assert any(PATCH in v.get("figure", {}) for v in tick.values()), "the step was ready: patches"
    status, moved, _size = _tick(app, "pt-key", page["pt-key"]["data"])
    assert status == 200 and moved["pt-key"]["data"] == tick["wall-key"]["data"]
    assert len(panels) == drawn_panels, "the page's tick drew nothing either"


def test_a_screen_still_showing_the_board_before_last_finds_its_step_drawn_ahead(
    district: str, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rebuilds within one screen's tick (here two minutes turn): the warmer draws the step from each
    board screens were sent lately, so the screen that slept through the first rebuild computes nothing."""
    import time

    import dashboard.service.boards as boards
    from dashboard.web.context import app_context

    app = _app(district, tmp_path, clock, background="on")
    status, whole, _size = _tick(app, "wall-key", None)
    assert status == 200
    before_last = whole["wall-key"]["data"]
    warmer = app_context(app.server).board_warmer
    for rebuilt in (1, 2):
        clock.advance(minutes=1)
        deadline = time.monotonic() + 60
        while warmer.drawn < rebuilt and time.monotonic() < deadline:
            time.sleep(0.2)
        assert warmer.drawn == rebuilt
    compared: list[int] = []
    real = boards.change_of
    monkeypatch.setattr(boards, "change_of", lambda a, b: compared.append(1) or real(a, b))
    status, tick, _size = _tick(app, "wall-key", before_last)
    assert status == 200 and tick["wall-key"]["data"] != before_last
    assert compared == [], "the step from the board before last was ready"
    assert any(PATCH in v.get("figure", {}) for v in tick.values())


def test_one_board_warmer_per_process_even_when_first_screens_come_at_once(
    district: str, tmp_path: Path, clock: FixedClock
) -> None:
    """From Python 3.12 on, cached_property has no lock: two warmers would both draw every board ahead.
    The property's own function is called from threads at once here, as a lockless cached_property would."""
    import threading

    from dashboard.web.context import AppContext, app_context

    app = _app(district, tmp_path, clock, background="on")
    context = app_context(app.server)
    made: list[Any] = []
    start = threading.Barrier(4)

    def first_screen() -> None:
        with app.server.app_context():
            start.wait()
            made.append(AppContext.board_warmer.func(context))  # type: ignore[attr-defined]

    threads = [threading.Thread(target=first_screen) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 4 and all(warmer is made[0] for warmer in made)
    assert context.board_warmer is made[0]
