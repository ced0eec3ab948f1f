"""Faults under a running server and its clients: Redis cut, PostgreSQL cut, a statement timeout, bad files.

Every test runs ``python -m dashboard serve`` in a subprocess (tests/support/servers.py ``serve``) and polls
it from a few client threads the way screens do: ``/api/v1/snapshot`` and the pages' and the wall's
``/_dash-update-component`` requests (dashboard/soak.py builds them from ``/_dash-dependencies``).
Outages are made by cutting a test-controlled TCP proxy (tests/support/tcpproxy.py) between the server and
Redis or PostgreSQL, or by holding a table lock so that queries overrun the statement timeout; the
shared servers are never stopped. The wall's browser view of a PostgreSQL outage is in test_wall.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from dashboard.perf.client import Answer, Tally, Target, plan_targets, run_screens, send
from dashboard.source import schema
from dashboard.source.engines import init_db, make_source_engine, make_writer_engine
from tests.support.browser import GUALI, wait_for
from tests.support.factories import event_row
from tests.support.servers import REFRESH, Server, serve, server_warnings, via_proxy
from tests.support.services import make_empty_database, need, need_redis, port_open
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow


# A source failure is remembered for 5 s, the cache retries Redis after its own backoff, and two
# shared cores run the server, the clients and the database: generous bounds, behaviour asserted.
MARGIN = 20
VIEWS = ("", f"town={GUALI}")


# --- clients --------------------------------------------------------------------------------------------


@dataclass
class Seen:
    """Every answer the clients got, with the moment and the phase (before, cut, after)."""

    phase: str = "before"
    answers: list[tuple[str, str, Answer]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, target: Target, answer: Answer) -> None:
        with self._lock:
            self.answers.append((self.phase, target.label, answer))

    def failures(self) -> list[tuple[str, str, int | str]]:
        """Answers that were server errors or no answer at all (the 4xx of a bad request count too)."""
        with self._lock:
            return [(p, label, a.status) for p, label, a in self.answers if not a.ok]

    def in_phase(self, phase: str, kind: str = "") -> list[Answer]:
        with self._lock:
            return [a for p, label, a in self.answers if p == phase and label.startswith(kind)]

    def api_errors(self, phase: str) -> list[str | None]:
        """``meta.error`` of each API answer in ``phase``: None when the source answered (a stale answer
        without an error only means another thread was rebuilding the view)."""
        return [json.loads(a.body)["meta"]["error"] for a in self.in_phase(phase, "api:") if a.ok]


@contextmanager
def screens(server: Server, views: tuple[str, ...] = VIEWS, clients: int = 9) -> Iterator[Seen]:
    """``clients`` screens polling every second in a background thread (API, pages and the wall)."""
    targets = plan_targets(server.base, views)
    assert any(t.body is not None for t in targets) and any(t.body is None for t in targets)
    seen = Seen()
    stop = threading.Event()
    worker = threading.Thread(
        target=run_screens,
        args=(server.base, targets, clients, 3600.0, 1.0, Tally()),
        kwargs={"stop": stop, "on_answer": seen.add, "max_threads": clients},
        daemon=True,
    )
    worker.start()
    try:
        yield seen
    finally:
        stop.set()
        worker.join(timeout=120)


def api(server: Server, query: str = "") -> dict[str, Any]:
    answer = send(server.base, Target("api", f"/api/v1/snapshot?{query}"), timeout=120)
    assert answer.status == 200, (answer.status, answer.body[:300], server_warnings(server))
    return dict(json.loads(answer.body))


def health(server: Server) -> tuple[int | str, dict[str, Any]]:
    answer = send(server.base, Target("health", "/health"), timeout=30)
    return answer.status, json.loads(answer.body) if answer.body else {}


def fresh(server: Server, query: str = "", accept: Callable[[dict[str, Any]], bool] = lambda _s: True) -> Any:
    """Poll the API until it answers fresh (not stale) figures that ``accept`` likes; return them."""

    def ready() -> dict[str, Any] | None:
        snap = api(server, query)
        return snap if not snap["meta"]["stale"] and accept(snap) else None

    return wait_for(ready, timeout=60 + MARGIN, message=f"fresh figures for ?{query}")


def reported(snap: dict[str, Any]) -> int:
    return int(snap["kpis"]["reported"]["value"])


def assert_no_failures(seen: Seen, server: Server) -> None:
    for phase in ("before", "cut", "after"):  # printed with -s: what the clients saw
        answers = seen.in_phase(phase)
        statuses = sorted({str(a.status) for a in answers})
        stale = sum(a.stale for a in answers)
        failed = sum(e is not None for e in seen.api_errors(phase))
        print(
            f"[faults] {phase}: {len(answers)} answers, statuses {statuses}, {stale} stale, {failed} with an error"
        )
    failures = seen.failures()
    assert not failures, (failures[:10], server_warnings(server))
    for phase in ("before", "cut", "after"):
        assert seen.in_phase(phase, "api:"), f"the API clients polled {phase} the outage"
        assert [a for a in seen.in_phase(phase) if a.key is not None or a.status == 204] or phase == "cut", (
            f"page clients got renders {phase} the outage"
        )


# --- a. Redis cut ---------------------------------------------------------------------------------------


def drop_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=prefix + "*", count=500):
            client.delete(key)
    finally:
        client.close()


def cache_state(server: Server) -> dict[str, Any]:
    status, body = health(server)
    assert status == 200, (status, body)  # the source answers: cache trouble is "degraded", not down
    return dict(body["cache"], status=body["status"])


def test_redis_cut_under_a_running_server_falls_back_to_the_local_cache(
    district: str, tmp_path: Path
) -> None:
    redis_url = need_redis()
    db = redis_url.rsplit("/", 1)[1]
    prefix = f"xsdash:{hashlib.sha256(district.encode()).hexdigest()[:10]}:"  # create_service's prefix
    with (
        TcpProxy("127.0.0.1", 6379) as proxy,
        serve(
            district, tmp_path / "server", DASHBOARD_CACHE_URL=f"redis://127.0.0.1:{proxy.port}/{db}"
        ) as server,
    ):
        try:
            assert cache_state(server) == {"backend": "redis", "active": "redis", "ok": True, "degraded": False,
                                           "error": None, "status": "ok"}  # fmt: skip
            before = {q: fresh(server, q) for q in VIEWS}
            with screens(server) as seen:
                time.sleep(3 * REFRESH)
                seen.phase = "cut"
                proxy.cut()
                state = wait_for(
                    lambda: (s := cache_state(server))["degraded"] and s,
                    timeout=REFRESH + MARGIN,
                    message="/health reports the local cache",
                )
                assert state["active"] == "local" and state["status"] == "degraded" and state["ok"], state
                assert state["error"], "the reason is given"
                time.sleep(3 * REFRESH)  # screens keep polling on the local cache
                during = {q: api(server, q) for q in VIEWS}
                seen.phase = "after"
                proxy.restore()
                state = wait_for(
                    lambda: not (s := cache_state(server))["degraded"] and s,
                    timeout=REFRESH + MARGIN,
                    message="/health reports Redis again",
                )
                assert state["active"] == "redis" and state["status"] == "ok", state
                time.sleep(3 * REFRESH)
            for q in VIEWS:  # the source was up all along: the figures never went stale or blank
                assert reported(during[q]) == reported(before[q])
                assert during[q]["meta"]["error"] is None
            assert_no_failures(seen, server)
            assert not [e for e in seen.api_errors("cut") if e], "the source never failed"
        finally:
            drop_keys(redis_url, prefix)


def test_a_lock_stranded_in_redis_by_a_cut_is_released_when_redis_returns(tmp_path: Path) -> None:
    """A worker computing a key when Redis goes away cannot release its Redis lock. When Redis is back,
    other workers must not wait for that lock (up to its 120 s expiry) for a value nobody is computing."""
    from dashboard.core.settings import load_settings
    from dashboard.service.cache import init_cache

    redis_url = need_redis()
    prefix = f"xstest:{uuid.uuid4().hex[:10]}:"
    try:
        with TcpProxy("127.0.0.1", 6379) as proxy:
            cut_url = f"redis://127.0.0.1:{proxy.port}/{redis_url.rsplit('/', 1)[1]}"
            worker_a = init_cache(
                load_settings({}, CACHE_URL=cut_url, CACHE_DIR=str(tmp_path / "a")), key_prefix=prefix
            )
            worker_b = init_cache(
                load_settings({}, CACHE_URL=redis_url, CACHE_DIR=str(tmp_path / "b")), key_prefix=prefix
            )

            def compute_while_redis_goes_away() -> str:
                proxy.cut()
                return "computed by a"

            assert worker_a.single_flight("k", compute_while_redis_goes_away, ttl=60).computed
            assert worker_a.degraded
            proxy.restore()
            assert not worker_a.health()["degraded"]  # a's next use of Redis
            started = time.monotonic()
            flight = worker_b.single_flight("k", lambda: "computed by b", ttl=60, wait_seconds=15)
            assert flight.value == "computed by b" and time.monotonic() - started < 5
    finally:
        drop_keys(redis_url, prefix)


# --- b. PostgreSQL cut ------------------------------------------------------------------------------------


def add_reports(url: str, grid: str, n: int) -> None:
    """``n`` reports in ``grid`` over the last minutes, written straight to the source."""
    engine = make_writer_engine(url)
    now = dt.datetime.now(dt.UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                schema.event.insert(),
                [event_row(now - dt.timedelta(seconds=20 + 5 * i), grid=grid) for i in range(n)],
            )
    finally:
        engine.dispose()


def a_grid(url: str, town: str) -> str:
    engine = make_writer_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                select(schema.grid.c.grid_code).where(schema.grid.c.town_code == town).limit(1)
            )
            return str(found.scalar_one())
    finally:
        engine.dispose()


def stale_answer(server: Server, query: str, why: str) -> dict[str, Any]:
    """Poll until the API answers the last good figures marked stale because the source failed."""

    def ready() -> dict[str, Any] | None:
        snap = api(server, query)
        return snap if snap["meta"]["stale"] and snap["meta"]["error"] else None

    return dict(wait_for(ready, timeout=REFRESH + MARGIN, message=f"stale answer ({why}) for ?{query}"))


def assert_last_good(stale: dict[str, Any], good: dict[str, Any]) -> None:
    meta = stale["meta"]
    assert meta["stale"] is True and meta["age_seconds"] is not None and meta["age_seconds"] >= 0
    assert meta["computed_at"] is not None
    assert stale["data_version"] == good["data_version"], "the last good figures, not new ones"
    assert reported(stale) == reported(good)


def test_postgresql_cut_answers_the_last_good_marked_stale_and_recovers(
    pg_district: str, tmp_path: Path
) -> None:
    grid = a_grid(pg_district, GUALI)
    with (
        TcpProxy("127.0.0.1", 5432) as proxy,
        serve(via_proxy(pg_district, proxy.port), tmp_path / "srv") as server,
    ):
        good = {q: fresh(server, q) for q in VIEWS}
        with screens(server) as seen:
            time.sleep(3 * REFRESH)
            seen.phase = "cut"
            proxy.cut()
            for q in VIEWS:
                stale = stale_answer(server, q, "PostgreSQL cut")
                assert_last_good(stale, good[q])
            status, body = health(server)
            assert status == 503 and body["status"] == "down", body  # for the load balancer, by design
            add_reports(pg_district, grid, 7)  # the source goes on changing while the server cannot see it
            time.sleep(3 * REFRESH)
            assert api(server)["meta"]["stale"], "still the last good while the source is away"
            seen.phase = "after"
            proxy.restore()
            for q in VIEWS:  # no restart: the next refreshes pick the new rows up
                fresh(server, q, lambda s, q=q: reported(s) == reported(good[q]) + 7)
            assert health(server)[0] == 200
            time.sleep(3 * REFRESH)
        assert_no_failures(seen, server)
        assert [e for e in seen.api_errors("cut") if e], "API clients saw the last good marked stale"
        assert not [e for e in seen.api_errors("after")[-6:] if e], "and good figures again after"


# --- c. statement timeout ---------------------------------------------------------------------------------

TIMEOUT_MS = 2000
LOCKS = {
    # Held by the test in its own transaction: every query of the dashboard that reads ``grid`` waits for
    # it, and the database cancels the query at the statement timeout (lock waits count on both).
    "postgresql": ("LOCK TABLE grid IN ACCESS EXCLUSIVE MODE", None),
    "mysql": ("LOCK TABLES grid WRITE", "UNLOCK TABLES"),
}


@contextmanager
def grid_locked(url: str, backend: str) -> Iterator[None]:
    """``grid`` locked against readers: the snapshot build (which reads it) overruns its statement
    timeout, while the data-version probe (which does not) still sees new rows."""
    lock, unlock = LOCKS[backend]
    engine = make_writer_engine(url)
    conn = engine.connect()
    trans = conn.begin()
    try:
        conn.execute(text(lock))
        yield
    finally:
        trans.rollback()
        if unlock:
            conn.execute(text(unlock))
        conn.close()
        engine.dispose()


@pytest.fixture(params=["postgresql", "mysql"])
def server_district(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    from dashboard.sample.seed import seed_database

    backend = str(request.param)
    for url in make_empty_database(backend, tmp_path_factory):
        seed_database(url, days=14, scale=0.1, patrol_days=1, progress=False)
        yield backend, url


def test_a_build_past_the_statement_timeout_keeps_the_last_good_snapshot(
    server_district: tuple[str, str], tmp_path: Path
) -> None:
    backend, url = server_district
    grid = a_grid(url, GUALI)
    with serve(url, tmp_path / "srv", DASHBOARD_STATEMENT_TIMEOUT_MS=str(TIMEOUT_MS)) as server:
        good = {q: fresh(server, q) for q in VIEWS}
        with screens(server) as seen:
            time.sleep(2 * REFRESH)
            seen.phase = "cut"
            with grid_locked(url, backend):
                add_reports(url, grid, 5)  # a new data version: every view must be rebuilt, and cannot be
                for q in VIEWS:
                    stale = stale_answer(server, q, "statement timeout")
                    assert_last_good(stale, good[q])
                    error = stale["meta"]["error"]
                    assert "statement timeout" in error or "max_statement_time" in error, error
                time.sleep(3 * REFRESH)
                assert api(server)["meta"]["stale"], "still the last good while the queries overrun"
                seen.phase = "after"
            for q in VIEWS:
                fresh(server, q, lambda s, q=q: reported(s) == reported(good[q]) + 5)
            time.sleep(2 * REFRESH)
        assert_no_failures(seen, server)
        errors = [e for e in seen.api_errors("cut") if e]
        assert errors and all("statement timeout" in e or "max_statement_time" in e for e in errors), errors
        assert not [e for e in seen.api_errors("after")[-6:] if e], "and good figures again after"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_the_source_engine_cancels_a_statement_past_its_timeout(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """db.py's timeout on each backend (SQLite: a progress handler): a slow statement fails, fast."""
    slow = {
        "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
        "postgresql": "SELECT pg_sleep(30)",
        "mysql": "SELECT SLEEP(30)",
    }[backend]
    for url in make_empty_database(backend, tmp_path_factory):
        init_db(url).dispose()  # SQLite: the read-only engine needs the file to exist
        engine = make_source_engine(url, timeout_ms=300)
        try:
            started = time.monotonic()
            with pytest.raises(OperationalError) as caught, engine.connect() as conn:
                conn.execute(text(slow)).all()
            assert time.monotonic() - started < 15
            assert any(w in str(caught.value).lower() for w in ("interrupt", "timeout", "cancel")), (
                caught.value
            )
            with engine.connect() as conn:  # the connection is usable again afterwards
                assert conn.execute(text("SELECT 1")).scalar() == 1
        finally:
            engine.dispose()


# --- d. corrupt import files (what test_import.py does not already cover) -----------------------------------


def _not_a_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("hello.txt", "a zip, but no workbook inside")
    return buffer.getvalue()


FIXTURES = Path(__file__).parents[1] / "ingest" / "fixtures"
CORRUPT = {
    "events_empty.csv": (b"", "empty"),
    "events_zip.xlsx": (_not_a_workbook(), "not a readable XLSX workbook"),
    "events_random.xlsx": (bytes(range(256)) * 20, "not a readable XLSX workbook"),
    "events_nul.csv": ((FIXTURES / "events_zh.csv").read_bytes().replace(b"\n", b"\x00\n", 2), "NUL"),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_import_file_gives_one_clear_error_and_writes_nothing(
    name: str, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dashboard.cli import main

    init_db(sqlite_url).dispose()
    refs = [FIXTURES / "admin_units.csv", FIXTURES / "departments.csv", FIXTURES / "grids_gb18030.csv"]
    assert main(["import", "--database-url", sqlite_url, "--no-progress", *map(str, refs)]) == 0
    before = _counts(sqlite_url)
    data, reason = CORRUPT[name]
    bad = tmp_path / name
    bad.write_bytes(data)
    capsys.readouterr()
    good = FIXTURES / "events_zh.csv"  # a good file in the same import is not written either
    assert main(["import", "--database-url", sqlite_url, "--no-progress", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{name}" in err and reason in err, err
    assert "nothing written" in err and "Traceback" not in err
    assert _counts(sqlite_url) == before


def _counts(url: str) -> dict[str, int]:
    from sqlalchemy import func

    engine = make_writer_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in schema.ALL_TABLES
            }
    finally:
        engine.dispose()


def test_servers_are_reachable_under_ci() -> None:
    """The fault tests need all three servers; under CI=true a missing one fails instead of skipping."""
    need(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    need(port_open("127.0.0.1", 3306), "MariaDB on 127.0.0.1:3306")
    need_redis()
