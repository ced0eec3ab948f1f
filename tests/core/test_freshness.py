"""The freshness rules: live, late, stopped or absent, judged against what past weeks brought."""

from __future__ import annotations

import pytest

from dashboard.core.freshness import (
    ABSENT,
    LATE,
    LIVE,
    STOPPED,
    StreamState,
    freshness_lines,
    judge,
    parse_cadence,
    worst,
)
from dashboard.core.settings import load_settings

MIN = 60.0


def test_within_its_cadence_a_stream_is_live_whatever_the_history() -> None:
    assert judge(9 * MIN, 10, 500.0, heartbeat=False) == LIVE


@pytest.mark.parametrize(
    ("expected", "verdict"),
    [(None, LIVE), (0.0, LIVE), (2.9, LIVE), (3.0, LATE), (9.9, LATE), (10.0, STOPPED), (80.0, STOPPED)],
)
def test_past_its_cadence_a_stream_is_judged_by_the_rows_past_weeks_brought(
    expected: float | None, verdict: str
) -> None:
    assert judge(25 * MIN, 10, expected, heartbeat=False) == verdict


def test_a_quiet_night_is_live_and_the_same_gap_by_day_is_stopped() -> None:
    # 01:30: past weeks brought about one report in such a 25-minute window; 14:00 brought about thirty.
    assert judge(25 * MIN, 10, 1.2, heartbeat=False) == LIVE
    assert judge(25 * MIN, 10, 30.0, heartbeat=False) == STOPPED


def test_a_day_without_a_row_is_stopped_even_without_history() -> None:
    assert judge(25 * 3600, 10, None, heartbeat=False) == STOPPED


def test_a_heartbeat_is_late_after_two_beats_and_stopped_after_four() -> None:
    assert judge(1.9 * 5 * MIN, 5, None, heartbeat=True) == LIVE
    assert judge(2.1 * 5 * MIN, 5, None, heartbeat=True) == LATE
    assert judge(4.1 * 5 * MIN, 5, None, heartbeat=True) == STOPPED


def test_a_stream_never_fed_is_absent_and_not_shown() -> None:
    assert judge(None, 10, None, heartbeat=True) == ABSENT
    states = [StreamState("video", None, None, None, ABSENT), StreamState("events", None, 60, None, LIVE)]
    assert worst(states) == LIVE
    assert freshness_lines(states, "zh") == []


def test_the_lines_say_it_in_words_the_worst_first() -> None:
    states = [
        StreamState("patrols", None, 45 * MIN, 4.0, LATE),
        StreamState("events", None, 9 * MIN, 12.0, STOPPED),
    ]
    assert worst(states) == STOPPED
    assert freshness_lines(states, "zh") == [
        (STOPPED, "事件上报数据已停更 9 分钟"),
        (LATE, "巡查数据 45 分钟未更新"),
    ]
    assert freshness_lines(states, "en")[0] == (STOPPED, "Reports: data stopped 9 min ago")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("events=10,actions=10,patrols=30", "no cadence for video"),
        ("events=10,actions=10,patrols=30,video=0", "must be positive"),
        ("events=ten,actions=10,patrols=30,video=5", "'ten' is not a number"),
        ("weather=3,events=10,actions=10,patrols=30,video=5", "expected stream=minutes"),
    ],
)
def test_a_bad_cadence_setting_is_refused_naming_the_part(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_cadence(text)
    with pytest.raises(ValueError, match="DASHBOARD_STREAM_CADENCE"):
        load_settings(env={"DASHBOARD_STREAM_CADENCE": text})
