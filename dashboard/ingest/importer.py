"""Import CSV/XLSX exports of a 一张网 system into the canonical tables (``python -m dashboard import``).

The contract, in short (dashboard/ingest/README.md has the full file format):

* CSV in UTF-8 (with or without BOM), GB18030 (Excel on Chinese Windows) or UTF-16 (Excel "Unicode
  text"); XLSX (first sheet). Headers in English (the canonical column names) or Chinese (aliases below).
* Which table: ``--table``, else inferred from the headers (and the file name when the headers fit
  several tables).
* Every value is converted and checked; every bad row is reported with file, line, column and reason.
  One transaction for the whole import: any error anywhere means nothing is written.
* Re-importing a file changes nothing: rows are matched on natural keys, then inserted, updated or
  left alone. The upsert is plain SELECT/INSERT/UPDATE so it behaves the same on every backend.

Files are processed in dependency order inside the transaction (units before grids before events
before actions), so an import may carry its own reference rows; ``--dry-run`` runs the same work and
rolls it back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import DBAPIError

from dashboard.core.progress import Progress
from dashboard.ingest.boundaries import import_boundaries, is_boundary_file
from dashboard.ingest.derive import fill_times_from_actions, missing_intermediate_times
from dashboard.ingest.job import FileJob, check_duplicates, convert_rows, map_headers
from dashboard.ingest.profiles import Profile, load_profile
from dashboard.ingest.reading import FileProblem, read_file
from dashboard.ingest.references import RESOLVERS
from dashboard.ingest.results import FileReport, ImportFailed, ImportReport, RowError
from dashboard.ingest.specs import ORDER, SPECS, infer_table, resolve_table_name
from dashboard.ingest.upsert import table_values, upsert
from dashboard.source.engines import make_writer_engine


def _open_job(
    path: Path, table: str | None, errors: list[RowError], profile: Profile | None = None
) -> FileJob | None:
    """Read and map one file; a file that cannot be read becomes an error, not an exception."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        raw = read_file(path)
    except FileProblem as exc:
        errors.append(RowError(path.name, exc.line, "", exc.reason))
        return None
    try:
        extra = profile.header_map if profile else None
        name = resolve_table_name(table) if table else infer_table(raw.headers, path.name, extra)
    except ValueError as exc:
        errors.append(RowError(path.name, raw.header_line, "", str(exc).removeprefix(f"{path.name}: ")))
        return None
    spec = SPECS[name]
    report = FileReport(path.name, name, rows=len(raw.rows))
    job = FileJob(path, spec, raw, {}, {}, errors, report=report, profile=profile)
    map_headers(job)
    return job


def _process(job: FileJob, conn: Connection, *, progress: bool) -> None:
    if job.n_errors:  # no point converting rows under a broken header
        return
    with Progress(f"check {job.path.name}", len(job.raw.rows), enabled=progress) as bar:
        convert_rows(job, bar)
        RESOLVERS[job.spec.name](job, conn)
        check_duplicates(job)
    if job.n_errors:
        return  # this file is rejected; keep checking the others for a complete report
    assert job.report is not None
    with Progress(f"write {job.path.name}", len(job.rows), enabled=progress) as bar:
        try:
            upsert(conn, job.spec, table_values(job), job.report, bar)
        except DBAPIError as exc:
            # Checks should prevent this (e.g. keys differing only in case on a case-insensitive
            # MariaDB collation); report it like any other error rather than crash.
            job.error(0, "", f"the database refused the rows: {exc.orig}")
            raise ImportFailed(job.errors) from exc


def _check_tables(engine: Engine, jobs: Sequence[FileJob]) -> None:
    inspector = inspect(engine)
    for name in dict.fromkeys(j.spec.name for j in jobs):
        if not inspector.has_table(name):
            raise ValueError(f"table {name!r} does not exist on this database: run init-db first")


def _times_from_action_log(conn: Connection, jobs: Sequence[FileJob]) -> None:
    """Intermediate times the events lacked, taken from the action log once every file is written."""
    for job in jobs:
        if job.spec.name != "event" or job.report is None:
            continue
        lacking = [
            str(r.values["event_no"])
            for r in job.rows
            if missing_intermediate_times(r.values.get("status"), r.values)
        ]
        filled = fill_times_from_actions(conn, lacking)
        for column, count in filled.items():
            job.report.derived[f"{column} from the action log"] = count
        if filled:  # these rows changed after their upsert: the rollups must read them again
            job.report.updated_keys.extend((no,) for no in lacking)


def _check_boundary_tables(engine: Engine) -> None:
    inspector = inspect(engine)
    if not (inspector.has_table("admin_unit") and inspector.has_table("grid")):
        raise ValueError("boundaries need the admin_unit and grid tables on this database: run init-db first")


def import_files(
    url: str,
    paths: list[Path],
    *,
    table: str | None = None,
    dry_run: bool = False,
    progress: bool = False,
    crs: str | None = None,
    code_field: str | None = None,
    profile: Path | None = None,
) -> ImportReport:
    """Import ``paths`` in one transaction; raise :class:`ImportFailed` (nothing written) on any error.

    Boundary files (GeoJSON, shapefiles: :mod:`dashboard.ingest.boundaries`) go last, so they may name
    units the same import adds; ``crs`` and ``code_field`` apply to them. ``profile`` is a column-mapping
    profile (:mod:`dashboard.ingest.profiles`) for the table files."""
    mapping = load_profile(Path(profile), {n: set(s.fields) for n, s in SPECS.items()}) if profile else None
    errors: list[RowError] = []
    shapes = [Path(p) for p in paths if is_boundary_file(Path(p))]
    for p in shapes:
        if not p.is_file():
            raise ValueError(f"{p}: no such file")
    tables = [Path(p) for p in paths if not is_boundary_file(Path(p))]
    jobs = [job for p in tables if (job := _open_job(p, table, errors, mapping)) is not None]
    jobs.sort(key=lambda j: ORDER.index(j.spec.name))  # stable: same-table files keep their order
    if table:
        resolve_table_name(table)  # a typo in --table is a usage error, not a file error
    engine = make_writer_engine(url)
    try:
        _check_tables(engine, jobs)
        if shapes:
            _check_boundary_tables(engine)
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                for job in jobs:
                    _process(job, conn, progress=progress)
                if not errors:
                    _times_from_action_log(conn, jobs)
                drawn = [
                    r
                    for p in shapes
                    if not errors
                    and (
                        r := import_boundaries(
                            conn, p, crs=crs, code_field=code_field, errors=errors, progress=progress
                        )
                    )
                ]
                if errors:
                    raise ImportFailed(sorted(errors, key=_error_order(paths)))
            except BaseException:
                trans.rollback()
                raise
            if dry_run:
                trans.rollback()
            else:
                trans.commit()
    finally:
        engine.dispose()
    return ImportReport([j.report for j in jobs if j.report is not None], dry_run, drawn)


def _error_order(paths: Sequence[Path]) -> Callable[[RowError], tuple]:
    position = {Path(p).name: i for i, p in enumerate(paths)}
    return lambda e: (position.get(e.file, 0), e.line)
