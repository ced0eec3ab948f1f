"""The sample Xiaoshan district and its history up to now, generated into any supported database.

Everything is synthetic and deterministic for a given seed and ``now``: 26 towns, ≈570 村社, ≈1,850 grids
with illustrative polygons (:mod:`~dashboard.sample.district`), departments and staff
(:mod:`~dashboard.sample.staff`), 5,037 video points with their outage history
(:mod:`~dashboard.sample.video`), ``days`` of events with their full action logs
(:mod:`~dashboard.sample.history`, from the arrival model of :mod:`~dashboard.sample.arrivals` and the
lifecycle model of :mod:`~dashboard.sample.lifecycle`), recent patrols (:mod:`~dashboard.sample.patrols`),
110 statistics since 2012, 挂牌整治 areas and safety inspections (:mod:`~dashboard.sample.safety`). The live
feed (:mod:`dashboard.sample.simulate`) reuses the arrival, patrol and camera models, so seeding then
simulating looks like one continuous history.

This module runs the phases in order, times them and reports the row counts. Speed matters (the first
``make run`` seeds): rows are built as plain tuples with timestamps already formatted, and written by
chunked ``executemany`` through the driver (:mod:`~dashboard.sample.writes`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select

from dashboard.core.domain import towns
from dashboard.sample.arrivals import sampler_from_rows
from dashboard.sample.district import (
    ADMIN_COLUMNS,
    GRID_COLUMNS,
    District,
    admin_rows,
    build_district,
    grid_rows,
)
from dashboard.sample.history import Window, write_events
from dashboard.sample.lifecycle import DAY
from dashboard.sample.patrols import write_patrols
from dashboard.sample.safety import write_safety
from dashboard.sample.staff import DEPT_COLUMNS, STAFF_COLUMNS, department_rows, lifecycle_context, staff_rows
from dashboard.sample.times import UTC, to_epoch
from dashboard.sample.video import write_video
from dashboard.sample.writes import (
    create_indexes,
    drop_bulk_indexes,
    fast_sqlite,
    insert_rows,
    restore_sqlite,
    sync_sequences,
)
from dashboard.source import schema
from dashboard.source.engines import init_db, refresh_planner_statistics

DEFAULT_DAYS = 760
DEFAULT_PATROL_DAYS = 14

T = TypeVar("T")


@dataclass
class SeedReport:
    """What a seed wrote: rows per table, total seconds and seconds per phase."""

    counts: dict[str, int]
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        rows = ", ".join(f"{k} {v:,}" for k, v in self.counts.items())
        return f"seeded in {self.seconds:.1f} s: {rows}"


def is_empty(engine: Engine) -> bool:
    """True when the database holds no units and no events."""
    with engine.connect() as conn:
        for table in (schema.admin_unit, schema.event):
            if conn.execute(select(table).limit(1)).first() is not None:
                return False
    return True


def clear(engine: Engine) -> None:
    """--force: drop and recreate the canonical tables (faster than deleting millions of rows)."""
    schema.metadata.drop_all(engine, tables=schema.ALL_TABLES)
    schema.metadata.create_all(engine)


@dataclass
class SeedJob:
    """One seed's arguments (``now`` in epoch seconds) and what it has written so far."""

    url: str
    seed: int
    days: int
    scale: float
    patrol_days: int
    now: int
    progress: bool
    counts: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)


def seed_database(
    url: str,
    *,
    seed: int = 42,
    days: int = DEFAULT_DAYS,
    scale: float = 1.0,
    patrol_days: int = DEFAULT_PATROL_DAYS,
    now: dt.datetime | None = None,
    progress: bool = True,
    force: bool = False,
) -> SeedReport:
    """Create the schema on ``url`` and fill it with the sample district up to ``now``.

    Refuses a database that already holds data unless ``force`` (then the tables are recreated).
    Deterministic for the same seed, days, scale, patrol_days and now.
    """
    if days < 1 or scale <= 0 or patrol_days < 0:
        raise ValueError("--days must be ≥ 1, --scale > 0 and --patrol-days ≥ 0")
    started = time.monotonic()
    now_ts = to_epoch(now or dt.datetime.now(UTC))
    engine = init_db(url)
    try:
        if not is_empty(engine):
            if not force:
                raise ValueError("数据库非空 / the database already holds data: use --force to replace it")
            clear(engine)
        job = SeedJob(url, seed, days, scale, patrol_days, now_ts, progress)
        _run_seed(engine, job)
    finally:
        engine.dispose()
    return SeedReport(job.counts, time.monotonic() - started, job.phases)


def _run_seed(engine: Engine, job: SeedJob) -> None:
    district = build_district(job.seed)
    staff = staff_rows(district, job.seed)
    names = {t.code: t.name_zh for t in towns()} | {v.code: v.name for v in district.villages}
    grows = grid_rows(district)
    sampler = sampler_from_rows(
        [(r[0], r[2], r[3], r[6] + r[7], r[10], r[11], r[8], r[9]) for r in grows], staff, names
    )
    ctx = lifecycle_context(staff)
    window = Window(job.seed, job.days, job.scale, job.now)
    show = job.progress
    with engine.connect() as conn:
        fast_sqlite(conn)
        dropped = drop_bulk_indexes(conn)
        _phase(job, "units", lambda: _write_units(conn, district, grows, staff))
        start = job.now - job.days * DAY
        video = _phase(
            job,
            "video",
            lambda: write_video(conn, sampler, seed=job.seed, start=start, now=job.now, show=show),
        )
        job.counts.update(video)
        job.counts.update(_phase(job, "events", lambda: write_events(conn, window, sampler, ctx, show=show)))
        patrols = _phase(
            job,
            "patrols",
            lambda: write_patrols(conn, sampler, staff, seed=job.seed, scale=job.scale, now=job.now,
                                  patrol_days=job.patrol_days, show=show),
        )  # fmt: skip
        job.counts.update(patrols)
        safety = _phase(
            job,
            "statistics",
            lambda: write_safety(conn, sampler, seed=job.seed, now=job.now, days=job.days, scale=job.scale,
                                 show=show),
        )  # fmt: skip
        job.counts.update(admin_unit=1 + len(district.town_polygons) + len(district.villages))
        job.counts.update(grid=len(district.grids), **safety)
        _phase(job, "indexes", lambda: create_indexes(conn, dropped, show))
        sync_sequences(conn)
        conn.commit()
        restore_sqlite(conn)
    # A freshly loaded database has no planner statistics and no visibility map until autovacuum gets to
    # it (hours, on a big one): queries planned meanwhile read far more than they need (and covering
    # indexes still visit the table), and benchmarks would measure that.
    _phase(
        job,
        "analyze",
        lambda: refresh_planner_statistics(engine, [t.name for t in schema.ALL_TABLES], vacuum=True),
    )


def _phase(job: SeedJob, name: str, fn: Callable[[], T]) -> T:
    """Run one phase and record its seconds under ``name``."""
    t = time.monotonic()
    result = fn()
    job.phases[name] = round(time.monotonic() - t, 2)
    return result


def _write_units(
    conn: Connection, d: District, grows: list[tuple[Any, ...]], staff: list[tuple[Any, ...]]
) -> None:
    """The reference tables: units, grids, departments and staff."""
    insert_rows(conn, schema.admin_unit, ADMIN_COLUMNS, admin_rows(d))
    insert_rows(conn, schema.grid, GRID_COLUMNS, grows)
    insert_rows(conn, schema.department, DEPT_COLUMNS, department_rows())
    insert_rows(conn, schema.staff, STAFF_COLUMNS, staff)
    conn.commit()


__all__ = ["DEFAULT_DAYS", "DEFAULT_PATROL_DAYS", "SeedJob", "SeedReport", "seed_database"]
