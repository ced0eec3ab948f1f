"""Bench section (g), coverage: every filter alone and in pairs × every period, each view cold through
the rollups, and which views the direct queries answered instead (fallbacks).

A view's "cold" time is what a first request for it costs without the snapshot cache: bring the rollups
up to date (:meth:`~dashboard.rollups.store.RollupStore.sync`, nothing to do between two views) and
build it (:func:`~dashboard.rollups.read.answer`). The target (issue 16): every view at most 0.5 s,
the median at most 0.25 s, no fallbacks. The slowest views over 0.5 s (at most :data:`PROFILED_VIEWS`)
are answered cold once more with their statements timed and a cProfile (:mod:`~dashboard.perf.viewprofile`),
so the report names each missed view with its profile.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
import time
from collections.abc import Callable
from typing import Any

from dashboard.perf.config import TOWN, Config, say
from dashboard.perf.stats import percentile

PERIODS = ("day", "week", "month", "quarter", "year", "custom")
FILTERS = ("town", "village", "grid", "category", "source", "dept", "eastern", "as_of")
TINY_PERIODS = ("month", "custom")
TARGET_MAX_S = 0.5
TARGET_MEDIAN_S = 0.25
PROFILED_VIEWS = 5  # the slowest views over target profiled: bounded, to keep the bench's length
# Passes over the whole matrix: a view's figure is the median of its passes. Why not one: on the 2-core
# machine a single cold answer now and then takes 2-3 times its usual time (another process, the page
# cache), and profiled again at once the same view answers in its usual time (seen: 0.65 s in the
# matrix, 0.23 s profiled). The first pass's own figures are reported beside (``first_pass``).
PASSES = 3


def busiest_grid(url: str, town: str) -> str:
    """The grid of ``town`` with the most events (its village is the village of the matrix)."""
    from sqlalchemy import func, select

    from dashboard.source import schema
    from dashboard.source.engines import make_source_engine

    e = schema.event
    engine = make_source_engine(url)
    try:
        with engine.connect() as conn:
            q = (
                select(e.c.grid_code)
                .where(e.c.town_code == town, e.c.grid_code.is_not(None))  # not 未落网格
                .group_by(e.c.grid_code)
                .order_by(func.count().desc(), e.c.grid_code)
                .limit(1)
            )
            found = conn.execute(q).scalar()
    finally:
        engine.dispose()
    return str(found or f"{town}001001")


def filter_values(grid: str, now: dt.datetime) -> dict[str, dict[str, Any]]:
    """Each filter of the matrix as ViewState fields (one town, its village and grid, one of each code)."""
    return {
        "town": {"towns": (grid[:9],)},
        "village": {"village": grid[:12]},
        "grid": {"grid": grid},
        "category": {"categories": ("CITY_APPEARANCE",)},
        "source": {"sources": ("HOTLINE_12345",)},
        "dept": {"depts": ("D03_CITYMGMT",)},
        "eastern": {"eastern": "exclude"},
        "as_of": {"as_of": now - dt.timedelta(hours=26)},
    }


def period_fields(period: str, now: dt.datetime) -> dict[str, Any]:
    """A period's ViewState fields; the custom range is the longest the grammar allows (three years)."""
    if period != "custom":
        return {"period": period}
    from dashboard.core.periods import local_date

    to = local_date(now)
    start = to.replace(year=to.year - 3) + dt.timedelta(days=1)
    return {"period": "custom", "date_from": start, "date_to": to}


def coverage_views(grid: str, now: dt.datetime, tiny: bool = False) -> list[tuple[str, Any]]:
    """(label, ViewState): no filter, each filter alone and (not tiny) each pair, × each period."""
    from dashboard.core.viewstate import ViewState

    values = filter_values(grid, now)
    combos: list[tuple[str, ...]] = [(), *((f,) for f in FILTERS)]
    if not tiny:
        combos += list(itertools.combinations(FILTERS, 2))
    out = []
    for period in TINY_PERIODS if tiny else PERIODS:
        for combo in combos:
            fields: dict[str, Any] = period_fields(period, now)
            for name in combo:
                fields.update(values[name])
            out.append((f"{'+'.join(combo) or 'district'} × {period}", ViewState(**fields)))
    return out


def time_views(
    source_url: str,
    rollups_url: str,
    views: list[tuple[str, Any]],
    now: Callable[[], dt.datetime],
    passes: int = PASSES,
) -> dict[str, Any]:
    """Each view cold (sync + answer) on one source, in ``passes`` passes over the matrix; the summary
    (each view's median over the passes), the slowest and the fallbacks, and the first pass's figures.

    The views are timed with the garbage collector tuned as in the servers (:mod:`dashboard.core.runtime`)
    whose requests they stand for."""
    from dashboard.core.runtime import collector_as_in_servers
    from dashboard.rollups.read import answer
    from dashboard.rollups.store import RollupStore
    from dashboard.source.engines import make_source_engine, make_writer_engine

    engine = make_source_engine(source_url, timeout_ms=3_600_000)
    store = RollupStore(make_writer_engine(rollups_url))
    runs: list[list[dict[str, Any]]] = []
    try:
        with engine.connect() as conn:
            first = store.sync(conn)
        with collector_as_in_servers():
            for _ in range(max(1, passes)):
                runs.append([])
                for label, view in views:
                    with engine.connect() as conn:
                        started = time.perf_counter()
                        store.sync(conn)
                        _, fast = answer(conn, store, view, now())
                        seconds = round(time.perf_counter() - started, 4)
                        runs[-1].append({"view": label, "seconds": seconds, "fast": fast})
    finally:
        engine.dispose()
        store.engine.dispose()
    rows = [
        {
            "view": label,
            "seconds": round(statistics.median(run[i]["seconds"] for run in runs), 4),
            "fast": all(run[i]["fast"] for run in runs),
        }
        for i, (label, _view) in enumerate(views)
    ]
    got = summarise(rows, first.seconds if first.rebuilt else None)
    got["passes"] = len(runs)
    once = summarise(runs[0], None)
    got["first_pass"] = {k: once[k] for k in ("max_s", "median_s", "over_max_target", "slowest")}
    return got


def summarise(rows: list[dict[str, Any]], build_s: float | None) -> dict[str, Any]:
    """The matrix's figures: max, median, p90, the views over target, the fallbacks, the slowest ten."""
    seconds = sorted(r["seconds"] for r in rows)
    return {
        "views": len(rows),
        "rollup_build_s": build_s,
        "max_s": seconds[-1] if seconds else None,
        "median_s": round(statistics.median(seconds), 4) if seconds else None,
        "p90_s": percentile(seconds, 90),
        "over_max_target": [r["view"] for r in rows if r["seconds"] > TARGET_MAX_S],
        "fallbacks": [r["view"] for r in rows if not r["fast"]],
        "slowest": sorted(rows, key=lambda r: -r["seconds"])[:10],
        "all": rows,
    }


def measure_coverage(cfg: Config, ds: Any, clock: Any) -> dict[str, Any]:
    """Section (g) on one dataset: the coverage matrix through the dataset's rollups."""
    from dashboard.perf.datasets import rollup_url

    grid = busiest_grid(ds.url, TOWN)
    views = coverage_views(grid, clock.now(), tiny=cfg.mode == "tiny")
    got = time_views(
        ds.url, rollup_url(cfg, ds), views, clock.now, passes=1 if cfg.mode == "tiny" else PASSES
    )
    got["profiles"] = profile_slowest(ds.url, rollup_url(cfg, ds), views, got, clock.now)
    say(
        cfg,
        f"  {ds.backend} x{ds.scale:g} coverage: {got['views']} views, max {got['max_s']:.3f} s, "
        f"median {got['median_s']:.3f} s, {len(got['fallbacks'])} fallbacks",
    )
    return got


def profile_slowest(
    source_url: str,
    rollups_url: str,
    views: list[tuple[str, Any]],
    got: dict[str, Any],
    now: Callable[[], dt.datetime],
    over_s: float = TARGET_MAX_S,
) -> list[dict[str, Any]]:
    """The profiles of the slowest views over ``over_s`` (at most :data:`PROFILED_VIEWS`), each with the
    seconds the matrix measured; a failure is reported in place of the profiles."""
    from dashboard.perf.viewprofile import profile_views

    timed = {r["view"]: r["seconds"] for r in got["all"]}
    slow = sorted((r for r in got["all"] if r["seconds"] > over_s), key=lambda r: -r["seconds"])
    chosen = {r["view"] for r in slow[:PROFILED_VIEWS]}
    try:
        profiles = profile_views(source_url, rollups_url, [v for v in views if v[0] in chosen], now)
    except Exception as exc:
        return [{"error": f"{type(exc).__name__}: {exc}"[:300]}]
    ordered = sorted(profiles, key=lambda p: -timed[p["view"]])
    return [
        {"view": p["view"], "timed_s": timed[p["view"]], **{k: v for k, v in p.items() if k != "view"}}
        for p in ordered
    ]
