"""``python -m dashboard screenshots --conditions``: its arguments and the moments it stages.

The gallery run itself (seed, three servers, a surge waited for in real time: about six minutes) is
not a test; see the README's "Screenshots".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dashboard.cli import build_parser, main
from dashboard.cli import screenshots as cli
from dashboard.perf import conditions
from dashboard.perf.conditions import HALL_TZ, Plan, first_of, night_of


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["screenshots", *argv])


def test_night_is_0130_on_the_3rd_and_first_is_0900_on_the_1st() -> None:
    night = night_of(None, dt.date(2026, 12, 17))
    assert night == dt.datetime(2026, 12, 3, 1, 30, tzinfo=HALL_TZ)
    assert first_of(night) == dt.datetime(2026, 12, 1, 9, 0, tzinfo=HALL_TZ)
    assert night_of("2027-02", dt.date(2026, 12, 17)) == dt.datetime(2027, 2, 3, 1, 30, tzinfo=HALL_TZ)


def test_conditions_arguments_make_a_plan_with_their_defaults() -> None:
    plan = cli.conditions_plan(parse("--conditions", "--month", "2026-11"), dt.date(2026, 12, 3))
    assert plan.night.isoformat() == "2026-11-03T01:30:00+08:00"
    assert plan.first.isoformat() == "2026-11-01T09:00:00+08:00"
    assert plan.out == cli.CONDITIONS_DIR and plan.out.parts[-2:] == ("screens", "conditions")
    assert (plan.days, plan.scale, plan.keep_png) == (400, 0.15, False)
    other = cli.conditions_plan(
        parse("--conditions", "--out", "/tmp/x", "--days", "60", "--scale", "0.05", "--keep-png"),
        dt.date(2026, 12, 3),
    )
    assert (other.out, other.days, other.scale, other.keep_png) == (Path("/tmp/x"), 60, 0.05, True)
    assert other.night.isoformat() == "2026-12-03T01:30:00+08:00"


@pytest.mark.parametrize(
    "argv",
    [("--month", "2026-13"), ("--month", "december"), ("--days", "10"), ("--scale", "0")],
)
def test_bad_conditions_arguments_exit_2_before_any_work(
    argv: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "take_conditions", lambda plan: pytest.fail("no run on bad arguments"))
    assert main(["screenshots", "--conditions", *argv]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_conditions_run_reports_its_failures(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen: list[Plan] = []

    def fake(plan: Plan) -> tuple[int, list[str]]:
        seen.append(plan)
        return 10, ["surge-wall: no surge alert within 330 s (taken anyway)"]

    monkeypatch.setattr(cli, "take_conditions", fake)
    assert main(["screenshots", "--conditions", "--out", str(tmp_path)]) == 1
    assert seen and seen[0].out == tmp_path
    out = capsys.readouterr().out
    assert f"10 screenshots in {tmp_path}" in out and "failed: surge-wall" in out


def test_without_conditions_the_running_dashboard_is_photographed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[str, Path]] = []
    monkeypatch.setattr(cli, "take_conditions", lambda plan: pytest.fail("not asked for"))
    monkeypatch.setattr(
        cli, "take_screenshots", lambda base, out, which, **kw: calls.append((base, out)) or (1, [])
    )
    assert main(["screenshots", "--only", "wall-overview"]) == 0
    assert calls == [("http://127.0.0.1:8050", cli.DATA_DIR / "screens")]


def test_every_condition_of_the_issue_has_a_shot() -> None:
    names = {s.name for s in conditions.ALL_SHOTS}
    for word in ("night", "first-of-month", "outage", "stopped", "surge", "one-town", "english", "phone"):
        assert any(word in n for n in names), word
    phones = [s for s in conditions.ALL_SHOTS if s.mobile]
    assert phones and all(s.size[:2] == (390, 844) and s.thumb_width < 960 for s in phones)


def test_the_feed_serve_starts_runs_on_the_served_clock_at_the_seeded_volume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dashboard.cli import serve
    from dashboard.core.clock import StartedClock, SystemClock
    from dashboard.core.settings import load_settings

    started: list[list[str]] = []

    class FakePopen:
        def __init__(self, cmd: list[str]) -> None:
            started.append(cmd)

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(serve.subprocess, "Popen", FakePopen)
    settings = load_settings({})
    night = dt.datetime(2026, 12, 3, 1, 30, tzinfo=HALL_TZ)
    serve.start_feed(settings, StartedClock(night), 0.15)
    serve.start_feed(settings, SystemClock())
    with_clock, plain = started
    at = dt.datetime.fromisoformat(with_clock[with_clock.index("--start-at") + 1])
    assert night <= at < night + dt.timedelta(seconds=5)
    assert with_clock[with_clock.index("--rate") + 1] == "0.15"
    assert "--start-at" not in plain and "--rate" not in plain
    args = build_parser().parse_args(["serve", "--start-at", "2026-12-03T01:30+08:00", "--feed-rate", "0.15"])
    assert (args.start_at, args.feed_rate) == ("2026-12-03T01:30+08:00", 0.15)


def test_serve_refuses_a_start_without_an_offset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--start-at", "2026-12-03T01:30"]) == 2
    assert "offset" in capsys.readouterr().err
