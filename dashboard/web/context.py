"""The app context: what callbacks, blueprints and request hooks ask the running app for, typed.

The app factory (:func:`dashboard.web.app.create_app`) makes one :class:`AppContext` per app and binds it
to the Flask server with :func:`install_context`; inside a request, :func:`app_context` gives it back.
Callbacks import this module at module level: it imports no factory, callback or layout, so the imports
run one way (``web.app`` → ``callbacks`` → ``web.context``).

The context is per app; the viewer is per request. :meth:`AppContext.viewer` and :meth:`AppContext.scope`
read the current request's viewer (put there by :mod:`dashboard.web.signin`), and everything below the
web layer takes them as arguments.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from flask import Flask, current_app, g, request
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from dashboard.briefings.deliver import webhook_names
from dashboard.core.budget import BudgetExceeded
from dashboard.core.clock import Clock
from dashboard.core.eventlist import Cursor, Sort
from dashboard.core.freshness import StreamState
from dashboard.core.scope import Scope, Viewer
from dashboard.core.settings import Settings
from dashboard.core.viewstate import ViewState
from dashboard.export.common import ExportError
from dashboard.export.exporter import export_view
from dashboard.export.queue import ExportBusy, ExportQueue
from dashboard.service.alert_rules import AlertRules
from dashboard.service.alerts import AlertBook, AlertConflict, AlertNotFound, AlertRefused
from dashboard.service.annotations import AnnotationBook, AnnotationNotFound, AnnotationRefused
from dashboard.service.boards import BoardFor, Boards, BoardWarmer, Change, Edits, Same, Whole
from dashboard.service.briefing_defs import BriefingDefs
from dashboard.service.builder import RemoteRefresher
from dashboard.service.cache import ComputeFailed
from dashboard.service.snapshots import ServiceResult, SnapshotService
from dashboard.source.eventlist import Turn, turn_page
from dashboard.source.units import UnitDirectory
from dashboard.web.accounts import current_viewer

__all__ = [
    "CONTEXT_KEY",
    "AlertConflict",
    "AlertNotFound",
    "AlertRefused",
    "AnnotationNotFound",
    "AnnotationRefused",
    "AppContext",
    "BudgetExceeded",
    "Change",
    "ComputeFailed",
    "Edits",
    "ExportBusy",
    "ExportError",
    "Same",
    "ServiceResult",
    "SourceUnavailable",
    "Turn",
    "Whole",
    "app_context",
    "client",
    "install_context",
    "viewer_label",
]

CONTEXT_KEY = "dashboard"  # the one key of the app's state in ``Flask.extensions``
# What a read of the source (units, boundaries, the event list) raises when the database cannot answer.
SourceUnavailable = SQLAlchemyError

GeoJSON = dict[str, Any]
# cached_property has no lock from Python 3.12 on: two first screens at once would make two warmers, and
# both would draw every board ahead. The warmer is made under this lock, once per process.
_WARMER_MADE = threading.Lock()


@dataclass(frozen=True)
class AppContext:
    """The app's snapshot service, settings, clock and unit directory, and what is asked of them."""

    service: SnapshotService
    settings: Settings
    clock: Clock
    units: UnitDirectory  # child units for the filters, boundaries for the maps (cached reads)

    @cached_property
    def boards(self) -> Boards:
        """The screens' drawn boards, in the service's shared cache (one drawing per render key)."""
        return Boards(self.service.cache)

    @cached_property
    def board_warmer(self) -> BoardWarmer:
        """Draws the screens' next boards right after the background refresh rebuilt their view."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # the refresher's thread has none

        def within(draw: Any) -> None:
            with app.app_context():
                draw()

        with _WARMER_MADE:
            made = self.__dict__.get("board_warmer")
            if made is None:
                refresher = self.service.refresher
                hot = refresher.hot_seconds if refresher is not None else 0.0
                made = self.__dict__["board_warmer"] = BoardWarmer(self.service, self.boards, within, hot)
            return made

    def draw_ahead(self, kind: str, key: str, view: ViewState, scope: Scope, board_for: BoardFor) -> None:
        """Draw this screen's next board ahead (only with background refresh: it says when). Under
        ``make serve`` the builder process draws it (``board_for`` goes to it as a pickle)."""
        refresher = self.service.refresher
        if isinstance(refresher, RemoteRefresher):
            refresher.watch(kind, key, view, scope, board_for)
        elif refresher is not None:
            self.board_warmer.watch(kind, key, view, scope, board_for)

    @property
    def source_engine(self) -> Engine:
        """The read-only source pool: the service's own, the only one of the process."""
        return self.service.source_engine

    def viewer(self) -> Viewer:
        """The viewer of the current request; raises Unauthorized for a refused one that may still ask."""
        return current_viewer()

    def scope(self) -> Scope:
        """The towns the current request's viewer may see."""
        return self.viewer().scope

    @property
    def alert_book(self) -> AlertBook:
        """The alert lifecycle (every service made by create_service keeps one)."""
        if self.service.alert_book is None:
            raise LookupError("this deployment keeps no alert lifecycle")
        return self.service.alert_book

    @cached_property
    def briefing_defs(self) -> BriefingDefs:
        """The briefing definitions in the state store (the 简报 page's; audited changes)."""
        return BriefingDefs(self.service.state)

    def webhook_names(self) -> list[str]:
        """The webhook target names a definition may send to (the URLs stay in the settings)."""
        return webhook_names(self.settings.BRIEFING_WEBHOOKS)

    @property
    def annotations(self) -> AnnotationBook:
        """The notes on the timeline (every service made by create_service keeps them)."""
        if self.service.annotations is None:
            raise LookupError("this deployment keeps no annotations")
        return self.service.annotations

    @property
    def alert_rules(self) -> AlertRules:
        """The alert thresholds: district defaults and the towns' own values."""
        if self.service.alert_rules is None:
            raise LookupError("this deployment keeps no alert thresholds")
        return self.service.alert_rules

    def csrf_token(self) -> str | None:
        """The CSRF token of this request's session for a page's writing steps (the 告警 page's); None
        when nobody signs in (``AUTH=none``: no session to protect, and the local viewer may not act)."""
        if CSRF_EXTENSION not in current_app.extensions:
            return None
        return str(generate_csrf())

    def csrf_valid(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (Flask-WTF's check, as the forms get it).

        Dash's callback endpoint is exempt from the form check (it takes JSON only); a callback that
        changes something checks the token its page was handed, so a cross-site script replaying a
        callback without reading the page cannot act."""
        if CSRF_EXTENSION not in current_app.extensions:
            return True
        try:
            validate_csrf(token)
        except (CSRFError, ValueError):  # Flask-WTF raises ValidationError, a ValueError
            return False
        return True

    def now(self) -> dt.datetime:
        """The app clock's time (fixed in tests and the equivalence harness)."""
        return self.clock.now()

    def snapshot(self, view: ViewState, scope: Scope) -> ServiceResult:
        """The service's answer for ``view`` as ``scope`` may see it (cached; last good on failure)."""
        return self.service.snapshot(view, scope)

    def freshness(self) -> list[StreamState] | None:
        """Each source stream's state now (None while the source does not answer)."""
        return self.service.freshness.streams()

    def geojson(self, level: str, parent: str | None = None) -> GeoJSON:
        """The boundaries of a map (a database read the first time, then cached for minutes)."""
        return self.units.geojson(level, parent)

    def children(self, code: str) -> list[dict[str, str]]:
        """The villages of a town or the grids of a village, as code, name_zh and name_en."""
        return self.units.children(code)

    def turn_events(
        self,
        view: ViewState,
        sort: Sort,
        cursor: Cursor | None,
        page: int,
        *,
        sig: str,
        now: dt.datetime,
        viewer: Viewer,
    ) -> Turn:
        """The event list turned to ``page`` from ``cursor`` (at most two bounded queries; a jump to a
        page that is not first, previous, next or last is refused). Rows carry column keys only."""
        with self.source_engine.connect() as conn:
            turn = turn_page(conn, view, now, sig=sig, sort=sort, cursor=cursor, page=page, viewer=viewer)
        if turn.rows is None:
            return turn
        shown = [{k: v for k, v in row.items() if not k.startswith("_")} for row in turn.rows]
        return Turn(shown, turn.cursor, turn.turn)

    def export(
        self,
        view: ViewState,
        fmt: str,
        *,
        scope: Scope,
        pages: list[str] | None = None,
        panel: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> tuple[bytes, str, str]:
        """``(payload, filename, mimetype)`` of the deck (pptx, pdf) or panel picture (png) of ``view``.

        Made in one of the deployment's export slots (:mod:`dashboard.export.queue`, shared with the
        command line). Raises :class:`ExportBusy` when every slot is taken, ValueError for a bad
        argument and :class:`ExportError` when the file cannot be made.
        """
        with ExportQueue(self.service.cache).slot():
            return export_view(
                self.service,
                self.geojson,
                view,
                fmt,
                pages=pages,
                panel=panel,
                scope=scope,
                width=width,
                height=height,
            )


CSRF_EXTENSION = "csrf"  # Flask-WTF's CSRFProtect, installed with sign-in (dashboard.web.signin)


def client() -> str:
    """The client address of the current request (the direct peer)."""
    return request.remote_addr or "?"


def viewer_label() -> str:
    """The audit actor for this request: the user, the kiosk, or the client address."""
    viewer = g.get("dashboard_viewer")
    if viewer is None or viewer.kind == "local":
        return client()
    return f"{viewer.label()}@{client()}"


def install_context(server: Flask, context: AppContext) -> None:
    """Bind ``context`` to ``server`` (the app factory does this once per app)."""
    server.extensions[CONTEXT_KEY] = context


def app_context(server: Flask | None = None) -> AppContext:
    """The context of ``server``, or of the app serving the current request."""
    app = server if server is not None else current_app
    return app.extensions[CONTEXT_KEY]  # type: ignore[no-any-return]


# --- the briefings' scheduler in a server process (started by the servers, or by the first definition;
# here so that the 简报 page's callback reaches it through the context, not the app factory) ---

SCHEDULER_KEY = "dashboard_briefings_scheduler"  # in the Flask app's extensions: this process's scheduler
SERVING_KEY = "dashboard_briefings_serving"  # set by the servers: this app may run the scheduler


def start_briefings_in(server: Flask) -> Any:
    """The scheduler of this server process, started now if it should run and does not yet (once per
    process); None when it does not run. Called again when an admin defines the first briefing on the
    简报 page, so that it runs without a restart (a definition added with the CLI waits for one). An app
    no server started (a test's, a tool's) never runs it."""
    from dashboard.briefings.defined import start_in_background

    if not server.extensions.get(SERVING_KEY):
        return None
    running = server.extensions.get(SCHEDULER_KEY)
    if running is None:
        context = app_context(server)
        running = start_in_background(context.service, context.geojson, context.settings, context.now)
        server.extensions[SCHEDULER_KEY] = running
    return running
