"""The metric registry: every KPI the dashboard shows, with its labels, unit, formula and thresholds.

One entry per metric key, in the order screens and slides show them. Screens take labels and units
from here, the threshold colour comes from :func:`status_of`, and each metric's ``formula`` says, once,
which named counts it needs and how they combine (:mod:`dashboard.core.formulas`): ``count("reported")``,
``rate("cohort_closed", "collected")``, ``mean("hours_sum", "hours_n")``, ``yoy("n", "n_last_year")``, or
``named("median_hours", "n")`` for a value its family works out itself (the exact duration percentiles).

The query families of both paths only produce named counts, per range of the view (``cur``, ``prev``,
``ly``) and per spark bucket; :func:`kpi_value` turns them into the tile: value, comparisons, status,
spark and detail. So a figure cannot differ between the direct SQL path and the rollups.

Adding a metric:

1. Add a :class:`Metric` below: labels, unit, definition, direction, thresholds, and its formula over
   named counts, e.g. ``rate("dispatched", "reported")``.
2. Direct path: in the family of ``dashboard/source/queries/kpis.py`` that scans the right rows (events
   by ``reported_at`` for the example), produce any count the formula names that the family lacks (one
   aggregate in its ``aggs``), and add the key to the family's metric tuple (``REPORTED_METRICS``).
3. Rollups path: an event family's counts come from the tier sums of one kind
   (``dashboard/rollups/read.py``, ``COUNTS``); a count the tiers lack needs a fact column and its sum
   (``dashboard/rollups/tables.py`` ``KINDS``, ``dashboard/rollups/facts.py``). Families that are not
   about events (patrols, video, police, hazards, key areas) run on the source in both paths: nothing
   to do.
4. Name the key in the README's metrics section (a test checks it) and test the figure by hand in
   ``tests/source/test_metrics.py``, which runs both paths on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboard.core.formulas import Counts, Formula, Rate, count, mean, named, rate, yoy
from dashboard.core.snapshot import KpiValue

DIRECTIONS = ("up", "down")
GROUPS = ("cases", "patrol", "video", "security", "campaign")


@dataclass(frozen=True)
class Pace:
    """How a figure that builds up during its period is judged: against what is expected by now.

    The expected-by-now figure is the metric's formula over the counts of the ``lookback`` past periods
    summed, each taken at the same point after its start as the view's period is now (``unit`` "day":
    the same time of day on the past days; "period": the same time into the past weeks, months …). The
    colour then grades ``value / expected × 100`` against ``thresholds`` (the share of the expected figure
    reached). Without history (no past period with data), or when past periods had reached fewer than
    ``min_expected`` (the formula's numerator, per period) by now, the tile is not coloured.
    """

    unit: str  # "day" | "period"
    lookback: int
    min_expected: float
    thresholds: tuple[float, float] = (90.0, 75.0)


@dataclass(frozen=True)
class Companion:
    """A count shown beside a metric's figure with its own definition (the hazard tile's units inspected).

    Its family computes it per range like the formula's counts; it goes into the tile's ``detail`` under
    ``key`` (the API), on the slide's tile and in the speaker notes. It has no spark: a distinct count
    cannot be summed over the days of a bucket.
    """

    key: str
    label_zh: str
    label_en: str
    unit: str
    unit_en: str
    definition_zh: str
    definition_en: str

    def text(self, value: float | None, lang: str) -> str:
        """``检查单位 1,234 家`` / ``Units inspected: 1,234``; ``—`` without a value."""
        shown = "—" if value is None else f"{value:,.0f}"
        if lang == "en":
            return f"{self.label_en}: {shown}"
        return f"{self.label_zh} {shown} {self.unit}"


@dataclass(frozen=True)
class Metric:
    """One KPI. ``thresholds`` = (good, warn) boundaries in the metric's unit, or None (no colour).

    For ``direction == "up"`` a value ≥ good is good, ≥ warn is warn, else bad; for ``"down"`` a value
    ≤ good is good, ≤ warn is warn, else bad. ``formula`` turns the named counts of a range into the value.

    The colour rules beside the thresholds (each metric's are written out by :func:`colour_rule`):

    * ``min_base``: the figure's base (a rate's denominator, a mean's n, last year's count; see
      :meth:`Formula.base`) must reach it before the figure is coloured, ranked or compared with.
    * ``pace``: a figure that builds up during its period is judged against what is expected by now
      (:class:`Pace`), not against the full-period thresholds.
    * ``judged_by``: the colour is judged on another formula than the value shown (hazards: only those
      whose rectification deadline has passed can be late), and the figure is compared with past
      periods only once all of it is due (:func:`matured`).

    * ``chance_z``: a change between two counts (a year-on-year figure) is coloured only when it lies
      beyond chance, ``chance_z`` standard deviations (:meth:`Formula.beyond_chance`); within it the tile
      shows the figure uncoloured. A town's 110 calls of a day or a week moved ±20 % by chance alone, and
      its tile went red and green from one day to the next.

    ``per_town``: the source keeps the figure per town only (the daily 110 statistics, the key areas): a
    village's or a grid's view shows its town's, and its tile says so.
    """

    key: str
    label_zh: str
    label_en: str
    unit: str
    unit_en: str
    definition_zh: str
    definition_en: str
    direction: str
    thresholds: tuple[float, float] | None
    fmt: int  # decimals shown
    group: str
    formula: Formula
    min_base: float = 0.0
    pace: Pace | None = None
    judged_by: Formula | None = None
    companions: tuple[Companion, ...] = ()
    per_town: bool = False
    chance_z: float = 0.0


def grade(direction: str, thresholds: tuple[float, float], value: float) -> str:
    """``"good"`` / ``"warn"`` / ``"bad"`` of ``value`` against (good, warn) boundaries."""
    good, warn = thresholds
    if direction == "up":
        return "good" if value >= good else "warn" if value >= warn else "bad"
    return "good" if value <= good else "warn" if value <= warn else "bad"


def status_of(metric: Metric, value: float | None) -> str | None:
    """``"good"`` / ``"warn"`` / ``"bad"`` for ``value``, or None without a value or thresholds.

    The bare threshold test: :func:`judge` adds the minimum base and the expected-by-now rules.
    """
    if value is None or metric.thresholds is None:
        return None
    return grade(metric.direction, metric.thresholds, value)


@dataclass(frozen=True)
class Change:
    """A figure against another (the previous period's, last year's), as every screen says it."""

    diff: float  # value − other, in the metric's unit
    amount: float  # what is said: points for a rate, percent of ``other`` for another figure, else diff
    unit: str  # "pt", "%" or "" (the plain difference, when ``other`` is 0)
    tone: str  # "good", "bad" or "flat": the change judged by the metric's direction


def change_of(metric: Metric, value: float | None, other: float | None) -> Change | None:
    """How ``value`` compares with ``other`` (None without both): one formula for the screens' tiles,
    the slides and the briefings' prose."""
    if value is None or other is None:
        return None
    diff = value - other
    if metric.unit == "%":
        amount, unit = diff, "pt"
    elif other:
        amount, unit = diff / other * 100, "%"
    else:
        amount, unit = diff, ""
    better = (diff > 0) == (metric.direction == "up")
    return Change(diff, amount, unit, "flat" if diff == 0 else ("good" if better else "bad"))


def delta_text(
    metric: Metric, value: float | None, other: float | None, caption: str
) -> tuple[str, str | None]:
    """``环比 ▲2.1%`` (``▲0.4 pt`` for a rate) and its tone, or ``环比 —`` and None without both figures:
    the KPI tiles' and the slides' words."""
    found = change_of(metric, value, other)
    if found is None:
        return f"{caption} —", None
    arrow = "▲" if found.diff > 0 else ("▼" if found.diff < 0 else "■")
    size = abs(found.amount)
    shown = {"pt": f"{size:.1f} pt", "%": f"{size:.1f}%"}.get(found.unit, f"{size:,.0f}")
    return f"{caption} {arrow}{shown}", found.tone


def has_base(metric: Metric, counts: Counts | None, formula: Formula | None = None) -> bool:
    """True when ``counts`` give the metric a figure that stands on at least ``min_base``."""
    if not counts:
        return False
    formula = formula or metric.formula
    if formula.value(counts) is None:
        return False
    base = formula.base(counts)
    return base is None or base >= max(metric.min_base, 1e-9)


def expected_value(metric: Metric, expected: Counts | None) -> float | None:
    """The expected-by-now figure from the past periods' summed counts, or None when it cannot judge
    (no past period with data, or fewer than ``pace.min_expected`` counted per period by now)."""
    pace = metric.pace
    if pace is None or not expected or not expected.get("periods"):
        return None
    formula = metric.formula
    if not isinstance(formula, Rate):
        raise TypeError(f"{metric.key}: a pace needs a rate")
    per_period = float(expected.get(formula.num) or 0) / float(expected["periods"])
    if per_period < pace.min_expected or not has_base(metric, expected):
        return None
    return formula.value(expected)


def judge(metric: Metric, counts: Counts | None, expected: Counts | None = None) -> str | None:
    """The tile's colour under the metric's documented rules (:func:`colour_rule`); None = neutral.

    Neutral, never red, when the rule cannot judge: no thresholds, no figure, a base under
    ``min_base``, or, for a paced metric, no expected-by-now figure to compare with.
    """
    if metric.thresholds is None or not counts:
        return None
    formula = metric.judged_by or metric.formula
    if not has_base(metric, counts, formula):
        return None
    value = formula.value(counts)
    assert value is not None  # has_base checked it
    if metric.chance_z and not formula.beyond_chance(counts, metric.chance_z):
        return None
    if metric.pace is None:
        return status_of(metric, value)
    reached = expected_value(metric, expected)
    if reached is None or reached <= 0:
        return None
    return grade(metric.direction, metric.pace.thresholds, value / reached * 100.0)


def companion_texts(metric: Metric, detail: Mapping[str, Any], lang: str) -> list[str]:
    """The metric's companion counts as the tile and the slide show them (``检查单位 1,234 家``)."""
    return [c.text(detail.get(c.key), lang) for c in metric.companions]


def _base_name(formula: Formula) -> str:
    """The name of the count a figure stands on (see :meth:`Formula.base`)."""
    for attr in ("den", "last_year", "n"):
        if isinstance(getattr(formula, attr, None), str):
            return str(getattr(formula, attr))
    shown = formula.shown()
    return shown[0] if shown else str(getattr(formula, "name", "n"))


def colour_rule(metric: Metric, lang: str = "en") -> str:
    """The metric's colour rule in words (the README's metric table, the slides' definitions)."""
    zh = lang == "zh"
    if metric.thresholds is None:
        if zh:
            return f"不着色；比较基数须 ≥ {metric.min_base:g}（不足、为零或缺失显示 —）"
        return f"not coloured; compared only with a base ≥ {metric.min_base:g} (else —)"
    base = f"{_base_name(metric.formula)} ≥ {metric.min_base:g}"
    if zh:
        parts = [f"{base} 才着色、排名、作比较基数（基数为零或缺失显示 —）"]
    else:
        parts = [f"coloured, ranked and a comparison base only when {base} (a zero or missing base shows —)"]
    if metric.chance_z:
        now, last = metric.formula.shown()[:2]  # the two counts a year-on-year change compares
        z = f"{metric.chance_z:g}"
        if zh:
            parts.append(f"变化超出随机波动才着色：{now} − {last} 超出 ±{z}√({now} + {last})，否则不着色")
        else:
            parts.append(
                f"coloured only when the change is beyond chance: {now} − {last} outside ±{z}√({now} + {last})"
            )
    if isinstance(metric.judged_by, Rate):
        judged = (
            f"{metric.judged_by.num} / {metric.judged_by.den}, {metric.judged_by.den} ≥ {metric.min_base:g}"
        )
        parts.append(f"颜色按 {judged} 判定" if zh else f"the colour is judged on {judged}")
    pace = metric.pace
    if pace is not None:
        good, warn = pace.thresholds
        n = pace.lookback
        if zh:
            when = f"前{n}天同一时刻" if pace.unit == "day" else f"前{n}个同类周期的同一时点"
            parts.append(
                f"按“截至此时应达”判定：达到{when}水平的 ≥ {good:g}% 绿、≥ {warn:g}% 黄、否则红；"
                f"无历史或历史每期不足 {pace.min_expected:g} 时不着色"
            )
        else:
            when = (
                f"the same time on the past {n} days"
                if pace.unit == "day"
                else f"the same point of the past {n} periods"
            )
            parts.append(
                f"judged against what is expected by now ({when}): ≥ {good:g} % of it good, ≥ {warn:g} % warn, "
                f"else bad; neutral without history or when past periods had under {pace.min_expected:g} by then"
            )
    return "；".join(parts) if zh else "; ".join(parts)


def kpi_value(
    key: str,
    ranges: Mapping[str, Counts],
    spark: Sequence[Counts] = (),
    extra: Mapping[str, Any] | None = None,
    expected: Counts | None = None,
) -> KpiValue:
    """The tile of metric ``key`` from its named counts per range tag and per spark bucket.

    ``ranges`` maps ``cur`` (and, where the family has them, ``prev`` and ``ly``) to counts; a range
    without counts has no figure. ``extra`` is detail beyond the counts (the patrol forces, the cameras
    offline longest). ``expected``: the past periods' summed counts at the same point (a paced metric;
    see :func:`with_expected` for a family that gets them from elsewhere).

    A comparison needs a base: a previous or last-year range whose figure is missing, zero, or stands
    on less than ``min_base`` gives no comparison ("—" on the screens), never ▲ against nothing.
    """
    metric = METRICS[key]
    formula = metric.formula

    def of_range(tag: str) -> float | None:
        counts = ranges.get(tag)
        return formula.value(counts) if counts else None

    def base_of(tag: str) -> float | None:
        return comparable(key, ranges.get(tag))

    value = of_range("cur")
    cur = ranges.get("cur") or {}
    compared = matured(metric, cur)
    return KpiValue(
        key=key,
        value=value,
        previous=base_of("prev") if compared else None,
        last_year=base_of("ly") if formula.compares_last_year and compared else None,
        status=judge(metric, cur, expected),
        spark=[formula.value(bucket) for bucket in spark],
        detail={name: cur.get(name) for name in formula.shown()}
        | {c.key: cur.get(c.key) for c in metric.companions}
        | dict(extra or {}),
        expected=expected_value(metric, expected),
    )


def matured(metric: Metric, counts: Counts) -> bool:
    """Whether a figure may be compared with past periods. A figure ``judged_by`` its due part (hazards
    rectified of those past their deadline) is still growing until all of it is due; a past period has
    had longer to mature, so "0.89 % ▼99.1 pt" on the 5th of a month compared young hazards with
    rectified ones. Until then its 环比 and 同比 are "—"."""
    if metric.judged_by is None:
        return True
    whole, due = metric.formula.base(counts), metric.judged_by.base(counts)
    return whole is not None and due is not None and due >= whole


def comparable(key: str, counts: Counts | None) -> float | None:
    """Metric ``key``'s figure over ``counts`` as a comparison base (上期, 同期): None (shown "—") when
    it is missing, zero, or stands on less than the metric's ``min_base``."""
    metric = METRICS[key]
    found = metric.formula.value(counts) if counts else None
    return found if found and has_base(metric, counts) else None


def with_expected(kpi: KpiValue, expected: Counts | None) -> KpiValue:
    """``kpi`` judged again with the expected-by-now counts of its metric (a family that cannot see the
    past periods, such as the event tiles read from the rollups)."""
    metric = METRICS[kpi.key]
    counts = {name: kpi.detail.get(name) for name in metric.formula.shown()}
    kpi.status = judge(metric, counts, expected)
    kpi.expected = expected_value(metric, expected)
    return kpi


def kpi_values(
    keys: Iterable[str], ranges: Mapping[str, Counts], spark: Sequence[Counts] = ()
) -> dict[str, KpiValue]:
    """:func:`kpi_value` for several metrics that read the same counts (one query family)."""
    return {key: kpi_value(key, ranges, spark) for key in keys}


def figure(key: str, counts: Counts) -> float | None:
    """Metric ``key``'s formula applied to ``counts`` (a ranking row, a weekly bucket)."""
    return METRICS[key].formula.value(counts)


def in_registry_order(got: Mapping[str, KpiValue]) -> dict[str, KpiValue]:
    """The tiles in the registry's order (the order screens and slides show them in)."""
    return {key: got[key] for key in METRICS if key in got}


def _m(
    key: str,
    zh: str,
    en: str,
    unit: str,
    unit_en: str,
    def_zh: str,
    def_en: str,
    direction: str,
    thresholds: tuple[float, float] | None,
    fmt: int,
    group: str,
    formula: Formula,
    min_base: float = 0.0,
    pace: Pace | None = None,
    judged_by: Formula | None = None,
    companions: tuple[Companion, ...] = (),
    per_town: bool = False,
    chance_z: float = 0.0,
) -> Metric:
    return Metric(
        key, zh, en, unit, unit_en, def_zh, def_en, direction, thresholds, fmt, group, formula,
        min_base, pace, judged_by, companions, per_town, chance_z,
    )  # fmt: skip


UNITS_INSPECTED = Companion(
    "units_inspected",
    "检查单位",
    "Units inspected",
    "家",
    "units",
    "期内接受安全检查的不同单位数：同一单位多次检查只计一家（按单位编码，无编码时按所在镇街与单位名称）",
    "Distinct units inspected in P: a unit inspected twice counts once (by unit_code, else by town and "
    "unit name)",
)


_CASES: list[Metric] = [
    _m(
        "reported",
        "上报量",
        "Reported",
        "件",
        "cases",
        "期内上报的事件数：上报时间在期内且不晚于当前时刻",
        "Events reported in the period (reported_at in P, at or before now)",
        "up",
        None,
        0,
        "cases",
        count("reported"),
        min_base=10,
    ),
    _m(
        "closed",
        "办结量",
        "Closed",
        "件",
        "cases",
        "期内办结的事件数：办结时间在期内",
        "Events closed in the period (closed_at in P)",
        "up",
        None,
        0,
        "cases",
        count("closed"),
        min_base=10,
    ),
    _m(
        "backlog",
        "在办存量",
        "Open backlog",
        "件",
        "cases",
        "当前时刻在办的事件：已上报、未办结且未被不予受理（按时间戳还原）",
        "Events open at now: reported ≤ now, not closed ≤ now, not rejected ≤ now (from timestamps)",
        "down",
        None,
        0,
        "cases",
        count("backlog"),
        min_base=10,
    ),
    _m(
        "overdue_open",
        "超期未办结",
        "Overdue open",
        "件",
        "cases",
        "当前在办且已过办理时限（有延期则按延期后时限）的事件数",
        "Open events whose deadline (extended deadline where approved) has passed",
        "down",
        None,
        0,
        "cases",
        count("overdue_open"),
        min_base=10,
    ),
    _m(
        "supervised_open",
        "督办在办",
        "Supervised open",
        "件",
        "cases",
        "当前在办、且督办时间不晚于当前时刻的督办事件数",
        "Open events under supervision (supervised_at ≤ now)",
        "down",
        None,
        0,
        "cases",
        count("supervised_open"),
        min_base=10,
    ),
    _m(
        "close_rate",
        "办结率",
        "Close rate",
        "%",
        "%",
        "应办结事件（时限落在期内且不晚于当前时刻）中已办结的比例 = 已办结 / 应办结",
        "Closed among E_due / E_due; E_due = events whose deadline falls in P (and ≤ now for a running period)",
        "up",
        (95.0, 90.0),
        2,
        "cases",
        rate("due_closed", "due"),
        min_base=10,
    ),
    _m(
        "on_time_rate",
        "按期办结率",
        "On-time close rate",
        "%",
        "%",
        "应办结事件中在时限（有延期则按延期后时限）内办结的比例 = 按期办结 / 应办结",
        "E_due closed on or before the deadline (extended where approved) / E_due",
        "up",
        (90.0, 80.0),
        2,
        "cases",
        rate("on_time", "due"),
        min_base=10,
    ),
    _m(
        "cohort_close_rate",
        "批次办结率",
        "Cohort close rate",
        "%",
        "%",
        "期内收集（上报且未被不予受理）的事件中至今已办结的比例 = 办结 / 收集",
        "Of the events collected in P (reported, not rejected), the share closed by now",
        "up",
        (95.0, 90.0),
        2,
        "cases",
        rate("cohort_closed", "collected"),
        min_base=30,
        pace=Pace("period", 3, min_expected=20),
    ),
    _m(
        "satisfaction_rate",
        "满意率",
        "Satisfaction rate",
        "%",
        "%",
        "期内回访评价中（满意 + 基本满意）/ 参评数",
        "(satisfied + basically satisfied) / evaluations made in P",
        "up",
        (95.0, 90.0),
        2,
        "cases",
        rate("satisfied", "evaluated"),
        min_base=30,
    ),
    _m(
        "mean_hours_to_close",
        "平均处置时长",
        "Mean hours to close",
        "小时",
        "h",
        "期内办结事件从受理到办结所用时长的平均值",
        "Mean of closed_at − accepted_at over events closed in P",
        "down",
        (72.0, 120.0),
        1,
        "cases",
        mean("hours_sum", "hours_n"),
        min_base=20,
    ),
    _m(
        "median_hours_to_close",
        "处置时长中位数",
        "Median hours to close",
        "小时",
        "h",
        "期内办结事件从受理到办结所用时长的中位数（偶数个取中间两值平均）",
        "Median of closed_at − accepted_at over events closed in P (mean of the two middle values if even)",
        "down",
        (48.0, 96.0),
        1,
        "cases",
        named("median_hours", "n"),
        min_base=20,
    ),
    _m(
        "p90_hours_to_close",
        "处置时长P90",
        "P90 hours to close",
        "小时",
        "h",
        "期内办结事件从受理到办结所用时长的第90百分位（最近秩法）",
        "90th percentile (nearest rank) of closed_at − accepted_at over events closed in P",
        "down",
        (168.0, 240.0),
        1,
        "cases",
        named("p90_hours", "n"),
        min_base=20,
    ),
    _m(
        "return_rate",
        "退回率",
        "Return rate",
        "%",
        "%",
        "期内上报且已派单的事件中至少被退回一次的比例 = 退回 / 派单",
        "Events reported in P and dispatched by now that were returned at least once / dispatched",
        "down",
        (5.0, 10.0),
        2,
        "cases",
        rate("returned", "dispatched"),
        min_base=30,
    ),
    _m(
        "rework_rate",
        "返工率",
        "Rework rate",
        "%",
        "%",
        "期内办结事件中核查不通过（返工）过的比例 = 返工 / 办结",
        "Events closed in P that failed verification at least once (VERIFY_FAIL) / closed",
        "down",
        (1.0, 3.0),
        2,
        "cases",
        rate("reworked", "closed"),
        min_base=30,
    ),
    _m(
        "local_resolution_rate",
        "就地化解率",
        "Local resolution rate",
        "%",
        "%",
        "期内办结事件中在网格或村社层级办结的比例",
        "Events closed in P at GRID or VILLAGE level / closed",
        "up",
        (70.0, 50.0),
        2,
        "cases",
        rate("local", "closed"),
        min_base=30,
    ),
]

_PATROL: list[Metric] = [
    _m(
        "patrol_coverage_today",
        "今日巡查覆盖率",
        "Patrol coverage today",
        "%",
        "%",
        "今日（本地日）有≥1次有效巡查的网格数 / 范围内网格数",
        "Grids with ≥1 valid patrol started today (local day) / grids in scope",
        "up",
        (95.0, 80.0),
        1,
        "patrol",
        rate("covered", "grids"),
        min_base=5,
        pace=Pace("day", 7, min_expected=20),
    ),
    _m(
        "patrol_coverage_24h",
        "24小时巡查覆盖率",
        "Patrol coverage (24 h)",
        "%",
        "%",
        "近24小时有≥1次有效巡查的网格数 / 范围内网格数",
        "Grids with ≥1 valid patrol started in the last 24 h / grids in scope",
        "up",
        (98.0, 85.0),
        1,
        "patrol",
        rate("covered", "grids"),
        min_base=5,
    ),
    _m(
        "patrol_on_duty",
        "在岗巡防力量",
        "Patrollers on duty",
        "人",
        "people",
        "当前时刻在巡（开始 ≤ 当前且未结束）的巡查人员数，按力量分列并对照编制",
        "People on patrol now (started ≤ now, not ended by now), by force against its strength",
        "up",
        None,
        0,
        "patrol",
        count("on_duty"),
        min_base=10,
    ),
]

_VIDEO: list[Metric] = [
    _m(
        "video_online_rate",
        "视频在线率",
        "Video online rate",
        "%",
        "%",
        "当前时刻在线点位 / 已安装点位（由状态变更记录还原；早于首条记录的时刻状态未知，不作比较）",
        "Points online at now / points installed (reconstructed from video_status_change; a moment before "
        "the first recorded change is unknown and not compared with)",
        "up",
        (98.0, 95.0),
        2,
        "video",
        rate("online", "points"),
        min_base=20,
    ),
]

# Two standard deviations: a change this large comes by chance about once in twenty comparisons.
CHANCE_Z = 2.0

_SECURITY: list[Metric] = [
    _m(
        "calls_110_yoy",
        "有效110警情同比",
        "Effective 110 calls YoY",
        "%",
        "%",
        "(本期有效110警情 − 去年同期) / 去年同期；按已过完的整日比较（当日统计仍在累计）",
        "(N_P − N_P,last year) / N_P,last year of effective 110 calls, over the whole days (today's row is still "
        "being counted)",
        "down",
        (0.0, 5.0),
        1,
        "security",
        yoy("n", "n_last_year"),
        min_base=20,
        per_town=True,
        chance_z=CHANCE_Z,
    ),
    _m(
        "property_crime_yoy",
        "侵财案件同比",
        "Property crime YoY",
        "%",
        "%",
        "(本期侵财案件 − 去年同期) / 去年同期；按已过完的整日比较（当日统计仍在累计）",
        "(N_P − N_P,last year) / N_P,last year of property crimes, over the whole days (today's row is still "
        "being counted)",
        "down",
        (0.0, 5.0),
        1,
        "security",
        yoy("n", "n_last_year"),
        min_base=20,
        per_town=True,
        chance_z=CHANCE_Z,
    ),
    _m(
        "major_violent_yoy",
        "重大恶性案件同比",
        "Major violent crime YoY",
        "%",
        "%",
        "(本期重大恶性案件 − 去年同期) / 去年同期；按已过完的整日比较（当日统计仍在累计）",
        "(N_P − N_P,last year) / N_P,last year of major violent cases, over the whole days (today's row is still "
        "being counted)",
        "down",
        (0.0, 5.0),
        1,
        "security",
        yoy("n", "n_last_year"),
        min_base=5,
        per_town=True,
        chance_z=CHANCE_Z,
    ),
]

_CAMPAIGN: list[Metric] = [
    _m(
        "hazard_rectification_rate",
        "隐患整改率",
        "Hazard rectification rate",
        "%",
        "%",
        "期内安全检查已整改隐患 / 发现隐患；颜色只看整改期限已过的隐患（未记期限按检查后30天）",
        "Hazards rectified / hazards found, safety inspections in P; the colour looks only at hazards past "
        "their rectification deadline (30 days after the inspection when none is recorded)",
        "up",
        (98.0, 95.0),
        2,
        "campaign",
        rate("rectified", "found"),
        min_base=20,
        judged_by=rate("rectified_due", "found_due"),
        companions=(UNITS_INSPECTED,),
    ),
    _m(
        "key_area_delisting_rate",
        "挂牌整治摘牌率",
        "Key-area delisting rate",
        "%",
        "%",
        "截至当前已摘牌的重点地区 / 截至当前已挂牌的重点地区",
        "Key areas delisted by now / key areas listed by now",
        "up",
        (90.0, 60.0),
        1,
        "campaign",
        rate("delisted", "listed"),
        min_base=5,
        per_town=True,
    ),
]

METRICS: dict[str, Metric] = {m.key: m for m in [*_CASES, *_PATROL, *_VIDEO, *_SECURITY, *_CAMPAIGN]}


# --- alert rules ----------------------------------------------------------------------------------------
# The rules the alert lifecycle follows (dashboard/source/queries/alerts.py evaluates them) stand beside the
# metrics they watch: what each says, and its parameters. A parameter's district default is its
# DASHBOARD_ALERT_* setting; an admin may set another value per town (dashboard/service/alert_rules.py),
# and a town's own value wins over the default.


@dataclass(frozen=True)
class AlertParam:
    """One threshold of an alert rule: its name, the setting that holds its district default, its bounds."""

    name: str
    rule: str
    setting: str  # the Settings field (DASHBOARD_<setting>) whose value is the district default
    zh: str
    en: str
    integer: bool
    minimum: float
    maximum: float

    def parse(self, text: str | float) -> float:
        """``text`` as a value of this parameter (ValueError outside its bounds or not a number)."""
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}: {text!r} is not a number") from None
        if self.integer and not value.is_integer():
            raise ValueError(f"{self.name}: must be a whole number, got {text}")
        if not self.minimum <= value <= self.maximum:
            raise ValueError(
                f"{self.name}: must be between {self.minimum:g} and {self.maximum:g}, got {text}"
            )
        return value


@dataclass(frozen=True)
class AlertRule:
    """An alert rule: its kind (as alerts carry it), names, definition and parameters."""

    kind: str
    zh: str
    en: str
    definition_zh: str
    definition_en: str
    watches: tuple[str, ...]  # the metrics whose movement it warns of
    params: tuple[AlertParam, ...]


ALERT_RULES: dict[str, AlertRule] = {
    r.kind: r
    for r in (
        AlertRule(
            "surge",
            "上报激增",
            "Report surge",
            "镇街或网格近1小时上报数超过 max(最少件数, 过去各周同一小时均值 + k·σ)",
            "A town's or grid's reports of the last hour exceed max(minimum, mean + k·σ of the same hour "
            "in past weeks)",
            ("reported",),
            (
                AlertParam(
                    "min_cases", "surge", "ALERT_MIN_CASES", "最少件数", "Minimum reports", True, 0, 10_000
                ),
                AlertParam(
                    "sigma", "surge", "ALERT_SIGMA", "标准差倍数", "Standard deviations", False, 0, 20
                ),
                AlertParam("weeks", "surge", "ALERT_WEEKS", "参照周数", "Past weeks compared", True, 1, 26),
            ),
        ),
        AlertRule(
            "overdue_growth",
            "超期增长",
            "Overdue growth",
            "镇街超期未办结件数在窗口内增加达到阈值",
            "A town's open overdue cases grow by at least the threshold within the window",
            ("overdue_open",),
            (
                AlertParam(
                    "overdue_growth",
                    "overdue_growth",
                    "ALERT_OVERDUE_GROWTH",
                    "增长件数",
                    "Growth (cases)",
                    True,
                    1,
                    10_000,
                ),
                AlertParam(
                    "overdue_minutes",
                    "overdue_growth",
                    "ALERT_OVERDUE_MINUTES",
                    "窗口（分钟）",
                    "Window (minutes)",
                    True,
                    1,
                    24 * 60,
                ),
            ),
        ),
    )
}
ALERT_PARAMS: dict[str, AlertParam] = {p.name: p for r in ALERT_RULES.values() for p in r.params}
