"""The short soak: 200 screens for about a minute against gunicorn with Redis and the live feed.

``make soak`` runs the same for an hour (outside CI); here the run is short and the memory bound
generous: a minute mostly shows the workers' warm-up, so this catches a leak per request, not a slow one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.perf.soak import SoakConfig, describe, run_soak
from tests.support.services import need_redis

SECONDS = 60
RSS_GROWTH_MB = 80  # per worker, second tenth of the run → last tenth; the hour-long soak allows 50


@pytest.mark.long  # a minute and more of load: `make test-long` (make test stays under twelve minutes)
def test_200_screens_with_the_live_feed(tmp_path: Path) -> None:
    cfg = SoakConfig(
        sections=("http",),  # the wall tab has its own short soak (test_wall_soak.py)
        minutes=SECONDS / 60,
        clients=200,
        refresh_seconds=10,
        workers=2,
        threads=4,
        scale=0.1,
        days=14,
        redis_url=need_redis(),
        data_dir=tmp_path,
        rss_every=2.0,
        max_rss_growth_mb=RSS_GROWTH_MB,
        quiet=True,
    )
    report = run_soak(cfg)
    print(describe(report))
    http = report["http"]
    assert report["cache"] == "redis"
    assert http["errors"] == 0, http["error_kinds"]
    assert http["requests"] >= 200 * (SECONDS // 10) * 0.9, "every screen polled at every refresh"
    assert http["by_kind"]["api"]["requests"] and http["by_kind"]["page"]["requests"]
    assert {"ov-key", "wall-key", "rk-key"} <= set(report["targets"])
    assert report["snapshot_builds"] >= 1
    assert report["snapshot_builds"] < http["requests"] / 10, "screens share builds through the cache"
    assert not report["rss"]["workers_replaced"]
    assert report["feed_alive_at_end"]
    assert report["rss"]["max_growth_mb"] < RSS_GROWTH_MB, report["rss"]
    assert report["verdict"] == []
