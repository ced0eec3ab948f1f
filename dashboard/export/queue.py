"""One queue for every export: at most :data:`EXPORT_SLOTS` exports at once across the deployment.

An export holds a LibreOffice or a Chromium for seconds, so the browser's export button, ``/export/*``
and ``python -m dashboard export`` all take one of a few numbered slots first. A slot is a lock in the
shared cache (:meth:`dashboard.service.cache.SharedCache.try_lock`): with Redis every process on every
machine shares them, and a slot expires :data:`SLOT_SECONDS` after it was taken (so a holder that died
frees it; no export takes that long); with the on-disk cache they are ``flock`` files of their own,
shared by the processes of one machine and released by the kernel when their holder dies.

The web answers a request that finds every slot taken with 429 and ``Retry-After`` (:class:`ExportBusy`);
the command line waits for a slot and says so (:meth:`ExportQueue.wait_for_slot`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Protocol

EXPORT_SLOTS = 2  # exports at once, for the whole deployment (the machine, without Redis)
SLOT_SECONDS = 600.0  # a Redis slot expires this long after it was taken, in case its holder died
RETRY_AFTER = 10  # seconds suggested to a caller turned away
POLL_SECONDS = 1.0  # how often a waiting command line looks for a free slot
BUSY_MESSAGE = "导出任务繁忙，请 {seconds} 秒后重试 / too many exports at once, try again in {seconds} s"


class Locks(Protocol):
    """What the queue needs of the shared cache: a non-blocking, cross-process lock."""

    def try_lock(
        self, key: str, ttl_seconds: float, *, own_file: bool = False
    ) -> AbstractContextManager[bool]:
        """Try once to take the lock of ``key``; the context yields whether it is held."""
        ...


class ExportBusy(RuntimeError):
    """Every export slot is taken: try again in :attr:`retry_after` seconds (HTTP: 429)."""

    def __init__(self, retry_after: int = RETRY_AFTER) -> None:
        super().__init__(BUSY_MESSAGE.format(seconds=retry_after))
        self.retry_after = retry_after


class ExportQueue:
    """Numbered export slots held in ``locks`` (the shared cache); stateless, so cheap to make per use."""

    def __init__(self, locks: Locks, slots: int = EXPORT_SLOTS, *, prefix: str = "export-slot") -> None:
        self.locks = locks
        self.slots = slots
        self.prefix = prefix

    @contextmanager
    def slot(self) -> Iterator[int]:
        """Hold a free slot for the block (its number); :class:`ExportBusy` when none is free."""
        for index in range(self.slots):
            with ExitStack() as stack:
                key = f"{self.prefix}:{index}"
                if stack.enter_context(self.locks.try_lock(key, SLOT_SECONDS, own_file=True)):
                    yield index
                    return
        raise ExportBusy()

    @contextmanager
    def wait_for_slot(
        self, say: Callable[[str], None], *, timeout: float = 3600.0, poll: float = POLL_SECONDS
    ) -> Iterator[int]:
        """Hold a slot for the block, waiting for one (saying so once) up to ``timeout`` seconds."""
        waited_since: float | None = None
        while True:
            held = ExitStack()
            try:
                index = held.enter_context(self.slot())
            except ExportBusy:
                if waited_since is None:
                    waited_since = time.monotonic()
                    say(
                        f"导出队列已满（最多 {self.slots} 个同时进行），等待空位… / waiting for an export slot …"
                    )
                elif time.monotonic() - waited_since >= timeout:
                    raise
                time.sleep(poll)
                continue
            with held:
                if waited_since is not None:
                    say(f"已轮到本次导出 / got an export slot after {time.monotonic() - waited_since:.0f} s")
                yield index
            return
