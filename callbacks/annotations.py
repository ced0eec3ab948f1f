"""The 告警 page's notes on the timeline: the list of the view's window and the form to add or delete one.

The steps go through the same annotation book as the API (``POST /api/v1/annotations`` …), so the same
role and town checks apply (:func:`dashboard.core.scope.may_annotate`) and every step is audited. As on
the rest of the page, each writing callback checks the session's CSRF token that the alert list handed to
the page (``AL_CSRF``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate

from callbacks.filters import view_from_store
from callbacks.writing import start_writing
from dashboard.core.domain import town_by_code
from dashboard.core.i18n import t
from dashboard.core.periods import period_bounds
from dashboard.core.scope import may_annotate
from dashboard.core.viewstate import parse_instant
from dashboard.web.context import AnnotationNotFound, AnnotationRefused, app_context, viewer_label
from layouts import ids
from layouts.pages import note_when, notes_table

NOTES_BEFORE = dt.timedelta(days=91)  # as the trends show them: the period and the 90 days before now


@callback(
    Output(ids.NT_LIST, "children"),
    Output(ids.NT_FORM, "hidden"),
    Output(ids.NT_TOWNS, "options"),
    Output(ids.NT_TARGET, "options"),
    Input(ids.VIEW, "data"),
    Input(ids.NT_DONE, "data"),
)
def list_notes(query: str | None, _done: Any) -> tuple[Any, ...]:
    """The notes the view's trends show, and the form for the roles that may write one."""
    if query is None:
        raise PreventUpdate
    context = app_context()
    view = view_from_store(query)
    viewer, now = context.viewer(), context.now()
    period = period_bounds(view, now)
    moment = view.as_of or now
    start, end = min(period.start, moment - NOTES_BEFORE), max(period.end, moment)
    towns = frozenset(view.towns) or viewer.towns
    found = context.annotations.between(start, end, towns)
    notes = [n.to_dict() for n in found]
    names = town_by_code()
    mine = sorted(viewer.towns) if viewer.towns is not None else sorted(names)
    town_options = [
        {"label": names[c].name_en if view.lang == "en" else names[c].name_zh, "value": c}
        for c in mine
        if c in names
    ]
    deletable = [
        {"label": f"#{n.id} {n.text} · {note_when(n.to_dict(), view.lang)}", "value": str(n.id)}
        for n in found
        if may_annotate(viewer.role, viewer.towns, n.towns)
    ]
    return notes_table(notes, view.lang), not viewer.role.alerts, town_options, deletable


@callback(
    Output(ids.NT_MESSAGE, "children"),
    Output(ids.NT_DONE, "data"),
    Output(ids.NT_TEXT, "value"),
    Input(ids.NT_ADD, "n_clicks"),
    Input(ids.NT_DELETE, "n_clicks"),
    State(ids.NT_TEXT, "value"),
    State(ids.NT_START, "value"),
    State(ids.NT_END, "value"),
    State(ids.NT_TOWNS, "value"),
    State(ids.NT_TARGET, "value"),
    State(ids.AL_CSRF, "data"),
    State(ids.VIEW, "data"),
    State(ids.NT_DONE, "data"),
    prevent_initial_call=True,
)
def change_notes(
    _add: int | None,
    _delete: int | None,
    text: str | None,
    start: str | None,
    end: str | None,
    towns: list[str] | None,
    target: str | None,
    token: str | None,
    query: str | None,
    done: int | None,
) -> tuple[Any, Any, Any]:
    """Add the note of the form, or delete the chosen one: the same steps as the API's."""
    context, lang, refusal = start_writing(token, query)
    if refusal is not None:
        return refusal, no_update, no_update
    viewer, now, book = context.viewer(), context.now(), context.annotations
    try:
        if ctx.triggered_id == ids.NT_DELETE:
            if not target or not str(target).isdigit():
                return t("nt_pick", lang), no_update, no_update
            gone = book.delete(int(target), viewer, viewer_label(), now)
            return t("nt_deleted", lang, id=gone.id), (done or 0) + 1, no_update
        starts = parse_instant(start or "", param="starts_at")
        ends = parse_instant(end or "", param="ends_at") if (end or "").strip() else None
        made = book.add(text or "", starts, ends, frozenset(towns or ()), viewer, viewer_label(), now)
    except AnnotationRefused:
        return t("nt_refused", lang), no_update, no_update
    except AnnotationNotFound:
        return t("nt_not_found", lang), no_update, no_update
    except ValueError as exc:  # no text, a bad time, a period that ends before it starts
        return t("nt_bad", lang, why=str(exc)), no_update, no_update
    return t("nt_added", lang, id=made.id), (done or 0) + 1, ""
