"""Export the current view: a slide deck (PPTX), the same deck as PDF, or one panel as a PNG picture.

:func:`export_view` is the one function behind the browser's export button, the HTTP blueprint
(:mod:`dashboard.web.exports`) and the ``python -m dashboard export`` command, so the three ways in
always produce the same file for the same view.

The heavy modules (python-pptx, kaleido) are imported only when an export is made: the web app imports
this module at start-up for the blueprint and the button.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, Protocol

from dashboard.core.scope import Scope
from dashboard.core.viewstate import ViewState
from dashboard.export.common import (
    FORMATS,
    MIMETYPES,
    PNG_SIZE,
    ExportError,
    GeojsonFor,
    Progress,
    check_panel,
    parse_pages,
)


class SnapshotSource(Protocol):
    """What :func:`export_view` needs from :class:`dashboard.service.snapshots.SnapshotService`."""

    def snapshot(self, view: ViewState, scope: Scope) -> Any: ...


def export_filename(view: ViewState, now: str, fmt: str, panel: str | None = None) -> str:
    """``xiaoshan-<scope>-<period>-<panel>-<YYYYMMDD-HHMM>.<fmt>``: ASCII, sortable, says what it holds."""
    from dashboard.core.i18n import to_local

    scope = "-".join(view.towns) if view.towns else "district"
    scope = view.grid or view.village or scope
    moment = to_local(dt.datetime.fromisoformat(now))
    parts = ["xiaoshan", scope[:60], view.period, panel or "", f"{moment:%Y%m%d-%H%M}"]
    name = "-".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + "." + fmt


def export_view(
    service: SnapshotSource,
    geojson_for: GeojsonFor | None,
    view: ViewState,
    fmt: str,
    pages: Iterable[str] | str | None = None,
    panel: str | None = None,
    *,
    scope: Scope,
    width: int | None = None,
    height: int | None = None,
    renderer: Any = None,
    progress: Progress | None = None,
    title: str | None = None,
) -> tuple[bytes, str, str]:
    """The export of ``view`` as ``(payload, filename, mimetype)``; ``fmt`` is pptx, pdf or png.

    ``pages`` picks the deck's pages (default all), ``panel`` the chart of a PNG. Raises ValueError for
    a bad argument (its message starts with the argument's name) and :class:`ExportError` when the
    export cannot be made (no data, a missing program, a failed render). The view is narrowed to
    ``scope`` first, so titles, footers and the file name name what the file holds. ``title`` replaces
    the deck's generic title (a briefing names itself: 瓜沥镇 周汇总 2026年第48周).
    """
    if fmt not in MIMETYPES:
        raise ValueError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    chosen = parse_pages(pages)
    if fmt == "png":
        check_panel(panel)
    say = progress or (lambda _msg: None)
    view = scope.apply(view)
    say("正在生成数据快照 / building the snapshot …")
    result = service.snapshot(view, scope)
    snapshot = snapshot_of(result)
    notice = stale_notice(result, view.lang)
    if fmt == "png":
        say("正在渲染 1 张图片 / rendering 1 image …")
        payload = _panel_png(snapshot, view, str(panel), geojson_for, renderer, (width, height), notice)
        return payload, export_filename(view, snapshot.now, fmt, panel), MIMETYPES[fmt]
    from dashboard.export.pptx import build_deck

    deck = build_deck(
        snapshot,
        view,
        pages=chosen,
        geojson_for=geojson_for,
        renderer=renderer,
        progress=say,
        notice=notice,
        title=title,
    )
    if fmt == "pdf":
        from dashboard.export.pdf import pptx_to_pdf

        say("正在转换 PDF / converting to PDF with LibreOffice …")
        deck = pptx_to_pdf(deck)
    return deck, export_filename(view, snapshot.now, fmt), MIMETYPES[fmt]


def scope_label(view: ViewState, snapshot: Any = None) -> str:
    """全区 or the chosen towns (or a village's or grid's names), as the deck's title slide and footers say it."""
    from dashboard.export.pptx import scope_text

    return scope_text(view, view.lang, snapshot)


def stale_notice(result: Any, lang: str) -> str | None:
    """The screens' "source unavailable, showing data from N ago" line when the service fell back."""
    age = getattr(result, "age_seconds", None)
    if not getattr(result, "stale", False) or not getattr(result, "error", None) or age is None:
        return None
    from dashboard.core.i18n import fmt_age, t

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
    from dashboard.core.i18n import fmt_datetime, t
    from dashboard.export.images import render_panel_png
    from dashboard.present import panels

    spec = panels.chart(snapshot, panel, view.lang)
    when = t("data_as_of", view.lang, when=fmt_datetime(snapshot.now, view.lang))
    caption = " · ".join(p for p in (spec.title(view.lang), scope_label(view, snapshot), when, notice) if p)
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
