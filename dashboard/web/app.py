"""The application factory: ``create_app(settings=None) -> Dash``.

Engines, caches and the snapshot service are made here, never at import time, and stored on the Flask
server's ``extensions`` so module-level callbacks reach them through :func:`get_service`.
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import replace
from typing import Any

import dash
from flask import Flask, current_app
from sqlalchemy import Engine

from dashboard.core.clock import Clock, SystemClock
from dashboard.core.settings import ASSETS_DIR, Settings, load_settings
from dashboard.source.units import UnitDirectory

SERVICE_KEY = "dashboard_service"
SETTINGS_KEY = "dashboard_settings"
UNITS_KEY = "dashboard_units"
SOURCE_KEY = "dashboard_source"
CLOCK_KEY = "dashboard_clock"


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, service: Any = None
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
        from dashboard.service.factory import create_service

        service = create_service(settings, clock=clock)
    server.extensions[SERVICE_KEY] = service
    server.extensions[SETTINGS_KEY] = settings
    source = service.source_engine  # one pool on the source per process: the service's
    server.extensions[SOURCE_KEY] = source
    server.extensions[CLOCK_KEY] = clock
    server.extensions[UNITS_KEY] = UnitDirectory(source)

    from dashboard.web.api import api
    from dashboard.web.downloads import downloads
    from dashboard.web.exports import export_blueprint

    server.register_blueprint(api)
    server.register_blueprint(downloads)
    server.register_blueprint(export_blueprint)

    from dashboard.web.security import install_security
    from dashboard.web.signin import install_auth

    install_auth(app, settings, _auth_store(settings, service))  # first: every later hook knows the viewer
    install_security(app, settings)

    from layouts.shell import register_pages, validation_layout

    register_pages(settings)
    app.layout = lambda: _root_layout(settings)
    app.validation_layout = validation_layout(settings)  # type: ignore[assignment]

    import callbacks  # noqa: F401  (module-level @dash.callback registrations)

    return app


def _auth_store(settings: Settings, service: Any) -> Any:
    """Users and kiosk tokens live in the service's state store; none are needed without sign-in."""
    if settings.AUTH.strip().lower() == "none":
        return None
    from dashboard.web.accounts import AuthStore

    state = getattr(service, "state", None)
    return AuthStore(state.engine) if state is not None else None


def get_auth_store() -> Any:
    """The users and kiosk tokens of the running app (None without sign-in)."""
    from dashboard.web.signin import AUTH_KEY

    gate = current_app.extensions.get(AUTH_KEY)
    return gate.store if gate is not None else None


def _root_layout(settings: Settings) -> Any:
    """The root layout in the language and filters of the page being loaded.

    Dash fetches the layout with a separate request; the page's own URL is its Referer.
    """
    from urllib.parse import urlsplit

    from flask import has_request_context, request

    from dashboard.core.viewstate import ViewState, ViewStateError, parse_query
    from dashboard.web.accounts import current_viewer
    from layouts.shell import root_layout

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
    return root_layout(settings, view, viewer)


def get_service() -> Any:
    """The snapshot service of the running app (for callbacks)."""
    return current_app.extensions[SERVICE_KEY]


def get_units() -> UnitDirectory:
    """Child units and map geometry (reference data, cached)."""
    return current_app.extensions[UNITS_KEY]  # type: ignore[no-any-return]


def get_source_engine() -> Engine:
    """The read-only source engine (event list, reference data)."""
    return current_app.extensions[SOURCE_KEY]  # type: ignore[no-any-return]


def get_clock() -> Clock:
    return current_app.extensions[CLOCK_KEY]  # type: ignore[no-any-return]


def get_settings() -> Settings:
    return current_app.extensions[SETTINGS_KEY]  # type: ignore[no-any-return]
