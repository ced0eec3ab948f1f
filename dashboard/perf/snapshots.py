"""Bench sections measured in-process: snapshots cold and warm (a), through the rollups (a'), and the
slide-deck export (e)."""

from __future__ import annotations

import os
import shutil
import statistics
import time
from typing import Any

from dashboard.core.scope import DISTRICT
from dashboard.perf.config import TOWN, Config, say
from dashboard.perf.datasets import Dataset, rollup_url
from dashboard.perf.server import OffsetClock
from dashboard.perf.stats import summary


def measure_snapshots(cfg: Config, ds: Dataset, clock: OffsetClock, service: Any) -> dict[str, Any]:
    """Section (a): the district's and a town's snapshot, cold on the source and warm through the service."""
    from dashboard.core.viewstate import ViewState
    from dashboard.source.engines import make_source_engine
    from dashboard.source.queries.snapshot import build_snapshot

    engine = make_source_engine(ds.url, timeout_ms=3_600_000)
    out: dict[str, Any] = {}
    try:
        for label, view in (("district", ViewState()), ("town", ViewState(towns=(TOWN,)))):
            cold = []
            for _ in range(cfg.repeats):
                with engine.connect() as conn:
                    started = time.perf_counter()
                    build_snapshot(conn, view, clock.now())
                    cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            first = service.snapshot(view, DISTRICT)  # a miss: computes once and fills the cache
            first_s = time.perf_counter() - started
            warm = []
            for _ in range(cfg.warm_repeats):
                started = time.perf_counter()
                result = service.snapshot(view, DISTRICT)
                warm.append(time.perf_counter() - started)
            if first.snapshot is None or result.snapshot is None:
                raise RuntimeError(f"service answered no snapshot for {label}: {first.error or result.error}")
            out[label] = {
                "cold_s": summary(cold),
                "first_through_service_s": round(first_s, 4),
                "warm_s": summary(warm),
                "cold_over_warm": round(statistics.median(cold) / max(statistics.median(warm), 1e-6), 1),
            }
            say(
                cfg,
                f"  {ds.backend} x{ds.scale:g} {label}: cold {statistics.median(cold):.3f} s, "
                f"warm {statistics.median(warm) * 1000:.2f} ms",
            )
    finally:
        engine.dispose()
    return out


def measure_rollups(cfg: Config, ds: Dataset, clock: OffsetClock) -> dict[str, Any]:
    """Cold snapshots on the fast path: bring the rollups up to date, then ``build_snapshot_fast``.

    The first run on a dataset builds the rollups (timed as ``build_s``); later runs only sync.
    """
    from dashboard.core.viewstate import ViewState
    from dashboard.rollups.read import build_snapshot_fast, eligible
    from dashboard.rollups.store import RollupStore
    from dashboard.source.engines import make_source_engine, make_writer_engine

    engine = make_source_engine(ds.url, timeout_ms=3_600_000)
    store = RollupStore(make_writer_engine(rollup_url(cfg, ds)))
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            first = store.sync(conn)
        out["build_s" if first.rebuilt else "first_sync_s"] = first.seconds
        say(
            cfg,
            f"  {ds.backend} x{ds.scale:g} rollups {'built' if first.rebuilt else 'synced'} in {first.seconds} s",
        )
        for label, view in (("district", ViewState()), ("town", ViewState(towns=(TOWN,)))):
            cold, syncs = [], []
            for _ in range(max(cfg.repeats, 3)):
                with engine.connect() as conn:
                    started = time.perf_counter()
                    syncs.append(store.sync(conn).seconds)
                    build_snapshot_fast(conn, store, view, clock.now())
                    cold.append(time.perf_counter() - started)
            fast = eligible(view, clock.now(), store.meta())
            out[label] = {"cold_s": summary(cold), "sync_s": summary(syncs), "fast_path": fast}
            say(
                cfg, f"  {ds.backend} x{ds.scale:g} {label} via rollups: cold {statistics.median(cold):.3f} s"
            )
    finally:
        engine.dispose()
        store.engine.dispose()
    return out


def measure_export(cfg: Config, ds: Dataset, service: Any) -> dict[str, Any]:
    """Section (e): a full PPTX deck of the district (skipped without Chromium)."""
    if shutil.which("chromium") is None and not os.environ.get("BROWSER_PATH"):
        return {"skipped": "no Chromium on this machine (kaleido needs it for the map pictures)"}
    from dashboard.core.viewstate import ViewState
    from dashboard.export.exporter import export_view
    from dashboard.export.images import get_renderer
    from dashboard.source.engines import make_source_engine
    from dashboard.source.units import UnitDirectory

    engine = make_source_engine(ds.url, timeout_ms=3_600_000)
    units = UnitDirectory(engine)
    try:
        started = time.perf_counter()
        payload, filename, _ = export_view(service, units.geojson, ViewState(), "pptx", scope=DISTRICT)
        first = time.perf_counter() - started
        second = None
        if cfg.mode != "tiny":  # the test's tiny run renders once
            started = time.perf_counter()
            export_view(service, units.geojson, ViewState(), "pptx", scope=DISTRICT)
            second = time.perf_counter() - started
    finally:
        get_renderer().close()
        engine.dispose()
    say(
        cfg,
        f"  {ds.backend} x{ds.scale:g} export: {first:.1f} s (again {second or 0:.1f} s), {len(payload):,} bytes",
    )
    return {
        "format": "pptx",
        "pages": "all",
        "seconds_first": round(first, 3),
        "seconds_again": None if second is None else round(second, 3),
        "bytes": len(payload),
        "filename": filename,
        "note": "first includes starting Chromium for kaleido; again reuses it and the cached snapshot",
    }
