"""The builder process's channel (dashboard/service/builder.py): the serving processes' notices reach the
builder's refresher and board warmer, at most every few seconds each, and never block or break a worker."""

from __future__ import annotations

import functools
import pickle
import threading
import time
from typing import Any

import pytest

from dashboard.core.scope import Scope
from dashboard.core.viewstate import ViewState
from dashboard.service.builder import Channel, RemoteRefresher, serve_notices


@pytest.fixture
def channel() -> Any:
    made = Channel()
    yield made
    made.close()


def drain(channel: Channel) -> list[tuple[Any, ...]]:
    out = []
    while (notice := channel.receive(0.05)) is not None:
        out.append(notice)
    return out


def board_for(result: Any, *, page: str) -> None:  # a module-level function: it pickles by name
    return None


def test_notices_are_sent_once_per_few_seconds_per_view_and_board(channel: Channel) -> None:
    remote = RemoteRefresher(channel, hot_seconds=15)
    view, scope = ViewState(period="week"), Scope(frozenset({"330109113"}))
    recipe = functools.partial(board_for, page="overview")
    for _ in range(50):  # fifty screens' ticks within a second
        remote.touch("week|scope=all", view)
        remote.watch("page:overview", "k1", view, scope, recipe)
        remote.wake()
    got = drain(channel)
    assert [n[0] for n in got] == ["touch", "watch", "wake"]
    kind, key, sent_view, sent_scope, sent_recipe = got[1][1:]
    assert (kind, key, sent_view, sent_scope) == ("page:overview", "k1", view, scope)
    assert sent_recipe.func is board_for and sent_recipe.keywords == {"page": "overview"}
    remote.watch("page:overview", "k2", view, scope, recipe)  # a new board: told at once
    assert [n[2] for n in drain(channel)] == ["k2"]
    assert remote.hot() == ["week|scope=all"]


def test_a_notice_that_cannot_go_is_dropped_and_counted(channel: Channel) -> None:
    remote = RemoteRefresher(channel, hot_seconds=15)
    remote.watch("wall", "k", ViewState(), Scope(), lambda result: None)  # a closure does not pickle
    assert channel.dropped == 1 and drain(channel) == []
    big = "x" * (8 * 2**20)  # larger than the channel holds: dropped, the worker goes on
    assert not channel.send(("touch", big, ViewState()))
    assert channel.dropped == 2


def test_the_builder_hands_each_notice_on_and_survives_a_bad_one(channel: Channel) -> None:
    calls: list[tuple[Any, ...]] = []

    def touch(identity: str, view: ViewState) -> None:
        if identity == "boom":
            raise RuntimeError("a refresher bug")
        calls.append(("touch", identity, view))

    stop = threading.Event()
    done: list[int] = []
    loop = threading.Thread(
        target=lambda: done.append(
            serve_notices(
                channel,
                touch,
                lambda: calls.append(("wake",)),
                lambda *args: calls.append(("watch", *args)),
                keep_going=lambda: not stop.is_set(),
                poll_seconds=0.05,
            )
        )
    )
    loop.start()
    channel.send(("touch", "boom", ViewState()))
    channel.send(("touch", "week|scope=all", ViewState(period="week")))
    channel.send(("wake",))
    channel.send(("watch", "wall", "k", ViewState(), Scope(), None))
    channel.writer.send(b"not a pickle")
    channel.send(("unknown",))
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    loop.join(5)
    assert calls == [
        ("touch", "week|scope=all", ViewState(period="week")),
        ("wake",),
        ("watch", "wall", "k", ViewState(), Scope(), None),
    ]
    assert done == [4]  # the three above and the unknown one; the failing touch and the garbage are not


def test_the_screens_recipes_pickle() -> None:
    """What the wall and the pages send the builder: BoardRecipe with a partial of a module function."""
    from callbacks.pages import page_board
    from callbacks.screens import BoardRecipe
    from callbacks.wall import Screen, wall_board

    view = ViewState(period="month", towns=("330109113",))
    for outputs_for in (
        functools.partial(wall_board, view=view, screen=Screen(1.5, True)),
        functools.partial(page_board, page="overview", view=view, variant="browser"),
    ):
        recipe = pickle.loads(pickle.dumps(BoardRecipe(view, outputs_for)))
        assert recipe.view == view
        assert (
            recipe.outputs_for.func is outputs_for.func
            and recipe.outputs_for.keywords == outputs_for.keywords
        )
