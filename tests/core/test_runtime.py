"""The servers' garbage collector: a larger young generation, and what is alive when tuned frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from dashboard.core.runtime import YOUNG_THRESHOLD, collector_as_in_servers, tune_collector


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
