"""Each source stream's freshness for the screens and ``/health``, read at most once per half refresh.

Unlike a snapshot, freshness cannot be cached under the data version: a stopped feed is precisely the
case where the data version stands still while the verdict must move from live to late to stopped. So
it is judged against the clock every ``check_seconds`` (shared by every process through the cache).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from sqlalchemy import Engine

from dashboard.core.clock import Clock
from dashboard.core.freshness import (
    DEFAULT_CADENCE,
    STREAMS,
    StreamState,
    history_window,
    judge,
    parse_cadence,
)
from dashboard.service.cache import SharedCache

log = logging.getLogger(__name__)


class FreshnessWatch:
    """Judges the four streams of one source (see :mod:`dashboard.core.freshness`)."""

    def __init__(
        self,
        engine: Engine,
        cache: SharedCache,
        clock: Clock,
        cadence: Mapping[str, float] | None = None,
        check_seconds: int = 5,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.clock = clock
        self.cadence = dict(cadence or parse_cadence(DEFAULT_CADENCE))
        self.check_seconds = max(1, check_seconds)

    def streams(self) -> list[StreamState] | None:
        """Every stream's state now; None when the source does not answer (its outage is said elsewhere)."""
        now = self.clock.now()
        key = f"freshness:{int(now.timestamp()) // self.check_seconds}"
        cached = self.cache.get(key)
        if isinstance(cached, list):
            return [StreamState.from_dict(item) for item in cached]
        try:
            states = self._judge(now)
        except Exception as exc:  # the source is down: no verdict rather than a false one
            log.warning("stream freshness not read: %s", type(exc).__name__)
            return None
        self.cache.set(key, [s.to_dict() for s in states], ttl=2 * self.check_seconds)
        return states

    def _judge(self, now: dt.datetime) -> list[StreamState]:
        from dashboard.source.queries.freshness import expected_rows, stream_newest

        states = []
        with self.engine.connect() as conn:
            newest = stream_newest(conn, now)
            for stream in STREAMS:
                at = newest[stream.key]
                cadence = self.cadence[stream.key]
                if at is None:
                    states.append(
                        StreamState(stream.key, None, None, None, judge(None, cadence, None, heartbeat=False))
                    )
                    continue
                age = max(0.0, (now - at).total_seconds())
                # History is asked only once the stream is past its cadence (rarely, on a live feed).
                asks = not stream.heartbeat and age > cadence * 60
                expected = (
                    expected_rows(conn, stream.key, *history_window(at, now, cadence)) if asks else None
                )
                state = judge(age, cadence, expected, heartbeat=stream.heartbeat)
                states.append(StreamState(stream.key, at, age, expected, state))
        return states
