"""The shared cache: flask-caching's backends configured from settings, with a cross-process single flight.

Several gunicorn workers (and several machines, with Redis) serve up to a few hundred screens that all
ask for the same few views every refresh. The cache makes each view cost one computation per refresh
across all of them: values live in the shared backend, and :meth:`SharedCache.single_flight` holds a
lock in that same backend (Redis ``SET NX PX``; ``fcntl`` file locks for the on-disk cache) so only one
process computes a missing key while the others wait for its result, or get the last good value.

If Redis stops answering the cache degrades to the local on-disk cache instead of failing requests,
retries Redis every :data:`REDIS_RETRY_SECONDS`, and says so in :meth:`SharedCache.health`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from flask_caching.backends.base import BaseCache
from flask_caching.backends.filesystemcache import FileSystemCache
from flask_caching.backends.rediscache import RedisCache

from dashboard.core.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PREFIX = "xsdash:"
DEFAULT_TIMEOUT = 300  # seconds an entry lives unless its writer says otherwise
REDIS_RETRY_SECONDS = 30.0
LOCK_STRIPES = 4096  # lock files are never deleted (that races), so keys share a bounded set of them
# A waiter looks for the value after 2 ms, then twice as long each time, up to every 20 ms. Why not a
# fixed 20 ms: most flights a screen's tick meets are boards and steps finishing within milliseconds
# (drawn ahead by another worker), and a fixed step made each such wait 20 ms (the ticks' slowest tenth).
POLL_FIRST_SECONDS = 0.002
POLL_SECONDS = 0.02
FILE_THRESHOLD = 5000  # entries before the on-disk cache prunes; several per view and minute

# Release a Redis lock only if we still own it (it may have expired and been taken by someone else).
_RELEASE_SCRIPT = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


class ComputeFailed(RuntimeError):
    """The process that held the lock failed; its message is shared so waiters need not retry at once."""


class FlightTimeout(TimeoutError):
    """Waited too long for another process to compute a key."""


@dataclass(frozen=True)
class Flight(Generic[T]):
    """The outcome of :meth:`SharedCache.single_flight`."""

    value: T
    computed: bool = False  # this call ran compute()
    stale: bool = False  # value came from the stale fallback while another process computes


def init_cache(settings: Settings, *, key_prefix: str = DEFAULT_PREFIX) -> SharedCache:
    """The shared cache for ``settings``: flask-caching's Redis backend when ``CACHE_URL`` names one
    (with the on-disk cache as its fallback), else its on-disk backend.

    The backends are made directly, not through the Flask extension: the service layer serves the
    CLI and the benchmark too, and never needs an app.
    """
    lock_dir = _lock_dir(settings.CACHE_DIR)
    local = _local_cache(settings.CACHE_DIR)
    if not settings.CACHE_URL:
        return SharedCache(local, kind="filesystem", local=local, lock_dir=lock_dir)
    from redis import from_url

    # Fail fast when Redis is away: we fall back to the local cache instead of hanging screens.
    client = from_url(settings.CACHE_URL, socket_connect_timeout=0.5, socket_timeout=2.0)
    backend = RedisCache(host=client, key_prefix=key_prefix, default_timeout=DEFAULT_TIMEOUT)
    # The lock uses the backend's own client for SET NX PX.
    return SharedCache(
        backend, kind="redis", local=local, lock_dir=lock_dir, redis_client=client, key_prefix=key_prefix
    )


def _local_cache(cache_dir: str) -> FileSystemCache:
    return FileSystemCache(cache_dir=cache_dir, threshold=FILE_THRESHOLD, default_timeout=DEFAULT_TIMEOUT)


def _lock_dir(cache_dir: str) -> Path:
    # Beside, not inside, the cache directory: FileSystemCache prunes whatever it finds in its own.
    path = Path(cache_dir)
    return path.with_name(path.name + ".locks")


def _redis_errors() -> tuple[type[Exception], ...]:
    """What a Redis outage raises (redis is an optional dependency: without it, nothing)."""
    try:
        from redis.exceptions import RedisError
    except ImportError:
        return ()
    return (RedisError,)


class _FileLock:
    """A non-blocking exclusive ``flock`` on one of :data:`LOCK_STRIPES` files (processes and threads),
    or on a file of its own for a long-held lock (``own_file``), which must never wait behind a stripe."""

    def __init__(self, lock_dir: Path, key: str, *, own_file: bool = False) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        stripe = int(digest[:8], 16) % LOCK_STRIPES
        self.path = lock_dir / (f"own-{digest[:16]}.lock" if own_file else f"{stripe:04d}.lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class _RedisLock:
    """``SET key token NX PX ttl``; expires by itself if its holder dies."""

    def __init__(self, client: Any, name: str, ttl_ms: int) -> None:
        self.client, self.name, self.ttl_ms = client, name, ttl_ms
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        return bool(self.client.set(self.name, self.token, nx=True, px=self.ttl_ms))

    def release(self) -> None:
        self.client.eval(_RELEASE_SCRIPT, 1, self.name, self.token)


class SharedCache:
    """get/set/add on the shared backend with Redis→local fallback, locks and single flight."""

    def __init__(
        self,
        backend: BaseCache,
        *,
        kind: str,
        local: BaseCache,
        lock_dir: Path,
        redis_client: Any = None,
        key_prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.backend = backend
        self.kind = kind  # "redis" or "filesystem"
        self.local = local
        self.lock_dir = lock_dir
        self.redis = redis_client
        self.key_prefix = key_prefix
        self._degraded_until = 0.0
        self.last_error: str | None = None
        self._state_lock = threading.Lock()
        # Redis locks we could not release because Redis went away under us; released when it is back,
        # else other workers would wait for them until they expire (lock_seconds, two minutes).
        self._stranded: list[_RedisLock] = []

    # --- degradation ---------------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """True while Redis is considered down and the local cache stands in."""
        return self.kind == "redis" and time.monotonic() < self._degraded_until

    def _use_primary(self) -> bool:
        return self.kind != "redis" or not self.degraded

    def _fail_over(self, exc: Exception) -> None:
        with self._state_lock:
            first = not self.degraded
            self._degraded_until = time.monotonic() + REDIS_RETRY_SECONDS
            self.last_error = f"{type(exc).__name__}: {exc}"
        if first:
            log.warning("shared cache unreachable, using the local cache for now: %s", self.last_error)

    def _call(self, op: Callable[[BaseCache], T]) -> T:
        if self._use_primary():
            try:
                return op(self.backend)
            except _redis_errors() as exc:  # connection refused, timeout, Redis restarting ...
                if self.kind != "redis":
                    raise
                self._fail_over(exc)
        return op(self.local)

    # --- values --------------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        """The value under ``key`` or None."""
        return self._call(lambda c: c.get(key))

    def set(self, key: str, value: Any, ttl: int) -> None:
        """Store ``value`` for ``ttl`` seconds (0: no expiry)."""
        self._call(lambda c: c.set(key, value, timeout=ttl))

    def add(self, key: str, value: Any, ttl: int) -> bool:
        """Store only if absent; True when stored (Redis: atomic, used as a cross-process throttle)."""
        if self._call(lambda c: c.add(key, value, timeout=ttl)):
            return True
        if self.redis is not None and self._use_primary():
            return False  # Redis expires keys itself
        # flask-caching's FileSystemCache.add refuses while the key's file exists, even long expired: a
        # "busy" claim left by a killed process would then block its view's rebuilds forever.
        if self.get(key) is not None:
            return False
        self.delete(key)
        return bool(self._call(lambda c: c.add(key, value, timeout=ttl)))

    def delete(self, key: str) -> None:
        self._call(lambda c: c.delete(key))

    # --- locks ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def try_lock(self, key: str, ttl_seconds: float, *, own_file: bool = False) -> Iterator[bool]:
        """Try once to take the cross-process lock of ``key``; yields whether it is held.

        ``own_file``: on disk, a lock file of its own instead of a shared stripe, for the few locks held
        for long (the export slots), so no snapshot build ever waits behind one."""
        lock: _FileLock | _RedisLock = _FileLock(self.lock_dir, key, own_file=own_file)
        if self.redis is not None and self._use_primary():
            self._release_stranded()
            lock = _RedisLock(self.redis, f"{self.key_prefix}lock:{key}", int(ttl_seconds * 1000))
        try:
            held = lock.acquire()
        except _redis_errors() as exc:
            if not isinstance(lock, _RedisLock):
                raise
            self._fail_over(exc)
            lock = _FileLock(self.lock_dir, key, own_file=own_file)
            held = lock.acquire()
        try:
            yield held
        finally:
            if held:
                self._release(lock)

    def _release(self, lock: _FileLock | _RedisLock) -> None:
        try:
            lock.release()
        except _redis_errors() as exc:  # Redis went away while we held it: release it once it is back
            self._fail_over(exc)
            if isinstance(lock, _RedisLock):
                with self._state_lock:
                    self._stranded.append(lock)
        except Exception as exc:  # an expired Redis lock is gone anyway
            log.debug("lock release failed: %s", exc)

    def _release_stranded(self) -> None:
        """Release the Redis locks a Redis outage kept us from releasing (each only if still ours)."""
        with self._state_lock:
            stranded, self._stranded = self._stranded, []
        for i, lock in enumerate(stranded):
            try:
                lock.release()
            except _redis_errors():
                with self._state_lock:
                    self._stranded.extend(stranded[i:])  # still away: try again next time
                return

    def single_flight(
        self,
        key: str,
        compute: Callable[[], T],
        *,
        ttl: int,
        wait_seconds: float = 30.0,
        lock_seconds: float = 120.0,
        fail_ttl: int = 5,
        stale: Callable[[], T | None] | None = None,
        stale_after: float = 1.0,
    ) -> Flight[T]:
        """The value of ``key``, computed by exactly one process at a time across the deployment.

        A miss takes the lock and computes; concurrent callers poll the cache for the result. After
        ``stale_after`` seconds a waiter returns ``stale()`` if that gives a value (stale while
        computing). A failure is remembered for ``fail_ttl`` seconds and raised as
        :class:`ComputeFailed` to every waiter, so a dead source is not hammered by each screen.
        """
        failed_key = key + "|failed"
        started = time.monotonic()
        poll = POLL_FIRST_SECONDS
        while True:
            hit = self.get(key)
            if hit is not None:
                return Flight(hit)
            failure = self.get(failed_key)
            if failure is not None:
                raise ComputeFailed(str(failure))
            with self.try_lock(key, lock_seconds) as held:
                if held:
                    return self._compute_under_lock(key, failed_key, compute, ttl, fail_ttl)
            waited = time.monotonic() - started
            if stale is not None and waited >= stale_after:
                old = stale()
                if old is not None:
                    return Flight(old, stale=True)
                stale = None  # nothing to fall back on: stop asking
            if waited >= wait_seconds:
                raise FlightTimeout(f"waited {wait_seconds:.0f} s for another worker to compute {key}")
            time.sleep(poll)
            poll = min(POLL_SECONDS, 2 * poll)

    def _compute_under_lock(
        self, key: str, failed_key: str, compute: Callable[[], T], ttl: int, fail_ttl: int
    ) -> Flight[T]:
        hit = self.get(key)  # finished by someone else between our miss and our lock
        if hit is not None:
            return Flight(hit)
        try:
            value = compute()
        except Exception as exc:
            self.set(failed_key, f"{type(exc).__name__}: {exc}".splitlines()[0][:500], fail_ttl)
            raise
        self.set(key, value, ttl)
        return Flight(value, computed=True)

    # --- health --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Which backend serves, whether it works, and whether we fell back to the local cache."""
        if self.redis is not None:
            try:
                self.redis.ping()
                with self._state_lock:
                    self._degraded_until = 0.0  # Redis is back: stop using the local cache
                self._release_stranded()
            except Exception as exc:
                self._fail_over(exc)
        probe = f"health:{uuid.uuid4().hex}"
        ok, error = True, None
        try:
            self.set(probe, 1, 10)
            ok = self.get(probe) == 1
            self.delete(probe)
        except Exception as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        degraded = self.degraded
        return {
            "backend": self.kind,
            "active": "local" if degraded else self.kind,
            "ok": ok,
            "degraded": degraded,
            "error": error or (self.last_error if degraded else None),
        }
