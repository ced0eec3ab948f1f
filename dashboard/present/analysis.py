"""The written analysis of a snapshot: what a 月分析 says in words, generated from the metric registry.

Every sentence states figures of the snapshot only, names the metric keys it states (``Line.keys``), and
says so where a figure is missing; it never invents one. The sections:

* **headline** (核心指标): the headline figures with their 环比 and 同比 (or why there is none);
* **highlights / problems** (亮点 / 问题): the largest improvements and deteriorations against the previous
  period that pass :func:`significant` (a rate moving by at least ``RATE_POINTS`` percentage points; a
  count or duration by at least ``SHARE`` of its previous figure and ``MIN_CHANGE`` in its unit), both
  figures standing on their metric's minimum base; a figure the registry colours red is a problem too;
* **best / worst** (红榜 / 黑榜): the units one level below the view with the highest and lowest on-time
  close rate, among those with at least the metric's minimum base of cases due;
* **hotspots** (超期热点): the grids with the most overdue open cases;
* **alerts** (告警): the alerts open at the snapshot's moment;
* **notes** (大事记): the notes staff put on the timeline (亚运会安保, a typhoon) that touch the period;
* **targets** (三降): the year-on-year change of 110 calls, property crime and major violent crime
  (a quarter's assessment), each judged by whether it fell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dashboard.core import domain
from dashboard.core.i18n import fmt_number, t, to_local
from dashboard.core.metrics import METRICS, Metric, change_of
from dashboard.core.snapshot import KpiValue, Snapshot
from dashboard.present.panels import shows_town_figure

HEADLINE = (
    "reported",
    "closed",
    "backlog",
    "overdue_open",
    "on_time_rate",
    "close_rate",
    "satisfaction_rate",
)
TARGETS = ("calls_110_yoy", "property_crime_yoy", "major_violent_yoy")
# Figures that describe rather than judge (more reports is not better or worse by itself) or that hold
# an instant, not a period, so a change against the previous period says nothing.
NOT_JUDGED = frozenset({"reported", "patrol_on_duty", "patrol_coverage_today", *TARGETS})
RATE_POINTS = 3.0  # a rate's change that counts: percentage points
SHARE = 0.15  # a count's or a duration's change that counts: share of its previous figure …
MIN_CHANGE = 5.0  # … and at least this much in its own unit (cases, hours)
MOST = 3  # sentences per list
SECTIONS = (
    ("headline", "核心指标", "Headline figures"),
    ("highlights", "亮点", "Improvements"),
    ("problems", "问题", "Problems"),
    ("best", "红榜", "Best units"),
    ("worst", "黑榜", "Units to watch"),
    ("hotspots", "超期热点", "Overdue hot spots"),
    ("alerts", "告警", "Alerts"),
    ("notes", "大事记", "Notes on the timeline"),
    ("targets", "三降目标", "Three-declines targets"),
)


@dataclass(frozen=True)
class Line:
    """One sentence and the metric keys whose figures it states."""

    text: str
    keys: tuple[str, ...] = ()


@dataclass
class Analysis:
    """The sections of :data:`SECTIONS`, each a list of lines (an empty list says "nothing to report")."""

    lang: str
    lines: dict[str, list[Line]] = field(default_factory=dict)

    def sections(self) -> list[tuple[str, list[Line]]]:
        """(title, lines) in order, the sections with something to say."""
        return [
            (en if self.lang == "en" else zh, self.lines[key])
            for key, zh, en in SECTIONS
            if self.lines.get(key)
        ]


def _pick(lang: str, zh: str, en: str) -> str:
    return en if lang == "en" else zh


def _figure(metric: Metric, value: float | None, lang: str) -> str:
    unit = metric.unit_en if lang == "en" else metric.unit
    if value is None:
        return "—"
    sep = "" if unit == "%" or lang == "zh" else " "
    return f"{fmt_number(value, metric.fmt)}{sep}{unit}"


def _label(metric: Metric, lang: str, snap: Snapshot) -> str:
    """The metric's name; on a village's or grid's view a figure kept per town says it is the town's
    (as its tile does), or a village's deck would call its town's 110 calls its own."""
    label = metric.label_en if lang == "en" else metric.label_zh
    if shows_town_figure(snap, metric.key):
        label += t("town_figure", lang)
    return label


def significant(metric: Metric, now: float, before: float) -> bool:
    """Whether a change from ``before`` to ``now`` is large enough to be written about (module note)."""
    delta = abs(now - before)
    if metric.unit == "%":
        return delta >= RATE_POINTS
    return delta >= MIN_CHANGE and before > 0 and delta / before >= SHARE


def improved(metric: Metric, now: float, before: float) -> bool:
    return now > before if metric.direction == "up" else now < before


def _delta_text(
    metric: Metric, now: float | None, before: float | None, lang: str, word: tuple[str, str]
) -> str:
    """``环比 +3.9%`` / ``+3.9% vs previous`` (points for a rate), or that there is no base to compare with."""
    found = change_of(metric, now, before)
    zh, en = word
    if found is None:
        return _pick(lang, f"{zh}无可比数据", f"no {en} base")
    if found.unit == "pt":
        amount = f"{found.amount:+.{max(metric.fmt, 1)}f}{_pick(lang, '个百分点', ' pt')}"
    elif found.unit == "%":
        amount = f"{found.amount:+.1f}%"
    else:
        amount = f"{found.amount:+,.{metric.fmt}f}"
    return _pick(lang, f"{zh} {amount}", f"{amount} vs {en}")


def _without_figure(snap: Snapshot, key: str, lang: str, why_zh: str, why_en: str) -> Line:
    """A metric with no figure says why, never a number: 办结量：本期无数据."""
    label = _label(METRICS[key], lang, snap)
    return Line(_pick(lang, f"{label}：{why_zh}", f"{label}: {why_en}"), (key,))


def _each_figure(
    snap: Snapshot,
    keys: Sequence[str],
    lang: str,
    why: tuple[str, str],
    say: Callable[[Metric, KpiValue, float], str],
) -> list[Line]:
    """A line for each of ``keys`` the snapshot has: what ``say`` writes of its figure, or ``why``
    (zh, en) it has none. A key the snapshot lacks is left out."""
    out = []
    for key in keys:
        kpi, metric = snap.kpis.get(key), METRICS[key]
        if kpi is None:
            continue
        if kpi.value is None:
            out.append(_without_figure(snap, key, lang, *why))
            continue
        out.append(Line(say(metric, kpi, kpi.value), (key,)))
    return out


def headline(snap: Snapshot, lang: str) -> list[Line]:
    """Each headline figure with its 环比 and 同比, or why there is none."""

    def say(metric: Metric, kpi: KpiValue, value: float) -> str:
        prev = _delta_text(metric, value, kpi.previous, lang, ("环比", "previous"))
        yoy = _delta_text(metric, value, kpi.last_year, lang, ("同比", "last-year"))
        figure = _figure(metric, value, lang)
        return _pick(
            lang,
            f"{_label(metric, lang, snap)} {figure}（{prev}；{yoy}）",
            f"{_label(metric, lang, snap)}: {figure} ({prev}; {yoy})",
        )

    return _each_figure(snap, HEADLINE, lang, ("本期无数据", "no data"), say)


def _changes(snap: Snapshot) -> list[tuple[float, str, KpiValue]]:
    """(size, key, kpi) of the significant changes, largest first (size: points, or share × 100)."""
    found = []
    for key, kpi in snap.kpis.items():
        metric = METRICS.get(key)
        if metric is None or key in NOT_JUDGED or kpi.value is None or kpi.previous is None:
            continue
        if not significant(metric, kpi.value, kpi.previous):
            continue
        d = abs(kpi.value - kpi.previous)
        size = d if metric.unit == "%" else d / kpi.previous * 100
        found.append((size, key, kpi))
    found.sort(key=lambda x: (-x[0], x[1]))
    return found


def _change_line(snap: Snapshot, key: str, kpi: KpiValue, lang: str) -> Line:
    metric = METRICS[key]
    before, now = _figure(metric, kpi.previous, lang), _figure(metric, kpi.value, lang)
    delta = _delta_text(metric, kpi.value, kpi.previous, lang, ("环比", "previous"))
    text = _pick(
        lang,
        f"{_label(metric, lang, snap)}由上期 {before} 变为 {now}（{delta}）",
        f"{_label(metric, lang, snap)} went from {before} to {now} ({delta})",
    )
    return Line(text, (key,))


def highlights_and_problems(snap: Snapshot, lang: str) -> tuple[list[Line], list[Line]]:
    """The largest significant improvements, and the largest deteriorations plus the figures in red."""
    good: list[Line] = []
    bad: list[Line] = []
    for _, key, kpi in _changes(snap):
        assert kpi.value is not None and kpi.previous is not None
        target = good if improved(METRICS[key], kpi.value, kpi.previous) else bad
        if len(target) < MOST:
            target.append(_change_line(snap, key, kpi, lang))
    stated = {k for line in bad for k in line.keys}
    for key, kpi in snap.kpis.items():
        if kpi.status == "bad" and key not in stated and key not in TARGETS and len(bad) < MOST + 2:
            metric = METRICS[key]
            bad.append(
                Line(
                    _pick(
                        lang,
                        f"{_label(metric, lang, snap)} {_figure(metric, kpi.value, lang)}，低于标准（{_rule(metric, lang)}）",
                        f"{_label(metric, lang, snap)} at {_figure(metric, kpi.value, lang)}, below standard ({_rule(metric, lang)})",
                    ),
                    (key,),
                )
            )
    return good, bad


def _rule(metric: Metric, lang: str) -> str:
    if metric.thresholds is None:
        return ""
    good, _ = metric.thresholds
    sign = "≥" if metric.direction == "up" else "≤"
    return _pick(
        lang,
        f"达标线 {sign}{fmt_number(good, 0)}{metric.unit}",
        f"standard {sign}{fmt_number(good, 0)}{metric.unit_en}",
    )


def _unit_name(row: Any, lang: str) -> str:
    return str(row.name_en if lang == "en" else row.name_zh)


def best_and_worst(snap: Snapshot, lang: str) -> tuple[list[Line], list[Line]]:
    """Units one level below the view by on-time close rate, among those with enough cases due."""
    metric = METRICS["on_time_rate"]
    rows = [
        r
        for r in snap.rankings.get("units") or snap.rankings.get("towns", [])
        if r.values.get("on_time_rate") is not None
        and (r.values.get("due") or 0) >= metric.min_base
        and r.code != domain.UNGRIDDED_CODE  # 未落网格 is not a unit to praise or blame
    ]
    if len(rows) < 2:
        note = _pick(
            lang,
            f"下级单位应办结件均不足 {fmt_number(metric.min_base)} 件，不排红黑榜",
            f"no unit below has {fmt_number(metric.min_base)} cases due: no best or worst list",
        )
        return [Line(note, ("on_time_rate",))], []
    rows.sort(key=lambda r: (-float(r.values["on_time_rate"] or 0), -float(r.values.get("due") or 0), r.code))
    n = min(MOST, len(rows) // 2)

    def line(r: Any) -> Line:
        rate, due = _figure(metric, r.values["on_time_rate"], lang), fmt_number(r.values.get("due"))
        return Line(
            _pick(
                lang,
                f"{_unit_name(r, lang)}：按期办结率 {rate}（应办结 {due} 件）",
                f"{_unit_name(r, lang)}: on time {rate} of {due} due",
            ),
            ("on_time_rate",),
        )

    return [line(r) for r in rows[:n]], [line(r) for r in reversed(rows[-n:])]


def hotspots(snap: Snapshot, lang: str) -> list[Line]:
    """The grids with the most overdue open cases."""
    rows = [g for g in snap.backlog.get("top_grids", []) if g.get("overdue")][: MOST + 2]
    return [
        Line(
            _pick(
                lang,
                f"{g.get('name_zh')}：超期 {fmt_number(g['overdue'])} 件，在办 {fmt_number(g.get('backlog'))} 件",
                f"{g.get('name_en')}: {fmt_number(g['overdue'])} overdue of {fmt_number(g.get('backlog'))} open",
            ),
            ("overdue_open", "backlog"),
        )
        for g in rows
    ]


def alert_lines(snap: Snapshot, lang: str) -> list[Line]:
    """The alerts open at the snapshot's moment (their own wording, as on the wall)."""
    out = [
        Line(str(a.get("text_en") if lang == "en" else a.get("text_zh")), ()) for a in snap.alerts[: MOST + 2]
    ]
    if len(snap.alerts) > len(out):
        more = len(snap.alerts) - len(out)
        out.append(Line(_pick(lang, f"另有 {more} 条告警", f"{more} more alerts")))
    return out


def note_lines(snap: Snapshot, lang: str) -> list[Line]:
    """The notes on the timeline that touch the period (not the 90 days before it), one line listing
    them with their dates: what the figures of the period went through."""
    from dashboard.present.panels import note_text

    start, end = snap.period_start, snap.period_end
    found = []
    for note in snap.annotations:
        starts, ends = str(note["starts_at"]), note.get("ends_at")
        if _utc(starts) >= _utc(end) or _utc(str(ends or starts)) < _utc(start):
            continue
        found.append(_pick(lang, "", " ").join((note_text(note, lang), _dates(starts, ends, lang))))
    if not found:
        return []
    return [Line(_pick(lang, "；", "; ").join(found))]  # under its section's title, 大事记


def _utc(moment: str) -> dt.datetime:
    return dt.datetime.fromisoformat(moment).astimezone(dt.UTC)


def _dates(starts: str, ends: Any, lang: str) -> str:
    """``(5月1日 08:00—5月3日)``: a note's local dates; a whole local day loses its time, and a period
    ending at midnight names its last day (its end is exclusive)."""

    def one(moment: str, *, end: bool = False) -> str:
        local = to_local(dt.datetime.fromisoformat(moment))
        midnight = (local.hour, local.minute) == (0, 0)
        if end and midnight:
            local -= dt.timedelta(days=1)
        day = local.strftime("%d %b") if lang == "en" else f"{local.month}月{local.day}日"
        return day if midnight else f"{day} {local.strftime('%H:%M')}"

    text = one(starts) if not ends else f"{one(starts)}—{one(str(ends), end=True)}"
    return f"({text})" if lang == "en" else f"（{text}）"


def targets(snap: Snapshot, lang: str) -> list[Line]:
    """三降: each year-on-year change, and whether it fell (the target is a decline)."""

    def say(metric: Metric, _kpi: KpiValue, value: float) -> str:
        fell = value < 0
        verdict = _pick(
            lang, "已实现下降" if fell else "未实现下降", "fell: on target" if fell else "did not fall"
        )
        return f"{_label(metric, lang, snap)} {value:+.1f}%{_pick(lang, '，', ', ')}{verdict}"

    return _each_figure(snap, TARGETS, lang, ("去年同期无可比数据", "no last-year base"), say)


def analyse(snap: Snapshot, lang: str = "zh", *, kind: str | None = None) -> Analysis:
    """The written analysis of ``snap`` (``kind`` "quarter" adds the 三降 targets)."""
    good, bad = highlights_and_problems(snap, lang)
    best, worst = best_and_worst(snap, lang)
    lines = {
        "headline": headline(snap, lang),
        "highlights": good or [Line(_pick(lang, "本期无显著改善的指标", "no figure improved significantly"))],
        "problems": bad
        or [
            Line(
                _pick(
                    lang,
                    "本期无显著恶化或低于标准的指标",
                    "no figure worsened significantly or fell below standard",
                )
            )
        ],
        "best": best,
        "worst": worst,
        "hotspots": hotspots(snap, lang),
        "alerts": alert_lines(snap, lang),
        "notes": note_lines(snap, lang),
    }
    if kind == "quarter" or snap.view.get("period") == ["quarter"]:
        lines["targets"] = targets(snap, lang)
    return Analysis(lang, lines)
