"""Browser page layouts: skeletons with stable ids that the page callbacks fill from the snapshot.

:data:`PAGE_PANELS` says what fills each id (its kind and panel key), so the page callbacks need no
second list of ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, NamedTuple

from dash import dash_table, dcc, html

from dashboard.briefings.kinds import KINDS
from dashboard.core.domain import towns
from dashboard.core.eventlist import PAGE_SIZE
from dashboard.core.i18n import fmt_age, fmt_datetime, fmt_number, t, to_local
from dashboard.core.metrics import ALERT_PARAMS, ALERT_RULES
from layouts import ids
from layouts.components import graph, panel, town_options


class PagePanel(NamedTuple):
    """One panel of a browser page: its component id, what it shows and the key of what it shows.

    ``kind`` is kpis, chart, map, table, ticker, crumbs or title (a panel's title naming what it shows); ``key`` is a panel key of
    :mod:`dashboard.present.panels` (or a KPI set of layouts/render.py for ``kpis``).
    """

    id: str
    kind: str
    key: str

    @property
    def prop(self) -> str:
        """The component property the panel's callback sets: a graph's figure or a container's children."""
        return "figure" if self.kind in {"chart", "map"} else "children"


PAGE_PANELS: dict[str, list[PagePanel]] = {
    "overview": [
        PagePanel(ids.OV_KPIS, "kpis", "overview"),
        PagePanel(ids.OV_MAP, "map", "backlog_map"),
        PagePanel(ids.OV_TREND, "chart", "trend_90d"),
        PagePanel(ids.OV_CATEGORY, "chart", "by_category"),
        PagePanel(ids.OV_BACKLOG, "chart", "backlog_ageing"),
        PagePanel(ids.OV_TOWNS, "table", "town_ranking_short"),
        PagePanel(ids.title_of(ids.OV_TOWNS), "title", "town_ranking_short"),
        PagePanel(ids.OV_TICKER, "ticker", "ticker"),
    ],
    "backlog": [
        PagePanel(ids.BL_CRUMBS, "crumbs", "crumbs"),
        PagePanel(ids.BL_KPIS, "kpis", "backlog"),
        PagePanel(ids.BL_AGEING, "chart", "backlog_ageing"),
        PagePanel(ids.BL_MAP, "map", "backlog_map"),
        PagePanel(ids.BL_TOP, "table", "top_grids"),
        PagePanel(ids.BL_CASES, "table", "open_cases"),
    ],
    "patrol": [
        PagePanel(ids.PT_KPIS, "kpis", "patrol"),
        PagePanel(ids.PT_COVERAGE, "chart", "patrol_coverage"),
        PagePanel(ids.PT_MAP, "map", "patrol_map"),
        PagePanel(ids.PT_DUTY, "chart", "on_duty"),
        PagePanel(ids.PT_VIDEO, "table", "video_offline"),
    ],
    "trends": [
        PagePanel(ids.TR_MAIN, "chart", "trend_period"),
        PagePanel(ids.TR_CATEGORY, "chart", "by_category_bar"),
        PagePanel(ids.TR_SOURCE, "chart", "by_source"),
        PagePanel(ids.TR_DEPT, "chart", "by_dept"),
        PagePanel(ids.TR_ONTIME, "chart", "ontime_weekly"),
    ],
    "rankings": [
        PagePanel(ids.RK_TOWNS, "table", "town_ranking"),
        PagePanel(ids.title_of(ids.RK_TOWNS), "title", "town_ranking"),
        PagePanel(ids.RK_DEPTS, "table", "dept_ranking"),
    ],
}
# The store of each page's last drawn render key (a page redraws only when it changes).
PAGE_KEYS = {
    "overview": ids.OV_KEY,
    "backlog": ids.BL_KEY,
    "patrol": ids.PT_KEY,
    "trends": ids.TR_KEY,
    "rankings": ids.RK_KEY,
}


def _lang(query: dict[str, Any]) -> str:
    return "en" if query.get("lang") == "en" else "zh"


def overview(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.OV_KEY),
            html.Div(id=ids.OV_KPIS, className="kpi-grid"),
            html.Div(
                [
                    # The map is the stage (issue 17): two thirds of the page's width, first below the
                    # figures, beside the ranking it colours; a click on a unit drills down.
                    panel(t("per_1000", lang), graph(ids.OV_MAP, height="520px"), extra_class="span-2"),
                    panel(
                        t("town_ranking", lang),
                        html.Div(id=ids.OV_TOWNS),
                        title_id=ids.title_of(ids.OV_TOWNS),
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    panel(t("trends", lang), graph(ids.OV_TREND, height="300px"), extra_class="span-2"),
                    panel(t("by_category", lang), graph(ids.OV_CATEGORY, height="300px")),
                ],
                className="row",
            ),
            panel(t("ageing", lang), graph(ids.OV_BACKLOG, height="420px")),
            panel(t("ticker", lang), html.Div(id=ids.OV_TICKER, className="ticker-list")),
        ],
        className="page page-overview",
    )


def backlog(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.BL_KEY),
            html.Nav(id=ids.BL_CRUMBS, className="crumbs"),
            html.Div(id=ids.BL_KPIS, className="kpi-grid kpi-grid-short"),
            html.Div(
                [
                    # Up to 30 units, each named at a readable size (figures.every_label): 640 px.
                    panel(t("ageing", lang), graph(ids.BL_AGEING, height="640px"), extra_class="span-2"),
                    panel(t("per_1000", lang), graph(ids.BL_MAP, height="640px")),
                ],
                className="row",
            ),
            panel(t("top_overdue_grids", lang), html.Div(id=ids.BL_TOP)),
            html.Div(id=ids.BL_CASES),
        ],
        className="page page-backlog",
    )


def patrol(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.PT_KEY),
            html.Div(id=ids.PT_KPIS, className="kpi-grid"),
            html.Div(
                [
                    panel(t("coverage_by_town", lang), graph(ids.PT_COVERAGE, height="520px")),
                    panel(
                        t("hours_since_patrol", lang), graph(ids.PT_MAP, height="520px"), extra_class="span-2"
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    panel(t("on_duty", lang), graph(ids.PT_DUTY, height="300px")),
                    panel(t("video_offline", lang), html.Div(id=ids.PT_VIDEO), extra_class="span-2"),
                ],
                className="row",
            ),
        ],
        className="page page-patrol",
    )


PRESETS = (
    ("week", "周汇总", "Weekly summary"),
    ("month", "月分析", "Monthly analysis"),
    ("quarter", "季评估", "Quarterly review"),
)


def trends(lang: str) -> html.Div:
    buttons = [
        html.Button(
            en if lang == "en" else zh,
            id={"type": ids.PRESET_TYPE, "period": period},
            className="btn btn-light",
            n_clicks=0,
        )
        for period, zh, en in PRESETS
    ]
    return html.Div(
        [
            dcc.Store(id=ids.TR_KEY),
            html.Div(buttons, className="presets"),
            panel(t("trends", lang), graph(ids.TR_MAIN, height="340px")),
            html.Div(
                [
                    panel(t("by_category", lang), graph(ids.TR_CATEGORY, height="380px")),
                    panel(t("by_source", lang), graph(ids.TR_SOURCE, height="380px")),
                    panel(t("by_dept", lang), graph(ids.TR_DEPT, height="380px")),
                ],
                className="row row-3",
            ),
            panel(
                "按期办结率（周）" if lang == "zh" else "On-time close rate (weekly)",
                graph(ids.TR_ONTIME, height="280px"),
            ),
        ],
        className="page page-trends",
    )


def rankings(lang: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.RK_KEY),
            html.Div(
                [
                    panel(
                        t("town_ranking", lang),
                        html.Div(id=ids.RK_TOWNS),
                        title_id=ids.title_of(ids.RK_TOWNS),
                    ),
                    panel(t("dept_ranking", lang), html.Div(id=ids.RK_DEPTS)),
                ],
                className="row row-2",
            ),
        ],
        className="page page-rankings",
    )


def events(lang: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Span(id=ids.EV_SUMMARY, className="muted"),
                    html.A("CSV", id=ids.EV_CSV, className="btn", href="/download/events.csv"),
                ],
                className="toolbar",
            ),
            dash_table.DataTable(  # type: ignore[attr-defined]  # deprecated in Dash 4, still shipped
                id=ids.EV_TABLE,
                columns=[],
                data=[],
                page_action="custom",
                page_current=0,
                page_size=PAGE_SIZE,
                sort_action="custom",
                sort_mode="single",
                sort_by=[],
                style_table={"overflowX": "auto"},
                style_cell={
                    "fontFamily": "inherit",
                    "fontSize": "13px",
                    "padding": "6px",
                    "textAlign": "left",
                },
                style_header={"fontWeight": "600", "backgroundColor": "#f1f4f8"},
            ),
            dcc.Store(id=ids.EV_CURSOR, data={}),
        ],
        className="page page-events",
    )


# --- the 告警 page ---------------------------------------------------------------------------------------

ALERT_STATES = ("all", "active", "open", "acked", "closed")  # the state filter; "active": open or taken on
ALERT_COLUMNS = (
    "al_id",
    "al_state",
    "al_rule",
    "al_text",
    "al_opened",
    "al_since",
    "al_count",
    "al_peak",
    "al_taken_by",
    "al_closed_at",
    "al_note",
)


def _choice(lang: str, key: str, component_id: str, options: list[dict[str, str]], value: str) -> html.Label:
    return html.Label(
        [
            html.Span(t(key, lang), className="field-label"),
            dcc.Dropdown(id=component_id, options=options, value=value, clearable=False, searchable=False),
        ],
        className="field",
    )


def _text_box(
    component_id: str, lang: str, hint: str, class_name: str, max_length: int | None = None
) -> dcc.Input:
    """A form's one-line text box, empty, with its hint."""
    props: dict[str, Any] = {"id": component_id, "type": "text", "value": "", "className": class_name}
    if max_length is not None:  # unset otherwise: no limit in the page
        props["maxLength"] = max_length
    return dcc.Input(placeholder=t(hint, lang), **props)


def _form_buttons(lang: str, do: tuple[str, str], undo: tuple[str, str], message_id: str) -> list[Any]:
    """A form's two steps, ``(text key, id)`` each (the second in the lighter style), and the line
    where the callback says what happened."""
    return [
        html.Button(t(do[0], lang), id=do[1], className="btn", n_clicks=0),
        html.Button(t(undo[0], lang), id=undo[1], className="btn btn-light", n_clicks=0),
        html.Span(id=message_id, className="al-message", role="status"),
    ]


def push_failures(items: list[dict[str, Any]], lang: str) -> list[Any]:
    """The short list of alert messages that failed for good: which alert, which channel, why."""
    shown = [
        html.Li(
            t(
                "al_push_item",
                lang,
                id=item["alert_id"],
                alert=item["alert_en"] if lang == "en" else item["alert"],
                channel=item["channel"],
                attempts=item["attempts"],
                error=item["error"] or "?",
                at=_short_time(item["at"]),
            )
        )
        for item in items[:10]
    ]
    return [
        html.H3(t("al_push_failed", lang), className="panel-title"),
        html.Ul(shown, className="al-push-list"),
    ]


def _short_time(iso: str | None) -> str:
    return to_local(dt.datetime.fromisoformat(iso)).strftime("%m-%d %H:%M") if iso else "?"


def alerts(lang: str) -> html.Div:
    """The 告警 page: the alerts of the viewer's towns with their history, the take-on and close panel
    (roles that may act) and the thresholds section (admins). The callbacks fill and show them."""
    states = [{"label": t(f"al_{s}", lang), "value": s} for s in ALERT_STATES]
    rules = [{"label": t("al_all", lang), "value": "all"}] + [
        {"label": r.en if lang == "en" else r.zh, "value": r.kind} for r in ALERT_RULES.values()
    ]
    return html.Div(
        [
            dcc.Store(id=ids.AL_CSRF),
            dcc.Store(id=ids.AL_DONE, data=0),
            dcc.Store(id=ids.AL_RULES_DONE, data=0),
            html.Div(
                [
                    _choice(lang, "al_state", ids.AL_STATE, states, "all"),
                    _choice(lang, "al_rule", ids.AL_RULE, rules, "all"),
                    html.Span(id=ids.AL_SUMMARY, className="muted al-summary"),
                ],
                className="toolbar al-toolbar",
            ),
            html.Section(html.Div(id=ids.AL_TABLE, className="al-table-wrap"), className="panel al-list"),
            html.Section(id=ids.AL_PUSH_FAILED, className="panel al-push-failed", hidden=True),
            html.Section(
                [
                    html.H3(t("al_act_title", lang), className="panel-title"),
                    html.Div(
                        [
                            dcc.Dropdown(
                                id=ids.AL_TARGET,
                                options=[],
                                placeholder=t("al_pick", lang),
                                className="al-target",
                            ),
                            dcc.Textarea(
                                id=ids.AL_NOTE,
                                value="",
                                placeholder=t("al_note_hint", lang),
                                maxLength=2000,
                                className="al-note",
                            ),
                            html.Div(
                                _form_buttons(
                                    lang,
                                    ("al_ack_button", ids.AL_ACK),
                                    ("al_close_button", ids.AL_CLOSE),
                                    ids.AL_MESSAGE,
                                ),
                                className="toolbar",
                            ),
                        ],
                        className="al-act",
                    ),
                ],
                id=ids.AL_ACTIONS,
                className="panel",
                hidden=True,
            ),
            notes_section(lang),
            html.Section(
                [
                    html.H3(t("al_rules_title", lang), className="panel-title"),
                    html.P(t("al_rules_intro", lang), className="muted"),
                    html.Div(id=ids.AL_RULES_TABLE),
                    html.Div(
                        [
                            dcc.Dropdown(
                                id=ids.AL_RULE_TOWN,
                                options=town_options(lang),
                                placeholder=t("town", lang),
                                className="al-rule-town",
                            ),
                            dcc.Dropdown(
                                id=ids.AL_RULE_PARAM,
                                options=[{"label": param_label(p, lang), "value": p} for p in ALERT_PARAMS],
                                placeholder=t("al_param", lang),
                                className="al-rule-param",
                            ),
                            _text_box(ids.AL_RULE_VALUE, lang, "al_value", "al-rule-value"),
                            *_form_buttons(
                                lang,
                                ("al_set_button", ids.AL_RULE_SET),
                                ("al_unset_button", ids.AL_RULE_UNSET),
                                ids.AL_RULE_MESSAGE,
                            ),
                        ],
                        className="toolbar al-rule-form",
                    ),
                ],
                id=ids.AL_RULES,
                className="panel",
                hidden=True,
            ),
        ],
        className="page page-alerts",
    )


def notes_section(lang: str) -> html.Section:
    """The notes on the timeline of the view's window: a list for everyone, the form for staff (shown
    by the callback to the roles that may write one)."""
    box = "nt-input"
    return html.Section(
        [
            dcc.Store(id=ids.NT_DONE, data=0),
            html.H3(t("nt_title", lang), className="panel-title"),
            html.P(t("nt_intro", lang), className="muted"),
            html.Div(id=ids.NT_LIST),
            html.Div(
                [
                    html.Div(
                        [
                            _text_box(ids.NT_TEXT, lang, "nt_text_hint", f"{box} nt-text", max_length=200),
                            _text_box(ids.NT_START, lang, "nt_start_hint", box),
                            _text_box(ids.NT_END, lang, "nt_end_hint", box),
                            dcc.Dropdown(
                                id=ids.NT_TOWNS,
                                options=[],
                                multi=True,
                                placeholder=t("nt_towns_hint", lang),
                                className="nt-towns",
                            ),
                            html.Button(t("nt_add", lang), id=ids.NT_ADD, className="btn", n_clicks=0),
                        ],
                        className="toolbar nt-form-row",
                    ),
                    html.Div(
                        [
                            dcc.Dropdown(
                                id=ids.NT_TARGET,
                                options=[],
                                placeholder=t("nt_pick", lang),
                                className="nt-target",
                            ),
                            html.Button(
                                t("nt_delete", lang), id=ids.NT_DELETE, className="btn btn-light", n_clicks=0
                            ),
                            html.Span(id=ids.NT_MESSAGE, className="al-message", role="status"),
                        ],
                        className="toolbar nt-form-row",
                    ),
                ],
                id=ids.NT_FORM,
                hidden=True,
            ),
        ],
        id=ids.NT_SECTION,
        className="panel",
    )


def notes_table(notes: list[dict[str, Any]], lang: str) -> html.Table | html.Div:
    """The notes as a plain table: when (local), the note, its scope, who wrote it."""
    if not notes:
        return html.Div(t("nt_none", lang), className="empty")
    names = {tw.code: (tw.name_en if lang == "en" else tw.name_zh) for tw in towns()}
    head = html.Thead(html.Tr([html.Th(t(k, lang)) for k in ("nt_when", "nt_text", "nt_scope", "nt_by")]))
    body = []
    for note in notes:
        scope = "、".join(names.get(c, c) for c in note["towns"]) or t("nt_district", lang)
        body.append(
            html.Tr(
                [
                    html.Td(note_when(note, lang), className="nt_when"),
                    html.Td(note["text"], className="nt_text"),
                    html.Td(scope),
                    html.Td(note.get("updated_by") or note["created_by"]),
                ],
                id=f"nt-row-{note['id']}",
            )
        )
    return html.Table([head, html.Tbody(body)], className="table nt-table")


def note_when(note: dict[str, Any], lang: str) -> str:
    start = fmt_datetime(note["starts_at"], lang)
    return start if not note.get("ends_at") else f"{start} — {fmt_datetime(note['ends_at'], lang)}"


NUMERIC_COLUMNS = frozenset({"al_count", "al_peak"})


def alert_table(rows: list[dict[str, Any]], lang: str) -> html.Table | html.Div:
    """The alerts as a plain table (rows of :func:`alert_row`); each row names its id and state."""
    if not rows:
        return html.Div(t("al_none", lang), className="empty")
    head = html.Tr(
        [html.Th(t(k, lang), className="num" if k in NUMERIC_COLUMNS else "") for k in ALERT_COLUMNS]
    )
    colon = ": " if lang == "en" else "："
    # In each cell: a phone shows each row as a card, its cells labelled (assets/10-base.css).
    labels: dict[str, dict[str, Any]] = {k: {"data-label": t(k, lang) + colon} for k in ALERT_COLUMNS}
    body = [
        html.Tr(
            [
                html.Td(
                    row[k],
                    className=f"{k}{' num' if k in NUMERIC_COLUMNS else ''}",
                    **labels[k],
                )
                for k in ALERT_COLUMNS
            ],
            className=f"al-row al-{row['status']}",
            **{"data-id": str(row["id"]), "data-status": row["status"]},
        )
        for row in rows
    ]
    return html.Table([html.Thead(head), html.Tbody(body)], className="table al-table")


def param_label(name: str, lang: str) -> str:
    """A threshold parameter as the page names it: its rule and its own name."""
    param = ALERT_PARAMS[name]
    rule = ALERT_RULES[param.rule]
    return f"{rule.en}: {param.en}" if lang == "en" else f"{rule.zh}·{param.zh}"


def _when(value: str | None, lang: str) -> str:
    if not value:
        return ""
    local = to_local(dt.datetime.fromisoformat(value))
    return f"{local:%m-%d %H:%M}"


def alert_row(alert: dict[str, Any], lang: str, now: dt.datetime) -> dict[str, Any]:
    """One row of the page's table from an alert of the API's shape (``Alert.to_dict`` at the moment shown)."""
    status = alert["status"]
    ended = dt.datetime.fromisoformat(alert["closed_at"]) if status == "closed" else now
    opened = dt.datetime.fromisoformat(alert["opened_at"])
    rule = ALERT_RULES.get(alert["kind"])
    taken = f"{alert['acked_by']} {_when(alert['acked_at'], lang)}" if alert.get("acked_at") else ""
    closed = f"{alert['closed_by']} {_when(alert['closed_at'], lang)}" if status == "closed" else ""
    return {
        "id": alert["id"],
        "status": status,
        "al_id": f"#{alert['id']}",
        "al_state": t(f"al_{status}", lang),
        "al_rule": (rule.en if lang == "en" else rule.zh) if rule else alert["kind"],
        "al_text": alert["text_en"] if lang == "en" else alert["text_zh"],
        "al_opened": _when(alert["opened_at"], lang),
        "al_since": fmt_age(max((ended - opened).total_seconds(), 0), lang),
        "al_count": fmt_number(alert["count"]),
        "al_peak": fmt_number(alert["peak"]),
        "al_taken_by": taken,
        "al_closed_at": closed,
        "al_note": alert.get("note") or "",
    }


def alert_summary(
    rows: list[dict[str, Any]], lang: str, as_of: dt.datetime | None, since: dt.datetime
) -> str:
    """The line above the table: how many in each state, and from when the history is shown."""
    if as_of is not None:
        return t("al_summary_asof", lang, n=len(rows), when=fmt_datetime(as_of, lang))
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("open", "acked", "closed")}
    line = t("al_summary", lang, n=len(rows), **counts)
    history = t("al_history_from", lang, when=fmt_datetime(since, lang))
    return f"{line}（{history}）" if lang == "zh" else f"{line} ({history})"


def target_options(alerts: list[dict[str, Any]], lang: str) -> list[dict[str, str]]:
    """The alerts the viewer may take on or close, for the action panel's chooser."""
    return [
        {"label": f"#{a['id']} {a['text_en'] if lang == 'en' else a['text_zh']}", "value": str(a["id"])}
        for a in alerts
        if a.get("may_act")
    ]


def rules_table(defaults: dict[str, float], own: list[dict[str, Any]], lang: str) -> html.Table:
    """Each parameter: its district default and the towns with their own value."""
    names = {tw.code: (tw.name_en if lang == "en" else tw.name_zh) for tw in towns()}
    body = []
    for name in ALERT_PARAMS:
        theirs = [f"{names.get(o['town'], o['town'])} {o['value']:g}" for o in own if o["param"] == name]
        body.append(
            html.Tr(
                [
                    html.Td(param_label(name, lang)),
                    html.Td(f"{defaults[name]:g}", className="num"),
                    html.Td(("，" if lang == "zh" else ", ").join(theirs) or "—"),
                ]
            )
        )
    head = html.Tr([html.Th(t(k, lang)) for k in ("al_param", "al_default", "al_town_values")])
    return html.Table([html.Thead(head), html.Tbody(body)], className="table al-rules")


# --- the 简报 page ---------------------------------------------------------------------------------------


def briefings(lang: str) -> html.Div:
    """The 简报 page: past briefings by kind and period with their downloads, failed deliveries, the
    definitions the viewer may see, and for admins the form that defines them. The callbacks fill them."""
    kinds = [{"label": t("br_all", lang), "value": "all"}] + [
        {"label": k.en if lang == "en" else k.zh, "value": k.key} for k in KINDS.values()
    ]
    return html.Div(
        [
            dcc.Store(id=ids.BR_CSRF),
            dcc.Store(id=ids.BR_DONE, data=0),
            html.Div(
                [
                    _choice(lang, "br_kind", ids.BR_KIND, kinds, "all"),
                    html.Span(id=ids.BR_SUMMARY, className="muted al-summary"),
                ],
                className="toolbar al-toolbar",
            ),
            html.Section(
                [
                    html.H3(t("br_archive_title", lang), className="panel-title"),
                    html.Div(id=ids.BR_ARCHIVE, className="al-table-wrap"),
                ],
                className="panel",
            ),
            html.Section(
                [html.H3(t("br_failed_title", lang), className="panel-title"), html.Div(id=ids.BR_FAILED)],
                className="panel",
            ),
            html.Section(
                [
                    html.H3(t("br_defs_title", lang), className="panel-title"),
                    html.P(t("br_defs_intro", lang), className="muted"),
                    html.Div(id=ids.BR_DEFS, className="al-table-wrap"),
                ],
                className="panel",
            ),
            html.Section(_definition_form(lang), id=ids.BR_FORM, className="panel", hidden=True),
        ],
        className="page page-briefings",
    )


def _definition_form(lang: str) -> list[Any]:
    kinds = [{"label": k.en if lang == "en" else k.zh, "value": k.key} for k in KINDS.values()]
    langs = [{"label": "中文", "value": "zh"}, {"label": "English", "value": "en"}]
    return [
        html.H3(t("br_form_title", lang), className="panel-title"),
        html.P(t("br_form_intro", lang), className="muted"),
        html.Div(
            [
                dcc.Dropdown(
                    id=ids.BR_DEF_ID, options=[], placeholder=t("br_def_new", lang), className="br-def-id"
                ),
                dcc.Dropdown(
                    id=ids.BR_DEF_KIND, options=kinds, value="week", clearable=False, className="br-def-kind"
                ),
                dcc.Dropdown(
                    id=ids.BR_DEF_TOWNS,
                    options=town_options(lang),
                    value=[],
                    multi=True,
                    placeholder=t("br_def_towns", lang),
                    className="br-def-towns",
                ),
                dcc.Dropdown(
                    id=ids.BR_DEF_LANG, options=langs, value=lang, clearable=False, className="br-def-lang"
                ),
            ],
            className="toolbar br-form-row",
        ),
        html.Div(
            [
                _text_box(ids.BR_DEF_MAIL, lang, "br_def_mail", "br-def-mail", max_length=2000),
                dcc.Dropdown(
                    id=ids.BR_DEF_HOOKS,
                    options=[],
                    value=[],
                    multi=True,
                    placeholder=t("br_def_hooks", lang),
                    className="br-def-hooks",
                ),
                *_form_buttons(lang, ("br_save", ids.BR_SAVE), ("br_delete", ids.BR_DELETE), ids.BR_MESSAGE),
            ],
            className="toolbar br-form-row",
        ),
    ]


def _cells(row: dict[str, Any], keys: tuple[str, ...], lang: str) -> list[html.Td]:
    colon = ": " if lang == "en" else "："
    # data-label: a phone shows each row as a card, its cells labelled (assets/10-base.css).
    labels: dict[str, dict[str, Any]] = {k: {"data-label": t(k, lang) + colon} for k in keys}
    return [html.Td(row[k], className=k, **labels[k]) for k in keys]


def _table(rows: list[dict[str, Any]], keys: tuple[str, ...], lang: str, empty: str, name: str) -> Any:
    if not rows:
        return html.Div(t(empty, lang), className="empty")
    head = html.Tr([html.Th(t(k, lang)) for k in keys])
    body = [html.Tr(_cells(r, keys, lang)) for r in rows]
    return html.Table([html.Thead(head), html.Tbody(body)], className=f"table al-table {name}")


ARCHIVE_COLUMNS = ("br_kind", "br_period", "br_scope", "br_lang", "br_title", "br_made", "br_files")
FAILED_COLUMNS = ("br_title", "br_scope", "br_channel", "br_error", "br_at")
DEF_COLUMNS = ("br_kind", "br_scope", "br_lang", "br_recipients", "br_changed")


def archive_table(entries: list[dict[str, Any]], lang: str) -> Any:
    """Past briefings (``Archived`` as dicts with ``scope_name``): each with its PPTX and PDF links (the
    download route, which checks the viewer's towns again)."""
    rows = []
    for e in entries:
        links = [
            html.A(name.rsplit(".", 1)[1].upper(), href=f"/briefings/{e['kind']}/{e['period']}/{name}",
                   className="br-file", download=name)
            for name in e["files"]
        ]  # fmt: skip
        kind = KINDS[e["kind"]]
        rows.append(
            {
                "br_kind": kind.en if lang == "en" else kind.zh,
                "br_period": e["period"],
                "br_scope": e["scope_name"],
                "br_lang": "中文" if e["lang"] == "zh" else "English",
                "br_title": e["title"],
                "br_made": _when(e["made_at"], lang),
                "br_files": html.Span(links, className="br-files"),
            }
        )
    return _table(rows, ARCHIVE_COLUMNS, lang, "br_none", "br-archive")


def failed_table(failed: list[dict[str, Any]], lang: str) -> Any:
    rows = [
        {
            "br_title": f.get("title") or "",
            "br_scope": f.get("scope_name") or "",
            "br_channel": f.get("channel") or "",
            "br_error": f.get("error") or "",
            "br_at": _when(f.get("at"), lang),
        }
        for f in failed
    ]
    if not rows:
        return html.Div(t("br_failed_none", lang), className="empty br-ok")
    return _table(rows, FAILED_COLUMNS, lang, "br_failed_none", "br-failed")


def definitions_table(defs: list[dict[str, Any]], lang: str) -> Any:
    """The definitions (``BriefingDef.to_dict`` with ``scope_name``); id 0 is the settings' default."""
    rows = []
    for d in defs:
        kind = KINDS[d["kind"]]
        name = kind.en if lang == "en" else kind.zh
        to = [*d["mail_to"], *(f"webhook:{w}" for w in d["webhooks"])]
        changed = (
            f"{d['updated_by']} {_when(d['updated_at'], lang)}" if d["id"] else t("br_defs_default", lang)
        )
        rows.append(
            {
                "br_kind": f"#{d['id']} {name}" if d["id"] else name,
                "br_scope": d["scope_name"],
                "br_lang": "中文" if d["lang"] == "zh" else "English",
                "br_recipients": ", ".join(to) or t("br_no_recipient", lang),
                "br_changed": changed,
            }
        )
    return _table(rows, DEF_COLUMNS, lang, "br_defs_none", "br-defs")


BUILDERS: dict[str, Callable[[str], html.Div]] = {
    "overview": overview,
    "backlog": backlog,
    "patrol": patrol,
    "trends": trends,
    "rankings": rankings,
    "events": events,
    "alerts": alerts,
    "briefings": briefings,
}


def not_found_layout(**query: Any) -> html.Div:
    """Dash pages' 404 (a module named ``not_found_404``): in the page's language and theme, with the way
    back to the overview (Dash's own is an English "404 - Page not found" heading on a bare page)."""
    lang = _lang(query)
    home = "/?lang=en" if lang == "en" else "/"
    return html.Div(
        html.Div(
            [
                html.H2(t("not_found", lang), className="not-found-title"),
                html.P(t("not_found_body", lang)),
                dcc.Link(t("back_to_overview", lang), href=home, className="btn"),
            ],
            className="panel not-found",
        ),
        className="page",
    )


def page_layout_factory(name: str) -> Callable[..., html.Div]:
    """A Dash pages layout function for page ``name`` (query params arrive as keyword arguments)."""

    def layout(**query: Any) -> html.Div:
        return BUILDERS[name](_lang(query))

    layout.__name__ = f"{name}_layout"
    return layout
