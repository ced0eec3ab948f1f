"""The live feed (``python -m dashboard simulate``) that keeps the sample district moving.

The feed first catches up the gap between the newest data and now, then every tick appends what
happened since the last one: new reports (the seed's hourly arrival model × ``--rate``), the planned
lifecycle actions whose time has come (the seed's per-event plans, recomputed from the stored rows),
patrols with their check-ins and camera status changes. It never writes a time after ``now`` and
never rewrites history: ``event_action``, ``video_status_change`` and ``patrol_checkin`` only grow;
``event``, ``patrol`` and ``video_point`` rows are updated to their latest state.

Everything the feed writes is a deterministic function of the seed and the clock, so a stopped feed
resumes exactly where it left off, and ``seed --now T`` followed by the feed equals a longer seed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from dashboard.core.progress import Progress
from dashboard.sample import lifecycle
from dashboard.sample.arrivals import Arrival, hourly_arrivals, make_arrival, sampler_from_rows
from dashboard.sample.events import (
    ACTION_COLUMNS,
    EVALUATION_COLUMNS,
    EventBatch,
    Numberer,
    action_rows,
    evaluation_row,
    lifecycle_values,
    new_event_rows,
    plan_for,
)
from dashboard.sample.feedpost import FeedPost
from dashboard.sample.lifecycle import HOUR, EventInfo, Plan
from dashboard.sample.patrols import (
    CHECKIN_COLUMNS,
    PATROL_COLUMNS,
    PatrolDay,
    checkin_row,
    forces_from_staff,
    patrol_day,
    patrol_row,
    patrol_rows,
)
from dashboard.sample.safety import POLICE_COLUMNS, police_day_rows, town_weights
from dashboard.sample.staff import lifecycle_context
from dashboard.sample.times import fmt_ts, from_epoch, local_date, to_epoch
from dashboard.sample.video import VIDEO_BLOCK, VIDEO_CHANGE_COLUMNS, VideoPoint, video_changes
from dashboard.sample.writes import insert_rows, next_id, sync_sequences
from dashboard.source import schema
from dashboard.source.engines import make_writer_engine

CATCH_UP_BATCH = 6 * HOUR  # one transaction per six hours of simulated time
HEARTBEAT_EVERY = 60
SURGE_WINDOW = 5 * 60


@dataclass
class StepReport:
    """What one tick (or the whole catch-up) appended."""

    events: int = 0
    actions: int = 0
    evaluations: int = 0
    patrols: int = 0
    checkins: int = 0
    video_changes: int = 0
    surge_events: int = 0
    police_days: int = 0

    def add(self, other: StepReport) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class Pending:
    """An event whose plan still has actions to apply."""

    event_id: int
    plan: Plan
    applied: int


def _ts(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _placeholders(conn: Connection, n: int) -> list[str]:
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    return [mark] * n


def _update_rows(
    conn: Connection, table: str, key: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """executemany UPDATE … WHERE key = …; each row is (*values, key)."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    marks = _placeholders(conn, len(columns) + 1)
    sets = ", ".join(f"{quote(c)} = {m}" for c, m in zip(columns, marks, strict=False))
    conn.exec_driver_sql(f"UPDATE {quote(table)} SET {sets} WHERE {quote(key)} = {marks[-1]}", rows)


class Feed:
    """The feed's memory between ticks: the district model, pending plans, open patrols, cameras."""

    def __init__(self, engine: Engine, *, seed: int = 42, rate: float = 1.0) -> None:
        self.engine = engine
        self.seed = seed
        self.rate = rate
        self.skipped = 0  # stored events whose history does not match their plan (left alone)
        with engine.connect() as conn:
            self._load_model(conn)
            self._load_marks(conn)
            self._load_pending(conn)
            self._load_patrols(conn)
            self._load_video(conn)
            self._load_police(conn)

    # --- loading ------------------------------------------------------------------------------------

    def _load_model(self, conn: Connection) -> None:
        g = schema.grid.c
        grows = conn.execute(
            select(g.grid_code, g.village_code, g.town_code, g.population_registered + g.population_floating,
                   g.center_lng, g.center_lat, g.leader_staff_id, g.worker_staff_id).order_by(g.grid_code)
        ).all()  # fmt: skip
        if not grows:
            raise ValueError(
                "数据库没有网格数据 / no grids in the database: run `python -m dashboard seed` first"
            )
        s = schema.staff.c
        self.staff = [
            tuple(r)
            for r in conn.execute(
                select(s.staff_id, s.name, s.role, s.grid_code, s.town_code, s.dept_code, s.phone).order_by(
                    s.staff_id
                )
            )
        ]
        a = schema.admin_unit.c
        names = {code: name for code, name in conn.execute(select(a.code, a.name_zh))}
        self.sampler = sampler_from_rows([tuple(r) for r in grows], self.staff, names)
        self.ctx = lifecycle_context(self.staff)
        self.forces = forces_from_staff(self.staff, self.sampler)

    def _load_marks(self, conn: Connection) -> None:
        e = schema.event.c
        last = conn.execute(
            select(e.event_id, e.event_no, e.reported_at).order_by(e.event_id.desc()).limit(1)
        ).first()
        newest = conn.execute(select(func.max(e.reported_at))).scalar()
        self.event_mark = _ts(newest) or 0
        self.next_event_id = (last.event_id + 1) if last else 1
        day_seq: dict[int, int] = {}
        if last is not None and last.event_no.startswith("XS") and last.event_no[-6:].isdigit():
            day_seq[lifecycle.local_day(_ts(last.reported_at) or 0)] = int(last.event_no[-6:])
        self.numberer = Numberer(self.next_event_id, day_seq)
        p = schema.patrol.c
        # With no patrols stored, start from the newest report: the feed never back-fills history.
        self.patrol_mark = _ts(conn.execute(select(func.max(p.started_at))).scalar()) or self.event_mark
        self.next_patrol_id = next_id(conn, p.patrol_id)

    def _load_pending(self, conn: Connection) -> None:
        """Recompute the plans of events that are not finished, and how much of each is applied."""
        e, act = schema.event.c, schema.event_action.c
        done = ("REJECTED", "ARCHIVED")
        unfinished = select(e.event_id).where(e.status.not_in(done))
        counts = (
            select(act.event_id, func.count().label("n"), func.max(act.at).label("last_at"))
            .where(act.event_id.in_(unfinished))
            .group_by(act.event_id)
            .subquery()
        )
        rows = conn.execute(
            select(e.event_id, e.event_no, e.reported_at, e.category_l1, e.priority, e.source, e.grid_code,
                   e.town_code, e.reporter_id, counts.c.n, counts.c.last_at)
            .join(counts, counts.c.event_id == e.event_id)
            .where(e.status.not_in(done))
        ).all()  # fmt: skip
        self.pending: dict[int, Pending] = {}
        self.queue: list[tuple[int, int]] = []  # (next action time, event id)
        for r in rows:
            info = EventInfo(r.event_no, _ts(r.reported_at) or 0, r.category_l1, r.priority, r.source,
                             r.grid_code, r.town_code, r.reporter_id)  # fmt: skip
            rng = random.Random(
                lifecycle.event_seed(info.event_no, info.reported_at, info.grid_code, info.category)
            )
            plan = lifecycle.plan_event(info, self.ctx, rng)
            n = int(r.n)
            if n > len(plan.actions) or plan.actions[n - 1][0] != _ts(r.last_at):
                self.skipped += 1  # not ours (imported) or from another model version: leave it alone
                continue
            self._track(Pending(r.event_id, plan, n))

    def _load_police(self, conn: Connection) -> None:
        """The last day of 110 statistics stored: the feed writes each later day once it is over (none
        stored: this source has no statistics, and the feed does not start them)."""
        newest = conn.execute(select(func.max(schema.police_call_stat.c.stat_date))).scalar()
        # A date, or its text on SQLite (a datetime's text begins with the date too).
        self.police_day = None if newest is None else dt.date.fromisoformat(str(newest)[:10])
        self.town_weights = town_weights(self.sampler)

    def _track(self, p: Pending) -> None:
        if p.applied < len(p.plan.actions):
            self.pending[p.event_id] = p
            heapq.heappush(self.queue, (p.plan.actions[p.applied][0], p.event_id))

    def _load_patrols(self, conn: Connection) -> None:
        """Patrols under way: find each in its day's plan, with the check-ins already stored."""
        p, c = schema.patrol.c, schema.patrol_checkin.c
        counts = select(c.patrol_id, func.count().label("n")).group_by(c.patrol_id).subquery()
        rows = conn.execute(
            select(p.patrol_id, p.staff_id, p.started_at, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.patrol_id == p.patrol_id)
            .where(p.ended_at.is_(None))
        ).all()
        self.days: dict[int, PatrolDay] = {}
        self.open_patrols: dict[int, tuple[int, int, int]] = {}  # id → (day, index, check-ins stored)
        self.orphans: list[tuple[int, int]] = []  # open patrols not in any plan: closed on the next tick
        for pid, staff_id, started, n in rows:
            start = _ts(started) or 0
            for day in (lifecycle.local_day(start), lifecycle.local_day(start) - 1):
                pd = self._day(day)
                hits = ((pd.start == start) & (pd.staff == staff_id)).nonzero()[0]
                if len(hits):
                    self.open_patrols[pid] = (day, int(hits[0]), int(n))
                    break
            else:
                self.orphans.append((pid, start))

    def _day(self, day: int) -> PatrolDay:
        pd = self.days.get(day)
        if pd is None:
            if len(self.days) > 4:
                self.days.pop(min(self.days))
            pd = self.days[day] = patrol_day(self.forces, day, self.seed, self.rate)
        return pd

    def _load_video(self, conn: Connection) -> None:
        v, ch = schema.video_point.c, schema.video_status_change.c
        last = dict(conn.execute(select(ch.point_code, func.max(ch.at)).group_by(ch.point_code)).all())
        newest = max([self.event_mark, *(t for t in (_ts(x) for x in last.values()) if t is not None)])
        self.points: list[VideoPoint] = []
        self.online: list[bool] = []
        self.video_since: list[int] = []
        for i, (code, cls, online, installed) in enumerate(
            conn.execute(select(v.point_code, v.point_class, v.online, v.installed_at).order_by(v.point_code))
        ):
            self.points.append(VideoPoint(i, code, cls))
            self.online.append(bool(online))
            # A point without changes has been in its state since at least the newest data.
            self.video_since.append(_ts(last.get(code)) or max(newest, _ts(installed) or 0))
        self.video_horizon = 0
        self.surge_queue: list[Arrival] = []
        self.video_queue: list[tuple[int, int, bool, str]] = []
        self.last_heartbeat = 0

    # --- one tick -------------------------------------------------------------------------------------

    def advance(self, now: int, *, surge: list[Arrival] | None = None) -> StepReport:
        """Append everything that happened in (last tick, now], in one transaction."""
        report = StepReport()
        with self.engine.begin() as conn:
            self._new_events(conn, now, surge or [], report)
            self._apply_pending(conn, now, report)
            self._patrols(conn, now, report)
            self._video(conn, now, report)
            self._police(conn, now, report)
            sync_sequences(conn)
        return report

    def _new_events(self, conn: Connection, now: int, surge: list[Arrival], report: StepReport) -> None:
        if now <= self.event_mark and not surge and not self.surge_queue:
            return
        arrivals = [
            a
            for hour in range(self.event_mark // HOUR, now // HOUR + 1)
            for a in hourly_arrivals(self.sampler, hour, self.seed, self.rate)
            if self.event_mark < a.reported_at <= now
        ]
        self.surge_queue.extend(surge)
        due = [a for a in self.surge_queue if a.reported_at <= now]
        self.surge_queue = [a for a in self.surge_queue if a.reported_at > now]
        arrivals = sorted(arrivals + due, key=lambda a: a.reported_at)
        if arrivals:
            # Another writer (an import, an older feed) may have taken ids since the last tick.
            self.numberer.next_id = max(self.numberer.next_id, next_id(conn, schema.event.c.event_id))
        batch = EventBatch()
        for a in arrivals:
            eid, number = self.numberer.take(a.reported_at)
            plan = plan_for(a, number, self.ctx)
            row, acts, ev = new_event_rows(eid, number, a, self.ctx, now, plan)
            batch.add(row, acts, ev)
            self._track(Pending(eid, plan, len(acts)))
        report.events += len(batch.events)
        report.actions += len(batch.actions)
        report.evaluations += len(batch.evaluations)
        report.surge_events += len(due)
        batch.write(conn)
        self.event_mark = max(self.event_mark, now)

    def _apply_pending(self, conn: Connection, now: int, report: StepReport) -> None:
        actions: list[tuple[Any, ...]] = []
        evaluations: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        while self.queue and self.queue[0][0] <= now:
            _at, eid = heapq.heappop(self.queue)
            p = self.pending.pop(eid, None)
            if p is None:
                continue
            state, n = lifecycle.fold(p.plan, now)
            if n <= p.applied:
                self._track(p)
                continue
            actions.extend(action_rows(eid, p.plan, p.applied, n))
            ev = evaluation_row(eid, p.plan, p.applied, n)
            if ev is not None:
                evaluations.append(ev)
            updates.append((*lifecycle_values(state), eid))
            p.applied = n
            self._track(p)
        insert_rows(conn, schema.event_action, ACTION_COLUMNS, actions)
        insert_rows(conn, schema.evaluation, EVALUATION_COLUMNS, evaluations)
        _update_rows(conn, "event", "event_id", lifecycle.LIFECYCLE_COLUMNS, updates)
        report.actions += len(actions)
        report.evaluations += len(evaluations)

    def _patrols(self, conn: Connection, now: int, report: StepReport) -> None:
        checkins: list[tuple[Any, ...]] = []
        finished: list[tuple[Any, ...]] = []
        progress: list[tuple[Any, ...]] = []
        # Patrols already under way: their new check-ins, and the end of those that are over.
        for pid, (day, i, stored) in list(self.open_patrols.items()):
            pd = self._day(day)
            ck = ((pd.checkin_patrol == i) & (pd.checkin_at <= now)).nonzero()[0]
            checkins.extend(checkin_row(pd, int(k), pid, self.sampler) for k in ck[stored:])
            if int(pd.end[i]) <= now:
                row = patrol_row(pd, i, pid, self.sampler, now, len(ck))
                finished.append((*row[6:], pid))
                del self.open_patrols[pid]
            elif len(ck) > stored:
                progress.append((len(ck), pid))
                self.open_patrols[pid] = (day, i, len(ck))
        for pid, start in self.orphans:  # e.g. seeded with another --seed: end them after 90 minutes
            end = min(now, start + 90 * 60)
            finished.append((fmt_ts(end), None, 0, 0, 0, False, pid))
        self.orphans = []
        # Patrols that started since the last tick.
        if now > self.patrol_mark:
            self.next_patrol_id = max(self.next_patrol_id, next_id(conn, schema.patrol.c.patrol_id))
            first = lifecycle.local_day(self.patrol_mark) - 1
            for day in range(max(first, lifecycle.local_day(now) - 40), lifecycle.local_day(now) + 1):
                pd = self._day(day)
                rows, cks, under_way = patrol_rows(
                    pd, self.sampler, self.next_patrol_id, self.patrol_mark, now
                )
                for pid, (i, n) in under_way.items():
                    self.open_patrols[pid] = (day, i, n)
                insert_rows(conn, schema.patrol, PATROL_COLUMNS, rows)
                checkins.extend(cks)
                self.next_patrol_id += len(rows)
                report.patrols += len(rows)
            self.patrol_mark = now
        insert_rows(conn, schema.patrol_checkin, CHECKIN_COLUMNS, checkins)
        _update_rows(conn, "patrol", "patrol_id", PATROL_COLUMNS[6:], finished)
        _update_rows(conn, "patrol", "patrol_id", ("checkin_count",), progress)
        report.checkins += len(checkins)

    def _video(self, conn: Connection, now: int, report: StepReport) -> None:
        if now >= self.video_horizon - VIDEO_BLOCK:
            self._extend_video(now)
        changes: list[tuple[Any, ...]] = []
        state: dict[int, tuple[bool, str | None]] = {}
        while self.video_queue and self.video_queue[0][0] <= now:
            at, i, online, reason = heapq.heappop(self.video_queue)
            if online == self.online[i]:
                continue  # already in that state (e.g. history from another seed)
            self.online[i] = online
            changes.append((self.points[i].code, online, fmt_ts(at), reason))
            state[i] = (online, None if online else fmt_ts(at))
        insert_rows(conn, schema.video_status_change, VIDEO_CHANGE_COLUMNS, changes)
        stamp = fmt_ts(now)
        _update_rows(
            conn,
            "video_point",
            "point_code",
            ("online", "fault_since", "last_heartbeat_at"),
            [(on, fault, stamp if on else fault, self.points[i].code) for i, (on, fault) in state.items()],
        )
        if now - self.last_heartbeat >= HEARTBEAT_EVERY:
            v = schema.video_point
            conn.execute(v.update().where(v.c.online.is_(True)).values(last_heartbeat_at=from_epoch(now)))
            self.last_heartbeat = now
        report.video_changes += len(changes)

    def _police(self, conn: Connection, now: int, report: StepReport) -> None:
        """The 110 statistics of each local day that ended since the last one stored."""
        if self.police_day is None:
            return
        rows: list[tuple[Any, ...]] = []
        while self.police_day + dt.timedelta(days=1) < local_date(now):
            self.police_day += dt.timedelta(days=1)
            rows += police_day_rows(self.seed, self.police_day, self.town_weights)
            report.police_days += 1
        insert_rows(conn, schema.police_call_stat, POLICE_COLUMNS, rows)

    def _extend_video(self, now: int) -> None:
        """Queue every camera's changes up to two blocks ahead (computed once, applied when due)."""
        horizon = (now // VIDEO_BLOCK + 2) * VIDEO_BLOCK
        for i, vp in enumerate(self.points):
            after = max(self.video_since[i], self.video_horizon)
            for at, online, reason in video_changes(self.seed, vp, after, horizon):
                heapq.heappush(self.video_queue, (at, i, online, reason))
        self.video_horizon = horizon

    # --- surges -----------------------------------------------------------------------------------------

    def surge_arrivals(
        self, unit: str, now: int, rng: random.Random, *, ahead: bool = False, count: int | None = None
    ) -> list[Arrival]:
        """A burst of 15–30 reports in one town (code or name), village or grid within five minutes.

        ``ahead`` spreads them over the coming five minutes (a feed that keeps running releases each
        when due); otherwise they fall between the last tick and ``now`` (at most five minutes back),
        so nothing is ever written before a moment the screens have already shown.
        """
        grids = self.resolve_unit(unit)
        n = count or rng.randint(15, 30)
        main = rng.choice(["FIRE", "EMERGENCY", "PUBLIC_ORDER", "DISPUTE", "SANITATION_ENV"])
        start = now if ahead else max(now - SURGE_WINDOW, self.event_mark)
        span = SURGE_WINDOW if ahead else max(now - start, 1)
        out = []
        for _ in range(n):
            g = self.sampler.grids[grids[int(rng.random() * len(grids))]]
            at = start + 1 + int(rng.random() * (span - 1)) if span > 1 else now
            out.append(make_arrival(rng, g, at, main if rng.random() < 0.7 else None))
        return out

    def resolve_unit(self, unit: str) -> list[int]:
        """Grid indexes of a town code or name, a village code or a grid code."""
        s = self.sampler
        unit = unit.strip()
        if unit in s.index:
            return [s.index[unit]]
        if unit in s.by_town:
            return s.by_town[unit]
        by_name = [code for code, g in ((g.town_code, g) for g in s.grids) if g.town_name == unit]
        if by_name:
            return s.by_town[by_name[0]]
        village = [i for i, g in enumerate(s.grids) if g.village_code == unit or g.village_name == unit]
        if village:
            return village
        raise ValueError(f"未知单元 / unknown town, village or grid: {unit!r}")


def _engine(url_or_engine: str | Engine) -> tuple[Engine, bool]:
    if isinstance(url_or_engine, Engine):
        return url_or_engine, False
    return make_writer_engine(url_or_engine), True


def catch_up(
    url: str | Engine,
    now: dt.datetime,
    *,
    seed: int = 42,
    rate: float = 1.0,
    progress: bool = False,
    feed: Feed | None = None,
) -> int:
    """Fill the gap between the newest data and ``now``, six hours per transaction. Returns new events."""
    engine, own = _engine(url)
    try:
        feed = feed or Feed(engine, seed=seed, rate=rate)
        return _catch_up(feed, to_epoch(now), progress).events
    finally:
        if own:
            engine.dispose()


def _catch_up(feed: Feed, now: int, progress: bool) -> StepReport:
    total = StepReport()
    # Bounded batches from the oldest mark: a long gap takes longer but never one giant transaction.
    start = min(feed.event_mark, feed.patrol_mark or feed.event_mark)
    steps = max(1, -(-(now - start) // CATCH_UP_BATCH))
    with Progress("补齐 catch-up", steps, enabled=progress) as bar:
        t = start
        while t < now:
            t = min(t + CATCH_UP_BATCH, now)
            total.add(feed.advance(t))
            bar.advance()
    return total


def step(
    url_or_engine: str | Engine,
    now: dt.datetime,
    *,
    rate: float = 1.0,
    rng: random.Random | None = None,
    seed: int = 42,
    surge: str | None = None,
    feed: Feed | None = None,
) -> StepReport:
    """One tick at ``now``. Without ``feed`` the state is reloaded from the database (slower, same result).

    ``surge`` injects a burst into a unit: with a ``feed`` it unfolds over the next five minutes of
    ticks; without one (nothing carries over) it lands between the newest report and ``now``.
    """
    engine, own = _engine(url_or_engine)
    try:
        persistent = feed is not None
        feed = feed or Feed(engine, seed=seed, rate=rate)
        now_ts = to_epoch(now)
        rng = rng or random.Random(now_ts)
        burst = feed.surge_arrivals(surge, now_ts, rng, ahead=persistent) if surge else None
        return feed.advance(now_ts, surge=burst)
    finally:
        if own:
            engine.dispose()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_feed(
    url: str,
    *,
    rate: float = 1.0,
    surge: str | None = None,
    tick: float = 2.0,
    duration: float | None = None,
    seed: int = 42,
    clock: Callable[[], dt.datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> StepReport:
    """Catch up, then tick until SIGINT/SIGTERM or ``duration`` seconds of ``clock`` time."""
    post = FeedPost(url)
    if not post.hold():
        raise FeedAlreadyRunning(
            f"另一个实时数据进程（pid {post.holder()}）正在写入该数据库 / another feed (pid {post.holder()}) "
            "is already writing to this database: a second one would write every report twice. "
            "Use --surge to hand it a burst."
        )
    engine = make_writer_engine(url)
    stop = {"flag": False}
    previous = _install_stop_handlers(stop)
    total = StepReport()
    try:
        feed = Feed(engine, seed=seed, rate=rate)
        began = clock()
        caught = _catch_up(feed, to_epoch(began), progress)
        if log:
            log(
                f"补齐 caught up: {caught.events:,} events, {caught.actions:,} actions, {caught.patrols:,} patrols"
            )
        total.add(caught)
        rng = random.Random(seed)
        pending_surge = surge
        while not stop["flag"]:
            now = clock()
            if duration is not None and (now - began).total_seconds() >= duration:
                break
            now_ts = to_epoch(now)
            units = ([pending_surge] if pending_surge else []) + post.collect_surges()
            pending_surge = None
            burst = _bursts(feed, units, now_ts, rng, log)
            report = feed.advance(now_ts, surge=burst)
            total.add(report)
            if log and (report.events or report.surge_events):
                log(f"{now:%H:%M:%S} +{report.events} 事件, +{report.actions} 流转, +{report.checkins} 打卡")
            sleep(tick)
    finally:
        _restore_handlers(previous)
        engine.dispose()
        post.release()
    return total


class FeedAlreadyRunning(ValueError):
    """Another feed writes to this source: a second one would write every report twice."""


def hand_over_surge(url: str, unit: str, log: Callable[[str], None] | None = print) -> bool:
    """Post a surge in ``unit`` to the feed already running on ``url``; False when none runs.

    The unit is checked here, so a typo is said to whoever typed it, not in the running feed's log.
    """
    post = FeedPost(url)
    if post.hold():
        post.release()
        return False
    engine = make_writer_engine(url)
    try:
        with engine.connect() as conn:
            if not unit_exists(conn, unit):
                raise ValueError(f"未知单元 / unknown town, village or grid: {unit!r}")
    finally:
        engine.dispose()
    post.post_surge(unit)
    if log:
        log(f"已交给正在运行的实时数据（pid {post.holder()}）/ surge in {unit} handed to the running feed")
    return True


def unit_exists(conn: Connection, unit: str) -> bool:
    """Whether ``unit`` names a town or village (code or Chinese name) or a grid (code)."""
    unit = unit.strip()
    a, g = schema.admin_unit.c, schema.grid.c
    named = select(a.code).where((a.code == unit) | (a.name_zh == unit)).limit(1)
    grid = select(g.grid_code).where(g.grid_code == unit).limit(1)
    return conn.execute(named).first() is not None or conn.execute(grid).first() is not None


def _bursts(
    feed: Feed, units: list[str], now: int, rng: random.Random, log: Callable[[str], None] | None
) -> list[Arrival] | None:
    """The arrivals of every surge asked for; a unit the feed does not know is said, not fatal."""
    burst: list[Arrival] = []
    for unit in units:
        try:
            burst += feed.surge_arrivals(unit, now, rng, ahead=True)
        except ValueError as err:
            if log:
                log(str(err))
    return burst or None


def _install_stop_handlers(stop: dict[str, bool]) -> dict[int, Any]:
    previous: dict[int, Any] = {}

    def handler(_signum: int, _frame: Any) -> None:
        stop["flag"] = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not possible outside the main thread (e.g. a feed started inside the web server).
        with contextlib.suppress(ValueError):
            previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)
