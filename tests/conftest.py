"""Shared fixtures: a fresh database on each backend, and seeded districts.

Helpers live in :mod:`tests.support` and are imported from there (``from tests.support.x import y``);
this file holds only fixtures, and one hook that gives pytest-xdist the groups of tests that share a
worker (tests/support/xdist_groups.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.receivers import Inbox, smtp_server
from tests.support.services import BACKENDS, make_empty_database
from tests.support.xdist_groups import group_scheduler


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent without pytest-xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    return group_scheduler(config, log)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database on each of SQLite, PostgreSQL and MariaDB (the test runs three times)."""
    yield from make_empty_database(backend, tmp_path_factory)


@pytest.fixture
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty SQLite database file."""
    yield from make_empty_database("sqlite", tmp_path_factory)


@pytest.fixture(scope="session")
def district(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small seeded district (14 days, a tenth of the volume) for whole-app tests (fuzzing, security).

    Test modules with hand-built data define their own ``district`` fixture, which takes precedence.
    """
    from dashboard.sample.seed import seed_database

    url = f"sqlite:///{tmp_path_factory.mktemp('trust-district') / 'district.db'}"
    seed_database(url, days=14, scale=0.1, progress=False, force=True)
    return url


@pytest.fixture(scope="module")
def pg_district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh PostgreSQL database with a small district ending now (dropped afterwards)."""
    from dashboard.sample.seed import seed_database

    for url in make_empty_database("postgresql", tmp_path_factory):
        seed_database(url, days=14, scale=0.1, patrol_days=1, progress=False)
        yield url


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    """A real SMTP server (aiosmtpd) on a free local port: its smtp:// URL and what it received."""
    yield from smtp_server()
