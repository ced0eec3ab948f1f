"""``python -m dashboard bench``: how fast the dashboard is at district scale, measured in one run.

For each dataset (backend × scale, generated once by :func:`dashboard.sample.seed.seed_database` and reused,
keyed by seed, scale and days, under ``data/bench/``) it measures:

a. the snapshot of the whole district and of one town, cold (``build_snapshot`` straight on the source,
   no cache) and warm (through :class:`~dashboard.service.snapshots.SnapshotService` and its shared cache);
b. HTTP latency of ``/api/v1/snapshot`` for 1, 10, 50 (and 200) clients polling open-loop at the refresh
   interval against gunicorn with several workers and the Redis cache, while the feed writes: p50, p95,
   p99, errors, and how many times ``build_snapshot`` really ran (every worker appends a line to a
   counter file), against the number of distinct (view, data version, minute) keys the clients saw;
c. peak RSS of each gunicorn worker above its idle baseline;
d. the time from a row written by the feed to its appearance in the API (``data_version`` changes);
e. a full slide-deck export through :func:`dashboard.export.exporter.export_view`;
f. the usual Dash pattern (the event columns read into pandas, grouped per refresh) against plain SQL
   aggregates per refresh, for the same four panels, each in a subprocess for its peak RSS.

The report goes to ``data/bench/bench-<mode>-<time>.{json,md}`` (and ``latest-<mode>.*``). Modes:
``full`` (≥1M and 10M events, long, outside CI), ``quick`` (a small district, about 1-2 minutes once
seeded) and ``tiny`` (seconds, for the test suite).

The clock of the measured processes is the wall clock shifted so that "now" is the end of the reused
data (plus the time since the bench started): a dataset seeded days ago is measured as if it were live.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from dashboard.core.progress import Progress
from dashboard.core.scope import DISTRICT
from dashboard.core.settings import DATA_DIR
from dashboard.sample.seed import DEFAULT_PATROL_DAYS

# --- fixed references --------------------------------------------------------------------------------

SUPERSET = {
    "source": "issue 'Fast at district scale and beyond' (Superset 6.1 chart-data API, 1M events)",
    "cache_off_s": [0.97, 1.3],
    "warm_cache_s": [0.17, 0.23],
}

PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TOWN = "330109001"  # 城厢街道: the "one town" scope
HTTP_VIEWS = ("", "town=330109001", "town=330109113")  # district, 城厢, 瓜沥: three scopes on the wall
SECTIONS = ("snapshot", "rollups", "pandas", "export", "http", "latency")
EXTRA_SECTIONS = ("sql",)  # plain SQL without the pandas probe (not in the default run)


@dataclass(frozen=True)
class Mode:
    scales: tuple[float, ...]
    days: int
    backends: tuple[str, ...]
    clients: tuple[int, ...]
    level_seconds: float
    refresh_seconds: int
    workers: int
    threads: int
    repeats: int  # cold snapshot repetitions
    warm_repeats: int
    latency_rounds: int
    probe_timeout: float  # seconds for each pandas / SQL subprocess
    patrol_days: int = DEFAULT_PATROL_DAYS  # of patrols and check-ins, at full force


MODES: dict[str, Mode] = {
    "tiny": Mode((0.05,), 14, ("sqlite",), (1, 5), 2.0, 1, 2, 2, 1, 5, 1, 60),
    "quick": Mode((0.3,), 120, ("sqlite", "postgresql"), (1, 10, 50), 12.0, 5, 3, 4, 2, 20, 2, 120),
    "full": Mode(
        (2.0, 17.0), 760, ("sqlite", "postgresql"), (1, 10, 50, 200), 60.0, 10, 3, 4, 3, 50, 3, 1800, 365
    ),
}


@dataclass
class Config:
    mode: str
    seed: int = 42
    scales: tuple[float, ...] = ()
    days: int = 0
    patrol_days: int = DEFAULT_PATROL_DAYS
    backends: tuple[str, ...] = ()
    http_backend: str | None = None
    clients: tuple[int, ...] = ()
    level_seconds: float = 0.0
    refresh_seconds: int = 10
    workers: int = 3
    threads: int = 4
    repeats: int = 1
    warm_repeats: int = 10
    latency_rounds: int = 1
    probe_timeout: float = 120.0
    sections: tuple[str, ...] = SECTIONS
    data_dir: Path = DATA_DIR / "bench"
    pg_url: str = PG_ADMIN_URL
    redis_url: str = REDIS_URL
    quiet: bool = False
    http_rollups: bool = False  # serve the HTTP sections through the rollups (DASHBOARD_ROLLUPS=on)

    @classmethod
    def for_mode(cls, mode: str, **overrides: Any) -> Config:
        m = MODES[mode]
        base = cls(mode=mode, **{k: v for k, v in asdict(m).items()})
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


# --- small helpers -----------------------------------------------------------------------------------


def say(cfg: Config, message: str) -> None:
    if not cfg.quiet:
        print(message, file=sys.stderr, flush=True)


def summary(values: Sequence[float]) -> dict[str, float]:
    """min / median / max (and mean) of seconds, rounded to 0.1 ms."""
    vs = sorted(values)
    return {
        "n": len(vs),
        "min": round(vs[0], 4),
        "median": round(statistics.median(vs), 4),
        "mean": round(statistics.fmean(vs), 4),
        "max": round(vs[-1], 4),
    }


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(-(-p * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def scale_tag(scale: float) -> str:
    return f"{scale:g}".replace(".", "p")


def dataset_key(seed: int, scale: float, days: int, patrol_days: int = DEFAULT_PATROL_DAYS) -> str:
    patrols = "" if patrol_days == DEFAULT_PATROL_DAYS else f"-p{patrol_days}"
    return f"district-s{seed}-x{scale_tag(scale)}-d{days}{patrols}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def mask_url(url: str) -> str:
    return re.sub(r"//([^:@/]+):[^@/]+@", r"//\1:***@", url)


def rss_mb(pid: int, field_name: str = "VmRSS") -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


class OffsetClock:
    """The wall clock moved back by ``offset`` seconds: "now" runs on from the end of the reused data."""

    def __init__(self, offset: float) -> None:
        self.offset = dt.timedelta(seconds=offset)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) - self.offset


def _append_line(path: str | None, line: str) -> None:
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write with O_APPEND: lines of concurrent workers never mix
    finally:
        os.close(fd)


def counting(fn: Callable[..., Any], kind: str, path: str | None) -> Callable[..., Any]:
    """``fn`` that appends ``<time> <pid> <kind> <seconds> <view>`` to ``path`` on every call."""
    from dashboard.core.viewstate import view_key

    def wrapped(conn: Any, *args: Any) -> Any:
        started = time.perf_counter()
        result = fn(conn, *args)
        view = view_key(args[0]) if args else "-"
        _append_line(
            path, f"{time.time():.3f} {os.getpid()} {kind} {time.perf_counter() - started:.4f} {view}\n"
        )
        return result

    return wrapped


def read_counter(path: Path, since: float = 0.0, until: float = float("inf")) -> list[tuple[str, float, str]]:
    """(kind, seconds, view) of the counter lines written between ``since`` and ``until``."""
    out: list[tuple[str, float, str]] = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        parts = line.split(" ", 4)
        if len(parts) == 5 and since <= float(parts[0]) <= until:
            out.append((parts[2], float(parts[3]), parts[4]))
    return out


def make_cache(cfg: Config, prefix: str) -> tuple[Any, str, str]:
    """The shared cache for in-process measurements: (cache, cache_url, description)."""
    from dashboard.core.settings import load_settings
    from dashboard.service.cache import init_cache

    redis_url = cfg.redis_url if _redis_up(cfg.redis_url) else ""
    cache_dir = str(cfg.data_dir / f"cache-{run_id(prefix)}")
    settings = load_settings({}, CACHE_URL=redis_url, CACHE_DIR=cache_dir)
    return init_cache(None, settings, key_prefix=prefix), redis_url, ("redis" if redis_url else "filesystem")


def run_id(prefix: str) -> str:
    """``xsbench:<id>:`` → ``<id>``: names this run's files, cache directory and Redis keys."""
    return prefix.strip(":").split(":")[-1]


def remove_run_files(data_dir: Path, prefix: str) -> None:
    """The counter file, state store and on-disk cache of one run (the gunicorn log stays)."""
    rid = run_id(prefix)
    for name in (f"counter-{rid}.log", f"state-{rid}.db", f"state-{rid}.db-wal", f"state-{rid}.db-shm"):
        (data_dir / name).unlink(missing_ok=True)
    for name in (f"cache-{rid}", f"cache-{rid}.locks"):
        shutil.rmtree(data_dir / name, ignore_errors=True)


def _redis_up(url: str) -> bool:
    m = re.match(r"rediss?://([^:/]+)(?::(\d+))?", url)
    return m is not None and port_open(m.group(1), int(m.group(2) or 6379))


def drop_redis_prefix(redis_url: str, prefix: str) -> int:
    """Delete this run's keys (our own prefix only) from the shared Redis."""
    if not redis_url:
        return 0
    import redis

    client = redis.Redis.from_url(redis_url)
    n = 0
    try:
        for key in client.scan_iter(match=prefix + "*", count=500):
            n += client.delete(key)
    finally:
        client.close()
    return n


# --- datasets -----------------------------------------------------------------------------------------


@dataclass
class Dataset:
    backend: str
    scale: float
    days: int
    url: str
    reused: bool
    seed_seconds: float | None
    counts: dict[str, int] = field(default_factory=dict)


def _pg_url(admin_url: str, name: str) -> str:
    base, _, query = admin_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


def _pg_admin(cfg: Config) -> Any:
    from sqlalchemy import create_engine

    return create_engine(cfg.pg_url, isolation_level="AUTOCOMMIT")


def backend_available(cfg: Config, backend: str) -> str | None:
    """None when ``backend`` can be used, else why not."""
    if backend == "sqlite":
        return None
    if backend == "postgresql":
        try:
            from sqlalchemy import text

            engine = _pg_admin(cfg)
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            return None
        except Exception as exc:
            return f"PostgreSQL at {mask_url(cfg.pg_url)} not reachable: {type(exc).__name__}"
    return f"backend {backend!r} is not benchmarked (sqlite, postgresql)"


def ensure_dataset(cfg: Config, backend: str, scale: float) -> Dataset:
    """The seeded dataset for (seed, scale, days) on ``backend``: reused when its marker says complete."""
    from sqlalchemy import text

    from dashboard.sample.seed import seed_database

    key = dataset_key(cfg.seed, scale, cfg.days, cfg.patrol_days)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    marker = cfg.data_dir / f"{key}.{backend}.json"
    if backend == "sqlite":
        path = cfg.data_dir / f"{key}.db"
        url = f"sqlite:///{path}"
        present = path.exists()
    else:
        name = "xsbench_" + key.replace("-", "_")
        url = _pg_url(cfg.pg_url, name)
        admin = _pg_admin(cfg)
        with admin.connect() as conn:
            present = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            present = present is not None
            if not (present and marker.exists()):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    if present and marker.exists():
        meta = json.loads(marker.read_text())
        say(cfg, f"· reusing {backend} dataset {key} ({meta['counts'].get('event', 0):,} events)")
        return Dataset(backend, scale, cfg.days, url, True, meta.get("seconds"), meta["counts"])
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(str(cfg.data_dir / f"{key}.db") + suffix).unlink(missing_ok=True)
    say(
        cfg,
        f"· seeding {backend} dataset {key} (scale {scale:g}, {cfg.days} days, {cfg.patrol_days} of patrols) …",
    )
    report = seed_database(
        url,
        seed=cfg.seed,
        days=cfg.days,
        scale=scale,
        patrol_days=cfg.patrol_days,
        progress=not cfg.quiet,
        force=True,
    )
    marker.write_text(json.dumps({"url": mask_url(url), "counts": report.counts, "seconds": report.seconds}))
    return Dataset(backend, scale, cfg.days, url, False, round(report.seconds, 1), report.counts)


def data_end(url: str) -> dt.datetime:
    """The newest timestamp in the source (the moment the seed or the feed last wrote)."""
    from dashboard.source.engines import make_source_engine
    from dashboard.source.queries.snapshot import newest_data_at

    engine = make_source_engine(url)
    try:
        with engine.connect() as conn:
            newest = newest_data_at(conn, dt.datetime.now(dt.UTC) + dt.timedelta(days=3650))
    finally:
        engine.dispose()
    return newest or dt.datetime.now(dt.UTC)


# --- (a) snapshots, cold and warm ---------------------------------------------------------------------


def measure_snapshots(cfg: Config, ds: Dataset, clock: OffsetClock, service: Any) -> dict[str, Any]:
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


# --- (a') snapshots through the rollups --------------------------------------------------------------


def rollup_url(cfg: Config, ds: Dataset) -> str:
    """The rollups of a dataset, kept beside it and reused (the sync catches up with the feed's rows)."""
    from sqlalchemy import text

    key = dataset_key(cfg.seed, ds.scale, ds.days, cfg.patrol_days)
    if ds.backend == "sqlite":
        return f"sqlite:///{cfg.data_dir / (key + '.rollups.db')}"
    name = "xsbench_" + key.replace("-", "_") + "_rollups"
    admin = _pg_admin(cfg)
    with admin.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _pg_url(cfg.pg_url, name)


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


# --- (f) pandas vs plain SQL, each in its own process -------------------------------------------------

PANDAS_COLUMNS = (
    "event_id, grid_code, town_code, category_l1, reported_at, closed_at, rejected_at, deadline_at, "
    "extended_deadline_at"
)
DATE_COLUMNS = ["reported_at", "closed_at", "rejected_at", "deadline_at", "extended_deadline_at"]
AGE_EDGES_DAYS = (1, 3, 7, 30)


def _local(ts: dt.datetime) -> dt.datetime:
    return ts + dt.timedelta(hours=8)


def _bounds(now: dt.datetime) -> dict[str, dt.datetime]:
    """Naive-UTC bounds of this local month, the last 90 days and this and last local year."""
    local = _local(now.replace(tzinfo=None))
    month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(hours=8)
    year = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return {
        "now": now.replace(tzinfo=None),
        "month": month,
        "d90": now.replace(tzinfo=None) - dt.timedelta(days=90),
        "year": year - dt.timedelta(hours=8),
        "last_year": year.replace(year=year.year - 1) - dt.timedelta(hours=8),
    }


def probe_pandas(url: str, now: dt.datetime) -> dict[str, Any]:
    """The usual Dash pattern: read the event columns into a DataFrame, group by in pandas per refresh."""
    import pandas as pd

    from dashboard.source.engines import make_source_engine

    b = _bounds(now)
    from sqlalchemy import text

    engine = make_source_engine(url, timeout_ms=3_600_000)
    df = pd.read_sql(text(f"SELECT {PANDAS_COLUMNS} FROM event"), engine)
    engine.dispose()
    for col in DATE_COLUMNS:
        df[col] = pd.to_datetime(df[col], format="ISO8601")
    n = b["now"]
    reported = df["reported_at"] <= n
    open_now = reported & ~(df["closed_at"] <= n) & ~(df["rejected_at"] <= n)
    deadline = df["extended_deadline_at"].fillna(df["deadline_at"])
    in_month = (df["reported_at"] >= b["month"]) & reported
    due = (deadline >= b["month"]) & (deadline <= n) & df["rejected_at"].isna()
    kpis = {
        "reported": int(in_month.sum()),
        "closed": int(((df["closed_at"] >= b["month"]) & (df["closed_at"] <= n)).sum()),
        "backlog": int(open_now.sum()),
        "overdue_open": int((open_now & (deadline < n)).sum()),
        "close_rate": round(float((due & (df["closed_at"] <= n)).sum()) / max(int(due.sum()), 1) * 100, 2),
    }
    opened = df.loc[open_now, ["grid_code", "reported_at"]]
    age_days = (n - opened["reported_at"]).dt.total_seconds() / 86400
    buckets = pd.cut(age_days, [-1, *AGE_EDGES_DAYS, 1e9], labels=["lt1d", "d1_3", "d3_7", "d7_30", "gt30d"])
    backlog = opened.assign(bucket=buckets).pivot_table(
        index="grid_code", columns="bucket", values="reported_at", aggfunc="count", observed=False
    )
    recent = df.loc[(df["reported_at"] > b["d90"]) & reported, ["reported_at", "category_l1"]]
    by_day = recent.groupby([(recent["reported_at"] + pd.Timedelta(hours=8)).dt.date, "category_l1"]).size()
    yoy = df.loc[(df["reported_at"] >= b["last_year"]) & reported, ["reported_at"]]
    local = yoy["reported_at"] + pd.Timedelta(hours=8)
    weekly = yoy.groupby([local.dt.year, local.dt.isocalendar().week]).size()
    return {
        "rows_read": len(df),
        "kpis": kpis,
        "backlog_grids": len(backlog),
        "backlog_total": int(backlog.to_numpy().sum()),
        "category_cells": len(by_day),
        "category_total": int(by_day.sum()),
        "weekly_cells": len(weekly),
        "weekly_total": int(weekly.sum()),
    }


def probe_sql(url: str, now: dt.datetime) -> dict[str, Any]:
    """Plain SQL aggregates per refresh: the same four panels as GROUP BY queries, no cache, no rollup."""
    from sqlalchemy import and_, case, func, or_, select

    from dashboard.source import schema
    from dashboard.source.engines import make_source_engine
    from dashboard.source.queries.sqlfuncs import local_day

    e = schema.event.c
    b = {k: v.replace(tzinfo=dt.UTC) for k, v in _bounds(now).items()}
    n = b["now"]
    deadline = func.coalesce(e.extended_deadline_at, e.deadline_at)
    reported = e.reported_at <= n
    open_now = and_(
        reported, or_(e.closed_at.is_(None), e.closed_at > n), or_(e.rejected_at.is_(None), e.rejected_at > n)
    )
    due = and_(deadline >= b["month"], deadline <= n, e.rejected_at.is_(None))

    def count_if(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    engine = make_source_engine(url, timeout_ms=3_600_000)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL jit = off")
        k = conn.execute(
            select(
                count_if(and_(e.reported_at >= b["month"], reported)),
                count_if(and_(e.closed_at >= b["month"], e.closed_at <= n)),
                count_if(open_now),
                count_if(and_(open_now, deadline < n)),
                count_if(and_(due, e.closed_at <= n)),
                count_if(due),
            )
        ).one()
        ages = [n - dt.timedelta(days=d) for d in AGE_EDGES_DAYS]
        backlog = conn.execute(
            select(
                e.grid_code,
                count_if(e.reported_at > ages[0]),
                count_if(and_(e.reported_at <= ages[0], e.reported_at > ages[1])),
                count_if(and_(e.reported_at <= ages[1], e.reported_at > ages[2])),
                count_if(and_(e.reported_at <= ages[2], e.reported_at > ages[3])),
                count_if(e.reported_at <= ages[3]),
            )
            .where(open_now)
            .group_by(e.grid_code)
        ).all()
        by_day = conn.execute(
            select(local_day(e.reported_at), e.category_l1, func.count())
            .where(e.reported_at > b["d90"], reported)
            .group_by(local_day(e.reported_at), e.category_l1)
        ).all()
        days = conn.execute(
            select(local_day(e.reported_at), func.count())
            .where(e.reported_at >= b["last_year"], reported)
            .group_by(local_day(e.reported_at))
        ).all()
    engine.dispose()
    weekly: dict[tuple[int, int], int] = {}
    for day, count in days:  # at most 730 rows: folded into ISO weeks here
        iso = dt.date.fromisoformat(str(day)).isocalendar()
        key = (dt.date.fromisoformat(str(day)).year, iso.week)
        weekly[key] = weekly.get(key, 0) + int(count)
    return {
        "rows_read": len(backlog) + len(by_day) + len(days) + 1,
        "kpis": {
            "reported": int(k[0] or 0),
            "closed": int(k[1] or 0),
            "backlog": int(k[2] or 0),
            "overdue_open": int(k[3] or 0),
            "close_rate": round(float(k[4] or 0) / max(int(k[5] or 0), 1) * 100, 2),
        },
        "backlog_grids": len(backlog),
        "backlog_total": int(sum(sum(int(x or 0) for x in row[1:]) for row in backlog)),
        "category_cells": len(by_day),
        "category_total": int(sum(int(r[2]) for r in by_day)),
        "weekly_cells": len(weekly),
        "weekly_total": int(sum(weekly.values())),
    }


def _probe_main(kind: str, url: str, now_iso: str) -> None:
    """Entry point of the subprocess: one refresh, its time and this process's peak RSS, as JSON."""
    now = dt.datetime.fromisoformat(now_iso)
    fn = probe_pandas if kind == "pandas" else probe_sql
    if kind == "pandas":
        import pandas  # noqa: F401  (imported before the baseline: the library is not the data)
    from dashboard.source.engines import make_source_engine  # noqa: F401

    baseline = rss_mb(os.getpid()) or 0.0
    started = time.perf_counter()
    result = fn(url, now)
    seconds = time.perf_counter() - started
    # VmHWM, not ru_maxrss: getrusage survives execve, so it would report the parent bench's peak.
    peak = rss_mb(os.getpid(), "VmHWM") or 0.0
    print(json.dumps({**result, "seconds": round(seconds, 4), "peak_rss_mb": round(peak, 1),
                      "baseline_rss_mb": round(baseline, 1), "above_baseline_mb": round(peak - baseline, 1)}))  # fmt: skip


def run_probe(cfg: Config, kind: str, url: str, now: dt.datetime) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "dashboard.perf.bench", "probe", kind, url, now.isoformat()]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cfg.probe_timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {cfg.probe_timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:300]}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def measure_pandas_vs_sql(cfg: Config, ds: Dataset, clock: OffsetClock) -> dict[str, Any]:
    now = clock.now()
    sql = run_probe(cfg, "sql", ds.url, now)
    if "pandas" not in cfg.sections:  # section "sql": plain SQL alone (pandas needs ~9 GB at 10M events)
        return {"sql": sql}
    pandas = run_probe(cfg, "pandas", ds.url, now)
    out: dict[str, Any] = {"sql": sql, "pandas": pandas}
    if "error" not in sql and "error" not in pandas:
        keys = ("kpis", "backlog_total", "category_total", "weekly_total")
        out["same_answers"] = all(sql[k] == pandas[k] for k in keys)
        out["pandas_over_sql_time"] = round(pandas["seconds"] / max(sql["seconds"], 1e-6), 1)
        out["pandas_over_sql_rss"] = round(pandas["peak_rss_mb"] / max(sql["peak_rss_mb"], 1e-6), 1)
        say(
            cfg,
            f"  {ds.backend} x{ds.scale:g} pandas {pandas['seconds']:.2f} s / {pandas['peak_rss_mb']:.0f} MB, "
            f"SQL {sql['seconds']:.2f} s / {sql['peak_rss_mb']:.0f} MB",
        )
    return out


# --- (e) export ---------------------------------------------------------------------------------------


def measure_export(cfg: Config, ds: Dataset, service: Any) -> dict[str, Any]:
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


# --- (b, c, d) gunicorn under load --------------------------------------------------------------------


def wsgi_app() -> Any:
    """The gunicorn app of the benchmark (``dashboard.perf.bench:wsgi_app()``): the real app, instrumented.

    The same :func:`dashboard.web.app.create_app` as ``dashboard.web.wsgi``, with a service whose builder and
    data-version reader append to ``BENCH_COUNTER_FILE``, this run's own cache key prefix (so a shared
    Redis is never mixed with other deployments) and the shifted clock of the run.
    """
    import logging

    from dashboard.core.settings import load_settings
    from dashboard.service.factory import create_service
    from dashboard.web.app import create_app

    logging.getLogger("dashboard").setLevel(logging.WARNING)
    settings = load_settings()
    clock = OffsetClock(float(os.environ.get("BENCH_CLOCK_OFFSET", "0")))
    counter = os.environ.get("BENCH_COUNTER_FILE")
    service = create_service(
        settings,
        clock,
        key_prefix=os.environ.get("BENCH_KEY_PREFIX", "xsbench:"),
        rollup_url=os.environ.get("BENCH_ROLLUP_URL") or None,  # --http-rollups: the dataset's rollups
        instrument=lambda kind, fn: counting(fn, kind, counter),
        wait_seconds=600.0,
    )
    return create_app(settings, clock=clock, service=service).server


class Server:
    """gunicorn serving :func:`wsgi_app` on a free local port, in its own process group."""

    def __init__(self, cfg: Config, ds: Dataset, offset: float, prefix: str, redis_url: str) -> None:
        rid = run_id(prefix)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.counter = cfg.data_dir / f"counter-{rid}.log"
        self.log = cfg.data_dir / f"gunicorn-{rid}.log"
        self.state = cfg.data_dir / f"state-{rid}.db"
        env = {
            **os.environ,
            "DASHBOARD_DATABASE_URL": ds.url,
            "DASHBOARD_STATE_URL": f"sqlite:///{self.state}",
            "DASHBOARD_CACHE_URL": redis_url,
            "DASHBOARD_CACHE_DIR": str(cfg.data_dir / f"cache-{rid}"),
            "DASHBOARD_REFRESH_SECONDS": str(cfg.refresh_seconds),
            "DASHBOARD_BACKGROUND_REFRESH": "on",  # the default, whatever the caller's environment says
            "DASHBOARD_STATEMENT_TIMEOUT_MS": "600000",
            "BENCH_CLOCK_OFFSET": f"{offset:.3f}",
            "BENCH_COUNTER_FILE": str(self.counter),
            "BENCH_KEY_PREFIX": prefix,
            "DASH_DISABLE_VERSION_CHECK": "true",
        }
        if cfg.http_rollups:
            env["BENCH_ROLLUP_URL"] = rollup_url(cfg, ds)
        cmd = [sys.executable, "-m", "gunicorn", "--workers", str(cfg.workers), "--threads", str(cfg.threads),
               "--bind", f"127.0.0.1:{self.port}", "--timeout", "600", "--graceful-timeout", "5",
               "dashboard.perf.bench:wsgi_app()"]  # fmt: skip
        self.logfile = open(self.log, "wb")  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self.logfile, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.workers = cfg.workers

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}); see {self.log}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.base + "/api/v1/metrics", timeout=5) as r,
            ):
                if r.status == 200 and len(children(self.proc.pid)) >= self.workers:
                    break
            time.sleep(0.3)
        else:
            raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s; see {self.log}")
        # Every worker imports the app on boot: wait until each one's memory stops growing.
        previous: dict[int, float] = {}
        for _ in range(40):
            now = {pid: rss_mb(pid) or 0.0 for pid in children(self.proc.pid)}
            if (
                previous
                and now.keys() == previous.keys()
                and all(abs(now[p] - previous[p]) < 0.5 for p in now)
            ):
                break
            previous = now
            time.sleep(0.5)

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.logfile.close()


_HEAD = re.compile(r'"now":"([^"]+)".*?"data_version":"([^"]*)"')


def fetch(url: str, timeout: float = 60.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class RssSampler:
    """Samples VmRSS of every gunicorn worker a few times a second."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.idle = {pid: rss_mb(pid) or 0.0 for pid in pids}
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
        workers = []
        for pid in self.pids:
            hwm = rss_mb(pid, "VmHWM")
            peak = max(self.peak[pid], hwm or 0.0)
            workers.append({"pid": pid, "idle_mb": round(self.idle[pid], 1), "peak_mb": round(peak, 1),
                            "above_idle_mb": round(peak - self.idle[pid], 1)})  # fmt: skip
        return {
            "workers": workers,
            "max_above_idle_mb": max((w["above_idle_mb"] for w in workers), default=0.0),
        }


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
        from dashboard.sample.times import to_epoch

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
    wall's and the browser pages' :class:`dashboard.perf.soak.Target` per view; every other screen is a
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
    walls = _Screens(server.base, updates, clients)
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

    pool = ThreadPoolExecutor(max_workers=min(max(clients, 4), 256))
    if feed:
        feed.start()
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
        **({"screen_updates": walls.report()} if screens else {}),
    }


class _Screens:
    """Screens polling their page's update request open-loop; each keeps its last render key. Even
    screens show the wall, odd ones a browser page (when the app has both)."""

    def __init__(self, base: str, updates: tuple[Sequence[Any], Sequence[Any]], screens: int) -> None:
        self.base = base
        self.targets = [self._pick(i, list(updates[0]), list(updates[1])) for i in range(screens)]
        self.keys: list[str | None] = [None] * screens
        self.latencies: dict[str, list[float]] = {"wall": [], "page": []}
        self.errors: list[str] = []
        self.statuses: dict[str, int] = {}
        self.sent = 0
        self._lock = threading.Lock()

    @staticmethod
    def _pick(i: int, walls: list[Any], pages: list[Any]) -> Any:
        pool = walls if (i % 2 == 0 and walls) or not pages else pages
        return pool[(i // 2) % len(pool)]

    def poll(self, screen: int, planned: float) -> None:
        from dashboard.perf.soak import send

        with self._lock:
            self.sent += 1
        target = self.targets[screen]
        answer = send(self.base, target, self.keys[screen], timeout=120)
        took = time.perf_counter() - planned  # from the planned send time: open loop
        with self._lock:
            self.statuses[str(answer.status)] = self.statuses.get(str(answer.status), 0) + 1
            if not answer.ok:
                self.errors.append(str(answer.status))
                return
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
            **{
                f"{kind}_{k}": v
                for kind, xs in self.latencies.items()
                if xs  # a kind no screen showed has no figures
                for k, v in latency_percentiles(sorted(xs)).items()
                if k in ("p50_ms", "p95_ms")
            },
        }


def latency_percentiles(lat: Sequence[float], digits: int = 2) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds of ascending latencies in seconds (the bench and the soak)."""
    return {
        "p50_ms": round(percentile(lat, 50) * 1000, digits),
        "p95_ms": round(percentile(lat, 95) * 1000, digits),
        "p99_ms": round(percentile(lat, 99) * 1000, digits),
        "max_ms": round((lat[-1] if lat else 0.0) * 1000, digits),
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
    from dashboard.perf.soak import plan_targets

    keyed = [t for t in plan_targets(base, HTTP_VIEWS) if t.key_store]
    return [t for t in keyed if t.key_store == "wall-key"], [t for t in keyed if t.key_store != "wall-key"]


def measure_http(cfg: Config, ds: Dataset, offset: float, clock: OffsetClock) -> dict[str, Any]:
    prefix = f"xsbench:{uuid.uuid4().hex[:10]}:"
    redis_url = cfg.redis_url if _redis_up(cfg.redis_url) else ""
    server = Server(cfg, ds, offset, prefix, redis_url)
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
        say(cfg, f"  starting gunicorn ({cfg.workers} workers × {cfg.threads} threads) on {ds.backend} …")
        started = time.perf_counter()
        server.wait_ready()
        out["boot_seconds"] = round(time.perf_counter() - started, 2)
        sampler = RssSampler(server.worker_pids())
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
            out["levels"] = [load_level(cfg, server, n, feed, updates) for n in cfg.clients]
            for lv in out["levels"]:
                say(cfg, f"  {lv['clients']:>3} clients: p50 {lv['p50_ms']} ms, p95 {lv['p95_ms']} ms, "
                         f"p99 {lv['p99_ms']} ms, errors {lv['errors']}, builds {lv['snapshot_builds']} "
                         f"for {lv['requests']} requests ({lv['distinct_keys_seen']} keys)")  # fmt: skip
                if "screen_updates" in lv:
                    w = lv["screen_updates"]
                    say(cfg, f"      + {lv['clients']} screens (wall, pages): p50 {w['p50_ms']} ms, p95 {w['p95_ms']} "
                             f"ms (wall {w.get('wall_p95_ms', '–')}, pages {w.get('page_p95_ms', '–')}), p99 {w['p99_ms']} ms, "
                             f"errors {w['errors']}, answers {w['statuses']}")  # fmt: skip
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


# --- the run ------------------------------------------------------------------------------------------


def measure_dataset(cfg: Config, ds: Dataset, http: bool) -> dict[str, Any]:
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
        if {"pandas", "sql"} & set(cfg.sections):
            out["pandas_vs_sql"] = timed("pandas", lambda: measure_pandas_vs_sql(cfg, ds, clock))
        if "export" in cfg.sections:
            if http:
                out["export"] = timed("export", lambda: measure_export(cfg, ds, service))
            else:
                out["skipped"]["export"] = f"measured once per scale, on {cfg.http_backend}"
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


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


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
        for i, (scale, backend) in enumerate((s, b) for s in cfg.scales for b in backends):
            say(cfg, f"[{i + 1}/{steps}] {backend}, scale {scale:g}, {cfg.days} days")
            ds = ensure_dataset(cfg, backend, scale)
            report["datasets"].append(measure_dataset(cfg, ds, http=backend == http_backend))
    except BaseException as exc:  # interrupted or a dataset failed: keep what was measured
        report["skipped"].append({"what": "the rest of the run", "why": f"{type(exc).__name__}: {exc}"[:300]})
        raise
    finally:
        report["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        report["seconds"] = round(time.time() - started, 1)
        report["ratios"] = ratios(report)
        write_reports(cfg, report)
    return report


def ratios(report: dict[str, Any]) -> list[str]:
    """The one-line comparisons printed at the end and listed in the Markdown report."""
    lines = []
    lo_cold, hi_cold = SUPERSET["cache_off_s"]
    lo_warm, hi_warm = SUPERSET["warm_cache_s"]
    for d in report["datasets"]:
        tag = f"{d['backend']} {d['events']:,} events"
        snap = d.get("snapshot", {})
        if "error" in snap:
            lines.append(f"{tag}: snapshot section failed: {snap['error']}")
        for label in ("district", "town"):
            if label in snap:
                cold = snap[label]["cold_s"]["median"]
                warm = snap[label]["warm_s"]["median"]
                lines.append(
                    f"{tag}, {label}: cold {cold:.3f} s ({cold / hi_cold:.2f}–{cold / lo_cold:.2f}× Superset "
                    f"cache-off {lo_cold}–{hi_cold} s at 1M), warm {warm * 1000:.2f} ms "
                    f"({lo_warm / max(warm, 1e-6):.0f}–{hi_warm / max(warm, 1e-6):.0f}× faster than Superset "
                    f"warm {lo_warm}–{hi_warm} s); cold/warm {snap[label]['cold_over_warm']:g}×"
                )
        ru = d.get("rollups", {})
        if "error" in ru:
            lines.append(f"{tag}: rollups section failed: {ru['error']}")
        for label in ("district", "town"):
            if label in ru:
                cold = ru[label]["cold_s"]["median"]
                direct = snap.get(label, {}).get("cold_s", {}).get("median")
                versus = (
                    f", {direct / cold:.0f}× faster than build_snapshot ({direct:.3f} s)" if direct else ""
                )
                plain = d.get("pandas_vs_sql", {}).get("sql", {}).get("seconds")
                if plain and label == "district":
                    versus += f", {plain / cold:.1f}× faster than plain SQL aggregates ({plain:.3f} s)"
                lines.append(
                    f"{tag}, {label}: cold through the rollups {cold:.3f} s (sync included, median "
                    f"{ru[label]['sync_s']['median']:.3f} s; fast path used: {ru[label]['fast_path']}){versus}"
                )
        pv = d.get("pandas_vs_sql", {})
        if "error" in pv:
            lines.append(f"{tag}: pandas/SQL section failed: {pv['error']}")
        elif "pandas_over_sql_time" in pv:
            lines.append(
                f"{tag}: pandas read_sql+groupby {pv['pandas']['seconds']:.2f} s / {pv['pandas']['peak_rss_mb']:.0f} MB"
                f" vs plain SQL {pv['sql']['seconds']:.2f} s / {pv['sql']['peak_rss_mb']:.0f} MB "
                f"({pv['pandas_over_sql_time']:g}× time, {pv['pandas_over_sql_rss']:g}× RSS; same answers: "
                f"{pv['same_answers']})"
            )
        elif "pandas" not in pv and "seconds" in pv.get("sql", {}):  # section "sql": plain SQL alone
            lines.append(
                f"{tag}: plain SQL per refresh {pv['sql']['seconds']:.2f} s / {pv['sql']['peak_rss_mb']:.0f} MB"
            )
        elif pv:
            lines.append(
                f"{tag}: pandas {pv.get('pandas', {}).get('error', 'skipped')}; SQL {pv['sql'].get('error', 'ok')}"
            )
        for lv in d.get("http", {}).get("levels", []):
            per = lv["snapshot_builds"] / max(lv["ok"], 1)
            lines.append(
                f"{tag}, {lv['clients']} clients: p50 {lv['p50_ms']} ms p95 {lv['p95_ms']} ms p99 {lv['p99_ms']} ms, "
                f"{lv['errors']} errors; build_snapshot ran {lv['snapshot_builds']}× for {lv['ok']} answers "
                f"({per:.3f} per answer) and {lv['distinct_keys_seen']} distinct (view, data version, minute) keys"
            )
        if "error" in d.get("http", {}):
            lines.append(f"{tag}: HTTP section failed: {d['http']['error']}")
        rss = d.get("http", {}).get("rss")
        if rss:
            lines.append(f"{tag}: peak RSS above idle per gunicorn worker ≤ {rss['max_above_idle_mb']} MB")
        fl = d.get("http", {}).get("feed_latency")
        if fl:
            lines.append(
                f"{tag}: feed write → API median {fl['median_s']} s, max {fl['max_s']} s ({fl['bound_s']})"
            )
        ex = d.get("export")
        if ex and "seconds_first" in ex:
            again = f" ({ex['seconds_again']:.1f} s again)" if ex.get("seconds_again") else ""
            lines.append(f"{tag}: full PPTX deck {ex['seconds_first']:.1f} s{again}")
    return lines


def markdown(report: dict[str, Any]) -> str:
    out = [f"# Benchmark ({report['mode']})", ""]
    m = report["machine"]
    out += [
        f"{report['started_at']} → {report['finished_at']} ({report['seconds']} s); {m['cpus']} CPUs, "
        f"Python {m['python']}, load average at start {m['load_average_at_start']}.",
        "",
        f"Command: `{report.get('command') or 'run_bench(Config.for_mode(' + repr(report['mode']) + '))'}`",
        "",
        "Superset 6.1 chart-data API (fixed reference from the issue, 1M events): cache off "
        f"{SUPERSET['cache_off_s'][0]}–{SUPERSET['cache_off_s'][1]} s, warm cache "
        f"{SUPERSET['warm_cache_s'][0]}–{SUPERSET['warm_cache_s'][1]} s.",
        "",
        "## Summary",
        "",
        *[f"* {line}" for line in report["ratios"]],
        "",
        "## Snapshots (seconds; cold = build_snapshot on the source, warm = through the service and cache)",
        "",
        "| backend | events | scope | cold median | cold min–max | first via service | warm median | warm max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in report["datasets"]:
        for label, s in d.get("snapshot", {}).items():
            if not isinstance(s, dict):
                continue
            out.append(
                f"| {d['backend']} | {d['events']:,} | {label} | {s['cold_s']['median']:.3f} | "
                f"{s['cold_s']['min']:.3f}–{s['cold_s']['max']:.3f} | {s['first_through_service_s']:.3f} | "
                f"{s['warm_s']['median'] * 1000:.2f} ms | {s['warm_s']['max'] * 1000:.2f} ms |"
            )
    out += [
        "",
        "## Snapshots through the rollups (seconds; cold = sync the rollups + build_snapshot_fast)",
        "",
        "| backend | events | scope | cold median | cold min–max | sync median | fast path | rollup build |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in report["datasets"]:
        ru = d.get("rollups", {})
        built = ru.get("build_s")
        for label in ("district", "town"):
            r = ru.get(label)
            if isinstance(r, dict):
                out.append(
                    f"| {d['backend']} | {d['events']:,} | {label} | {r['cold_s']['median']:.3f} | "
                    f"{r['cold_s']['min']:.3f}–{r['cold_s']['max']:.3f} | {r['sync_s']['median']:.3f} | "
                    f"{r['fast_path']} | {f'{built} s' if built else 'reused'} |"
                )
    out += ["", "## HTTP /api/v1/snapshot under gunicorn (open-loop clients at the refresh interval)", ""]
    out += [
        "| backend | events | clients | requests | errors | stale | p50 ms | p95 ms | p99 ms | max ms | builds | keys seen | feed writes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in report["datasets"]:
        for lv in d.get("http", {}).get("levels", []):
            out.append(
                f"| {d['backend']} | {d['events']:,} | {lv['clients']} | {lv['requests']} | {lv['errors']} | "
                f"{lv['stale_answers']} | {lv['p50_ms']} | {lv['p95_ms']} | {lv['p99_ms']} | {lv['max_ms']} | "
                f"{lv['snapshot_builds']} | {lv['distinct_keys_seen']} | {lv['feed_writes']} |"
            )
    screens = [
        (d, lv)
        for d in report["datasets"]
        for lv in d.get("http", {}).get("levels", [])
        if "screen_updates" in lv
    ]
    if screens:
        out += [
            "",
            "## The screens' update requests (/_dash-update-component) at the same time, one screen per API "
            "client (every other one a wall, the others browser pages)",
            "",
            "| backend | events | screens | requests | errors | answers (200 redrawn, 204 nothing new) "
            "| p50 ms | p95 ms | wall p95 ms | pages p95 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for d, lv in screens:
            w = lv["screen_updates"]
            answers = ", ".join(f"{k}: {v}" for k, v in w["statuses"].items())
            out.append(
                f"| {d['backend']} | {d['events']:,} | {lv['clients']} | {w['requests']} | {w['errors']} | "
                f"{answers} | {w['p50_ms']} | {w['p95_ms']} | {w.get('wall_p95_ms', '–')} | {w.get('page_p95_ms', '–')} | "
                f"{w['p99_ms']} | {w['max_ms']} |"
            )
    out += ["", "## Memory, feed latency, export, pandas", ""]
    for d in report["datasets"]:
        tag = f"**{d['backend']}, {d['events']:,} events**"
        h = d.get("http", {})
        if "rss" in h:
            per = ", ".join(f"{w['idle_mb']}→{w['peak_mb']} MB" for w in h["rss"]["workers"])
            out.append(f"* {tag}: gunicorn workers idle→peak RSS: {per}")
        if "feed_latency" in h:
            fl = h["feed_latency"]
            out.append(f"* {tag}: feed write → API: {[r.get('seconds_to_api') for r in fl['rounds']]} s")
        if "export" in d:
            out.append(f"* {tag}: export {json.dumps(d['export'], ensure_ascii=False)}")
        pv = d.get("pandas_vs_sql")
        if pv and "error" not in pv:
            for kind in ("pandas", "sql"):
                if kind not in pv:  # section "sql" alone
                    continue
                p = pv[kind]
                if "error" in p:
                    out.append(f"* {tag}: {kind}: {p['error']}")
                else:
                    out.append(
                        f"* {tag}: {kind}: {p['seconds']:.3f} s, peak RSS {p['peak_rss_mb']} MB "
                        f"({p['above_baseline_mb']} MB above its baseline), {p['rows_read']:,} rows read"
                    )
        for what, why in d.get("skipped", {}).items():
            out.append(f"* {tag}: {what} not measured here: {why}")
    for s in report["skipped"]:
        out.append(f"* skipped {s['what']}: {s['why']}")
    return "\n".join(out) + "\n"


def write_reports(cfg: Config, report: dict[str, Any]) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = cfg.data_dir / f"bench-{cfg.mode}-{stamp}"
    text = json.dumps(report, ensure_ascii=False, indent=2, default=str)
    md = markdown(report)
    for path, content in ((base.with_suffix(".json"), text), (base.with_suffix(".md"), md)):
        path.write_text(content, encoding="utf-8")
    (cfg.data_dir / f"latest-{cfg.mode}.json").write_text(text, encoding="utf-8")
    (cfg.data_dir / f"latest-{cfg.mode}.md").write_text(md, encoding="utf-8")
    report["files"] = [str(base.with_suffix(".json")), str(base.with_suffix(".md"))]


# --- command line -------------------------------------------------------------------------------------


def _floats(text_: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text_.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma list of numbers: {text_!r}") from exc
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("give positive numbers")
    return values


def _ints(text_: str) -> tuple[int, ...]:
    return tuple(int(v) for v in _floats(text_))


def _words(text_: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text_.split(",") if x.strip())


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=tuple(MODES), default="quick",
                        help="full: ≥1M and 10M events (scales 2 and 17, 760 days, a year of patrols), long; quick: a small "
                             "district in 1-2 minutes; tiny: seconds (tests)")  # fmt: skip
    parser.add_argument(
        "--scale", type=_floats, default=None, help="comma list of seed scales (overrides the mode)"
    )
    parser.add_argument("--days", type=int, default=None, help="days of history to seed")
    parser.add_argument(
        "--patrol-days", type=int, default=None, help="days of patrols and check-ins to seed (full: a year)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--backends", type=_words, default=None, help="comma list: sqlite,postgresql")
    parser.add_argument(
        "--http-backend", default=None, help="backend of the gunicorn load test (default postgresql)"
    )
    parser.add_argument(
        "--clients", type=_ints, default=None, help="comma list of client counts, e.g. 1,10,50,200"
    )
    parser.add_argument("--level-seconds", type=float, default=None, help="seconds of load per client count")
    parser.add_argument("--refresh-seconds", type=int, default=None, help="the clients' polling interval")
    parser.add_argument("--repeats", type=int, default=None, help="cold snapshot runs per scope (median)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=None, help="threads per gunicorn worker")
    parser.add_argument(
        "--sections",
        type=_words,
        default=None,
        help=f"comma list from {', '.join(SECTIONS + EXTRA_SECTIONS)} (sql: plain SQL without pandas)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="datasets and reports (default data/bench)"
    )
    parser.add_argument(
        "--postgres-url", default=None, help="PostgreSQL admin URL (creates xsbench_* databases)"
    )
    parser.add_argument(
        "--redis-url", default=None, help="Redis for the shared cache (keys under a run prefix)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--http-rollups",
        action="store_true",
        help="serve the HTTP and feed-latency sections through the dataset's rollups (the fast path)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    return Config.for_mode(
        args.mode,
        seed=args.seed,
        scales=args.scale,
        days=args.days,
        patrol_days=args.patrol_days,
        backends=args.backends,
        http_backend=args.http_backend,
        clients=args.clients,
        level_seconds=args.level_seconds,
        refresh_seconds=args.refresh_seconds,
        repeats=args.repeats,
        workers=args.workers,
        threads=args.threads,
        sections=args.sections,
        data_dir=args.data_dir,
        pg_url=args.postgres_url,
        http_rollups=args.http_rollups or None,
        redis_url=args.redis_url,
        quiet=args.quiet or None,
    )


def run(args: argparse.Namespace) -> int:
    report = run_bench(config_from_args(args))
    print(f"\nBenchmark ({report['mode']}, {report['seconds']} s):")
    for line in report["ratios"]:
        print("  " + line)
    for s in report["skipped"]:
        print(f"  skipped {s['what']}: {s['why']}")
    print("Reports: " + ", ".join(report["files"]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["probe"] and len(argv) == 4:
        _probe_main(argv[1], argv[2], argv[3])
        return 0
    parser = argparse.ArgumentParser(prog="python -m dashboard.perf.bench")
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
