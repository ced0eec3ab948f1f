"""A dependency-free progress bar for long command-line work (seeding, imports, exports)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``label [#####.....] 42% 1,234/5,678 12.3 s`` to stderr, at most a few times a second."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.label = label
        self.total = max(int(total), 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.started = time.monotonic()
        self._last_draw = 0.0

    def advance(self, n: int = 1) -> None:
        self.done = min(self.done + n, self.total)
        now = time.monotonic()
        if now - self._last_draw > 0.25 or self.done >= self.total:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        frac = self.done / self.total
        bar = "#" * int(frac * 30)
        elapsed = time.monotonic() - self.started
        end = "\n" if self.done >= self.total else ""
        self.stream.write(
            f"\r{self.label:<28} [{bar:<30}] {frac:>4.0%} {self.done:,}/{self.total:,} {elapsed:6.1f} s{end}"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.done < self.total:
            self.done = self.total
            self._draw()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        elif self.enabled:
            self.stream.write("\n")
