"""An import brings the dashboard's rollups up to date by itself: after a backfill of new events (ids above
the watermarks) and after a rewrite of existing event rows (updates that log no action), the fast path
gives exactly the direct figures, and the tiers equal a full rebuild's.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.cli import main
from dashboard.core.viewstate import ViewState
from dashboard.rollups.read import build_snapshot_fast, eligible
from dashboard.rollups.store import RollupStore, store_url, update_rollups
from dashboard.sample.seed import seed_database
from dashboard.source import schema
from dashboard.source.engines import make_source_engine, make_writer_engine
from dashboard.source.queries.snapshot import build_snapshot
from tests.rollups.test_rollups import _tiers, differences, figures

T0 = dt.datetime(2026, 11, 18, 1, 30, tzinfo=dt.UTC)
MOMENT = T0 + dt.timedelta(minutes=5)  # after every row, so the fast path answers
GUALI = "330109113"
VIEWS = (
    ViewState(),
    ViewState(period="year"),
    ViewState(period="week", towns=(GUALI,)),
    ViewState(period="quarter", categories=("MARKET", "FIRE")),
)
COLUMNS = ("event_no", "title", "category_l1", "source", "priority", "grid_code", "status", "reported_at",
           "accepted_at", "dispatched_at", "dispatch_dept_code", "closed_at", "deadline_at")  # fmt: skip


def _events(url: str, limit: int, *, open_only: bool = False) -> list[dict[str, Any]]:
    e = schema.event
    engine = make_writer_engine(url)
    query = select(*(e.c[c] for c in COLUMNS)).order_by(e.c.event_id.desc()).limit(limit)
    if open_only:
        query = query.where(e.c.closed_at.is_(None), e.c.rejected_at.is_(None), e.c.accepted_at.is_not(None))
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for row in rows:
            out.writerow(["" if row[c] is None else (row[c].isoformat() if isinstance(row[c], dt.datetime)
                          else row[c]) for c in COLUMNS])  # fmt: skip
    return path


def _assert_fast_equals_direct(url: str, state_url: str) -> None:
    source = make_source_engine(url)
    store = RollupStore(make_writer_engine(store_url(state_url)))
    try:
        with source.connect() as conn:
            for view in VIEWS:
                assert eligible(view, MOMENT, store.meta()), view
                diff = differences(
                    figures(build_snapshot(conn, view, MOMENT)),
                    figures(build_snapshot_fast(conn, store, view, MOMENT)),
                )
                assert not diff, f"{view}: {diff[:10]}"
    finally:
        source.dispose()
        store.engine.dispose()


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    seed_database(url, days=30, scale=0.03, patrol_days=1, now=T0, progress=False)
    assert update_rollups(url, state_url).rebuilt
    monkeypatch.delenv("DASHBOARD_ROLLUPS", raising=False)  # the default: on
    return url, state_url


def test_an_import_brings_the_rollups_up_to_date(
    seeded: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, state_url = seeded
    base = ["import", "--database-url", url, "--state-url", state_url, "--no-progress", "--table", "event"]

    # A backfill: events reported days ago, imported now (new rows, ids above the watermark).
    backfill = _events(url, 40)
    for i, row in enumerate(backfill):
        row["event_no"] = f"BF{i:06d}"
        for col in ("reported_at", "accepted_at", "dispatched_at", "closed_at", "deadline_at"):
            if row[col] is not None:
                row[col] -= dt.timedelta(days=3)
    assert main([*base, str(_write_csv(tmp_path / "backfill.csv", backfill))]) == 0
    out = capsys.readouterr().out
    assert "40 inserted" in out and "rollups brought up to date:" in out  # (and a margin of recent ones)
    _assert_fast_equals_direct(url, state_url)

    # A rewrite: open events closed, moved to another grid (town) and recategorised, without actions.
    rewrite = _events(url, 25, open_only=True)
    assert len(rewrite) >= 10
    other_grid = _events(url, 1000)[-1]["grid_code"]
    for i, row in enumerate(rewrite):
        row["closed_at"] = T0 - dt.timedelta(minutes=i + 1)
        row["status"] = "CLOSED"
        row["category_l1"] = "MARKET" if i % 2 else "FIRE"
        if i % 3 == 0:
            row["grid_code"] = other_grid
    assert main([*base, str(_write_csv(tmp_path / "rewrite.csv", rewrite))]) == 0
    out = capsys.readouterr().out
    assert f"{len(rewrite)} updated" in out and "rollups brought up to date" in out
    _assert_fast_equals_direct(url, state_url)

    store = RollupStore(make_writer_engine(store_url(state_url)))
    incremental = _tiers(store)
    assert update_rollups(url, state_url, rebuild=True).rebuilt
    assert _tiers(store) == incremental  # the increments added up to what a rebuild finds
    store.engine.dispose()


def test_an_import_leaves_the_rollups_alone_when_told_or_dry(
    seeded: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, state_url = seeded
    rows = _events(url, 3)
    for i, row in enumerate(rows):
        row["event_no"] = f"NR{i:06d}"
    path = _write_csv(tmp_path / "few.csv", rows)
    base = ["import", "--database-url", url, "--no-progress", "--table", "event"]
    assert main([*base, "--state-url", state_url, "--dry-run", str(path)]) == 0
    assert "rollups" not in capsys.readouterr().out
    assert main([*base, "--state-url", state_url, "--no-rollups", str(path)]) == 0
    assert "rollups" not in capsys.readouterr().out
    # Another database than the dashboard's source, and no --state-url: its rollups are not this one's.
    store = RollupStore(make_writer_engine(store_url(state_url)))
    before = store.meta()
    store.engine.dispose()
    assert main([*base, str(path)]) == 0
    assert "rollups" not in capsys.readouterr().out
    store = RollupStore(make_writer_engine(store_url(state_url)))
    assert store.meta() == before
    store.engine.dispose()
