"""Briefings: the period each kind covers across week, month, quarter and year boundaries; the archive
made once per kind, period, scope and language; town users see only their towns' briefings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from pptx import Presentation

from dashboard.briefings.archive import list_archive, run_briefing
from dashboard.briefings.kinds import briefing_view, covered, kind_of, period_key, period_label
from dashboard.cli import main
from dashboard.core.scope import DISTRICT, Scope
from dashboard.core.viewstate import ViewState
from tests.support.factories import sh

D = dt.date


@pytest.mark.parametrize(
    ("kind", "now", "first", "last", "key"),
    [
        ("day", sh(2026, 12, 3, 8), D(2026, 12, 2), D(2026, 12, 2), "2026-12-02"),
        ("day", sh(2027, 1, 1, 0, 0), D(2026, 12, 31), D(2026, 12, 31), "2026-12-31"),  # midnight: yesterday
        ("week", sh(2026, 11, 30, 8), D(2026, 11, 23), D(2026, 11, 29), "2026-W48"),  # Monday 08:00
        ("week", sh(2026, 11, 29, 23, 59), D(2026, 11, 16), D(2026, 11, 22), "2026-W47"),  # still Sunday
        ("week", sh(2027, 1, 4, 8), D(2026, 12, 28), D(2027, 1, 3), "2026-W53"),  # ISO week across the year
        ("month", sh(2026, 12, 1, 8), D(2026, 11, 1), D(2026, 11, 30), "2026-11"),
        ("month", sh(2027, 1, 1, 8), D(2026, 12, 1), D(2026, 12, 31), "2026-12"),
        ("quarter", sh(2027, 1, 1, 8), D(2026, 10, 1), D(2026, 12, 31), "2026-Q4"),
        ("quarter", sh(2026, 12, 31, 23), D(2026, 7, 1), D(2026, 9, 30), "2026-Q3"),  # Q4 not over yet
    ],
)
def test_each_kind_covers_the_last_whole_period(
    kind: str, now: dt.datetime, first: D, last: D, key: str
) -> None:
    assert covered(kind, now) == (first, last)
    assert period_key(kind, first) == key


def test_the_view_is_the_period_as_it_stood_at_its_end() -> None:
    view = briefing_view("week", D(2026, 11, 23), ("330109113",), "en")
    assert view.period == "week" and view.towns == ("330109113",) and view.lang == "en"
    assert view.as_of == sh(2026, 11, 30) - dt.timedelta(microseconds=1)  # Sunday 23:59:59.999999 local
    assert (
        period_label("week", D(2026, 11, 23), D(2026, 11, 29), "zh") == "2026年第48周（11月23日至11月29日）"
    )
    assert period_label("quarter", D(2026, 10, 1), D(2026, 12, 31), "en") == "Q4 2026"
    assert kind_of("季评估").key == "quarter"
    with pytest.raises(ValueError, match="kind: 'fortnight'"):
        kind_of("fortnight")


class FakeExport:
    """Counts the exports asked for and answers bytes naming the view."""

    def __init__(self) -> None:
        self.views: list[tuple[ViewState, str]] = []

    def __call__(
        self, service: Any, geojson_for: Any, view: ViewState, fmt: str, **_: Any
    ) -> tuple[bytes, str, str]:
        self.views.append((view, fmt))
        return f"{fmt}:{view.towns}:{view.as_of}".encode(), f"x.{fmt}", "application/octet-stream"


def test_a_rerun_changes_nothing_and_a_town_user_sees_only_their_towns(tmp_path: Path) -> None:
    export = FakeExport()
    monday = sh(2026, 11, 30, 8)
    args: dict[str, Any] = {"now": monday, "scope": DISTRICT, "export": export}
    first, made = run_briefing(None, None, tmp_path, kind="week", towns=("330109113",), **args)
    assert made and first.files == ("330109113-zh.pptx", "330109113-zh.pdf") and len(export.views) == 2
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again, made_again = run_briefing(None, None, tmp_path, kind="周汇总", towns=("330109113",), **args)
    assert not made_again and again == first and len(export.views) == 2  # nothing exported twice
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == files
    run_briefing(None, None, tmp_path, kind="week", **args)  # the district's
    # A town user asking for the district gets their own towns (the scope narrows the view).
    town_user = Scope(frozenset({"330109001"}))
    narrowed, _ = run_briefing(None, None, tmp_path, kind="week", now=monday, scope=town_user, export=export)
    assert narrowed.scope == "330109001"
    assert [e.scope for e in list_archive(tmp_path)] == ["district", "330109113", "330109001"]
    assert [e.scope for e in list_archive(tmp_path, towns={"330109113"})] == ["330109113"]
    assert list_archive(tmp_path, kind="month") == []


def test_the_command_line_makes_a_real_deck_once(
    district: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The shared district is seeded up to now: last week is in it. State and cache stay out of the checkout.
    monkeypatch.setenv("DASHBOARD_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("DASHBOARD_CACHE_DIR", str(tmp_path / "cache"))
    base = [
        "briefing",
        "run",
        "--kind",
        "week",
        "--town",
        "城厢街道",
        "--formats",
        "pptx",
        "--out",
        str(tmp_path),
    ]
    assert main([*base, "--database-url", district]) == 0
    assert "made: 城厢街道 周汇总 " in capsys.readouterr().out  # the briefing names its scope
    (deck,) = (tmp_path / "week").rglob("*.pptx")
    (manifest,) = (tmp_path / "week").rglob("*.json")
    summary = json.loads(manifest.read_text(encoding="utf-8"))["summary"]
    # The deck's 要点 as text, for the messages.
    assert summary[0][0] == "核心指标" and summary[0][1][0].startswith("上报量 ")
    slides = Presentation(str(deck)).slides
    titles = [
        next(s.text_frame.text for s in slide.shapes if s.has_text_frame and s.text_frame.text.strip())
        for slide in slides
    ]
    assert titles[1] == "要点" and len(titles) <= 12
    assert (
        titles[0].startswith("城厢街道 周汇总 ") and "周" in titles[0]
    )  # the title slide names the briefing
    assert main([*base, "--database-url", district]) == 0
    assert "already in the archive" in capsys.readouterr().out
    assert main(["briefing", "list", "--out", str(tmp_path)]) == 0
    assert "330109001" in capsys.readouterr().out
    assert main(["briefing", "run", "--kind", "fortnight", "--out", str(tmp_path)]) == 2
    assert "kind: 'fortnight'" in capsys.readouterr().err
