"""``python -m dashboard soak``: many screens polling, then a wall tab in Chromium, with the live feed writing.

Two sections (``--sections``), one after the other, each on a gunicorn of its own. **http**: the soak starts the benchmark's gunicorn (:class:`dashboard.perf.server.Server`: several workers, the Redis
cache, a counter line for every snapshot build) on a seeded SQLite district, runs the live feed
(``python -m dashboard simulate``) next to it, and lets ``--clients`` screens poll open-loop at the
refresh interval for ``--minutes``. A third of the screens read ``/api/v1/snapshot``; the others send
the ``/_dash-update-component`` requests of the pages and the wall, as the browser does on each tick
(with the render key of their last answer, so an unchanged board costs a 204). Each screen keeps one
view: the district, two towns, a week, English.

It reports errors (must be zero), latency percentiles, every worker's RSS over time (must stay flat:
the median of the last tenth of the run against the median of the second tenth, after the warm-up)
and how many snapshot builds the workers ran. ``make soak`` runs an hour; the test suite runs a short
version (tests/perf/test_soak.py). The screens are :mod:`dashboard.perf.client`'s, which the fault tests
use too. **wall**: one wall tab in headless Chromium at a 1-second refresh for 5,000 cycles, its JS heap,
DOM nodes and listeners sampled over CDP (:mod:`dashboard.perf.wallsoak`; short: tests/perf/test_wall_soak.py).
The report goes to ``data/soak/`` as JSON and Markdown (:func:`write_report`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from dashboard.core.settings import DATA_DIR
from dashboard.perf.client import VIEWS, Tally, Target, plan_targets, run_screens, send
from dashboard.perf.config import REDIS_URL, Config
from dashboard.perf.datasets import Dataset, ensure_dataset
from dashboard.perf.server import Server, drop_redis_prefix, read_counter, redis_up, remove_run_files, rss_mb
from dashboard.perf.wallsoak import (
    WallSoakConfig,
    config_of,
    describe_wall,
    run_wall_soak,
    wall_markdown,
    wall_problems,
)


class RssSeries:
    """VmRSS of each worker every ``every`` seconds, for the whole run."""

    def __init__(self, pids: list[int], every: float) -> None:
        self.pids = pids
        self.every = every
        self.samples: list[tuple[float, dict[int, float]]] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._sample()
        self._thread.start()

    def _sample(self) -> None:
        values = {pid: v for pid in self.pids if (v := rss_mb(pid)) is not None}
        self.samples.append((time.monotonic() - self.started, values))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        self._sample()
        return flatness(self.samples, self.pids)


def flatness(samples: list[tuple[float, dict[int, float]]], pids: list[int]) -> dict[str, Any]:
    """Per worker: the baseline (median of the second tenth of the run), the end (median of the last
    tenth), their difference, the peak; and the series, thinned to about 30 points."""
    end_t = samples[-1][0] if samples else 0.0

    def median_between(pid: int, lo: float, hi: float) -> float | None:
        values = [s[pid] for t, s in samples if lo <= t <= hi and pid in s]
        return round(statistics.median(values), 1) if values else None

    workers = []
    for pid in pids:
        baseline = median_between(pid, 0.1 * end_t, 0.2 * end_t)
        end = median_between(pid, 0.9 * end_t, end_t)
        peak = max((s[pid] for _t, s in samples if pid in s), default=0.0)
        alive = pid in samples[-1][1] if samples else False
        growth = round(end - baseline, 1) if baseline is not None and end is not None else None
        workers.append({"pid": pid, "baseline_mb": baseline, "end_mb": end, "peak_mb": round(peak, 1),
                        "growth_mb": growth, "alive_at_end": alive})  # fmt: skip
    step = max(1, len(samples) // 30)
    series = [{"t": round(t), "mb": [round(s.get(pid, 0.0), 1) for pid in pids]} for t, s in samples[::step]]
    growths = [w["growth_mb"] for w in workers if w["growth_mb"] is not None]
    return {"workers": workers, "max_growth_mb": max(growths, default=0.0), "series": series}


# --- the run ----------------------------------------------------------------------------------------------


SECTIONS = ("http", "wall")  # polling screens over HTTP; one wall tab in Chromium


@dataclass
class SoakConfig:
    """One soak run: how long, how many screens, the server's size and the pass criteria."""

    minutes: float = 60.0
    clients: int = 200
    refresh_seconds: int = 10
    workers: int = 3
    threads: int = 4
    scale: float = 0.3
    days: int = 60
    seed: int = 42
    database_url: str | None = None  # an existing SQLite source instead of the seeded one
    feed: bool = True
    feed_rate: float = 1.0
    redis_url: str = REDIS_URL
    data_dir: Path = DATA_DIR / "soak"
    rss_every: float = 10.0
    max_rss_growth_mb: float = 50.0
    quiet: bool = False
    sections: tuple[str, ...] = SECTIONS
    wall: WallSoakConfig = field(default_factory=WallSoakConfig)  # the browser section


def say(cfg: SoakConfig, message: str) -> None:
    """A progress line on stderr, unless the run is quiet."""
    if not cfg.quiet:
        print(message, file=sys.stderr, flush=True)


def dataset(cfg: SoakConfig) -> Dataset:
    """The soak's source: the given SQLite database, else the seeded (and reused) district."""
    if cfg.database_url:
        return Dataset("sqlite", cfg.scale, cfg.days, cfg.database_url, True, None)
    bench = Config.for_mode("tiny", seed=cfg.seed, days=cfg.days, data_dir=cfg.data_dir, quiet=cfg.quiet)
    return ensure_dataset(bench, "sqlite", cfg.scale)


@contextlib.contextmanager
def live_feed(cfg: SoakConfig, url: str) -> Iterator[subprocess.Popen[bytes] | None]:
    """``python -m dashboard simulate`` on the source (it first catches up to now), stopped at the end."""
    if not cfg.feed:
        yield None
        return
    cmd = [sys.executable, "-m", "dashboard", "simulate", "--database-url", url, "--tick", "2",
           "--rate", str(cfg.feed_rate), "--seed", str(cfg.seed), "--quiet"]  # fmt: skip
    with open(cfg.data_dir / "feed.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def run_soak(cfg: SoakConfig) -> dict[str, Any]:
    """Seed (or reuse) the district, start the feed, run each section of ``cfg.sections``, and report."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    ds = dataset(cfg)
    redis_url = cfg.redis_url if redis_up(cfg.redis_url) else ""
    config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items() if k != "wall"}
    config["wall"] = config_of(cfg.wall)
    report: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": config,
        "sections": list(cfg.sections),
        "source": {"url": ds.url, "events": ds.counts.get("event")},
        "cache": "redis" if redis_url else "filesystem (Redis not reachable)",
        "load_average": {"start": load_average()},
    }
    with live_feed(cfg, ds.url) as feed:
        if "http" in cfg.sections:
            report.update(http_section(cfg, ds, redis_url))
        if "wall" in cfg.sections:
            report["wall"] = wall_section(cfg, ds, redis_url)
        report["feed_alive_at_end"] = feed is not None and feed.poll() is None
    report["load_average"]["end"] = load_average()
    report["verdict"] = verdict(cfg, report)
    return report


def load_average() -> list[float]:
    """The machine's 1, 5 and 15-minute load averages: a shared machine slows the soak's timings."""
    return [round(x, 2) for x in os.getloadavg()]


@contextlib.contextmanager
def soak_server(cfg: SoakConfig, ds: Dataset, redis_url: str, refresh_seconds: int) -> Iterator[Server]:
    """The soak's gunicorn on the dataset, with a cache prefix and run files of its own, removed after."""
    prefix = f"xssoak:{uuid.uuid4().hex[:10]}:"
    server = Server(
        ds.url,
        cfg.data_dir,
        workers=cfg.workers,
        threads=cfg.threads,
        refresh_seconds=refresh_seconds,
        offset=0.0,
        prefix=prefix,
        redis_url=redis_url,
    )
    try:
        say(cfg, f"soak: gunicorn {cfg.workers}×{cfg.threads} on {ds.url}, refresh {refresh_seconds} s")
        server.wait_ready()
        yield server
    finally:
        server.stop()
        drop_redis_prefix(redis_url, prefix)
        remove_run_files(cfg.data_dir, prefix)


def http_section(cfg: SoakConfig, ds: Dataset, redis_url: str) -> dict[str, Any]:
    """``cfg.clients`` polling screens for ``cfg.minutes``: errors, latency, worker RSS, builds."""
    out: dict[str, Any] = {}
    with soak_server(cfg, ds, redis_url, cfg.refresh_seconds) as server:
        targets = plan_targets(server.base)
        for view in VIEWS:  # the first build of each view is not part of the steady state
            send(server.base, Target("warm", f"/api/v1/snapshot?{view}"), timeout=600)
        pids = server.process_pids()
        rss = RssSeries(pids, cfg.rss_every)
        tally = Tally()
        began = time.time()
        say(cfg, f"soak: {cfg.clients} screens every {cfg.refresh_seconds} s for {cfg.minutes:g} min …")
        done = threading.Event()
        threading.Thread(target=progress, args=(cfg, tally, rss, done), daemon=True).start()
        run_screens(server.base, targets, cfg.clients, cfg.minutes * 60, float(cfg.refresh_seconds), tally)
        done.set()
        ended = time.time()
        out["rss"] = rss.stop()
        out["rss"]["workers_replaced"] = sorted(set(server.process_pids()) ^ set(pids))
        lines = read_counter(server.counter, began, ended)
    out["http"] = tally.summary()
    out["seconds"] = round(ended - began, 1)
    builds = [s for kind, s, _v in lines if kind == "build"]
    out["snapshot_builds"] = len(builds)
    out["build_seconds_total"] = round(sum(builds), 1)
    out["data_version_reads"] = sum(1 for kind, _s, _v in lines if kind == "version")
    out["targets"] = sorted({t.label.split(":")[0] for t in targets})
    return out


def wall_section(cfg: SoakConfig, ds: Dataset, redis_url: str) -> dict[str, Any]:
    """One wall tab in headless Chromium for ``cfg.wall.cycles`` refresh cycles (:mod:`wallsoak`), on a
    server refreshing at the wall's interval; its workers' RSS is followed too."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    wall = replace(
        cfg.wall, samples_file=cfg.wall.samples_file or cfg.data_dir / f"wall-samples-{stamp}.jsonl"
    )
    with soak_server(cfg, ds, redis_url, wall.refresh_seconds) as server:
        pids = server.process_pids()
        rss = RssSeries(pids, max(cfg.rss_every, 30.0))
        minutes = wall.cycles * wall.refresh_seconds / 60
        say(cfg, f"soak: the wall in Chromium, {wall.cycles} cycles of {wall.refresh_seconds} s "
                 f"(≈ {minutes:.0f} min), samples in {wall.samples_file} …")  # fmt: skip
        try:
            out = run_wall_soak(server.base, wall)
        finally:
            server_rss = rss.stop()
        server_rss["workers_replaced"] = sorted(set(server.process_pids()) ^ set(pids))
    out["server_rss"] = server_rss
    return out


def progress(
    cfg: SoakConfig, tally: Tally, rss: RssSeries, done: threading.Event, every: float = 60.0
) -> None:
    """A line a minute for the person watching an hour-long run."""
    started = time.monotonic()
    while not cfg.quiet and not done.wait(every):
        now = tally.summary()
        mb = ", ".join(f"{v:.0f}" for v in rss.samples[-1][1].values()) if rss.samples else "?"
        say(cfg, f"  {(time.monotonic() - started) / 60:5.1f} min: {now['requests']} requests, "
                 f"{now['errors']} errors, p95 {now['p95_ms']} ms, worker RSS {mb} MB")  # fmt: skip


def verdict(cfg: SoakConfig, report: dict[str, Any]) -> list[str]:
    """What failed (empty: the soak passed)."""
    problems = []
    if "http" in report:
        if report["http"]["errors"]:
            problems.append(f"{report['http']['errors']} errors: {report['http']['error_kinds']}")
        if report["rss"]["max_growth_mb"] > cfg.max_rss_growth_mb:
            problems.append(
                f"worker RSS grew {report['rss']['max_growth_mb']} MB (> {cfg.max_rss_growth_mb})"
            )
        if report["rss"]["workers_replaced"]:
            problems.append(f"workers died or were replaced: {report['rss']['workers_replaced']}")
    if "wall" in report:
        problems += wall_problems(report["wall"])
        if report["wall"]["server_rss"]["workers_replaced"]:
            problems.append(
                f"wall: workers died or were replaced: {report['wall']['server_rss']['workers_replaced']}"
            )
    if cfg.feed and not report["feed_alive_at_end"]:
        problems.append("the live feed stopped")
    return problems


def describe(report: dict[str, Any]) -> str:
    """The report in a few lines for the terminal, ending in PASS or FAIL."""
    lines = []
    if "http" in report:
        http = report["http"]
        lines += [
            f"soak: {report['config']['clients']} screens, {report['seconds']} s, "
            f"{http['requests']} requests, {http['errors']} errors, {http['stale_answers']} stale",
            f"  latency p50 {http['p50_ms']} ms, p95 {http['p95_ms']} ms, p99 {http['p99_ms']} ms, "
            f"max {http['max_ms']} ms (api p95 {http['by_kind']['api']['p95_ms']} ms, "
            f"pages p95 {http['by_kind']['page']['p95_ms']} ms)",
            f"  snapshot builds {report['snapshot_builds']} ({report['build_seconds_total']} s), "
            f"data-version reads {report['data_version_reads']}",
        ]
        for w in report["rss"]["workers"]:
            lines.append(
                f"  worker {w['pid']}: RSS {w['baseline_mb']} → {w['end_mb']} MB "
                f"(growth {w['growth_mb']}, peak {w['peak_mb']})"
            )
    if "wall" in report:
        lines += describe_wall(report["wall"])
        for w in report["wall"]["server_rss"]["workers"]:
            lines.append(f"  wall server worker {w['pid']}: RSS {w['baseline_mb']} → {w['end_mb']} MB")
    lines.append("  PASS" if not report["verdict"] else "  FAIL: " + "; ".join(report["verdict"]))
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: the verdict, the machine, then each section that ran."""
    load = report.get("load_average", {})
    lines = [
        f"# Soak {report['started_at']}",
        "",
        "**PASS**" if not report["verdict"] else "**FAIL**: " + "; ".join(report["verdict"]),
        "",
        f"Sections: {', '.join(report['sections'])}. Source: {report['source']['events']} events "
        f"(`{report['source']['url']}`), the live feed running; cache: {report['cache']}. Machine: "
        f"{os.cpu_count()} cores, load average {load.get('start')} at the start and {load.get('end')} at "
        "the end (the machine may be shared: timings move with it, memory figures much less).",
        "",
    ]
    if report.get("note"):  # how a report was put together, when not by one plain run
        lines += [f"Note: {report['note']}", ""]
    if "http" in report:
        http = report["http"]
        lines += [
            "## Polling screens",
            "",
            f"{report['config']['clients']} screens every {report['config']['refresh_seconds']} s for "
            f"{report['seconds']} s: {http['requests']} requests, {http['errors']} errors, p50 {http['p50_ms']} ms, "
            f"p95 {http['p95_ms']} ms, p99 {http['p99_ms']} ms; {report['snapshot_builds']} snapshot builds. "
            "Worker RSS (MB), second tenth → last tenth: "
            + ", ".join(f"{w['baseline_mb']} → {w['end_mb']}" for w in report["rss"]["workers"])
            + ".",
            "",
        ]
    if "wall" in report:
        lines += wall_markdown(report["wall"])
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], data_dir: Path) -> list[Path]:
    """``soak-<time>.json`` and ``.md`` in ``data_dir``, copied to ``latest.json`` and ``latest.md``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, ensure_ascii=False, indent=1)
    page = markdown(report)
    written = []
    for name in (f"soak-{stamp}", "latest"):
        (data_dir / f"{name}.json").write_text(text, encoding="utf-8")
        (data_dir / f"{name}.md").write_text(page, encoding="utf-8")
        written += [data_dir / f"{name}.json", data_dir / f"{name}.md"]
    return written
