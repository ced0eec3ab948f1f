"""The wall: live refresh with last-good fallback (server state and browser local storage), rotation, clock."""

from __future__ import annotations

import functools
import logging
from typing import Any, NamedTuple

from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback, no_update
from dash.exceptions import PreventUpdate

from callbacks.filters import view_from_store
from callbacks.maps import map_figure
from callbacks.screens import Unshareable, as_output, board_changes, draw_ahead, whole_output
from dashboard.core.i18n import fmt_age, fmt_datetime, t
from dashboard.core.scope import Unauthorized
from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState
from dashboard.present.figures import type_scale
from dashboard.web.context import ComputeFailed, SourceUnavailable, app_context
from layouts import ids, render
from layouts.wall import TABLE_PANELS, WALL_PANELS, WallPanel

log = logging.getLogger(__name__)

PANELS = [panel for page in WALL_PANELS.values() for panel in page]
PANEL_IDS = [panel.id for panel in PANELS]
PANEL_KEYS = {panel.id: panel.key for panel in PANELS}

OUTPUTS = [
    Output(ids.WALL_KPIS, "children", allow_duplicate=True),
    *[
        Output(pid, "children" if pid in TABLE_PANELS else "figure", allow_duplicate=True)
        for pid in PANEL_IDS
    ],
    *[Output(ids.title_of(pid), "children", allow_duplicate=True) for pid in PANEL_IDS],
    Output(ids.WALL_TICKER, "children", allow_duplicate=True),
    Output(ids.WALL_ALERTS, "children", allow_duplicate=True),
    Output(ids.WALL_SCOPE, "children", allow_duplicate=True),
    Output(ids.WALL_TITLE, "children", allow_duplicate=True),
    Output(ids.WALL_AGE, "children", allow_duplicate=True),
    Output(ids.WALL_AGE, "className", allow_duplicate=True),
    Output(ids.WALL_BANNER, "children", allow_duplicate=True),
    Output(ids.WALL_BANNER, "hidden", allow_duplicate=True),
    Output(ids.WALL_WAITING, "hidden", allow_duplicate=True),
    Output(ids.WALL_DENIED, "hidden", allow_duplicate=True),
    Output(ids.WALL_POPUP_DATA, "data", allow_duplicate=True),
]
WAITING_AT = next(i for i, o in enumerate(OUTPUTS) if o.component_id == ids.WALL_WAITING)
EMPTY_FIGURE: dict[str, Any] = {"data": [], "layout": {}}
LOCAL_KEY = "local"  # the screen's key while the server has nothing: its next answer is a whole board


def _panel(panel: WallPanel, snap: Snapshot, view: ViewState, scale: float, wide: bool) -> tuple[Any, str]:
    """One panel's figure or table and its title; the figure unchanged (``no_update``) when it cannot be
    drawn right now.

    Why: maps read their geometry from the source (cached per process for a few minutes). Right after a
    restart during an outage, or once that cache expires in a long one, the source is not there: the
    map keeps what it shows instead of failing the whole wall with a 500.
    """
    if panel.kind != "map":
        return render.wall_panel(
            panel.kind, panel.key, snap, view, scale=scale, limit=panel.fits(wide), both_ends=panel.both_ends
        )
    title = render.panel_title(panel.key, view.lang)
    try:
        return map_figure(panel.key, snap, view, "wall", scale=scale), title
    except SourceUnavailable as exc:
        log.warning("wall panel %s kept as it was: %s", panel.id, type(exc).__name__)
        return no_update, title


def render_wall(
    snap: Snapshot, view: ViewState, *, stale: bool, age_seconds: float, scale: float, wide: bool = False
) -> list[Any]:
    """Every wall output for ``snap``; the banner says how old the data is when it is stale."""
    lang = view.lang
    drawn = [_panel(panel, snap, view, scale, wide) for panel in PANELS]
    age_text = t("data_as_of", lang, when=fmt_datetime(snap.newest_data_at or snap.now, lang, seconds=True))
    banner = t("stale_banner", lang, age=fmt_age(age_seconds, lang)) if stale else ""
    return [
        render.render_panel("kpis", "wall", snap, view, "wall"),
        *[value for value, _title in drawn],
        *[title for _value, title in drawn],
        render.render_panel("ticker", "ticker_wall", snap, view, "wall"),
        render.alerts(snap, lang, wide=wide),
        render.scope_label(snap, view),
        # A village's or a grid's name comes with the snapshot (its breadcrumb): the layout's title named
        # the village's town.
        render.scope_title("wall_title", view, lang, snap),
        age_text,
        "wall-age stale" if stale else "wall-age",
        banner,
        not stale,
        True,
        True,
        render.popup_alerts(snap, lang) if view.as_of is None else [],  # a replay pops nothing up
    ]


def render_denied() -> list[Any]:
    """未授权屏幕: every figure, table and number cleared, so a revoked screen shows nothing of the data."""
    panels = [[] if pid in TABLE_PANELS else EMPTY_FIGURE for pid in PANEL_IDS]
    titles = [no_update] * len(PANEL_IDS)
    return [[], *panels, *titles, [], [], "", no_update, "", "wall-age", "", True, True, False, []]


@callback(
    *OUTPUTS,
    Output(ids.WALL_KEY, "data"),
    Output(ids.WALL_SAVED, "data"),
    Output(ids.WALL_NEED_LOCAL, "data"),
    Output(ids.WALL_SAVED_KEY, "data"),
    Input(ids.VIEW, "data"),
    Input(ids.WALL_PULSE, "data"),
    State(ids.WALL_KEY, "data"),
    State(ids.WALL_SCALE, "data"),
    State(ids.WALL_WIDE, "data"),
    State(ids.WALL_SAVED_KEY, "data"),
    State(ids.WALL_NEED_LOCAL, "data"),
    prevent_initial_call="initial_duplicate",
)
def refresh_wall(
    query: str | None,
    _pulse: int | None,
    last_key: str | None,
    scale: float | None,
    wide: bool | None,
    saved_key: str | None,
    need_local: bool | None = None,
) -> tuple[Any, ...]:
    """The board for the view: drawn once per data version and screen shape for every process, and sent
    as what changed since the board this screen shows. The browser's local copy takes over when the
    server has nothing, and a revoked screen is cleared.

    The tick comes through ``wall-pulse`` (``wall.pulse`` in assets/30-wall.js), only when none of the
    wall's requests is on its way: a slow answer is shown instead of being cancelled by the next tick.
    """
    if query is None:
        # The URL has not been read into the view store yet: a tick now would draw the district's board
        # (or its last good copy) under this wall's URL, and nothing would take it down if this view
        # then has no data anywhere.
        raise PreventUpdate
    # The local copy's callback runs (and uploads the copy, ~170 kB) whenever this store is written:
    # written only when the server had nothing before.
    served = False if need_local else no_update
    context = app_context()
    try:
        view = view_from_store(query)
        scope = context.scope()
        result = context.snapshot(view, scope)
    except Unauthorized:
        if last_key == "denied":
            raise PreventUpdate from None
        # The screen's token was revoked: clear the screen and the browser's local copy of the data.
        return (*render_denied(), "denied", None, served, None)
    if result.snapshot is None:
        # Source down and no last good on the server: let the browser's local copy take over (or the
        # waiting screen). The server's next answer is then a whole board, not a patch of the last one.
        return (*[no_update] * len(OUTPUTS), LOCAL_KEY, no_update, True, no_update)
    snap = result.snapshot
    # stale without an error only means another worker is rebuilding this view: no banner for that.
    stale = bool(result.error)
    key = render.render_key(snap, view) + ("|stale" if stale else "")
    if key == last_key:
        raise PreventUpdate
    screen = Screen(type_scale(scale), bool(wide))
    if stale:  # the banner tells the age of the data: drawn for this answer only
        outputs = render_wall(
            snap, view, stale=True, age_seconds=result.age_seconds or 0, scale=screen.scale, wide=screen.wide
        )
        return (*outputs, key, no_update, served, no_update)
    kind = f"wall:{screen.scale:g}:{int(screen.wide)}:{scope.token()}"

    def draw() -> list[Any]:
        return _draw(snap, view, screen, result.computed_at)

    try:
        changes = board_changes(kind, key, last_key, draw)
    except (Unshareable, ComputeFailed):  # a map kept as it is: this answer is this screen's alone
        outputs = render_wall(snap, view, stale=False, age_seconds=0.0, scale=screen.scale, wide=screen.wide)
        return (*outputs, key + "|partial", no_update, served, no_update)
    draw_ahead(
        kind, key, view, scope, functools.partial(wall_board, view=view, screen=screen)
    )  # the next board
    panels = [as_output(change) for change in changes[:-1]]
    if result.stale or same_minute(saved_key, key):
        # An earlier snapshot while another worker rebuilds, or a local copy of this minute: keep it.
        return (*panels, key, no_update, served, no_update)
    # The browser's copy, with the query it belongs to (a copy is shown only under its own wall's URL).
    saved = whole_output(kind, key, draw, len(changes) - 1, query=query)
    return (*panels, key, saved, served, key)


def same_minute(saved_key: str | None, key: str) -> bool:
    """True when the local copy (render key ``saved_key``) is of the view and minute of ``key``.

    Why once a minute: the copy is the whole snapshot (a patch of it is most of it: every grid's hours
    since its last patrol move each minute). It is shown only when the server has nothing, under a
    banner giving its own age, so a copy up to a minute old costs nothing there and saves each screen
    resending it on every tick.
    """
    return bool(saved_key) and _minute_and_view(saved_key or "") == _minute_and_view(key)


def _minute_and_view(key: str) -> tuple[str, ...]:
    """A render key (``data version|minute|view``) without its data version."""
    return tuple(key.split("|", 2)[1:])


class Screen(NamedTuple):
    """What a wall screen's board depends on besides the data: its type scale and its shape."""

    scale: float
    wide: bool = False


def _draw(snap: Snapshot, view: ViewState, screen: Screen, computed_at: Any) -> list[Any]:
    """Every output of the wall's board, and the browser's copy of the data it was drawn from."""
    board = render_wall(snap, view, stale=False, age_seconds=0.0, scale=screen.scale, wide=screen.wide)
    when = computed_at.isoformat() if hasattr(computed_at, "isoformat") else computed_at
    return [*board, {"snapshot": snap.to_dict(), "computed_at": when}]


def wall_board(snap: Snapshot, computed_at: Any, *, view: ViewState, screen: Screen) -> list[Any]:
    """:func:`_draw` as the builder process is sent it (a partial of a module-level function pickles)."""
    return _draw(snap, view, screen, computed_at)


@callback(
    *OUTPUTS,
    Output(ids.WALL_KEY, "data", allow_duplicate=True),
    Input(ids.WALL_NEED_LOCAL, "data"),
    State(ids.WALL_SAVED, "data"),
    State(ids.VIEW, "data"),
    State(ids.WALL_SCALE, "data"),
    State(ids.WALL_WIDE, "data"),
    prevent_initial_call=True,
)
def restore_from_browser(
    need: bool, saved: dict[str, Any] | None, query: str | None, scale: float | None, wide: bool | None
) -> tuple[Any, ...]:
    """The last good data kept in the wall PC's local storage, shown with its age (survives reloads)."""
    if not need:
        raise PreventUpdate
    view = view_from_store(query)
    # Local storage is shared by every wall URL of this browser: another view's copy would show
    # another place's figures under this wall's title.
    if not saved or saved.get("query") != query:
        # nothing anywhere yet: a clear waiting screen, never an error (the waiting sign found by its
        # output, not by its place: an output added after it once showed 未授权屏幕 instead)
        waiting: list[Any] = [no_update] * len(OUTPUTS)
        waiting[WAITING_AT] = False
        return (*waiting, no_update)
    snap = Snapshot.from_dict(saved["snapshot"])
    age = render.age_seconds(saved.get("computed_at"))
    board = render_wall(snap, view, stale=True, age_seconds=age, scale=type_scale(scale), wide=bool(wide))
    # The screen shows the local copy: whatever the server sent meanwhile, its next answer is whole (a
    # patch of the server's board applied to this one would mix the two and keep the banner up).
    return (*board, LOCAL_KEY)


clientside_callback(
    ClientsideFunction(namespace="wall", function_name="pulse"),
    Output(ids.WALL_PULSE, "data"),
    Input(ids.TICK, "n_intervals"),
)

clientside_callback(
    ClientsideFunction(namespace="wall", function_name="rotate"),
    Output({"type": ids.WALL_PAGE_TYPE, "page": ALL}, "className"),
    Input(ids.WALL_ROTATE, "n_intervals"),
    State(ids.WALL_PAGES, "data"),
    State({"type": ids.WALL_PAGE_TYPE, "page": ALL}, "id"),
)


@callback(Output(ids.WALL_SERVER_NOW, "data"), Input(ids.WALL_SERVER_TICK, "n_intervals"))
def server_now(_: int | None) -> dict[str, int]:
    """The server's clock at load and every ten minutes, in epoch milliseconds: the wall's clock runs in
    the browser from it, so a wall served on a started clock (``serve --start-at``, the conditions
    gallery) shows the served time, not the PC's, and a PC whose own clock is wrong shows the hall's."""
    return {"ms": int(app_context().now().timestamp() * 1000)}


clientside_callback(
    ClientsideFunction(namespace="wall", function_name="clock"),
    Output(ids.WALL_CLOCK, "children"),
    Input(ids.WALL_CLOCK_TICK, "n_intervals"),
    State(ids.VIEW, "data"),
    State(ids.WALL_SERVER_NOW, "data"),
)

clientside_callback(
    ClientsideFunction(namespace="wall_popup", function_name="show"),
    Output(ids.WALL_POPUP_SHOWN, "data"),
    Input(ids.WALL_POPUP_DATA, "data"),
)

clientside_callback(
    ClientsideFunction(namespace="wall", function_name="scale"),
    Output(ids.WALL_SCALE, "data"),
    Input(ids.WALL_ROOT, "id"),
)

clientside_callback(
    ClientsideFunction(namespace="wall", function_name="wide"),
    Output(ids.WALL_WIDE, "data"),
    Input(ids.WALL_ROOT, "id"),
)
