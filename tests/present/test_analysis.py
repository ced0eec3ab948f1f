"""The written analysis: figures from the snapshot only, the significance rule, and honesty about gaps."""

from __future__ import annotations

from dashboard.core.metrics import METRICS
from dashboard.core.snapshot import KpiValue, Snapshot, UnitRow
from dashboard.present.analysis import MIN_CHANGE, RATE_POINTS, analyse, significant


def snap(kpis: dict[str, KpiValue], units: list[UnitRow] | None = None, **extra: object) -> Snapshot:
    return Snapshot(
        view={"period": ["month"]},
        now="2026-11-28T06:00:00+00:00",
        period_start="2026-10-31T16:00:00+00:00",
        period_end="2026-11-30T16:00:00+00:00",
        data_version="v",
        newest_data_at=None,
        kpis=kpis,
        rankings={"units": units or []},
        **extra,  # type: ignore[arg-type]
    )


def kpi(
    key: str,
    value: float | None,
    previous: float | None = None,
    last_year: float | None = None,
    status: str | None = None,
) -> KpiValue:
    return KpiValue(key, value, previous, last_year, status)


def unit(code: str, name: str, rate: float, due: int) -> UnitRow:
    return UnitRow(code, name, name, {"on_time_rate": rate, "due": due})


def test_the_significance_rule() -> None:
    rate, count = METRICS["on_time_rate"], METRICS["backlog"]
    assert significant(rate, 90.0, 90.0 - RATE_POINTS) and not significant(rate, 90.0, 88.0)
    assert significant(count, 120, 100)  # +20 %, +20 cases
    assert not significant(count, 12, 10)  # +20 % but 2 cases: below MIN_CHANGE
    assert not significant(count, 100 + MIN_CHANGE, 100)  # +5 cases but 5 %


def test_improvements_follow_each_metrics_direction_and_red_figures_are_problems() -> None:
    found = analyse(
        snap(
            {
                "backlog": kpi("backlog", 80, 120),  # down is better: an improvement
                "on_time_rate": kpi("on_time_rate", 78.0, 91.0, status="bad"),  # worse by 13 pt
                "close_rate": kpi("close_rate", 96.0, 95.0),  # +1 pt: not significant
                "local_resolution_rate": kpi("local_resolution_rate", 40.0, 41.0, status="bad"),
            }
        )
    )
    assert [line.keys for line in found.lines["highlights"]] == [("backlog",)]
    assert "由上期 120件 变为 80件（环比 -33.3%）" in found.lines["highlights"][0].text
    problems = {line.keys[0]: line.text for line in found.lines["problems"]}
    assert set(problems) == {"on_time_rate", "local_resolution_rate"}
    assert "环比 -13.00个百分点" in problems["on_time_rate"]
    assert "低于标准（达标线 ≥70%）" in problems["local_resolution_rate"]


def test_missing_figures_are_said_never_filled_in() -> None:
    found = analyse(snap({"reported": kpi("reported", 59), "closed": kpi("closed", None)}))
    text = [line.text for line in found.lines["headline"]]
    assert text == ["上报量 59件（环比无可比数据；同比无可比数据）", "办结量：本期无数据"]
    assert [line.text for line in found.lines["highlights"]] == ["本期无显著改善的指标"]
    english = analyse(snap({"reported": kpi("reported", 59, 50)}), "en")
    assert english.lines["headline"][0].text == "Reported: 59 cases (+18.0% vs previous; no last-year base)"


def test_best_and_worst_only_among_units_with_enough_cases_due() -> None:
    units = [
        unit("1", "甲镇", 100.0, 30),
        unit("2", "乙镇", 60.0, 25),
        unit("3", "丙镇", 95.0, 40),
        unit("4", "丁镇", 10.0, 3),  # 3 due: under the minimum base, never on a list
        unit("5", "戊镇", 80.0, 12),
    ]
    found = analyse(snap({}, units))
    assert [line.text for line in found.lines["best"]] == [
        "甲镇：按期办结率 100.00%（应办结 30 件）",
        "丙镇：按期办结率 95.00%（应办结 40 件）",
    ]
    assert [line.text.split("：")[0] for line in found.lines["worst"]] == ["乙镇", "戊镇"]
    few = analyse(snap({}, units[:1] + units[3:4]))
    assert (
        few.lines["best"][0].text == "下级单位应办结件均不足 10 件，不排红黑榜" and few.lines["worst"] == []
    )


def test_a_quarter_reports_the_three_declines() -> None:
    s = snap(
        {
            "calls_110_yoy": kpi("calls_110_yoy", -7.7),
            "property_crime_yoy": kpi("property_crime_yoy", 3.2),
            "major_violent_yoy": kpi("major_violent_yoy", None),
        }
    )
    s.view = {"period": ["quarter"]}
    lines = [line.text for line in analyse(s).lines["targets"]]
    assert lines == [
        "有效110警情同比 -7.7%，已实现下降",
        "侵财案件同比 +3.2%，未实现下降",
        "重大恶性案件同比：去年同期无可比数据",
    ]
    assert "targets" not in analyse(snap({"calls_110_yoy": kpi("calls_110_yoy", -7.7)})).lines


def test_hot_spots_and_alerts_come_from_the_snapshot() -> None:
    s = snap(
        {},
        backlog={
            "top_grids": [{"name_zh": "城厢街道 一网格", "name_en": "Grid 1", "overdue": 4, "backlog": 9}]
        },
    )
    s.alerts = [{"text_zh": f"告警{i}", "text_en": f"alert {i}"} for i in range(7)]
    found = analyse(s)
    assert [line.text for line in found.lines["hotspots"]] == ["城厢街道 一网格：超期 4 件，在办 9 件"]
    assert [line.text for line in found.lines["alerts"]][-1] == "另有 2 条告警"


def test_the_summary_lists_the_periods_notes_on_the_timeline() -> None:
    notes = [
        {
            "id": 1,
            "starts_at": "2026-09-19T16:00:00+00:00",
            "ends_at": "2026-10-08T16:00:00+00:00",
            "text": "亚运会期间",
            "towns": [],
        },  # before the period (November): left out
        {
            "id": 2,
            "starts_at": "2026-11-09T16:00:00+00:00",
            "ends_at": "2026-11-16T16:00:00+00:00",
            "text": "亚运会安保",
            "towns": [],
        },
        {
            "id": 3,
            "starts_at": "2026-11-25T10:00:00+00:00",
            "ends_at": None,
            "text": "台风",
            "towns": ["330109001"],
        },
    ]
    zh = analyse(snap({}, annotations=notes), "zh")
    assert [line.text for line in zh.lines["notes"]] == [
        "亚运会安保（11月10日—11月16日）；台风（城厢街道）（11月25日 18:00）"
    ]
    assert ("大事记", zh.lines["notes"]) in zh.sections()
    en = analyse(snap({}, annotations=notes), "en")
    assert en.lines["notes"][0].text.startswith("亚运会安保 (10 Nov—16 Nov)")
    assert analyse(snap({}), "zh").lines["notes"] == []
