"""The rollup fast path for tests that check figures worked out by hand (see test_metrics, test_queries).

The worked example holds rows written after its clock (E12 is dispatched and closed later, an evaluation
comes after now): the rollups hold every event's current state, and the fast path must give the figures
as they stood at ``now`` all the same, from the events in flight then (as the direct path's as-of rule
does). Set ``cut=True`` to remove what happened after ``now`` first, as a live feed would hold it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, select, update

from dashboard.core import domain
from dashboard.core.periods import effective_now
from dashboard.core.viewstate import ViewState
from dashboard.rollups.read import eligible, reader_for
from dashboard.rollups.reader import Reader
from dashboard.rollups.store import RollupStore
from dashboard.source import schema
from dashboard.source.engines import init_db, make_source_engine
from tests.support import factories
from tests.support.services import BACKENDS, make_empty_database

# (backend, path) for a module-scoped worked example: every backend, read directly and through the rollups.
PATHS = tuple((backend, path) for backend in BACKENDS for path in ("direct", "rollups"))

LIFECYCLE_TIMES = (
    "accepted_at", "rejected_at", "dispatched_at", "signed_at", "handled_at", "closed_at", "verified_at",
    "archived_at", "supervised_at",
)  # fmt: skip


def as_seen_at(conn: Connection, now: dt.datetime) -> None:
    """Rewrite events, actions and evaluations as they stood at ``now`` (what a live feed would hold)."""
    e = schema.event
    for row in conn.execute(select(e)).mappings():
        changes: dict[str, Any] = {c: None for c in LIFECYCLE_TIMES if row[c] is not None and row[c] > now}
        if not changes:
            continue
        if "dispatched_at" in changes:
            changes.update(dispatch_dept_code=None, dispatch_count=0)
        closed = row["closed_at"] is not None and "closed_at" not in changes
        rejected = row["rejected_at"] is not None and "rejected_at" not in changes
        if not closed and not rejected:
            changes["status"] = (
                "ACCEPTED" if row["accepted_at"] and "accepted_at" not in changes else "REPORTED"
            )
            assert changes["status"] in domain.OPEN_STATUSES
        conn.execute(update(e).where(e.c.event_id == row["event_id"]).values(**changes))
    conn.execute(delete(schema.event_action).where(schema.event_action.c.at > now))
    conn.execute(delete(schema.evaluation).where(schema.evaluation.c.at > now))


def attach(engine: Engine, now: dt.datetime, cut: bool = False) -> RollupStore:
    """Build rollups beside the data (in the same database) and remember them; ``cut`` first rewrites the
    data as it stood at ``now``."""
    if cut:
        with engine.begin() as conn:
            as_seen_at(conn, now)
    store = RollupStore(engine)
    source = make_source_engine(engine.url)
    with source.connect() as conn:
        store.sync(conn)
    source.dispose()
    assert eligible(ViewState(), now, store.meta()), "rollups do not cover the worked example"
    engine.rollups = store  # type: ignore[attr-defined]
    return store


def store_of(engine: Engine) -> RollupStore | None:
    return getattr(engine, "rollups", None)


def reader(store: RollupStore, conn: Connection, view: ViewState, now: dt.datetime) -> Reader:
    """A tier reader; asserts the fast path really answers for this view (else the test proves nothing)."""
    with store.engine.connect() as rconn:
        meta = store.meta(rconn)
    assert eligible(view, now, meta), f"the fast path does not answer for {view} at {now}"
    return reader_for(conn, view, effective_now(view, now), meta)


def worked_example(
    backend: str, path: str, now: dt.datetime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The hand-built district (:func:`tests.support.factories.build_district`) on a fresh database of
    ``backend``, with rollups attached when ``path`` is "rollups". For module-scoped fixtures of tests
    that only read it: built once per (backend, path) and module, not once per test (48 builds of ~1–2 s
    each in test_metrics alone, on a suite bound by its CPU)."""
    for url in make_empty_database(backend, tmp_path_factory):
        engine = init_db(url)
        with engine.begin() as conn:
            factories.build_district(conn)
        if path == "rollups":
            attach(engine, now)
        yield engine
        engine.dispose()
