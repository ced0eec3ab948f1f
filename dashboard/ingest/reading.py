"""Reading import files into rows of cells: CSV in UTF-8, GB18030 or UTF-16 (any of , ; tab), or XLSX.

A file that cannot be read (bad encoding, truncation, binary data) raises :class:`FileProblem` naming the
line; header text is normalised here so that ``Event No`` and ``上报时间（北京时间）`` match their fields.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def normalise_header(text: str) -> str:
    """``Event No`` → ``event_no``; ``上报时间（北京时间）`` → ``上报时间``; BOM and spaces dropped."""
    text = text.replace("\ufeff", "").strip()
    text = re.sub(r"[（(][^）)]*[）)]\s*$", "", text).strip()
    return re.sub(r"[\s\-./]+", "_", text).lower()


class FileProblem(Exception):
    """The file itself cannot be read (encoding, truncation): reported as one error."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


@dataclass
class RawTable:
    """A file's header row and data rows, blank rows skipped."""

    headers: list[str]
    header_line: int
    rows: list[tuple[int, list[Any]]]  # (physical line or XLSX row, cells)


def _failure_offset(data: bytes, encoding: str) -> int | None:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM optional), UTF-16 with BOM, else GB18030; undecodable bytes name their line."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise FileProblem(0, f"invalid UTF-16 text: {exc.reason}") from exc
    utf8_bad = _failure_offset(data, "utf-8-sig")
    if utf8_bad is None:
        return data.decode("utf-8-sig")
    # Multi-byte UTF-8 before the bad byte means the file is UTF-8 with a corrupt spot; a GB18030
    # reading would "succeed" with mojibake and hide where the damage is.
    utf8_confirmed = data.startswith(codecs.BOM_UTF8) or not data[:utf8_bad].isascii()
    if not utf8_confirmed:
        gb_bad = _failure_offset(data, "gb18030")
        if gb_bad is None:
            return data.decode("gb18030")
        # The encoding that read further is most likely the file's; its failure is the real problem.
        utf8_bad = max(utf8_bad, gb_bad)
    line = data[:utf8_bad].count(b"\n") + 1
    snippet = data[utf8_bad : utf8_bad + 4].hex(" ")
    raise FileProblem(line, f"undecodable bytes ({snippet}): the file is neither UTF-8 nor GB18030 text")


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def read_csv(path: Path) -> RawTable:
    """A CSV (or tab/semicolon separated) file; its delimiter is guessed from the header line."""
    text = decode_text(path.read_bytes())
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise FileProblem(line, "binary data (NUL byte): not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.split("\n", 1)[0]))
    rows: list[tuple[int, list[Any]]] = []
    headers: list[str] | None = None
    header_line = 1
    last = 0
    try:
        for record in reader:
            start, last = last + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if headers is None:
                headers, header_line = record, start
            else:
                rows.append((start, record))
    except csv.Error as exc:
        raise FileProblem(reader.line_num, f"malformed CSV: {exc}") from exc
    if headers is None:
        raise FileProblem(0, "the file is empty (no header row)")
    return RawTable(headers, header_line, rows)


def read_xlsx(path: Path) -> RawTable:
    """The first sheet of an XLSX workbook."""
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles it cannot read; data is fine
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                sheet = book.worksheets[0]
                cells = [list(r) for r in sheet.iter_rows(values_only=True)]
            finally:
                book.close()
    except Exception as exc:  # any failure to parse an untrusted workbook is a problem of the file
        raise FileProblem(0, f"not a readable XLSX workbook (truncated or corrupt?): {exc}") from exc
    headers: list[str] | None = None
    header_line = 1
    rows: list[tuple[int, list[Any]]] = []
    for number, record in enumerate(cells, start=1):
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in record):
            continue
        if headers is None:
            while record and record[-1] is None:
                record.pop()
            headers, header_line = ["" if c is None else str(c) for c in record], number
        else:
            rows.append((number, record))
    if headers is None:
        raise FileProblem(0, "the first sheet is empty (no header row)")
    return RawTable(headers, header_line, rows)


def read_file(path: Path) -> RawTable:
    """A CSV or XLSX file, by its suffix."""
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        return read_xlsx(path)
    if suffix in {".csv", ".txt", ".tsv"}:
        return read_csv(path)
    raise ValueError(f"{path}: unsupported file type {suffix!r} (use .csv or .xlsx)")
