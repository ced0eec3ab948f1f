"""What the fast path's reads of the facts name and how SQLite plans them: a town's rankings read only
the columns the (town, key) indexes cover, a source's days with another filter only those its (source,
key) indexes cover, and the events in flight are read through the span index (not every fact of a
village, as when SQLite pushed the outer conditions into each branch)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from dashboard.core.viewstate import ViewState
from dashboard.rollups.buckets import DAY_US
from dashboard.rollups.panels import RANKED_SUMS
from dashboard.rollups.reader import SQLITE_MATERIALIZES, Reader
from dashboard.rollups.store import RollupStore
from dashboard.rollups.tables import FLIGHT_CLASSES, KINDS, ru_fact
from dashboard.source.engines import make_writer_engine

TOWN = "330109001"
AT = 1_796_000_000_000_000


def _store(tmp_path: Path) -> tuple[RollupStore, list[tuple[str, Any]]]:
    """An empty SQLite rollup store, and the (statement, parameters) run on it."""
    store = RollupStore(make_writer_engine(f"sqlite:///{tmp_path / 'rollups.db'}"))
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    return store, statements


def test_a_towns_rankings_read_only_what_its_town_indexes_cover(tmp_path: Path) -> None:
    store, statements = _store(tmp_path)
    view = ViewState(towns=(TOWN,), categories=("FIRE",), sources=("HOTLINE_12345",), eastern="exclude")
    kinds = tuple(kind for kind, _, _ in RANKED_SUMS)
    with store.engine.connect() as conn:
        reader = Reader(conn, view, at=AT)
        reader.multi(
            kinds, [("cur", AT - 10**15, AT)], ("village", "dept"), widths={k: n for k, _, n in RANKED_SUMS}
        )
        sql, _ = statements[-1]
        branches = sql.split(" UNION ALL ")
        assert len(branches) == len(kinds)
        indexes = {index.name: {c.name for c in index.columns} for index in ru_fact.indexes}
        for kind, branch in zip(kinds, branches, strict=True):
            name = f"ix_ru_fact_town_{KINDS[kind][0]}"
            named = set(re.findall(r"ru_fact\.(\w+)", branch))
            assert named <= indexes[name], (kind, named - indexes[name])
            plan = " ".join(str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + branch))
            assert f"COVERING INDEX {name}" in plan, plan
    store.engine.dispose()


@pytest.mark.skipif(not SQLITE_MATERIALIZES, reason="SQLite before 3.35 has no AS MATERIALIZED")
@pytest.mark.parametrize(("days", "tier_read"), [(400, True), (20, False)])
def test_a_towns_villages_over_whole_months_are_read_from_the_month_tier(
    tmp_path: Path, days: int, tier_read: bool
) -> None:
    """Over a period that holds whole months, a town's villages (by village and department) are summed
    from the month tier's ``tvd`` rows and only the days at the ends from the facts; over days alone,
    from the town's covering (town, key) indexes."""
    store, statements = _store(tmp_path)
    kinds = tuple(kind for kind, _, _ in RANKED_SUMS)
    with store.engine.connect() as conn:
        reader = Reader(conn, ViewState(towns=(TOWN,), eastern="exclude"), at=AT)
        reader.multi(
            kinds,
            [("cur", AT - days * DAY_US, AT)],
            ("village", "dept"),
            widths={k: n for k, _, n in RANKED_SUMS},
        )
        sql, _ = statements[-1]
        assert ("p = 'tvd'" in sql) is tier_read, sql[:400]
        assert ("FROM ru_agg" in sql) is tier_read
    store.engine.dispose()


def test_a_villages_events_in_flight_are_read_through_the_span_index(tmp_path: Path) -> None:
    store, statements = _store(tmp_path)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        reader = Reader(conn, ViewState(village=TOWN + "001"), at=AT, max_ts=AT + 1)
        o = reader.open_at(AT)
        reader.open_rows(select(o.c.grid, func.count()).group_by(o.c.grid), AT)
        sql, params = statements[-1]
        plan = [str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
    assert "MATERIALIZED" in sql
    assert sum("ix_ru_fact_span" in step for step in plan) == FLIGHT_CLASSES, plan  # each class's branch
    store.engine.dispose()


@pytest.mark.parametrize("group", [(), ("town", "dept")])
def test_a_sources_days_with_another_filter_are_read_from_its_covering_index(
    tmp_path: Path, group: tuple[str, ...]
) -> None:
    """A source with a category and the eastern switch is kept by the month tier only: its days are
    read from the facts through (source, key) indexes that hold every column the read names (on
    PostgreSQL, (source, key) alone lost to the key's own index and a filter over the district)."""
    store, statements = _store(tmp_path)
    view = ViewState(categories=("FIRE",), sources=("HOTLINE_12345",), eastern="exclude")
    indexes = {index.name: {c.name for c in index.columns} for index in ru_fact.indexes}
    with store.engine.connect() as conn:
        reader = Reader(conn, view, at=AT)
        for kind in (*KINDS, "hst"):
            reader.sums(kind, [("cur", AT - 3 * DAY_US, AT)], group)
            sql, _ = statements[-1]
            key = KINDS[kind][0] if kind in KINDS else "clo"
            name = f"ix_ru_fact_src_{key}"
            named = set(re.findall(r"ru_fact\.(\w+)", sql))
            assert named <= indexes[name], (kind, named - indexes[name])
            plan = " ".join(str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert f"COVERING INDEX {name}" in plan, (kind, plan)
    store.engine.dispose()
