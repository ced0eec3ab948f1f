"""The colour rules of the metric registry (issue 17: "every colour on it must mean something true").

Minimum bases, comparisons against a missing or zero base, figures judged against what is expected by
now, and rankings that leave out units with too little due. Pure functions: no database.
"""

from __future__ import annotations

from dashboard.core.metrics import METRICS, colour_rule, judge, kpi_value
from dashboard.core.snapshot import Snapshot, UnitRow
from dashboard.present import panels


def test_a_rate_under_its_minimum_base_is_neither_coloured_nor_compared() -> None:
    on_time = METRICS["on_time_rate"]  # ≥ 90 good, ≥ 80 warn; base: cases due
    assert on_time.min_base == 10
    assert judge(on_time, {"on_time": 0.0, "due": 3.0}) is None  # 0 of 3 is not a red district
    assert judge(on_time, {"on_time": 5.0, "due": 10.0}) == "bad"
    assert judge(on_time, {"on_time": 0.0, "due": 0.0}) is None
    tile = kpi_value(
        "on_time_rate",
        {
            "cur": {"on_time": 95, "due": 100},
            "prev": {"on_time": 1, "due": 2},
            "ly": {"on_time": 0, "due": 0},
        },
    )
    assert tile.status == "good" and tile.previous is None and tile.last_year is None
    hours = METRICS["mean_hours_to_close"]
    assert judge(hours, {"hours_sum": 500.0, "hours_n": 2.0}) is None
    assert judge(hours, {"hours_sum": 5000.0, "hours_n": 20.0}) == "bad"


def test_a_comparison_with_a_missing_or_zero_base_shows_a_dash() -> None:
    """ "同比 ▲776 人" came from nobody on duty in the (missing) last year; "▲99.8 pt" from a 0 % coverage."""
    duty = kpi_value(
        "patrol_on_duty", {"cur": {"on_duty": 776}, "prev": {"on_duty": 700}, "ly": {"on_duty": 0}}
    )
    assert duty.previous == 700 and duty.last_year is None
    coverage = kpi_value(
        "patrol_coverage_24h",
        {"cur": {"covered": 998, "grids": 1000}, "ly": {"covered": 0, "grids": 1000}},
    )
    assert coverage.value == 99.8 and coverage.last_year is None and coverage.previous is None
    yoy = kpi_value("calls_110_yoy", {"cur": {"n": 50, "n_last_year": 0}})
    assert yoy.value is None and yoy.status is None


def test_a_paced_figure_is_judged_against_what_is_expected_by_now() -> None:
    """Coverage at 01:30: 0.5 % is red against 95 %, but the past days had 0.6 % by 01:30. With so few
    grids done by then there is nothing to judge: neutral. With enough, the share of the expected."""
    coverage = METRICS["patrol_coverage_today"]
    night = {"covered": 9.0, "grids": 1863.0}
    few = {"covered": 7 * 11.0, "grids": 7 * 1863.0, "periods": 7.0}
    assert judge(coverage, night, None) is None  # no history
    assert judge(coverage, night, few) is None  # 11 a day by 01:30: under the 20 needed to judge
    morning = {"covered": 200.0, "grids": 1863.0}
    usual = {"covered": 7 * 210.0, "grids": 7 * 1863.0, "periods": 7.0}
    assert judge(coverage, morning, usual) == "good"  # 95 % of the usual pace
    assert judge(coverage, {"covered": 150.0, "grids": 1863.0}, usual) == "bad"  # 71 %: truly behind
    tile = kpi_value("patrol_coverage_today", {"cur": morning}, expected=usual)
    assert tile.expected is not None and round(tile.expected, 2) == round(210 / 1863 * 100, 2)
    # The rule is written beside the metric, in both languages.
    assert "expected by now" in colour_rule(coverage) and "前7天同一时刻" in colour_rule(coverage, "zh")
    assert "≥ 10" in colour_rule(METRICS["on_time_rate"]) and colour_rule(METRICS["reported"]).startswith(
        "not"
    )


def _snapshot(rows: list[UnitRow]) -> Snapshot:
    return Snapshot(
        view={}, now="2026-12-02T17:30:00+00:00", period_start="", period_end="", data_version="",
        newest_data_at=None, rankings={"departments": rows},
    )  # fmt: skip


def test_units_with_nothing_due_are_not_the_bottom_of_a_ranking() -> None:
    """The departments' "bottom five" were units with nothing due; they are listed unranked, after."""
    ranked = [
        UnitRow(f"D{i:02d}", f"部门{i}", f"D{i}", {"rank": i, "on_time_rate": 100.0 - i, "due": 20})
        for i in range(1, 13)
    ]
    idle = [
        UnitRow(f"X{i}", f"无件{i}", f"X{i}", {"rank": None, "on_time_rate": None, "due": 0})
        for i in range(6)
    ]
    table = panels.table(_snapshot(ranked + idle), "dept_ranking", "zh")
    assert table.ranked == 12 and [r[0] for r in table.rows[-6:]] == ["—"] * 6
    shown = panels.fit_rows(table, 11, both_ends=True)
    assert [r[0] for r in shown.rows] == ["1", "2", "3", "4", "5", "⋯", "8", "9", "10", "11", "12"]
    # Few ranked: the ranked ones first, then the unranked, as they fit.
    few = panels.fit_rows(panels.table(_snapshot(ranked[:3] + idle), "dept_ranking", "zh"), 5, both_ends=True)
    assert [r[0] for r in few.rows] == ["1", "2", "3", "—", "—"]


def test_five_units_at_zero_percent_are_the_lowest_five_not_no_data() -> None:
    spec = panels.ChartSpec("patrol_coverage", "", "", "hbar", categories=list("abcde"), percent=True)
    spec.series = [panels.Series("今日覆盖率", [0.0] * 5)]
    assert not spec.is_empty
    counts = panels.ChartSpec("by_source", "", "", "hbar", categories=list("ab"))
    counts.series = [panels.Series("上报量", [0, 0])]
    assert counts.is_empty
