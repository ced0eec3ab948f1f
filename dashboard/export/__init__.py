"""Export the current view: a slide deck (PPTX), the same deck as PDF, or one panel as a PNG picture.

:func:`export_view` is the one function behind the browser's export button, the HTTP blueprint
(:mod:`dashboard.export.http`) and the ``python -m dashboard export`` command, so the three ways in
always produce the same file for the same view.

The heavy modules (python-pptx, kaleido) are imported only when an export is made: the web app imports
this package at start-up for the blueprint and the button.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from dashboard.viewstate import WALL_PAGES, ViewState

if TYPE_CHECKING:
    from dashboard.units import UnitDirectory

MIMETYPES: dict[str, str] = {
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "pdf": "application/pdf",
    "png": "image/png",
}
FORMATS = tuple(MIMETYPES)
PAGES = WALL_PAGES  # overview, backlog, patrol, trends, rankings: the same names as the wall's pages

# The panels of each page, in slide order; the same panels the browser pages show (callbacks/pages.py).
# The KPI tiles come with "overview", the two ranking tables with "rankings".
PAGE_PANELS: dict[str, tuple[str, ...]] = {
    "overview": ("trend_90d", "by_category", "backlog_ageing"),
    "backlog": ("backlog_map", "backlog_ageing", "top_grids"),
    "patrol": ("patrol_map", "patrol_coverage", "on_duty", "video_offline"),
    "trends": ("trend_period", "by_category_bar", "by_source", "by_dept", "ontime_weekly"),
    "rankings": ("town_ranking", "dept_ranking"),
}
TABLE_PANELS = frozenset({"town_ranking", "dept_ranking", "top_grids", "video_offline"})
CHART_PANELS = (
    "trend_90d",
    "trend_period",
    "by_category",
    "by_category_bar",
    "by_source",
    "by_dept",
    "backlog_ageing",
    "ontime_weekly",
    "patrol_coverage",
    "on_duty",
    "backlog_map",
    "patrol_map",
)
PNG_SIZE = (1600, 900)  # default picture size in CSS pixels (rendered at scale 2: 3200 x 1800)
PNG_LIMITS = (200, 4000)  # smallest and largest width/height accepted

GeojsonFor = Callable[[str, str | None], dict[str, Any]]
Progress = Callable[[str], None]


class ExportError(RuntimeError):
    """An export could not be made; the message says why and, where it can, what to install or change."""


class SnapshotSource(Protocol):
    """What :func:`export_view` needs from :class:`dashboard.service.SnapshotService`."""

    def snapshot(self, view: ViewState) -> Any: ...


def parse_pages(value: str | Iterable[str] | None) -> list[str]:
    """Deck pages from ``"overview,backlog"`` or a list; all pages when empty. ValueError names a bad one."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    pages = [p.strip() for item in items for p in item.split(",") if p.strip()]
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        raise ValueError(f"pages: unknown page {unknown[0]!r}; choose from {', '.join(PAGES)}")
    return list(dict.fromkeys(pages)) or list(PAGES)


def panel_keys(pages: Iterable[str]) -> list[str]:
    """The panels shown by ``pages``, in order, each once (a panel on two pages gets one slide)."""
    return list(dict.fromkeys(key for page in pages for key in PAGE_PANELS[page]))


def check_panel(panel: str | None) -> str:
    """A chart panel key for a PNG; ValueError naming ``panel`` otherwise."""
    if not panel:
        raise ValueError("panel: required for a PNG export (e.g. panel=backlog_map)")
    if panel not in CHART_PANELS:
        raise ValueError(f"panel: unknown chart {panel!r}; choose from {', '.join(CHART_PANELS)}")
    return panel


def png_size(name: str, value: int | str | None, default: int) -> int:
    """A picture width or height in CSS pixels; ValueError naming ``name`` when it is not sensible."""
    if value is None or value == "":
        return default
    low, high = PNG_LIMITS
    text = str(value).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{name}: {value!r} must be whole pixels between {low} and {high}")
    return int(text)


def export_filename(view: ViewState, now: str, fmt: str, panel: str | None = None) -> str:
    """``xiaoshan-<scope>-<period>-<panel>-<YYYYMMDD-HHMM>.<fmt>``: ASCII, sortable, says what it holds."""
    from dashboard.i18n import to_local

    scope = "-".join(view.towns) if view.towns else "district"
    scope = view.grid or view.village or scope
    moment = to_local(dt.datetime.fromisoformat(now))
    parts = ["xiaoshan", scope[:60], view.period, panel or "", f"{moment:%Y%m%d-%H%M}"]
    name = "-".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + "." + fmt


def export_view(
    service: SnapshotSource,
    units: UnitDirectory | None,
    view: ViewState,
    fmt: str,
    pages: Iterable[str] | str | None = None,
    panel: str | None = None,
    *,
    width: int | None = None,
    height: int | None = None,
    renderer: Any = None,
    progress: Progress | None = None,
) -> tuple[bytes, str, str]:
    """The export of ``view`` as ``(payload, filename, mimetype)``; ``fmt`` is pptx, pdf or png.

    ``pages`` picks the deck's pages (default all), ``panel`` the chart of a PNG. Raises ValueError for
    a bad argument (its message starts with the argument's name) and :class:`ExportError` when the
    export cannot be made (no data, a missing program, a failed render).
    """
    if fmt not in MIMETYPES:
        raise ValueError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    chosen = parse_pages(pages)
    if fmt == "png":
        check_panel(panel)
    say = progress or (lambda _msg: None)
    say("正在生成数据快照 / building the snapshot …")
    result = service.snapshot(view)
    snapshot = snapshot_of(result)
    notice = stale_notice(result, view.lang)
    geojson_for = units.geojson if units is not None else None
    if fmt == "png":
        say("正在渲染 1 张图片 / rendering 1 image …")
        payload = _panel_png(snapshot, view, str(panel), geojson_for, renderer, (width, height), notice)
        return payload, export_filename(view, snapshot.now, fmt, panel), MIMETYPES[fmt]
    from dashboard.export.pptx import build_deck

    deck = build_deck(
        snapshot, view, pages=chosen, geojson_for=geojson_for, renderer=renderer, progress=say, notice=notice
    )
    if fmt == "pdf":
        from dashboard.export.pdf import pptx_to_pdf

        say("正在转换 PDF / converting to PDF with LibreOffice …")
        deck = pptx_to_pdf(deck)
    return deck, export_filename(view, snapshot.now, fmt), MIMETYPES[fmt]


def scope_label(view: ViewState) -> str:
    """全区 or the chosen towns (and village / grid), as the deck's title slide and footers say it."""
    from dashboard.export.pptx import scope_text

    return scope_text(view, view.lang)


def stale_notice(result: Any, lang: str) -> str | None:
    """The screens' "source unavailable, showing data from N ago" line when the service fell back."""
    age = getattr(result, "age_seconds", None)
    if not getattr(result, "stale", False) or not getattr(result, "error", None) or age is None:
        return None
    from dashboard.i18n import fmt_age, t

    return t("stale_banner", lang, age=fmt_age(age, lang))


def snapshot_of(result: Any) -> Any:
    """The snapshot of a service result; ExportError when there is none (source down, nothing cached)."""
    snapshot = getattr(result, "snapshot", result)
    if snapshot is None:
        reason = getattr(result, "error", None) or "no data"
        raise ExportError(f"没有可导出的数据 / nothing to export: {reason}")
    return snapshot


def _panel_png(
    snapshot: Any,
    view: ViewState,
    panel: str,
    geojson_for: GeojsonFor | None,
    renderer: Any,
    size: tuple[int | None, int | None],
    notice: str | None,
) -> bytes:
    from dashboard import panels
    from dashboard.export.images import render_panel_png
    from dashboard.i18n import fmt_datetime, t

    spec = panels.chart(snapshot, panel, view.lang)
    when = t("data_as_of", view.lang, when=fmt_datetime(snapshot.now, view.lang))
    caption = " · ".join(p for p in (spec.title(view.lang), scope_label(view), when, notice) if p)
    geojson = (
        geojson_for(spec.map_level or "town", spec.map_parent) if spec.kind == "map" and geojson_for else None
    )
    return render_panel_png(
        spec,
        width=size[0] or PNG_SIZE[0],
        height=size[1] or PNG_SIZE[1],
        geojson=geojson,
        renderer=renderer,
        lang=view.lang,
        caption=caption,
    )
