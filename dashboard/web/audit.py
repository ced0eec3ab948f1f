"""The audit log of the web server: who signed in, enrolled a screen, exported or downloaded what.

Lines go to the state store (:meth:`dashboard.service.state.StateStore.audit`) of the app's service. Sign-in
(:mod:`dashboard.web.signin`) and the request guard (:mod:`dashboard.web.security`) both write here.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import g, request

from dashboard.web.context import app_context

log = logging.getLogger(__name__)


def client() -> str:
    """The client address of the current request (the direct peer)."""
    return request.remote_addr or "?"


def viewer_label() -> str:
    """The audit actor for this request: the user, the kiosk, or the client address."""
    viewer = g.get("dashboard_viewer")
    if viewer is None or viewer.kind == "local":
        return client()
    return f"{viewer.label()}@{client()}"


def audit(action: str, actor: str, detail: str | None = None) -> None:
    """One line in the audit log; never costs the user the request if the log cannot be written."""
    try:
        store = app_context().service.state
        store.audit(dt.datetime.now(dt.UTC), actor[:128], action, (detail or "")[:2000])
    except Exception:
        log.exception("could not write the audit log (%s %s)", action, actor)
