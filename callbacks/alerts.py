"""The 告警 page: the alerts of the viewer's towns and their history; taking one on (认领) and closing
it with a note (处置); the towns' own thresholds (admins).

The steps go through the same alert book as the API (``POST /api/v1/alerts/<id>/ack`` …), so the same
role and town checks apply (:func:`dashboard.core.scope.may_act_on_alert`) and every step is audited.
Each writing callback checks the session's CSRF token, handed to the page by the list callback
(:mod:`callbacks.writing`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import Input, Output, State, callback, ctx, no_update

from callbacks.filters import view_from_store
from callbacks.writing import start_writing
from dashboard.core.domain import town_by_code
from dashboard.core.i18n import t
from dashboard.core.metrics import ALERT_PARAMS
from dashboard.core.periods import period_bounds
from dashboard.core.scope import Viewer, may_act_on_alert
from dashboard.core.viewstate import ViewState
from dashboard.web.context import AlertConflict, AlertNotFound, AlertRefused, app_context, viewer_label
from layouts import ids
from layouts.pages import (
    ALERT_STATES,
    alert_row,
    alert_summary,
    alert_table,
    push_failures,
    rules_table,
    target_options,
)


def _towns(view: ViewState, viewer: Viewer) -> frozenset[str] | None:
    """The towns whose alerts are listed: the view's (already narrowed to the viewer's), else all of the
    viewer's (None: the whole district)."""
    return frozenset(view.towns) if view.towns else viewer.towns


def listed(
    view: ViewState, viewer: Viewer, state: str, rule: str, now: dt.datetime
) -> tuple[list[dict[str, Any]], dt.datetime]:
    """The alerts the page lists (as the API shapes them) and since when closed ones are shown.

    Live: the open ones and those closed within the view's period; as of a past moment: those open then,
    in the state they had then."""
    since = period_bounds(view, now).start
    status = {"active": "open", "open": "open", "acked": "open", "closed": "closed"}.get(state, "")
    found = app_context().alert_book.alerts(
        now, towns=_towns(view, viewer), status=status, since=since, as_of=view.as_of
    )
    rows = []
    for alert in found:
        data = alert.to_dict(view.as_of)
        data["may_act"] = (
            view.as_of is None
            and alert.closed_at is None
            and may_act_on_alert(viewer.role, viewer.towns, alert.town_code)
        )
        if state in {"open", "acked", "closed"} and data["status"] != state:
            continue
        if rule not in {"", "all", None} and alert.kind != rule:
            continue
        rows.append(data)
    return rows, since


@callback(
    Output(ids.AL_TABLE, "children"),
    Output(ids.AL_SUMMARY, "children"),
    Output(ids.AL_TARGET, "options"),
    Output(ids.AL_CSRF, "data"),
    Output(ids.AL_ACTIONS, "hidden"),
    Output(ids.AL_RULES, "hidden"),
    Output(ids.AL_RULES_TABLE, "children"),
    Output(ids.AL_PUSH_FAILED, "children"),
    Output(ids.AL_PUSH_FAILED, "hidden"),
    Input(ids.VIEW, "data"),
    Input(ids.TICK, "n_intervals"),
    Input(ids.AL_STATE, "value"),
    Input(ids.AL_RULE, "value"),
    Input(ids.AL_DONE, "data"),
    Input(ids.AL_RULES_DONE, "data"),
)
def list_alerts(
    query: str | None, _tick: int | None, state: str | None, rule: str | None, _done: Any, _rules: Any
) -> tuple[Any, ...]:
    """The table, its summary, what the viewer may act on, and the thresholds (admins only)."""
    context = app_context()
    view = view_from_store(query)
    viewer = context.viewer()
    state = state if state in ALERT_STATES else "all"
    now = context.now()
    alerts, since = listed(view, viewer, state, rule or "all", now)
    shown_at = view.as_of or now
    rows = [alert_row(a, view.lang, shown_at) for a in alerts]
    admin = viewer.role.manage
    section: Any = rules_section(view.lang) if admin else None
    failed = failed_pushes(viewer, now)
    return (
        alert_table(rows, view.lang),
        alert_summary(rows, view.lang, view.as_of, since) if rows else t("al_none", view.lang),
        target_options(alerts, view.lang),
        context.csrf_token(),
        not viewer.role.alerts or view.as_of is not None,  # a past moment is read, not acted on
        not admin,
        section,
        push_failures(failed, view.lang) if failed else None,
        not failed,
    )


def failed_pushes(viewer: Viewer, now: dt.datetime) -> list[dict[str, Any]]:
    """The viewer's towns' alert messages that failed for good in the last day (none without a push)."""
    push = app_context().alert_book.push
    if push is None or not push.targets:
        return []
    return push.failed(now - dt.timedelta(hours=24), viewer.towns)


def rules_section(lang: str) -> Any:
    rules = app_context().alert_rules
    defaults = {name: float(getattr(rules.defaults, name)) for name in ALERT_PARAMS}
    own = [{"town": o.town_code, "param": o.param, "value": o.value} for o in rules.overrides()]
    return rules_table(defaults, own, lang)


@callback(
    Output(ids.AL_MESSAGE, "children"),
    Output(ids.AL_DONE, "data"),
    Output(ids.AL_NOTE, "value"),
    Input(ids.AL_ACK, "n_clicks"),
    Input(ids.AL_CLOSE, "n_clicks"),
    State(ids.AL_TARGET, "value"),
    State(ids.AL_NOTE, "value"),
    State(ids.AL_CSRF, "data"),
    State(ids.VIEW, "data"),
    State(ids.AL_DONE, "data"),
    prevent_initial_call=True,
)
def act_on_alert(
    _ack: int | None,
    _close: int | None,
    target: str | None,
    note: str | None,
    token: str | None,
    query: str | None,
    done: int | None,
) -> tuple[Any, Any, Any]:
    """Take the chosen alert on, or close it with the note: the same steps as the API's."""
    context, lang, refusal = start_writing(token, query)
    if refusal is not None:
        return refusal, no_update, no_update
    if not target or not str(target).isdigit():
        return t("al_choose_first", lang), no_update, no_update
    alert_id, viewer, now = int(target), context.viewer(), context.now()
    closing = ctx.triggered_id == ids.AL_CLOSE
    try:
        if closing:
            context.alert_book.close(alert_id, viewer, viewer_label(), note or "", now)
        else:
            context.alert_book.ack(alert_id, viewer, viewer_label(), now)
    except AlertRefused:
        return t("al_refused", lang), no_update, no_update
    except AlertNotFound:
        return t("al_not_found", lang), no_update, no_update
    except AlertConflict as exc:
        return t("al_conflict", lang, why=str(exc)), no_update, no_update
    except ValueError:  # an empty or too long note
        return t("al_need_note", lang), no_update, no_update
    message = t("al_done_close" if closing else "al_done_ack", lang, id=alert_id)
    return message, (done or 0) + 1, "" if closing else no_update


@callback(
    Output(ids.AL_RULE_MESSAGE, "children"),
    Output(ids.AL_RULES_DONE, "data"),
    Input(ids.AL_RULE_SET, "n_clicks"),
    Input(ids.AL_RULE_UNSET, "n_clicks"),
    State(ids.AL_RULE_TOWN, "value"),
    State(ids.AL_RULE_PARAM, "value"),
    State(ids.AL_RULE_VALUE, "value"),
    State(ids.AL_CSRF, "data"),
    State(ids.VIEW, "data"),
    State(ids.AL_RULES_DONE, "data"),
    prevent_initial_call=True,
)
def change_rule(
    _set: int | None,
    _unset: int | None,
    town: str | None,
    param: str | None,
    value: str | None,
    token: str | None,
    query: str | None,
    done: int | None,
) -> tuple[Any, Any]:
    """Set or clear a town's own threshold (admins only; audited by the rules)."""
    context, lang, refusal = start_writing(token, query, admins_only="al_rule_refused")
    if refusal is not None:
        return refusal, no_update
    if not town or not param:
        return t("al_rule_need", lang), no_update
    rules, actor, now = context.alert_rules, viewer_label(), context.now()
    try:
        if ctx.triggered_id == ids.AL_RULE_SET:
            made = rules.set(town, param, (value or "").strip(), actor, now)
            message = t("al_rule_set", lang, town=town_name(town, lang), param=param, value=f"{made.value:g}")
        elif rules.unset(town, param, actor, now):
            message = t("al_rule_unset", lang, town=town_name(town, lang), param=param)
        else:
            message = t("al_rule_had_none", lang, town=town_name(town, lang), param=param)
    except ValueError as exc:
        return t("al_bad_value", lang, why=str(exc)), no_update
    return message, (done or 0) + 1


def town_name(code: str, lang: str) -> str:
    found = town_by_code().get(code)
    return code if found is None else (found.name_en if lang == "en" else found.name_zh)
