"""Patrols and their check-ins: each force's habits, one local day's plan, and the rows as of a moment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from dashboard.core.progress import Progress
from dashboard.sample import lifecycle
from dashboard.sample.arrivals import Sampler
from dashboard.sample.lifecycle import HOUR
from dashboard.sample.times import day_start, fmt_ts
from dashboard.sample.writes import insert_rows
from dashboard.source import schema

PATROL_COLUMNS = (
    "patrol_id", "staff_id", "grid_code", "town_code", "patrol_type", "started_at", "ended_at", "distance_m",
    "gps_fix_count", "checkin_count", "events_reported", "valid",
)  # fmt: skip
CHECKIN_COLUMNS = ("patrol_id", "checkpoint_code", "method", "at", "lng", "lat")
CHECKIN_METHODS = ("QR", "GPS", "NFC", "PHOTO")
# (daily probability, shift start hours local, median minutes) per force (assumed)
PATROL_HABITS: dict[str, tuple[float, tuple[float, ...], float]] = {
    "GRID_WORKER": (0.93, (8.0, 9.0, 14.0), 100.0),
    "GRID_LEADER": (0.25, (9.5, 15.0), 70.0),
    "FULL_TIME": (0.85, (8.0, 14.0, 19.0, 23.0), 180.0),
    "PART_TIME": (0.28, (8.5, 18.5, 19.5), 110.0),
    "VOLUNTEER": (0.15, (9.0, 10.0, 14.5), 75.0),
}
PATROL_TYPE = {"GRID_WORKER": "GRID", "GRID_LEADER": "GRID", "FULL_TIME": "FULL_TIME", "PART_TIME": "PART_TIME",
               "VOLUNTEER": "VOLUNTEER"}  # fmt: skip
STAFF_FORCE = {"GRID_WORKER": "GRID_WORKER", "GRID_LEADER": "GRID_LEADER", "PATROL_FULL": "FULL_TIME",
               "PATROL_PART": "PART_TIME", "VOLUNTEER": "VOLUNTEER"}  # fmt: skip


@dataclass
class Forces:
    """Patrolling staff by force: (staff ids, home grid indexes into the sampler), sorted by id."""

    members: dict[str, tuple[np.ndarray, np.ndarray]]


def forces_from_staff(staff: Sequence[Sequence[Any]], sampler: Sampler) -> Forces:
    """The patrolling staff by force, from staff rows (staff_id, name, role, grid, ...)."""
    by: dict[str, tuple[list[int], list[int]]] = {k: ([], []) for k in PATROL_HABITS}
    for sid, _name, role, grid, *_ in sorted(staff, key=lambda r: r[0]):
        force = STAFF_FORCE.get(role)
        if force is None or grid not in sampler.index:
            continue
        by[force][0].append(sid)
        by[force][1].append(sampler.index[grid])
    return Forces(
        {k: (np.array(v[0], dtype=np.int64), np.array(v[1], dtype=np.int64)) for k, v in by.items()}
    )


@dataclass
class PatrolDay:
    """One local day's patrols (sorted by start) and their check-ins; all times epoch seconds."""

    staff: np.ndarray
    grid: np.ndarray
    ptype: list[str]
    start: np.ndarray
    end: np.ndarray
    distance: np.ndarray
    gps: np.ndarray
    events: np.ndarray
    checkin_patrol: np.ndarray  # index into the patrols above
    checkin_at: np.ndarray
    checkin_method: np.ndarray
    checkin_serial: np.ndarray
    checkin_jitter: np.ndarray  # (n, 2) offsets from the grid centre

    def __len__(self) -> int:
        return len(self.start)


def patrol_day(forces: Forces, day: int, seed: int, scale: float) -> PatrolDay:
    """Plan every patrol that starts on local day ``day`` (deterministic for seed and day).

    Every member's draws are made whether or not they patrol, so a member's patrol is the same at
    any ``scale``: a lower scale only drops patrols (the feed can resume a seed made at another scale).
    """
    rng = np.random.default_rng([seed, day, 17])
    weekend = (day + 3) % 7 >= 5
    cols: dict[str, list[np.ndarray]] = {}
    types: list[str] = []
    for force, (p, shifts, median) in PATROL_HABITS.items():
        ids, grids = forces.members[force]
        m = len(ids)
        prob = min(1.0, p * (1.6 if force == "VOLUNTEER" and weekend else 1.0))
        if force not in ("GRID_WORKER", "GRID_LEADER"):  # every grid is walked daily at any scale
            prob *= min(scale, 1.0)
        draws = {
            "on": rng.random(m) < prob,
            "staff": ids,
            "grid": grids,
            "start": day_start(day)
            + ((np.asarray(shifts)[rng.integers(0, len(shifts), m)] + rng.random(m) * 1.5) * HOUR).astype(
                np.int64
            ),
            "minutes": median * np.exp(rng.normal(0, 0.35, m)),
            "short": rng.random(m) < 0.05,  # cut short: fails the 30-minute rule
            "short_minutes": rng.uniform(8, 29, m),
            "gps_fail": rng.random(m) < 0.03,
            "gps_low": rng.integers(0, 3, m),
            "ncheck": np.where(rng.random(m) < 0.03, 0, rng.integers(1, 5, m)),
            "speed": rng.uniform(0.5, 1.2, m),
            "events": (rng.random(m) < 0.08).astype(np.int64),
            "frac": rng.uniform(-0.3, 0.3, (m, 4)),
            "method": rng.integers(0, len(CHECKIN_METHODS), (m, 4)),
            "jitter": rng.uniform(-0.002, 0.002, (m, 4, 2)),
        }
        on = draws.pop("on")
        for key, arr in draws.items():
            cols.setdefault(key, []).append(arr[on])
        types.extend([PATROL_TYPE[force]] * int(on.sum()))
    c = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((c["staff"], c["start"]))
    c = {k: v[order] for k, v in c.items()}
    types = [types[i] for i in order]
    start = c["start"]
    minutes = np.where(c["short"], c["short_minutes"], np.maximum(c["minutes"], 31))
    dur = (minutes * 60).astype(np.int64)
    ncheck = c["ncheck"]
    n = len(start)
    cp = np.repeat(np.arange(n), ncheck)
    serial = np.concatenate([np.arange(k) for k in ncheck]) if n else np.zeros(0, np.int64)
    frac = (serial + 0.5 + c["frac"][cp, serial]) / np.repeat(np.maximum(ncheck, 1), ncheck)
    return PatrolDay(
        staff=c["staff"],
        grid=c["grid"],
        ptype=types,
        start=start,
        end=start + dur,
        distance=(dur * c["speed"]).astype(np.int64),
        gps=np.where(c["gps_fail"], c["gps_low"], np.maximum(3, dur // 300)),
        events=c["events"],
        checkin_patrol=cp,
        checkin_at=start[cp] + (frac * dur[cp]).astype(np.int64),
        checkin_method=c["method"][cp, serial],
        checkin_serial=serial,
        checkin_jitter=c["jitter"][cp, serial],
    )


def patrol_row(
    pd: PatrolDay, i: int, pid: int, sampler: Sampler, upto: int, done_checkins: int
) -> tuple[Any, ...]:
    """A patrol tuple as of ``upto``: finished, or still under way (no end, not yet valid)."""
    g = sampler.grids[int(pd.grid[i])]
    start, end = int(pd.start[i]), int(pd.end[i])
    if end <= upto:
        checks = int(np.count_nonzero(pd.checkin_patrol == i)) if done_checkins < 0 else done_checkins
        valid = end - start >= 1800 and int(pd.gps[i]) >= 3 and checks >= 1
        return (pid, int(pd.staff[i]), g.code, g.town_code, pd.ptype[i], fmt_ts(start), fmt_ts(end),
                int(pd.distance[i]), int(pd.gps[i]), checks, int(pd.events[i]), valid)  # fmt: skip
    frac = (upto - start) / max(end - start, 1)
    return (pid, int(pd.staff[i]), g.code, g.town_code, pd.ptype[i], fmt_ts(start), None, None,
            int(int(pd.gps[i]) * frac), max(done_checkins, 0), 0, False)  # fmt: skip


def checkin_row(pd: PatrolDay, k: int, pid: int, sampler: Sampler) -> tuple[Any, ...]:
    """The tuple of check-in ``k`` of ``pd`` for patrol id ``pid``."""
    g = sampler.grids[int(pd.grid[int(pd.checkin_patrol[k])])]
    return (pid, f"CP{g.code}{int(pd.checkin_serial[k]) + 1:02d}", CHECKIN_METHODS[int(pd.checkin_method[k])],
            fmt_ts(int(pd.checkin_at[k])), round(g.lng + float(pd.checkin_jitter[k, 0]), 6),
            round(g.lat + float(pd.checkin_jitter[k, 1]), 6))  # fmt: skip


def patrol_rows(
    pd: PatrolDay, sampler: Sampler, first_id: int, after: int, upto: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[int, tuple[int, int]]]:
    """Rows for the patrols of ``pd`` that start in (after, upto], with their check-ins up to ``upto``.

    Also returns the patrols still under way: id → (index in ``pd``, check-ins written).
    """
    sel = np.nonzero((pd.start > after) & (pd.start <= upto))[0]
    ids = {int(i): first_id + k for k, i in enumerate(sel)}
    ck = np.nonzero(np.isin(pd.checkin_patrol, sel) & (pd.checkin_at <= upto))[0]
    checkins = [checkin_row(pd, int(k), ids[int(pd.checkin_patrol[k])], sampler) for k in ck]
    done = np.bincount(pd.checkin_patrol[ck], minlength=len(pd)) if len(ck) else np.zeros(len(pd), np.int64)
    patrols = [patrol_row(pd, int(i), ids[int(i)], sampler, upto, int(done[i])) for i in sel]
    under_way = {ids[int(i)]: (int(i), int(done[i])) for i in sel if int(pd.end[i]) > upto}
    return patrols, checkins, under_way


def write_patrols(
    conn: Connection,
    sampler: Sampler,
    staff: list[tuple[Any, ...]],
    *,
    seed: int,
    scale: float,
    now: int,
    patrol_days: int,
    show: bool,
) -> dict[str, int]:
    """Write the patrols of the last ``patrol_days`` local days up to ``now``; return the row counts."""
    forces = forces_from_staff(staff, sampler)
    today = lifecycle.local_day(now)
    first_day = today - patrol_days + 1
    next_pid = 1
    n_patrol = n_check = 0
    with Progress("巡查 patrols (days)", max(patrol_days, 1), enabled=show) as bar:
        for day in range(first_day, today + 1):
            pd = patrol_day(forces, day, seed, scale)
            patrols, checkins, _ = patrol_rows(pd, sampler, next_pid, 0, now)
            insert_rows(conn, schema.patrol, PATROL_COLUMNS, patrols)
            insert_rows(conn, schema.patrol_checkin, CHECKIN_COLUMNS, checkins)
            conn.commit()
            next_pid += len(patrols)
            n_patrol += len(patrols)
            n_check += len(checkins)
            bar.advance()
    return {"patrol": n_patrol, "patrol_checkin": n_check}
