"""Sampled profiles of the served processes while a load level runs (py-spy, from outside the process).

:class:`Profiler` starts one ``py-spy record`` per server process (each gunicorn worker, or the
development server) when a level begins, stops them with SIGINT when it ends, and reads their collapsed
stacks (``--format raw``: one line per distinct stack, ``outer;…;leaf count``). :func:`aggregate` turns
them into the report's profile: for each function, the share of samples whose stack holds it
(cumulative) and the share where it is the leaf (own time), the top ones first.

How it samples, and why:

* ``--nonblocking``: the process is not paused for each sample (a pause would add to the latencies
  being measured); a stack read while it changes is rarely wrong, which a profile of thousands of
  samples absorbs.
* idle threads are left out (py-spy's default, no ``--idle``): a thread waiting on a socket, a lock or
  ``select`` is not counted, so the shares are shares of on-CPU time (and of time in a database call
  that holds the thread, which py-spy sees as active).
* ``--function``: frames are told apart by their function's first line, not the line running, so one
  function is one entry; its ``line`` is where it is defined.
* every thread counts; the shares are of all samples of all the level's processes together.

py-spy costs CPU of its own (it reads the target's memory at the rate): :class:`Profiler` reports it
as ``profiler_cpu_s`` (the py-spy processes' user and system time) beside the profile. When py-spy is
missing or cannot attach (no ptrace permission), the profile is ``{"tool": "py-spy", "error": …}`` and
the bench carries on.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOOL = "py-spy"
TOP = 25
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_COUNT = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")

# The outermost frames every request runs under (thread start, the servers' accept and handler loops,
# the entry points): a share near 100 % that says nothing. Kept when their own time is not trivial.
SCAFFOLD_FILES = (
    "threading.py",
    "concurrent/futures/thread.py",
    "socketserver.py",
    "runpy.py",
    "gunicorn/arbiter.py",
    "gunicorn/app/base.py",
    "gunicorn/app/wsgiapp.py",
    "gunicorn/workers/base.py",
    "gunicorn/__main__.py",
)
SCAFFOLD_FUNCTIONS = {  # and the request dispatch every answer passes through, down to the view
    "gunicorn/workers/gthread.py": {"run", "handle", "handle_request", "process_request", "finish_request"},
    "http/server.py": {"handle", "handle_one_request"},
    "werkzeug/serving.py": {"handle", "serve_forever", "run_simple", "run_wsgi", "execute"},
    "dashboard/perf/server.py": {"serve_dev"},
    "flask/app.py": {"run", "__call__", "wsgi_app", "full_dispatch_request", "dispatch_request"},
}
SCAFFOLD_OWN_MAX = 0.02  # a loop frame with more own time than this is shown all the same


@dataclass(frozen=True)
class Frame:
    """One frame of a collapsed stack: the function, its file as py-spy shortens it, its first line."""

    function: str
    file: str
    line: int


def parse_frame(text: str) -> Frame:
    """``Class.method (package/module.py:42)`` → Frame; a frame without a file keeps its text as name."""
    m = _FRAME.match(text.strip())
    if m is None:
        return Frame(text.strip(), "", 0)
    return Frame(m.group("function"), relative_file(m.group("file")), int(m.group("line") or 0))


def relative_file(path: str) -> str:
    """A file relative to site-packages or the repository (py-spy shortens most already)."""
    if "/site-packages/" in path:
        return path.rsplit("/site-packages/", 1)[1]
    root = str(Path(__file__).resolve().parents[2]) + "/"
    return path[len(root) :] if path.startswith(root) else path


def parse_collapsed(lines: Iterable[str]) -> Iterator[tuple[list[Frame], int]]:
    """The (frames outermost first, count) of each line of py-spy's raw output; other lines skipped."""
    for raw in lines:
        m = _COUNT.match(raw.strip())
        if m is None or not m.group("stack"):
            continue
        yield [parse_frame(f) for f in m.group("stack").split(";")], int(m.group("count"))


def is_scaffold(frame: Frame) -> bool:
    """Is ``frame`` one of the outermost frames every sample runs under (see SCAFFOLD_FILES)?"""
    if frame.function.endswith("<module>") or frame.file.endswith(SCAFFOLD_FILES):
        return True
    name = frame.function.rsplit(".", 1)[-1]
    return any(frame.file.endswith(f) and name in names for f, names in SCAFFOLD_FUNCTIONS.items())


def aggregate(stacks: Iterable[tuple[list[Frame], int]], top: int = TOP) -> dict[str, Any]:
    """``samples`` and the ``top`` functions by share: {function, file, line, share, own}, where share is
    the fraction of samples whose stack holds the function (counted once under recursion) and own the
    fraction where it is the leaf. Scaffolding frames with trivial own time are left out."""
    total = 0
    inclusive: dict[Frame, int] = {}
    leaf: dict[Frame, int] = {}
    for frames, count in stacks:
        if not frames:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + count
    shown = [f for f in inclusive if not (is_scaffold(f) and leaf.get(f, 0) / total < SCAFFOLD_OWN_MAX)]
    shown.sort(key=lambda f: (-inclusive[f], -leaf.get(f, 0), f.function, f.file))
    rows = [
        {
            "function": f.function,
            "file": f.file,
            "line": f.line,
            "share": round(inclusive[f] / total, 4),
            "own": round(leaf.get(f, 0) / total, 4),
        }
        for f in shown[:top]
    ]
    return {"samples": total, "top": rows}


def py_spy() -> str | None:
    """The py-spy executable beside this Python, else on PATH; None when it is not installed."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """One ``py-spy record`` per process of ``pids``, from :meth:`start` to :meth:`stop`."""

    def __init__(self, pids: Sequence[int], rate: int) -> None:
        self.pids = list(pids)
        self.rate = rate
        self.dir = Path(tempfile.mkdtemp(prefix="xsbench-pyspy-"))
        self.procs: list[tuple[int, subprocess.Popen[bytes], Path]] = []  # (target pid, py-spy, output)
        self.started = 0.0
        self.error: str | None = None

    def start(self) -> None:
        exe = py_spy()
        if exe is None:
            self.error = "py-spy is not installed (pip install py-spy, the dev extra)"
            return
        for pid in self.pids:
            out = self.dir / f"{pid}.txt"
            cmd = [exe, "record", "--format", "raw", "--rate", str(self.rate), "--function", "--nonblocking",
                   "--pid", str(pid), "--output", str(out)]  # fmt: skip
            with open(self.dir / f"{pid}.err", "wb") as err:  # a file: a pipe nobody reads could fill
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            self.procs.append((pid, proc, out))
        self.started = time.perf_counter()

    def stop(self) -> dict[str, Any]:
        """Stop every py-spy (SIGINT: it writes its file), read and aggregate: the level's profile."""
        try:
            return self._stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _stop(self) -> dict[str, Any]:
        if self.error:
            return {"tool": TOOL, "error": self.error}
        seconds = time.perf_counter() - self.started
        cpu = 0.0
        failures: list[str] = []
        stacks: list[tuple[list[Frame], int]] = []
        for pid, proc, out in self.procs:
            status, used = _interrupt(proc)
            cpu += used
            if not out.exists():
                err = (self.dir / f"{pid}.err").read_text(encoding="utf-8", errors="replace")
                failures.append(f"pid {pid}: py-spy exited {status}: {_last_line(err)}")
                continue
            stacks.extend(parse_collapsed(out.read_text(encoding="utf-8", errors="replace").splitlines()))
        if not stacks and failures:
            return {"tool": TOOL, "error": "; ".join(failures)[:500]}
        found = aggregate(stacks)
        return {
            "tool": TOOL,
            "seconds": round(seconds, 2),
            "samples": found["samples"],
            "top": found["top"],
            "rate_hz": self.rate,
            "processes": len(self.procs) - len(failures),
            # py-spy's own CPU (user + system): what profiling took from the 2 cores during the level
            "profiler_cpu_s": round(cpu, 3),
            **({"errors": failures} if failures else {}),
        }


def _interrupt(proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    """SIGINT ``proc`` (py-spy then writes its output), reap it: (exit status, CPU seconds it used).

    os.kill and os.wait4 rather than Popen's methods: those reap the process by waitpid first, and its
    resource usage (the profiler's CPU) would be lost. Unreaped, its pid cannot be reused meanwhile."""
    os.kill(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def _last_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1][:200] if lines else "no message"


@contextmanager
def profiling(pids: Sequence[int], rate: int) -> Iterator[dict[str, Any]]:
    """Profile ``pids`` for the duration of the ``with`` block; the profile is put into the yielded dict
    on exit (``rate`` 0: ``{"tool": "py-spy", "error": "off (--profile-rate 0)"}``). Never raises for
    the profiler's sake: a failure becomes the profile's ``error``."""
    result: dict[str, Any] = {}
    if rate <= 0:
        yield result
        result.update({"tool": TOOL, "error": "off (--profile-rate 0)"})
        return
    profiler = Profiler(pids, rate)
    try:
        profiler.start()
    except Exception as exc:
        profiler.error = f"could not start: {type(exc).__name__}: {exc}"[:300]
    try:
        yield result
    finally:
        try:
            result.update(profiler.stop())
        except Exception as exc:
            result.update({"tool": TOOL, "error": f"{type(exc).__name__}: {exc}"[:300]})
