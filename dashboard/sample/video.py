"""Video points and their outages: 5,037 cameras and when each went offline and came back."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from dashboard.core.domain import VIDEO_POINT_TOTAL
from dashboard.core.progress import Progress
from dashboard.sample.arrivals import Sampler
from dashboard.sample.draws import ROADS, weighted_indexes
from dashboard.sample.lifecycle import DAY, HOUR
from dashboard.sample.times import fmt_ts
from dashboard.sample.writes import insert_rows
from dashboard.source import schema

VIDEO_COLUMNS = ("point_code", "name", "point_class", "grid_code", "town_code", "lng", "lat", "owner",
                 "installed_at", "online", "last_heartbeat_at", "fault_since")  # fmt: skip
VIDEO_CHANGE_COLUMNS = ("point_code", "online", "at", "reason")
VIDEO_BLOCK = 30 * DAY
MEAN_UP_DAYS = {"一类": 30.0, "二类": 20.0, "三类": 14.0}
OUTAGE_REASONS = ("断电", "网络", "设备故障", "维护")


@dataclass(frozen=True)
class VideoPoint:
    """A camera as its outage model sees it: its position in the list, code and class."""

    index: int
    code: str
    point_class: str


def video_point_rows(sampler: Sampler, seed: int, installed_before: int) -> list[tuple[Any, ...]]:
    """5,037 points over the grids (more where more people live); state fields filled in later."""
    rng = random.Random(seed * 7 + 3)
    weights = [g.weight for g in sampler.grids]
    rows = []
    for n, gi in enumerate(weighted_indexes(rng, weights, VIDEO_POINT_TOTAL), start=1):
        g = sampler.grids[gi]
        cls = rng.choices(("一类", "二类", "三类"), (0.15, 0.35, 0.5))[0]
        owner = rng.choices(("公安", "综治", "社会面"), (0.5, 0.25, 0.25))[0]
        installed = installed_before - int(rng.uniform(30, 2500) * DAY)
        name = f"{g.village_name}{ROADS[int(rng.random() * len(ROADS))]}{n % 97 + 1}号点"
        rows.append([f"XSV{n:05d}", name, cls, g.code, g.town_code, round(g.lng + (rng.random() - 0.5) * 0.004, 6),
                     round(g.lat + (rng.random() - 0.5) * 0.004, 6), owner, fmt_ts(installed), True, None, None])  # fmt: skip
    return [tuple(r) for r in rows]


def outages(seed: int, point: VideoPoint, block: int) -> list[tuple[int, int, str]]:
    """Non-overlapping outages (start, end, reason) beginning in one 30-day block (deterministic)."""
    rng = random.Random((seed * 7919 + point.index) * 100_003 + block)
    lo, hi = block * VIDEO_BLOCK, (block + 1) * VIDEO_BLOCK
    mean_up = MEAN_UP_DAYS[point.point_class] * DAY
    out = []
    t = lo + int(rng.expovariate(1 / mean_up))
    while t < hi - 1:
        r = rng.random()
        if r < 0.6:
            dur = 120 + int(40 * 60 * math.exp(rng.gauss(0, 0.8)))  # minutes: reboot, power blip
        elif r < 0.93:
            dur = int(6 * HOUR * math.exp(rng.gauss(0, 0.6)))  # hours: network, repair visit
        else:
            dur = int(rng.uniform(1, 12) * DAY)  # days: hardware replacement
        end = min(t + dur, hi - 1)  # an outage never spans blocks, so blocks stay independent
        out.append((t, end, OUTAGE_REASONS[int(rng.random() * 4)]))
        t = end + 60 + int(rng.expovariate(1 / mean_up))
    return out


def video_changes(seed: int, point: VideoPoint, after: int, upto: int) -> list[tuple[int, bool, str]]:
    """Status changes (at, online, reason) of one point in (after, upto]."""
    out: list[tuple[int, bool, str]] = []
    for block in range(after // VIDEO_BLOCK, upto // VIDEO_BLOCK + 1):
        for start, end, reason in outages(seed, point, block):
            if after < start <= upto:
                out.append((start, False, reason))
            if after < end <= upto:
                out.append((end, True, "恢复"))
    return out


def write_video(
    conn: Connection, sampler: Sampler, *, seed: int, start: int, now: int, show: bool
) -> dict[str, int]:
    """Write the points and their status changes in (start, now]; return the row counts."""
    points = video_point_rows(sampler, seed, start)
    changes: list[tuple[Any, ...]] = []
    final = []
    with Progress("视频点位 video points", len(points), enabled=show) as bar:
        for i, row in enumerate(points):
            vp = VideoPoint(i, row[0], row[2])
            ch = video_changes(seed, vp, start, now)
            changes.extend((row[0], online, fmt_ts(at), reason) for at, online, reason in ch)
            online = ch[-1][1] if ch else True
            fault = None if online else fmt_ts(ch[-1][0])
            beat = fmt_ts(now - (i * 7919) % 60) if online else fault
            final.append((*row[:9], online, beat, fault))
            bar.advance()
    changes.sort(key=lambda r: (r[2], r[0]))
    insert_rows(conn, schema.video_point, VIDEO_COLUMNS, final)
    insert_rows(conn, schema.video_status_change, VIDEO_CHANGE_COLUMNS, changes)
    conn.commit()
    return {"video_point": len(final), "video_status_change": len(changes)}
