"""The 简报 page: past briefings by kind and period with their PPTX and PDF downloads, the deliveries that
failed, the definitions the scheduler runs; admins define, change and delete them.

Everything listed is within the viewer's towns (a town user sees neither the district's briefings nor
another town's: :meth:`BriefingDef.visible_to`, ``list_archive``), and within the view's towns when the
filter bar names some. The downloads go through ``/briefings/<kind>/<period>/<file>``, which checks the
towns again. The writing callbacks check the session's CSRF token (handed to the page by the list
callback, as on the 告警 page) and the admin role; the definitions audit each change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dash import Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate
from flask import current_app

from callbacks.filters import view_from_store
from callbacks.writing import start_writing
from dashboard.briefings.archive import list_archive, scope_name
from dashboard.briefings.deliver import failed_deliveries
from dashboard.briefings.kinds import KINDS
from dashboard.core.i18n import t
from dashboard.core.scope import Viewer
from dashboard.core.viewstate import ViewState
from dashboard.web.context import app_context, start_briefings_in, viewer_label
from layouts import ids
from layouts.pages import archive_table, definitions_table, failed_table


def shown_towns(view: ViewState, viewer: Viewer) -> frozenset[str] | None:
    """The towns whose briefings are listed: the view's (already narrowed to the viewer's), else all of
    the viewer's (None: the whole district, its own briefings included)."""
    return frozenset(view.towns) if view.towns else viewer.towns


def _within(scope: str | None, towns: frozenset[str] | None) -> bool:
    if towns is None:
        return True
    return bool(scope) and scope != "district" and set(str(scope).split("+")) <= towns


def definitions(towns: frozenset[str] | None, lang: str) -> list[dict[str, Any]]:
    """The stored definitions within ``towns``, or the settings' default ones (id 0) when none is stored."""
    from dashboard.briefings.defined import jobs

    context = app_context()
    stored = context.briefing_defs.all()
    if stored:
        chosen = [d.to_dict() for d in stored if d.visible_to(towns)]
    else:
        chosen = [
            {"id": 0, "kind": j.kind, "towns": list(j.towns), "lang": j.lang, "updated_by": "", "updated_at": None,
             "mail_to": [], "webhooks": [c.target_name for c in j.channels if c.kind != "smtp"]}
            for j in jobs([], context.settings)
            if towns is None or (j.towns and set(j.towns) <= towns)
        ]  # fmt: skip
    for d in chosen:
        d["scope_name"] = scope_name(d["towns"], lang)
    order = list(KINDS)
    chosen.sort(key=lambda d: (order.index(d["kind"]), d["towns"] != [], d["id"]))
    return chosen


@callback(
    Output(ids.BR_SUMMARY, "children"),
    Output(ids.BR_ARCHIVE, "children"),
    Output(ids.BR_FAILED, "children"),
    Output(ids.BR_DEFS, "children"),
    Output(ids.BR_CSRF, "data"),
    Output(ids.BR_FORM, "hidden"),
    Output(ids.BR_DEF_ID, "options"),
    Output(ids.BR_DEF_HOOKS, "options"),
    Input(ids.VIEW, "data"),
    Input(ids.BR_KIND, "value"),
    Input(ids.BR_DONE, "data"),
)
def list_briefings(query: str | None, kind: str | None, _done: Any) -> tuple[Any, ...]:
    """The archive, the failures and the definitions within the viewer's towns; the form for admins."""
    context = app_context()
    view, viewer = view_from_store(query), context.viewer()
    lang, towns = view.lang, shown_towns(view, viewer)
    root = Path(context.settings.BRIEFINGS_DIR)
    chosen = kind if kind in KINDS else None
    order = list(KINDS)
    found = list_archive(root, towns=towns, kind=chosen)  # newest period first
    # By kind in the hall's order (日报, 周汇总, 月分析, 季评估), each newest period first.
    found.sort(key=lambda e: order.index(e.kind) if e.kind in order else len(order))
    entries = [e.__dict__ | {"scope_name": scope_name(e.towns, lang)} for e in found]
    failed = [
        f
        | {
            "scope_name": scope_name(
                () if f.get("scope") in (None, "district") else f["scope"].split("+"), lang
            )
        }
        for f in failed_deliveries(root)
        if _within(f.get("scope"), towns)
    ]
    defs = definitions(towns, lang)
    admin = viewer.role.manage
    counts = {k: sum(1 for e in entries if e["kind"] == k) for k in KINDS}
    kinds = ("，" if lang == "zh" else ", ").join(
        f"{KINDS[k].en if lang == 'en' else KINDS[k].zh} {n}" for k, n in counts.items() if n
    )
    summary = t("br_summary", lang, n=len(entries), kinds=kinds or "—")
    options = [
        {"label": f"#{d['id']} {KINDS[d['kind']].en if lang == 'en' else KINDS[d['kind']].zh} {d['scope_name']}",
         "value": str(d["id"])}
        for d in defs if d["id"]
    ]  # fmt: skip
    hooks = [{"label": name, "value": name} for name in context.webhook_names()]
    return (
        summary,
        archive_table(entries, lang),
        failed_table(failed, lang),
        definitions_table(defs, lang),
        context.csrf_token(),
        not admin,
        options if admin else [],
        hooks if admin else [],
    )


@callback(
    Output(ids.BR_DEF_KIND, "value"),
    Output(ids.BR_DEF_TOWNS, "value"),
    Output(ids.BR_DEF_LANG, "value"),
    Output(ids.BR_DEF_MAIL, "value"),
    Output(ids.BR_DEF_HOOKS, "value"),
    Input(ids.BR_DEF_ID, "value"),
    prevent_initial_call=True,
)
def fill_form(def_id: str | None) -> tuple[Any, ...]:
    """The chosen definition in the form (admins only see the chooser's options)."""
    if not def_id or not str(def_id).isdigit() or not app_context().viewer().role.manage:
        raise PreventUpdate
    found = app_context().briefing_defs.get(int(def_id))
    if found is None:
        raise PreventUpdate
    return found.kind, list(found.towns), found.lang, ", ".join(found.mail_to), list(found.webhooks)


@callback(
    Output(ids.BR_MESSAGE, "children"),
    Output(ids.BR_DONE, "data"),
    Output(ids.BR_DEF_ID, "value"),
    Input(ids.BR_SAVE, "n_clicks"),
    Input(ids.BR_DELETE, "n_clicks"),
    State(ids.BR_DEF_ID, "value"),
    State(ids.BR_DEF_KIND, "value"),
    State(ids.BR_DEF_TOWNS, "value"),
    State(ids.BR_DEF_LANG, "value"),
    State(ids.BR_DEF_MAIL, "value"),
    State(ids.BR_DEF_HOOKS, "value"),
    State(ids.BR_CSRF, "data"),
    State(ids.VIEW, "data"),
    State(ids.BR_DONE, "data"),
    prevent_initial_call=True,
)
def change_definition(
    _save: int | None,
    _delete: int | None,
    def_id: str | None,
    kind: str | None,
    towns: list[str] | None,
    lang: str | None,
    mail: str | None,
    hooks: list[str] | None,
    token: str | None,
    query: str | None,
    done: int | None,
) -> tuple[Any, Any, Any]:
    """Make, change or delete a definition (admins only, with the page's CSRF token; audited)."""
    context, page_lang, refusal = start_writing(token, query, admins_only="br_refused")
    if refusal is not None:
        return refusal, no_update, no_update
    book, actor, now = context.briefing_defs, viewer_label(), context.now()
    chosen = int(def_id) if def_id and str(def_id).isdigit() else None
    if ctx.triggered_id == ids.BR_DELETE:
        if chosen is None:
            return t("br_choose_first", page_lang), no_update, no_update
        if not book.delete(chosen, actor, now):
            return t("br_not_found", page_lang, id=chosen), no_update, no_update
        return t("br_deleted", page_lang, id=chosen), (done or 0) + 1, None
    fields: dict[str, Any] = {
        "kind": kind or "", "towns": towns or [], "lang": lang or "zh", "mail_to": mail or "",
        "webhooks": hooks or [], "known_webhooks": context.webhook_names(),
    }  # fmt: skip
    try:
        if chosen is None:
            made = book.add(actor=actor, now=now, **fields)
            start_briefings_in(current_app)  # the first definition: the scheduler starts without a restart
            return t("br_saved_new", page_lang, id=made.id), (done or 0) + 1, str(made.id)
        book.update(chosen, actor, now, **fields)
    except LookupError:
        return t("br_not_found", page_lang, id=chosen), no_update, no_update
    except ValueError as exc:
        return t("br_bad", page_lang, why=str(exc)), no_update, no_update
    return t("br_saved", page_lang, id=chosen), (done or 0) + 1, no_update
