"""One file under validation: its mapped headers, its converted rows and the errors found so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard.core.progress import Progress
from dashboard.ingest.conversion import convert, is_blank
from dashboard.ingest.profiles import Profile
from dashboard.ingest.reading import RawTable, normalise_header
from dashboard.ingest.results import FileReport, RowError
from dashboard.ingest.specs import TableSpec


@dataclass
class Row:
    """One data row: its line, its converted values, and whether all of them passed."""

    line: int
    values: dict[str, Any]
    ok: bool = True


@dataclass
class FileJob:
    """One file being imported: where its cells go, the rows so far, its errors and its report."""

    path: Path
    spec: TableSpec
    raw: RawTable
    columns: dict[int, str]  # cell index → field name
    labels: dict[str, str]  # field name → header text, for messages
    errors: list[RowError]
    rows: list[Row] = field(default_factory=list)
    report: FileReport | None = None
    n_errors: int = 0
    profile: Profile | None = None

    def error(self, line: int, fieldname: str, reason: str, *, column: str | None = None) -> None:
        column = self.label(fieldname) if column is None else column
        self.errors.append(RowError(self.path.name, line, column, reason))
        self.n_errors += 1

    def label(self, fieldname: str) -> str:
        if not fieldname:
            return ""
        header = self.labels.get(fieldname)
        return f"{header} ({fieldname})" if header and header != fieldname else fieldname

    def bad(self, row: Row, fieldname: str, reason: str) -> None:
        row.ok = False
        self.error(row.line, fieldname, reason)

    def warn(self, kind: str, line: int) -> None:
        """A row accepted under a documented policy (``kind`` says which); counted in the report."""
        assert self.report is not None
        self.report.warnings.setdefault(kind, []).append(line)


def map_headers(job: FileJob) -> None:
    """Match header cells to fields; report missing required columns and duplicates."""
    hmap = job.spec.header_map()
    if job.profile is not None:
        hmap.update(job.profile.header_map(job.spec.name))
    ignored: list[str] = []
    for index, header in enumerate(job.raw.headers):
        name = hmap.get(normalise_header(header))
        if name is None:
            if header.strip():
                ignored.append(header.strip())
            continue
        if name in job.labels:
            job.error(job.raw.header_line, name, f"column given twice (also as {job.labels[name]!r})")
            continue
        job.columns[index] = name
        job.labels[name] = header.strip().replace("\ufeff", "")
    for name in job.spec.required:
        if name not in job.labels:
            f = job.spec.fields[name]
            accepted = ", ".join((name, *f.aliases))
            job.error(job.raw.header_line, name, f"required column is missing ({accepted})", column=name)
    assert job.report is not None
    job.report.ignored_columns = ignored


def convert_rows(job: FileJob, bar: Progress) -> None:
    """Convert every row's cells to field values, recording each bad cell."""
    width = len(job.raw.headers)
    fields = [job.spec.fields[n] for n in job.columns.values()]
    for line, cells in job.raw.rows:
        row = Row(line, {})
        extra = cells[width:]
        if any(not is_blank(c) for c in extra):
            job.bad(row, "", f"{len(cells)} values but the header has {width} columns")
        elif len(cells) < width and job.path.suffix.lower() != ".xlsx":
            job.bad(row, "", f"only {len(cells)} values but the header has {width} columns (truncated line?)")
        else:
            for (index, _name), f in zip(job.columns.items(), fields, strict=True):
                cell = cells[index] if index < len(cells) else None
                if job.profile is not None:
                    cell = job.profile.value(f.name, cell)
                try:
                    row.values[f.name] = convert(cell, f)
                except ValueError as exc:
                    job.bad(row, f.name, str(exc))
        job.rows.append(row)
        bar.advance()


def check_duplicates(job: FileJob) -> None:
    """Two rows of one file with the same natural key: ambiguous, so an error rather than last-wins."""
    seen: dict[tuple, int] = {}
    for r in job.rows:
        if not r.ok:
            continue
        key = tuple(r.values.get(k) for k in job.spec.key)
        if key in seen:
            names = ", ".join(job.spec.key)
            job.bad(r, job.spec.key[-1], f"duplicate key ({names}) — same as line {seen[key]}")
        else:
            seen[key] = r.line
