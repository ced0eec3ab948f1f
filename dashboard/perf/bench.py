"""How fast the dashboard is at district scale, measured in one run (``python -m dashboard bench``).

For each dataset (backend × scale, generated once by :func:`dashboard.sample.seed.seed_database` and reused,
keyed by seed, scale and days, under ``data/bench/``; the PostgreSQL one copied from the SQLite one by
:mod:`~dashboard.perf.transfer`) it measures:

a. the snapshot of the whole district and of one town, cold (``build_snapshot`` straight on the source,
   no cache) and warm (through :class:`~dashboard.service.snapshots.SnapshotService` and its shared cache);
b. HTTP latency of ``/api/v1/snapshot`` for 1, 10, 50 (and 200) clients polling open-loop at the refresh
   interval against gunicorn with several workers and the Redis cache, while the feed writes: p50, p95,
   p99, errors, and how many times ``build_snapshot`` really ran (every worker appends a line to a
   counter file), against the number of distinct (view, data version, minute) keys the clients saw;
c. peak RSS of each gunicorn worker above its idle baseline;
d. the time from a row written by the feed to its appearance in the API (``data_version`` changes);
e. a full slide-deck export through :func:`dashboard.export.exporter.export_view`;
g. coverage: every filter alone and in pairs × every period, each view cold through the rollups, and the
   views the direct queries answered instead (:mod:`~dashboard.perf.coverage`);
f. the usual Dash pattern (the event columns read into pandas, grouped per refresh) against plain SQL
   aggregates per refresh, for the same four panels, each in a subprocess for its peak RSS;
h. dev: the same load on ``make run``'s development server. During every load level of b and h py-spy
   samples the served processes (:mod:`~dashboard.perf.profile`).

Once per run, not per dataset (full mode): firststart, ``make run`` on empty data until the wall shows
its board (:mod:`~dashboard.perf.firststart`).

The report goes to ``data/bench/bench-<mode>-<time>.{json,md}`` (and ``latest-<mode>.*``). Modes:
``full`` (≥1M and 10M events, long, outside CI), ``quick`` (a small district, about 1-2 minutes once
seeded) and ``tiny`` (seconds, for the test suite).

The report states the targets of issue 16 against the run's figures, each met, missed (with its profile:
the slowest coverage views answered again instrumented, :mod:`~dashboard.perf.viewprofile`) or not
measured (:mod:`~dashboard.perf.targets`; the wall tab's from the latest ``make soak`` report).

The clock of the measured processes is the wall clock shifted so that "now" is the end of the reused
data (plus the time since the bench started): a dataset seeded days ago is measured as if it were live.
A new dataset ends on a Wednesday at 09:30 Xiaoshan time (:func:`~dashboard.perf.datasets.simulated_end`),
so runs on different days measure the same working morning; each run's feed moves the end on by the
run's length.

This module runs the sections over the datasets; the sections live in :mod:`~dashboard.perf.snapshots`
(a, e), :mod:`~dashboard.perf.load` (b, c, d) and :mod:`~dashboard.perf.probes` (f), the datasets in
:mod:`~dashboard.perf.datasets`, the run's settings in :mod:`~dashboard.perf.config` and the report in
:mod:`~dashboard.perf.report`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from dashboard.perf.config import EXTRA_SECTIONS, RUN_SECTIONS, SECTIONS, SUPERSET, Config, say
from dashboard.perf.coverage import measure_coverage
from dashboard.perf.datasets import Dataset, backend_available, data_end, ensure_dataset, mask_url
from dashboard.perf.firststart import measure_firststart
from dashboard.perf.load import measure_dev, measure_http
from dashboard.perf.probes import measure_pandas_vs_sql
from dashboard.perf.report import machine, ratios, write_pair, write_reports
from dashboard.perf.server import OffsetClock, drop_redis_prefix, redis_up, remove_run_files, run_id
from dashboard.perf.snapshots import measure_export, measure_rollups, measure_snapshots
from dashboard.perf.targets import evaluate_targets, load_report


def make_cache(cfg: Config, prefix: str) -> tuple[Any, str, str]:
    """The shared cache for in-process measurements: (cache, cache_url, description)."""
    from dashboard.core.settings import load_settings
    from dashboard.service.cache import init_cache

    redis_url = cfg.redis_url if redis_up(cfg.redis_url) else ""
    cache_dir = str(cfg.data_dir / f"cache-{run_id(prefix)}")
    settings = load_settings({}, CACHE_URL=redis_url, CACHE_DIR=cache_dir)
    return init_cache(settings, key_prefix=prefix), redis_url, ("redis" if redis_url else "filesystem")


def measure_dataset(cfg: Config, ds: Dataset, http: bool) -> dict[str, Any]:
    """Every section of ``cfg`` on one dataset (HTTP and export only when ``http``)."""
    from dashboard.service.snapshots import SnapshotService
    from dashboard.service.state import StateStore
    from dashboard.source.engines import make_source_engine

    end = data_end(ds.url)
    offset = max(0.0, (dt.datetime.now(dt.UTC) - end).total_seconds())
    clock = OffsetClock(offset)
    out: dict[str, Any] = {
        "backend": ds.backend,
        "scale": ds.scale,
        "days": ds.days,
        "url": mask_url(ds.url),
        "events": ds.counts.get("event", 0),
        "actions": ds.counts.get("event_action", 0),
        "reused": ds.reused,
        "seed_seconds": ds.seed_seconds,
        "data_end": end.isoformat(),
        "skipped": {},
    }
    prefix = f"xsbench:{uuid.uuid4().hex[:10]}:"
    cache, redis_url, kind = make_cache(cfg, prefix)
    state_path = cfg.data_dir / f"state-{run_id(prefix)}.db"
    engine = make_source_engine(ds.url, timeout_ms=3_600_000)
    service = SnapshotService(
        engine, StateStore(f"sqlite:///{state_path}"), cache, clock, wait_seconds=3600.0
    )
    out["cache"] = kind
    timings: dict[str, float] = {}
    out["section_seconds"] = timings

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        """Run one section; a failure is reported in its place (the other sections still run)."""
        started = time.perf_counter()
        try:
            return fn()
        except Exception as exc:
            import traceback

            traceback.print_exc()
            return {"error": f"{type(exc).__name__}: {exc}"[:500]}
        finally:
            timings[name] = round(time.perf_counter() - started, 2)

    try:
        if "snapshot" in cfg.sections:
            out["snapshot"] = timed("snapshot", lambda: measure_snapshots(cfg, ds, clock, service))
        if "rollups" in cfg.sections:
            out["rollups"] = timed("rollups", lambda: measure_rollups(cfg, ds, clock))
        if "coverage" in cfg.sections:
            out["coverage"] = timed("coverage", lambda: measure_coverage(cfg, ds, clock))
        if {"pandas", "sql"} & set(cfg.sections):
            out["pandas_vs_sql"] = timed("pandas", lambda: measure_pandas_vs_sql(cfg, ds, clock))
        if "export" in cfg.sections:
            if http:
                out["export"] = timed("export", lambda: measure_export(cfg, ds, service))
            else:
                out["skipped"]["export"] = f"measured once per scale, on {cfg.http_backend}"
        if "dev" in cfg.sections and ds.backend == "sqlite":  # make run's own setup: SQLite, one process
            out["dev"] = timed("dev", lambda: measure_dev(cfg, ds, offset, clock))
        if http and ({"http", "latency"} & set(cfg.sections)):
            out["http"] = timed("http", lambda: measure_http(cfg, ds, offset, clock))
        elif {"http", "latency"} & set(cfg.sections):
            out["skipped"]["http"] = f"measured once per scale, on {cfg.http_backend}"
    finally:
        engine.dispose()
        service.state.engine.dispose()
        drop_redis_prefix(redis_url, prefix)
        remove_run_files(cfg.data_dir, prefix)
    return out


def run_section(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A section of the run as a whole; a failure is reported in its place (the rest still runs)."""
    try:
        return fn()
    except Exception as exc:
        import traceback

        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def run_bench(cfg: Config) -> dict[str, Any]:
    """Measure every dataset of ``cfg``; write the JSON and Markdown reports; return the report."""
    unknown = set(cfg.sections) - set(SECTIONS) - set(EXTRA_SECTIONS)
    if unknown:
        raise ValueError(
            f"--sections: unknown {', '.join(sorted(unknown))} (choose from {', '.join(SECTIONS + EXTRA_SECTIONS)})"
        )
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    report: dict[str, Any] = {
        "mode": cfg.mode,
        "command": "python -m dashboard bench " + " ".join(sys.argv[2:])
        if sys.argv[1:2] == ["bench"]
        else None,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items() if k != "quiet"},
        "references": {"superset_6_1": SUPERSET},
        "datasets": [],
        "skipped": [],
    }
    report["config"]["pg_url"] = mask_url(cfg.pg_url)
    if "firststart" in cfg.sections:  # make run's own sample on empty data: not one of the datasets
        report["firststart"] = run_section(lambda: measure_firststart(cfg))
    if not set(cfg.sections) - set(RUN_SECTIONS):  # no dataset section asked for: none seeded
        cfg = replace(cfg, backends=())
    backends = []
    for backend in cfg.backends:
        why = backend_available(cfg, backend)
        if why:
            report["skipped"].append({"what": f"backend {backend}", "why": why})
            say(cfg, f"! skipping {backend}: {why}")
        else:
            backends.append(backend)
    http_backend = cfg.http_backend if cfg.http_backend in backends else None
    if http_backend is None and backends:
        http_backend = "postgresql" if "postgresql" in backends else backends[0]
    cfg = replace(cfg, http_backend=http_backend)
    report["config"]["http_backend"] = http_backend
    steps = len(backends) * len(cfg.scales)
    try:
        for j, scale in enumerate(cfg.scales):
            # Every dataset of a scale before any is measured: the PostgreSQL one is copied from the
            # finished SQLite one (same rows), before the feed of a measured run writes into either.
            made = {b: ensure_dataset(cfg, b, scale) for b in sorted(backends, key=lambda b: b != "sqlite")}
            for k, backend in enumerate(backends):
                say(cfg, f"[{j * len(backends) + k + 1}/{steps}] {backend}, scale {scale:g}, {cfg.days} days")
                report["datasets"].append(measure_dataset(cfg, made[backend], http=backend == http_backend))
    except BaseException as exc:  # interrupted or a dataset failed: keep what was measured
        report["skipped"].append({"what": "the rest of the run", "why": f"{type(exc).__name__}: {exc}"[:300]})
        raise
    finally:
        report["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        report["seconds"] = round(time.time() - started, 1)
        report["ratios"] = ratios(report)
        report["targets"] = targets_or_why(
            report, load_report(cfg.soak_report), load_report(cfg.large_report)
        )
        write_reports(cfg, report)
    return report


def retarget(path: Path, cfg: Config) -> dict[str, Any]:
    """Judge the targets of a written report again, with the latest soak and 10 M reports of ``cfg``, and
    rewrite its JSON and Markdown in place. Its figures stay as measured: only the verdicts can change,
    when a report it cites is newer (a 10 M run made after the full run at 1 M, say)."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--retarget: {path} is not a bench report: {exc}") from exc
    if not isinstance(report, dict) or not isinstance(report.get("datasets"), list):
        raise ValueError(f"--retarget: {path} is not a bench report (no datasets)")
    report["targets"] = targets_or_why(report, load_report(cfg.soak_report), load_report(cfg.large_report))
    report["retargeted_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    write_pair(path, report)
    return report


def targets_or_why(
    report: dict[str, Any], soak: dict[str, Any] | None, large: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The verdicts on issue 16's targets; an error in place of them rather than no report at all."""
    try:
        return evaluate_targets(report, soak, large)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        return [{"id": "error", "target": "every target", "verdict": "not measured", "measured": "–",
                 "why": f"the verdicts failed: {type(exc).__name__}: {exc}"[:300], "profile": None, "figures": {}}]  # fmt: skip
