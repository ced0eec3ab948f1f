"""The status colours of a seeded district on a fixed clock at 01:30 on the 3rd and on the 1st of a month.

Issue 17 found, at this hour: today's patrol coverage red every night (0.1–0.7 %), the cohort close rate
(≈29 %) and the hazard rectification rate (1.49 %) red on the 3rd, comparisons against missing
last-year data, and departments with nothing due as the "bottom five". Here every colour must follow
the registry's documented rules (``colour_rule``), on the direct path and through the rollups alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from dashboard.core.formulas import Named
from dashboard.core.metrics import METRICS, has_base, judge
from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState
from dashboard.rollups.read import build_snapshot_fast, eligible
from dashboard.rollups.store import RollupStore
from dashboard.sample.seed import seed_database
from dashboard.source.engines import make_source_engine
from dashboard.source.queries.snapshot import build_snapshot
from tests.support.factories import sh

NIGHT_3RD = sh(2026, 12, 3, 1, 30)
NIGHT_1ST = sh(2026, 12, 1, 1, 30)
MONTH = ViewState(period="month")
FOUND_RED = ("patrol_coverage_today", "cohort_close_rate", "hazard_rectification_rate")


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A small district whose data ends at 01:30 on the 3rd, with three past months for the pace."""
    url = f"sqlite:///{tmp_path_factory.mktemp('night') / 'night.db'}"
    seed_database(url, days=100, scale=0.1, patrol_days=8, now=NIGHT_3RD, progress=False, force=True)
    engine = make_source_engine(url)
    yield engine
    engine.dispose()


def _direct(engine: Engine, now: dt.datetime) -> Snapshot:
    with engine.connect() as conn:
        return build_snapshot(conn, MONTH, now)


def _counts(key: str, snap: Snapshot) -> dict[str, Any]:
    """A tile's named counts as its detail shows them (and the figure itself, for a percentile)."""
    kpi, formula = snap.kpis[key], METRICS[key].formula
    counts = {name: kpi.detail.get(name) for name in formula.shown()}
    return counts | ({formula.name: kpi.value} if isinstance(formula, Named) else {})


def _follows_the_rules(snap: Snapshot) -> None:
    for key, kpi in snap.kpis.items():
        metric = METRICS[key]
        counts = _counts(key, snap)
        if kpi.status is not None:
            assert metric.thresholds is not None, key
            if metric.judged_by is None:
                assert has_base(metric, counts), (key, counts)  # coloured only from its minimum base
            if metric.pace is not None:
                assert kpi.expected is not None, key  # paced: coloured only against an expected figure
        if metric.pace is None and metric.judged_by is None:
            assert kpi.status == judge(metric, counts), key
        for base in (kpi.previous, kpi.last_year):
            assert base is None or base != 0, key  # never ▲ against nothing
    for table in ("towns", "departments"):
        rows = snap.rankings[table]
        ranks = [r.values["rank"] for r in rows]
        ranked = [r for r in ranks if r is not None]
        assert ranks[: len(ranked)] == list(range(1, len(ranked) + 1)), table  # unranked ones come last
        for row in rows:
            enough = (row.values["due"] or 0) >= METRICS["on_time_rate"].min_base
            assert (row.values["rank"] is not None) == enough, (table, row.code, row.values)


def test_the_3rd_at_night_shows_no_false_red(night: Engine) -> None:
    snap = _direct(night, NIGHT_3RD)
    _follows_the_rules(snap)
    for key in FOUND_RED:
        assert snap.kpis[key].status != "bad", (key, snap.kpis[key])
    cohort = snap.kpis["cohort_close_rate"]
    assert cohort.value is not None and cohort.value < 60  # far under 95 %: only 2 days old ...
    assert cohort.expected is not None and cohort.status in {"good", "warn"}  # ... and judged by its pace
    assert snap.kpis["hazard_rectification_rate"].status is None  # nothing past its 30 days yet
    assert snap.kpis["patrol_on_duty"].last_year is None  # no patrol data a year ago: "—"
    assert any(r.values["rank"] is None for r in snap.rankings["departments"])


def test_the_1st_at_night_is_neutral_where_there_is_too_little_to_judge(night: Engine) -> None:
    snap = _direct(night, NIGHT_1ST)
    _follows_the_rules(snap)
    for key in FOUND_RED:
        assert snap.kpis[key].status is None, (key, snap.kpis[key])
    for key in ("close_rate", "on_time_rate", "satisfaction_rate", "return_rate"):
        kpi = snap.kpis[key]
        assert kpi.status is None or has_base(METRICS[key], _counts(key, snap)), key


def test_the_fast_path_judges_as_the_direct_one(night: Engine) -> None:
    direct = _direct(night, NIGHT_3RD)
    store = RollupStore(create_engine(night.url))
    with night.connect() as conn:
        store.sync(conn)
        assert eligible(MONTH, NIGHT_3RD, store.meta())  # else the "fast" snapshot is the direct one
        fast = build_snapshot_fast(conn, store, MONTH, NIGHT_3RD)
    assert fast.kpis.keys() == direct.kpis.keys()
    for key, kpi in direct.kpis.items():
        other = fast.kpis[key]
        assert other.status == kpi.status and other.expected == pytest.approx(kpi.expected), key
        assert other.previous == pytest.approx(kpi.previous) and other.last_year == pytest.approx(
            kpi.last_year
        ), key
    for table in ("towns", "departments"):
        assert [(r.code, r.values["rank"]) for r in fast.rankings[table]] == [
            (r.code, r.values["rank"]) for r in direct.rankings[table]
        ], table
