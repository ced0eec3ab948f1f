"""The alert tests' fixtures: settings on the surge district (:mod:`tests.support.surge`), a clock fixed
at its ``T0``, and the service made on them. A test module with its own ``settings`` or ``clock`` (as
test_service.py has) overrides these."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.core.clock import FixedClock
from dashboard.core.settings import Settings
from dashboard.service.factory import create_service
from dashboard.service.snapshots import SnapshotService
from tests.support.surge import T0, surge_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return surge_settings(tmp_path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def service(settings: Settings, clock: FixedClock) -> Iterator[SnapshotService]:
    made = create_service(settings, clock)
    yield made
    made.source_engine.dispose()
    made.state.dispose()
