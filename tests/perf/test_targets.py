"""Issue 16's targets in the bench report: the verdicts from made-up figures that pass, fail or are missing.

The bench's tiny run (tests/perf/test_bench.py) checks the section is in a real report; here each verdict
is checked on synthetic results, in milliseconds: met, missed (with its profile rendered) and not
measured (with why), and the statement parsing of the coverage profiles.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dashboard.perf.report import markdown
from dashboard.perf.targets import (
    MET,
    MISSED,
    NOT_MEASURED,
    evaluate_targets,
    load_report,
    targets_markdown,
)
from dashboard.perf.viewprofile import one_line, tables_of, tiers_of

IDS = [
    "coverage_sqlite",
    "coverage_postgresql",
    "first_start",
    "api_make_run",
    "api_make_serve",
    "screens_50",
    "screens_200",
    "wall_tab",
]


def coverage(
    max_s: float, median_s: float, fallbacks: tuple[str, ...] = (), profiles: Any = None
) -> dict[str, Any]:
    over = [f"view {i} × year" for i in range(3)] if max_s > 0.5 else []
    return {
        "views": 222,
        "max_s": max_s,
        "median_s": median_s,
        "p90_s": max_s,
        "over_max_target": over,
        "fallbacks": list(fallbacks),
        "slowest": [],
        "all": [],
        "profiles": profiles or [],
    }


def level(clients: int, p95: float, screens_p95: float | None = None, period: int = 10) -> dict[str, Any]:
    lv: dict[str, Any] = {"clients": clients, "p95_ms": p95, "errors": 0, "period_s": period}
    if screens_p95 is not None:
        lv["screen_updates"] = {"p95_ms": screens_p95, "open_p95_ms": screens_p95, "errors": 0}
    return lv


def dataset(backend: str, scale: float, events: int, **sections: Any) -> dict[str, Any]:
    return {"backend": backend, "scale": scale, "events": events, "days": 760, **sections}


def soak(heap_end: float = 30.0, nodes_end: float = 6100.0, cycles: int = 5000) -> dict[str, Any]:
    return {
        "started_at": "2026-12-05T01:16:32+00:00",
        "source": {"events": 14342},
        "wall": {
            "cycles": cycles,
            "baseline_cycle": 500,
            "targets": {
                "heap_mb": {"baseline": 28.0, "end": heap_end},
                "nodes": {"baseline": 6000.0, "end": nodes_end},
            },
        },
    }


def report(*datasets: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"datasets": list(datasets), **top}


def passing() -> dict[str, Any]:
    """Every target met: the make run sample's scale, 10 M events on PostgreSQL, 50 and 200 screens."""
    return report(
        dataset(
            "sqlite",
            1.0,
            591_413,
            coverage=coverage(0.45, 0.2),
            dev={"levels": [level(50, 9.0, period=1), level(50, 12.0, 20.0)]},
        ),
        dataset(
            "postgresql",
            17.0,
            10_054_021,
            coverage=coverage(0.48, 0.3),
            http={"levels": [level(1, 8.0, 9.0), level(50, 18.0, 22.0), level(200, 20.0, 24.9)]},
        ),
        firststart={"seconds_to_health": 100.0, "seconds_to_page": 140.0, "rollups_on": True},
    )


def by_id(targets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    assert [t["id"] for t in targets] == IDS
    return {t["id"]: t for t in targets}


def test_every_target_met() -> None:
    got = by_id(evaluate_targets(passing(), soak()))
    assert {k: t["verdict"] for k, t in got.items()} == dict.fromkeys(IDS, MET)
    assert all(t["profile"] is None for t in got.values())
    assert "the make run sample's scale" in got["coverage_sqlite"]["measured"]
    assert got["coverage_postgresql"]["figures"]["events"] == 10_054_021
    assert got["first_start"]["figures"]["seconds_to_page"] == 140.0
    assert got["api_make_run"]["figures"] == {"dataset": 0, "clients": 50, "p95_ms": 9.0, "profile_key": None}
    assert got["screens_200"]["figures"]["p95_ms"] == 24.9
    assert "2026-12-05T01:16:32" in got["wall_tab"]["measured"]
    json.dumps(list(got.values()))  # the JSON report carries them as they are
    text = "\n".join(targets_markdown(passing(), list(got.values())))
    assert "8 met, 0 missed, 0 not measured" in text and "Where the time went" not in text


def failing() -> dict[str, Any]:
    """Every target missed, with the profiles the sections record."""
    view_profile = {
        "view": "as_of × year",
        "timed_s": 0.61,
        "seconds": 0.65,
        "sql_span_s": 0.6,
        "sql_execute_s": 0.2,
        "statement_count": 70,
        "by_table": [
            {"engine": "rollups", "table": "ru_agg", "tiers": ["m", "d"], "statements": 9, "span_ms": 300.0}
        ],
        "statements": [
            {
                "span_ms": 120.0,
                "execute_ms": 80.0,
                "engine": "rollups",
                "tables": ["ru_agg"],
                "tiers": ["m"],
                "sql": "SELECT 'p' AS tier, ru_agg.kind",
            },
        ],
        "functions": [
            {"function": "answer", "file": "dashboard/rollups/read.py", "line": 267, "cumulative_s": 0.6}
        ],
        "own_time": [{"function": "fetchone", "calls": 6000, "own_s": 0.1}],
    }
    sampled = {
        "tool": "py-spy",
        "seconds": 60.0,
        "samples": 5400,
        "top": [
            {
                "function": f"fn{i}",
                "file": "dashboard/web/x.py",
                "line": i,
                "share": 0.5 - i / 100,
                "own": 0.01,
            }
            for i in range(12)
        ],
    }
    return report(
        dataset(
            "sqlite",
            2.0,
            1_182_737,
            coverage=coverage(0.61, 0.3, ("source × week",), [view_profile]),
            dev={  # as measure_dev names them: the two levels have as many clients
                "levels": [{**level(50, 40.0, period=1), "profile_key": "api"}, level(50, 12.0, 20.0)],
                "profiles": {"api": sampled},
            },
        ),
        dataset(
            "postgresql",
            17.0,
            10_054_021,
            coverage=coverage(0.7, 0.3),
            http={
                "levels": [level(50, 26.0, 31.0), level(200, 20.0, 29.0), level(300, 30.0, 40.0)],
                "profiles": {"50": sampled, "200": {"error": "py-spy: permission denied"}},
            },
            firststart={"seconds_to_health": 280.0, "seconds_to_page": 400.0, "phases": {"seed_s": 150.0}},
        ),
    )


def test_every_target_missed_with_its_profile() -> None:
    r = failing()
    got = by_id(evaluate_targets(r, soak(heap_end=32.5)))
    assert {k: t["verdict"] for k, t in got.items()} == dict.fromkeys(IDS, MISSED)
    cov = got["coverage_sqlite"]
    assert (
        "3 views over 0.5 s" in cov["why"] and "median 0.300 s" in cov["why"] and "1 fallbacks" in cov["why"]
    )
    assert "2× the make run sample's events: a stricter test" in cov["measured"]
    assert cov["profile"] == "datasets[0].coverage.profiles"
    assert got["first_start"]["figures"]["at"] == "datasets[1].firststart"
    assert got["api_make_run"]["profile"] == "datasets[0].dev.profiles.api"
    assert got["api_make_run"]["figures"]["p95_ms"] == 40.0  # the API level (polling once a second)
    assert got["screens_50"]["profile"] == "datasets[1].http.profiles.50"
    assert "heap_mb beyond 10 %" in got["wall_tab"]["why"]
    text = "\n".join(targets_markdown(r, list(got.values())))
    assert "0 met, 8 missed, 0 not measured" in text
    assert "`as_of × year`: 0.610 s in the matrix" in text and "rollups ru_agg [m,d] 9× 300 ms" in text
    assert "answer (dashboard/rollups/read.py:267) 0.600 s" in text
    assert "py-spy, 60.0 s, 5400 samples" in text and "fn7 (" in text and "fn8 (" not in text  # the top 8
    assert "phases (s): seed 150.0" in text  # the first start's profile
    # The 200-screen level's profile failed: the report says so.
    after_200 = text.split("at 200 screens under `make serve`** (missed")[1]
    assert after_200.split("\n")[1].strip() == "* no profile captured: py-spy: permission denied"
    assert got["api_make_serve"]["profile"] == got["screens_50"]["profile"]  # one profile per level
    assert text.count("py-spy, 60.0 s") == 2  # make run's API level and make serve's 50: shown once each
    assert "** (missed): the profile above, `datasets[1].http.profiles.50`" in text
    assert "most own time: fn0 1.0 %" in text


def test_first_start_without_rollups_is_missed() -> None:
    r = passing()
    r["firststart"] |= {"rollups_on": False, "events": 591_413}
    (t,) = [t for t in evaluate_targets(r) if t["id"] == "first_start"]
    assert t["verdict"] == MISSED and "rollups were not on" in t["why"]
    assert "591,413 events seeded; rollups on: False" in t["measured"] and t["profile"] is None


def markdown_targets(r: dict[str, Any]) -> str:
    """The Targets section of the whole Markdown report of ``r`` (right after the summary)."""
    full = {
        "mode": "full",
        "started_at": "t0",
        "finished_at": "t1",
        "seconds": 1,
        "machine": {"cpus": 2, "python": "3.11", "load_average_at_start": [0, 0, 0]},
        "ratios": ["a summary line"],
        "skipped": [],
        **r,
    }
    text = markdown(full)
    assert text.index("## Summary") < text.index("## Targets") < text.index("## Snapshots")
    return text[text.index("## Targets") : text.index("## Snapshots")]


def test_not_measured_says_why() -> None:
    got = by_id(evaluate_targets(report(), None))
    assert {t["verdict"] for t in got.values()} == {NOT_MEASURED}
    assert "no SQLite coverage section" in got["coverage_sqlite"]["why"]
    assert "no first-start section" in got["first_start"]["why"]
    assert "no soak report" in got["wall_tab"]["why"]
    text = markdown_targets(report())  # no "targets" in the report: the Markdown computes them
    assert "0 met, 0 missed, 8 not measured" in text


def test_smaller_runs_are_not_measured_with_their_figures() -> None:
    small = report(
        dataset(
            "sqlite", 0.3, 88_000, coverage=coverage(0.2, 0.1), dev={"levels": [level(5, 9.0, period=1)]}
        ),
        dataset(
            "postgresql",
            2.0,
            1_182_737,
            coverage=coverage(0.58, 0.3),
            http={"levels": [level(5, 30.0, 20.0)]},
        ),
    )
    got = by_id(evaluate_targets(small, soak(cycles=60)))
    assert {t["verdict"] for t in got.values()} == {NOT_MEASURED}
    assert "a weaker test" in got["coverage_sqlite"]["measured"]
    pg = got["coverage_postgresql"]
    assert "at 10 M" in pg["why"] and "1,182,737 events" in pg["why"] and "3 views over 0.5 s" in pg["why"]
    assert pg["profile"] == "datasets[1].coverage.profiles"  # over the bound at its size: profiled
    text = "\n".join(targets_markdown(small, list(got.values())))
    assert "| not measured at 10 M: the run's largest PostgreSQL dataset has 1,182,737 events" in text
    assert "at 50: the run's nearest level had 5 (within 25 ms there)" in got["api_make_run"]["why"]
    assert "over 25 ms there" in got["api_make_serve"]["why"]
    assert ", 5 clients: p95 30.0 ms" in got["api_make_serve"]["measured"]  # the nearest level to 50
    assert "ran 60 cycles" in got["wall_tab"]["why"]


def test_a_failed_section_is_named() -> None:
    broken = report(
        dataset(
            "sqlite", 1.0, 591_413, coverage={"error": "OperationalError: locked"}, dev={"error": "boot"}
        ),
        dataset("postgresql", 2.0, 1, http={"error": "TimeoutError"}),
    )
    got = by_id(evaluate_targets(broken, {"started_at": "x", "wall": {"error": "no chromium"}}))
    assert "coverage section failed: OperationalError" in got["coverage_sqlite"]["why"]
    assert "dev section failed: boot" in got["api_make_run"]["why"]
    assert "http section failed: TimeoutError" in got["screens_200"]["why"]
    assert "no wall section: no chromium" in got["wall_tab"]["why"]


def test_load_report(tmp_path: Path) -> None:
    assert load_report(None) is None and load_report(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    assert load_report(tmp_path / "bad.json") is None
    (tmp_path / "latest.json").write_text(json.dumps(soak()), encoding="utf-8")
    assert load_report(tmp_path / "latest.json")["path"] == str(tmp_path / "latest.json")  # type: ignore[index]
    # Inside the project the path is cited relative to it: a committed report names no machine's folders.
    cited = load_report(Path(__file__).parents[2] / "data" / "soak" / "latest.json")
    assert cited is not None and cited["path"] == "data/soak/latest.json"


def run_at_1m() -> dict[str, Any]:
    """A full run at scale 2 only: PostgreSQL coverage within the bound at 1.18 M events."""
    return report(dataset("postgresql", 2.0, 1_182_195, coverage=coverage(0.43, 0.27)))


def run_at_10m(max_s: float) -> dict[str, Any]:
    """A run of its own at scale 17 on PostgreSQL (the 10 M report a run below 10 M cites)."""
    return report(
        dataset("postgresql", 17.0, 10_049_000, coverage=coverage(max_s, 0.3)),
        started_at="2026-12-06T10:00:00+00:00",
        path="data/bench/latest-full-10m.json",
    )


def test_a_run_below_10m_cites_the_latest_10m_run() -> None:
    met = by_id(evaluate_targets(run_at_1m(), None, run_at_10m(0.47)))["coverage_postgresql"]
    assert met["verdict"] == MET
    assert met["measured"].startswith("`make bench` of 2026-12-06T10:00:00+00:00, postgresql, scale 17")
    assert "measured by the run of data/bench/latest-full-10m.json, not by this run" in met["why"]
    assert met["figures"]["events"] == 10_049_000
    missed = by_id(evaluate_targets(run_at_1m(), None, run_at_10m(0.8)))["coverage_postgresql"]
    assert missed["verdict"] == MISSED and "3 views over 0.5 s" in missed["why"]
    assert "its profiles: datasets[0].coverage.profiles" in missed["why"]
    # The views over the bound are named slowest first when the report has every view's figure.
    slow = run_at_10m(0.8)
    slow["datasets"][0]["coverage"]["all"] = [
        {"view": "a × day", "seconds": 0.6, "fast": True},
        {"view": "b × day", "seconds": 0.2, "fast": True},
        {"view": "c × year", "seconds": 0.8, "fast": True},
    ]
    named = by_id(evaluate_targets(run_at_1m(), None, slow))["coverage_postgresql"]["why"]
    assert named.startswith("2 views over 0.5 s: c × year, a × day;"), named
    slow["datasets"][0]["coverage"]["all"][0]["seconds"] = 0.4  # one view over: said in the singular
    named = by_id(evaluate_targets(run_at_1m(), None, slow))["coverage_postgresql"]["why"]
    assert named.startswith("1 view over 0.5 s: c × year;"), named
    # A 10 M report without PostgreSQL at 10 M, or none: the run's own figure stands, not measured at 10 M.
    for large in (None, run_at_1m()):
        own = by_id(evaluate_targets(run_at_1m(), None, large))["coverage_postgresql"]
        assert own["verdict"] == NOT_MEASURED and "1,182,195 events" in own["why"]
    # A run that measured 10 M itself is judged by its own figures, whatever the other report says.
    own = by_id(evaluate_targets(passing(), soak(), run_at_10m(0.9)))["coverage_postgresql"]
    assert own["verdict"] == MET and own["why"] == ""


def test_retarget_rewrites_the_verdicts_and_keeps_the_figures(tmp_path: Path) -> None:
    from dashboard.perf.bench import retarget
    from dashboard.perf.config import Config
    from dashboard.perf.report import write_reports

    large = tmp_path / "latest-full-10m.json"
    cfg = replace(Config.for_mode("full", data_dir=tmp_path), soak_report=None, large_report=large)
    whole = {"mode": "full", "started_at": "t0", "finished_at": "t1", "seconds": 1, "ratios": [], "skipped": [],
             "machine": {"cpus": 2, "python": "3.11", "load_average_at_start": [0, 0, 0]}}  # fmt: skip
    ten = whole | run_at_10m(0.46)
    write_reports(cfg, ten)  # measured 10 M: written as latest-full and latest-full-10m
    assert large.exists() and (tmp_path / "latest-full-10m.md").exists()
    small = whole | run_at_1m() | {"targets": evaluate_targets(run_at_1m())}
    write_reports(cfg, small)  # below 10 M: latest-full only
    assert json.loads(large.read_text(encoding="utf-8"))["datasets"][0]["scale"] == 17.0
    before = json.loads((tmp_path / "latest-full.json").read_text(encoding="utf-8"))
    assert by_id(before["targets"])["coverage_postgresql"]["verdict"] == NOT_MEASURED
    got = retarget(tmp_path / "latest-full.json", cfg)
    after = json.loads((tmp_path / "latest-full.json").read_text(encoding="utf-8"))
    assert after["datasets"] == before["datasets"] and after == got
    assert by_id(after["targets"])["coverage_postgresql"]["verdict"] == MET
    rewritten = (tmp_path / "latest-full.md").read_text(encoding="utf-8")
    assert "measured by the run of" in rewritten and f"judged again on {after['retargeted_at']}" in rewritten
    (tmp_path / "not-a-report.json").write_text("[1]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a bench report"):
        retarget(tmp_path / "not-a-report.json", cfg)


@pytest.mark.parametrize(
    ("sql", "tables", "tiers"),
    [
        (
            "WITH fl AS MATERIALIZED (SELECT * FROM ru_fact) SELECT * FROM fl JOIN grid ON 1",
            ["ru_fact", "grid"],
            [],
        ),
        (
            "SELECT 'm' AS tier FROM ru_agg WHERE ru_agg.tier = 'm' UNION ALL SELECT 1 FROM ru_agg "
            "WHERE ru_agg.tier = 'h' UNION ALL SELECT 1 FROM ru_agg WHERE ru_agg.tier = 'd'",
            ["ru_agg"],
            ["m", "d", "h"],
        ),
        ('SELECT max(event.event_id) FROM "event", (SELECT 1) AS x', ["event"], []),
    ],
)
def test_statement_tables_and_tiers(sql: str, tables: list[str], tiers: list[str]) -> None:
    assert tables_of(sql) == tables and tiers_of(sql) == tiers


def test_statement_shown_on_one_line_and_short() -> None:
    shown = one_line("SELECT a,\n       b\n  FROM t WHERE " + "x = 1 AND " * 30)
    assert "\n" not in shown and len(shown) == 120 and shown.endswith("…")
