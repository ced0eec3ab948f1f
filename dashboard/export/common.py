"""What every export shares: formats, the pages and panels of a deck, picture sizes, and the one error type."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dashboard.core.viewstate import WALL_PAGES

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
# The panels of each page in a deck, in slide order: a deck is for a meeting, so about a dozen slides
# (title, summary, two of KPIs, rankings and the seven below), not every panel the screens have. Panels left out
# here stay one click away on the screens and as PNG exports.
DECK_PANELS: dict[str, tuple[str, ...]] = {
    "overview": ("trend_period", "by_category"),
    "backlog": ("backlog_map", "top_grids"),
    "patrol": ("patrol_coverage", "on_duty"),
    "trends": ("by_source",),
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


def parse_pages(value: str | Iterable[str] | None) -> list[str]:
    """Deck pages from ``"overview,backlog"`` or a list; all pages when empty. ValueError names a bad one."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    pages = [p.strip() for item in items for p in item.split(",") if p.strip()]
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        raise ValueError(f"pages: unknown page {unknown[0]!r}; choose from {', '.join(PAGES)}")
    return list(dict.fromkeys(pages)) or list(PAGES)


def deck_keys(pages: Iterable[str]) -> list[str]:
    """The panels of a deck's pages, in slide order (:data:`DECK_PANELS`)."""
    return [k for p in pages for k in DECK_PANELS.get(p, ())]


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
