"""What the fast path's reads of the facts name and how SQLite plans them: a town's rankings read only
the columns the (town, key) indexes cover, a source's days with another filter only those its (source,
key) indexes cover, and the events in flight are read through the span index (not every fact of a
village, as when SQLite pushed the outer conditions into each branch); a village's view reads its
tier rows through the village index."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, inspect, select

from dashboard.core.viewstate import ViewState
from dashboard.rollups.buckets import DAY_US, day_floor
from dashboard.rollups.panels import RANKED_SUMS
from dashboard.rollups.reader import SQLITE_MATERIALIZES, Reader
from dashboard.rollups.store import RollupStore
from dashboard.rollups.tables import FLIGHT_CLASSES, KINDS, ru_agg, ru_fact
from dashboard.source.engines import make_writer_engine

TOWN = "330109001"
VILLAGE = TOWN + "001"
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


@pytest.mark.parametrize(
    ("view", "tier_read"),
    [
        (ViewState(village=VILLAGE), True),
        (ViewState(towns=(TOWN,), village=VILLAGE, eastern="exclude"), True),
        (ViewState(village=VILLAGE, categories=("FIRE",)), False),  # no day tier keeps a village's categories
        (ViewState(village=VILLAGE, grid=VILLAGE + "01"), False),  # nor grids
    ],
)
def test_a_villages_view_reads_its_tier_rows_through_the_village_index(
    tmp_path: Path, view: ViewState, tier_read: bool
) -> None:
    """A village's tiles and state counts are summed from the ``tv`` rows of the day and month tiers, read
    through ``ix_ru_agg_village`` (the tiers' key leads with the bucket: every village's rows of a day);
    with a category, or a grid's, from the unit's facts (a village's category over whole months: the
    next test)."""
    store, statements = _store(tmp_path)
    with store.engine.begin() as conn:  # a town's villages by day, so the planner knows they are many
        rows = [
            {"tier": "d", "kind": "rep", "p": "tv", "b": AT - day * DAY_US, "town": TOWN, "cat": "*", "dept": "*",
             "src": "*", "village": f"{TOWN}{v:03d}", "bin": "*", "n": 1, "a1": 0, "a2": 0, "a3": 0, "a4": 0}
            for day in range(60) for v in range(30)
        ]  # fmt: skip
        conn.execute(ru_agg.insert(), rows)
        conn.exec_driver_sql("ANALYZE")
    statements.clear()
    with store.engine.connect() as conn:
        reader = Reader(conn, view, at=AT)
        reader.multi(("rep", "clo", "eva"), [("cur", AT - 40 * DAY_US, AT)])
        reader.state_at([("backlog", "rep:e1")], [("t0", AT - 40 * DAY_US), ("t1", AT - DAY_US)])
        read = [sql for sql, _ in statements if "ru_agg" in sql or "ru_fact" in sql or "ru_eval" in sql]
        assert len(read) == 2
        for sql in read:
            assert ("p = 'tv'" in sql) is tier_read, sql[:400]
            if tier_read:
                branch = next(b for b in sql.split(" UNION ALL ") if "FROM ru_agg" in b and "'d'" in b)
                plan = " ".join(str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + branch))
                assert "ix_ru_agg_village" in plan, plan
    store.engine.dispose()


@pytest.mark.parametrize(
    ("days", "by", "tier_read"), [(400, None, True), (20, None, False), (400, "day", False)]
)
def test_a_villages_category_or_source_over_whole_months_is_read_from_the_month_tier(
    tmp_path: Path, days: int, by: str | None, tier_read: bool
) -> None:
    """A village with a category or a source sums the whole months of a range from the month tier's
    ``tvc`` / ``tvs`` rows and its other days from the facts, corrected by the events in flight; over
    days alone, or for a series by day, it reads the village's facts as of the instant (one read)."""
    store, statements = _store(tmp_path)
    for view, p in (
        (ViewState(village=VILLAGE, categories=("FIRE",)), "tvc"),
        (ViewState(towns=(TOWN,), village=VILLAGE, sources=("GRID_APP",), eastern="exclude"), "tvs"),
    ):
        statements.clear()
        with store.engine.connect() as conn:
            Reader(conn, view, at=AT, max_ts=AT).multi(
                ("rep", "due", "eva"), [("cur", AT - days * DAY_US, AT)], by=by
            )
        read = [sql for sql, _ in statements if "ru_agg" in sql or "ru_fact" in sql or "ru_eval" in sql]
        if tier_read:
            tiers, flight = read
            assert f"p = '{p}'" in tiers and "'m'" in tiers and "FROM ru_fact" in tiers, tiers[:400]
            assert "ru_fact.span" in flight
        else:
            assert len(read) == 1 and "ru_agg" not in read[0], read
    store.engine.dispose()


@pytest.mark.parametrize("by", [None, "day"])
def test_a_source_with_the_eastern_switch_is_read_by_day_from_the_tier(
    tmp_path: Path, by: str | None
) -> None:
    """A source with the eastern switch (the 90-day trend, a week's tiles) sums its whole days from the
    day tier's ``es`` rows: before layout 14 no day projection kept both, and every day outside whole
    months was read from the source's facts (~300,000 of them for the trend at 10 M events)."""
    store, statements = _store(tmp_path)
    end = day_floor(AT)
    with store.engine.connect() as conn:
        reader = Reader(conn, ViewState(sources=("HOTLINE_12345",), eastern="exclude"), at=AT)
        reader.multi(("rep", "clo", "due", "e1"), [("d90", end - 90 * DAY_US, end)], by=by)
    read = [sql for sql, _ in statements if "ru_agg" in sql or "ru_fact" in sql]
    assert read and all("ru_fact" not in sql for sql in read), read
    assert any("p = 'es'" in sql and "'d'" in sql for sql in read), read
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


def test_a_villages_events_in_flight_are_read_through_its_span_index(tmp_path: Path) -> None:
    store, statements = _store(tmp_path)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        reader = Reader(conn, ViewState(village=TOWN + "001"), at=AT, max_ts=AT + 1)
        o = reader.open_at(AT)
        reader.open_rows(select(o.c.grid, func.count()).group_by(o.c.grid), AT)
        sql, params = statements[-1]
        plan = [str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
    assert "MATERIALIZED" in sql
    assert sum("ix_ru_fact_village_span" in step for step in plan) == FLIGHT_CLASSES, plan  # a branch a class
    store.engine.dispose()


@pytest.mark.parametrize(
    ("view", "group"),
    [
        (ViewState(categories=("FIRE",), sources=("HOTLINE_12345",), eastern="exclude"), ()),
        (ViewState(categories=("FIRE",), sources=("HOTLINE_12345",), eastern="exclude"), ("town", "dept")),
        (ViewState(depts=("D03_CITYMGMT",), towns=("330109001",)), ()),
        (ViewState(categories=("FIRE",)), ()),  # a category's sub-day edges: the hour tier keeps none
    ],
)
def test_the_facts_of_a_source_department_or_category_are_read_from_a_covering_index(
    tmp_path: Path, view: ViewState, group: tuple[str, ...]
) -> None:
    """What no tier keeps of a source, a department or a category (a source with a category and the
    eastern switch is kept by the month tier only; the hour tier keeps none of them) is read from the
    facts through a (dimension, key) index that holds every column the read names (on PostgreSQL,
    (source, key) alone lost to the key's own index and a filter over the district; the key's own index
    read a heap row for each of the district's facts of a category's edges)."""
    store, statements = _store(tmp_path)
    indexes = {
        str(index.name): {c.name for c in index.columns}
        | set(index.dialect_options["postgresql"]["include"] or ())
        for index in ru_fact.indexes
    }
    dims = [d for d, on in (("src", view.sources), ("dept", view.depts), ("cat", view.categories)) if on]
    with store.engine.connect() as conn:
        reader = Reader(conn, view, at=AT)
        for kind in (*KINDS, "hst"):
            statements.clear()
            reader.sums(kind, [("cur", AT - 3 * DAY_US - 1_800_000_000, AT)], group)
            facts = [sql for sql, _ in statements if "FROM ru_fact" in sql]
            if not facts:  # every piece from the tiers
                continue
            sql = facts[-1]
            key = KINDS[kind][0] if kind in KINDS else "clo"
            named = set(re.findall(r"ru_fact\.(\w+)", sql))
            # PostgreSQL: some (dimension, key) index holds every column (as keys or INCLUDE columns)
            held = [d for d in dims if named <= indexes[f"ix_ru_fact_{d}_{key}"]]
            assert held, (kind, named)
            if "src" in dims:  # SQLite: the source's hold them as keys, and its plan says so
                plan = " ".join(str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
                assert f"COVERING INDEX ix_ru_fact_src_{key}" in plan, (kind, plan)
    store.engine.dispose()


def test_the_duration_bins_are_indexed_in_hours_order_on_postgresql_and_a_built_store_gets_it(
    db_url: str,
) -> None:
    """On PostgreSQL a percentile's bin is also indexed in (bin, hours) order, with what the read filters
    on as INCLUDE columns: a long range's rank is walked to, not sorted for (the median's bin of three
    years at 10 M events, 80 → 44 ms). SQLite and MariaDB have no INCLUDE and keep (bin, closed) alone.
    A store built before the index gets it when a server starts, without a rebuild."""
    store = RollupStore(make_writer_engine(db_url))
    name = "ix_ru_fact_hbin_hours"

    def indexed() -> dict[str, Any]:
        return {str(ix["name"]): ix for ix in inspect(store.engine).get_indexes("ru_fact")}

    postgres = store.engine.dialect.name == "postgresql"
    assert (name in indexed()) is postgres
    if postgres:
        assert indexed()[name]["column_names"] == ["hbin", "hours"]
        assert set(indexed()[name]["dialect_options"]["postgresql_include"]) == {
            "clo",
            "town",
            "cat",
            "dept",
            "src",
        }
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        RollupStore(store.engine)  # a server starting on a store built before the index
        assert name in indexed()
    store.engine.dispose()
