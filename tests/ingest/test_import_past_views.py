"""An import that backfills the past is seen by a view of a past moment that was already open, also after
a restart: settled past views are cached under the import epoch, which every import bumps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dashboard.cli import main
from dashboard.core.clock import FixedClock
from dashboard.core.scope import DISTRICT
from dashboard.core.settings import load_settings
from dashboard.core.viewstate import ViewState
from dashboard.service.cache import init_cache
from dashboard.service.snapshots import SnapshotService
from dashboard.service.state import StateStore
from dashboard.source.engines import init_db, make_source_engine
from tests.support import factories as f
from tests.support.factories import sh

NOW = sh(2026, 12, 3, 9, 0)
PAST = ViewState(period="month", as_of=sh(2026, 11, 20, 9, 0))  # November as it stood on the 20th


def _service(source: str, state: str, cache: Path, now: dt.datetime = NOW) -> SnapshotService:
    """A fresh process: its own engines, the shared cache directory and state store."""
    settings = load_settings(
        env={}, DATABASE_URL=source, STATE_URL=state, CACHE_DIR=str(cache), ROLLUPS="off"
    )
    return SnapshotService(
        make_source_engine(source),
        StateStore(state),
        init_cache(settings),
        FixedClock(now),
        refresh_seconds=settings.REFRESH_SECONDS,
        background=False,
    )


def _found(service: SnapshotService) -> float | None:
    result = service.snapshot(PAST, DISTRICT)
    assert result.snapshot is not None and not result.stale, result.error
    return result.snapshot.kpis["hazard_rectification_rate"].detail["found"]


def test_a_backfill_before_an_open_past_view_is_seen_even_after_a_restart(tmp_path: Path) -> None:
    source, state = f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'state.db'}"
    engine = init_db(source)
    with engine.begin() as conn:
        f.add_units(conn)
        f.add_inspection(conn, f.TOWN_A, sh(2026, 11, 5, 10), 4, 4)
    engine.dispose()
    first = _service(source, state, tmp_path / "cache")
    assert _found(first) == 4
    assert first.snapshot(PAST, DISTRICT).computed_at is not None

    backfill = tmp_path / "安全检查.csv"
    backfill.write_text(
        f"检查单位,所属网格,检查时间,发现隐患,已整改隐患\n补录五金厂,{f.GRID_A1_1},2026-11-12 15:00,6,5\n",
        encoding="utf-8",
    )
    args = ["import", "--database-url", source, "--state-url", state, "--no-rollups", "--no-progress"]
    assert main([*args, str(backfill)]) == 0

    # A restarted process over the same cache, which still holds the view's old entry, sees the backfill
    # once the shared epoch read has expired (half a refresh) ...
    later = NOW + dt.timedelta(seconds=first.refresh_seconds)
    restarted = _service(source, state, tmp_path / "cache", later)
    assert _found(restarted) == 10
    # ... and so does the process that had the view open.
    first.clock = FixedClock(later)
    assert _found(first) == 10
    # A re-import of the same file writes nothing: the epoch stays, the cached view is served as it is.
    epoch = StateStore(state).import_epoch()
    assert main([*args, str(backfill)]) == 0
    assert StateStore(state).import_epoch() == epoch == 1


def test_health_keeps_the_data_age_after_an_import_of_events_without_actions(tmp_path: Path) -> None:
    """/health names every stream's newest row; reports imported without a single action row still give
    the data an age, also when the streams' verdicts cannot be made."""
    fixtures = Path(__file__).parent / "fixtures"
    source, state = f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'state.db'}"
    init_db(source).dispose()
    refs = [fixtures / "admin_units.csv", fixtures / "departments.csv", fixtures / "grids_gb18030.csv"]
    args = ["import", "--database-url", source, "--state-url", state, "--no-progress"]
    assert main([*args, *map(str, refs), str(fixtures / "events_zh.csv")]) == 0
    service = _service(source, state, tmp_path / "cache", sh(2026, 11, 28, 14, 0))
    health = service.health()["source"]
    newest = {s["stream"]: s["newest"] for s in health["streams"]}
    assert newest["actions"] is None and newest["events"] is not None
    assert health["newest_data_at"] == newest["events"]  # the newest report, at or before now
    assert (
        health["newest_data_age_seconds"]
        == (sh(2026, 11, 28, 14) - dt.datetime.fromisoformat(newest["events"])).total_seconds()
    )
    service.freshness.streams = lambda: None  # type: ignore[method-assign]  # verdicts not made
    assert service.health()["source"]["newest_data_at"] == newest["events"]
