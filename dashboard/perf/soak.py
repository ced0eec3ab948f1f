"""``python -m dashboard soak``: many screens polling for a long time, with the live feed writing.

The soak starts the benchmark's gunicorn (:class:`dashboard.perf.bench.Server`: several workers, the Redis
cache, a counter line for every snapshot build) on a seeded SQLite district, runs the live feed
(``python -m dashboard simulate``) next to it, and lets ``--clients`` screens poll open-loop at the
refresh interval for ``--minutes``. A third of the screens read ``/api/v1/snapshot``; the others send
the ``/_dash-update-component`` requests of the pages and the wall, as the browser does on each tick
(with the render key of their last answer, so an unchanged board costs a 204). Each screen keeps one
view: the district, two towns, a week, English.

It reports errors (must be zero), latency percentiles, every worker's RSS over time (must stay flat:
the median of the last tenth of the run against the median of the second tenth, after the warm-up)
and how many snapshot builds the workers ran. ``make soak`` runs an hour; the test suite runs a short
version (tests/test_soak.py). The HTTP client pieces (:func:`plan_targets`, :func:`send`) are also used
by the fault tests.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import heapq
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from dashboard.core.settings import DATA_DIR
from dashboard.perf.bench import (
    REDIS_URL,
    Config,
    Dataset,
    Server,
    _redis_up,
    drop_redis_prefix,
    ensure_dataset,
    latency_percentiles,
    read_counter,
    remove_run_files,
    rss_mb,
)

VIEWS = ("", "town=330109001", "town=330109113", "period=week", "lang=en")
TICK_INPUTS = [{"id": "view", "property": "data"}, {"id": "tick", "property": "n_intervals"}]
UPDATE_PATH = "/_dash-update-component"
API_SHARE = 3  # every third screen polls the JSON API, the others the pages' update requests
_KEY = re.compile(rb'"([a-z]+-key)":\{"data":"([^"]*)"')


# --- what a screen sends --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One kind of poll: the snapshot API for a view, or one page's update request for a view."""

    label: str  # "api:town=330109001", "ov-key:period=week" …
    path: str
    body: dict[str, Any] | None = None  # the update request's JSON (None: a GET)
    key_store: str | None = None  # the store holding the last render key, sent back as state


@dataclass(frozen=True)
class Answer:
    status: int | str  # HTTP status, or the exception's name when no answer came
    seconds: float
    stale: bool = False  # the API said meta.stale
    key: str | None = None  # the render key of an update answer (sent back next time)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return isinstance(self.status, int) and self.status < 400


def fetch_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def tick_callbacks(base: str) -> list[dict[str, Any]]:
    """The server callbacks a page or the wall runs on every tick (inputs: the view and the tick)."""
    deps = fetch_json(base + "/_dash-dependencies")
    return [d for d in deps if d["inputs"] == TICK_INPUTS and not d.get("clientside_function")]


def update_body(dep: dict[str, Any], query: str, last_key: str | None = None) -> dict[str, Any]:
    """The JSON the browser posts for ``dep`` on a tick, showing the view ``query``."""
    names = dep["output"][2:-2].split("...") if dep["output"].startswith("..") else [dep["output"]]
    outputs = [{"id": n.rsplit(".", 1)[0], "property": n.rsplit(".", 1)[1].split("@")[0]} for n in names]
    state = [
        {**s, "value": last_key if s["id"].endswith("-key") else (1.0 if s["id"] == "wall-scale" else None)}
        for s in dep.get("state", [])
    ]
    return {
        "output": dep["output"],
        "outputs": outputs if dep["output"].startswith("..") else outputs[0],
        "inputs": [{**TICK_INPUTS[0], "value": query}, {**TICK_INPUTS[1], "value": 1}],
        "state": state,
        "changedPropIds": ["tick.n_intervals"],
    }


def plan_targets(base: str, views: Sequence[str] = VIEWS) -> list[Target]:
    """Every poll a screen may send: the API and each tick callback, for each view."""
    targets = [Target(f"api:{v or 'district'}", f"/api/v1/snapshot?{v}") for v in views]
    for dep in tick_callbacks(base):
        key_store = next((s["id"] for s in dep.get("state", []) if s["id"].endswith("-key")), None)
        name = key_store or dep["output"][2:].split(".", 1)[0]
        for v in views:
            targets.append(Target(f"{name}:{v or 'district'}", UPDATE_PATH, update_body(dep, v), key_store))
    return targets


def send(base: str, target: Target, last_key: str | None = None, timeout: float = 60.0) -> Answer:
    """One poll; never raises (a refused connection or a timeout is an answer too)."""
    data = None
    headers = {}
    if target.body is not None:
        body = target.body
        if target.key_store:
            body = {**body, "state": [{**s, "value": last_key} if s["id"] == target.key_store else s
                                      for s in body["state"]]}  # fmt: skip
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(base + target.path, data=data, headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except Exception as exc:  # refused, reset, timed out
        return Answer(type(exc).__name__, time.perf_counter() - started)
    took = time.perf_counter() - started
    stale = target.body is None and b'"stale":true' in raw[-800:]
    key = None
    if target.key_store and status == 200:
        found = {m.group(1).decode(): m.group(2).decode() for m in _KEY.finditer(raw)}
        key = found.get(target.key_store)
    return Answer(status, took, stale, key, raw)


# --- many screens, open loop ------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the screens saw (thread-safe)."""

    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=lambda: {"api": [], "page": []})
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    stale: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, target: Target, answer: Answer, late: float) -> None:
        with self._lock:
            self.statuses[str(answer.status)] += 1
            if not answer.ok:
                self.errors[f"{answer.status} {target.label}"] += 1
                return
            self.latencies.append(answer.seconds + late)  # from the planned send time: open loop
            self.by_kind["api" if target.body is None else "page"].append(answer.seconds + late)
            self.stale += answer.stale

    def summary(self) -> dict[str, Any]:
        with self._lock:
            lat = sorted(self.latencies)
            out = {
                "requests": sum(self.statuses.values()),
                "ok": len(lat),
                "errors": sum(self.errors.values()),
                "error_kinds": dict(self.errors.most_common(5)),
                "statuses": dict(self.statuses),
                "stale_answers": self.stale,
                **latency_percentiles(lat, 1),
            }
            out["by_kind"] = {
                k: {"requests": len(v), **latency_percentiles(sorted(v), 1)} for k, v in self.by_kind.items()
            }
        return out


def screens(targets: Sequence[Target], clients: int) -> list[Target]:
    """The target of each screen: every API_SHARE-th one the API, the others the pages, views mixed."""
    api = [t for t in targets if t.body is None]
    pages = [t for t in targets if t.body is not None]
    out = []
    for c in range(clients):
        pool = api if (c % API_SHARE == 0 or not pages) else pages
        out.append(pool[(c // API_SHARE if pool is api else c) % len(pool)])
    return out


def run_screens(
    base: str,
    targets: Sequence[Target],
    clients: int,
    seconds: float,
    period: float,
    tally: Tally,
    *,
    stop: threading.Event | None = None,
    on_answer: Callable[[Target, Answer], None] | None = None,
    max_threads: int = 128,
) -> None:
    """``clients`` screens, each polling its target every ``period`` seconds for ``seconds`` (open loop:
    a slow answer does not delay the next poll, and latency counts from the planned send time)."""
    stop = stop or threading.Event()
    plan = screens(targets, clients)
    keys: list[str | None] = [None] * clients
    rng = random.Random(clients)
    queue = [(period * c / clients + rng.random() * 0.05, c) for c in range(clients)]
    heapq.heapify(queue)
    start = time.perf_counter()

    def one(at: float, c: int) -> None:
        late = max(0.0, time.perf_counter() - (start + at))
        answer = send(base, plan[c], keys[c])
        if answer.key is not None:
            keys[c] = answer.key
        tally.add(plan[c], answer, late)
        if on_answer is not None:
            on_answer(plan[c], answer)

    with ThreadPoolExecutor(max_workers=min(max(clients, 4), max_threads)) as pool:
        while queue and not stop.is_set():
            at, c = heapq.heappop(queue)
            if at >= seconds:
                break
            delay = start + at - time.perf_counter()
            if delay > 0 and stop.wait(delay):
                break
            pool.submit(one, at, c)
            heapq.heappush(queue, (at + period, c))


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


@dataclass
class SoakConfig:
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


def say(cfg: SoakConfig, message: str) -> None:
    if not cfg.quiet:
        print(message, file=sys.stderr, flush=True)


def dataset(cfg: SoakConfig) -> Dataset:
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
    """Seed (or reuse) the district, start gunicorn and the feed, poll, and report (see the module)."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    ds = dataset(cfg)
    redis_url = cfg.redis_url if _redis_up(cfg.redis_url) else ""
    prefix = f"xssoak:{uuid.uuid4().hex[:10]}:"
    bench = Config.for_mode(
        "tiny", workers=cfg.workers, threads=cfg.threads, refresh_seconds=cfg.refresh_seconds,
        data_dir=cfg.data_dir, quiet=cfg.quiet,
    )  # fmt: skip
    report: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "source": {"url": ds.url, "events": ds.counts.get("event")},
        "cache": "redis" if redis_url else "filesystem (Redis not reachable)",
    }
    seconds = cfg.minutes * 60
    with live_feed(cfg, ds.url) as feed:
        server = Server(bench, ds, 0.0, prefix, redis_url)
        try:
            say(cfg, f"soak: gunicorn {cfg.workers}×{cfg.threads} on {ds.url}, cache {report['cache']}")
            server.wait_ready()
            targets = plan_targets(server.base)
            for view in VIEWS:  # the first build of each view is not part of the steady state
                send(server.base, Target("warm", f"/api/v1/snapshot?{view}"), timeout=600)
            pids = server.worker_pids()
            rss = RssSeries(pids, cfg.rss_every)
            tally = Tally()
            began = time.time()
            say(cfg, f"soak: {cfg.clients} screens every {cfg.refresh_seconds} s for {cfg.minutes:g} min …")
            done = threading.Event()
            threading.Thread(target=progress, args=(cfg, tally, rss, done), daemon=True).start()
            run_screens(server.base, targets, cfg.clients, seconds, float(cfg.refresh_seconds), tally)
            done.set()
            ended = time.time()
            report["rss"] = rss.stop()
            report["rss"]["workers_replaced"] = sorted(set(server.worker_pids()) ^ set(pids))
            lines = read_counter(server.counter, began, ended)
            report["http"] = tally.summary()
            report["seconds"] = round(ended - began, 1)
            builds = [s for kind, s, _v in lines if kind == "build"]
            report["snapshot_builds"] = len(builds)
            report["build_seconds_total"] = round(sum(builds), 1)
            report["data_version_reads"] = sum(1 for kind, _s, _v in lines if kind == "version")
            report["targets"] = sorted({t.label.split(":")[0] for t in targets})
            report["feed_alive_at_end"] = feed is not None and feed.poll() is None
        finally:
            server.stop()
            drop_redis_prefix(redis_url, prefix)
            remove_run_files(cfg.data_dir, prefix)
    report["verdict"] = verdict(cfg, report)
    return report


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
    if report["http"]["errors"]:
        problems.append(f"{report['http']['errors']} errors: {report['http']['error_kinds']}")
    if report["rss"]["max_growth_mb"] > cfg.max_rss_growth_mb:
        problems.append(f"worker RSS grew {report['rss']['max_growth_mb']} MB (> {cfg.max_rss_growth_mb})")
    if report["rss"]["workers_replaced"]:
        problems.append(f"workers died or were replaced: {report['rss']['workers_replaced']}")
    if cfg.feed and not report["feed_alive_at_end"]:
        problems.append("the live feed stopped")
    return problems


def describe(report: dict[str, Any]) -> str:
    http = report["http"]
    lines = [
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
    lines.append("  PASS" if not report["verdict"] else "  FAIL: " + "; ".join(report["verdict"]))
    return "\n".join(lines)


# --- command line -------------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    d = SoakConfig()
    parser.add_argument("--minutes", type=float, default=d.minutes, help="how long the screens poll")
    parser.add_argument("--clients", type=int, default=d.clients, help="polling screens")
    parser.add_argument("--refresh-seconds", type=int, default=d.refresh_seconds, help="polling interval")
    parser.add_argument("--workers", type=int, default=d.workers, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=d.threads, help="threads per worker")
    parser.add_argument("--scale", type=float, default=d.scale, help="seed scale of the soak district")
    parser.add_argument("--days", type=int, default=d.days, help="days of history of the soak district")
    parser.add_argument("--database-url", default=None, help="an existing SQLite source (default: seeded)")
    parser.add_argument("--no-feed", action="store_true", help="without the live feed")
    parser.add_argument("--feed-rate", type=float, default=d.feed_rate, help="the feed's --rate")
    parser.add_argument("--redis-url", default=d.redis_url, help="Redis for the shared cache (run prefix)")
    parser.add_argument("--data-dir", type=Path, default=d.data_dir, help="dataset, logs and the report")
    parser.add_argument("--max-rss-growth-mb", type=float, default=d.max_rss_growth_mb)
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    cfg = replace(
        SoakConfig(),
        minutes=args.minutes, clients=args.clients, refresh_seconds=args.refresh_seconds,
        workers=args.workers, threads=args.threads, scale=args.scale, days=args.days,
        database_url=args.database_url, feed=not args.no_feed, feed_rate=args.feed_rate,
        redis_url=args.redis_url, data_dir=args.data_dir, max_rss_growth_mb=args.max_rss_growth_mb,
        quiet=args.quiet,
    )  # fmt: skip
    report = run_soak(cfg)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = cfg.data_dir / f"soak-{stamp}.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(describe(report))
    print(f"report: {out}")
    return 1 if report["verdict"] else 0
