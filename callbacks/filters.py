"""URL ⇄ filters ⇄ view store, kept in sync in one callback so back/forward and shared URLs work."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate

from dashboard.core.i18n import SHANGHAI, fmt_datetime, t
from dashboard.core.viewstate import ViewState, ViewStateError, parse_query, to_params, to_query
from dashboard.web.context import SourceUnavailable, app_context
from layouts import ids
from layouts.render import scope_title
from layouts.shell import nav_href

FILTER_IDS = (
    ids.F_TOWN,
    ids.F_VILLAGE,
    ids.F_CATEGORY,
    ids.F_SOURCE,
    ids.F_DEPT,
    ids.F_PERIOD,
    ids.F_EASTERN,
)
RANGE_START, RANGE_END = "f-range-start", "f-range-end"  # keys of the date range's two values below


def is_wall(pathname: str | None) -> bool:
    return (pathname or "").rstrip("/").endswith("/wall")


def view_from_search(search: str | None, pathname: str | None = None) -> ViewState:
    """The view for a URL query string, narrowed to the viewer's towns.

    Raises ViewStateError on malformed input, and its ScopeError when the URL names towns outside
    the viewer's (a shared link from a colleague in another town): the error banner says so.
    """
    view = parse_query((search or "").lstrip("?"), wall=is_wall(pathname))
    return app_context().scope().apply(view)


def view_from_store(query: str | None) -> ViewState:
    """The view from the ``view`` store (always canonical, so this never fails on our own output).

    Parsed with the wall grammar, a superset, because the store also holds the wall's view.
    """
    try:
        view = parse_query(query or "", wall=True)
    except ViewStateError:
        view = ViewState()
    # A forged store value naming other towns raises ScopeError here: the callback answers 403.
    return app_context().scope().apply(view)


def _as_of_param(date: str | None, time: str | None) -> str | None:
    if not date:
        return None
    clock = (time or "").strip() or "23:59"
    return f"{date[:10]}T{clock}"


def view_from_filters(base: ViewState, values: dict[str, Any]) -> ViewState:
    """Apply the filter bar's values to ``base`` through the one parser (so the rules are the same)."""
    params = to_params(base)
    for name in (
        "town",
        "village",
        "category",
        "source",
        "dept",
        "period",
        "eastern",
        "from",
        "to",
        "as_of",
        "grid",
    ):
        params.pop(name, None)
    towns, village, period = values[ids.F_TOWN], values[ids.F_VILLAGE], values[ids.F_PERIOD]
    chosen = {
        "town": towns or [],
        "category": values[ids.F_CATEGORY] or [],
        "source": values[ids.F_SOURCE] or [],
        "dept": values[ids.F_DEPT] or [],
        "period": [period] if period else [],
        "eastern": [values[ids.F_EASTERN]] if values[ids.F_EASTERN] else [],
    }
    if village and towns and len(towns) == 1:
        chosen["village"] = [village]
        if base.grid and base.village == village:
            chosen["grid"] = [base.grid]  # keep a drill-down to a grid while the village stays
    if period == "custom":
        chosen["from"] = [values[RANGE_START]] if values[RANGE_START] else []
        chosen["to"] = [values[RANGE_END]] if values[RANGE_END] else []
    as_of = _as_of_param(values[ids.F_ASOF_DATE], values[ids.F_ASOF_TIME])
    if as_of:
        chosen["as_of"] = [as_of]
    params.update({k: [x[:10] if k in {"from", "to"} else x for x in v] for k, v in chosen.items() if v})
    return parse_query(params, now=app_context().now())


def filter_values(view: ViewState) -> list[Any]:
    """The filter bar's values for ``view``, in callback output order."""
    local = view.as_of.astimezone(SHANGHAI) if view.as_of else None
    return [
        list(view.towns),
        view.village,
        list(view.categories),
        list(view.sources),
        list(view.depts),
        view.period,
        view.eastern,
        view.date_from.isoformat() if view.date_from else None,
        view.date_to.isoformat() if view.date_to else None,
        local.date().isoformat() if local else None,
        local.strftime("%H:%M") if local else "",
    ]


FILTER_OUTPUTS = [Output(i, "value") for i in FILTER_IDS] + [
    Output(ids.F_RANGE, "start_date"),
    Output(ids.F_RANGE, "end_date"),
    Output(ids.F_ASOF_DATE, "date"),
    Output(ids.F_ASOF_TIME, "value"),
]
FILTER_INPUTS = [Input(i, "value") for i in FILTER_IDS] + [
    Input(ids.F_RANGE, "start_date"),
    Input(ids.F_RANGE, "end_date"),
    Input(ids.F_ASOF_DATE, "date"),
    Input(ids.F_ASOF_TIME, "value"),
]
FILTER_KEYS = (*FILTER_IDS, RANGE_START, RANGE_END, ids.F_ASOF_DATE, ids.F_ASOF_TIME)


@callback(
    Output(ids.URL, "search"),
    Output(ids.VIEW, "data"),
    Output(ids.VIEW_ERROR, "data"),
    *FILTER_OUTPUTS,
    Output(ids.F_VILLAGE, "options"),
    Input(ids.URL, "search"),
    Input(ids.URL, "pathname"),
    *FILTER_INPUTS,
    Input(ids.BACK_TO_LIVE, "n_clicks"),
    Input({"type": ids.PRESET_TYPE, "period": ALL}, "n_clicks"),
    State(ids.VIEW, "data"),
)
def sync_view(search: str | None, pathname: str | None, *args: Any) -> tuple[Any, ...]:
    """One place that turns the URL or a filter change into the canonical view (and the other way round).

    The village choices travel with the filter values: a dropdown drops a value missing from its
    options, so a village set from the URL (a shared link, the browser's back button) before its
    town's villages arrived in a second request was lost, and the view with it.
    """
    values = dict(zip(FILTER_KEYS, args[: len(FILTER_KEYS)], strict=True))
    current = view_from_store(args[-1])
    trigger = ctx.triggered_id
    keep = [no_update] * (len(FILTER_KEYS) + 1)
    clicked = bool(ctx.triggered and ctx.triggered[0].get("value"))
    # Until the view store holds a view, every call reads the URL, whatever fired it. Dash drops the
    # answer of a callback still on its way when the same callback is asked again: a control that
    # re-emits its value on mount, under load after the first (URL) request left, cancelled the view,
    # and the second request, seeing nothing new, left the store empty for good (a wall that never drew).
    unread = args[-1] is None
    if isinstance(trigger, dict) and not clicked and not unread:
        raise PreventUpdate  # preset buttons just rendered (n_clicks=0), nobody clicked
    if is_wall(pathname) and trigger not in (None, ids.URL) and not unread:
        raise PreventUpdate  # the wall has no filter bar: only its URL decides its view
    if trigger is None or trigger == ids.URL or unread:
        try:
            view = view_from_search(search, pathname)
        except ViewStateError as err:
            return (no_update, to_query(ViewState()), str(err), *keep)
        wall = is_wall(pathname)
        choices = no_update if wall else village_choices(view)
        return (no_update, to_query(view, wall=wall), None, *filter_values(view), choices)
    try:
        if trigger == ids.BACK_TO_LIVE:
            view = replace(current, as_of=None)
        elif isinstance(trigger, dict) and trigger.get("type") == ids.PRESET_TYPE:
            view = replace(current, period=trigger["period"], date_from=None, date_to=None)
        else:
            view = view_from_filters(current, values)
    except ViewStateError as err:
        return (no_update, no_update, str(err), *keep)
    choices = village_choices(view) if trigger == ids.F_TOWN else no_update
    query = to_query(view)
    if query == (args[-1] or ""):
        if choices is no_update:
            raise PreventUpdate  # a control re-emitted its value on mount: nothing changed, push no history
        return (no_update, no_update, None, *keep[:-1], choices)
    synced = filter_values(view) if trigger == ids.BACK_TO_LIVE or isinstance(trigger, dict) else keep[:-1]
    return ("?" + query if query else "", query, None, *synced, choices)


def village_choices(view: ViewState) -> Any:
    """The village dropdown's options: the villages of the view's one town (a village needs one town)."""
    towns = list(view.towns)
    context = app_context()
    allowed = context.scope().towns
    if len(towns) != 1 or (allowed is not None and towns[0] not in allowed):
        return []
    try:
        children = context.children(towns[0])
    except SourceUnavailable:
        return no_update  # source down: keep the options the browser has
    return [
        {"label": u["name_en"] if view.lang == "en" else u["name_zh"], "value": u["code"]} for u in children
    ]


@callback(
    Output(ids.ROOT, "className"),
    Output(ids.LANG_TOGGLE, "href"),
    Output(ids.APP_TITLE, "children"),
    *[Output(ids.nav_link(page), "href") for page in ids.NAV_PAGES],
    Input(ids.VIEW, "data"),
    Input(ids.URL, "pathname"),
)
def frame_for_view(query: str | None, pathname: str | None) -> tuple[str, ...]:
    """Wall or browser chrome, a language link and page links that keep the whole view, and a title
    that names the place shown."""
    view = view_from_store(query)
    other = replace(view, lang="en" if view.lang == "zh" else "zh")
    path = pathname or "/"
    return (
        "root mode-wall" if is_wall(pathname) else "root mode-browser",
        f"{path}?{to_query(other)}",
        scope_title("app_title", view, view.lang, unit=unit_name(view)),
        *[nav_href(page, view) for page in ids.NAV_PAGES],
    )


def unit_name(view: ViewState) -> str | None:
    """The name of the view's village or grid, from the cached unit lists the filters offer (the
    staff pages' title has no snapshot to take it from); None for a wider view, or when the source
    cannot say (the title names the town then)."""
    code = view.grid or view.village
    if not code:
        return None
    try:
        siblings = app_context().children(code[:12] if view.grid else code[:9])
    except SourceUnavailable:
        return None
    key = "name_en" if view.lang == "en" else "name_zh"
    return next((u[key] for u in siblings if u["code"] == code), None)


@callback(
    Output(ids.BANNER_ERROR, "children"),
    Output(ids.BANNER_ERROR, "hidden"),
    Input(ids.VIEW_ERROR, "data"),
    State(ids.VIEW, "data"),
)
def show_view_error(error: str | None, query: str | None) -> tuple[str, bool]:
    if not error:
        return "", True
    lang = view_from_store(query).lang
    prefix = (
        "链接参数有误，已显示默认视图：" if lang == "zh" else "Bad link parameter, showing the default view: "
    )
    return prefix + error, False


def replay_text(view: ViewState) -> str:
    """The replay banner's text: the moment an as-of view shows."""
    assert view.as_of is not None
    return t("replay_banner", view.lang, when=fmt_datetime(view.as_of, view.lang))
