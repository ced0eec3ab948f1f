"""Section firststart's quick parts: what a first start's output says, a fresh clone's settings, and
that only the full mode runs it by default (the real run takes minutes: ``--sections firststart``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.perf.config import SECTIONS, Config
from dashboard.perf.firststart import fresh_clone_env, parse_phases

FIRST_START = [
    (1.5, "No sample district yet: seeding it now (first start only) …"),
    (95.0, "seeded in 93.2 s: admin_unit 1,203, event 591,413, event_action 2,301,077"),
    (95.4, "Building the rollups, the fast path of every screen (first start only) …"),
    (140.0, "2026-12-05 21:30:01,123 [42] INFO dashboard.rollups.build: rollup build: facts in 44.1 s"),
    (180.0, "2026-12-05 21:30:41,123 [42] INFO dashboard.rollups.build: rollup build: tiers in 40.0 s"),
    (181.0, "rollups built: 591,413 events, 80,000 evaluations in 85.3 s"),
    (186.5, "Dashboard (staff):   http://127.0.0.1:8050/"),
    (190.0, "INFO dashboard.rollups.builder: view town=330109001 answered by the direct queries: why"),
]


def test_a_first_starts_output_gives_its_phases() -> None:
    found = parse_phases(FIRST_START)
    assert found["events"] == 591_413
    assert found["serving_at"] == 186.5
    assert found["direct_views"] == ["town=330109001"]
    assert list(found["phases"]) == ["start_s", "seed_s", "seed_reported_s", "rollups_s", "rollups_reported_s",
                                     "rollups_facts_s", "rollups_tiers_s", "app_s"]  # fmt: skip
    assert found["phases"] == {
        "start_s": 1.5,
        "seed_s": 93.5,
        "seed_reported_s": 93.2,
        "rollups_facts_s": 44.1,
        "rollups_tiers_s": 40.0,
        "rollups_s": 85.6,
        "rollups_reported_s": 85.3,
        "app_s": 5.5,
    }


def test_a_later_start_has_no_seed_phase() -> None:
    found = parse_phases([(2.0, "rollups brought up to date: 12 events, 0 evaluations in 0.4 s"),
                          (6.0, "Dashboard (staff):   http://127.0.0.1:8050/")])  # fmt: skip
    assert found["events"] is None and found["direct_views"] == []
    assert found["phases"] == {"start_s": 6.0, "rollups_reported_s": 0.4, "app_s": 4.0}


def test_a_fresh_clone_keeps_none_of_the_callers_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DASHBOARD_ROLLUPS", "off")
    monkeypatch.setenv("DASHBOARD_CACHE_URL", "redis://127.0.0.1:6379/0")
    env = fresh_clone_env(tmp_path, 8123)
    assert "DASHBOARD_ROLLUPS" not in env and "DASHBOARD_CACHE_URL" not in env  # the defaults: on, disk
    assert env["DASHBOARD_DATABASE_URL"] == f"sqlite:///{tmp_path / 'xiaoshan.db'}"
    assert env["DASHBOARD_STATE_URL"] == f"sqlite:///{tmp_path / 'state.db'}"
    assert env["DASHBOARD_PORT"] == "8123"
    assert all(env[k].startswith((str(tmp_path), f"sqlite:///{tmp_path}")) for k in
               ("DASHBOARD_CACHE_DIR", "DASHBOARD_BRIEFINGS_DIR"))  # fmt: skip


def test_only_the_full_mode_starts_make_run_by_default() -> None:
    assert "firststart" in SECTIONS
    assert "firststart" in Config.for_mode("full").sections
    for mode in ("tiny", "quick"):
        assert "firststart" not in Config.for_mode(mode).sections
    assert Config.for_mode("tiny", sections=("firststart",)).sections == ("firststart",)
