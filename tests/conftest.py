"""Shared fixtures: a fresh database on each backend, and guards for servers and tools.

Tests that need PostgreSQL, MariaDB, Redis, Chromium or LibreOffice skip with a reason on a machine
without them, and fail instead when CI=true (CI must never pass by skipping).
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from functools import cache

import pytest
from sqlalchemy import create_engine, text

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_URL = os.environ.get("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

BACKENDS = ("sqlite", "postgresql", "mysql")


def need(available: bool, what: str) -> None:
    """Skip (or fail under CI) when a server or tool is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} is not available on this machine")


@cache
def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def need_tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"the program {name!r}")
    assert path is not None
    return path


def need_redis() -> str:
    need(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    return REDIS_URL


def _with_database(admin_url: str, name: str) -> str:
    base, _, query = admin_url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_empty_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield the URL of a brand-new empty database on ``backend`` and drop it afterwards."""
    name = f"dash_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / (name + '.db')}"
        return
    if backend == "postgresql":
        need(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        quote = '"'
    else:
        need(port_open("127.0.0.1", 3306), "MariaDB on 127.0.0.1:3306")
        admin = create_engine(MYSQL_ADMIN_URL, isolation_level="AUTOCOMMIT")
        quote = "`"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    try:
        yield _with_database(PG_ADMIN_URL if backend == "postgresql" else MYSQL_ADMIN_URL, name)
    finally:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


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
    from dashboard.seed import seed_database

    url = f"sqlite:///{tmp_path_factory.mktemp('trust-district') / 'district.db'}"
    seed_database(url, days=14, scale=0.1, progress=False, force=True)
    return url
