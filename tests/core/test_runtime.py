"""The servers' garbage collector: a larger young generation, and what is alive when tuned frozen. Their
allocator: big buffers mapped on their own, whatever was freed before."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator

import pytest

from dashboard.core.runtime import YOUNG_THRESHOLD, collector_as_in_servers, tune_allocator, tune_collector


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


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")
    ]  # fmt: skip


def _mapped_bytes() -> int:
    """Bytes glibc holds in blocks mapped on their own (``mallinfo2().hblkhd``)."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        pytest.skip("not glibc 2.33 or later")
    mallinfo2.restype = _MallInfo2
    return int(mallinfo2().hblkhd)


def test_big_buffers_stay_mapped_on_their_own_after_one_was_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    _mapped_bytes()  # skips off glibc
    assert tune_allocator()
    size = 2 << 20
    for _ in range(3):  # untuned, the first free raises the threshold past 2 MiB: the next ones are in a heap
        before = _mapped_bytes()
        buffer = bytearray(size)
        assert _mapped_bytes() >= before + size
        del buffer


def test_the_operators_own_threshold_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert not tune_allocator()
