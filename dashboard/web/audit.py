"""The audit log of the web server: who signed in, enrolled a screen, exported or downloaded what.

Lines go to the state store (:meth:`dashboard.service.state.StateStore.audit`) of the app's service. Sign-in
(:mod:`dashboard.web.signin`) and the request guard (:mod:`dashboard.web.security`) both write here.
"""

from __future__ import annotations

import datetime as dt
import logging

from dashboard.web.context import app_context, client, viewer_label

__all__ = ["audit", "client", "viewer_label"]

log = logging.getLogger(__name__)


def audit(action: str, actor: str, detail: str | None = None) -> None:
    """One line in the audit log; never costs the user the request if the log cannot be written."""
    try:
        store = app_context().service.state
        store.audit(dt.datetime.now(dt.UTC), actor[:128], action, (detail or "")[:2000])
    except Exception:
        log.exception("could not write the audit log (%s %s)", action, actor)
