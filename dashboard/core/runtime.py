"""The garbage collector of the dashboard's long-running processes (gunicorn workers, the development
server, and the benchmark that measures what they cost).

Why: a server process holds a few hundred thousand long-lived objects (the compiled SQL statements of the
engines' caches, ~200,000 objects after ~60 views, and what the imports and the app built). CPython's
default thresholds (700, 10, 10) collect the youngest generation every 700 net allocations, which
promotes the statement objects of the request still running (SQLAlchemy's elements hold reference
cycles) into the oldest generation, and every so often a full collection walks all of them: ~0.15 s of
CPU landing on whichever request was running (8 times in the 222 views of the coverage matrix, the
slowest views' extra 0.14–0.18 s). With a larger young generation those cycles die young, and the
objects alive when the process is ready are frozen out of the collector's walks.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000  # net allocations between collections of the youngest generation (default 700)


def tune_collector() -> None:
    """Collect the youngest generation less often, and freeze what is alive now (call once the process
    has imported and built what it keeps): full collections become rare and short."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
    gc.freeze()


@contextmanager
def collector_as_in_servers() -> Iterator[None]:
    """:func:`tune_collector` for a while, then the collector as it was: a benchmark times what a
    server's requests cost under the servers' setting, and its other sections keep their own."""
    threshold = gc.get_threshold()
    tune_collector()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
