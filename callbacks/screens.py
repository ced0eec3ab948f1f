"""What a screen's tick sends: only what changed since the board it shows, from boards drawn once.

The wall and the browser pages draw their board (every output of their refresh callback) once per render
key, screen shape and scope for the whole deployment (:class:`dashboard.service.boards.Boards`, in the
shared cache). A screen sends the render key of the board it shows; the answer is, per output, Dash's
``no_update`` when nothing changed, a ``Patch`` with the few values that did (a tick of the feed moves
numbers, not geometry), or the whole value when the screen's board is unknown (a first load, a screen
that showed the stale banner or its local copy, a board expired from the cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from dash import Patch, no_update
from plotly.io.json import to_json_plotly

from dashboard.core import jsontext
from dashboard.core.scope import Scope
from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState
from dashboard.web.context import Change, Edits, Same, ServiceResult, Whole, app_context
from layouts import render


class Unshareable(Exception):
    """A board that cannot be shared: one of its outputs is kept as it is on screen (``no_update``)."""


def plain_board(values: list[Any]) -> list[Any]:
    """The outputs as the browser receives them (components and figures as plain JSON)."""
    if any(value is no_update for value in values):
        raise Unshareable
    try:
        return jsontext.loads(orjson.dumps(values, default=_plotly_json, option=_PLOTLY_OPTIONS))  # type: ignore[no-any-return]
    except (TypeError, orjson.JSONEncodeError):  # something only Plotly's own encoder knows (a pandas value)
        return jsontext.loads(to_json_plotly(values))  # type: ignore[no-any-return]


# What Plotly's orjson engine does, without its walk over every value in Python first (most of a board's
# drawing time: a wall board is ~50,000 values). Components and figures give their JSON through
# to_plotly_json; numpy arrays and dates are orjson's own, written as Plotly writes them.
_PLOTLY_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _plotly_json(value: Any) -> Any:
    to_plotly_json = getattr(value, "to_plotly_json", None)
    if to_plotly_json is None:
        raise TypeError(type(value).__name__)
    return to_plotly_json()


def board_changes(kind: str, key: str, last_key: str | None, draw: Callable[[], list[Any]]) -> list[Change]:
    """Per output, what changed from the board of ``last_key`` to the one of ``key`` (boards of ``kind``:
    which screen, its shape and the viewer's scope). Every output whole when ``last_key``'s is unknown.

    Raises :class:`Unshareable` when the board has an output kept as it is (``no_update``).
    """
    boards = app_context().boards

    def drawn() -> list[Any]:
        return plain_board(draw())

    if last_key:
        changes = boards.changes(f"{kind}|{last_key}", f"{kind}|{key}", drawn)
        if changes is not None:
            return changes
    return [Whole(orjson.Fragment(text)) for text in boards.texts(f"{kind}|{key}", drawn)]


@dataclass(frozen=True)
class BoardRecipe:
    """How to draw a screen's next board from a rebuilt snapshot: its render key and its outputs
    (``outputs_for(snapshot, computed at)``).

    Why a class of plain values and not a closure: under ``make serve`` it is sent to the builder process
    (dashboard/service/builder.py) as a pickle, so ``outputs_for`` must be a module-level function or a
    ``functools.partial`` of one with plain arguments.
    """

    view: ViewState
    outputs_for: Callable[[Snapshot, Any], list[Any]]

    def __call__(self, result: ServiceResult) -> tuple[str, Callable[[], list[Any]]] | None:
        snap = result.snapshot
        if snap is None:
            return None
        outputs_for = self.outputs_for
        return render.render_key(snap, self.view), lambda: plain_board(outputs_for(snap, result.computed_at))


def draw_ahead(
    kind: str, key: str, view: ViewState, scope: Scope, outputs_for: Callable[[Snapshot, Any], list[Any]]
) -> None:
    """This screen was sent the board ``kind|key``: its next board is drawn (``outputs_for(snapshot,
    computed at)``, picklable: see :class:`BoardRecipe`) as soon as the background refresh has rebuilt
    the view, before the screen asks."""
    app_context().draw_ahead(kind, key, view, scope, BoardRecipe(view, outputs_for))


def whole_output(kind: str, key: str, draw: Callable[[], list[Any]], at: int, **fields: Any) -> Any:
    """Output ``at`` of the board of ``key`` (drawn once for the deployment) as the answer's JSON text,
    with ``fields`` added to it (it is a JSON object)."""
    text = app_context().boards.texts(f"{kind}|{key}", lambda: plain_board(draw()))[at]
    return with_fields(text, fields)


def with_fields(text: bytes, fields: dict[str, Any]) -> Any:
    """The JSON object ``text`` with ``fields`` in front, as a value the answer embeds as it is.

    Why text: the object is the wall's copy of the whole snapshot (~200 kB); decoding it to add one
    field and encoding it again cost a worker milliseconds per answer.
    """
    if not fields:
        return orjson.Fragment(text)
    if not text.startswith(b"{"):
        raise ValueError("fields can only be added to a JSON object")
    head = orjson.dumps(fields)[:-1]  # '{"query":"…"'
    rest = text[1:]
    return orjson.Fragment(head + (b"," + rest if rest != b"}" else b"}"))


def as_output(change: Change) -> Any:
    """The callback's value for one output: ``no_update``, the whole value, or a ``Patch``."""
    if isinstance(change, Same):
        return no_update
    if isinstance(change, Whole):
        return change.value
    return patch_of(change)


def patch_of(edits: Edits) -> Patch:
    """A Dash ``Patch`` assigning (and deleting) the values of ``edits`` inside the output on screen."""
    patch = Patch()
    for path, value in edits.sets:
        _at(patch, path[:-1])[path[-1]] = value
    for path in edits.deletes:
        del _at(patch, path[:-1])[path[-1]]
    return patch


def _at(patch: Patch, path: tuple[str | int, ...]) -> Patch:
    for step in path:
        patch = patch[step]
    return patch
