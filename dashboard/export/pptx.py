"""The slide deck of a view (python-pptx): title, KPI tiles, rankings, then one slide per panel.

Charts are native PowerPoint charts with their data embedded (editable in PowerPoint, drawn by
LibreOffice for the PDF), built from the same :class:`~dashboard.present.panels.ChartSpec` the screens draw, so
the numbers match the wall. Maps have no native chart type: they become high-resolution PNG pictures
drawn on the server. Tables are native tables.

python-pptx sets only the latin typeface. PowerPoint and LibreOffice pick the font of Chinese text from
the East-Asian slot (``<a:ea>``) and the run's ``lang``, so every run and chart text gets both; without
them Chinese falls back to whatever font the viewer has, or to boxes.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree
from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LABEL_POSITION, XL_LEGEND_POSITION, XL_MARKER_STYLE
from pptx.enum.dml import MSO_LINE
from pptx.enum.shapes import MSO_SHAPE
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.util import Emu, Inches, Pt

from dashboard.core import domain
from dashboard.core.i18n import fmt_datetime, fmt_number, t, to_local
from dashboard.core.metrics import METRICS, Metric, colour_rule, companion_texts, delta_text
from dashboard.core.snapshot import KpiValue, Snapshot
from dashboard.core.viewstate import PERIODS, ViewState, to_query
from dashboard.export.common import (
    PAGE_PANELS,
    TABLE_PANELS,
    ExportError,
    GeojsonFor,
    Progress,
    deck_keys,
    parse_pages,
)
from dashboard.export.images import Renderer, get_renderer, render_panel_png
from dashboard.present import panels
from dashboard.present.analysis import SECTIONS, Analysis, analyse
from dashboard.present.panels import ChartSpec, TableSpec
from dashboard.present.theme import NOTE_COLOUR

log = logging.getLogger(__name__)

SLIDE_W, SLIDE_H = Emu(12192000), Emu(6858000)  # 16:9, 13.333 x 7.5 in
MARGIN = Inches(0.5)
CONTENT_TOP, CONTENT_BOTTOM = Inches(1.3), Inches(6.75)
NOTE_ROOM = Inches(0.3)  # the strip under a table for "N more rows not shown"
FONT = "Noto Sans CJK SC"  # East-Asian and latin: one font, so digits and Chinese match in the PDF
BRAND = RGBColor(0xB7, 0x1C, 0x1C)
INK = RGBColor(0x1F, 0x29, 0x33)
MUTED = RGBColor(0x61, 0x6E, 0x7C)
GRID = RGBColor(0xD9, 0xDD, 0xE3)
TILE = RGBColor(0xF5, 0xF6, 0xF8)
ROW_ALT = RGBColor(0xF7, 0xF8, 0xFA)
WHITE = RGBColor(0xFF, 0xFF, 0xFF)
STATUS = {
    "good": RGBColor(0x2E, 0x7D, 0x32),
    "warn": RGBColor(0xEF, 0x6C, 0x00),
    "bad": RGBColor(0xC6, 0x28, 0x28),
    None: RGBColor(0x9A, 0xA5, 0xB1),
}
PALETTE = ["2f7ed8", "f28f43", "2ca58d", "d64550", "8e6cc9", "e6b422", "5aa9e6", "a0522d", "7f8c8d", "17becf"]
KPI_COLUMNS, KPI_ROWS = 4, 3
TABLE_ROWS = 14  # data rows per slide: 12 pt text stays readable from the back of a meeting room
RANKING_ROWS = 14  # rows of each ranking on the rankings slide (two tables side by side, 10.5 pt)
TABLE_SLIDES = 1  # slides per table: a briefing is not the full list (the screens have it), and a slide
# that carries only a table's leftover rows is no use in a meeting
SUMMARY_LINES = {
    "headline": 7,
    "highlights": 3,
    "problems": 4,
    "best": 3,
    "worst": 3,
    "hotspots": 3,
    "alerts": 3,
}
MAP_PX = (1000, 620)  # CSS pixels of a map picture: the print variant's type reads well at this size
MAP_SCALE = 3.0  # 3000 x 1860 pixels: sharp on a projector and in print
CELL_PAD = 1.6  # ems around a cell's text: its margins, and LibreOffice's slightly wider CJK punctuation
SHORT_TEXT = 5.0  # ems: a text column this narrow (a rank, a short code) is never shortened
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")

CHART_TYPES = {
    "line": XL_CHART_TYPE.LINE_MARKERS,
    "bar": XL_CHART_TYPE.COLUMN_CLUSTERED,
    "hbar": XL_CHART_TYPE.BAR_CLUSTERED,
    "stacked_hbar": XL_CHART_TYPE.BAR_STACKED,
    "stacked_bar": XL_CHART_TYPE.COLUMN_STACKED,
    "donut": XL_CHART_TYPE.DOUGHNUT,
}

REPLAY_PERIODS = {
    "day": ("当日", "Day"),
    "week": ("当周", "Week"),
    "month": ("当月", "Month"),
    "quarter": ("当季", "Quarter"),
    "year": ("当年", "Year"),
}

# What each panel shows, for the speaker notes (the metric definitions follow it).
PANEL_NOTES: dict[str, tuple[str, str]] = {
    "trend_90d": (
        "近 90 天每日上报与办结件数；虚线为去年同期。",
        "Cases reported and closed per day over 90 days; dotted: last year.",
    ),
    "trend_period": (
        "统计周期内上报与办结件数的走势，与去年同期对比。",
        "Reported and closed cases across the period, against last year.",
    ),
    "by_category": ("期内上报事件按事件类别的构成。", "Events reported in the period by category."),
    "by_category_bar": ("期内上报事件按事件类别排序。", "Events reported in the period by category, ranked."),
    "by_source": ("期内上报事件按来源渠道的分布。", "Events reported in the period by source channel."),
    "by_dept": ("按承办部门统计的事件量。", "Events per handling department."),
    "backlog_ageing": (
        "在办事件按已积压时长分段（由短到长），按单位堆叠。",
        "Open cases by age band, stacked per unit.",
    ),
    "ontime_weekly": ("每周按期办结率：当周办结事件中在办理时限内办结的比例。", "Weekly on-time close rate."),
    "patrol_coverage": (
        "各单位网格巡查覆盖率：有有效巡查记录的网格占全部网格的比例。",
        "Share of grids with a valid patrol, per unit.",
    ),
    "on_duty": ("当前在岗巡防力量。", "Patrol forces on duty now."),
    "backlog_map": (
        "各单位每千名常住人口在办事件数。",
        "Open cases per 1,000 residents, per unit.",
    ),
    "patrol_map": (
        "各网格距上次有效巡查的小时数。",
        "Hours since the last valid patrol, per grid.",
    ),
    "town_ranking": ("镇街排名：按表中指标排序。", "Towns ranked by the figures in the table."),
    "dept_ranking": ("承办部门排名：按表中指标排序。", "Departments ranked by the figures in the table."),
    "top_grids": ("超期未办结件最多的网格。", "Grids with the most overdue open cases."),
    "video_offline": ("离线时间最长的视频点位。", "Video points offline the longest."),
}
PANEL_METRICS: dict[str, tuple[str, ...]] = {
    "trend_90d": ("reported", "closed"),
    "trend_period": ("reported", "closed"),
    "by_category": ("reported",),
    "by_category_bar": ("reported",),
    "by_source": ("reported",),
    "by_dept": ("reported",),
    "backlog_ageing": ("backlog", "overdue_open"),
    "ontime_weekly": ("on_time_rate",),
    "patrol_coverage": ("patrol_coverage_today",),
    "on_duty": ("patrol_on_duty",),
    "backlog_map": ("backlog",),
    "patrol_map": ("patrol_coverage_24h",),
    "town_ranking": ("on_time_rate", "close_rate", "overdue_open", "mean_hours_to_close"),
    "dept_ranking": ("on_time_rate", "close_rate", "overdue_open", "mean_hours_to_close"),
    "top_grids": ("overdue_open", "backlog"),
    "video_offline": ("video_online_rate",),
}
TEXT: dict[str, tuple[str, str]] = {
    "deck_title": ("萧山区一张网 · 基层治理态势", "Xiaoshan One-Network · Grid Governance Situation"),
    "brand": ("萧山区一张网", "Xiaoshan One-Network"),
    "default_view": ("（默认视图：全区、本月）", "(default view: whole district, this month)"),
    "source": ("来源：萧山区一张网数据库", "Source: Xiaoshan One-Network database"),
    "kpis": ("核心指标", "Key indicators"),
    "summary": ("要点", "Summary"),
    "summary_note": (
        "本页文字由指标库自动生成：数字均来自本期数据（括号内为指标键）；无数据处如实说明。",
        "Written from the metric registry: every figure is this period's (metric keys in brackets); "
        "missing data is said, never filled in.",
    ),
    "continued": ("（续）", " (continued)"),
    "period_range": ("{label}（{start} 至 {end}）", "{label} ({start} to {end})"),
    "filters": ("筛选：{items}", "Filters: {items}"),
    "view_params": ("视图参数：{query}", "View parameters: {query}"),
    "definitions": ("指标口径：", "Definitions:"),
    "thresholds_up": (
        "阈值：≥{good} 良好，≥{warn} 预警，其余告警",
        "Thresholds: ≥{good} good, ≥{warn} warning, else alert",
    ),
    "thresholds_down": (
        "阈值：≤{good} 良好，≤{warn} 预警，其余告警",
        "Thresholds: ≤{good} good, ≤{warn} warning, else alert",
    ),
    "more_rows": (
        "另有 {n} 行未列出，完整列表见系统页面",
        "{n} more rows not shown; see the dashboard for all",
    ),
    "more_row": ("另有 1 行未列出，完整列表见系统页面", "1 more row not shown; see the dashboard for all"),
}


def tr(key: str, lang: str, **fmt: object) -> str:
    """A deck string (export-only wording), falling back to the interface strings."""
    if key not in TEXT:
        return t(key, lang, **fmt)
    zh, en = TEXT[key]
    text = en if lang == "en" else zh
    return text.format(**fmt) if fmt else text


@dataclass(frozen=True)
class Deck:
    """What every slide needs to know: the snapshot, the view and their printed descriptions."""

    snapshot: Snapshot
    view: ViewState
    lang: str
    scope: str
    period: str
    as_of: str  # 数据截至 <Asia/Shanghai time>
    notice: str | None = None  # e.g. the source was down and these are older figures
    title: str | None = None  # the title slide's heading; None: the generic 萧山区一张网 · 基层治理态势


# --- text with East-Asian fonts ------------------------------------------------------------------


def set_cjk_font(rpr: Any, text: str = "", *, lang: str = "zh") -> None:
    """Latin and East-Asian typeface plus ``lang`` on a run's ``a:rPr`` (or a ``a:defRPr``)."""
    rpr.set("lang", "zh-CN" if _CJK.search(text) or (lang == "zh" and not text) else "en-US")
    latin = rpr.find(qn("a:latin"))
    if latin is None:
        latin = rpr.get_or_add_latin()
    latin.set("typeface", FONT)
    ea = rpr.find(qn("a:ea"))
    if ea is None:
        ea = etree.SubElement(rpr, qn("a:ea"))
        latin.addnext(ea)  # schema order: latin, ea, cs, sym, hlinkClick ...
    ea.set("typeface", FONT)


def add_run(
    paragraph: Any, text: str, *, size: float, bold: bool = False, colour: RGBColor = INK, lang: str = "zh"
) -> Any:
    run = paragraph.add_run()
    run.text = text
    font = run.font
    font.size = Pt(size)
    font.bold = bold
    font.color.rgb = colour
    set_cjk_font(run._r.get_or_add_rPr(), text, lang=lang)
    return run


def add_text(
    slide: Any,
    box: tuple[int, int, int, int],
    lines: Sequence[tuple[str, float, bool, RGBColor]],
    *,
    align: Any = PP_ALIGN.LEFT,
    anchor: Any = MSO_ANCHOR.TOP,
    lang: str = "zh",
) -> Any:
    """A text box of (text, size, bold, colour) lines."""
    shape = slide.shapes.add_textbox(*box)
    frame = shape.text_frame
    frame.word_wrap = True
    frame.vertical_anchor = anchor
    for side in ("margin_left", "margin_right", "margin_top", "margin_bottom"):
        setattr(frame, side, Inches(0.04))
    for i, (text, size, bold, colour) in enumerate(lines):
        paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        paragraph.alignment = align
        add_run(paragraph, text, size=size, bold=bold, colour=colour, lang=lang)
    return shape


def set_notes(slide: Any, lines: Iterable[str], lang: str) -> None:
    frame = slide.notes_slide.notes_text_frame
    for i, line in enumerate(lines):
        paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        add_run(paragraph, line, size=12, lang=lang)


# --- the template ---------------------------------------------------------------------------------


def rect(
    slide: Any, box: tuple[int, int, int, int], colour: RGBColor, shape: Any = MSO_SHAPE.RECTANGLE
) -> Any:
    drawn = slide.shapes.add_shape(shape, *box)
    drawn.fill.solid()
    drawn.fill.fore_color.rgb = colour
    drawn.line.fill.background()
    drawn.shadow.inherit = False
    return drawn


def new_slide(prs: Any, deck: Deck, title: str) -> Any:
    """A blank slide with the title bar: brand accent, title, rule."""
    slide = prs.slides.add_slide(prs.slide_layouts[6])  # "Blank"
    rect(slide, (0, Inches(0.38), Inches(0.22), Inches(0.62)), BRAND)
    add_text(
        slide,
        (MARGIN, Inches(0.3), SLIDE_W - 2 * MARGIN, Inches(0.8)),
        [(title, 26, True, INK)],
        anchor=MSO_ANCHOR.MIDDLE,
        lang=deck.lang,
    )
    rect(slide, (MARGIN, Inches(1.12), SLIDE_W - 2 * MARGIN, Emu(int(Inches(0.03)))), BRAND)
    return slide


def add_footers(prs: Any, deck: Deck) -> None:
    """Scope, period and the data moment on every slide, with the page number."""
    total = len(prs.slides)
    left = f"{tr('brand', deck.lang)} · {deck.scope} · {deck.period}"  # short: one line in either language
    for number, slide in enumerate(prs.slides, start=1):
        top = Inches(6.95)
        rect(slide, (MARGIN, Inches(6.88), SLIDE_W - 2 * MARGIN, Emu(9525)), GRID)
        width = SLIDE_W - 2 * MARGIN
        add_text(
            slide, (MARGIN, top, int(width * 0.7), Inches(0.4)), [(left, 11, False, MUTED)], lang=deck.lang
        )
        right = f"{deck.as_of}    {number} / {total}"
        add_text(
            slide,
            (MARGIN + int(width * 0.7), top, int(width * 0.3), Inches(0.4)),
            [(right, 11, False, MUTED)],
            align=PP_ALIGN.RIGHT,
            lang=deck.lang,
        )


def new_presentation() -> Any:
    prs = Presentation()
    prs.slide_width, prs.slide_height = SLIDE_W, SLIDE_H
    return prs


# --- descriptions of the view ---------------------------------------------------------------------


def scope_text(view: ViewState, lang: str, snapshot: Snapshot | None = None) -> str:
    """全区, or the chosen towns, or a village's or grid's town and names (from the snapshot's
    breadcrumb: 城厢街道 · 湘湖社区), and whether the 大江东 streets are left out."""
    towns = domain.town_by_code()
    names = [
        (towns[c].name_en if lang == "en" else towns[c].name_zh) if c in towns else c for c in view.towns
    ]
    chain = panels.unit_chain(snapshot, lang) if snapshot is not None and (view.village or view.grid) else []
    if chain:
        parts = chain
    else:
        parts = ["、".join(names) if lang == "zh" else ", ".join(names)] if names else [t("district", lang)]
        if view.village:
            parts.append(f"{t('village', lang)} {view.village}")
        if view.grid:
            parts.append(f"{t('grid', lang)} {view.grid}")
    if view.eastern == "exclude":
        parts.append(f"{t('exclude', lang)}{t('eastern', lang)}" if lang == "zh" else "excl. Dajiangdong")
    return " · ".join(parts)


def period_name(view: ViewState, lang: str) -> str:
    """本月 for a live view; 当月 when replaying a past moment, whose month need not be this one."""
    if view.as_of is not None and view.period in REPLAY_PERIODS:
        zh, en = REPLAY_PERIODS[view.period]
        return en if lang == "en" else zh
    return t(view.period, lang) if view.period in PERIODS else view.period


def period_text(snapshot: Snapshot, view: ViewState, lang: str) -> str:
    """``本月（2026-11-01 至 2026-11-30）``: the period's name and its local days."""
    start = to_local(dt.datetime.fromisoformat(snapshot.period_start)).date()
    end = to_local(dt.datetime.fromisoformat(snapshot.period_end)).date() - dt.timedelta(days=1)
    label = period_name(view, lang)
    if end <= start:
        return f"{label}（{start.isoformat()}）" if lang == "zh" else f"{label} ({start.isoformat()})"
    return tr("period_range", lang, label=label, start=start.isoformat(), end=end.isoformat())


def filters_text(view: ViewState, lang: str) -> str | None:
    items: list[str] = []
    for codes, labels, key in (
        (view.categories, domain.CATEGORIES, "category"),
        (view.sources, domain.SOURCES, "source"),
        (view.depts, domain.DEPARTMENTS, "dept"),
    ):
        if codes:
            names = [(labels[c].en if lang == "en" else labels[c].zh) if c in labels else c for c in codes]
            items.append(f"{t(key, lang)} {'、'.join(names) if lang == 'zh' else ', '.join(names)}")
    return (
        tr("filters", lang, items="；".join(items) if lang == "zh" else "; ".join(items)) if items else None
    )


def deck_context(
    snapshot: Snapshot, view: ViewState, notice: str | None = None, title: str | None = None
) -> Deck:
    lang = view.lang
    when = fmt_datetime(snapshot.now, lang)
    scope, period = scope_text(view, lang, snapshot), period_text(snapshot, view, lang)
    return Deck(snapshot, view, lang, scope, period, t("data_as_of", lang, when=when), notice, title)


# --- slides -------------------------------------------------------------------------------------


def title_slide(prs: Any, deck: Deck) -> None:
    lang = deck.lang
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    rect(slide, (0, 0, Inches(0.35), SLIDE_H), BRAND)
    rect(slide, (Inches(1.0), Inches(3.55), Inches(1.6), Inches(0.06)), BRAND)
    # A briefing's own title names its scope and period; the brand line goes beneath it then.
    lines: list[tuple[str, float, bool, RGBColor]] = (
        [(deck.title, 36, True, INK), (tr("deck_title", lang), 24, False, BRAND)]
        if deck.title
        else [(tr("deck_title", lang), 40, True, INK), (deck.scope, 28, False, BRAND)]
    )
    add_text(
        slide,
        (Inches(1.0), Inches(1.5), Inches(11.3), Inches(2.0)),
        lines,
        anchor=MSO_ANCHOR.BOTTOM,
        lang=lang,
    )
    details: list[tuple[str, float, bool, RGBColor]] = [
        (f"{t('period', lang)}：{deck.period}", 20, False, INK)
    ]
    if lang == "en":
        details = [(f"{t('period', lang)}: {deck.period}", 20, False, INK)]
    filters = filters_text(deck.view, lang)
    if filters:
        details.append((filters, 16, False, INK))
    if deck.view.as_of is not None:
        details.append((t("replay_banner", lang, when=fmt_datetime(deck.view.as_of, lang)), 16, False, BRAND))
    if deck.notice:
        details.append((deck.notice, 16, True, BRAND))
    details += [(deck.as_of, 18, False, INK), (tr("source", lang), 14, False, MUTED)]
    add_text(slide, (Inches(1.0), Inches(3.85), Inches(11.3), Inches(2.6)), details, lang=lang)
    query = to_query(deck.view) or tr("default_view", lang)
    heading = deck.title or tr("deck_title", lang)
    set_notes(slide, [heading, tr("view_params", lang, query=query), tr("source", lang)], lang)


def metric_text(metric: Metric, lang: str) -> tuple[str, str, str]:
    if lang == "en":
        return metric.label_en, metric.unit_en, metric.definition_en
    return metric.label_zh, metric.unit, metric.definition_zh


def definition_line(metric: Metric, lang: str) -> str:
    label, unit, definition = metric_text(metric, lang)
    line = f"· {label}（{unit}）：{definition}" if lang == "zh" else f"· {label} ({unit}): {definition}"
    if metric.thresholds is not None:
        good, warn = metric.thresholds
        key = "thresholds_up" if metric.direction == "up" else "thresholds_down"
        line += ("；" if lang == "zh" else "; ") + tr(key, lang, good=f"{good:g}", warn=f"{warn:g}")
    # The colour rule (minimum base, expected by now) beside the thresholds, as in the registry.
    line += ("；" if lang == "zh" else "; ") + colour_rule(metric, lang)
    for c in metric.companions:  # the counts shown beside the figure have their definitions too
        zh = f"；{c.label_zh}（{c.unit}）：{c.definition_zh}"
        line += zh if lang == "zh" else f"; {c.label_en} ({c.unit_en}): {c.definition_en}"
    return line


def kpi_tile(
    slide: Any,
    box: tuple[int, int, int, int],
    metric: Metric,
    kpi: KpiValue,
    lang: str,
    *,
    town_figure: bool = False,
) -> None:
    """One KPI tile. ``town_figure``: the figure is the village's or grid's town's (the screens' rule,
    :func:`~dashboard.present.panels.shows_town_figure`), and its unit says so."""
    x, y, w, h = box
    tile = rect(slide, box, TILE, MSO_SHAPE.RECTANGLE)
    tile.line.fill.background()
    rect(slide, (x, y, Inches(0.09), h), STATUS.get(kpi.status, STATUS[None]))
    label, unit, _ = metric_text(metric, lang)
    if town_figure:
        unit += t("town_figure", lang)
    frame = slide.shapes.add_textbox(
        x + Inches(0.2), y + Inches(0.08), w - Inches(0.3), h - Inches(0.16)
    ).text_frame
    frame.word_wrap = True
    add_run(frame.paragraphs[0], label, size=14, colour=MUTED, lang=lang)
    value_line = frame.add_paragraph()
    value_line.space_before = Pt(4)
    value = fmt_number(kpi.value, metric.fmt) if kpi.value is not None else "—"
    add_run(
        value_line, value, size=30, bold=True, colour=STATUS[kpi.status] if kpi.status else INK, lang=lang
    )
    add_run(value_line, f" {unit}", size=14, colour=MUTED, lang=lang)
    deltas = frame.add_paragraph()
    deltas.space_before = Pt(4)
    for i, (other, caption) in enumerate(
        ((kpi.previous, t("vs_prev", lang)), (kpi.last_year, t("vs_ly", lang)))
    ):
        text, tone = delta_text(metric, kpi.value, other, caption)  # green when better, red when worse
        colour = STATUS[tone] if tone in {"good", "bad"} else MUTED
        add_run(deltas, ("    " if i else "") + text, size=12, colour=colour, lang=lang)
    for line in companion_texts(metric, kpi.detail, lang):  # 检查单位 N 家 beside the hazard rate
        add_run(frame.add_paragraph(), line, size=12, colour=MUTED, lang=lang)


def kpi_slides(prs: Any, deck: Deck) -> None:
    """The KPI tiles, twelve to a slide, in registry order."""
    keys = [k for k in METRICS if k in deck.snapshot.kpis]
    per_slide = KPI_COLUMNS * KPI_ROWS
    gap = Inches(0.18)
    width = (SLIDE_W - 2 * MARGIN - gap * (KPI_COLUMNS - 1)) // KPI_COLUMNS
    height = (CONTENT_BOTTOM - CONTENT_TOP - gap * (KPI_ROWS - 1)) // KPI_ROWS
    chunks = [keys[i : i + per_slide] for i in range(0, len(keys), per_slide)]
    for n, chunk in enumerate(chunks):
        title = tr("kpis", deck.lang) + (tr("continued", deck.lang) if n else "")
        slide = new_slide(prs, deck, title)
        for i, key in enumerate(chunk):
            col, row = i % KPI_COLUMNS, i // KPI_COLUMNS
            box = (MARGIN + col * (width + gap), CONTENT_TOP + row * (height + gap), width, height)
            kpi = deck.snapshot.kpis[key]
            town_figure = panels.shows_town_figure(deck.snapshot, key)
            kpi_tile(slide, box, METRICS[key], kpi, deck.lang, town_figure=town_figure)
        set_notes(
            slide,
            [tr("definitions", deck.lang), *(definition_line(METRICS[k], deck.lang) for k in chunk)],
            deck.lang,
        )


# --- the summary ----------------------------------------------------------------------------------

# The summary's two columns: the state of things on the left, what changed and what to act on right.
SUMMARY_COLUMNS = (
    ("headline", "best", "worst", "notes"),
    ("highlights", "problems", "hotspots", "alerts", "targets"),
)


def summary_slide(prs: Any, deck: Deck, analysis: Analysis) -> None:
    """要点: the written analysis (:mod:`dashboard.present.analysis`), cut to what fits; the notes hold all of it."""
    slide = new_slide(prs, deck, tr("summary", deck.lang))
    titles = {key: title for key, title in _section_titles(deck.lang)}
    gap = Inches(0.4)
    width = (SLIDE_W - 2 * MARGIN - gap) // 2
    for col, keys in enumerate(SUMMARY_COLUMNS):
        lines: list[tuple[str, float, bool, RGBColor]] = []
        for key in keys:
            found = analysis.lines.get(key) or []
            if not found:
                continue
            lines.append((titles[key], 17, True, BRAND))
            limit = SUMMARY_LINES.get(key, 3)
            lines += [("· " + line.text, 14, False, INK) for line in found[:limit]]
        box = (MARGIN + col * (width + gap), CONTENT_TOP - Inches(0.05), width, CONTENT_BOTTOM - CONTENT_TOP)
        add_text(slide, box, lines, lang=deck.lang)
    notes = [tr("summary_note", deck.lang)]
    for title, found in analysis.sections():
        notes.append(title)
        notes += [f"· {line.text}" + (f" [{', '.join(line.keys)}]" if line.keys else "") for line in found]
    set_notes(slide, notes, deck.lang)


def _section_titles(lang: str) -> list[tuple[str, str]]:
    return [(key, en if lang == "en" else zh) for key, zh, en in SECTIONS]


# --- tables ---------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return fmt_number(value)
    if isinstance(value, float):
        return fmt_number(value, 0 if value.is_integer() else 1)
    return str(value)


@dataclass(frozen=True)
class CellStyle:
    size: float
    bold: bool
    colour: RGBColor
    fill: RGBColor


def fill_cell(cell: Any, text: str, style: CellStyle, align: Any, lang: str) -> None:
    cell.fill.solid()
    cell.fill.fore_color.rgb = style.fill
    cell.margin_left = cell.margin_right = Inches(0.06)
    cell.margin_top = cell.margin_bottom = Inches(0.02)
    cell.vertical_anchor = MSO_ANCHOR.MIDDLE
    paragraph = cell.text_frame.paragraphs[0]
    paragraph.alignment = align
    add_run(paragraph, text, size=style.size, bold=style.bold, colour=style.colour, lang=lang)


def text_width(text: str) -> float:
    """Width of ``text`` in ems: CJK characters are one em, latin about half."""
    return sum(1.0 if _CJK.match(ch) else 0.55 for ch in text)


def column_widths(columns: list[str], rows: list[list[Any]], total: int) -> list[int]:
    """Widths in EMU proportional to each column's longest text, the header's included (headers never
    wrap: a CJK header wrapped by width breaks inside a word, 按期办结|率)."""
    weights = [
        max([text_width(str(name)), 2.0, *(text_width(cell_text(r[c])) for r in rows if c < len(r))]) + 1.2
        for c, name in enumerate(columns)
    ]
    scale = total / sum(weights)
    widths = [int(w * scale) for w in weights]
    widths[-1] += total - sum(widths)
    return widths


def table_font(
    columns: list[str], rows: list[list[Any]], width: int, size: float, numeric_from: int
) -> float:
    """The largest size ≤ ``size`` (down to 8 pt) at which the numeric columns and the headers fit on one
    line in ``width``, leaving the text columns at least a third of it."""
    numbers = [
        max([text_width(str(name)), *(text_width(cell_text(r[c])) for r in rows if c < len(r))]) + CELL_PAD
        for c, name in enumerate(columns)
        if c >= numeric_from
    ]
    texts = [text_width(str(name)) + CELL_PAD for c, name in enumerate(columns) if c < numeric_from]
    ems = sum(numbers) + max(sum(texts), width / Pt(1) / size / 3)
    while size > 8 and ems * Pt(size) > width:
        size -= 0.5
    return size


def fitted_cell(text: str, width: int, size: float) -> str:
    """``text`` shortened with … to fit one line of ``width`` at ``size`` (a long department name in English)."""
    room = width / Pt(size) - CELL_PAD + 0.01  # widths are whole EMUs: a name that fits exactly stays whole
    if text_width(text) <= room:
        return text
    out = ""
    for ch in text:
        if text_width(out + ch + "…") > room:
            break
        out += ch
    return out.rstrip() + "…"


def add_table(
    slide: Any,
    box: tuple[int, int, int, int],
    columns: list[str],
    rows: list[list[Any]],
    numeric_from: int,
    lang: str,
    *,
    size: float = 12,
) -> Any:
    """A native table: brand header row, banded rows, numbers right-aligned, widths by content."""
    x, y, w, _h = box
    size = table_font(columns, rows, w, size, numeric_from)
    row_h = Inches(0.3 if size < 12 else 0.34)
    frame = slide.shapes.add_table(len(rows) + 1, len(columns), x, y, w, row_h * (len(rows) + 1))
    table = frame.table
    widths = _one_line_widths(columns, rows, w, size, numeric_from)
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    # Every row on one line, so the table's height is what was planned and it stays on its slide.
    rows = [
        [fitted_cell(cell_text(v), widths[c], size) if c < numeric_from else v for c, v in enumerate(row)]
        for row in rows
    ]
    for r in range(len(rows) + 1):
        table.rows[r].height = row_h
    header = CellStyle(size, True, WHITE, BRAND)
    for c, name in enumerate(columns):
        fill_cell(table.cell(0, c), str(name), header, _align(c, numeric_from), lang)
    for r, row in enumerate(rows, start=1):
        body = CellStyle(size, False, INK, ROW_ALT if r % 2 == 0 else WHITE)
        for c in range(len(columns)):
            text = cell_text(row[c] if c < len(row) else None)
            fill_cell(table.cell(r, c), text, body, _align(c, numeric_from), lang)
    return frame


def _one_line_widths(
    columns: list[str], rows: list[list[Any]], total: int, size: float, numeric_from: int
) -> list[int]:
    """The numeric and short columns at their text's width at ``size``; the long text columns share the
    rest in proportion to their text (when the others take it all, the content-proportional widths)."""
    natural = [
        max([text_width(str(name)), 2.0, *(text_width(cell_text(r[c])) for r in rows if c < len(r))])
        + CELL_PAD
        for c, name in enumerate(columns)
    ]
    # Numbers and short texts (a rank, a code) keep their width; only the long texts (names) give way.
    keeps = [c >= numeric_from or natural[c] <= SHORT_TEXT for c in range(len(columns))]
    fixed = [int(natural[c] * Pt(size)) if keeps[c] else 0 for c in range(len(columns))]
    rest = total - sum(fixed)
    flexible = sum(natural[c] for c in range(len(columns)) if not keeps[c])
    if rest <= 0 or flexible == 0:
        return column_widths(columns, rows, total)
    text_cols = [c for c in range(len(columns)) if not keeps[c]]
    widths = [fixed[c] if keeps[c] else int(rest * natural[c] / flexible) for c in range(len(columns))]
    # A text column wider than its text hands the spare width to the numbers evenly.
    spare = 0
    for c in text_cols:
        need = int(natural[c] * Pt(size))
        if widths[c] > need:
            spare += widths[c] - need
            widths[c] = need
    numeric = [c for c in range(len(columns)) if c >= numeric_from] or text_cols
    for c in numeric:
        widths[c] += spare // len(numeric)
    widths[-1] += total - sum(widths)
    return widths


def _align(column: int, numeric_from: int) -> Any:
    return PP_ALIGN.RIGHT if column >= numeric_from else PP_ALIGN.LEFT


def panel_notes(key: str, lang: str, note: str | None = None) -> list[str]:
    zh, en = PANEL_NOTES.get(key, ("", ""))
    lines = [en if lang == "en" else zh] if zh else []
    if note:
        lines.append(note)
    metrics = [METRICS[m] for m in PANEL_METRICS.get(key, ()) if m in METRICS]
    if metrics:
        lines.append(tr("definitions", lang))
        lines += [definition_line(m, lang) for m in metrics]
    return lines


def table_slides(prs: Any, deck: Deck, spec: TableSpec, *, skip: int = 0, continued: bool = False) -> None:
    """A full-width table from row ``skip``, on at most TABLE_SLIDES slides; the rest is counted, not shown."""
    box = (MARGIN, CONTENT_TOP, SLIDE_W - 2 * MARGIN, CONTENT_BOTTOM - CONTENT_TOP - NOTE_ROOM)
    rows = spec.rows[skip:]
    pages = [rows[i : i + TABLE_ROWS] for i in range(0, len(rows), TABLE_ROWS)][:TABLE_SLIDES] or [[]]
    for n, chunk in enumerate(pages):
        more = continued or n > 0
        slide = new_slide(prs, deck, spec.title(deck.lang) + (tr("continued", deck.lang) if more else ""))
        if chunk:
            add_table(slide, box, spec.columns, chunk, spec.numeric_from, deck.lang)
        else:
            no_data(slide, deck)
        set_notes(slide, panel_notes(spec.key, deck.lang), deck.lang)
    left_out = len(rows) - TABLE_ROWS * TABLE_SLIDES
    if left_out > 0:
        more_rows(slide, deck, left_out, box)


def more_rows(slide: Any, deck: Deck, count: int, box: tuple[int, int, int, int]) -> None:
    """``另有 N 行未列出`` under the last table: the deck is a briefing, the screen has the full list."""
    x, _y, w, _h = box
    line = [(tr("more_rows" if count != 1 else "more_row", deck.lang, n=count), 11, False, MUTED)]
    # In the strip the tables leave free above the footer (it sat on the footer's rule).
    add_text(slide, (x, CONTENT_BOTTOM - NOTE_ROOM, w, NOTE_ROOM), line, align=PP_ALIGN.RIGHT, lang=deck.lang)


def rankings_slides(prs: Any, deck: Deck, towns: TableSpec | None, depts: TableSpec | None) -> None:
    """The units below the view and the departments side by side, each fitted to the slide."""
    specs = [s for s in (towns, depts) if s is not None]
    if not specs:
        return
    slide = new_slide(prs, deck, t("rankings", deck.lang))
    gap = Inches(0.3)
    width = (SLIDE_W - 2 * MARGIN - gap * (len(specs) - 1)) // len(specs)
    notes: list[str] = []
    for i, spec in enumerate(specs):
        x = MARGIN + i * (width + gap)
        # The ranking's name, and under it in small type why some units carry "—": on one line the
        # English ran onto the table's header.
        name, dash, why = spec.title(deck.lang).partition(" · —")
        heading = [(name, 15, True, INK)] + ([(dash.lstrip(" ·") + why, 10.5, False, MUTED)] if dash else [])
        add_text(slide, (x, CONTENT_TOP - Inches(0.1), width, Inches(0.6)), heading, lang=deck.lang)
        top = CONTENT_TOP + (Inches(0.55) if dash else Inches(0.35))
        box = (x, top, width, CONTENT_BOTTOM - top - NOTE_ROOM)
        if spec.rows:
            # The first and the last ranked units around a ⋯ row: one slide, no leftover slides.
            fitted = panels.fit_rows(spec, RANKING_ROWS, both_ends=True)
            add_table(slide, box, fitted.columns, fitted.rows, fitted.numeric_from, deck.lang, size=10.5)
            shown = sum(1 for row in fitted.rows if row and row[0] != "⋯")
            if len(spec.rows) > shown:
                more_rows(slide, deck, len(spec.rows) - shown, box)
        notes += panel_notes(spec.key, deck.lang)
    set_notes(slide, notes, deck.lang)


def no_data(slide: Any, deck: Deck) -> None:
    box = (MARGIN, CONTENT_TOP, SLIDE_W - 2 * MARGIN, CONTENT_BOTTOM - CONTENT_TOP)
    add_text(
        slide,
        box,
        [(t("no_data", deck.lang), 24, False, MUTED)],
        align=PP_ALIGN.CENTER,
        anchor=MSO_ANCHOR.MIDDLE,
        lang=deck.lang,
    )


# --- charts ---------------------------------------------------------------------------------------


def number_format(spec: ChartSpec, *, axis: bool = False) -> str:
    """Excel number format of the values; percent values are 0–100, so "%" is a literal suffix."""
    if spec.percent:
        return '0"%"' if axis else '0.0"%"'
    values = [v for s in spec.series for v in s.values if v is not None]
    return "#,##0" if all(float(v).is_integer() for v in values) else "#,##0.0"


def hex_colour(colour: str | None, index: int) -> RGBColor:
    text = (colour or "").lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", text):
        text = PALETTE[index % len(PALETTE)]
    return RGBColor.from_string(text.upper())


def running_point(spec: ChartSpec) -> int | None:
    """The index of a line chart's running (partial) bucket, if it has one worth drawing apart."""
    if spec.kind != "line" or spec.running is None or spec.running >= len(spec.categories):
        return None
    return spec.running


def chart_data(spec: ChartSpec) -> CategoryChartData:
    """The chart's data. A running bucket's partial values leave the lines (which stop before it) for
    series of their own, one point each, drawn as open markers named "今日截至 01:30": per-point line
    styles do not survive LibreOffice (the PDF), and a joined partial value reads as a collapse."""
    data = CategoryChartData(number_format=number_format(spec))
    data.categories = list(spec.categories)
    at = running_point(spec)
    partial = []
    for series in spec.series:
        values = list(series.values)
        if at is not None and not series.dashed and values[at] is not None:
            alone: list[float | None] = [None] * len(values)
            alone[at] = values[at]
            partial.append((f"{series.name} · {spec.running_label or ''}".rstrip(" ·"), alone))
            values[at] = None
        data.add_series(series.name, values)
    for name, values in partial:
        data.add_series(name, values)
    for name, values in note_series(spec):
        data.add_series(name, values)
    return data


def note_series(spec: ChartSpec) -> list[tuple[str, list[float | None]]]:
    """The chart's notes on the timeline as series of their own (after the lines and the partial
    points): a row of points just above the highest value across the note's buckets (one point for a
    moment), named by the note and labelled with that name at its first point (:func:`mark_notes`).
    A series, not a shape drawn over the chart: it sits on its buckets whatever the plot's layout in
    PowerPoint or LibreOffice, and stays editable with the chart's data."""
    if spec.kind != "line" or not spec.marks:
        return []
    top = max((v for s in spec.series for v in s.values if v is not None), default=0.0)
    height = (top or 1.0) * 1.08
    out = []
    for mark in spec.marks:
        values: list[float | None] = [None] * len(spec.categories)
        for i in range(mark.start, (mark.end if mark.end is not None else mark.start) + 1):
            values[i] = height
        out.append((mark.text, values))
    return out


def mark_notes(plot: Any, spec: ChartSpec) -> None:
    """Style the note series: a thick violet bar across a period, a diamond at a moment, and the note's
    text above its first point."""
    notes = list(plot.series)[len(plot.series) - len(spec.marks) :]
    colour = hex_colour(NOTE_COLOUR, 0)
    for series, mark in zip(notes, spec.marks, strict=True):
        series.smooth = False
        series.format.line.color.rgb = colour
        series.format.line.width = Pt(6)
        series.marker.style = XL_MARKER_STYLE.DIAMOND
        series.marker.size = 9 if mark.end is None else 5
        series.marker.format.fill.solid()
        series.marker.format.fill.fore_color.rgb = colour
        series.marker.format.line.color.rgb = colour
        label = series.points[mark.start].data_label
        label.has_text_frame = True
        label.text_frame.text = mark.text
        label.position = XL_LABEL_POSITION.ABOVE
        label.font.size = Pt(11)
        label.font.color.rgb = colour


def add_native_chart(slide: Any, spec: ChartSpec, box: tuple[int, int, int, int], lang: str) -> Any:
    """A native, editable chart with the ChartSpec's categories, series names and values."""
    chart_type = CHART_TYPES[spec.kind]
    if spec.kind == "line" and len(spec.categories) > 31:
        chart_type = XL_CHART_TYPE.LINE  # markers on 90 daily points are noise
    frame = slide.shapes.add_chart(chart_type, *box, chart_data(spec))
    chart = frame.chart
    chart.has_title = False
    chart.font.size = Pt(13)
    if spec.kind == "donut":
        style_donut(chart, spec)
    else:
        style_axes(chart, spec)
        style_series(chart, spec)
    # A running bucket's marker series is named in the legend ("今日截至 01:30"), even beside one line.
    chart.has_legend = (
        len(spec.series) > 1 or spec.kind == "donut" or running_point(spec) is not None or bool(spec.marks)
    )
    if chart.has_legend:
        # Long bar lists need every bit of height for one label per unit: their legend goes right.
        tall = spec.kind in ("hbar", "stacked_hbar") and len(spec.categories) > 20
        right = spec.kind == "donut" or tall
        chart.legend.position = XL_LEGEND_POSITION.RIGHT if right else XL_LEGEND_POSITION.BOTTOM
        chart.legend.include_in_layout = False
        chart.legend.font.size = Pt(13)
    cjk_chart_fonts(chart, lang)
    return frame


def style_axes(chart: Any, spec: ChartSpec) -> None:
    value_axis = chart.value_axis
    value_axis.has_major_gridlines = True
    value_axis.major_gridlines.format.line.color.rgb = GRID
    value_axis.format.line.fill.background()
    value_axis.tick_labels.number_format = number_format(spec, axis=True)
    value_axis.tick_labels.number_format_is_linked = False
    value_axis.tick_labels.font.size = Pt(12)
    if spec.percent and all((v or 0) <= 100 for s in spec.series for v in s.values):
        value_axis.maximum_scale = 100
    value_axis.minimum_scale = 0
    category_axis = chart.category_axis
    count = len(spec.categories)
    category_axis.tick_labels.font.size = Pt(12 if count <= 15 else 10 if count <= 20 else 8.5)
    category_axis.format.line.color.rgb = GRID
    if spec.kind in ("hbar", "stacked_hbar"):
        category_axis.reverse_order = True  # first category on top, as on the screens
        # ... and the value axis stays at the bottom: it crosses the reversed category axis at its end
        crosses = value_axis._element.find(qn("c:crosses"))
        if crosses is not None:
            crosses.set("val", "max")
    if spec.kind in ("hbar", "stacked_hbar"):
        skip_tick_labels(category_axis, 1)  # every unit named: LibreOffice would otherwise thin them out
    elif count > 16:
        skip_tick_labels(category_axis, math.ceil(count / 12))


def skip_tick_labels(axis: Any, every: int) -> None:
    """Label only every n-th category (``c:tickLblSkip``), as the screens do with nticks."""
    element = axis._element
    for tag in ("c:tickLblSkip", "c:tickMarkSkip"):
        node = element.find(qn(tag))
        if node is None:
            node = etree.SubElement(element, qn(tag))
            anchor = element.find(qn("c:noMultiLvlLbl"))
            if anchor is not None:
                anchor.addprevious(node)
        node.set("val", str(every))


def style_series(chart: Any, spec: ChartSpec) -> None:
    plot = chart.plots[0]
    if spec.kind != "line":
        plot.gap_width = 60
        plot.vary_by_categories = False
    if spec.kind in ("bar", "hbar") and len(spec.series) == 1 and len(spec.categories) <= 20:
        plot.has_data_labels = True
        labels = plot.data_labels
        labels.number_format = number_format(spec)
        labels.number_format_is_linked = False
        labels.font.size = Pt(11)
    lines = list(plot.series)[: len(spec.series)]
    for i, (series, source) in enumerate(zip(lines, spec.series, strict=True)):
        colour = hex_colour(source.colour, i)
        if spec.kind == "line":
            line = series.format.line
            line.color.rgb = colour
            line.width = Pt(2.25)
            if source.dashed:
                line.dash_style = MSO_LINE.DASH
            series.smooth = False
            series.marker.style = (
                XL_MARKER_STYLE.NONE if len(spec.categories) > 31 else XL_MARKER_STYLE.CIRCLE
            )
            series.marker.format.fill.solid()
            series.marker.format.fill.fore_color.rgb = colour
        else:
            series.format.fill.solid()
            series.format.fill.fore_color.rgb = colour
    partial = list(plot.series)[len(spec.series) : len(plot.series) - len(spec.marks)]
    solid = [(s, i) for i, s in enumerate(spec.series) if not s.dashed]
    for series, (source, i) in zip(partial, solid, strict=False):
        mark_running(series, hex_colour(source.colour, i))
    if spec.kind == "line" and spec.marks:
        mark_notes(plot, spec)


def mark_running(series: Any, colour: RGBColor) -> None:
    """A running bucket's partial value: an open marker in its line's colour. The series holds that one
    point, so no line is drawn to it; its line keeps the colour (LibreOffice hides the markers of a series
    whose line has no fill, and draws them in the line's colour)."""
    series.format.line.color.rgb = colour
    series.format.line.dash_style = MSO_LINE.DASH  # the legend's sample reads as "not final"
    series.smooth = False
    series.marker.style = XL_MARKER_STYLE.CIRCLE
    series.marker.size = 9
    series.marker.format.fill.solid()
    series.marker.format.fill.fore_color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
    series.marker.format.line.color.rgb = colour
    series.marker.format.line.width = Pt(2)


def style_donut(chart: Any, spec: ChartSpec) -> None:
    plot = chart.plots[0]
    plot.vary_by_categories = True
    plot.has_data_labels = True
    labels = plot.data_labels
    labels.show_percentage = True
    labels.show_value = False
    labels.number_format = "0%"
    labels.number_format_is_linked = False
    labels.font.size = Pt(12)
    labels.font.color.rgb = WHITE
    for series in plot.series:
        for i in range(len(spec.categories)):
            point = series.points[i]
            point.format.fill.solid()
            point.format.fill.fore_color.rgb = hex_colour(None, i)


def cjk_chart_fonts(chart: Any, lang: str) -> None:
    """The East-Asian font on every text property of the chart (axes, legend, labels)."""
    for rpr in list(chart.element.iter(qn("a:defRPr"), qn("a:rPr"))):
        set_cjk_font(rpr, lang=lang)


def add_picture(slide: Any, png: bytes, box: tuple[int, int, int, int], px: tuple[int, int]) -> Any:
    """The picture centred in ``box``, as large as fits without distortion."""
    x, y, w, h = box
    ratio = min(w / px[0], h / px[1])
    width, height = int(px[0] * ratio), int(px[1] * ratio)
    return slide.shapes.add_picture(
        io.BytesIO(png), x + (w - width) // 2, y + (h - height) // 2, width, height
    )


def chart_slide(prs: Any, deck: Deck, spec: ChartSpec, picture: bytes | None) -> None:
    slide = new_slide(prs, deck, spec.title(deck.lang))
    with_note = bool(spec.note) and spec.kind != "map"  # a map picture carries its own note
    note_h = Inches(0.35) if with_note else 0
    box = (MARGIN, CONTENT_TOP, SLIDE_W - 2 * MARGIN, CONTENT_BOTTOM - CONTENT_TOP - note_h)
    if spec.kind == "map":
        if picture is not None:
            add_picture(slide, picture, box, MAP_PX)
        else:
            no_data(slide, deck)
    elif spec.is_empty:
        no_data(slide, deck)
    else:
        add_native_chart(slide, spec, box, deck.lang)
    if spec.note and with_note:
        note_box = (MARGIN, CONTENT_BOTTOM - note_h, SLIDE_W - 2 * MARGIN, note_h)
        add_text(slide, note_box, [(spec.note, 11, False, MUTED)], lang=deck.lang)
    set_notes(slide, panel_notes(spec.key, deck.lang, spec.note), deck.lang)


# --- the deck -------------------------------------------------------------------------------------


def _chart_or_none(snapshot: Snapshot, key: str, lang: str) -> ChartSpec | None:
    if key not in panels.CHART_BUILDERS:
        log.warning("deck: no chart builder for %r yet; slide left out", key)
        return None
    return panels.chart(snapshot, key, lang)


def _table_or_none(snapshot: Snapshot, key: str, lang: str) -> TableSpec | None:
    if key not in panels.TABLE_BUILDERS:
        log.warning("deck: no table builder for %r yet; slide left out", key)
        return None
    return panels.table(snapshot, key, lang)


def map_pictures(
    specs: dict[str, ChartSpec],
    geojson_for: GeojsonFor | None,
    renderer: Renderer | None,
    say: Progress,
    lang: str = "zh",
) -> dict[str, bytes]:
    """PNG pictures of the map panels by panel key, drawn on the server (one renderer, one at a time)."""
    maps = {k: s for k, s in specs.items() if s.kind == "map"}
    if not maps:
        return {}
    if geojson_for is None:
        raise ExportError("地图需要边界数据 / map slides need the unit boundaries (pass geojson_for)")
    say(f"正在渲染 {len(maps)} 张图片 / rendering {len(maps)} images …")
    renderer = renderer or get_renderer()
    pictures = {}
    for key, spec in maps.items():
        geojson = geojson_for(spec.map_level or "town", spec.map_parent)
        pictures[key] = render_panel_png(
            spec,
            width=MAP_PX[0],
            height=MAP_PX[1],
            scale=MAP_SCALE,
            geojson=geojson,
            renderer=renderer,
            lang=lang,
        )
    return pictures


def build_deck(
    snapshot: Snapshot,
    view: ViewState,
    *,
    pages: list[str] | None = None,
    geojson_for: Callable[[str, str | None], dict[str, Any]] | None = None,
    renderer: Renderer | None = None,
    progress: Progress | None = None,
    notice: str | None = None,
    title: str | None = None,
) -> bytes:
    """The PPTX bytes of ``view``: title, summary, KPI tiles, rankings, then the deck's panels of ``pages``
    (:data:`~dashboard.export.common.DECK_PANELS`).

    ``geojson_for(level, parent)`` gives map boundaries (``UnitDirectory.geojson``); ``renderer`` draws
    the map pictures (default: the process's kaleido renderer). Raises ExportError when a map cannot be
    drawn.
    """
    say = progress or (lambda _msg: None)
    chosen = parse_pages(pages)
    deck = deck_context(snapshot, view, notice, title)
    keys = [k for k in deck_keys(chosen) if k not in PAGE_PANELS["rankings"]]
    charts = {k: s for k in keys if k not in TABLE_PANELS and (s := _chart_or_none(snapshot, k, deck.lang))}
    # A panel with nothing to draw gets no slide (an empty 暂无数据 slide is no use in a meeting).
    charts = {k: s for k, s in charts.items() if s.kind == "map" or not s.is_empty}
    pictures = map_pictures(charts, geojson_for, renderer, say, deck.lang)
    say("正在生成幻灯片 / building the slides …")
    prs = new_presentation()
    title_slide(prs, deck)
    if "overview" in chosen:
        summary_slide(prs, deck, analyse(snapshot, deck.lang, kind=view.period))
        kpi_slides(prs, deck)
    if "rankings" in chosen:
        towns = _table_or_none(snapshot, "town_ranking", deck.lang)
        depts = _table_or_none(snapshot, "dept_ranking", deck.lang)
        rankings_slides(prs, deck, towns, depts)
    for key in keys:
        if key in charts:
            chart_slide(prs, deck, charts[key], pictures.get(key))
        elif key in TABLE_PANELS and (table := _table_or_none(snapshot, key, deck.lang)) and table.rows:
            table_slides(prs, deck, table)
    add_footers(prs, deck)
    out = io.BytesIO()
    prs.save(out)
    return out.getvalue()
