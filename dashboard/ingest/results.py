"""What an import gives back: per-file reports, or every problem found (then nothing was written)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_REPORTED_ERRORS = 200


@dataclass(frozen=True)
class RowError:
    """One problem in an import file. ``line`` is the physical CSV line or the XLSX row (0 = whole file)."""

    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.column}: {self.reason}" if self.column else f"{where}: {self.reason}"


class ImportFailed(Exception):
    """The import was rejected; nothing was written. ``errors`` holds every problem found."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} error{'s' if len(errors) != 1 else ''}, nothing written")


@dataclass
class FileReport:
    """What one file did (or would do, in a dry run)."""

    file: str
    table: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    updated_keys: list[tuple[Any, ...]] = field(default_factory=list, repr=False)  # natural keys
    warnings: dict[str, list[int]] = field(default_factory=dict)  # policy applied → lines it applied to
    derived: dict[str, int] = field(default_factory=dict)  # what was derived after the writes → rows

    def summary(self) -> str:
        text = (
            f"{self.file} → {self.table}: {self.rows} rows, {self.inserted} inserted, "
            f"{self.updated} updated, {self.unchanged} unchanged"
        )
        if self.ignored_columns:
            text += f" (ignored columns: {', '.join(self.ignored_columns)})"
        for kind, lines in self.warnings.items():
            shown = ", ".join(map(str, lines[:8])) + (f" … ({len(lines)} rows)" if len(lines) > 8 else "")
            text += f"\n  note: {kind}: line{'s' if len(lines) > 1 else ''} {shown}"
        for what, count in self.derived.items():
            text += f"\n  note: {what}: {count} row{'s' if count != 1 else ''}"
        return text


@dataclass
class ImportReport:
    """What the whole import did (or would do, in a dry run), file by file."""

    files: list[FileReport]
    dry_run: bool
    boundaries: list[Any] = field(default_factory=list)  # dashboard.ingest.boundaries.BoundaryReport

    @property
    def inserted(self) -> int:
        return sum(f.inserted for f in self.files)

    @property
    def updated(self) -> int:
        return sum(f.updated for f in self.files)

    @property
    def unchanged(self) -> int:
        return sum(f.unchanged for f in self.files)


def print_errors(errors: Sequence[RowError], stream: Any = None) -> None:
    """The first MAX_REPORTED_ERRORS errors, one a line, and how many more there were."""
    stream = stream or sys.stderr
    for e in errors[:MAX_REPORTED_ERRORS]:
        print(e, file=stream)
    if len(errors) > MAX_REPORTED_ERRORS:
        print(f"… and {len(errors) - MAX_REPORTED_ERRORS} more errors", file=stream)
