"""Section firststart: a fresh clone's ``make run``, timed until it serves its first page.

The issue's target: "A fresh clone's ``make run``, including seeding and rollups, serves its first page
within 5 minutes on the 2-core VM." :func:`measure_firststart` runs what ``make run`` runs (``python -m
dashboard serve --seed-if-missing --with-feed``) with the settings of a fresh clone (every
``DASHBOARD_*`` variable of the caller's environment dropped), except that its data (the SQLite sample,
the state store with the rollups, the on-disk cache, the briefings) go to an empty temporary directory
under the bench's data directory and it listens on a free port. It times:

* ``seconds_to_health``: from the command's start until ``/health`` answers 200;
* ``seconds_to_page``: until the wall (``/wall``) answers 200 *and* its board, the update request the
  wall page sends first (``/_dash-update-component``), answers 200: what a person opening the wall sees;
* ``phases``: from the lines the command prints (:func:`parse_phases`): start-up before the seed, the
  seed, the rollups build and each of its phases, the app's start until it listens, then listening
  until ``/health`` and ``/health`` until the page;
* ``rollups_on``: the state store holds finished rollups and no view was logged as answered by the
  direct queries.

The server (its process group: the feed is its child) is then stopped by its PID and the temporary data
deleted. It costs minutes of CPU (the sample's seed and rollups), so only the full mode runs it by
default (``--sections firststart`` runs it in any mode).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from dashboard.perf.client import fetch, send
from dashboard.perf.config import Config, say
from dashboard.perf.load import screen_update_targets
from dashboard.perf.server import free_port, stop_process_group

LIMIT_S = 300  # the target: the first page within 5 minutes
TIMEOUT_S = 1800.0  # give up after this long (a busy machine can take several times the target)
COMMAND = ("-m", "dashboard", "serve", "--seed-if-missing", "--with-feed")  # the Makefile's `run`

# The lines `serve` prints on a first start (dashboard/cli/serve.py, the rollups' build log).
_SEED_START = re.compile(r"seeding it now")
_SEED_END = re.compile(r"seeded in ([\d.]+) s")
_ROLLUPS_START = re.compile(r"Building the rollups")
_ROLLUPS_END = re.compile(r"rollups (?:built|brought up to date): .* in ([\d.]+) s")
_ROLLUP_PHASE = re.compile(r"rollup build: (.+?) in ([\d.]+) s")
_SERVING = re.compile(r"Dashboard \(staff\):")
_EVENTS = re.compile(r"\bevent ([\d,]+)")
_DIRECT = re.compile(r"view (.+?) answered by the direct queries")
_PROGRESS = re.compile(r"\[[# .]*\]\s+\d+%")  # a progress bar redrawn in place: not kept


def parse_phases(lines: Sequence[tuple[float, str]]) -> dict[str, Any]:
    """What the output of a first start says: ``lines`` are (seconds since the start, text).

    Returns ``phases`` (seconds: ``start_s`` until the seed begins, ``seed_s``, ``rollups_s`` and each
    ``rollups_<phase>_s`` of its build log, ``app_s`` from the rollups built to the server listening),
    ``events`` (the seed's event rows, None when it did not seed), ``serving_at`` (when the server
    printed its addresses) and ``direct_views`` (views logged as answered by the direct queries)."""
    marks: dict[str, float] = {}
    phases: dict[str, float] = {}
    events: int | None = None
    direct: list[str] = []
    for at, text in lines:
        if _SEED_START.search(text):
            marks.setdefault("seed_start", at)
        elif m := _SEED_END.search(text):
            marks.setdefault("seed_end", at)
            phases.setdefault("seed_reported_s", float(m.group(1)))
            if found := _EVENTS.search(text):
                events = int(found.group(1).replace(",", ""))
        elif _ROLLUPS_START.search(text):
            marks.setdefault("rollups_start", at)
        elif m := _ROLLUP_PHASE.search(text):
            phases[f"rollups_{m.group(1).strip().replace(' ', '_')}_s"] = float(m.group(2))
        elif m := _ROLLUPS_END.search(text):
            marks.setdefault("rollups_end", at)
            phases.setdefault("rollups_reported_s", float(m.group(1)))
        elif _SERVING.search(text):
            marks.setdefault("serving", at)
        elif m := _DIRECT.search(text):
            direct.append(m.group(1))
    first = min((marks[k] for k in ("seed_start", "rollups_start", "serving") if k in marks), default=None)
    if first is not None:
        phases["start_s"] = round(first, 2)
    if "seed_start" in marks and "seed_end" in marks:
        phases["seed_s"] = round(marks["seed_end"] - marks["seed_start"], 2)
    if "rollups_start" in marks and "rollups_end" in marks:
        phases["rollups_s"] = round(marks["rollups_end"] - marks["rollups_start"], 2)
    if "serving" in marks:
        ready = max((marks[k] for k in ("seed_end", "rollups_end") if k in marks), default=first or 0.0)
        phases["app_s"] = round(marks["serving"] - ready, 2)
    return {
        "phases": _in_order(phases),
        "events": events,
        "serving_at": marks.get("serving"),
        "direct_views": direct,
    }


def _in_order(phases: dict[str, float]) -> dict[str, float]:
    """The phases in the order they happen: the seed, the rollups and each of their phases, the app."""
    first = ("start_s", "seed_s", "seed_reported_s", "rollups_s", "rollups_reported_s")
    rank = {k: i for i, k in enumerate(first)}
    return dict(sorted(phases.items(), key=lambda kv: rank.get(kv[0], len(first) + (kv[0] == "app_s"))))


class OutputLog:
    """The lines a child process prints, each with the seconds since ``started``, read in a thread."""

    def __init__(self, stream: IO[bytes], started: float) -> None:
        self.lines: list[tuple[float, str]] = []
        self.started = started
        self._stream = stream
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        pending = b""
        while chunk := os.read(self._stream.fileno(), 65536):
            *complete, pending = re.split(rb"[\r\n]", pending + chunk)
            at = time.perf_counter() - self.started
            kept = [(at, t) for t in (c.decode("utf-8", "replace").strip() for c in complete) if t]
            with self._lock:
                self.lines.extend((a, t) for a, t in kept if not _PROGRESS.search(t))

    def snapshot(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self.lines)

    def close(self) -> None:
        self._thread.join(timeout=5)
        self._stream.close()


def fresh_clone_env(data: Path, port: int) -> dict[str, str]:
    """The environment of ``make run`` on a fresh clone, its data under ``data``, on ``port``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHBOARD_")}
    env.update(
        {
            "DASHBOARD_DATABASE_URL": f"sqlite:///{data / 'xiaoshan.db'}",
            "DASHBOARD_STATE_URL": f"sqlite:///{data / 'state.db'}",
            "DASHBOARD_CACHE_DIR": str(data / "cache"),
            "DASHBOARD_BRIEFINGS_DIR": str(data / "briefings"),
            "DASHBOARD_HOST": "127.0.0.1",
            "DASHBOARD_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def measure_firststart(cfg: Config) -> dict[str, Any]:
    """Run ``make run``'s command on empty data until its wall shows a board; stop it, delete its data."""
    from dashboard.rollups.store import rollups_built

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="firststart-", dir=cfg.data_dir))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"command": "python " + " ".join(COMMAND), "limit_s": LIMIT_S,
                           "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    say(cfg, f"  first start of make run on empty data ({data.name}), up to {TIMEOUT_S:.0f} s …")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *COMMAND],
        env=fresh_clone_env(data, port),
        cwd=Path(__file__).resolve().parents[2],  # the repository, as `make run`
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the server and its feed, stopped together
    )
    assert proc.stdout is not None
    log = OutputLog(proc.stdout, started)
    try:
        out.update(_wait_for_page(base, proc, started))
        out["server_cpu_s"] = round(server_cpu_seconds(proc.pid), 2)
        parsed = parse_phases(log.snapshot())
        out["events"] = parsed["events"]
        out["rollups_on"] = rollups_built(f"sqlite:///{data / 'state.db'}") and not parsed["direct_views"]
        if parsed["direct_views"]:
            out["direct_views"] = parsed["direct_views"][:10]
        phases = parsed["phases"]
        if parsed["serving_at"] is not None and "seconds_to_health" in out:
            phases["listen_s"] = round(out["seconds_to_health"] - parsed["serving_at"], 2)
        if "seconds_to_page" in out and "seconds_to_health" in out:
            phases["page_s"] = round(out["seconds_to_page"] - out["seconds_to_health"], 2)
        out["phases"] = phases
        if "error" in out:
            out["output_tail"] = [text for _at, text in log.snapshot()[-15:]]
    finally:
        stop_process_group(proc, signal.SIGTERM, grace=20)  # our own child, by its PID (its group)
        log.close()
        shutil.rmtree(data, ignore_errors=True)
    page = out.get("seconds_to_page")
    say(cfg, f"  first start: /health after {out.get('seconds_to_health', '–')} s, the wall's board after "
             f"{page if page is not None else '–'} s (target {LIMIT_S} s), rollups on: {out.get('rollups_on')}")  # fmt: skip
    return out


def server_cpu_seconds(pid: int) -> float:
    """The CPU seconds of the server ``pid`` and of its children it has waited for: the seed's event
    workers (forked, then reaped) count, the feed (still running) does not."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14 to 17 of proc(5), after the command's parenthesis
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _wait_for_page(base: str, proc: subprocess.Popen[bytes], started: float) -> dict[str, Any]:
    """Poll ``/health`` until 200, then open the wall and its board: the seconds of each, or an error."""
    out: dict[str, Any] = {}
    deadline = started + TIMEOUT_S
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            return {**out, "error": f"make run exited with {proc.returncode} before serving its page"}
        status: int | str = "no answer"
        with contextlib.suppress(OSError):
            status, _body = fetch(base + "/health", timeout=10)
        if status == 200:
            out["seconds_to_health"] = round(time.perf_counter() - started, 2)
            break
        time.sleep(0.5)
    else:
        return {"error": f"/health did not answer 200 within {TIMEOUT_S:.0f} s"}
    status, _body = fetch(base + "/wall", timeout=300)
    out["wall_status"] = status
    out["seconds_to_shell"] = round(time.perf_counter() - started, 2)
    walls, _pages = screen_update_targets(base)
    board = next((t for t in walls if t.label.endswith(":district")), walls[0] if walls else None)
    if board is None:
        return {**out, "error": "the wall has no update request in /_dash-dependencies"}
    answer = send(base, board, None, timeout=max(60.0, deadline - time.perf_counter()))
    out["board_status"] = answer.status
    if status == 200 and answer.status == 200:
        out["seconds_to_page"] = round(time.perf_counter() - started, 2)
    else:
        out["error"] = f"/wall answered {status}, its board {answer.status}"
    return out
