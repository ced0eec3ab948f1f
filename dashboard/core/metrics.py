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

from dashboard.core.formulas import Counts, Formula, count, mean, named, rate, yoy
from dashboard.core.snapshot import KpiValue

DIRECTIONS = ("up", "down")
GROUPS = ("cases", "patrol", "video", "security", "campaign")


@dataclass(frozen=True)
class Metric:
    """One KPI. ``thresholds`` = (good, warn) boundaries in the metric's unit, or None (no colour).

    For ``direction == "up"`` a value ≥ good is good, ≥ warn is warn, else bad; for ``"down"`` a value
    ≤ good is good, ≤ warn is warn, else bad. ``formula`` turns the named counts of a range into the value.
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


def status_of(metric: Metric, value: float | None) -> str | None:
    """``"good"`` / ``"warn"`` / ``"bad"`` for ``value``, or None without a value or thresholds."""
    if value is None or metric.thresholds is None:
        return None
    good, warn = metric.thresholds
    if metric.direction == "up":
        return "good" if value >= good else "warn" if value >= warn else "bad"
    return "good" if value <= good else "warn" if value <= warn else "bad"


def kpi_value(
    key: str,
    ranges: Mapping[str, Counts],
    spark: Sequence[Counts] = (),
    extra: Mapping[str, Any] | None = None,
) -> KpiValue:
    """The tile of metric ``key`` from its named counts per range tag and per spark bucket.

    ``ranges`` maps ``cur`` (and, where the family has them, ``prev`` and ``ly``) to counts; a range
    without counts has no figure. ``extra`` is detail beyond the counts (the patrol forces, the cameras
    offline longest).
    """
    metric = METRICS[key]
    formula = metric.formula

    def of_range(tag: str) -> float | None:
        counts = ranges.get(tag)
        return formula.value(counts) if counts else None

    value = of_range("cur")
    cur = ranges.get("cur") or {}
    return KpiValue(
        key=key,
        value=value,
        previous=of_range("prev"),
        last_year=of_range("ly") if formula.compares_last_year else None,
        status=status_of(metric, value),
        spark=[formula.value(bucket) for bucket in spark],
        detail={name: cur.get(name) for name in formula.shown()} | dict(extra or {}),
    )


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
) -> Metric:
    return Metric(key, zh, en, unit, unit_en, def_zh, def_en, direction, thresholds, fmt, group, formula)


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
    ),
]

_VIDEO: list[Metric] = [
    _m(
        "video_online_rate",
        "视频在线率",
        "Video online rate",
        "%",
        "%",
        "当前时刻在线点位 / 已安装点位（由状态变更记录还原）",
        "Points online at now / points installed (reconstructed from video_status_change)",
        "up",
        (98.0, 95.0),
        2,
        "video",
        rate("online", "points"),
    ),
]

_SECURITY: list[Metric] = [
    _m(
        "calls_110_yoy",
        "有效110警情同比",
        "Effective 110 calls YoY",
        "%",
        "%",
        "(本期有效110警情 − 去年同期) / 去年同期",
        "(N_P − N_P,last year) / N_P,last year of effective 110 calls",
        "down",
        (0.0, 5.0),
        1,
        "security",
        yoy("n", "n_last_year"),
    ),
    _m(
        "property_crime_yoy",
        "侵财案件同比",
        "Property crime YoY",
        "%",
        "%",
        "(本期侵财案件 − 去年同期) / 去年同期",
        "(N_P − N_P,last year) / N_P,last year of property crimes",
        "down",
        (0.0, 5.0),
        1,
        "security",
        yoy("n", "n_last_year"),
    ),
    _m(
        "major_violent_yoy",
        "重大恶性案件同比",
        "Major violent crime YoY",
        "%",
        "%",
        "(本期重大恶性案件 − 去年同期) / 去年同期",
        "(N_P − N_P,last year) / N_P,last year of major violent cases",
        "down",
        (0.0, 5.0),
        1,
        "security",
        yoy("n", "n_last_year"),
    ),
]

_CAMPAIGN: list[Metric] = [
    _m(
        "hazard_rectification_rate",
        "隐患整改率",
        "Hazard rectification rate",
        "%",
        "%",
        "期内安全检查已整改隐患 / 发现隐患",
        "Hazards rectified / hazards found, safety inspections in P",
        "up",
        (98.0, 95.0),
        2,
        "campaign",
        rate("rectified", "found"),
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
    ),
]

METRICS: dict[str, Metric] = {m.key: m for m in [*_CASES, *_PATROL, *_VIDEO, *_SECURITY, *_CAMPAIGN]}
