"""The servers' garbage collector: a larger young generation, and what is alive when tuned frozen. Their
allocator: big buffers mapped on their own, whatever was freed before."""

from __future__ import annotations

import ctypes
import gc
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from dashboard.core.runtime import (
    SWITCH_SECONDS,
    YOUNG_THRESHOLD,
    collector_as_in_servers,
    tune_allocator,
    tune_collector,
    tune_thread_switching,
)


@pytest.fixture
def collector() -> Iterator[None]:
    """Puts the test process's collector back as it was."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_tuning_collects_young_objects_less_often_and_freezes_the_built_process() -> None:
    gc.unfreeze()
    _, middle, oldest = gc.get_threshold()
    kept = [[i] for i in range(1_000)]  # alive when the process is "built"
    tune_collector()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, oldest)
    assert gc.get_freeze_count() >= len(kept)


@pytest.mark.usefixtures("collector")
def test_the_benchmarks_setting_is_the_servers_and_ends_with_its_block() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    with collector_as_in_servers():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_servers_hand_the_gil_over_sooner() -> None:
    """A request's thread back from Redis waits for the GIL behind a thread drawing a board: at most
    1 ms at a time in the servers, not Python's 5."""
    before = sys.getswitchinterval()
    try:
        tune_thread_switching()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_SECONDS) and before > SWITCH_SECONDS
    finally:
        sys.setswitchinterval(before)


# Run in a fresh interpreter: a long-lived test process (an xdist worker after hundreds of tests) has freed
# big blocks already, which raised glibc's trim threshold with its mmap threshold, so a heap's free top can
# serve the next big buffer whatever the mmap threshold is. A server tunes the allocator at its start.
_BIG_BUFFERS = """
import ctypes, sys
from dashboard.core.runtime import tune_allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    assert tune_allocator()
size = 2 << 20
mapped = []
for _ in range(3):
    before = mallinfo2().hblkhd
    buffer = bytearray(size)
    mapped.append(mallinfo2().hblkhd >= before + size)  # in a block mapped on its own
    del buffer
print(sum(mapped))
"""


def _big_buffers_mapped(mode: str) -> int:
    """How many of three 2 MiB buffers, each freed before the next, glibc mapped on their own."""
    try:
        ctypes.CDLL(None).mallinfo2  # noqa: B018
    except (OSError, AttributeError):
        pytest.skip("not glibc 2.33 or later")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", _BIG_BUFFERS, mode], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_big_buffers_stay_mapped_on_their_own_after_one_was_freed() -> None:
    # Untuned, the first free raises the threshold past 2 MiB: the next buffers are carved from a heap.
    assert _big_buffers_mapped("untuned") == 1
    assert _big_buffers_mapped("tuned") == 3


def test_the_operators_own_threshold_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert not tune_allocator()
