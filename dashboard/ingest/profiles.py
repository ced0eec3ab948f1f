"""Column-mapping profiles: one system's export headers and values mapped to the canonical ones.

A profile is a TOML file (read with the standard library's ``tomllib``) given as ``import --profile FILE``::

    [profile]
    name = "基层治理四平台 事件导出"

    [headers]                 # export header → canonical column, for every table
    "发生时间" = "reported_at"

    [headers.event]           # … or for one table only (wins over [headers])
    "办理单位" = "dispatch_dept_code"

    [values.status]           # export value → canonical value, for one column
    "办理中" = "IN_PROGRESS"

A profile only adds to what the importer already reads (canonical names, the Chinese aliases, codes and
labels of every enumeration), so it names just what one system spells its own way. A profile that maps
to a column no table has, or whose file is not valid TOML, is refused with the reason before anything is
read.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard.ingest.reading import normalise_header

EXAMPLES = Path(__file__).parent / "examples"  # the shipped example profiles


@dataclass(frozen=True)
class Profile:
    """Header and value mappings of one exporting system."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)  # normalised header → column, all tables
    table_headers: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # table → normalised header → column
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column → value text → canonical

    def header_map(self, table: str) -> dict[str, str]:
        """Normalised header → column for ``table`` (its own section over the shared one)."""
        return {**self.headers, **self.table_headers.get(table, {})}

    def value(self, column: str, cell: Any) -> Any:
        """The canonical value for ``cell`` of ``column`` when the profile maps it, else the cell."""
        mapping = self.values.get(column)
        if not mapping or cell is None:
            return cell
        return mapping.get(str(cell).strip(), cell)


def load_profile(path: Path, columns: dict[str, set[str]]) -> Profile:
    """The profile at ``path``, checked against ``columns`` (table → its importable columns).

    Raises ValueError with what is wrong (the file, the section, the entry)."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ValueError(f"profile {path}: cannot be read ({exc.strerror or exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"profile {path.name}: not valid TOML ({exc})") from exc
    every = set().union(*columns.values())
    unknown = set(doc) - {"profile", "headers", "values"}
    if unknown:
        raise ValueError(
            f"profile {path.name}: unknown sections {sorted(unknown)} (profile, headers, values)"
        )
    shared: dict[str, str] = {}
    per_table: dict[str, dict[str, str]] = {}
    for key, target in (doc.get("headers") or {}).items():
        if isinstance(target, dict):
            if key not in columns:
                raise ValueError(
                    f"profile {path.name}: [headers.{key}] names no table ({', '.join(columns)})"
                )
            per_table[key] = _headers(path, f"headers.{key}", target, columns[key])
        else:
            shared.update(_headers(path, "headers", {key: target}, every))
    values = {}
    for column, mapping in (doc.get("values") or {}).items():
        if column not in every or not isinstance(mapping, dict):
            raise ValueError(f"profile {path.name}: [values.{column}] is not a table of a known column")
        values[column] = {str(k).strip(): str(v) for k, v in mapping.items()}
    name = str((doc.get("profile") or {}).get("name") or path.stem)
    return Profile(name, shared, per_table, values)


def _headers(path: Path, section: str, entries: dict[str, Any], allowed: set[str]) -> dict[str, str]:
    out = {}
    for header, column in entries.items():
        if not isinstance(column, str) or column not in allowed:
            raise ValueError(
                f"profile {path.name}: [{section}] {header!r} = {column!r} is not an importable column"
            )
        out[normalise_header(header)] = column
    return out
