"""The application factory: ``create_app(settings=None) -> Dash``.

Engines, caches and the snapshot service are made here, never at import time, and bound to the Flask
server as one typed :class:`~dashboard.web.context.AppContext`, which module-level callbacks, blueprints
and request hooks reach through :func:`~dashboard.web.context.app_context`.
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import dash
from flask import Flask, has_request_context, request

import callbacks  # noqa: F401  (module-level @dash.callback registrations, handed to the app when it starts)
from dashboard.core.clock import Clock, SystemClock
from dashboard.core.settings import ASSETS_DIR, Settings, load_settings
from dashboard.core.viewstate import ViewState, ViewStateError, parse_query
from dashboard.service.factory import create_service
from dashboard.service.snapshots import SnapshotService
from dashboard.source.units import UnitDirectory
from dashboard.web.accounts import AuthStore, current_viewer
from dashboard.web.alerts import alerts_api
from dashboard.web.annotations import annotations_api
from dashboard.web.api import api
from dashboard.web.briefings import briefings_blueprint
from dashboard.web.context import SERVING_KEY, AppContext, install_context, start_briefings_in
from dashboard.web.downloads import downloads
from dashboard.web.errors import install_error_handlers
from dashboard.web.exports import export_blueprint
from dashboard.web.security import install_security
from dashboard.web.signin import install_auth, sign_out_token
from layouts.shell import register_pages, root_layout, validation_layout


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, service: SnapshotService | None = None
) -> dash.Dash:
    """Build the Dash app: pages, callbacks, API blueprint and the cached snapshot service."""
    # The version check calls plotly's servers; the command hall is offline.
    os.environ.setdefault("DASH_DISABLE_VERSION_CHECK", "true")
    settings = settings or load_settings()
    server = Flask("dashboard")
    app = dash.Dash(
        "dashboard",
        server=server,  # type: ignore[arg-type]  # Dash 4's stubs omit Flask, which it accepts
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS_DIR),
        title="萧山区一张网 · 态势感知",
        update_title="",  # no "Updating..." flicker in the tab title on every refresh
        serve_locally=True,
        compress=False,
    )
    clock = clock or SystemClock()
    if service is None:
        service = create_service(settings, clock=clock)
    # One pool on the source per process: the service's, also behind the units and the event list.
    install_context(
        server,
        AppContext(service, settings, clock, UnitDirectory(service.source_engine, durable=service.cache)),
    )

    server.register_blueprint(api)
    server.register_blueprint(alerts_api)
    server.register_blueprint(annotations_api)
    server.register_blueprint(downloads)
    server.register_blueprint(export_blueprint)
    server.register_blueprint(briefings_blueprint)

    install_auth(app, settings, _auth_store(settings, service))  # first: every later hook knows the viewer
    install_security(app, settings)
    install_error_handlers(server)

    register_pages(settings)
    app.layout = lambda: _root_layout(settings)
    app.validation_layout = validation_layout(settings)  # type: ignore[assignment]
    return app


def start_briefings(app: dash.Dash) -> Any:
    """Start the briefings' scheduler in this server process when briefings are defined (or
    ``DASHBOARD_BRIEFING_SCHEDULER=on``); None when it does not run. The servers call it (``make run``,
    ``make serve``), never :func:`create_app`: a test's app makes no briefing."""
    app.server.extensions[SERVING_KEY] = True
    return start_briefings_in(app.server)


def _auth_store(settings: Settings, service: SnapshotService) -> AuthStore | None:
    """Users and kiosk tokens live in the service's state store; none are needed without sign-in."""
    if settings.AUTH.strip().lower() == "none":
        return None
    return AuthStore(service.state.engine)


def _root_layout(settings: Settings) -> Any:
    """The root layout in the language and filters of the page being loaded.

    Dash fetches the layout with a separate request; the page's own URL is its Referer.
    """
    view = ViewState(lang=settings.LANG)
    viewer = current_viewer()
    if has_request_context() and request.referrer:
        parts = urlsplit(request.referrer)
        with suppress(ViewStateError):  # a bad link: the sync callback shows the error banner
            view = parse_query(parts.query, wall=parts.path.rstrip("/").endswith("/wall"))
        if "lang=" not in parts.query:
            view = replace(view, lang=settings.LANG)
    with suppress(ViewStateError):  # towns outside the viewer's: the sync callback says so
        view = viewer.scope.apply(view)
    token = sign_out_token() if viewer.kind == "user" else None  # the header's sign-out form
    return root_layout(settings, view, viewer, sign_out_token=token)
