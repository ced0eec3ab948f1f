"""Panels: what each chart or table shows, taken from a snapshot, independent of how it is drawn.

A panel is described once here as a :class:`ChartSpec` (categories + named series) or a
:class:`TableSpec` (columns + rows). The screens turn a ChartSpec into a plotly figure
(:func:`dashboard.present.figures.from_spec`), the slide export into a native, editable PowerPoint chart; so the
numbers on the wall, in the browser and in the deck are the same numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from dashboard.core import domain
from dashboard.core.metrics import METRICS, has_base
from dashboard.core.snapshot import Snapshot
from dashboard.present.theme import AGE_COLOURS, CLOSED_COLOUR, LAST_YEAR_COLOUR, REPORTED_COLOUR

CHART_KINDS = ("line", "bar", "hbar", "stacked_hbar", "stacked_bar", "donut", "map")


@dataclass
class Series:
    name: str
    values: list[float | None]
    colour: str | None = None
    dashed: bool = False  # e.g. last year's overlay


@dataclass(frozen=True)
class Mark:
    """A note on the timeline over a line chart's buckets: a moment (``end`` None) in bucket ``start``, or
    a period from bucket ``start`` to bucket ``end`` (both included; clipped to the chart's buckets)."""

    start: int
    end: int | None
    text: str
    note_id: int | None = None


@dataclass
class ChartSpec:
    key: str
    title_zh: str
    title_en: str
    kind: str  # one of CHART_KINDS
    categories: list[str] = field(default_factory=list)  # labels in the chosen language
    codes: list[str] = field(default_factory=list)  # unit codes per category (drill-down), if any
    series: list[Series] = field(default_factory=list)
    percent: bool = False  # values are percentages (0–100)
    map_level: str | None = None  # for kind == "map": town | village | grid
    map_parent: str | None = None
    map_texts: list[str] = field(default_factory=list)
    map_outlined: list[str] = field(default_factory=list)  # units holding an open alert (outlined)
    note: str | None = None  # e.g. "illustrative boundaries"
    # For kind == "line": the bucket still running at the snapshot's moment (today, this week). Its count
    # is partial; drawn like the others, every line would dive at its right end and read as a fall.
    running: int | None = None
    running_label: str | None = None  # says the bucket is partial: "今日截至 01:30"
    # The wall's words for it where the long form does not fit: an English legend row ("Reported",
    # "Closed", "Today to 01:30") wrapped onto a second line of a quarter-width wall panel.
    running_short: str | None = None
    marks: list[Mark] = field(default_factory=list)  # kind == "line": notes on the timeline
    empty_text: str | None = None  # what an empty chart says, when more than "暂无数据" is true

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_zh

    @property
    def is_empty(self) -> bool:
        """No categories, or nothing to draw. A rate of 0 % is a figure (five towns not yet patrolled at
        01:30 are the lowest five), so only a count chart of zeros counts as empty."""
        if not self.categories:
            return True
        blank = (None,) if self.percent else (None, 0)
        return all(all(v in blank for v in s.values) for s in self.series)


@dataclass
class TableSpec:
    key: str
    title_zh: str
    title_en: str
    columns: list[str]
    rows: list[list[Any]]
    numeric_from: int = 1
    row_codes: list[str] = field(default_factory=list)
    # A ranking: how many of its first rows hold a rank (the rest have too little due to be ranked, and
    # a trimmed ranking's "lowest" rows are taken from the ranked ones only). None: not a ranking.
    ranked: int | None = None
    empty_text: str | None = None  # what an empty table says instead of "—"

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_zh


def trim(spec: ChartSpec, limit: int) -> ChartSpec:
    """The first ``limit`` categories of a bar chart (the wall has room for ten bars, not thirty)."""
    if spec.kind not in {"hbar", "stacked_hbar", "bar", "stacked_bar"} or len(spec.categories) <= limit:
        return spec
    series = [Series(s.name, s.values[:limit], s.colour, s.dashed) for s in spec.series]
    return replace(spec, categories=spec.categories[:limit], codes=spec.codes[:limit], series=series)


LOWEST_FIRST = {"patrol_coverage"}  # charts sorted worst (lowest) first: trimmed, they keep the lowest


def fit_rows(spec: TableSpec, limit: int, *, both_ends: bool = False) -> TableSpec:
    """At most ``limit`` rows: the first ones, or, for a ranking (``both_ends``), the first and the last
    around a ``⋯`` row, so a wall that has room for eleven rows still shows who is at the bottom."""
    if len(spec.rows) <= limit:
        return spec
    if not both_ends or limit < 3:
        return replace(spec, rows=spec.rows[:limit], row_codes=spec.row_codes[:limit])
    # The bottom of a ranking is its lowest *ranked* units, never those with nothing due.
    n = len(spec.rows) if spec.ranked is None else spec.ranked
    if n <= limit:
        return replace(spec, rows=spec.rows[:limit], row_codes=spec.row_codes[:limit])
    rows, row_codes = spec.rows[:n], spec.row_codes[:n]
    head = (limit - 1) // 2
    tail = limit - 1 - head
    gap = ["⋯"] + [""] * (len(spec.columns) - 1)
    codes = [*row_codes[:head], "", *row_codes[-tail:]] if row_codes else []
    return replace(spec, rows=[*rows[:head], gap, *rows[-tail:]], row_codes=codes)


def chart(snapshot: Snapshot, key: str, lang: str) -> ChartSpec:
    """The chart ``key`` (see CHART_BUILDERS) for ``snapshot`` in ``lang``."""
    return CHART_BUILDERS[key](snapshot, lang)


def table(snapshot: Snapshot, key: str, lang: str) -> TableSpec:
    """The table ``key`` (see TABLE_BUILDERS) for ``snapshot`` in ``lang``."""
    return TABLE_BUILDERS[key](snapshot, lang)


CHART_BUILDERS: dict[str, Any] = {}
TABLE_BUILDERS: dict[str, Any] = {}


# --- Builders ---------------------------------------------------------------------------------------


TITLES: dict[str, tuple[str, str]] = {
    "trend_90d": ("近90天上报与办结", "Reported vs closed, last 90 days"),
    "trend_period": ("上报与办结趋势（含去年同期）", "Reported vs closed, with last year"),
    "by_category": ("事件类别构成", "Cases by category"),
    "by_category_bar": ("按类别", "By category"),
    "by_source": ("按来源", "By source"),
    "by_dept": ("按承办部门", "By department"),
    "backlog_ageing": ("在办件积压时长分布", "Open cases by age"),
    "backlog_map": ("每千人在办件", "Open cases per 1,000 residents"),
    "ontime_weekly": ("按期办结率（周）", "On-time close rate (weekly)"),
    "patrol_coverage": ("各单位今日巡查覆盖率", "Patrol coverage today"),
    "patrol_map": ("距上次有效巡查小时数", "Hours since last valid patrol"),
    "on_duty": ("在岗巡防力量 / 编制", "Patrol forces on duty vs strength"),
    "town_ranking": ("镇街排名（按期办结率）", "Town ranking (on-time close rate)"),
    "town_ranking_short": ("镇街排名前十", "Top 10 towns"),
    "dept_ranking": ("部门排名（按期办结率）", "Department ranking (on-time close rate)"),
    "top_grids": ("超期件最多的网格", "Grids with most overdue cases"),
    "video_offline": ("离线最久的视频点位", "Video points offline longest"),
    "open_cases": ("网格在办件", "Open cases in the grid"),
}
AGE_LABELS = {
    "lt1d": ("<1天", "<1 d"),
    "d1_3": ("1–3天", "1–3 d"),
    "d3_7": ("3–7天", "3–7 d"),
    "d7_30": ("7–30天", "7–30 d"),
    "gt30d": (">30天", ">30 d"),
}
ILLUSTRATIVE = ("示意边界，非法定界线", "Illustrative boundaries, not legal ones")


def _pick(lang: str, pair: tuple[str, str]) -> str:
    return pair[1] if lang == "en" else pair[0]


def _name(row: dict[str, Any] | Any, lang: str) -> str:
    if isinstance(row, dict):
        code = str(row.get("code") or row.get("grid_code") or "")
        name = str(row.get("name_en") if lang == "en" else row.get("name_zh")) or code
    else:
        name, code = str(row.name_en if lang == "en" else row.name_zh), str(row.code)
    return _without_town(name, code) if lang == "en" else name


def _without_town(name: str, code: str) -> str:
    """A village's or grid's English name without its town ("Community 001, Guali Zhen" → "Community
    001", "Community 003, Chengxiang Jiedao grid 4" → "Community 003 grid 4"): they are listed inside
    their town's view, where the town is the title, or beside a town column, and the long form wrapped
    every row of a wall table onto two or three lines (six of ten grids shown at 1920×1080)."""
    town = domain.town_by_code().get(code[:9]) if len(code) > 9 else None
    return name.replace(f", {town.name_en}", "", 1) if town else name


def breadcrumb_steps(snap: Snapshot, lang: str) -> list[tuple[str, str, str]]:
    """(level, code, name) from the district down to the view's unit, as the snapshot's breadcrumb holds
    them (lists, or dicts in a snapshot stored by an older version)."""
    out = []
    for step in snap.backlog.get("breadcrumb") or []:
        if isinstance(step, dict):
            level, code, zh, en = (step.get(k) for k in ("level", "code", "name_zh", "name_en"))
        else:
            level, code, zh, en = step[0], step[1], step[2], step[3]
        out.append((str(level), str(code), str(en if lang == "en" else zh)))
    return out


def unit_chain(snap: Snapshot, lang: str) -> list[str]:
    """The names from the town down to the view's village or grid (城厢街道 · 湘湖社区), each English
    name without the town the chain already names; empty without a breadcrumb."""
    steps = breadcrumb_steps(snap, lang)
    return [
        _without_town(name, code) if lang == "en" else name
        for level, code, name in steps
        if level in {"town", "village", "grid"}
    ]


def map_parent(snap: Snapshot) -> str | None:
    """The unit whose children a map of the view draws: none for the district (its towns), the town or
    village itself, and a grid's village for a grid's view (its own outline is among its village's
    grids; asked for under the grid's code, none were found and the legend stood over an empty map)."""
    level, code = snap.backlog.get("level"), snap.backlog.get("code")
    if level == "grid" and code:
        return str(code)[:12]
    return str(code) if level in {"town", "village"} and code else None


def shows_town_figure(snap: Snapshot, key: str) -> bool:
    """True when the view is a village or a grid and metric ``key`` is kept per town only (the registry's
    ``per_town``): the figure shown is its town's, and the tile, on a screen or a slide, says so."""
    metric = METRICS.get(key)
    return bool(metric and metric.per_town) and snap.backlog.get("level") in {"village", "grid"}


def no_smaller_units(snap: Snapshot, lang: str) -> str | None:
    """What a chart of the units inside the view says when the view is a grid: it has none (not that
    there is no data: the grid's tiles above have figures)."""
    if snap.backlog.get("level") != "grid":
        return None
    return _pick(lang, ("网格是最小单元，没有下级单位", "A grid has no smaller units"))


def _spec(key: str, kind: str, **kwargs: Any) -> ChartSpec:
    zh, en = TITLES[key]
    return ChartSpec(key=key, title_zh=zh, title_en=en, kind=kind, **kwargs)


def _table(key: str, columns: list[str], rows: list[list[Any]], **kwargs: Any) -> TableSpec:
    zh, en = TITLES[key]
    return TableSpec(key=key, title_zh=zh, title_en=en, columns=columns, rows=rows, **kwargs)


def _fmt(value: Any, decimals: int = 1, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or decimals == 0:
        return f"{round(float(value)):,}{suffix}"
    return f"{float(value):,.{decimals}f}{suffix}"


def backlog_ageing(snap: Snapshot, lang: str) -> ChartSpec:
    units = sorted(snap.backlog.get("units", []), key=lambda u: -(u.get("backlog") or 0))[:30]
    buckets = snap.backlog.get("age_buckets", list(AGE_LABELS))
    series = [
        Series(
            _pick(lang, AGE_LABELS.get(b, (b, b))),
            [u.get(b, 0) for u in units],
            AGE_COLOURS[i % len(AGE_COLOURS)],
        )
        for i, b in enumerate(buckets)
    ]
    return _spec(
        "backlog_ageing",
        "stacked_hbar",
        categories=[_name(u, lang) for u in units],
        codes=[u["code"] for u in units],
        series=series,
        empty_text=no_smaller_units(snap, lang),
    )


def alerted(snap: Snapshot, codes: list[str]) -> list[str]:
    """The units among ``codes`` that hold an open alert, on themselves or on a unit inside them (codes
    nest: a village's code begins with its town's)."""
    hit = {str(a.get("unit_code") or "") for a in snap.alerts} - {""}
    return [code for code in codes if any(unit.startswith(code) for unit in hit)]


def backlog_map(snap: Snapshot, lang: str) -> ChartSpec:
    # 未落网格 (town-level cases) has no shape to colour: it stays in the lists, off the map.
    units = [u for u in snap.backlog.get("units", []) if u.get("code") != domain.UNGRIDDED_CODE]
    level = snap.backlog.get("child_level") or "grid"
    per = _pick(lang, ("每千人", "per 1,000"))
    texts = [
        f"{_name(u, lang)}<br>{_pick(lang, ('在办', 'Open'))} {u.get('backlog', 0):,} · {per} {_fmt(u.get('per_1000'), 2)}"
        for u in units
    ]
    return _spec(
        "backlog_map",
        "map",
        categories=[_name(u, lang) for u in units],
        codes=[u["code"] for u in units],
        series=[Series(per, [u.get("per_1000") for u in units])],
        map_level=level,
        map_parent=map_parent(snap),
        map_texts=texts,
        map_outlined=alerted(snap, [u["code"] for u in units]),
        note=_pick(lang, ILLUSTRATIVE),
        empty_text=no_smaller_units(snap, lang),
    )


def top_grids(snap: Snapshot, lang: str) -> TableSpec:
    rows = snap.backlog.get("top_grids", [])
    towns = domain.town_by_code()
    cols = ["Grid", "Town", "Overdue", "Open"] if lang == "en" else ["网格", "镇街", "超期件", "在办件"]
    body = []
    for r in rows[:15]:
        town = towns.get(r.get("town_code", ""))
        town_name = (town.name_en if lang == "en" else town.name_zh) if town else ""
        body.append([_name(r, lang), town_name, _fmt(r.get("overdue"), 0), _fmt(r.get("backlog"), 0)])
    return _table(
        "top_grids", cols, body, numeric_from=2, row_codes=[r.get("grid_code", "") for r in rows[:15]]
    )


def open_cases(snap: Snapshot, lang: str) -> TableSpec:
    cases = snap.backlog.get("cases", [])
    cols = (
        ["Case no.", "Category", "Age (days)", "Overdue", "Title"]
        if lang == "en"
        else ["事件编号", "类别", "已积压(天)", "超期", "标题"]
    )
    yes = "Yes" if lang == "en" else "是"
    body = [
        [
            c["event_no"],
            _pick(lang, (domain.CATEGORIES[c["category"]].zh, domain.CATEGORIES[c["category"]].en))
            if c.get("category") in domain.CATEGORIES
            else c.get("category", ""),
            _fmt(c.get("age_days"), 1),
            yes if c.get("overdue") else "",
            c.get("title", ""),
        ]
        for c in cases
    ]
    return _table("open_cases", cols, body, numeric_from=2)


UNIT_WORDS = {"town": ("镇街", "towns"), "village": ("村社", "villages"), "grid": ("网格", "grids")}
RANKING_TITLES = {  # the units ranked are the ones one level below the view: the title names them
    "town_ranking": ("{zh}排名（按期办结率）", "{En} ranking (on-time close rate)"),
    "town_ranking_short": ("{zh}排名前十", "Top 10 {en}"),
}


def unit_level(code: str | None) -> str:
    """town, village or grid, from a unit code's length (9, 12 or 15 digits)."""
    return {12: "village", 15: "grid"}.get(len(code or ""), "town")


def ranked_units(snap: Snapshot) -> list[Any]:
    """The units one level below the view, ranked (snapshots made before ``units`` existed: towns)."""
    return list(snap.rankings.get("units") or snap.rankings.get("towns", []))


def _ranking_title(key: str, rows: list[Any]) -> tuple[str, str]:
    first = rows[0] if rows else None
    code = (first.code if hasattr(first, "code") else first.get("code")) if first is not None else None
    zh, en = UNIT_WORDS[unit_level(code)]
    title_zh, title_en = RANKING_TITLES[key]
    return title_zh.format(zh=zh), title_en.format(en=en, En=en.capitalize())


def _ranking(key: str, rows: list[Any], lang: str, limit: int | None = None) -> TableSpec:
    cols = (
        ["#", "Unit", "On time", "Closed", "Overdue", "Avg h", "Due"]  # short: a wall column stays one line
        if lang == "en"
        else ["名次", "单位", "按期办结率", "办结率", "超期件", "平均办结(小时)", "应办结"]
    )
    body = []
    ranked = 0
    for r in rows[:limit]:
        v = r.values if hasattr(r, "values") else r["values"]
        ranked += v.get("rank") is not None
        body.append(
            [
                "—" if v.get("rank") is None else str(v["rank"]),
                _name(r, lang),
                _fmt(v.get("on_time_rate"), 1, "%"),
                _fmt(v.get("close_rate"), 1, "%"),
                _fmt(v.get("overdue"), 0),
                _fmt(v.get("mean_hours_to_close"), 1),
                _fmt(v.get("due"), 0),
            ]
        )
    codes = [r.code if hasattr(r, "code") else r["code"] for r in rows[:limit]]
    spec = _table(key, cols, body, numeric_from=2, row_codes=codes, ranked=ranked)
    if key in RANKING_TITLES:
        spec.title_zh, spec.title_en = _ranking_title(key, rows)
    if ranked < len(body):
        # A "—" rank is a designed state, not missing data: early in a period (本月 at 09:00 on the 1st is
        # nine hours) most units have fewer cases due than a rate needs, and the title says so.
        base = f"{METRICS[RANKING_METRIC].min_base:g}"
        spec.title_zh += f" · —：应办结不足{base}件，不排名"
        spec.title_en += f" · —: under {base} due, not ranked"
    return spec


RANKING_METRIC = "on_time_rate"  # the query ranks by it, and ranks only units on its minimum base


CHART_BUILDERS.update({"backlog_ageing": backlog_ageing, "backlog_map": backlog_map})
TABLE_BUILDERS.update(
    {
        "top_grids": top_grids,
        "open_cases": open_cases,
        "town_ranking": lambda s, lang: _ranking("town_ranking", ranked_units(s), lang),
        "town_ranking_short": lambda s, lang: _ranking("town_ranking_short", ranked_units(s), lang, 10),
        "dept_ranking": lambda s, lang: _ranking("dept_ranking", s.rankings.get("departments", []), lang),
    }
)


def patrol_coverage(snap: Snapshot, lang: str) -> ChartSpec:
    # Lowest first, among the units with enough grids to be ranked (the registry's minimum base).
    metric = METRICS["patrol_coverage_today"]
    every = snap.patrol.get("units", [])
    ranked = [
        u for u in every if has_base(metric, {"covered": u.get("covered_today"), "grids": u.get("grids")})
    ]
    units = sorted(ranked, key=lambda u: u.get("coverage_today") or 0)[:30]
    # A town's villages have two or three grids each: most are below the base, and a chart of three
    # villages out of eighty must say why the others are not on it.
    left_out = len(every) - len(ranked)
    base = f"{metric.min_base:g}"
    note = (
        _pick(
            lang,
            (
                f"网格不足{base}个的单位（{left_out}个）未列出",
                f"{left_out} units with under {base} grids not shown",
            ),
        )
        if left_out
        else None
    )
    return _spec(
        "patrol_coverage",
        "hbar",
        note=note,
        categories=[_name(u, lang) for u in units],
        codes=[u["code"] for u in units],
        series=[
            Series(
                _pick(lang, ("今日覆盖率", "Today")), [u.get("coverage_today") for u in units], CLOSED_COLOUR
            ),
        ],
        percent=True,
        empty_text=no_smaller_units(snap, lang) or note,  # (none ranked: the note says why)
    )


def patrol_map(snap: Snapshot, lang: str) -> ChartSpec:
    grids = snap.patrol.get("grids", [])
    hours_word = _pick(lang, ("小时", "h"))
    never = _pick(lang, ("30天内无有效巡查", "no valid patrol in 30 days"))
    # A grid never patrolled in the look-back window is shown at the top of the scale.
    values = [g["hours"] if g.get("hours") is not None else 720.0 for g in grids]
    texts = [
        f"{g['grid_code']}<br>{_fmt(g['hours'], 1)} {hours_word}"
        if g.get("hours") is not None
        else f"{g['grid_code']}<br>{never}"
        for g in grids
    ]
    return _spec(
        "patrol_map",
        "map",
        categories=[g["grid_code"] for g in grids],
        codes=[g["grid_code"] for g in grids],
        series=[Series(_pick(lang, ("距上次巡查(小时)", "Hours since patrol")), values)],
        map_level="grid",
        map_parent=map_parent(snap),
        map_texts=texts,
        map_outlined=alerted(snap, [g["grid_code"] for g in grids]),
        note=_pick(lang, ILLUSTRATIVE),
    )


def on_duty(snap: Snapshot, lang: str) -> ChartSpec:
    forces = snap.patrol.get("on_duty", {})
    labels = [str(v.get("label_en") if lang == "en" else v.get("label_zh")) for v in forces.values()]
    return _spec(
        "on_duty",
        "hbar",
        categories=labels,
        series=[
            Series(
                _pick(lang, ("在岗", "On duty")), [v.get("on_duty") for v in forces.values()], REPORTED_COLOUR
            ),
            Series(
                _pick(lang, ("编制", "Strength")),
                [v.get("strength") for v in forces.values()],
                LAST_YEAR_COLOUR,
            ),
        ],
    )


def video_offline(snap: Snapshot, lang: str) -> TableSpec:
    towns = domain.town_by_code()
    rows = snap.patrol.get("video_offline", [])
    cols = (
        ["Point", "Town", "Offline since", "Hours"]
        if lang == "en"
        else ["点位", "镇街", "离线开始", "离线(小时)"]
    )
    from dashboard.core.i18n import fmt_datetime

    body = []
    for r in rows:
        town = towns.get(r.get("town_code", ""))
        body.append(
            [
                r.get("name", r.get("point_code", "")),
                (town.name_en if lang == "en" else town.name_zh) if town else "",
                fmt_datetime(r.get("since"), lang),
                _fmt(r.get("hours"), 1),
            ]
        )
    video = snap.kpis.get("video_online_rate")
    installed = bool(video and video.detail.get("points"))  # none offline says more than "—" only then
    every_online = _pick(lang, ("所有点位在线", "Every camera online")) if installed else None
    return _table("video_offline", cols, body, numeric_from=3, empty_text=every_online)


CHART_BUILDERS.update({"patrol_coverage": patrol_coverage, "patrol_map": patrol_map, "on_duty": on_duty})
TABLE_BUILDERS.update({"video_offline": video_offline})


def _counts(key: str, snap: Snapshot, field_name: str, lang: str, kind: str, limit: int = 16) -> ChartSpec:
    rows = sorted(snap.trends.get(field_name, []), key=lambda r: -(r.get("count") or 0))[:limit]
    return _spec(
        key,
        kind,
        categories=[_name(r, lang) for r in rows],
        codes=[str(r.get("code")) for r in rows],
        series=[Series(_pick(lang, ("上报量", "Reported")), [r.get("count") for r in rows], REPORTED_COLOUR)],
    )


def running_bucket(labels: list[str], unit: str, now: str) -> int | None:
    """The index of the bucket that contains the snapshot's moment ``now`` (ISO, UTC), if one does."""
    from dashboard.core.i18n import to_local
    from dashboard.core.periods import label_of

    if not labels or not now:
        return None
    moment = to_local(dt.datetime.fromisoformat(now))
    label = label_of(moment.strftime("%Y-%m-%d %H"), unit)
    return labels.index(label) if label in labels else None


RUNNING_WORDS = {
    "hour": ("本小时截至 {t}", "This hour to {t}"),
    "day": ("今日截至 {t}", "Today to {t}"),
    "week": ("本周截至 {d} {t}", "This week to {d} {t}"),
    "month": ("本月截至 {d} {t}", "This month to {d} {t}"),
}


RUNNING_SHORT_EN = "So far"  # the wall's English (the Chinese long form fits its legend row)


def running_label(unit: str, now: str, lang: str) -> str:
    """``今日截至 01:30``: the words beside a running bucket's partial value (local time)."""
    from dashboard.core.i18n import to_local

    moment = to_local(dt.datetime.fromisoformat(now))
    day = f"{moment.month}月{moment.day}日" if lang != "en" else moment.strftime("%d %b")
    zh, en = RUNNING_WORDS.get(unit, RUNNING_WORDS["day"])
    return (en if lang == "en" else zh).format(t=moment.strftime("%H:%M"), d=day)


def _running(labels: list[str], unit: str, snap: Snapshot, lang: str) -> dict[str, Any]:
    """``running`` and ``running_label`` of a line chart over ``labels`` bucketed by ``unit``."""
    index = running_bucket(labels, unit, snap.now)
    if index is None:
        return {"running": None, "running_label": None}
    short = RUNNING_SHORT_EN if lang == "en" else None
    return {"running": index, "running_label": running_label(unit, snap.now, lang), "running_short": short}


def _local_label(moment: str, unit: str) -> str:
    from dashboard.core.i18n import to_local
    from dashboard.core.periods import label_of

    return label_of(to_local(dt.datetime.fromisoformat(moment)).strftime("%Y-%m-%d %H"), unit)


def note_text(note: dict[str, Any], lang: str) -> str:
    """A note's label: its text, and its towns' names when it is about some towns only."""
    towns = domain.town_by_code()
    names = [
        (towns[c].name_en if lang == "en" else towns[c].name_zh) if c in towns else c
        for c in note.get("towns") or []
    ]
    where = f" ({', '.join(names)})" if names and lang == "en" else f"（{'、'.join(names)}）" if names else ""
    return f"{note.get('text', '')}{where}"


def marks_of(labels: list[str], unit: str, snap: Snapshot, lang: str) -> list[Mark]:
    """The snapshot's notes on the timeline over buckets ``labels`` (sortable: ISO dates, weeks' Mondays,
    months, hours) of ``unit``: a moment in its bucket, a period over the buckets it touches. Notes
    outside the buckets are left out; a period reaching past either end is cut at it."""
    if not labels:
        return []
    out = []
    for note in snap.annotations:
        first = _local_label(str(note["starts_at"]), unit)
        ends_at = note.get("ends_at")
        # A period's end is exclusive: a note to midnight ends in the day before.
        last = (
            first
            if not ends_at
            else _local_label(
                (dt.datetime.fromisoformat(str(ends_at)) - dt.timedelta(seconds=1)).isoformat(), unit
            )
        )
        if last < labels[0] or first > labels[-1]:
            continue
        start = labels.index(first) if first in labels else 0
        end = labels.index(last) if last in labels else len(labels) - 1
        out.append(Mark(start, None if not ends_at else end, note_text(note, lang), note.get("id")))
    return out


def trend_90d(snap: Snapshot, lang: str) -> ChartSpec:
    last = snap.trends.get("last90", {})
    labels = [str(x) for x in last.get("labels", [])]
    return _spec(
        "trend_90d",
        "line",
        categories=[x[5:] if len(x) == 10 else x for x in labels],
        series=[
            Series(_pick(lang, ("上报", "Reported")), list(last.get("reported", [])), REPORTED_COLOUR),
            Series(_pick(lang, ("办结", "Closed")), list(last.get("closed", [])), CLOSED_COLOUR),
        ],
        marks=marks_of(labels, "day", snap, lang),
        **_running(labels, "day", snap, lang),
    )


def trend_period(snap: Snapshot, lang: str) -> ChartSpec:
    tr = snap.trends
    series = [
        Series(_pick(lang, ("上报", "Reported")), list(tr.get("reported", [])), REPORTED_COLOUR),
        Series(_pick(lang, ("办结", "Closed")), list(tr.get("closed", [])), CLOSED_COLOUR),
    ]
    # Last year's line only where last year has data: a flat zero from a source that starts this year is
    # no "same period last year".
    if any(tr.get("reported_ly") or []):
        series.append(
            Series(
                _pick(lang, ("去年同期上报", "Reported last year")),
                list(tr["reported_ly"]),
                LAST_YEAR_COLOUR,
                True,
            )
        )
    labels = [str(x) for x in tr.get("labels", [])]
    return _spec(
        "trend_period",
        "line",
        categories=labels,
        series=series,
        marks=marks_of(labels, str(tr.get("bucket", "day")), snap, lang),
        **_running(labels, str(tr.get("bucket", "day")), snap, lang),
    )


def ontime_weekly(snap: Snapshot, lang: str) -> ChartSpec:
    weekly = snap.trends.get("on_time_weekly", {})
    labels = [str(x) for x in weekly.get("labels", [])]
    return _spec(
        "ontime_weekly",
        "line",
        categories=labels,
        **_running(labels, "week", snap, lang),
        series=[
            Series(
                _pick(lang, ("按期办结率", "On-time rate")),
                list(weekly.get("on_time_rate", [])),
                CLOSED_COLOUR,
            )
        ],
        percent=True,
    )


CHART_BUILDERS.update(
    {
        "trend_90d": trend_90d,
        "trend_period": trend_period,
        "ontime_weekly": ontime_weekly,
        "by_category": lambda s, lang: _counts("by_category", s, "by_category", lang, "donut", 10),
        "by_category_bar": lambda s, lang: _counts("by_category_bar", s, "by_category", lang, "hbar"),
        "by_source": lambda s, lang: _counts("by_source", s, "by_source", lang, "hbar"),
        "by_dept": lambda s, lang: _counts("by_dept", s, "by_dept", lang, "hbar"),
    }
)
