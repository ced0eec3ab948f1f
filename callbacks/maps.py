"""Maps for the page and wall callbacks: the spec from the snapshot, the boundaries through the app context.

The layout draws what it is handed; the boundaries are a read of the source (cached for minutes), so
they are fetched here, in the callback, and passed in.
"""

from __future__ import annotations

from typing import Any

from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState
from dashboard.present import panels
from dashboard.web.context import app_context
from layouts import render


def map_figure(key: str, snap: Snapshot, view: ViewState, variant: str, *, scale: float = 1.0) -> Any:
    """The figure of map panel ``key``; raises SourceUnavailable when its boundaries cannot be read."""
    spec = panels.chart(snap, key, view.lang)
    level, parent = render.map_area(spec)
    geojson = app_context().geojson(level, parent)
    return render.chart_figure(spec, variant, view.lang, scale=scale, geojson=geojson)
