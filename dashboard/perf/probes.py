"""Bench section (f): the usual Dash pattern (event columns into pandas, grouped per refresh) against
plain SQL aggregates per refresh, for the same four panels, each in its own process for its peak RSS.

``python -m dashboard.perf.probes <pandas|sql> <url> <now>`` is the subprocess: it prints one JSON line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from typing import Any

from dashboard.perf.config import Config, say
from dashboard.perf.datasets import Dataset
from dashboard.perf.server import OffsetClock, rss_mb

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


def probe_main(kind: str, url: str, now_iso: str) -> None:
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
    """One probe in a subprocess: its answers, seconds and peak RSS, or the error."""
    cmd = [sys.executable, "-m", "dashboard.perf.probes", kind, url, now.isoformat()]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cfg.probe_timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {cfg.probe_timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:300]}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def measure_pandas_vs_sql(cfg: Config, ds: Dataset, clock: OffsetClock) -> dict[str, Any]:
    """Section (f): plain SQL, and pandas unless only section sql runs, compared."""
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


if __name__ == "__main__":
    probe_main(*sys.argv[1:4])
