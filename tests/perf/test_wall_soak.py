"""The soak's browser section, short: the wall tab in Chromium for a minute at a 1-second refresh.

``make soak`` keeps the tab open for 5,000 cycles and holds the JS heap, DOM nodes and listeners after the
last cycle within 10 % of their values after cycle 500. Here the run is 60 cycles: it checks that the
metrics are really sampled from the page (over CDP, after a forced GC), that the wall refreshes and
rotates while they are, that Dash's undo history stays short (assets/40-history.js), and that the
judgement fails a tab that leaks: once on made-up samples, once on a real tab given a leak.

The two runs of a real tab (two minutes with their server) are soak runs: `make test-long` runs them,
`make test` does not (its serial half would pass twelve minutes with them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard.perf.soak import SoakConfig, describe, run_soak, soak_server, write_report
from dashboard.perf.wallsoak import TARGETS, WallSoakConfig, judge, run_wall_soak, wall_problems
from tests.support.browser import need_browser
from tests.support.services import need_redis

CYCLES = 60
HISTORY_BOUND = 60  # entries: the trim keeps 20 every 10 s; untrimmed, a minute adds about 125


def samples(values: dict[str, list[float]], every: int = 50) -> list[dict[str, Any]]:
    """Made-up samples, one every ``every`` cycles from cycle 0."""
    n = len(next(iter(values.values())))
    return [{"cycle": i * every, **{k: v[i] for k, v in values.items()}} for i in range(n)]


def series(start: float, end: float, n: int = 101) -> list[float]:
    return [start + (end - start) * i / (n - 1) for i in range(n)]


def test_growth_is_judged_from_the_baseline_cycle_to_the_end() -> None:
    cfg = WallSoakConfig(cycles=5000, sample_every=50, baseline_cycle=500, window=5, max_growth_pct=10.0)
    flat = samples({"heap_mb": [30.0] * 101, "nodes": [6000.0] * 101, "listeners": [700.0] * 101})
    assert all(t["pass"] and t["growth_pct"] == 0 for t in judge(flat, cfg).values())

    # The heap grows 15 % between cycle 500 and the end; the nodes 9 % (within 10 %); listeners shrink.
    drifting = samples(
        {"heap_mb": series(30.0, 34.5), "nodes": series(6000.0, 6540.0), "listeners": series(700.0, 600.0)}
    )
    verdict = judge(drifting, cfg)
    assert not verdict["heap_mb"]["pass"] and 13 < verdict["heap_mb"]["growth_pct"] < 16
    assert verdict["nodes"]["pass"] and 7 < verdict["nodes"]["growth_pct"] < 10
    assert verdict["listeners"]["pass"] and verdict["listeners"]["growth_pct"] < 0
    assert verdict["heap_mb"]["baseline"] == pytest.approx(30.0 + 4.5 * 8 / 100)  # median of cycles 300–500
    assert verdict["heap_mb"]["trend_per_1000"] == pytest.approx(0.9)  # 4.5 MB over 5,000 cycles
    assert judge(flat, cfg)["heap_mb"]["trend_per_1000"] == 0

    # One sample caught mid-redraw (old and new figures alive) does not decide the verdict.
    spiky = [dict(s) for s in flat]
    spiky[-1]["nodes"] = 9000.0
    assert judge(spiky, cfg)["nodes"]["pass"]

    report = {"targets": verdict, "updates": {"200": 4000, "204": 900}, "cycles": 5000, "console_errors": []}
    assert [p.split(" ")[1] for p in wall_problems(report)] == ["heap_mb"]
    assert not judge([], cfg)["heap_mb"]["pass"]


def leak(driver: Any, cycle: int) -> None:
    """A page that keeps what it draws: 200 hidden nodes and about 2 MB of small objects per cycle (not a
    typed array: its buffer lives outside the JS heap)."""
    driver.execute_script(
        "window.__kept = window.__kept || [];"
        "window.__kept.push(Array.from({length: 50000}, (_, i) => ({i: i, cycle: arguments[0]})));"
        "const box = document.createElement('div'); box.hidden = true;"
        "for (let i = 0; i < 200; i++) box.appendChild(document.createElement('span'));"
        "document.body.appendChild(box);",
        cycle,
    )


@pytest.mark.browser
@pytest.mark.long
def test_a_minute_of_the_wall_tab_is_sampled_and_judged(tmp_path: Path) -> None:
    need_browser()
    # A minute is mostly warm-up, and one sample can catch a redraw in flight: a loose bound here.
    wall = WallSoakConfig(
        cycles=CYCLES, sample_every=10, baseline_cycle=20, window=2, max_growth_pct=40.0, control_cycles=20
    )
    cfg = SoakConfig(
        sections=("wall",),
        wall=wall,
        workers=2,
        threads=4,
        scale=0.1,
        days=14,
        redis_url=need_redis(),
        data_dir=tmp_path,
        quiet=True,
    )
    report = run_soak(cfg)
    print(describe(report))
    found = report["wall"]
    taken = found["samples"]
    assert [s["cycle"] for s in taken] == list(range(0, CYCLES + 1, 10))
    kept = Path(found["config"]["samples_file"]).read_text().splitlines()
    control = found["control"]
    assert len(kept) == len(taken) + len(control["samples"]), "every sample is also written as it is taken"
    for name in TARGETS:  # the fresh tab is sampled like the long one
        assert control[name]["fresh_tab"] > 0 and control[name]["long_above_fresh_pct"] is not None
    for s in taken:  # real readings of a drawn wall, not zeros or defaults
        assert s["heap_mb"] > 5 and s["nodes"] > 1000 and s["listeners"] > 50 and s["documents"] >= 1
        assert s["intervals"] >= 3, s  # refresh, clock and rotation at least
    assert len({s["intervals"] for s in taken[1:]}) == 1, "intervals do not stack up"
    assert max(s["dash_history"] for s in taken) < HISTORY_BOUND, [s["dash_history"] for s in taken]
    assert taken[-1]["local_storage_keys"] >= 1, "the wall keeps its last good copy in local storage"
    assert found["updates"].get("200", 0) >= 5, found["updates"]  # the feed moved the board
    assert sum(found["updates"].values()) >= CYCLES * 0.8, "a refresh request every cycle"
    assert len(found["pages_seen"]) >= 2, found["pages_seen"]  # the pages rotate (every 5 s)
    assert found["hosts"] == ["127.0.0.1"]
    assert set(found["targets"]) == set(TARGETS) and all(
        t["growth_pct"] is not None for t in found["targets"].values()
    )
    assert report["verdict"] == [], report["verdict"]
    assert report["feed_alive_at_end"]
    page = next(f for f in write_report(report, tmp_path) if f.name == "latest.md").read_text()
    assert "**PASS**" in page and "| JS heap (MB) | " in page and f"| {CYCLES} | " in page
    assert "| long tab, end | fresh tab |" in page


@pytest.mark.browser
@pytest.mark.long
def test_a_leaking_wall_tab_fails(tmp_path: Path) -> None:
    need_browser()
    cfg = SoakConfig(workers=1, threads=4, scale=0.1, days=14, redis_url="", data_dir=tmp_path, quiet=True)
    wall = WallSoakConfig(
        cycles=20, sample_every=5, baseline_cycle=5, window=1, each_cycle=leak, control_cycles=0, quiet=True
    )
    from dashboard.perf.soak import dataset

    with soak_server(cfg, dataset(cfg), "", wall.refresh_seconds) as server:
        found = run_wall_soak(server.base, wall)
    verdict = found["targets"]
    assert not verdict["heap_mb"]["pass"] and verdict["heap_mb"]["growth_pct"] > 25, verdict
    assert not verdict["nodes"]["pass"] and verdict["nodes"]["growth_pct"] > 25, verdict
    problems = wall_problems(found)
    assert any(p.startswith("wall heap_mb") for p in problems) and any(
        p.startswith("wall nodes") for p in problems
    )
