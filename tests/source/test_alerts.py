"""The wall's alert rule on hand-built data (SQLite, PostgreSQL, MariaDB) and on a seeded district.

Surge: the last hour's reports in a town or grid above max(ALERT_MIN_CASES, mean + ALERT_SIGMA·σ) of the
same hour of the week over the past ALERT_WEEKS weeks. Overdue growth: a town's open overdue count grew
by ALERT_OVERDUE_GROWTH or more within the window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from dashboard.core.settings import load_settings
from dashboard.core.viewstate import ViewState
from dashboard.source.engines import init_db
from dashboard.source.queries.alerts import AlertThresholds, alerts, surge_threshold
from tests.support import factories as f
from tests.support.factories import sh

NOW = sh(2026, 11, 25, 12, 0)  # a Wednesday noon in Shanghai
WEEK = dt.timedelta(days=7)
LIMITS = AlertThresholds()  # the defaults: min 5, 3σ, 8 weeks, overdue growth 5 within 60 minutes


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = init_db(db_url)
    with eng.begin() as conn:
        f.add_units(conn)
    yield eng
    eng.dispose()


def add(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        f.add_events(conn, rows)


def history(per_week: list[int], grid: str = f.GRID_A1_1) -> list[dict[str, Any]]:
    """``per_week[k-1]`` reports in the same hour-of-week k weeks before NOW (inside (t−1h, t])."""
    rows = []
    for k, n in enumerate(per_week, start=1):
        end = NOW - k * WEEK
        rows += [f.event_row(end - dt.timedelta(minutes=50 - i), grid=grid) for i in range(n)]
    return rows


def burst(n: int, grid: str = f.GRID_A1_1, end: dt.datetime = NOW) -> list[dict[str, Any]]:
    """``n`` reports spread over the hour ending at ``end`` (the last one exactly at ``end``)."""
    return [f.event_row(end - dt.timedelta(minutes=55 * i / max(n - 1, 1)), grid=grid) for i in range(n)]


def run(engine: Engine, now: dt.datetime = NOW, view: ViewState | None = None) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return alerts(conn, view or ViewState(), now, LIMITS)


def by_kind(found: list[dict[str, Any]], kind: str, level: str | None = None) -> dict[str, dict[str, Any]]:
    return {a["unit_code"]: a for a in found if a["kind"] == kind and (level is None or a["level"] == level)}


def test_burst_over_a_quiet_history_is_a_surge(engine: Engine) -> None:
    add(engine, history([2] * 8) + burst(20))
    found = run(engine)
    town = by_kind(found, "surge", "town")[f.TOWN_A]
    assert town["count"] == 20
    assert town["threshold"] == 5.0  # mean 2, σ 0: the floor ALERT_MIN_CASES wins
    assert town["severity"] == "bad"  # at least twice the threshold
    assert town["text_zh"] == "城厢街道 近1小时上报 20 件（阈值 5）"
    assert town["text_en"] == "Chengxiang: 20 reports in the last hour (threshold 5)"
    grid = by_kind(found, "surge", "grid")[f.GRID_A1_1]
    assert grid["count"] == 20 and grid["text_zh"].startswith("城厢街道 网格")
    assert set(by_kind(found, "surge")) == {f.TOWN_A, f.GRID_A1_1}
    assert set(town) == {"kind", "unit_code", "level", "text_zh", "text_en", "severity", "count", "threshold"}


def test_threshold_is_mean_plus_three_sigma_of_the_eight_weeks(engine: Engine) -> None:
    # Weeks alternate 0 and 4 reports: mean 2, population σ 2 (zeros included) → threshold 8.
    add(engine, history([0, 4] * 4) + burst(8))
    assert not by_kind(run(engine), "surge"), "8 is not above max(5, 2 + 3·2) = 8"
    add(engine, burst(1, end=NOW - dt.timedelta(minutes=1)))
    town = by_kind(run(engine), "surge", "town")[f.TOWN_A]
    assert (town["count"], town["threshold"], town["severity"]) == (9, 8.0, "warn")
    assert town["text_zh"] == "城厢街道 近1小时上报 9 件（阈值 8）"


def test_a_burst_at_the_floor_is_no_surge(engine: Engine) -> None:
    add(engine, history([0] * 8) + burst(5, grid=f.GRID_B1_1))
    assert not by_kind(run(engine), "surge"), "5 is not above ALERT_MIN_CASES = 5"


def test_window_edges_and_as_of(engine: Engine) -> None:
    hour_ago = f.event_row(NOW - dt.timedelta(hours=1))  # (now − 1 h, now]: excluded
    later = [f.event_row(NOW + dt.timedelta(minutes=m + 1)) for m in range(10)]  # after now: never counted
    add(engine, history([2] * 8) + burst(5) + [hour_ago] + later)
    assert not by_kind(run(engine), "surge")
    add(engine, burst(20, end=NOW + dt.timedelta(hours=2)))
    assert not run(engine), "as of before the burst there is no alert"
    assert by_kind(run(engine, NOW + dt.timedelta(hours=2)), "surge", "town")


def test_overdue_growth_is_flagged_per_town(engine: Engine) -> None:
    reported = NOW - dt.timedelta(days=3)

    def overdue(grid: str, due: dt.datetime, **fields: Any) -> dict[str, Any]:
        return f.event_row(reported, grid=grid, accepted_at=reported, deadline_at=due, **fields)

    fresh = [NOW - dt.timedelta(minutes=50 - 5 * i) for i in range(6)]  # fell overdue within the hour
    rows = [overdue(f.GRID_B1_1, due) for due in fresh]
    rows += [overdue(f.GRID_B1_1, NOW - dt.timedelta(hours=5)) for _ in range(2)]  # overdue at both ends
    rows += [overdue(f.GRID_E1_1, due) for due in fresh[:4]]  # growth 4: below the threshold
    closed = NOW - dt.timedelta(minutes=5)
    rows += [overdue(f.GRID_E1_1, fresh[0], closed_at=closed, status="CLOSED") for _ in range(3)]
    add(engine, rows)
    grown = by_kind(run(engine), "overdue_growth")
    assert set(grown) == {f.TOWN_B}
    alert = grown[f.TOWN_B]
    assert (alert["count"], alert["threshold"], alert["level"], alert["severity"]) == (6, 5.0, "town", "warn")
    assert alert["text_zh"] == "北干街道 超期未办结 近1小时增加 6 件，现 8 件（阈值 5）"
    assert not run(engine, NOW - dt.timedelta(hours=1)), "as of an hour earlier nothing had grown"
    assert not run(engine, view=ViewState(towns=(f.TOWN_A,))), "outside the view's scope"


def test_scope_and_settings(engine: Engine) -> None:
    add(engine, history([2] * 8) + burst(20) + burst(20, grid=f.GRID_B1_1))
    assert set(by_kind(run(engine, view=ViewState(towns=(f.TOWN_B,))), "surge", "town")) == {f.TOWN_B}
    settings = load_settings({}, ALERT_MIN_CASES=25)
    with engine.connect() as conn:
        assert not alerts(conn, ViewState(), NOW, settings), "25 is the floor now"
    assert AlertThresholds.from_settings(load_settings({})) == LIMITS


def test_surge_threshold_arithmetic() -> None:
    limits = dataclasses.replace(LIMITS, weeks=8)
    counts = [1, 2, 3, 4, 5, 6, 7, 8]
    mean = sum(counts) / 8
    sigma = (sum((c - mean) ** 2 for c in counts) / 8) ** 0.5
    got = surge_threshold(sum(counts), sum(c * c for c in counts), limits)
    assert got == pytest.approx(mean + 3 * sigma)
    assert surge_threshold(0, 0, limits) == 5.0


def test_an_injected_surge_shows_in_the_snapshot(sqlite_url: str) -> None:
    """Seed a small district, let the live feed inject a surge into 瓜沥镇, build the snapshot."""
    from dashboard.sample import simulate as sim
    from dashboard.sample.seed import seed_database
    from dashboard.source.queries.snapshot import build_snapshot

    now = dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.UTC)
    seed_database(sqlite_url, seed=7, days=14, scale=0.2, patrol_days=1, now=now, progress=False)
    guali = "330109113"
    engine = init_db(sqlite_url)
    try:
        with engine.connect() as conn:
            before = build_snapshot(conn, ViewState(), now)
        assert guali not in by_kind(before.alerts, "surge", "town")
        t = now + dt.timedelta(minutes=2)
        report = sim.step(engine, t, rate=0.2, seed=7, surge="瓜沥镇", rng=random.Random(3))
        assert report.surge_events >= 15
        with engine.connect() as conn:
            snap = build_snapshot(conn, ViewState(), t)
    finally:
        engine.dispose()
    alert = by_kind(snap.alerts, "surge", "town")[guali]
    assert alert["count"] >= report.surge_events and alert["count"] > alert["threshold"] >= 5
    assert alert["text_zh"].startswith("瓜沥镇 近1小时上报 ")
    assert snap.to_dict()["alerts"] == snap.alerts  # JSON-able, as the cache and the browser keep it


def test_a_burst_of_town_level_hotline_cases_is_the_towns_surge_and_no_grids(engine: Engine) -> None:
    """12345 cases that name only their town (未落网格) count in the town's hour, and make no grid alert."""
    hotline = [
        {**row, "grid_code": None, "village_code": None, "source": "HOTLINE_12345"} for row in burst(12)
    ]
    add(engine, history([1] * 8) + hotline)
    found = run(engine)
    assert by_kind(found, "surge", "town")[f.TOWN_A]["count"] == 12
    assert by_kind(found, "surge", "grid") == {}
