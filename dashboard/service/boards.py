"""Drawn boards in the shared cache: a screen's outputs drawn once per render key for every process, and
the edits that take a screen from the board it shows to the next one.

A *board* is what one screen callback returns (the wall's figures, tiles, tables and the browser's copy
of the snapshot; or one browser page's panels) as plain JSON. Every screen on a view asks for the same
board at every tick, in whichever worker; before, each worker drew and serialized the whole board for
each screen (a wall's board is about a megabyte of JSON, most of a screen update's time).

* :meth:`Boards.board` draws a board once per key for the whole deployment (single flight in the shared
  cache: Redis, else the on-disk cache) and keeps the last few in the process's memory.
* :meth:`Boards.texts` gives the same board as JSON text, one per output, for a screen that is sent the
  whole board (its first answer): the text goes into the answer as it is, neither decoded from the cache
  nor encoded again (a wall's board is ~0.8 MB: both took ~7 ms of a worker's CPU per first answer).
* :meth:`Boards.changes` gives, per output, what changed between the board a screen shows (its last
  render key) and the new one: nothing (:data:`SAME`), a few values deep inside (:class:`Edits`, sent
  as Dash ``Patch`` operations by the callbacks) or the whole value (:class:`Whole`). Computed once per
  pair of keys for the deployment, since all screens on a view move from one key to the next together.

* :class:`BoardWarmer` draws the boards screens showed of a view lately right after the background
  refresh rebuilt it, with the step from the last board, so a screen's tick finds both ready instead of
  waiting for a drawing (a wall's board is a few hundred milliseconds of CPU).

Keys are chosen by the caller (what the board depends on: the kind of screen, its shape, the viewer's
scope and the render key). This layer knows nothing of Dash: values are JSON, edits are paths.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dashboard import __version__
from dashboard.core import jsontext
from dashboard.core.scope import Scope
from dashboard.core.viewstate import ViewState
from dashboard.service.cache import ComputeFailed, FlightTimeout, SharedCache
from dashboard.service.snapshots import ServiceResult, SnapshotService

log = logging.getLogger(__name__)

Board = list[Any]  # one JSON value per output, in the callback's order
Path = tuple[str | int, ...]

BOARD_TTL = 300  # a board is asked for during its minute and as the base of the next tick's edits
EDITS_TTL = 180
MEMORY = 6  # boards kept per process (a wall's is a few MB as Python objects)
TEXT_MEMORY = 48 * 2**20  # bytes of boards' JSON text kept per process (a wall's ~0.8 MB, a page's ~50 kB)
FEW_EDITS = 8  # more edits than this inside one container, touching most of it: replace it whole
EDIT_SHARE = 0.5  # edits bigger than this share of the whole value are sent as the whole value
FORMAT = f"b2:{__version__}"  # in every key: a new release never patches a board drawn by an old one


@dataclass(frozen=True)
class Same:
    """The output has not changed: leave it (Dash's ``no_update``)."""


SAME = Same()


@dataclass(frozen=True)
class Whole:
    """Send the output's whole new value."""

    value: Any


@dataclass(frozen=True)
class Edits:
    """Assign ``value`` at each path (``delete``: remove the key) inside the output the screen shows."""

    sets: tuple[tuple[Path, Any], ...]
    deletes: tuple[Path, ...] = ()


Change = Same | Whole | Edits


def plain(value: Any) -> Any:
    """``value`` as plain JSON containers (what the browser receives): tuples become lists, keys strings."""
    return jsontext.loads(jsontext.dump_bytes(value, default=None))


NOTHING_TO_COMPARE = b"-"  # the cached edits of a step with no board to compare (never zlib data)


def _texts_of(board: Board) -> list[bytes]:
    return [jsontext.dump_bytes(value, default=None) for value in board]


def _pack(texts: list[bytes]) -> bytes:
    # Compressed JSON text, one line per output (compact JSON never holds a raw newline): a megabyte
    # board is ~100 kB in Redis, no pickle meets another release, and an output's text is found without
    # decoding the others.
    return zlib.compress(b"\n".join(texts), 1)


def _unpack_texts(raw: Any) -> list[bytes]:
    return zlib.decompress(raw).split(b"\n")


def _unpack(raw: Any) -> Board:
    return [jsontext.loads(text) for text in _unpack_texts(raw)]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


class Boards:
    """Boards drawn once per key across processes, and the edits between two of them."""

    def __init__(
        self,
        cache: SharedCache,
        *,
        memory: int = MEMORY,
        text_memory: int | None = None,
        wait_seconds: float = 30.0,
    ) -> None:
        self.cache = cache
        self.memory = memory
        # Bytes of text kept (None: TEXT_MEMORY). 0: none (make serve's builder process sends no answers;
        # its texts go to the cache only).
        self.text_memory = TEXT_MEMORY if text_memory is None else text_memory
        self.wait_seconds = wait_seconds
        self._boards: OrderedDict[str, Board] = OrderedDict()
        self._texts: OrderedDict[str, list[bytes]] = OrderedDict()
        self._text_bytes = 0
        self._changes: OrderedDict[str, list[Change]] = OrderedDict()
        self._lock = threading.Lock()

    # --- boards --------------------------------------------------------------------------------

    def board(self, key: str, draw: Callable[[], Board]) -> Board:
        """The board under ``key``, drawn by ``draw`` (returning plain JSON, see :func:`plain`) by one
        process of the deployment while the others wait for it."""
        found = self._remembered(key)
        if found is not None:
            return found
        texts, drawn = self._shared(key, draw)
        board = drawn if drawn is not None else [jsontext.loads(text) for text in texts]
        self._remember(key, board)
        return board

    def texts(self, key: str, draw: Callable[[], Board]) -> list[bytes]:
        """The board under ``key`` as JSON text, one per output (drawn once for the deployment, as by
        :meth:`board`): what a whole answer sends, without decoding and encoding it again."""
        with self._lock:
            found = self._texts.get(key)
            if found is not None:
                self._texts.move_to_end(key)
                return found
        texts, drawn = self._shared(key, draw)
        if drawn is not None:
            self._remember(key, drawn)
        return texts

    def _shared(self, key: str, draw: Callable[[], Board]) -> tuple[list[bytes], Board | None]:
        """The texts of the board under ``key`` from the deployment's single flight, and the board itself
        when this process drew it. Remembers the texts."""
        drawn: list[tuple[Board, list[bytes]]] = []

        def drawing() -> bytes:
            board = draw()
            drawn.append((board, _texts_of(board)))
            return _pack(drawn[-1][1])

        try:
            flight = self.cache.single_flight(
                self._board_key(key), drawing, ttl=BOARD_TTL, wait_seconds=self.wait_seconds
            )
            texts = drawn[-1][1] if drawn else _unpack_texts(flight.value)
        except (ComputeFailed, FlightTimeout) as exc:
            # Sharing a board is a saving, never a condition: when the process drawing it failed or is
            # slow (a source just back from an outage), this one draws its own rather than fail a screen.
            log.warning("board %s drawn here: the shared drawing did not come (%s)", key[:60], exc)
            board = draw()
            drawn.append((board, _texts_of(board)))
            texts = drawn[-1][1]
        self._remember_texts(key, texts)
        return texts, drawn[-1][0] if drawn else None

    def peek(self, key: str) -> Board | None:
        """The board under ``key`` if one was drawn (and not yet expired), else None."""
        found = self._remembered(key)
        if found is not None:
            return found
        raw = self.cache.get(self._board_key(key))
        if raw is None:
            return None
        board: Board = _unpack(raw)
        self._remember(key, board)
        return board

    def _remember_texts(self, key: str, texts: list[bytes]) -> None:
        size = sum(len(text) for text in texts)
        with self._lock:
            if key in self._texts or self.text_memory <= 0:
                return
            self._texts[key] = texts
            self._text_bytes += size
            while self._text_bytes > self.text_memory and len(self._texts) > 1:
                _old, gone = self._texts.popitem(last=False)
                self._text_bytes -= sum(len(text) for text in gone)

    @property
    def remembered_text(self) -> tuple[int, int]:
        """(boards, bytes) of JSON text this process keeps in memory now (bytes at most ``TEXT_MEMORY``,
        beyond one board)."""
        with self._lock:
            return len(self._texts), self._text_bytes

    @property
    def remembered(self) -> int:
        """How many boards this process keeps in memory now (at most ``memory``)."""
        with self._lock:
            return len(self._boards)

    def _board_key(self, key: str) -> str:
        return f"board:{_digest(FORMAT + '|' + key)}"

    def _remembered(self, key: str) -> Board | None:
        with self._lock:
            found = self._boards.get(key)
            if found is not None:
                self._boards.move_to_end(key)
            return found

    def _remember(self, key: str, board: Board) -> None:
        with self._lock:
            self._boards[key] = board
            self._boards.move_to_end(key)
            while len(self._boards) > self.memory:
                self._boards.popitem(last=False)

    # --- changes -------------------------------------------------------------------------------

    def changes(self, old_key: str, new_key: str, draw: Callable[[], Board]) -> list[Change] | None:
        """What changed per output from the board under ``old_key`` to the one under ``new_key`` (drawn
        by ``draw`` if nobody has yet); None when the old board is gone (send the whole new board)."""
        key = f"edits:{_digest(FORMAT + '|' + old_key + '→' + new_key)}"

        def compute() -> bytes | None:
            old = self.peek(old_key)
            if old is None:
                return None
            new = self.board(new_key, draw)
            if len(old) != len(new):
                return None
            return _pack(
                [
                    jsontext.dump_bytes(_encode(change_of(a, b)), default=None)
                    for a, b in zip(old, new, strict=True)
                ]
            )

        with self._lock:
            known = self._changes.get(key)
        if known is not None:
            return known
        raw = self.cache.get(key)
        if raw == NOTHING_TO_COMPARE:  # another process found nothing to compare for this step
            return None
        if raw is None:
            try:
                raw = compute_once(self.cache, key, compute, self.wait_seconds)
            except (ComputeFailed, FlightTimeout) as exc:  # the step is not shared: send the whole board
                log.warning("board step %s not shared (%s): whole board sent", key[:40], exc)
                return None
            if raw is None:
                return None
        changes = [_decode(item) for item in _unpack(raw)]
        with self._lock:  # every screen on the view makes the same step: decoded once per process
            self._changes[key] = changes
            while len(self._changes) > 4 * self.memory:
                self._changes.popitem(last=False)
        return changes


def compute_once(
    cache: SharedCache, key: str, compute: Callable[[], bytes | None], wait_seconds: float
) -> bytes | None:
    """``compute()`` under the single flight of ``key``; a None result (nothing to compare) is not kept."""
    # Kept briefly, so the waiters learn there is nothing to compare instead of waiting.
    flight = cache.single_flight(
        key, lambda: compute() or NOTHING_TO_COMPARE, ttl=EDITS_TTL, wait_seconds=wait_seconds
    )
    value: bytes = flight.value
    return None if value == NOTHING_TO_COMPARE else value


# --- the difference of two JSON values ----------------------------------------------------------


def change_of(old: Any, new: Any) -> Change:
    """How to take a screen from ``old`` to ``new``: nothing, edits at a few paths, or the whole value."""
    if old == new:
        return SAME
    if not isinstance(old, dict | list) or type(old) is not type(new):
        return Whole(new)
    sets: list[tuple[Path, Any]] = []
    deletes: list[Path] = []
    _diff(old, new, (), sets, deletes)
    if not sets and not deletes:
        return SAME
    if any(not path for path, _value in sets):  # the root itself changed (a list of numbers)
        return Whole(new)
    size = len(jsontext.dump_bytes([sets, deletes], default=None))
    whole = len(jsontext.dump_bytes(new, default=None))
    if size > EDIT_SHARE * whole:
        return Whole(new)
    return Edits(tuple(sets), tuple(deletes))


def _diff(old: Any, new: Any, path: Path, sets: list[tuple[Path, Any]], deletes: list[Path]) -> None:
    """Append the assignments and deletions taking ``old`` to ``new`` (which differ) at ``path``.

    Dicts are compared key by key and lists of containers of the same length item by item; a list of
    numbers or strings (a trace's values, a text) is replaced whole: one assignment, as small as the list.
    A container whose edits would be many small ones (more than :data:`FEW_EDITS` and more than half its
    items: a ticker that scrolled, every grid's hours) is replaced whole instead.
    """
    mark = (len(sets), len(deletes))
    if isinstance(old, dict) and isinstance(new, dict):
        for k, value in new.items():
            if k not in old:
                sets.append(((*path, k), value))
            elif old[k] != value:
                _diff(old[k], value, (*path, k), sets, deletes)
        deletes.extend((*path, k) for k in old if k not in new)
    elif (
        isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and any(isinstance(x, dict | list) for x in new)
    ):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                _diff(a, b, (*path, i), sets, deletes)
    else:
        sets.append((path, new))  # at the root: the caller sends the whole value
        return
    edits = len(sets) - mark[0] + len(deletes) - mark[1]
    if path and edits > FEW_EDITS and 2 * edits > len(new):
        del sets[mark[0] :], deletes[mark[1] :]
        sets.append((path, new))


def _encode(change: Change) -> Any:
    if isinstance(change, Same):
        return None
    if isinstance(change, Whole):
        return {"whole": change.value}
    return {"sets": [[list(p), v] for p, v in change.sets], "deletes": [list(p) for p in change.deletes]}


def _decode(item: Any) -> Change:
    if item is None:
        return SAME
    if "whole" in item:
        return Whole(item["whole"])
    return Edits(
        tuple((tuple(p), v) for p, v in item["sets"]), tuple(tuple(p) for p in item.get("deletes", []))
    )


# --- drawing ahead -------------------------------------------------------------------------------

# A screen's board for a fresh result: (render key, the drawing of its plain JSON), or None (not shareable).
BoardFor = Callable[[ServiceResult], tuple[str, Callable[[], Board]] | None]


STEPS_AHEAD = 3  # the render keys screens of one board were sent lately: a step is drawn from each


@dataclass
class _Watched:
    view: ViewState
    scope: Scope
    board_for: BoardFor
    # The render keys of the boards screens were sent lately (or this warmer drew), oldest first. Why
    # several: screens tick at their own phase, so when two rebuilds come within one tick interval (or
    # a minute turns beside one) some screens still show the board before last. A step not drawn ahead
    # is worked out in that screen's request: ~25 ms of CPU for a wall, its slowest ticks.
    keys: list[str]
    seen: float  # time.monotonic() of the last screen that asked

    def sent(self, key: str) -> None:
        if key in self.keys:
            self.keys.remove(key)
        self.keys.append(key)
        del self.keys[:-STEPS_AHEAD]


class BoardWarmer:
    """Draws ahead: when the background refresh has rebuilt a view, the boards screens showed of it in
    the last ``hot_seconds`` are drawn at once (in that thread, under the usual single flight) with the
    step from their last board. A screen's next tick then reads both from the cache.

    Only the process that rebuilt the view hears of it; it draws the boards its own screens asked for,
    and the other processes read them from the shared cache. ``within`` runs a drawing where the
    callbacks can draw (the web layer passes its app's context).
    """

    def __init__(
        self,
        service: SnapshotService,
        boards: Boards,
        within: Callable[[Callable[[], None]], None],
        hot_seconds: float,
    ) -> None:
        self.service = service
        self.boards = boards
        self.within = within
        self.hot_seconds = hot_seconds
        self.drawn = 0  # boards drawn ahead by this process (tests and logs)
        self._watched: dict[tuple[str, str], _Watched] = {}
        self._lock = threading.Lock()
        service.refreshed_listeners.append(self.refreshed)

    def watch(self, kind: str, key: str, view: ViewState, scope: Scope, board_for: BoardFor) -> None:
        """A screen was just sent the board ``kind|key`` of ``view``: draw its next one ahead."""
        identity = self.service.identity(scope.apply(view), scope)
        with self._lock:
            watched = self._watched.get((identity, kind))
            if watched is None:
                self._watched[(identity, kind)] = _Watched(view, scope, board_for, [key], time.monotonic())
                return
            watched.view, watched.scope, watched.board_for = view, scope, board_for
            watched.seen = time.monotonic()
            watched.sent(key)

    def refreshed(self, identity: str) -> None:
        """The background refresh rebuilt ``identity``: draw its watched boards now."""
        cutoff = time.monotonic() - self.hot_seconds
        with self._lock:
            for gone in [k for k, w in self._watched.items() if w.seen < cutoff]:
                del self._watched[gone]
            due = [(kind, w) for (ident, kind), w in self._watched.items() if ident == identity]
        for kind, watched in due:
            self.within(functools.partial(self._draw_ahead, kind, watched))

    def _draw_ahead(self, kind: str, watched: _Watched) -> None:
        result = self.service.snapshot(watched.view, watched.scope, watched=False)
        if result.snapshot is None or result.stale or result.error:
            return  # not the rebuilt figures (another build under way, or a failure): the screens decide
        made = watched.board_for(result)
        with self._lock:
            shown = list(watched.keys)
        if made is None or made[0] == shown[-1]:
            return
        key, draw = made
        try:
            # Its text (what a whole answer sends), not its objects: a process that did not draw it
            # decodes the board only if it works out a step.
            self.boards.texts(f"{kind}|{key}", draw)
            for old in shown:
                if old != key:
                    self.boards.changes(f"{kind}|{old}", f"{kind}|{key}", draw)
        except Exception:  # drawing ahead is a saving: the screen's own request draws as before
            log.warning("drawing %s ahead failed", kind[:40], exc_info=True)
            return
        with self._lock:
            watched.sent(key)  # the screens' next key: the step from it is drawn at the next rebuild
        self.drawn += 1
