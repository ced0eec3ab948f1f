"""Rollups are the default: on without any setting, built by ``make run``'s first start before it serves,
and a view they cannot answer yet is answered by the direct queries with one log line, not one per request.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any

import pytest

from dashboard.core.settings import load_settings
from dashboard.core.viewstate import ViewState
from dashboard.perf.datasets import data_end
from dashboard.rollups.builder import FastBuilder, direct_reason
from dashboard.rollups.read import eligible
from dashboard.rollups.store import rollups_built, store_url
from dashboard.rollups.tables import LAYOUT
from dashboard.service.factory import rollup_builder
from dashboard.service.state import StateStore
from dashboard.source.engines import make_source_engine
from tests.rollups.test_rollups import differences, figures

BUILDER_LOG = "dashboard.rollups.builder"


def test_rollups_are_on_by_default_and_off_still_works(tmp_path: Path) -> None:
    settings = load_settings({}, STATE_URL=f"sqlite:///{tmp_path / 'state.db'}")
    assert settings.ROLLUPS == "on"
    state = StateStore(settings.STATE_URL)
    source = make_source_engine(f"sqlite:///{tmp_path / 'unused.db'}")
    assert isinstance(rollup_builder(settings, state, source), FastBuilder)
    off = load_settings({"DASHBOARD_ROLLUPS": "off"}, STATE_URL=settings.STATE_URL)
    assert rollup_builder(off, state, source) is None  # the direct queries, to check one against the other
    # On SQLite the rollups live beside the state store, not in it (their build holds the write lock).
    assert store_url(settings.STATE_URL) == f"sqlite:///{tmp_path / 'state.rollups.db'}"
    assert store_url("postgresql://u@h/state") == "postgresql://u@h/state"
    source.dispose()
    state.dispose()


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == BUILDER_LOG and "direct queries" in r.getMessage()
    ]


def test_a_view_not_ready_is_answered_directly_with_one_log_line(
    district: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings({}, STATE_URL=f"sqlite:///{tmp_path / 'state.db'}")
    source = make_source_engine(district)
    state = StateStore(settings.STATE_URL)
    builder = rollup_builder(settings, state, source)
    assert isinstance(builder, FastBuilder)
    now = data_end(district)
    town = ViewState(towns=("330109113",), period="week")
    caplog.set_level(logging.INFO, logger=BUILDER_LOG)
    with monkeypatch.context() as m:  # hold the background build back: the rollups stay "not ready"
        m.setattr(FastBuilder, "_build_in_background", lambda self: None)
        with source.connect() as conn:
            early = [figures(builder(conn, town, now)) for _ in range(5)]  # a screen polling
    lines = _lines(caplog)
    assert len(lines) == 1, lines
    assert "town=330109113" in lines[0] and "not built yet" in lines[0]
    builder._build()  # the build the first request would have started
    assert builder.store.meta() is not None and eligible(town, now, builder.store.meta())
    caplog.clear()
    past = ViewState(as_of=now - dt.timedelta(days=2))
    with source.connect() as conn:
        ready = figures(builder(conn, town, now))
        for _ in range(3):
            builder(conn, past, now)
    assert not differences(early[0], ready)  # the direct answer was the same answer
    assert not _lines(caplog)  # once built, every view (an as-of one too) takes the fast path
    source.dispose()
    state.dispose()


def test_direct_reason_names_why() -> None:
    now = dt.datetime(2026, 11, 18, 1, 30, tzinfo=dt.UTC)

    class Meta:
        odd = 0
        layout = LAYOUT
        max_ts = int((now + dt.timedelta(days=1)).timestamp() * 1_000_000)  # rows after now: corrected

    assert direct_reason(ViewState(), now, None) is not None
    assert direct_reason(ViewState(as_of=now - dt.timedelta(days=2)), now, Meta()) is None
    Meta.layout = LAYOUT - 1
    assert "layout" in (direct_reason(ViewState(), now, Meta()) or "")
    Meta.odd = 2
    assert "deadlines" in (direct_reason(ViewState(), now, Meta()) or "")


class _FakeApp:
    """Stands in for the Dash app: records that serving began, and what the rollups were by then."""

    def __init__(self, state_url: str, calls: list[bool]) -> None:
        self.state_url, self.calls = state_url, calls

    def run(self, **_kwargs: Any) -> None:
        self.calls.append(rollups_built(self.state_url))


def test_make_run_first_start_builds_the_rollups_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``serve --seed-if-missing`` on a fresh data directory: seed, rollups with progress, then serve."""
    import dashboard.sample.seed as seed_module
    import dashboard.web.app as app_module
    from dashboard.cli import build_parser, main

    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    for name, value in {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'xiaoshan.db'}",
        "STATE_URL": state_url,
        "CACHE_DIR": str(tmp_path / "cache"),
        "CACHE_URL": "",
    }.items():
        monkeypatch.setenv(f"DASHBOARD_{name}", value)
    monkeypatch.delenv("DASHBOARD_ROLLUPS", raising=False)
    build_parser()  # import every command now: `seed` binds seed_database at import, and must keep the real one
    tiny = functools.partial(seed_module.seed_database, days=5, scale=0.02, patrol_days=1)
    monkeypatch.setattr(seed_module, "seed_database", lambda url, **kw: tiny(url, **kw, progress=False))
    served: list[bool] = []
    monkeypatch.setattr(app_module, "create_app", lambda settings, **kw: _FakeApp(state_url, served))
    monkeypatch.setattr(app_module, "start_briefings", lambda _app: None)  # no briefings in this sample

    assert main(["serve", "--seed-if-missing"]) == 0
    out = capsys.readouterr()
    assert served == [True]  # the rollups were complete when serving began
    assert "seeding it now" in out.out and "Building the rollups" in out.out
    assert "rollups built:" in out.out and "汇总 rollups: tiers" in out.err  # the progress bars

    assert main(["serve", "--seed-if-missing"]) == 0  # a later start: a quick catch-up, no build
    out = capsys.readouterr()
    assert served == [True, True]
    assert "seeding" not in out.out and "Building" not in out.out
    assert "rollups brought up to date" in out.out


def test_a_new_seed_under_the_rollups_is_noticed_and_rebuilt(tmp_path: Path) -> None:
    """``seed --force`` replaces the source; the next sync must not add the new rows to the old tiers."""
    from dashboard.rollups.store import update_rollups
    from dashboard.sample.seed import seed_database

    url, state_url = f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'state.db'}"
    t0 = dt.datetime(2026, 11, 18, 1, 30, tzinfo=dt.UTC)
    seed_database(url, days=3, scale=0.02, patrol_days=0, now=t0, progress=False)
    assert update_rollups(url, state_url).rebuilt
    assert not update_rollups(url, state_url).rebuilt  # nothing changed: an increment
    seed_database(
        url, days=3, scale=0.02, patrol_days=0, now=t0 + dt.timedelta(hours=5), progress=False, force=True
    )
    assert update_rollups(url, state_url).rebuilt
