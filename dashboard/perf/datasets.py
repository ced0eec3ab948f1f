"""The seeded districts a benchmark measures, made once per (seed, scale, days) and reused.

SQLite files live under the data directory; PostgreSQL datasets are ``xsbench_*`` databases made through
the admin URL. A marker file beside each says the seed finished, so an interrupted seed is made again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard.perf.config import Config, say
from dashboard.sample.seed import DEFAULT_PATROL_DAYS


def scale_tag(scale: float) -> str:
    """The scale as a file-name fragment: 0.3 → 0p3."""
    return f"{scale:g}".replace(".", "p")


def dataset_key(seed: int, scale: float, days: int, patrol_days: int = DEFAULT_PATROL_DAYS) -> str:
    """The name of a dataset's files and databases: district-s42-x0p3-d120."""
    patrols = "" if patrol_days == DEFAULT_PATROL_DAYS else f"-p{patrol_days}"
    return f"district-s{seed}-x{scale_tag(scale)}-d{days}{patrols}"


def mask_url(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"//([^:@/]+):[^@/]+@", r"//\1:***@", url)


@dataclass
class Dataset:
    """A seeded district: where it is and what it holds."""

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


# The simulated hour a new dataset ends at: a Wednesday at 09:30 in Xiaoshan (01:30 UTC), a working
# morning when the feed writes at full rate. Seeding "up to the wall clock" made two runs on different
# days measure different hours (06:45 against 09:15 once: 500 against 1,104 of 1,199 screen answers
# redrawn at 200 screens), so the figures did not compare.
SIMULATED_WEEKDAY = 2  # Monday is 0
SIMULATED_UTC = dt.time(1, 30)


def simulated_end(now: dt.datetime) -> dt.datetime:
    """The latest Wednesday 09:30 Xiaoshan time at or before ``now``: where a new dataset's history ends."""
    day = now.astimezone(dt.UTC).date()
    back = (day.weekday() - SIMULATED_WEEKDAY) % 7
    end = dt.datetime.combine(day - dt.timedelta(days=back), SIMULATED_UTC, tzinfo=dt.UTC)
    return end if end <= now else end - dt.timedelta(days=7)


def ensure_dataset(cfg: Config, backend: str, scale: float) -> Dataset:
    """The seeded dataset for (seed, scale, days) on ``backend``: reused when its marker says complete.

    A new PostgreSQL dataset is copied from the finished SQLite dataset of the same key when there is
    one (:mod:`~dashboard.perf.transfer`: the same rows, minutes instead of a second seed), else seeded.
    """
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
    elif sqlite_complete(cfg, key):
        return _copy_from_sqlite(cfg, key, scale, url, marker)
    end = simulated_end(dt.datetime.now(dt.UTC))
    say(
        cfg,
        f"· seeding {backend} dataset {key} (scale {scale:g}, {cfg.days} days, {cfg.patrol_days} of patrols, "
        f"ending {end:%Y-%m-%d %H:%M} UTC) …",
    )
    report = seed_database(
        url,
        seed=cfg.seed,
        days=cfg.days,
        scale=scale,
        patrol_days=cfg.patrol_days,
        progress=not cfg.quiet,
        force=True,
        now=end,
    )
    meta = {
        "url": mask_url(url),
        "counts": report.counts,
        "seconds": report.seconds,
        "ends_at": end.isoformat(),
    }
    marker.write_text(json.dumps(meta))
    return Dataset(backend, scale, cfg.days, url, False, round(report.seconds, 1), report.counts)


def sqlite_complete(cfg: Config, key: str) -> bool:
    """True when the SQLite dataset ``key`` is there and its seed finished (its marker is written)."""
    return (cfg.data_dir / f"{key}.db").exists() and (cfg.data_dir / f"{key}.sqlite.json").exists()


def _copy_from_sqlite(cfg: Config, key: str, scale: float, url: str, marker: Path) -> Dataset:
    """The PostgreSQL dataset made from the finished SQLite one of the same key: the same rows, copied."""
    from dashboard.perf.transfer import copy_sqlite_to_postgresql

    path = cfg.data_dir / f"{key}.db"
    say(cfg, f"· copying the sqlite dataset {key} into postgresql …")
    report = copy_sqlite_to_postgresql(str(path), url, progress=not cfg.quiet)
    meta = {
        "url": mask_url(url),
        "counts": report.counts,
        "seconds": report.seconds,
        "copied_from": path.name,
        "phases": report.phases,
        "table_seconds": report.table_seconds,
    }
    marker.write_text(json.dumps(meta))
    say(
        cfg,
        f"  copied in {report.seconds:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in report.phases.items())})",
    )
    return Dataset("postgresql", scale, cfg.days, url, False, round(report.seconds, 1), report.counts)


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
