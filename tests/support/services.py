"""What this machine offers the tests: database servers, Redis and programs, and fresh databases on them.

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
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from dashboard.core.settings import Settings, load_settings

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


def settings_on(database_url: str, tmp: Path, **settings: Any) -> Settings:
    """Settings (none from the environment) on ``database_url``, with their own state store and cache
    in ``tmp``; ``settings``: the others."""
    return load_settings(
        env={},
        DATABASE_URL=database_url,
        STATE_URL=f"sqlite:///{tmp / 'state.db'}",
        CACHE_DIR=str(tmp / "cache"),
        **settings,
    )


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
