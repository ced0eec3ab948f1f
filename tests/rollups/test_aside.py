"""The month tier summed aside on SQLite (``dashboard/rollups/aside.py``): the same rows as summed in line,
its scratch files gone afterwards (and those a killed build left), and a failure on its thread fails the
build with nothing committed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from dashboard.rollups import build
from dashboard.rollups.aside import MonthAside
from dashboard.rollups.store import RollupStore
from dashboard.rollups.tables import PK_NAMES, ru_agg, ru_fact, ru_month
from dashboard.sample.seed import seed_database
from dashboard.source.engines import make_source_engine, make_writer_engine

T0 = dt.datetime(2026, 11, 18, 1, 30, tzinfo=dt.UTC)  # 09:30 in Shanghai, a Wednesday


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('aside') / 'district.db'}"
    seed_database(url, days=20, scale=0.02, patrol_days=1, now=T0, progress=False)  # October and November
    return url


def _sync(source_url: str, store: RollupStore) -> None:
    reader = make_source_engine(source_url)
    try:
        with reader.connect() as conn:
            assert store.sync(conn).rebuilt
    finally:
        reader.dispose()


def _store(path: Path) -> RollupStore:
    return RollupStore(make_writer_engine(f"sqlite:///{path}"))


def _rows(store: RollupStore) -> dict[tuple[Any, ...], tuple[float, ...]]:
    width = len(PK_NAMES)
    with store.engine.connect() as conn:
        return {tuple(r[:width]): tuple(float(x) for x in r[width:]) for r in conn.execute(select(ru_agg))}


def _scratch(folder: Path) -> list[Path]:
    return sorted(folder.glob("*-build*"))


def test_the_month_tier_summed_aside_equals_the_one_summed_in_line(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied: list[int] = []
    real_copy = MonthAside.copy_into

    def copy_into(self: MonthAside, *args: Any) -> None:
        copied.append(self.finished)
        real_copy(self, *args)

    monkeypatch.setattr(MonthAside, "copy_into", copy_into)
    aside_dir = tmp_path / "aside"
    aside_dir.mkdir()
    for name in ("rollups.db.month-build", "rollups.db.facts-build-journal"):  # a killed build's
        (aside_dir / name).write_bytes(b"not a database")
    aside = _store(aside_dir / "rollups.db")
    _sync(source, aside)
    assert copied, "the build on a SQLite file summed its month tier aside"
    assert _scratch(aside_dir) == []

    monkeypatch.setattr(build, "_month_aside", lambda conn: None)
    inline = _store(tmp_path / "inline.db")
    _sync(source, inline)
    got, want = _rows(aside), _rows(inline)
    assert got.keys() == want.keys()
    months = {key[3] for key in got if key[0] == "m" and key[1] == "rep"}
    assert len(months) == 2 and sum(1 for key in got if key[0] == "m") > 1000, months
    for key, sums in got.items():  # the sums of hours may differ in their last bits (another order)
        assert sums == pytest.approx(want[key], rel=1e-12), key
    for table in (ru_month, ru_fact):
        with aside.engine.connect() as a, inline.engine.connect() as b:
            assert a.execute(select(table)).all() == b.execute(select(table)).all(), table.name


def test_a_failure_on_the_month_thread_fails_the_build_with_nothing_committed(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = build._tier_inserts  # the build's statements: one of the month tier's made to fail

    def failing(tier: str) -> list[Any]:
        statements = real(tier)
        return [*statements[:3], text("INSERT INTO no_such_table VALUES (1)")] if tier == "m" else statements

    monkeypatch.setattr(build, "_tier_inserts", failing)
    store = _store(tmp_path / "rollups.db")
    with pytest.raises(RuntimeError, match="month tier") as failed:
        _sync(source, store)
    assert "no_such_table" in str(failed.value.__cause__)
    assert store.meta() is None
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ru_fact)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(ru_agg)).scalar() == 0
    assert _scratch(tmp_path) == []
