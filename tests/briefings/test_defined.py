"""The stored definitions drive the scheduler: precedence over the settings' default, each definition
sent to its own recipients (named webhooks, mail through the relay), made once however many definitions
share it, the scheduler started by a server only when briefings are defined; ``briefing define`` audited;
a briefing's deck names itself."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard.briefings import defined
from dashboard.briefings.archive import deck_title, run_briefing
from dashboard.briefings.defined import jobs, one_pass, scheduler_wanted, start_in_background
from dashboard.briefings.deliver import channels_from_settings, webhook_names
from dashboard.cli import main
from dashboard.core.scope import DISTRICT
from dashboard.core.settings import Settings, load_settings
from dashboard.service.briefing_defs import BriefingDefs
from dashboard.service.cache import init_cache
from dashboard.service.state import StateStore, audit_log
from tests.briefings.test_briefings import FakeExport
from tests.briefings.test_schedule import FakeMake
from tests.support.factories import TOWN_A, sh

NOW = dt.datetime(2026, 11, 30, 1, tzinfo=dt.UTC)  # Monday 09:00 local: last week's briefings are due
HOOKS = "hall=dingtalk:https://oapi.dingtalk.com/robot/send?access_token=SECRET,json:http://127.0.0.1:9/in"


def settings_for(tmp_path: Path, **values: str) -> Settings:
    base = {
        "STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "CACHE_DIR": str(tmp_path / "cache"),
        "BRIEFINGS_DIR": str(tmp_path / "archive"),
        "BRIEFING_SMTP": "smtp://user:pw@127.0.0.1:2525",
        "BRIEFING_MAIL_TO": "all@hall.example",
        "BRIEFING_WEBHOOKS": HOOKS,
    }
    return load_settings(env={}, **(base | values))


def test_named_webhooks_and_unnamed_ones_named_by_their_kind() -> None:
    assert webhook_names(HOOKS) == ["hall", "json"]
    hall = channels_from_settings("", "", HOOKS)[0]
    assert hall.kind == "dingtalk" and hall.target.endswith("SECRET") and "SECRET" not in hall.name


def test_stored_definitions_win_over_the_settings_default(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, BRIEFINGS="week,month", BRIEFING_TOWNS=f"district;{TOWN_A}")
    default = jobs([], settings)
    assert [(j.kind, j.towns) for j in default] == [
        ("week", ()), ("week", (TOWN_A,)), ("month", ()), ("month", (TOWN_A,))
    ]  # fmt: skip
    assert all(len(j.channels) == 3 and j.source == "settings" for j in default)  # mail + both hooks
    state = StateStore(settings.STATE_URL)
    book = BriefingDefs(state)
    made = book.add("week", [TOWN_A], "en", "town@hall.example", ["hall"], "admin", NOW)
    (job,) = jobs(book.all(), settings)
    assert (job.kind, job.towns, job.lang, job.source) == ("week", (TOWN_A,), "en", f"#{made.id}")
    assert [c.kind for c in job.channels] == ["smtp", "dingtalk"]
    assert job.channels[0].recipients == ("town@hall.example",)
    state.dispose()


def test_a_pass_makes_each_briefing_once_and_sends_each_definition_its_own(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    state = StateStore(settings.STATE_URL)
    book = BriefingDefs(state)
    book.add("week", [TOWN_A], "zh", "a@hall.example", [], "admin", NOW)
    book.add("week", [TOWN_A], "zh", "", ["hall"], "admin", NOW)  # the same briefing, another recipient
    book.add("month", [], "zh", "", [], "admin", NOW)  # archive only
    make, sent = FakeMake(), []

    def send(manifest: Path, channels: list[Any], **_: Any) -> dict[str, dict[str, Any]]:
        sent.append((manifest.name, [c.name for c in channels]))
        return {c.name: {"ok": True} for c in channels}

    cache = init_cache(settings)
    args: dict[str, Any] = {"locks": cache, "scope": DISTRICT, "make": make, "send": send}
    root = Path(settings.BRIEFINGS_DIR)
    made, _ = one_pass(None, None, root, jobs(book.all(), settings), "08:00", NOW, **args)
    assert sorted((r[0], r[1]) for r in make.runs) == [("month", ()), ("week", (TOWN_A,))]  # made once
    assert [m.kind for m in made] == ["month", "week"] or len(made) == 2
    assert sorted(sent) == [
        (f"{TOWN_A}-zh.json", ["dingtalk:oapi.dingtalk.com"]),
        (f"{TOWN_A}-zh.json", ["smtp:127.0.0.1:a@hall.example"]),
    ]
    files = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    again, _ = one_pass(None, None, root, jobs(book.all(), settings), "08:00", NOW, **args)
    assert again == [] and len(make.runs) == 2  # a rerun makes nothing
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == files
    state.dispose()


def test_the_scheduler_starts_only_when_briefings_are_defined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not scheduler_wanted("auto", 0, "")
    assert scheduler_wanted("auto", 1, "") and scheduler_wanted("auto", 0, "week")
    assert not scheduler_wanted("off", 3, "week") and scheduler_wanted("on", 0, "")
    with pytest.raises(ValueError, match="DASHBOARD_BRIEFING_SCHEDULER"):
        scheduler_wanted("sometimes", 0, "")

    class Service:
        state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
        cache = init_cache(settings_for(tmp_path))

    settings = settings_for(tmp_path)
    assert start_in_background(Service(), None, settings, lambda: NOW) is None  # nothing defined
    BriefingDefs(Service.state).add("week", [], "zh", "", [], "admin", NOW)
    off = settings_for(tmp_path, BRIEFING_SCHEDULER="off")
    assert start_in_background(Service(), None, off, lambda: NOW) is None
    ran = threading.Event()
    monkeypatch.setattr(defined, "scheduled_pass", lambda *a, **k: lambda: ran.set() or [])
    scheduler = start_in_background(Service(), None, settings, lambda: NOW)
    try:
        assert scheduler is not None
        assert {j.id for j in scheduler.get_jobs()} >= {"briefing-week", "briefing-quarter"}
        assert ran.wait(10)  # the missed-runs pass, at start
        time.sleep(0.2)  # APScheduler removes its one-off job after the run
    finally:
        scheduler.shutdown(wait=True)
    Service.state.dispose()


def test_the_define_command_lists_adds_updates_deletes_with_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in (("BRIEFING_WEBHOOKS", HOOKS), ("BRIEFINGS", "")):
        monkeypatch.setenv(f"DASHBOARD_{name}", value)
    url = ["--state-url", f"sqlite:///{tmp_path / 'state.db'}"]
    assert main(["briefing", "define", *url, "list"]) == 0
    assert "the scheduler makes none" in capsys.readouterr().out
    assert main(["briefing", "define", "add", "--kind", "周汇总", "--town", "城厢街道", "--mail", "a@hall.example",
                 "--webhook", "hall", *url]) == 0  # fmt: skip
    assert (
        "defined: #1 周汇总 城厢街道 (330109001) zh → a@hall.example, webhook hall" in capsys.readouterr().out
    )
    assert main(["briefing", "define", "add", "--kind", "week", "--webhook", "nowhere", *url]) == 2
    assert main(["briefing", "define", "update", "1", "--district", "--lang", "en", *url]) == 0
    assert main(["briefing", "define", "update", "9", "--lang", "en", *url]) == 1
    capsys.readouterr()
    assert main(["briefing", "define", "list", "--json", *url]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["scope"] == "district" and listed["lang"] == "en" and listed["webhooks"] == ["hall"]
    assert main(["briefing", "define", "delete", "1", *url]) == 0
    state = StateStore(url[1])
    with state.engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    assert [r.action for r in rows] == [
        "briefing_define_add",
        "briefing_define_update",
        "briefing_define_delete",
    ]
    assert all(r.actor.startswith("cli:") and "SECRET" not in (r.detail or "") for r in rows)
    state.dispose()


def test_a_briefing_deck_names_itself() -> None:
    first = dt.date(2026, 11, 23)
    assert deck_title("week", first, ("330109113",), "zh") == "瓜沥镇 周汇总 2026年第48周"
    assert deck_title("week", first, ("330109113",), "en") == "Guali Zhen weekly summary, week 48 2026"
    assert deck_title("quarter", dt.date(2026, 10, 1), (), "zh") == "萧山区 季评估 2026年第4季度"
    assert (
        deck_title("month", dt.date(2026, 11, 1), (), "en")
        == "Xiaoshan District monthly analysis, November 2026"
    )


def test_the_run_hands_the_title_to_the_export(tmp_path: Path) -> None:
    titles: list[str] = []

    class Titled(FakeExport):
        def __call__(
            self, service: Any, geojson_for: Any, view: Any, fmt: str, **kw: Any
        ) -> tuple[bytes, str, str]:
            titles.append(kw["title"])
            return super().__call__(service, geojson_for, view, fmt)

    run_briefing(None, None, tmp_path, kind="week", towns=("330109113",), now=sh(2026, 11, 30, 8), scope=DISTRICT,
                 export=Titled())  # fmt: skip
    assert titles == ["瓜沥镇 周汇总 2026年第48周"] * 2


def test_the_title_slide_carries_the_briefing_title() -> None:
    from dashboard.core.viewstate import ViewState
    from dashboard.export.pptx import deck_context, new_presentation, title_slide
    from tests.support.fakes import fake_snapshot

    view = ViewState(towns=("330109113",), period="week")
    snapshot = fake_snapshot(view, sh(2026, 11, 30), "v1", 1.0)
    for title, wanted in (
        (None, "萧山区一张网"),
        ("瓜沥镇 周汇总 2026年第48周", "瓜沥镇 周汇总 2026年第48周"),
    ):
        prs = new_presentation()
        title_slide(prs, deck_context(snapshot, view, title=title))
        texts = " ".join(s.text_frame.text for s in prs.slides[0].shapes if s.has_text_frame)
        assert wanted in texts
