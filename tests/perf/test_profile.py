"""The bench's sampled profiles: py-spy's collapsed stacks aggregated into shares, and a real recording."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dashboard.perf import profile
from dashboard.perf.profile import Frame, aggregate, parse_collapsed, parse_frame, profiling

RAW = """\
Thread._bootstrap (threading.py:988);Thread._bootstrap_inner (threading.py:1028);Thread.run (threading.py:971);Refresher._run (dashboard/service/refresher.py:85);build_snapshot (dashboard/source/queries/snapshot.py:119);CursorFetchStrategy.fetchone (sqlalchemy/engine/cursor.py:1277) 6
Thread._bootstrap (threading.py:988);Thread._bootstrap_inner (threading.py:1028);Thread.run (threading.py:971);Refresher._run (dashboard/service/refresher.py:85);build_snapshot (dashboard/source/queries/snapshot.py:119) 2
Thread._bootstrap (threading.py:988);WSGIRequestHandler.handle (werkzeug/serving.py:360);Flask.wsgi_app (flask/app.py:1479);snapshot (dashboard/web/api.py:60);walk (dashboard/x.py:5);walk (dashboard/x.py:5) 2
py-spy> Wrote raw flamegraph data
"""


def test_a_frame_names_its_function_file_and_first_line() -> None:
    assert parse_frame("Boards.board.<locals>.<lambda> (dashboard/service/boards.py:125)") == Frame(
        "Boards.board.<locals>.<lambda>", "dashboard/service/boards.py", 125
    )
    assert parse_frame("<native>") == Frame("<native>", "", 0)
    full = parse_frame("run (/venv/lib/python3.12/site-packages/gunicorn/workers/gthread.py:200)")
    assert full.file == "gunicorn/workers/gthread.py"


def test_collapsed_stacks_become_cumulative_and_own_shares() -> None:
    stacks = list(parse_collapsed(RAW.splitlines()))
    assert [count for _frames, count in stacks] == [6, 2, 2]  # py-spy's own lines are skipped
    found = aggregate(stacks)
    assert found["samples"] == 10
    rows = {r["function"]: r for r in found["top"]}
    assert rows["Refresher._run"]["share"] == 0.8 and rows["Refresher._run"]["own"] == 0.0
    assert rows["build_snapshot"] == {
        "function": "build_snapshot",
        "file": "dashboard/source/queries/snapshot.py",
        "line": 119,
        "share": 0.8,
        "own": 0.2,
    }
    assert rows["CursorFetchStrategy.fetchone"]["own"] == 0.6
    assert rows["walk"]["share"] == 0.2 and rows["walk"]["own"] == 0.2  # recursion counted once
    # Thread start-up, the server's handler loop and Flask's dispatch are in every stack: left out.
    assert not {"Thread._bootstrap", "Thread.run", "WSGIRequestHandler.handle", "Flask.wsgi_app"} & set(rows)
    assert [r["share"] for r in found["top"]] == sorted((r["share"] for r in found["top"]), reverse=True)


def test_a_scaffolding_frame_with_real_own_time_is_kept() -> None:
    stacks = [([Frame("Thread.run", "threading.py", 971)], 5), ([Frame("work", "dashboard/x.py", 1)], 5)]
    assert {r["function"] for r in aggregate(stacks)["top"]} == {"Thread.run", "work"}


def test_the_top_is_cut_at_its_length() -> None:
    stacks = [([Frame(f"f{i}", "dashboard/x.py", i)], 1) for i in range(40)]
    assert len(aggregate(stacks, top=25)["top"]) == 25


def test_without_py_spy_the_profile_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile, "py_spy", lambda: None)
    with profiling([1], rate=100) as found:
        pass
    assert found["tool"] == "py-spy" and "not installed" in found["error"]
    with profiling([1], rate=0) as off:
        pass
    assert off == {"tool": "py-spy", "error": "off (--profile-rate 0)"}


def test_a_process_that_is_gone_gives_an_error_not_an_exception() -> None:
    if profile.py_spy() is None:
        pytest.skip("py-spy is not installed")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with profiling([gone.pid], rate=100) as found:
        time.sleep(0.5)
    assert found["tool"] == "py-spy" and "error" in found, found


def test_a_busy_process_is_profiled() -> None:
    if profile.py_spy() is None:
        pytest.skip("py-spy is not installed")
    code = "def spin():\n    while True:\n        sum(range(10000))\nspin()\n"
    busy = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.3)
        with profiling([busy.pid], rate=100) as found:
            time.sleep(1.5)
    finally:
        busy.kill()
        busy.wait()
    if "error" in found and "ptrace" in found["error"].lower():
        pytest.skip(f"py-spy cannot attach here: {found['error']}")
    assert "error" not in found, found
    assert found["samples"] > 20 and found["seconds"] > 1 and found["profiler_cpu_s"] >= 0
    assert found["top"][0]["function"] == "spin" and found["top"][0]["share"] > 0.9
