"""Each source stream's freshness on every screen: a late stream in amber, a stopped one in red.

Separate from the board callbacks on purpose: the board is redrawn only when the data changes, and a
stopped feed is exactly when the data stops changing. This callback asks on every tick (the service
reads the source at most once per half refresh for all screens) and changes only a line of text.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, callback
from dash.exceptions import PreventUpdate

from callbacks.filters import view_from_store
from dashboard.core.freshness import LATE, LIVE, STOPPED, StreamState, freshness_lines, worst
from dashboard.core.i18n import t
from dashboard.core.scope import Unauthorized
from dashboard.web.context import app_context
from layouts import ids

# Alerts are judged from the reports and their handling: when either stream is not live they describe
# the moment it stopped, not the present.
ALERT_STREAMS = ("events", "actions")


def freshness_state(query: str | None) -> tuple[str, list[tuple[str, str]], str, str]:
    """(worst verdict, lines to show, the worst state of the streams the alerts are judged from,
    language) for the view."""
    if query is None:  # the URL is not read yet
        raise PreventUpdate
    try:
        view = view_from_store(query)
    except Unauthorized:
        raise PreventUpdate from None
    if view.as_of is not None:  # a replay of a past moment: the feed's present state is beside the point
        return LIVE, [], LIVE, view.lang
    streams: list[StreamState] | None = app_context().freshness()
    if not streams:  # the source does not answer: the outage banner says so
        return LIVE, [], LIVE, view.lang
    alerts = worst([s for s in streams if s.stream in ALERT_STREAMS])
    return worst(streams), freshness_lines(streams, view.lang), alerts, view.lang


ALERT_NOTES = {LATE: "alerts_unsure", STOPPED: "alerts_unconfirmed"}


def sentence(lines: list[tuple[str, str]], alerts: str, lang: str) -> str:
    """The lines as one sentence, with a note on the alerts when a stream they are judged from is late
    (they may lag) or stopped (they describe the moment it stopped)."""
    texts = [line for _state, line in lines] + (
        [t(ALERT_NOTES[alerts], lang)] if alerts in ALERT_NOTES else []
    )
    return ("；" if lang == "zh" else "; ").join(texts)


@callback(
    Output(ids.WALL_FRESH, "children"),
    Output(ids.WALL_FRESH, "className"),
    Output(ids.WALL_FRESH, "hidden"),
    Output(ids.WALL_ALERTS, "className"),
    Input(ids.VIEW, "data"),
    Input(ids.TICK, "n_intervals"),
)
def wall_freshness(query: str | None, _n: int) -> tuple[Any, ...]:
    verdict, lines, alerts, lang = freshness_state(query)
    alerts_class = "wall-alerts unconfirmed" if alerts in ALERT_NOTES else "wall-alerts"
    return sentence(lines, alerts, lang), f"wall-fresh {verdict}", not lines, alerts_class


@callback(
    Output(ids.BANNER_FRESH, "children"),
    Output(ids.BANNER_FRESH, "className"),
    Output(ids.BANNER_FRESH, "hidden"),
    Input(ids.VIEW, "data"),
    Input(ids.TICK, "n_intervals"),
)
def page_freshness(query: str | None, _n: int) -> tuple[Any, ...]:
    verdict, lines, alerts, lang = freshness_state(query)
    return sentence(lines, alerts, lang), f"banner banner-fresh {verdict}", not lines
