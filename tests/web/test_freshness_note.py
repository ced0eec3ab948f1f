"""The note on the alerts beside the streams' freshness says what is true: late may lag, stopped has stopped."""

from __future__ import annotations

from callbacks.freshness import sentence
from dashboard.core.freshness import LATE, LIVE, STOPPED


def test_a_late_report_stream_says_the_alerts_may_lag_not_that_it_stopped() -> None:
    text = sentence([("late", "事件办理数据 15 分钟未更新")], LATE, "zh")
    assert text == "事件办理数据 15 分钟未更新；事件数据延迟，告警可能未反映实况"
    assert "停更" not in text


def test_a_stopped_report_stream_says_the_alerts_describe_the_past() -> None:
    assert sentence([], STOPPED, "zh") == "事件数据停更，告警未随实况更新"
    assert sentence([], STOPPED, "en") == "Report data stopped: alerts are not following the live situation"


def test_live_report_streams_add_no_note() -> None:
    assert sentence([("stopped", "视频监控数据已停更 46 分钟")], LIVE, "zh") == "视频监控数据已停更 46 分钟"
