"""What a benchmark run measures: its mode (sizes, backends, client counts), sections and references."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from dashboard.core.settings import DATA_DIR
from dashboard.sample.seed import DEFAULT_PATROL_DAYS

SUPERSET = {
    "source": "issue 'Fast at district scale and beyond' (Superset 6.1 chart-data API, 1M events)",
    "cache_off_s": [0.97, 1.3],
    "warm_cache_s": [0.17, 0.23],
}

PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TOWN = "330109001"  # 城厢街道: the "one town" scope
HTTP_VIEWS = ("", "town=330109001", "town=330109113")  # district, 城厢, 瓜沥: three scopes on the wall
SECTIONS = ("snapshot", "rollups", "coverage", "pandas", "export", "http", "latency", "dev", "firststart")
# Sections of the run as a whole, not of a dataset: firststart times make run on empty data of its own.
RUN_SECTIONS = ("firststart",)
# Sections only the full mode runs unless named with --sections: firststart costs minutes of CPU (a
# seed of the make run sample and its rollups), too long for tiny (the test suite) and quick.
FULL_ONLY_SECTIONS = ("firststart",)
EXTRA_SECTIONS = ("sql",)  # plain SQL without the pandas probe (not in the default run)


@dataclass(frozen=True)
class Mode:
    """The sizes of one benchmark mode."""

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
    """One benchmark run: a mode's sizes with any overrides, the sections, where data and services are."""

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
    # The wall tab's target is measured by make soak: the report cites its latest report.
    soak_report: Path | None = DATA_DIR / "soak" / "latest.json"
    # PostgreSQL at 10 M events: a run below that cites the latest run that measured it (its dataset and
    # rollups take hours to make, often a run of their own: `--scale 17 --backends postgresql`).
    large_report: Path | None = DATA_DIR / "bench" / "latest-full-10m.json"
    pg_url: str = PG_ADMIN_URL
    redis_url: str = REDIS_URL
    quiet: bool = False
    http_rollups: bool = False  # serve the HTTP sections through the rollups (DASHBOARD_ROLLUPS=on)
    profile_rate: int = 50  # py-spy samples per second of each server process during a load level (0: off)

    @classmethod
    def for_mode(cls, mode: str, **overrides: Any) -> Config:
        m = MODES[mode]
        base = cls(mode=mode, **{k: v for k, v in asdict(m).items()})
        if mode != "full":
            base = replace(base, sections=tuple(s for s in SECTIONS if s not in FULL_ONLY_SECTIONS))
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def say(cfg: Config, message: str) -> None:
    """A progress line on stderr, unless the run is quiet."""
    if not cfg.quiet:
        print(message, file=sys.stderr, flush=True)
