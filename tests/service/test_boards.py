"""Drawn boards in the shared cache: drawn once per key for several processes, and the edits between two."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dashboard.core.settings import load_settings
from dashboard.service.boards import SAME, Boards, Edits, Whole, change_of
from dashboard.service.cache import ComputeFailed, FlightTimeout, SharedCache, init_cache
from tests.support.services import need_redis


def _cache(tmp_path: Path, url: str = "", prefix: str = "t:") -> SharedCache:
    settings = load_settings(env={}, CACHE_DIR=str(tmp_path / "cache"), CACHE_URL=url)
    return init_cache(settings, key_prefix=prefix)


def _figure(values: list[int], geometry: str = "g" * 2000) -> dict[str, Any]:
    return {
        "data": [{"type": "choropleth", "z": values, "geojson": {"shape": geometry}, "text": ["a", "b"]}],
        "layout": {"title": {"text": "积压"}, "uirevision": "keep"},
    }


def _tiles(values: list[str]) -> list[dict[str, Any]]:
    return [
        {"type": "Div", "namespace": "dash_html_components", "props": {"children": v, "className": "kpi"}}
        for v in values
    ]


# --- the difference of two boards ------------------------------------------------------------------


def test_a_tick_that_moves_numbers_sends_only_the_numbers() -> None:
    old = _figure([1, 2, 3])
    new = _figure([1, 5, 3])
    change = change_of(old, new)
    assert isinstance(change, Edits)
    assert change.sets == ((("data", 0, "z"), [1, 5, 3]),)  # not the geometry, not the layout
    assert change_of(old, _figure([1, 2, 3])) is SAME
    tiles = change_of(_tiles(["12", "7", "3"]), _tiles(["12", "8", "3"]))
    assert isinstance(tiles, Edits) and tiles.sets == (((1, "props", "children"), "8"),)


def test_a_change_bigger_than_half_the_value_is_sent_whole() -> None:
    assert change_of({"a": "x" * 50, "b": 1}, {"a": "y" * 50, "b": 1}) == Whole({"a": "y" * 50, "b": 1})
    assert change_of([1, 2], [1, 3]) == Whole([1, 3])  # a list of numbers: one value
    assert change_of("1,234", "1,235") == Whole("1,235")
    removed = change_of({"a": 1, "b": "x" * 100}, {"b": "x" * 100})
    assert isinstance(removed, Edits) and removed.deletes == (("a",),)


def test_many_small_edits_in_one_list_become_one() -> None:
    """Every grid's hours move each minute: one assignment of the list, not five hundred."""
    old = {"grids": [{"code": f"g{i}", "hours": i} for i in range(50)], "rest": "x" * 5000}
    new = {"grids": [{"code": f"g{i}", "hours": i + 1} for i in range(50)], "rest": "x" * 5000}
    change = change_of(old, new)
    assert isinstance(change, Edits) and change.sets == ((("grids",), new["grids"]),)


# --- boards across processes ------------------------------------------------------------------------


def test_two_processes_on_one_cache_draw_a_board_once(tmp_path: Path) -> None:
    """Two workers (two Boards on one on-disk cache) ask for the same board: one draws it."""
    draws: list[str] = []

    def draw(name: str) -> Any:
        return lambda: draws.append(name) or [_figure([1, 2]), _tiles(["1"])]

    first, second = Boards(_cache(tmp_path)), Boards(_cache(tmp_path))
    board = first.board("wall|k1", draw("first"))
    assert second.board("wall|k1", draw("second")) == board and draws == ["first"]
    assert second.board("wall|k2", draw("second")) == board and draws == ["first", "second"]
    # The edits from k1 to k2 are worked out once too, and nothing changed between them.
    assert first.changes("wall|k1", "wall|k2", draw("again")) == [SAME, SAME]
    assert second.changes("wall|k1", "wall|k2", draw("again")) == [SAME, SAME]
    assert draws == ["first", "second"]
    assert first.changes("wall|gone", "wall|k2", draw("again")) is None  # unknown base: send it whole
    # The other worker meets that same step in the cache ("nothing to compare"): whole, not a 500.
    assert second.changes("wall|gone", "wall|k2", draw("again")) is None


def test_separate_processes_draw_a_board_once(tmp_path: Path) -> None:
    """Real processes racing for one board on the on-disk cache: one drawing between them."""
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from dashboard.core.settings import load_settings
        from dashboard.service.boards import Boards
        from dashboard.service.cache import init_cache
        settings = load_settings(env={{}}, CACHE_DIR={str(tmp_path / "cache")!r})
        boards = Boards(init_cache(settings, key_prefix="p:"))
        def draw():
            with open({str(tmp_path / "draws")!r}, "a") as out:
                out.write(f"{{os.getpid()}}\\n")
            time.sleep(0.5)
            return [{{"z": [1, 2, 3]}}]
        print(boards.board("wall|k", draw))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path.cwd())
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert {o.strip() for o in outs} == {"[{'z': [1, 2, 3]}]"}
    assert len((tmp_path / "draws").read_text().splitlines()) == 1


def test_boards_in_redis_are_shared(tmp_path: Path) -> None:
    url = need_redis()
    prefix = f"t{json.dumps(str(tmp_path))[-12:-1]}:"
    draws: list[int] = []
    first, second = Boards(_cache(tmp_path / "a", url, prefix)), Boards(_cache(tmp_path / "b", url, prefix))
    first.board("wall|k", lambda: draws.append(1) or [{"z": [1]}])
    assert second.board("wall|k", lambda: draws.append(2) or [{"z": [2]}]) == [{"z": [1]}]
    assert draws == [1]
    first.cache.redis.delete(*first.cache.redis.keys(prefix + "*"))


def test_edits_are_computed_against_the_board_the_screen_shows(tmp_path: Path) -> None:
    boards = Boards(_cache(tmp_path))
    boards.board("wall|k1", lambda: [_figure([1, 2]), _tiles(["1", "2", "3"]), "10:00"])
    changes = boards.changes(
        "wall|k1", "wall|k2", lambda: [_figure([1, 3]), _tiles(["1", "2", "4"]), "10:00"]
    )
    assert changes is not None
    figure, tiles, age = changes
    assert isinstance(figure, Edits) and figure.sets == ((("data", 0, "z"), [1, 3]),)
    assert isinstance(tiles, Edits) and tiles.sets == (((2, "props", "children"), "4"),)
    assert age is SAME


@pytest.mark.parametrize("memory", [1, 6])
def test_the_process_memory_is_bounded(tmp_path: Path, memory: int) -> None:
    boards = Boards(_cache(tmp_path), memory=memory)
    for i in range(10):
        boards.board(f"wall|k{i}", lambda i=i: [i])  # type: ignore[misc]
    assert boards.remembered == memory
    assert boards.peek("wall|k0") == [0]  # still in the shared cache


def test_a_boards_text_is_what_its_outputs_encode_to_in_every_process(tmp_path: Path) -> None:
    """A whole answer sends each output's JSON text as the cache holds it: the same text in the process
    that drew the board and in another that only read it, one text per output, newlines and all."""
    board = [_figure([1, 2]), _tiles(["第一\n行", "2"]), "10:00", {"snapshot": {"n": None}}]
    first, second = Boards(_cache(tmp_path)), Boards(_cache(tmp_path))
    drawn = first.texts("wall|k", lambda: board)
    assert second.texts("wall|k", lambda: pytest.fail("drawn twice")) == drawn
    assert [json.loads(text) for text in drawn] == board
    assert second.board("wall|k", lambda: pytest.fail("drawn twice")) == board


def test_the_texts_kept_in_memory_are_bounded_by_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dashboard.service.boards as boards_module

    monkeypatch.setattr(boards_module, "TEXT_MEMORY", 3000)
    boards = Boards(_cache(tmp_path))
    for i in range(10):
        boards.texts(f"wall|k{i}", lambda i=i: ["x" * 1000, i])  # type: ignore[misc]
    kept, size = boards.remembered_text
    assert 1 <= kept <= 3 and size <= 3000
    assert boards.texts("wall|k0", lambda: pytest.fail("drawn twice"))[1] == b"0"  # from the shared cache


def test_a_process_that_sends_no_answers_keeps_no_text(tmp_path: Path) -> None:
    """make serve's builder draws into the shared cache only (text_memory=0)."""
    boards = Boards(_cache(tmp_path), text_memory=0)
    boards.texts("wall|k", lambda: ["x" * 1000, 1])
    assert boards.remembered_text == (0, 0)
    assert boards.texts("wall|k", lambda: pytest.fail("drawn twice"))[1] == b"1"  # from the shared cache


def test_a_board_whose_shared_drawing_fails_or_stalls_is_drawn_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sharing is a saving, never a condition: when the process drawing a board failed, or a source just
    back from an outage made it slower than the wait, a screen gets a board drawn in its own process and
    the step's edits give way to the whole board, instead of a 500 (found in the PostgreSQL-cut test)."""
    cache = _cache(tmp_path)
    boards = Boards(cache)
    boards.board("wall|k1", lambda: [_tiles(["1"])])  # the board the screen shows, drawn before

    def stalled(key: str, *args: Any, **kwargs: Any) -> Any:
        raise FlightTimeout(f"waited 30 s for another worker to compute {key}")

    monkeypatch.setattr(cache, "single_flight", stalled)
    assert boards.changes("wall|k1", "wall|k2", lambda: [_tiles(["2"])]) is None  # send the whole board
    assert boards.board("wall|k2", lambda: [_tiles(["2"])]) == [_tiles(["2"])]  # drawn here

    def failed(key: str, *args: Any, **kwargs: Any) -> Any:
        raise ComputeFailed("FlightTimeout: waited 30 s")

    monkeypatch.setattr(cache, "single_flight", failed)
    assert Boards(cache).board("wall|k3", lambda: [_tiles(["3"])]) == [_tiles(["3"])]
