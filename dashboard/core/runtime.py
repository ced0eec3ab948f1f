"""The garbage collector and the C allocator of the dashboard's long-running processes (gunicorn workers,
the development server, and the benchmark that measures what they cost).

Why: a server process holds a few hundred thousand long-lived objects (the compiled SQL statements of the
engines' caches, ~200,000 objects after ~60 views, and what the imports and the app built). CPython's
default thresholds (700, 10, 10) collect the youngest generation every 700 net allocations, which
promotes the statement objects of the request still running (SQLAlchemy's elements hold reference
cycles) into the oldest generation, and every so often a full collection walks all of them: ~0.15 s of
CPU landing on whichever request was running (8 times in the 222 views of the coverage matrix, the
slowest views' extra 0.14–0.18 s). With a larger young generation those cycles die young, and the
objects alive when the process is ready are frozen out of the collector's walks.

The allocator (:func:`tune_allocator`): glibc serves a block of 128 KiB or more with its own ``mmap``,
unmapped when freed, but each such free *raises* that threshold to the freed size (up to 32 MiB). A
worker soon frees a board's megabyte of JSON (orjson's output, zlib's buffers, a Redis reply), and from
then on every such buffer is carved from the heaps of its thread's arena instead. Freed there, between
small objects still alive, the space stays resident (a heap gives back only its top; ``malloc_trim``
once a second gave back almost nothing): under the bench's load, 60–80 MB free inside glibc's arenas
per worker against 9 MB more in use (``mallinfo2``), most of a worker's ~105 MB peak RSS above idle.
Kept where it starts, the threshold hands every big buffer back to the kernel when it is freed: free
space in the arenas ~3–5 MB, peak RSS above idle ~80 MB (dashboard/perf/README.md, worker memory).
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SWITCH_SECONDS = 0.001  # how long a thread may hold the GIL while another waits for it (default 0.005)
YOUNG_THRESHOLD = 10_000  # net allocations between collections of the youngest generation (default 700)
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's starting value, kept: setting it stops the drift upwards


def tune_collector() -> None:
    """Collect the youngest generation less often, and freeze what is alive now (call once the process
    has imported and built what it keeps): full collections become rare and short."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
    gc.freeze()


def tune_thread_switching() -> None:
    """Hand the GIL over after 1 ms instead of 5 when another thread waits for it.

    Why: a worker's threads answer requests that mostly wait (Redis, the database, the socket) while a
    background thread draws boards ahead or rebuilds a view (tens to hundreds of milliseconds of pure
    Python). Each time a request's thread comes back from a wait it queues for the GIL behind that
    thread, up to the switch interval, and a screen's tick makes several such waits: with the default
    5 ms a tick took up to tens of milliseconds longer while a board was being drawn beside it.
    """
    sys.setswitchinterval(SWITCH_SECONDS)


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


def tune_allocator() -> bool:
    """Fix glibc's ``mmap`` threshold at its starting 128 KiB, so a freed big buffer goes back to the
    kernel instead of staying resident in a heap (see the module docstring). True when it was set; False
    off glibc, or when ``MALLOC_MMAP_THRESHOLD_`` is in the environment (the operator's own setting)."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process runs on
    except (OSError, AttributeError):  # no mallopt (not glibc)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
