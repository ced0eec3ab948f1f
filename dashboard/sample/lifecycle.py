"""The case lifecycle model (report to archive, with deadlines), shared by the seed and the live feed.

:func:`plan_event` plans an event's whole future at report time: every state change through
``domain.TRANSITIONS`` plus the flag actions (extension, urging, supervision), with realistic delays.
The plan is a pure function of the event and a per-event random seed (:func:`event_seed`), so the
seed writes the part of a plan that lies before ``now`` and the feed later recomputes the same plan
from the stored row and applies the remaining actions as their time comes. :func:`fold` turns the
applied actions into the event row's current columns.

Times are integer seconds since the Unix epoch (UTC) inside this module; callers convert.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from dashboard.core.domain import CATEGORY_DEPT, TRANSITIONS
from dashboard.core.workdays import is_working_day

MINUTE = 60
HOUR = 3600
DAY = 86400
SHANGHAI = 8 * HOUR  # fixed +08:00, no DST
EPOCH_DATE = dt.date(1970, 1, 1)  # local day number 0

# Working days to close an ordinary case, by category (assumed); urgent cases get 24 h.
CLOSE_WORKING_DAYS: dict[str, int] = {
    "DISPUTE": 15,
    "PETITION_STABILITY": 15,
    "WORK_SAFETY": 5,
    "FIRE": 5,
    "FOOD_DRUG": 5,
    "CITY_APPEARANCE": 3,
    "SANITATION_ENV": 3,
    "PUBLIC_FACILITY": 3,
    "CONSTRUCTION_MGMT": 3,
    "ILLEGAL_BUILD": 10,
}
DEFAULT_WORKING_DAYS = 7
URGENT_HOURS = 24

# Town "四个平台" (the 2016-era town platforms): which platform takes a category when the town handles it.
PLATFORMS = {
    "ZZGZ": ("综治工作平台", "Comprehensive governance platform"),
    "SCJG": ("市场监管平台", "Market supervision platform"),
    "ZHZF": ("综合执法平台", "Comprehensive enforcement platform"),
    "BMFW": ("便民服务平台", "Public service platform"),
}
CATEGORY_PLATFORM = {
    "DISPUTE": "ZZGZ",
    "PUBLIC_ORDER": "ZZGZ",
    "SPECIAL_POP": "ZZGZ",
    "PETITION_STABILITY": "ZZGZ",
    "EMERGENCY": "ZZGZ",
    "FOOD_DRUG": "SCJG",
    "MARKET": "SCJG",
    "ILLEGAL_BUILD": "ZHZF",
    "CITY_APPEARANCE": "ZHZF",
    "SANITATION_ENV": "ZHZF",
    "CONSTRUCTION_MGMT": "ZHZF",
    "WORK_SAFETY": "ZHZF",
    "FIRE": "ZHZF",
    "POPULATION_SERVICE": "BMFW",
    "PUBLIC_FACILITY": "BMFW",
    "OTHER": "BMFW",
}

# Rates of the lifecycle branches (the targets: reject ~2 %, self-handled 70–80 %, returns 3–6 %,
# rework 0.5–2 %, extensions 1–3 %, supervision 3–5 %, closed late 5–12 %).
# Where cases end follows the rule of the hall, "小事不出网格、大事不出镇街" (the domain reference on
# level_of_handling): most are solved by the grid or village themselves, of the rest most by the town. With 42 %
# self-handled and 45 % of dispatches to district departments, 就地化解率 was about 41 % and the tile red
# every month against its 70 / 50 thresholds: the sample contradicted the rule, not the thresholds.
P_REJECT = 0.02
P_SELF_HANDLE = 0.78
P_DISTRICT_DEPT = 0.25  # of dispatched cases; the rest go to the town platform
P_RETURN = 0.045
P_REWORK = 0.01
P_EXTENSION = 0.024
P_EARLY_SUPERVISION = 0.025  # cases self-handled at the grid are seldom late: supervision starts earlier
P_LATE = 0.09
P_STALLED = 0.004  # cases that hang for weeks or months: the old overdue tail
P_EVALUATED = 0.75
SATISFACTION_WEIGHTS = (("满意", 0.82), ("基本满意", 0.14), ("不满意", 0.04))

REJECT_REASONS = ("不属于受理范围", "重复上报", "信息不全，无法核实")
RETURN_REASONS = ("非本单位职责", "属地管理，请镇街处置", "地址有误，请核实后重派")

# One planned action: (at, action, from_status, to_status, actor_staff_id, actor_dept, target_dept, comment)
Action = tuple[int, str, str | None, str, int | None, str | None, str | None, str | None]


def platform_code(town_code: str, platform: str) -> str:
    """Department code of a town platform, e.g. ``T330109001_ZZGZ``."""
    return f"T{town_code}_{platform}"


def local_day(ts: int) -> int:
    """Asia/Shanghai calendar day number (days since 1970-01-01 local)."""
    return (ts + SHANGHAI) // DAY


def weekday(ts: int) -> int:
    """Monday = 0 … Sunday = 6, in Asia/Shanghai (1970-01-01 was a Thursday)."""
    return (local_day(ts) + 3) % 7


def local_hour(ts: int) -> float:
    return ((ts + SHANGHAI) % DAY) / HOUR


@cache
def working_day(day: int) -> bool:
    """Is local day number ``day`` a working day (official holidays and 调休 weekends included)?
    Cached by day number: about a million deadlines are counted in a seed."""
    return is_working_day(EPOCH_DATE + dt.timedelta(days=day))


def add_working_days(ts: int, days: int) -> int:
    """``ts`` plus ``days`` working days at the same clock time, skipping weekends and official holidays
    and counting 调休 working weekends (:mod:`dashboard.core.workdays`, as
    :func:`~dashboard.core.workdays.add_working_days`). From a day off, the count starts from the last
    working day before it, at the same clock time."""
    if days <= 0:
        return ts
    start = day = local_day(ts)
    while not working_day(day):
        day -= 1
    while days > 0:
        day += 1
        if working_day(day):
            days -= 1
    return ts + (day - start) * DAY


def office_time(ts: int, rng: random.Random) -> int:
    """The command room staffs ordinary intake 07:30–22:00; night reports wait for the morning shift."""
    hour = local_hour(ts)
    if 7.5 <= hour < 22:
        return ts
    day_start = local_day(ts) * DAY - SHANGHAI
    if hour >= 22:
        day_start += DAY
    return day_start + int(7.5 * HOUR) + int(rng.random() * 1.5 * HOUR)


def is_urgent(category: str, priority: str) -> bool:
    return priority != "NORMAL" or category == "EMERGENCY"


def deadline_for(accepted_at: int, category: str, priority: str) -> int:
    """办理时限 from acceptance: 24 h calendar when urgent, else working days by category."""
    if is_urgent(category, priority):
        return accepted_at + URGENT_HOURS * HOUR
    return add_working_days(accepted_at, CLOSE_WORKING_DAYS.get(category, DEFAULT_WORKING_DAYS))


def event_seed(event_no: str, reported_at: int, grid_code: str, category: str) -> int:
    """The per-event random seed: recomputable from the stored row, so the feed can re-plan it."""
    return zlib.crc32(f"{event_no}|{reported_at}|{grid_code}|{category}".encode())


@dataclass(frozen=True)
class Context:
    """Who acts on events: staff ids by grid, town and department (sorted, so plans are stable)."""

    grid_staff: Mapping[str, tuple[int, int]]  # grid → (leader, worker)
    dispatchers: Mapping[str, tuple[int, ...]]  # town → command-room staff
    handlers: Mapping[str, tuple[int, ...]]  # dept code (district dept or town platform) → handlers


@dataclass(frozen=True)
class EventInfo:
    """The facts known at report time that the plan depends on."""

    event_no: str
    reported_at: int
    category: str
    priority: str
    source: str
    grid_code: str
    town_code: str
    reporter_staff_id: int | None


@dataclass
class Plan:
    actions: list[Action]
    deadline_at: int | None = None
    extended_deadline_at: int | None = None
    supervision_level: str | None = None
    handling_levels: list[str] = field(default_factory=list)  # one per HANDLE, in order
    evaluation: tuple[str, str, int, int] | None = None  # channel, result, speed, effect


_LOGISTIC_SCALE = math.sqrt(3) / math.pi  # a logistic with unit variance: close to N(0, 1), cheaper


def _lognormal(rng: random.Random, median: float, sigma: float) -> int:
    """About log-normal around ``median``; the logistic stand-in for the normal is 3x cheaper."""
    u = rng.random() or 0.5
    z = math.log(u / (1.0 - u)) * _LOGISTIC_SCALE
    return int(median * math.exp(sigma * z))


def _pick(rng: random.Random, items: Sequence[int]) -> int | None:
    return items[int(rng.random() * len(items))] if items else None


class _Builder:
    """Collects main-path actions, checking each against the state machine as it goes."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.actions: list[Action] = []
        self.status: str | None = None
        self.last = 0
        self.rng = rng  # set for ordinary cases: desk and field work happen in office hours

    def add(
        self,
        at: int,
        action: str,
        to: str,
        actor: int | None = None,
        actor_dept: str | None = None,
        target: str | None = None,
        comment: str | None = None,
    ) -> int:
        if self.rng is not None and action != "REPORT":
            at = office_time(at, self.rng)
        at = max(at, self.last + 1)  # strictly increasing, so the log has one order
        assert (self.status, to) in TRANSITIONS[action], (action, self.status, to)
        self.actions.append((at, action, self.status, to, actor, actor_dept, target, comment))
        self.status = to
        self.last = at
        return at


def _handle_fraction(rng: random.Random) -> float:
    """Time from acceptance to 处置完成 as a fraction of the allowed window (>1 means late)."""
    r = rng.random()
    if r < P_STALLED:
        return 4.0 + rng.random() * 40.0
    if r < P_STALLED + P_LATE:
        return 1.02 + rng.expovariate(1 / 0.5)
    if r < 0.45:
        return 0.3 + rng.random() * 0.6
    return 0.01 + rng.random() * 0.29


def plan_event(ev: EventInfo, ctx: Context, rng: random.Random) -> Plan:
    """Plan the whole lifecycle of one event from its report, through archive (or rejection)."""
    urgent = is_urgent(ev.category, ev.priority)
    b = _Builder(None if urgent else rng)
    plan = Plan(b.actions)
    dispatchers = ctx.dispatchers.get(ev.town_code, ())
    leader, worker = ctx.grid_staff.get(ev.grid_code, (None, None))
    b.add(ev.reported_at, "REPORT", "REPORTED", actor=ev.reporter_staff_id)

    # 受理: minutes for urgent cases, otherwise within the command room's hours.
    if urgent:
        t = ev.reported_at + 60 + _lognormal(rng, 6 * MINUTE, 0.7)
    else:
        t = ev.reported_at + _lognormal(rng, 20 * MINUTE, 1.0)
    desk = _pick(rng, dispatchers)
    if not urgent and rng.random() < P_REJECT:
        b.add(t, "REJECT", "REJECTED", actor=desk, comment=REJECT_REASONS[int(rng.random() * 3)])
        return plan
    accepted = b.add(t, "ACCEPT", "ACCEPTED", actor=desk)
    deadline = deadline_for(accepted, ev.category, ev.priority)
    plan.deadline_at = deadline
    window = deadline - accepted
    u = _handle_fraction(rng)
    extension = not urgent and u < 4 and rng.random() < P_EXTENSION
    if extension:
        ext_days = CLOSE_WORKING_DAYS.get(ev.category, DEFAULT_WORKING_DAYS)
        plan.extended_deadline_at = add_working_days(deadline, max(3, ext_days // 2))
        u = 0.8 + rng.random() * 0.9
    handle_due = accepted + max(15 * MINUTE, int(window * u))

    if rng.random() < (0.15 if urgent else P_SELF_HANDLE):
        # 网格/村社自办: the grid staff fix it themselves, typically faster.
        handle_due = accepted + max(10 * MINUTE, int((handle_due - accepted) * 0.6))
        level = "GRID" if rng.random() < 0.6 else "VILLAGE"
        b.add(handle_due, "HANDLE", "HANDLED", actor=worker if level == "GRID" else leader)
        plan.handling_levels.append(level)
    else:
        _dispatch_path(b, plan, ev, ctx, rng, urgent, desk, handle_due)
    closed = _close_and_verify(b, plan, ev, ctx, rng, desk, worker)
    _flags(b, plan, ev, rng, accepted, closed, desk, extension)
    return plan


def _dispatch_target(ev: EventInfo, to_district: bool) -> tuple[str, str]:
    """(department code, handling level) for a dispatch to the district dept or the town platform."""
    if to_district:
        return CATEGORY_DEPT.get(ev.category, "D03_CITYMGMT"), "DISTRICT"
    return platform_code(ev.town_code, CATEGORY_PLATFORM.get(ev.category, "BMFW")), "TOWN"


def _dispatch_path(
    b: _Builder,
    plan: Plan,
    ev: EventInfo,
    ctx: Context,
    rng: random.Random,
    urgent: bool,
    desk: int | None,
    handle_due: int,
) -> None:
    to_district = rng.random() < P_DISTRICT_DEPT
    dept, level = _dispatch_target(ev, to_district)
    t = b.last + (_lognormal(rng, 4 * MINUTE, 0.5) if urgent else _lognormal(rng, 25 * MINUTE, 0.9))
    b.add(t, "DISPATCH", "DISPATCHED", actor=desk, target=dept)
    if rng.random() < P_RETURN:
        # 退回: the department says it is not theirs; the desk re-dispatches to the other level.
        handler = _pick(rng, ctx.handlers.get(dept, ()))
        if rng.random() < 0.4:
            b.add(b.last + _lognormal(rng, 40 * MINUTE, 0.8), "SIGN", "IN_PROGRESS", handler, dept)
        reason = RETURN_REASONS[int(rng.random() * 3)]
        b.add(b.last + _lognormal(rng, 3 * HOUR, 0.8), "RETURN", "ACCEPTED", handler, dept, comment=reason)
        dept, level = _dispatch_target(ev, not to_district)
        b.add(b.last + _lognormal(rng, 40 * MINUTE, 0.8), "DISPATCH", "DISPATCHED", desk, target=dept)
    handler = _pick(rng, ctx.handlers.get(dept, ()))
    sign_delay = _lognormal(rng, 5 * MINUTE, 0.5) if urgent else _lognormal(rng, 45 * MINUTE, 0.9)
    b.add(b.last + sign_delay, "SIGN", "IN_PROGRESS", handler, dept)
    b.add(max(handle_due, b.last + 10 * MINUTE), "HANDLE", "HANDLED", handler, dept)
    plan.handling_levels.append(level)


def _close_and_verify(
    b: _Builder,
    plan: Plan,
    ev: EventInfo,
    ctx: Context,
    rng: random.Random,
    desk: int | None,
    worker: int | None,
) -> int:
    """办结, 核查 (with the occasional 返工), 回访评价 and 归档. Returns the first close time."""
    first_close = b.add(b.last + _lognormal(rng, 35 * MINUTE, 0.9), "CLOSE", "CLOSED", actor=desk)
    if rng.random() < P_REWORK:
        b.add(
            b.last + _lognormal(rng, 8 * HOUR, 0.7), "VERIFY_FAIL", "IN_PROGRESS", desk, comment="整改不到位"
        )
        b.add(b.last + _lognormal(rng, 30 * HOUR, 0.6), "HANDLE", "HANDLED", worker)
        plan.handling_levels.append(plan.handling_levels[-1] if plan.handling_levels else "GRID")
        b.add(b.last + _lognormal(rng, 35 * MINUTE, 0.9), "CLOSE", "CLOSED", actor=desk)
    b.add(b.last + _lognormal(rng, 8 * HOUR, 0.8), "VERIFY_PASS", "VERIFIED", desk)
    if rng.random() < P_EVALUATED:
        r = rng.random()
        result = "满意" if r < 0.82 else "基本满意" if r < 0.96 else "不满意"
        score = {"满意": 5, "基本满意": 4, "不满意": 2}[result]
        speed = max(1, min(5, score - (rng.random() < 0.3)))
        effect = max(1, min(5, score - (rng.random() < 0.3)))
        channel = "电话回访" if rng.random() < 0.6 else "APP"
        plan.evaluation = (channel, result, speed, effect)
        b.add(b.last + _lognormal(rng, 20 * HOUR, 0.8), "EVALUATE", "EVALUATED", desk)
    b.add(b.last + _lognormal(rng, 3 * DAY, 0.5), "ARCHIVE", "ARCHIVED", desk)
    return first_close


def _flags(
    b: _Builder,
    plan: Plan,
    ev: EventInfo,
    rng: random.Random,
    accepted: int,
    first_close: int,
    desk: int | None,
    extension: bool,
) -> None:
    """Insert 延期/催办/督办 actions between acceptance and the first close, then fix their statuses."""
    flags: list[tuple[int, str, str | None]] = []
    deadline = plan.deadline_at or accepted
    if extension and plan.extended_deadline_at:
        req = accepted + int((deadline - accepted) * (0.6 + 0.3 * rng.random()))
        flags.append((req, "REQUEST_EXTENSION", "申请延期：需协调多部门"))
        flags.append((req + _lognormal(rng, 5 * HOUR, 0.6), "APPROVE_EXTENSION", None))
    effective = plan.extended_deadline_at or deadline
    if first_close > effective + DAY:
        flags.append((effective + DAY + int(rng.random() * 4 * HOUR), "URGE", "超期催办"))
    supervise_at = None
    if ev.priority == "MAJOR":
        supervise_at, plan.supervision_level = accepted + _lognormal(rng, 40 * MINUTE, 0.5), "区"
    elif first_close > add_working_days(effective, 5):
        supervise_at, plan.supervision_level = add_working_days(effective, 5), "镇街"
    elif rng.random() < P_EARLY_SUPERVISION:
        supervise_at = accepted + int((first_close - accepted) * rng.random() * 0.8)
        plan.supervision_level = "区" if rng.random() < 0.3 else "镇街"
    if supervise_at is not None:
        flags.append((supervise_at, "SUPERVISE", "挂牌督办"))
    flags = [f for f in flags if accepted < f[0] < first_close]
    if not any(f[1] == "SUPERVISE" for f in flags):
        plan.supervision_level = None
    if not any(f[1] == "APPROVE_EXTENSION" for f in flags):
        plan.extended_deadline_at = None
    if flags:
        _merge_flags(b, sorted(flags), desk)


def _merge_flags(b: _Builder, flags: list[tuple[int, str, str | None]], desk: int | None) -> None:
    """Merge flag actions into the main path; a flag keeps the status current at its time."""
    merged: list[Action] = []
    status: str | None = None
    fi = 0
    last = 0
    for act in b.actions:
        while fi < len(flags) and flags[fi][0] < act[0]:
            at = max(flags[fi][0], last + 1)
            merged.append((at, flags[fi][1], status, status or "", desk, None, None, flags[fi][2]))
            last = at
            fi += 1
        at = max(act[0], last + 1)
        merged.append((at, *act[1:]))
        status, last = act[3], at
    b.actions[:] = merged


# --- Folding actions into the event row ---------------------------------------------------------------

LIFECYCLE_COLUMNS = (
    "status",
    "accepted_at",
    "rejected_at",
    "dispatched_at",
    "dispatch_dept_code",
    "dispatch_count",
    "signed_at",
    "handled_at",
    "closed_at",
    "verified_at",
    "verify_result",
    "archived_at",
    "deadline_at",
    "extended_deadline_at",
    "extension_count",
    "returned_count",
    "reopened_count",
    "is_supervised",
    "supervised_at",
    "supervision_level",
    "satisfaction",
    "level_of_handling",
)
TIME_COLUMNS = frozenset(c for c in LIFECYCLE_COLUMNS if c.endswith("_at"))


def fold(plan: Plan, upto: int, count: int | None = None) -> tuple[dict[str, object], int]:
    """The event row's lifecycle columns after the plan's actions with ``at <= upto``.

    Returns the columns (times as epoch seconds) and the number of actions applied. ``count``
    caps the number of actions (the feed passes how many are already stored).
    """
    s: dict[str, object] = dict.fromkeys(LIFECYCLE_COLUMNS)
    s.update(dispatch_count=0, extension_count=0, returned_count=0, reopened_count=0, is_supervised=False)
    handles = 0
    n = 0
    limit = len(plan.actions) if count is None else min(count, len(plan.actions))
    for at, action, _frm, to, _actor, _adept, target, _comment in plan.actions[:limit]:
        if at > upto:
            break
        n += 1
        s["status"] = to
        if action == "ACCEPT":
            s["accepted_at"], s["deadline_at"] = at, plan.deadline_at
        elif action == "REJECT":
            s["rejected_at"] = at
        elif action == "DISPATCH":
            s["dispatched_at"], s["dispatch_dept_code"] = at, target
            s["dispatch_count"] = int(s["dispatch_count"]) + 1  # type: ignore[call-overload]
        elif action == "SIGN":
            s["signed_at"] = at
        elif action == "RETURN":
            s["returned_count"] = int(s["returned_count"]) + 1  # type: ignore[call-overload]
        elif action == "HANDLE":
            s["handled_at"] = at
            if handles < len(plan.handling_levels):
                s["level_of_handling"] = plan.handling_levels[handles]
            handles += 1
        elif action == "CLOSE":
            s["closed_at"] = at
        elif action == "VERIFY_FAIL":
            s.update(closed_at=None, verified_at=at, verify_result="FAIL")
            s["reopened_count"] = int(s["reopened_count"]) + 1  # type: ignore[call-overload]
        elif action == "VERIFY_PASS":
            s["verified_at"], s["verify_result"] = at, "PASS"
        elif action == "APPROVE_EXTENSION":
            s["extended_deadline_at"] = plan.extended_deadline_at
            s["extension_count"] = int(s["extension_count"]) + 1  # type: ignore[call-overload]
        elif action == "SUPERVISE":
            s.update(is_supervised=True, supervised_at=at, supervision_level=plan.supervision_level)
        elif action == "EVALUATE" and plan.evaluation:
            s["satisfaction"] = plan.evaluation[1]
        elif action == "ARCHIVE":
            s["archived_at"] = at
            if s["satisfaction"] is None:
                s["satisfaction"] = "未评价"
    return s, n
