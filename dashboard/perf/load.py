"""Bench sections (b, c, d): gunicorn under load; section (h), dev: the development server of ``make run``.

API clients and as many screens poll open-loop at the refresh interval while the feed writes: latency
percentiles, errors, how many snapshot builds really ran against the distinct keys the clients saw,
each worker's peak RSS above idle, and the time from a row written by the feed to the API showing it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from dashboard.core.progress import Progress
from dashboard.core.runtime import SWITCH_SECONDS
from dashboard.perf.client import fetch, plan_targets, send
from dashboard.perf.config import HTTP_VIEWS, Config, say
from dashboard.perf.datasets import Dataset, rollup_url
from dashboard.perf.profile import profiling
from dashboard.perf.server import (
    OffsetClock,
    Server,
    drop_redis_prefix,
    read_counter,
    redis_up,
    remove_run_files,
    rss_mb,
)
from dashboard.perf.stats import latency_percentiles, percentile
from dashboard.sample.times import to_epoch

_HEAD = re.compile(r'"now":"([^"]+)".*?"data_version":"([^"]*)"')


class RssSampler:
    """Samples VmRSS of every gunicorn worker, and of its builder process, a few times a second."""

    def __init__(self, pids: list[int], builder: int | None = None) -> None:
        self.workers = list(pids)
        self.builder = builder
        self.pids = pids + ([builder] if builder is not None else [])
        self.idle = {pid: rss_mb(pid) or 0.0 for pid in self.pids}
        self.peak = dict(self.idle)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for pid in self.pids:
                value = rss_mb(pid)
                if value is not None:
                    self.peak[pid] = max(self.peak[pid], value)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        workers = [self._figures(pid) for pid in self.workers]
        out: dict[str, Any] = {
            "workers": workers,
            "max_above_idle_mb": max((w["above_idle_mb"] for w in workers), default=0.0),
        }
        if self.builder is not None:
            out["builder"] = self._figures(self.builder)
        return out

    def _figures(self, pid: int) -> dict[str, Any]:
        hwm = rss_mb(pid, "VmHWM")
        peak = max(self.peak[pid], hwm or 0.0)
        return {"pid": pid, "idle_mb": round(self.idle[pid], 1), "peak_mb": round(peak, 1),
                "above_idle_mb": round(peak - self.idle[pid], 1)}  # fmt: skip


class FeedThread:
    """The live feed during the load: one ``Feed.advance`` every refresh interval (data changes)."""

    def __init__(self, url: str, clock: OffsetClock, interval: float, seed: int) -> None:
        from dashboard.sample.simulate import Feed
        from dashboard.source.engines import make_writer_engine

        self.engine = make_writer_engine(url)
        self.feed = Feed(self.engine, seed=seed)
        self.clock = clock
        self.interval = interval
        self.writes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def advance(self, surge: str | None = None) -> Any:
        with self._lock:
            now = to_epoch(self.clock.now())
            burst = None
            if surge:
                burst = self.feed.surge_arrivals(surge, now, random.Random(now), count=5)
            report = self.feed.advance(now, surge=burst)
            self.writes += 1
            return report

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.advance()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        self.stop()
        self.engine.dispose()


def load_level(
    cfg: Config,
    server: Server,
    clients: int,
    feed: FeedThread | None,
    updates: tuple[Sequence[Any], Sequence[Any]] = ((), ()),
) -> dict[str, Any]:
    """``clients`` API clients, each polling one of the views every refresh interval (open loop), and
    as many screens sending the update request of their page for one of the views (``updates``: the
    wall's and the browser pages' :class:`dashboard.perf.client.Target` per view; every other screen is a
    wall), with the render key of their last answer as the browser does (nothing new: 204)."""
    period = float(cfg.refresh_seconds)
    rng = random.Random(clients)
    schedule: list[tuple[float, int]] = []
    screens = clients if updates[0] or updates[1] else 0
    for c in range(clients + screens):  # c ≥ clients: the screens
        t = (
            period * (c % clients) / clients
            + rng.random() * 0.05
            + (period / (2 * clients) if c >= clients else 0)
        )
        while t < cfg.level_seconds:
            schedule.append((t, c))
            t += period
    schedule.sort()
    walls = _Screens(server.base, updates, screens)
    with clients_switching_fast():
        return _run_level(cfg, server, clients, feed, schedule, walls, screens)


@contextlib.contextmanager
def clients_switching_fast() -> Iterator[None]:
    """The bench's client threads hand the GIL over after 1 ms (as the servers do), for a level.

    Why: hundreds of client threads share this process. A thread whose answer has arrived waits for the
    GIL behind another one parsing its answer, up to the switch interval (5 ms by default) at each of a
    request's waits: that time counted in the server's latency.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_SECONDS)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _run_level(
    cfg: Config,
    server: Server,
    clients: int,
    feed: FeedThread | None,
    schedule: list[tuple[float, int]],
    walls: _Screens,
    screens: int,
) -> dict[str, Any]:
    """The level itself (see :func:`load_level`)."""
    latencies: list[float] = []
    errors: list[str] = []
    keys: set[tuple[str, str, str]] = set()
    stale = 0
    lock = threading.Lock()

    def one(at: float, c: int, start: float) -> None:
        nonlocal stale
        if c >= clients:
            walls.poll(c - clients, start + at)
            return
        view = HTTP_VIEWS[c % len(HTTP_VIEWS)]
        status: int | str
        try:
            status, body = fetch(f"{server.base}/api/v1/snapshot?{view}")
            took = time.perf_counter() - (start + at)  # from the planned send time: open loop
            ok = status == 200
            head = _HEAD.search(body[:4000].decode("utf-8", "replace")) if ok else None
        except Exception as exc:
            took, ok, head, status = time.perf_counter() - (start + at), False, None, type(exc).__name__
        with lock:
            if not ok:
                errors.append(str(status))
                return
            latencies.append(took)
            if head:
                keys.add((view, head.group(2), head.group(1)[:16]))  # view, data version, minute
            if b'"stale":true' in body[-600:]:
                stale += 1

    opened_wall = time.time()
    if screens:
        walls.open_pages(float(cfg.refresh_seconds))
    pool = ThreadPoolExecutor(max_workers=min(max(clients, 4), 256))
    if feed:
        feed.start()
    cpu_before = workers_cpu_seconds(server.process_pids())
    began_wall = time.time()
    start = time.perf_counter()
    with Progress(f"  {clients:>3} clients", len(schedule), enabled=not cfg.quiet) as bar:
        for at, c in schedule:
            delay = start + at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, at, c, start).add_done_callback(lambda _f: bar.advance())
        pool.shutdown(wait=True)
    if feed:
        feed.stop()
    ended_wall = time.time()
    cpu = workers_cpu_seconds(server.process_pids()) - cpu_before
    lines = read_counter(server.counter, began_wall, ended_wall)
    builds = [s for kind, s, _v in lines if kind == "build"]
    lat = sorted(latencies)
    return {
        "clients": clients,
        "seconds": round(ended_wall - began_wall, 2),
        "requests": len(schedule) - walls.sent,
        "ok": len(lat),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "stale_answers": stale,
        **latency_percentiles(lat),
        "scopes": min(clients, len(HTTP_VIEWS)),
        "distinct_keys_seen": len(keys),
        "snapshot_builds": len(builds),
        "build_seconds_total": round(sum(builds), 3),
        "data_version_reads": sum(1 for kind, _s, _v in lines if kind == "version"),
        "feed_writes": feed.writes if feed else 0,
        # CPU the workers spent per answer (API and screens together): unlike latency, not inflated by
        # whatever else runs on the machine.
        "worker_cpu_ms_per_answer": round(1000 * cpu / max(1, len(schedule)), 2),
        **(
            {
                "screen_updates": {
                    **walls.report(),
                    "server": screens_in_server(read_counter(server.counter, opened_wall, ended_wall)),
                }
            }
            if screens
            else {}
        ),
    }


def screens_in_server(lines: list[tuple[str, float, str]]) -> dict[str, Any]:
    """The workers' own timing of the screens' update requests (:func:`dashboard.perf.server.timing_screens`),
    first answers and ticks apart: the time in the worker (p50/p95, ms) and the CPU its thread used (p95)."""
    out: dict[str, Any] = {}
    for kind in ("first", "tick"):
        spans = sorted(s for k, s, _cpu in lines if k == f"screen-{kind}")
        cpu = sorted(float(c) for k, _s, c in lines if k == f"screen-{kind}")
        if spans:
            out[kind] = {
                "answers": len(spans),
                **{
                    k: v for k, v in latency_percentiles(spans).items() if k in ("p50_ms", "p95_ms", "max_ms")
                },
                "cpu_p50_ms": round(percentile(cpu, 50) * 1000, 2),
                "cpu_p95_ms": round(percentile(cpu, 95) * 1000, 2),
            }
    return out


def workers_cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU seconds the processes ``pids`` have used so far (gone ones count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15)
    return total


class _Screens:
    """Screens polling their page's update request open-loop; each keeps its last render key. Even
    screens show the wall, odd ones a browser page (when the app has both).

    As in the hall, the screens are opened before the level (:meth:`open_pages`: each page's first
    answer is its whole board, drawn for the first time if no screen showed it yet) and then run: the
    level's answers are their updates. The openings are reported apart (``open_*``).
    """

    def __init__(self, base: str, updates: tuple[Sequence[Any], Sequence[Any]], screens: int) -> None:
        self.base = base
        self.targets = [self._pick(i, list(updates[0]), list(updates[1])) for i in range(screens)]
        self.keys: list[str | None] = [None] * screens
        self.latencies: dict[str, list[float]] = {"wall": [], "page": []}
        self.opens: list[float] = []  # the first answers, when the screens open their pages
        self.errors: list[str] = []
        self.statuses: dict[str, int] = {}
        self.sent = 0
        self._lock = threading.Lock()

    @staticmethod
    def _pick(i: int, walls: list[Any], pages: list[Any]) -> Any:
        pool = walls if (i % 2 == 0 and walls) or not pages else pages
        return pool[(i // 2) % len(pool)]

    def open_pages(self, period: float) -> None:
        """Every screen opens its page once, open-loop over one refresh period (before the level)."""
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(max(len(self.targets), 1), 64)) as pool:
            for i in range(len(self.targets)):
                at = period * i / max(1, len(self.targets))
                delay = start + at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self.poll, i, start + at, True)

    def poll(self, screen: int, planned: float, opening: bool = False) -> None:
        with self._lock:
            self.sent += 0 if opening else 1
        target = self.targets[screen]
        shown = self.keys[screen]
        answer = send(self.base, target, shown, timeout=120)
        took = time.perf_counter() - planned  # from the planned send time: open loop
        with self._lock:
            if not opening:
                self.statuses[str(answer.status)] = self.statuses.get(str(answer.status), 0) + 1
            if not answer.ok:
                self.errors.append(str(answer.status))
                return
            if opening:
                self.opens.append(took)
            else:
                self.latencies["wall" if target.key_store == "wall-key" else "page"].append(took)
            if answer.key:
                self.keys[screen] = answer.key

    def report(self) -> dict[str, Any]:
        every = sorted(x for xs in self.latencies.values() for x in xs)
        return {
            "requests": self.sent,
            "ok": len(every),
            "errors": len(self.errors),
            "statuses": dict(sorted(self.statuses.items())),  # 200: redrawn, 204: nothing new
            **latency_percentiles(every),
            # A screen's first answer is its whole board (the page opening, before the level).
            "opens": len(self.opens),
            **{f"open_{k}": v for k, v in latency_percentiles(sorted(self.opens)).items() if k != "p99_ms"},
            **{
                f"{kind}_{k}": v
                for kind, xs in self.latencies.items()
                if xs  # a kind no screen showed has no figures
                for k, v in latency_percentiles(sorted(xs)).items()
                if k in ("p50_ms", "p95_ms")
            },
        }


def measure_feed_latency(cfg: Config, server: Server, feed: FeedThread) -> dict[str, Any]:
    """Write a few rows with the feed, then poll the API until its data version shows them."""
    rounds: list[dict[str, Any]] = []
    for i in range(cfg.latency_rounds):
        time.sleep(cfg.refresh_seconds / 2 + 0.5)  # start each round from a settled state
        try:
            status, body = fetch(server.base + "/api/v1/snapshot", timeout=300)
        except OSError as exc:
            rounds.append({"error": f"before the write: {type(exc).__name__}"})
            continue
        if status != 200:
            rounds.append({"error": f"HTTP {status} before the write"})
            continue
        before = json.loads(body)
        report = feed.advance(surge="330109113")  # five reports in 瓜沥镇 land between the last tick and now
        written = time.perf_counter()
        seen: float | None = None
        after: dict[str, Any] = {}
        while time.perf_counter() - written < 120 + 2 * cfg.refresh_seconds:
            try:
                status, body = fetch(server.base + "/api/v1/snapshot")
            except OSError:  # a timed-out poll: keep polling until the window closes
                continue
            if status == 200:
                after = json.loads(body)
                if after["data_version"] != before["data_version"]:
                    seen = time.perf_counter() - written
                    break
            time.sleep(0.1)
        rounds.append({
            "round": i + 1,
            "events_written": report.events,
            "seconds_to_api": None if seen is None else round(seen, 3),
            "reported_before": before["kpis"]["reported"]["value"],
            "reported_after": after["kpis"]["reported"]["value"] if seen is not None else None,
        })  # fmt: skip
    times = [float(r["seconds_to_api"]) for r in rounds if r.get("seconds_to_api") is not None]
    return {
        "rounds": rounds,
        "median_s": round(statistics.median(times), 3) if times else None,
        "max_s": round(max(times), 3) if times else None,
        "bound_s": (
            f"the service recomputes a live view at most every max({cfg.refresh_seconds} s refresh − 1 s, "
            f"2 × its compute time), reads the data version every {max(1, cfg.refresh_seconds // 2)} s, "
            "then one computation"
        ),
    }


def screen_update_targets(base: str) -> tuple[list[Any], list[Any]]:
    """The update requests screens send on each tick, one per view: the wall's (it redraws the board)
    and the browser pages' (overview, backlog, patrol, trends, rankings)."""
    keyed = [t for t in plan_targets(base, HTTP_VIEWS) if t.key_store]
    return [t for t in keyed if t.key_store == "wall-key"], [t for t in keyed if t.key_store != "wall-key"]


def measure_http(cfg: Config, ds: Dataset, offset: float, clock: OffsetClock) -> dict[str, Any]:
    """Sections (b, c, d): gunicorn on the dataset, the load levels, worker memory, feed latency."""
    prefix = f"xsbench:{uuid.uuid4().hex[:10]}:"
    redis_url = cfg.redis_url if redis_up(cfg.redis_url) else ""
    server = Server(
        ds.url,
        cfg.data_dir,
        workers=cfg.workers,
        threads=cfg.threads,
        refresh_seconds=cfg.refresh_seconds,
        offset=offset,
        prefix=prefix,
        redis_url=redis_url,
        rollup_url=rollup_url(cfg, ds) if cfg.http_rollups else None,
    )
    feed: FeedThread | None = None
    out: dict[str, Any] = {
        "workers": cfg.workers,
        "threads": cfg.threads,
        "cache": "redis" if redis_url else "filesystem (Redis not reachable)",
        "refresh_seconds": cfg.refresh_seconds,
        "level_seconds": cfg.level_seconds,
        "views": [v or "district" for v in HTTP_VIEWS],
    }
    try:
        sampler = boot(
            cfg, server, f"gunicorn ({cfg.workers} workers × {cfg.threads} threads) on {ds.backend}", out
        )
        status, _ = fetch(server.base + "/")
        out["page_status"] = status
        first = {}
        for view in HTTP_VIEWS:
            started = time.perf_counter()
            status, _ = fetch(f"{server.base}/api/v1/snapshot?{view}", timeout=900)
            first[view or "district"] = {"status": status, "seconds": round(time.perf_counter() - started, 3)}
        out["first_requests"] = first
        if "latency" in cfg.sections or "http" in cfg.sections:
            feed = FeedThread(ds.url, clock, float(cfg.refresh_seconds), cfg.seed)
        if "http" in cfg.sections:
            updates = screen_update_targets(server.base)
            out["levels"], out["profiles"] = [], {}
            for n in cfg.clients:
                with profiling(server.process_pids(), cfg.profile_rate) as profile:
                    out["levels"].append(load_level(cfg, server, n, feed, updates))
                out["profiles"][str(n)] = profile
                say(cfg, profile_line(profile))
            for lv in out["levels"]:
                say(cfg, f"  {lv['clients']:>3} clients: p50 {lv['p50_ms']} ms, p95 {lv['p95_ms']} ms, "
                         f"p99 {lv['p99_ms']} ms, errors {lv['errors']}, builds {lv['snapshot_builds']} "
                         f"for {lv['requests']} requests ({lv['distinct_keys_seen']} keys)")  # fmt: skip
                if "screen_updates" in lv:
                    w = lv["screen_updates"]
                    say(cfg, f"      + {lv['clients']} screens (wall, pages): p50 {w['p50_ms']} ms, p95 {w['p95_ms']} "
                             f"ms (wall {w.get('wall_p95_ms', '–')}, pages {w.get('page_p95_ms', '–')}), p99 {w['p99_ms']} ms, "
                             f"page opens p95 {w.get('open_p95_ms', '–')} ms, errors {w['errors']}, answers {w['statuses']}; "
                             f"worker CPU {lv['worker_cpu_ms_per_answer']} ms per answer")  # fmt: skip
                    for kind, fig in w["server"].items():
                        say(cfg, f"        in the workers, {kind}: {fig['answers']} answers, p50 {fig['p50_ms']} ms, "
                                 f"p95 {fig['p95_ms']} ms, thread CPU p95 {fig['cpu_p95_ms']} ms")  # fmt: skip
        if "latency" in cfg.sections and feed is not None:
            out["feed_latency"] = measure_feed_latency(cfg, server, feed)
            say(cfg, f"  feed → API: median {out['feed_latency']['median_s']} s")
        out["rss"] = sampler.stop()
        out["snapshot_builds_total"] = sum(
            1 for kind, _s, _v in read_counter(server.counter) if kind == "build"
        )
    finally:
        if feed is not None:
            feed.close()
        server.stop()
        drop_redis_prefix(redis_url, prefix)
        remove_run_files(cfg.data_dir, prefix)
    return out


def profile_line(profile: dict[str, Any]) -> str:
    """A progress line on a level's profile: samples, py-spy's own CPU, the top functions by own time."""
    if "error" in profile:
        return f"      profile: {profile['error']}"
    own = sorted(profile["top"], key=lambda r: -r["own"])[:3]
    return (
        f"      profile: {profile['samples']} samples in {profile['seconds']} s, py-spy CPU "
        f"{profile['profiler_cpu_s']} s; most own time: "
        + ", ".join(f"{r['function']} {r['own']:.0%}" for r in own)
    )


def boot(cfg: Config, server: Server, what: str, out: dict[str, Any]) -> RssSampler:
    """Wait until ``server`` answers (its boot time into ``out``); its workers' memory sampled from now."""
    say(cfg, f"  starting {what} …")
    started = time.perf_counter()
    server.wait_ready()
    out["boot_seconds"] = round(time.perf_counter() - started, 2)
    return RssSampler(server.worker_pids(), server.builder_pid())


DEV_CLIENTS = 50  # the API target's level: 50 open-loop clients, each polling once a second


def measure_dev(cfg: Config, ds: Dataset, offset: float, clock: OffsetClock) -> dict[str, Any]:
    """Section (h), dev: the app served as ``make run`` serves it (werkzeug's threaded development server,
    one process, the on-disk cache: no Redis), the feed writing. Two levels: the API clients alone, each
    polling once a second; then as many API clients with as many screens, all at the refresh interval."""
    prefix = f"xsbench:{uuid.uuid4().hex[:10]}:"
    server = Server(
        ds.url,
        cfg.data_dir,
        workers=1,
        threads=1,
        refresh_seconds=cfg.refresh_seconds,
        offset=offset,
        prefix=prefix,
        redis_url="",  # make run's cache is on disk
        rollup_url=rollup_url(cfg, ds) if cfg.http_rollups else None,
        kind="dev",
    )
    clients = min(DEV_CLIENTS, max(cfg.clients))
    out: dict[str, Any] = {"server": "werkzeug development server, one process, a thread per request",
                           "cache": "filesystem", "refresh_seconds": cfg.refresh_seconds}  # fmt: skip
    feed = FeedThread(ds.url, clock, float(cfg.refresh_seconds), cfg.seed)
    try:
        sampler = boot(cfg, server, f"the development server (make run) on {ds.backend}", out)
        for view in HTTP_VIEWS:  # each view's first (cold) answer is the coverage section's business
            fetch(f"{server.base}/api/v1/snapshot?{view}", timeout=900)
        pids = server.process_pids()
        with profiling(pids, cfg.profile_rate) as api_profile:
            api_only = load_level(replace(cfg, refresh_seconds=1), server, clients, feed)
        with profiling(pids, cfg.profile_rate) as screens_profile:
            with_screens = load_level(cfg, server, clients, feed, screen_update_targets(server.base))
        # Both levels have the same number of clients (and the same period in tiny mode): named by kind.
        out["levels"] = [{**api_only, "period_s": 1, "profile_key": "api"},
                         {**with_screens, "period_s": cfg.refresh_seconds, "profile_key": "api+screens"}]  # fmt: skip
        out["profiles"] = {"api": api_profile, "api+screens": screens_profile}
        for profile in out["profiles"].values():
            say(cfg, profile_line(profile))
        for lv in out["levels"]:
            screens = lv.get("screen_updates")
            say(cfg, f"  make run, {lv['clients']} clients every {lv['period_s']} s: API p95 {lv['p95_ms']} ms"
                     + (f", {lv['clients']} screens p95 {screens['p95_ms']} ms" if screens else ""))  # fmt: skip
        out["rss"] = sampler.stop()
    finally:
        feed.close()
        server.stop()
        remove_run_files(cfg.data_dir, prefix)
    return out
