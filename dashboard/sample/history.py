"""The seed's event history: every report of the window with its actions and evaluation, in chunks.

Event generation is most of the seed's CPU: with more than a few weeks of history and at least four
CPUs (or two idle ones) it runs in worker processes, one chunk of whole Shanghai days each, while this
process writes.
Chunks start at local midnight, where event numbers restart, and each knows its first event id from a
cheap count of the hours before it, so the output is identical to a sequential run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from dashboard.core.progress import Progress
from dashboard.sample import lifecycle
from dashboard.sample.arrivals import Arrival, Sampler, hourly_arrivals, hourly_count
from dashboard.sample.events import EventBatch, Numberer, new_event_rows
from dashboard.sample.lifecycle import DAY, HOUR, Context
from dashboard.sample.times import day_start

PARALLEL_MIN_DAYS = 60
PARALLEL_MIN_CPUS = 4
IDLE_MIN_CPUS = 2  # fewer CPUs use the workers only when they are idle (see _spare_cpus)
IDLE_LOAD = 1.0  # the 1-minute load average below which two CPUs count as idle
CHUNK_DAYS = 10
_worker: dict[str, Any] = {}


@dataclass(frozen=True)
class Window:
    """The history to generate: ``days`` of reports up to ``now`` (epoch seconds) at ``scale``."""

    seed: int
    days: int
    scale: float
    now: int


@dataclass(frozen=True)
class ChunkSpec:
    """A run of whole clock hours and the id of its first event."""

    first_hour: int
    last_hour: int  # inclusive
    first_event_id: int


def window_arrivals(sampler: Sampler, hour: int, window: Window) -> list[Arrival]:
    """The reports of clock hour ``hour`` that fall inside the window."""
    start = window.now - window.days * DAY
    return [
        a
        for a in hourly_arrivals(sampler, hour, window.seed, window.scale)
        if start < a.reported_at <= window.now
    ]


def chunk_specs(window: Window, sampler: Sampler) -> list[ChunkSpec]:
    """The window cut at local midnights every CHUNK_DAYS, each chunk with its first event id."""
    first_hour = (window.now - window.days * DAY) // HOUR
    last_hour = window.now // HOUR
    specs: list[ChunkSpec] = []
    next_id = 1
    hour = first_hour
    while hour <= last_hour:
        # the chunk ends just before a local midnight CHUNK_DAYS later (or at the last hour)
        midnight = day_start(lifecycle.local_day(hour * HOUR) + CHUNK_DAYS) // HOUR
        end = min(last_hour, midnight - 1)
        specs.append(ChunkSpec(hour, end, next_id))
        for h in range(hour, end + 1):
            edge = h in (first_hour, last_hour)
            next_id += (
                len(window_arrivals(sampler, h, window))
                if edge
                else hourly_count(h, window.seed, window.scale)
            )
        hour = end + 1
    return specs


def make_chunk(spec: ChunkSpec, sampler: Sampler, ctx: Context, window: Window) -> EventBatch:
    """The rows of one chunk's events, as of the window's end."""
    numberer = Numberer(spec.first_event_id)
    batch = EventBatch()
    for hour in range(spec.first_hour, spec.last_hour + 1):
        for a in window_arrivals(sampler, hour, window):
            eid, number = numberer.take(a.reported_at)
            batch.add(*new_event_rows(eid, number, a, ctx, window.now))
    return batch


def _init_worker(sampler: Sampler, ctx: Context, window: Window) -> None:
    _worker.update(sampler=sampler, ctx=ctx, window=window)


def _chunk_in_worker(spec: ChunkSpec) -> EventBatch:
    return make_chunk(spec, _worker["sampler"], _worker["ctx"], _worker["window"])


def chunks(window: Window, sampler: Sampler, ctx: Context, specs: list[ChunkSpec]) -> Iterator[EventBatch]:
    """Event batches in order: from two worker processes for long histories, else in-process."""
    if (
        window.days < PARALLEL_MIN_DAYS
        or len(specs) < 3
        or not _spare_cpus()
        or "fork" not in mp.get_all_start_methods()
    ):
        for spec in specs:
            yield make_chunk(spec, sampler, ctx, window)
        return
    with mp.get_context("fork").Pool(2, initializer=_init_worker, initargs=(sampler, ctx, window)) as pool:
        yield from pool.imap(_chunk_in_worker, specs)


def _spare_cpus() -> bool:
    """Can two workers and this process (the writer) share the CPUs with a gain?

    Yes with four CPUs or more; with two only when the machine is idle. The first `make run` seeds
    760 days on the 2-core VM: the workers cost ~11 s more CPU there (the batches are pickled); idle
    (load 0.7) the events took 29 s against 43 s in one process, but while other jobs held the cores
    (load ~3) 35–56 s against 45 s (a whole seed once 111 s against 68 s)."""
    cpus = os.cpu_count() or 1
    if cpus >= PARALLEL_MIN_CPUS:
        return True
    if cpus < IDLE_MIN_CPUS:
        return False
    try:
        return os.getloadavg()[0] < IDLE_LOAD
    except OSError:  # no load average on this platform: do not guess
        return False


def write_events(
    conn: Connection, window: Window, sampler: Sampler, ctx: Context, *, show: bool
) -> dict[str, int]:
    """Write the window's events, actions and evaluations, one commit per chunk; return the row counts."""
    specs = chunk_specs(window, sampler)
    totals = {"event": 0, "event_action": 0, "evaluation": 0}
    with Progress("事件 events (days)", window.days, enabled=show) as bar:
        for spec, batch in zip(specs, chunks(window, sampler, ctx, specs), strict=True):
            if batch.events and batch.events[0][0] != spec.first_event_id:
                raise RuntimeError("event chunk numbering drifted")  # would break ids: fail loudly
            _count_batch(totals, batch)
            batch.write(conn)
            conn.commit()
            bar.advance(round((spec.last_hour - spec.first_hour + 1) / 24))
    return totals


def _count_batch(totals: dict[str, int], batch: EventBatch) -> None:
    totals["event"] += len(batch.events)
    totals["event_action"] += len(batch.actions)
    totals["evaluation"] += len(batch.evaluations)
