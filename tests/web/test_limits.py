"""The shared rate limiter (dashboard/limits.py): counts shared through Redis, window expiry, fallback.

Redis is the shared server on 127.0.0.1:6379; its outage is simulated by cutting a test-controlled TCP
proxy in front of it (tests/tcpproxy.py), never by stopping it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from dashboard.web.limits import LocalRateLimiter, SharedRateLimiter, make_limiter
from tests.support.services import need_redis
from tests.support.tcpproxy import TcpProxy


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    url = need_redis()
    import redis

    name = f"xstest:{uuid.uuid4().hex[:10]}:"
    yield name
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=name + "*"):
        client.delete(key)
    client.close()


def shared(limit: int, window: float, prefix: str, url: str | None = None) -> SharedRateLimiter:
    limiter = make_limiter(limit, window, cache_url=url or need_redis(), name="exports", key_prefix=prefix)
    assert isinstance(limiter, SharedRateLimiter)
    return limiter


def test_two_limiters_share_one_count(prefix: str) -> None:
    """Two workers (two instances, two connections) together get the limit once, not twice."""
    a, b = shared(4, 60, prefix), shared(4, 60, prefix)
    taken = [a.take("10.0.0.1"), b.take("10.0.0.1"), a.take("10.0.0.1"), b.take("10.0.0.1")]
    assert taken == [None, None, None, None]
    refused = b.take("10.0.0.1")
    assert refused is not None and 1.0 <= refused <= 60.0
    assert a.take("10.0.0.1") is not None
    assert a.take("10.0.0.2") is None, "other clients have their own count"
    other = shared(4, 60, prefix.replace("xstest:", "xstest-other:"))
    assert other.take("10.0.0.1") is None, "another prefix (deployment) has its own count"
    assert not a.degraded and not b.degraded


def test_give_back_returns_a_hit(prefix: str) -> None:
    a, b = shared(2, 60, prefix), shared(2, 60, prefix)
    assert a.take("k") is None and b.take("k") is None
    assert a.take("k") is not None
    b.give_back("k")
    assert a.take("k") is None


def test_the_window_slides(prefix: str) -> None:
    limiter = shared(2, 1.0, prefix)
    assert limiter.take("k") is None
    time.sleep(0.5)
    assert limiter.take("k") is None
    wait = limiter.take("k")
    assert wait is not None and wait >= 1.0, "refused, and never told to come back in under a second"
    time.sleep(0.7)  # the first hit has left the window, the second has not
    assert limiter.take("k") is None
    assert limiter.take("k") is not None
    time.sleep(1.2)
    assert limiter.take("k") is None and limiter.take("k") is None


def test_keys_expire_in_redis(prefix: str) -> None:
    import redis

    limiter = shared(3, 1.0, prefix)
    limiter.take("10.0.0.9")
    client = redis.Redis.from_url(need_redis())
    key = limiter.redis_key("10.0.0.9")
    assert "10.0.0.9" not in key, "client addresses are not written to Redis"
    ttl = client.pttl(key)
    client.close()
    assert 0 < ttl <= 2000


def test_falls_back_to_counting_locally_while_redis_is_cut(prefix: str) -> None:
    need_redis()
    with TcpProxy("127.0.0.1", 6379) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/15"
        limiter = make_limiter(3, 60, cache_url=url, name="exports", key_prefix=prefix)
        assert isinstance(limiter, SharedRateLimiter)
        limiter.retry_seconds = 0.5
        assert limiter.take("k") is None and limiter.take("k") is None  # two hits in Redis

        proxy.cut()
        started = time.monotonic()
        answers = [limiter.take("k") for _ in range(4)]
        assert time.monotonic() - started < 5, "a dead Redis costs at most a connect timeout"
        assert answers[:3] == [None, None, None], "counted afresh in the process, never failing"
        assert answers[3] is not None, "the limit still holds while Redis is away"
        assert limiter.degraded and limiter.last_error

        proxy.restore()
        time.sleep(0.6)  # past the retry period: back to the shared count (two hits before the cut)
        assert limiter.take("k") is None
        assert not limiter.degraded
        assert limiter.take("k") is not None


def test_without_redis_the_limiter_is_local() -> None:
    limiter = make_limiter(1, 60, cache_url="", name="exports")
    assert isinstance(limiter, LocalRateLimiter)
    assert limiter.take("k") is None and limiter.take("k") is not None


def test_local_window_with_an_injected_clock() -> None:
    now = [100.0]
    limiter = LocalRateLimiter(2, 10.0, clock=lambda: now[0])
    assert limiter.take("k") is None and limiter.take("k") is None
    assert limiter.take("k") == 10.0
    now[0] += 4
    assert limiter.take("k") == 6.0
    limiter.give_back("k")
    now[0] += 6
    assert limiter.take("k") is None


def test_concurrent_takes_never_exceed_the_limit(prefix: str) -> None:
    """The trim-count-add is one script: 40 simultaneous hits from two instances let exactly 7 through."""
    from concurrent.futures import ThreadPoolExecutor

    a, b = shared(7, 60, prefix), shared(7, 60, prefix)
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda i: (a if i % 2 else b).take("k"), range(40)))
    assert sum(1 for x in answers if x is None) == 7
