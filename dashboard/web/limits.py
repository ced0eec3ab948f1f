"""Rate limits shared by every worker on every machine (through Redis), with a local fallback.

:class:`dashboard.web.security.RateLimiter` counts in one process, so with three gunicorn workers on two
machines a client gets six times the limit. :class:`SharedRateLimiter` keeps the counts in the Redis of
``DASHBOARD_CACHE_URL`` instead: one sorted set per key holds the hits of the sliding window, and one Lua
script trims it, counts it and adds the new hit atomically, timed by the Redis server's clock so that
machines with skewed clocks agree.

Redis being down must never fail a request (nor make it wait): the limiter then counts in the process
(:class:`LocalRateLimiter`, the same sliding window as ``security.RateLimiter``), tries Redis again
after :data:`REDIS_RETRY_SECONDS`, and says so in :attr:`SharedRateLimiter.degraded`.

Construct one per limit (exports, CSV downloads, sign-in attempts) with :func:`make_limiter`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
REDIS_RETRY_SECONDS = 10.0  # after a Redis failure, count locally this long before trying Redis again
DEFAULT_PREFIX = "xsdash:limit:"
MAX_LOCAL_KEYS = 10_000

# KEYS[1] the window's sorted set; ARGV: limit, window in µs, a unique member for this hit.
# Returns 0 when the hit is taken, else the microseconds until the oldest hit leaves the window.
_TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
return 0
"""

# Give back the newest hit (a request that turned out to be a cheap client error).
_GIVE_BACK_SCRIPT = "return redis.call('ZREMRANGEBYRANK', KEYS[1], -1, -1)"


class LocalRateLimiter:
    """At most ``limit`` hits per ``window`` seconds per key, counted in this process (sliding window).

    The same contract as :class:`dashboard.web.security.RateLimiter`: :meth:`take` answers None when the hit
    is allowed, else the seconds (at least 1) until the next one is.
    """

    def __init__(
        self, limit: int, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Take one hit for ``key``: None when allowed, else the seconds until the next one is."""
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1.0, hits[0] + self.window - now)
            hits.append(now)
            if len(self._hits) > MAX_LOCAL_KEYS:
                self._forget_idle(now)
            return None

    def give_back(self, key: str) -> None:
        """Return the last hit of ``key`` (the request turned out to be a cheap client error)."""
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()

    def _forget_idle(self, now: float) -> None:
        for idle in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[idle]


class SharedRateLimiter:
    """:class:`LocalRateLimiter`'s contract, counted in Redis across processes and machines.

    ``redis_client`` is a ``redis.Redis``; ``name`` keeps the counts of different limits apart (two
    limiters with the same name and prefix share their counts, which is the point across workers).
    """

    def __init__(
        self,
        limit: int,
        window: float = WINDOW_SECONDS,
        *,
        redis_client: Any,
        name: str,
        key_prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.monotonic,
        retry_seconds: float = REDIS_RETRY_SECONDS,
    ) -> None:
        self.limit = limit
        self.window = window
        self.redis = redis_client
        self.prefix = f"{key_prefix}{name}:"
        self.local = LocalRateLimiter(limit, window, clock)
        self.retry_seconds = retry_seconds
        self.last_error: str | None = None
        self._take = redis_client.register_script(_TAKE_SCRIPT)
        self._give_back = redis_client.register_script(_GIVE_BACK_SCRIPT)
        self._degraded_until = 0.0
        self._state_lock = threading.Lock()

    @property
    def degraded(self) -> bool:
        """True while Redis is considered down and this process counts on its own."""
        return time.monotonic() < self._degraded_until

    def redis_key(self, key: str) -> str:
        """The Redis key of ``key``: hashed, so client addresses and user names stay out of Redis."""
        return self.prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]

    def take(self, key: str) -> float | None:
        """Take one hit for ``key``: None when allowed, else the seconds until the next one is."""
        if not self.degraded:
            member = uuid.uuid4().hex  # hits of the same microsecond on two machines stay two
            try:
                wait_us = int(
                    self._take(keys=[self.redis_key(key)], args=[self.limit, self._window_us(), member])
                )
            except Exception as exc:  # Redis down, timing out, restarting: count locally instead
                self._fail_over(exc)
            else:
                return None if wait_us == 0 else max(1.0, wait_us / 1_000_000)
        return self.local.take(key)

    def give_back(self, key: str) -> None:
        """Return the newest hit of ``key`` (the request turned out to be a cheap client error)."""
        if not self.degraded:
            try:
                self._give_back(keys=[self.redis_key(key)])
                return
            except Exception as exc:
                self._fail_over(exc)
        self.local.give_back(key)

    def _window_us(self) -> int:
        return int(self.window * 1_000_000)

    def _fail_over(self, exc: Exception) -> None:
        with self._state_lock:
            first = not self.degraded
            self._degraded_until = time.monotonic() + self.retry_seconds
            self.last_error = f"{type(exc).__name__}: {exc}"
        if first:
            log.warning("rate limits counted per process for now, Redis failed: %s", self.last_error)


def make_limiter(
    limit: int,
    window: float = WINDOW_SECONDS,
    *,
    cache_url: str,
    name: str,
    key_prefix: str = DEFAULT_PREFIX,
) -> SharedRateLimiter | LocalRateLimiter:
    """A limiter shared through Redis when ``cache_url`` (``DASHBOARD_CACHE_URL``) names one, else local.

    Example: ``make_limiter(10, 60, cache_url=settings.CACHE_URL, name="exports")``.
    """
    if not cache_url.startswith(("redis://", "rediss://", "unix://")):
        return LocalRateLimiter(limit, window)
    import redis

    # Short timeouts: a dead Redis costs a request half a second once per retry period, never more.
    client = redis.Redis.from_url(cache_url, socket_connect_timeout=0.5, socket_timeout=1.0)
    return SharedRateLimiter(limit, window, redis_client=client, name=name, key_prefix=key_prefix)
