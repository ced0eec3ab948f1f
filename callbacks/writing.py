"""The start every writing callback shares: a real click, the page's CSRF token, the page's language.

Dash's callback endpoint takes JSON only, which a cross-site form cannot send; besides, each writing
callback checks the session's CSRF token its page was handed by the page's list callback (as the API's
lists hand it out), so a script that replays a callback without having read the page does nothing.
"""

from __future__ import annotations

from typing import NamedTuple

from dash import ctx
from dash.exceptions import PreventUpdate

from callbacks.filters import view_from_store
from dashboard.core.i18n import t
from dashboard.web.context import AppContext, app_context


class Writing(NamedTuple):
    """A writing callback's start: the app, the page's language, and why it may not act (None: it may)."""

    context: AppContext
    lang: str
    refusal: str | None


def start_writing(token: str | None, query: str | None, *, admins_only: str | None = None) -> Writing:
    """The app and the page's language, and the message to show instead of acting when ``token`` is not
    the session's CSRF token or, with ``admins_only`` (the refusal's i18n key), the viewer is no admin.

    Raises PreventUpdate unless a button was really clicked (Dash also calls when a button is drawn)."""
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    context = app_context()
    lang = view_from_store(query).lang
    if not context.csrf_valid(token):
        return Writing(context, lang, t("al_csrf", lang))
    if admins_only is not None and not context.viewer().role.manage:
        return Writing(context, lang, t(admins_only, lang))
    return Writing(context, lang, None)
