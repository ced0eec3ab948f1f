"""The snapshot service: cache keys, single flight (threads and processes), stale fallback, health."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dashboard.core.clock import FixedClock
from dashboard.core.scope import DISTRICT, Scope, ScopeError
from dashboard.core.settings import Settings, load_settings
from dashboard.core.viewstate import ViewState
from dashboard.service.cache import SharedCache, init_cache
from dashboard.service.factory import create_service
from dashboard.service.snapshots import AS_OF_SETTLE, SnapshotService
from dashboard.service.state import StateStore
from dashboard.source.engines import init_db, make_source_engine
from tests.support.fakes import T0, FakeSource, fake_snapshot
from tests.support.services import need_redis


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    init_db(source).dispose()
    return load_settings(
        env={},
        DATABASE_URL=source,
        STATE_URL=f"sqlite:///{tmp_path / 'state.db'}",
        CACHE_DIR=str(tmp_path / "cache"),
    )


@pytest.fixture
def source_engine(settings: Settings) -> Iterator[Engine]:
    engine = make_source_engine(settings.DATABASE_URL)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def make_service(
    settings: Settings,
    engine: Engine,
    clock: FixedClock,
    fake: FakeSource,
    cache: SharedCache | None = None,
    *,
    background: bool = False,
) -> SnapshotService:
    return SnapshotService(
        engine,
        StateStore(settings.STATE_URL),
        cache or init_cache(settings),
        clock,
        builder=fake.build,
        versioner=fake.data_version,
        refresh_seconds=10,
        wait_seconds=10,
        background=background,
    )


def test_same_key_is_computed_once(settings: Settings, source_engine: Engine, clock: FixedClock) -> None:
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake)
    first = service.snapshot(ViewState(), DISTRICT)
    clock.advance(3)
    second = service.snapshot(ViewState(), DISTRICT)
    assert fake.calls == 1
    assert first.snapshot == second.snapshot
    assert not second.stale and second.error is None
    assert second.age_seconds == 3
    assert second.computed_at == T0


def test_the_last_good_snapshot_is_decoded_once_per_build(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    """Every answer reads the view's last good entry: the whole snapshot is fetched and decoded once per
    build (its stamp, a few bytes, says whether the one decoded is still the shared one)."""
    fake = FakeSource()
    cache = init_cache(settings)
    service = make_service(settings, source_engine, clock, fake, cache)
    first = service.snapshot(ViewState(), DISTRICT)
    whole_reads: list[str] = []
    read = cache.get

    def counting_get(key: str) -> object:
        if key.startswith("last:"):
            whole_reads.append(key)
        return read(key)

    cache.get = counting_get  # type: ignore[method-assign]
    for _ in range(3):
        clock.advance(1)
        assert service.snapshot(ViewState(), DISTRICT).snapshot == first.snapshot
    assert len(whole_reads) <= 1 and fake.calls == 1

    clock.advance(60)  # a new minute: rebuilt, and the new entry is the one read
    fake.version = "v2"
    rebuilt = service.snapshot(ViewState(), DISTRICT)
    clock.advance(1)
    again = service.snapshot(ViewState(), DISTRICT)
    assert fake.calls == 2 and again.computed_at == rebuilt.computed_at != first.computed_at


def test_key_changes_with_minute_data_version_and_view(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake)
    service.snapshot(ViewState(), DISTRICT)
    clock.advance(60)  # ageing and overdue move with the clock even without new rows
    service.snapshot(ViewState(), DISTRICT)
    assert fake.calls == 2
    fake.version = "v2"
    service.snapshot(ViewState(), DISTRICT)
    assert fake.calls == 2, "the data version is cached for refresh_seconds / 2"
    clock.advance(service.version_ttl)
    service.snapshot(ViewState(), DISTRICT)
    assert fake.calls == 2, "a view is recomputed at most once per refresh interval"
    clock.advance(service.refresh_seconds)
    result = service.snapshot(ViewState(), DISTRICT)
    assert fake.calls == 3
    assert result.snapshot is not None and result.snapshot.data_version == "v2"
    service.snapshot(ViewState(lang="en"), DISTRICT)
    assert fake.calls == 4


def test_past_as_of_is_cached_for_good(settings: Settings, source_engine: Engine, clock: FixedClock) -> None:
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake)
    past = ViewState(as_of=T0 - dt.timedelta(days=1))
    service.snapshot(past, DISTRICT)
    clock.advance(hours=5)
    fake.version = "v9"
    service.snapshot(past, DISTRICT)
    assert fake.calls == 1
    recent = ViewState(as_of=clock.now() - AS_OF_SETTLE / 2)  # may still gain late rows: keyed like live
    service.snapshot(recent, DISTRICT)
    clock.advance(60)
    service.snapshot(recent, DISTRICT)
    assert fake.calls == 3


def test_concurrent_threads_compute_once(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    fake = FakeSource(delay=0.4)
    service = make_service(settings, source_engine, clock, fake)
    results = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        results.append(service.snapshot(ViewState(period="week"), DISTRICT))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert fake.calls == 1
    assert len(results) == 8
    assert all(r.snapshot is not None and not r.stale for r in results)


def test_stale_while_computing(settings: Settings, source_engine: Engine, clock: FixedClock) -> None:
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake)
    first = service.snapshot(ViewState(), DISTRICT)
    clock.advance(60)
    fake.delay = 1.6  # longer than the one second a waiter is patient before taking the last good one
    results: list = []
    slow = threading.Thread(target=lambda: results.append(service.snapshot(ViewState(), DISTRICT)))
    slow.start()
    time.sleep(0.2)
    waiter = service.snapshot(ViewState(), DISTRICT)
    slow.join(timeout=10)
    assert fake.calls == 2
    assert waiter.stale and waiter.error is None
    assert waiter.snapshot == first.snapshot and waiter.age_seconds == 60
    assert not results[0].stale and results[0].snapshot != first.snapshot


def test_stale_fallback_then_restart(settings: Settings, source_engine: Engine, clock: FixedClock) -> None:
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake)
    good = service.snapshot(ViewState(), DISTRICT)
    clock.advance(90)
    fake.fail = True
    stale = service.snapshot(ViewState(), DISTRICT)
    assert stale.stale
    assert stale.snapshot == good.snapshot
    assert stale.age_seconds == 90
    assert stale.error is not None and "connection refused" in stale.error
    assert stale.computed_at == T0

    # A new process: fresh cache directory, same state store.
    restarted = make_service(
        settings,
        source_engine,
        clock,
        fake,
        cache=init_cache(load_settings(env={}, CACHE_DIR=settings.CACHE_DIR + "-new")),
    )
    after = restarted.snapshot(ViewState(), DISTRICT)
    assert after.stale and after.snapshot == good.snapshot and after.age_seconds == 90

    never_seen = restarted.snapshot(ViewState(lang="en"), DISTRICT)
    assert never_seen.snapshot is None and never_seen.stale and never_seen.error


def test_scope_narrows_the_view(settings: Settings, source_engine: Engine, clock: FixedClock) -> None:
    scope = Scope(frozenset({"330109001", "330109002"}))
    assert scope.apply(ViewState()).towns == ("330109001", "330109002")
    assert scope.apply(ViewState(towns=("330109002", "330109113"))).towns == ("330109002",)
    with pytest.raises(ScopeError) as err:
        scope.apply(ViewState(towns=("330109113",)))
    assert err.value.param == "town"
    with pytest.raises(ScopeError):
        scope.apply(ViewState(village="330109113001"))
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake)
    result = service.snapshot(ViewState(), scope)
    assert result.snapshot is not None and result.snapshot.view["town"] == ["330109001", "330109002"]


def test_health_reports_a_dead_source(settings: Settings, clock: FixedClock) -> None:
    dead = make_source_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    service = make_service(settings, dead, clock, FakeSource())
    service._builder = service._versioner = None  # the real query functions: never reached
    result = service.snapshot(ViewState(), DISTRICT)
    assert result.snapshot is None and result.stale
    assert result.error is not None and result.error.startswith("source database unavailable")
    health = service.health()
    assert health["status"] == "down"
    assert health["source"]["ok"] is False
    assert health["cache"]["ok"] and health["state"]["ok"]
    dead.dispose()


def test_health_of_a_working_service(settings: Settings, source_engine: Engine, clock: FixedClock) -> None:
    service = make_service(settings, source_engine, clock, FakeSource())
    health = service.health()
    assert health["status"] == "ok"
    assert health["source"] == {
        "ok": True,
        "error": None,
        "latency_ms": health["source"]["latency_ms"],
        "newest_data_at": None,  # the source is empty
        "newest_data_age_seconds": None,
        "streams": [
            {"stream": s, "newest": None, "age_seconds": None, "expected_rows": None, "state": "absent"}
            for s in ("events", "actions", "patrols", "video")
        ],
    }
    assert health["cache"]["backend"] == "filesystem"


def test_unreachable_redis_falls_back_to_the_local_cache(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    broken = load_settings(env={}, CACHE_URL="redis://127.0.0.1:1/0", CACHE_DIR=settings.CACHE_DIR)
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake, cache=init_cache(broken))
    assert service.snapshot(ViewState(), DISTRICT).error is None
    assert service.snapshot(ViewState(), DISTRICT).error is None
    assert fake.calls == 1
    health = service.health()
    assert health["cache"]["backend"] == "redis"
    assert health["cache"]["degraded"] and health["cache"]["active"] == "local"
    assert health["cache"]["ok"] and health["status"] == "degraded"


def test_create_service_builds_from_settings(settings: Settings) -> None:
    service = create_service(settings, FixedClock(T0))
    assert service.health()["status"] == "ok"
    assert service.refresh_seconds == settings.REFRESH_SECONDS


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    url = need_redis()
    import redis

    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield url, prefix
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_redis_cache_hit(
    settings: Settings, source_engine: Engine, clock: FixedClock, redis_prefix: tuple[str, str]
) -> None:
    url, prefix = redis_prefix
    shared = init_cache(load_settings(env={}, CACHE_URL=url, CACHE_DIR=settings.CACHE_DIR), key_prefix=prefix)
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake, cache=shared)
    service.snapshot(ViewState(), DISTRICT)
    service.snapshot(ViewState(), DISTRICT)
    assert fake.calls == 1
    health = service.health()
    assert health["cache"] == {
        "backend": "redis",
        "active": "redis",
        "ok": True,
        "degraded": False,
        "error": None,
    }


# A worker process: builds a service on the shared cache and asks for one view at an agreed instant.
WORKER = textwrap.dedent(
    """
    import datetime as dt, json, os, sys, time
    from dashboard.service.cache import init_cache
    from dashboard.core.clock import FixedClock
    from dashboard.source.engines import make_source_engine
    from dashboard.service.snapshots import SnapshotService
    from dashboard.core.settings import load_settings
    from dashboard.core.snapshot import Snapshot
    from dashboard.service.state import StateStore
    from dashboard.core.viewstate import ViewState
    from dashboard.core.scope import DISTRICT

    calls_file, start_at = sys.argv[1], float(sys.argv[2])
    settings = load_settings()
    now = dt.datetime.fromisoformat(os.environ["TEST_NOW"])

    def build(conn, view, now):
        with open(calls_file, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(0.8)
        return Snapshot(view={}, now=now.isoformat(), period_start="", period_end="", data_version="v1",
                        newest_data_at=None)

    service = SnapshotService(
        make_source_engine(settings.DATABASE_URL), StateStore(settings.STATE_URL),
        init_cache(settings, key_prefix=os.environ["TEST_PREFIX"]), FixedClock(now),
        builder=build, versioner=lambda conn: "v1",
    )
    time.sleep(max(0.0, start_at - time.time()))
    print(json.dumps(service.snapshot(ViewState(), DISTRICT).meta()))
    """
)


def run_workers(settings: Settings, tmp_path: Path, cache_url: str, prefix: str, n: int = 3) -> list[dict]:
    calls = tmp_path / "calls.txt"
    env = {
        **os.environ,
        "DASHBOARD_DATABASE_URL": settings.DATABASE_URL,
        "DASHBOARD_STATE_URL": settings.STATE_URL,
        "DASHBOARD_CACHE_URL": cache_url,
        "DASHBOARD_CACHE_DIR": settings.CACHE_DIR,
        "TEST_PREFIX": prefix,
        "TEST_NOW": T0.isoformat(),
    }
    start_at = time.time() + 4.0  # after every interpreter has imported the package
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(calls), str(start_at)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert len(calls.read_text().split()) == 1, "the builder ran in more than one process"
    return outputs


def test_processes_sharing_redis_compute_once(
    settings: Settings, tmp_path: Path, redis_prefix: tuple[str, str]
) -> None:
    url, prefix = redis_prefix
    results = run_workers(settings, tmp_path, url, prefix)
    assert all(r["error"] is None and not r["stale"] for r in results)


def test_processes_sharing_the_disk_cache_compute_once(settings: Settings, tmp_path: Path) -> None:
    results = run_workers(settings, tmp_path, "", "disk:")
    assert all(r["error"] is None and not r["stale"] for r in results)


def test_state_store_round_trip_on_each_backend(db_url: str) -> None:
    store = StateStore(db_url)
    snap = fake_snapshot(ViewState(towns=("330109001",)), T0, "v1", 3.0)
    snap.ticker = [{"text": "城厢街道 新增事件"}]
    key = "town=330109001|scope=all"
    assert store.load_last_good(key) is None
    store.save_last_good(key, snap, T0)
    later = fake_snapshot(ViewState(towns=("330109001",)), T0, "v2", 4.0)
    store.save_last_good(key, later, T0 + dt.timedelta(minutes=1))
    loaded = store.load_last_good(key)
    assert loaded == (later, T0 + dt.timedelta(minutes=1))
    store.audit(T0, "tester", "export", "deck.pptx")
    assert store.ping()
    StateStore(db_url).dispose()  # a second start finds the tables in place
    store.dispose()


def test_one_build_per_view_at_a_time(settings: Settings, source_engine: Engine, clock: FixedClock) -> None:
    """While another worker rebuilds a view (its minute passed mid-build), others serve the last good one."""
    from dashboard.service.snapshots import _digest

    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake)
    service.snapshot(ViewState(), DISTRICT)
    clock.advance(120)  # a new minute: this view is due for a rebuild
    busy = f"busy:{_digest(service.identity(ViewState(), Scope()))}"
    assert service.cache.add(busy, 1, 60)  # another worker is building it
    result = service.snapshot(ViewState(), DISTRICT)
    assert fake.calls == 1, "no second build of the same view"
    assert result.snapshot is not None and result.stale and result.error is None
    service.cache.delete(busy)
    service.snapshot(ViewState(), DISTRICT)
    assert fake.calls == 2


def test_a_failed_build_is_reported_while_another_is_under_way(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    """After a failure, answers served while another worker retries still carry the error (no blinking banner)."""
    from dashboard.service.snapshots import _digest

    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake)
    service.snapshot(ViewState(), DISTRICT)
    clock.advance(120)
    fake.fail = True
    failed = service.snapshot(ViewState(), DISTRICT)
    assert failed.stale and failed.error
    busy = f"busy:{_digest(service.identity(ViewState(), Scope()))}"
    clock.advance(60)
    assert service.cache.add(busy, 1, 60)  # another worker's retry hangs on the dead source
    meanwhile = service.snapshot(ViewState(), DISTRICT)
    assert meanwhile.stale and meanwhile.error == failed.error
    service.cache.delete(busy)
    fake.fail = False
    clock.advance(60)
    recovered = service.snapshot(ViewState(), DISTRICT)
    assert not recovered.stale and recovered.error is None
    clock.advance(120)
    assert service.cache.add(busy, 1, 60)
    busy_again = service.snapshot(ViewState(), DISTRICT)
    assert busy_again.stale and busy_again.error is None  # a plain rebuild elsewhere is not an outage


# --- background refresh ------------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_background_refresh_answers_at_once_and_rebuilds_behind(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    """A due view is answered from its last good snapshot without waiting; the thread rebuilds it once."""
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake, background=True)
    first = service.snapshot(ViewState(), DISTRICT)  # nothing to show yet: computed on request
    assert fake.calls == 1 and not first.stale
    fake.version = "v2"  # first: the thread may look at the view as soon as the clock moves
    clock.advance(15)  # older than a refresh interval: due
    fake.gate = threading.Event()  # the rebuild cannot finish until the test lets it
    meanwhile = service.snapshot(ViewState(), DISTRICT)  # would hang here if it waited for the rebuild
    assert meanwhile.stale and meanwhile.error is None and meanwhile.snapshot == first.snapshot
    assert meanwhile.age_seconds == 15
    assert wait_for(lambda: fake.calls == 2)
    fake.gate.set()
    assert wait_for(lambda: not service.snapshot(ViewState(), DISTRICT).stale)
    fresh = service.snapshot(ViewState(), DISTRICT)
    assert fresh.snapshot is not None and fresh.snapshot.data_version == "v2"
    time.sleep(1.5)  # more passes of the thread over a view that is not due: no more builds
    assert fake.calls == 2


def test_every_process_hears_once_of_a_view_rebuilt_by_another(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    """Each process draws ahead the boards its own screens asked for: a view rebuilt by one process is
    announced to the listeners of the others too (by their refresher), once per build."""
    builder, other = FakeSource(), FakeSource()
    cache = init_cache(settings)
    first = make_service(settings, source_engine, clock, builder, cache)
    second = make_service(settings, source_engine, clock, other, cache)
    heard: list[str] = []
    second.refreshed_listeners.append(heard.append)
    identity = second.identity(ViewState(), DISTRICT)
    first.snapshot(ViewState(), DISTRICT)
    second._refresh_in_background(ViewState(), identity)  # built lately by the first: not rebuilt
    second._refresh_in_background(ViewState(), identity)
    assert heard == [identity] and other.calls == 0
    clock.advance(60)
    builder.version = "v2"
    first.snapshot(ViewState(), DISTRICT)  # the first process rebuilds it
    second._refresh_in_background(ViewState(), identity)
    assert heard == [identity, identity] and other.calls == 0 and builder.calls == 2


def test_background_refresh_leaves_a_views_first_build_to_its_request(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    """A watched view never built is not built by the thread: the request that asked computes it, and
    a thread racing it made that request wait and answer "stale" (seen on a loaded machine)."""
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake, background=True)
    assert service.refresher is not None
    view = ViewState(period="week")
    service.refresher.touch(service.identity(view, Scope()), view)  # watched, as a request would do
    service.refresher.wake()
    time.sleep(2.5)  # two passes of the thread
    assert fake.calls == 0
    first = service.snapshot(view, DISTRICT)
    assert fake.calls == 1 and not first.stale


def test_background_refresh_keeps_a_watched_view_fresh_without_requests_waiting(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    """A new minute makes the watched view due: the thread rebuilds it before any screen asks again."""
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake, background=True)
    service.snapshot(ViewState(period="week"), DISTRICT)
    assert service.refresher is not None and service.refresher.hot() == [
        service.identity(ViewState(period="week"), Scope())
    ]
    clock.advance(60)
    assert wait_for(lambda: fake.calls == 2), "the thread did not rebuild the due view on its own"
    assert wait_for(lambda: service.snapshot(ViewState(period="week"), DISTRICT).computed_at == clock.now())
    result = service.snapshot(ViewState(period="week"), DISTRICT)
    assert not result.stale and fake.calls == 2


def test_background_refresh_reports_a_dead_source(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    """A failed background build is told to the screens (banner), with the last good figures and their age."""
    fake = FakeSource()
    service = make_service(settings, source_engine, clock, fake, background=True)
    good = service.snapshot(ViewState(), DISTRICT)
    fake.fail = True
    clock.advance(15)
    service.snapshot(ViewState(), DISTRICT)
    assert wait_for(lambda: service.snapshot(ViewState(), DISTRICT).error is not None)
    down = service.snapshot(ViewState(), DISTRICT)
    assert down.stale and down.snapshot == good.snapshot and down.age_seconds == 15
    assert "connection refused" in (down.error or "")
    clock.advance(3600)  # far older than a background rebuild should take: the request tries itself
    late = service.snapshot(ViewState(), DISTRICT)
    assert late.stale and late.snapshot == good.snapshot and late.error
    fake.fail = False
    clock.advance(15)
    service.snapshot(ViewState(), DISTRICT)
    assert wait_for(lambda: service.snapshot(ViewState(), DISTRICT).error is None)


def test_background_refresh_one_build_across_processes(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    """Three workers sharing a cache, each with its thread, rebuild a due view once between them."""
    fake = FakeSource(delay=0.3)
    cache = init_cache(settings)
    workers = [make_service(settings, source_engine, clock, fake, cache, background=True) for _ in range(3)]
    for w in workers:
        w.snapshot(ViewState(), DISTRICT)
    assert fake.calls == 1
    fake.version = "v2"
    clock.advance(15)
    for w in workers:
        w.snapshot(ViewState(), DISTRICT)
    assert wait_for(lambda: fake.calls >= 2), fake.calls
    time.sleep(1.5)
    assert fake.calls == 2
    assert all(not w.snapshot(ViewState(), DISTRICT).stale for w in workers)
    clock.advance(15)  # due again, but nothing changed (same data version, same minute): no build
    assert all(not w.snapshot(ViewState(), DISTRICT).stale for w in workers)
    time.sleep(1.5)
    assert fake.calls == 2


def test_refresher_forgets_views_nobody_watches() -> None:
    """A view not asked for within hot_seconds drops out; the thread ends and starts again on demand."""
    from dashboard.service.refresher import Refresher

    seen: list[str] = []
    refresher = Refresher(lambda view, identity: seen.append(identity), hot_seconds=0.3, check_seconds=0.05)
    refresher.touch("a", ViewState())
    assert wait_for(lambda: refresher.hot() == [] and refresher._thread is None, timeout=5)
    assert "a" in seen
    count = len(seen)
    time.sleep(0.3)
    assert len(seen) == count, "a forgotten view is still refreshed"
    refresher.touch("b", ViewState())
    assert wait_for(lambda: "b" in seen)


def test_an_expired_claim_on_the_disk_cache_does_not_block(settings: Settings) -> None:
    """flask-caching's FileSystemCache.add refuses while an expired entry's file exists: a 'busy' claim left
    by a killed worker would block its view's rebuilds for good (seen with `make run`)."""
    cache = init_cache(settings)
    assert cache.add("busy:x", 1, 1)
    assert not cache.add("busy:x", 1, 1), "a live claim is exclusive"
    time.sleep(1.1)
    assert cache.get("busy:x") is None
    assert cache.add("busy:x", 1, 60), "an expired claim blocked a new one"
    assert not cache.add("busy:x", 1, 60)


def test_a_worker_with_the_builders_channel_tells_it_and_builds_nothing_in_the_background(
    settings: Settings, source_engine: Engine, clock: FixedClock
) -> None:
    """Under ``make serve`` a worker keeps no refresher thread: its screens' views go to the builder over
    the channel, and a due view is not rebuilt in the worker (the builder's refresher does it)."""
    from dashboard.service import builder

    channel = builder.Channel()
    builder.attach(channel)
    try:
        fake = FakeSource()
        worker = make_service(settings, source_engine, clock, fake, background=True)
    finally:
        builder.attach(None)
    try:
        assert isinstance(worker.refresher, builder.RemoteRefresher)
        view = ViewState(period="week")
        worker.snapshot(view, DISTRICT)  # the first build: on request, as always
        assert fake.calls == 1
        told = channel.receive(1.0)
        assert told is not None and told[:2] == ("touch", worker.identity(view, Scope())) and told[2] == view
        fake.version = "v2"  # new rows: due; the worker answers the last good snapshot and wakes the builder
        clock.advance(15)
        due = worker.snapshot(view, DISTRICT)
        assert due.stale and fake.calls == 1
        notices = [channel.receive(0.2) for _ in range(3)]
        assert ("wake",) in notices
        time.sleep(1.5)
        assert fake.calls == 1, "the worker rebuilt in the background"
    finally:
        channel.close()
