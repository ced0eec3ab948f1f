"""The docs say what the code does, in the spirit of datasette's test_docs.

* Tables that mirror code are rendered here from the code and must match the docs row for row: the
  settings (``README.md`` → "Settings"), the metrics (``dashboard/core/README.md``), the schema's
  columns (``dashboard/source/README.md``) and the import columns (``dashboard/ingest/README.md``).
  ``python -m tests.test_docs metrics|schema|import`` prints the tables to paste after a code change.
* Every relative link in a Markdown file resolves (file and heading), every code path a Markdown file
  names exists, and no Markdown file, docstring or comment points to a document that is not in the
  repository or to a README section that is gone (:data:`MISSING_DOCS`, :data:`SECTION_REF`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from dashboard.core.metrics import METRICS, colour_rule
from dashboard.core.settings import PREFIX, ROOT, Settings
from dashboard.source.schema import UTCDateTime, metadata

README = ROOT / "README.md"
CORE_README = ROOT / "dashboard" / "core" / "README.md"
SOURCE_README = ROOT / "dashboard" / "source" / "README.md"
INGEST_README = ROOT / "dashboard" / "ingest" / "README.md"

SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist", "data"}
SKIP_DIRS |= {".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis"}

# Written by `make bench` and committed (the only files of data/bench/ git keeps): the perf docs link
# to them, and a link may point ahead of the first committed run. Once they exist they are checked.
GENERATED = {"data/bench/latest-full.md", "data/bench/latest-full.json"}


# --- Markdown helpers ----------------------------------------------------------------------------------


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def walk(suffix: str) -> Iterator[Path]:
    """Every file of the repository ending in ``suffix``, outside generated and tool directories."""
    for path in sorted(ROOT.rglob(f"*{suffix}")):
        parts = path.relative_to(ROOT).parts
        if not any(p in SKIP_DIRS or p.endswith(".egg-info") for p in parts[:-1]):
            yield path


def without_code_blocks(text: str) -> str:
    """The text with fenced code blocks blanked (line numbers kept): links there are not links."""
    return re.sub(r"^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def headings(path: Path) -> tuple[str, ...]:
    return tuple(re.findall(r"^#{1,6} +(.+?) *#*$", without_code_blocks(read(path)), flags=re.M))


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in headings(path):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return frozenset(out)


def section(path: Path, heading: str) -> str:
    """The text under the first heading that starts with ``heading``, up to the next heading of its level."""
    text = without_code_blocks(read(path))  # a "# comment" in a code block is not a heading
    match = re.search(rf"^(#+) {re.escape(heading)}[^\n]*\n", text, flags=re.M)
    assert match, f"{rel(path)} has no heading {heading!r}"
    level = len(match.group(1))
    end = re.search(rf"^#{{1,{level}}} ", text[match.end() :], flags=re.M)
    return text[match.end() : match.end() + end.start()] if end else text[match.end() :]


def section_heading(path: Path, heading: str) -> str:
    match = re.search(rf"^#+ {re.escape(heading)}[^\n]*", read(path), flags=re.M)
    assert match, f"{rel(path)} has no heading {heading!r}"
    return match.group(0)


def table_rows(text: str, header: str) -> list[list[str]]:
    """The body rows (lists of cells) of the first table in ``text`` whose header starts with ``header``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header):
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]])
            return rows
    raise AssertionError(f"no table with header {header!r}")


def markdown_table(header: str, rows: Iterable[list[str]]) -> str:
    cells = header.count("|") - 1
    return "\n".join([header, "|" + "---|" * cells, *("| " + " | ".join(r) + " |" for r in rows)])


def mismatch(what: str, header: str, expected: list[list[str]]) -> str:
    return f"{what} differs from the code; the table should read:\n\n{markdown_table(header, expected)}\n"


# --- Settings (README.md → "Settings") -----------------------------------------------------------------


def settings_section() -> str:
    return section(README, "Settings")


@pytest.mark.parametrize("name", sorted(Settings.describe()))
def test_setting_is_documented(name: str) -> None:
    assert re.search(rf"\b{PREFIX}{name}\b", settings_section()), (
        f'{PREFIX}{name} is not documented in README.md → "Settings"'
    )


def test_settings_table_names_only_real_settings() -> None:
    rows = table_rows(settings_section(), "| Variable")
    named = [re.sub(r"[`]", "", r[0]).removeprefix(PREFIX) for r in rows]
    assert sorted(named) == sorted(Settings.describe())


# --- Metrics (dashboard/core/README.md → "Metrics") --------------------------------------------------

METRICS_HEADER = (
    "| key | 中文 | English | unit | direction | thresholds (good / warn) | colour rule | definition |"
)


def _number(value: float) -> str:
    return f"{value:g}"


def metric_row(m: Any) -> list[str]:
    """One row of the metrics table, from a registry entry (key, labels, units, direction, thresholds,
    definitions: the attributes the registry keeps whatever computes the figure)."""
    unit = m.unit if m.unit == m.unit_en else f"{m.unit} ({m.unit_en})"
    direction = "↑ higher is better" if m.direction == "up" else "↓ lower is better"
    sign = "≥" if m.direction == "up" else "≤"
    thresholds = "—" if m.thresholds is None else " / ".join(f"{sign} {_number(v)}" for v in m.thresholds)
    definition = f"{m.definition_en}<br>{m.definition_zh}".replace("|", "\\|")
    rule = f"{colour_rule(m)}<br>{colour_rule(m, 'zh')}".replace("|", "\\|")
    return [f"`{m.key}`", m.label_zh, m.label_en, unit, direction, thresholds, rule, definition]


def test_metrics_table_matches_the_registry() -> None:
    expected = [metric_row(m) for m in METRICS.values()]
    actual = table_rows(section(CORE_README, "Metrics"), "| key | 中文 |")
    assert actual == expected, mismatch("The metrics table", METRICS_HEADER, expected)


# --- Schema (dashboard/source/README.md → one section per table) ------------------------------------

SCHEMA_HEADER = "| column | type | null | meaning |"


def schema_rows(table: Any) -> list[list[str]]:
    """The column table of one schema table: type, nullability and the column's comment."""
    rows = []
    for col in table.columns:
        kind = "UTC datetime" if isinstance(col.type, UTCDateTime) else str(col.type)
        null = "PK" if col.primary_key else "" if col.nullable else "NOT NULL"
        meaning = (col.comment or "").replace(" | ", " / ")
        refs = [f"(→ `{fk.target_fullname}`)" for fk in col.foreign_keys]
        rows.append([f"`{col.name}`", kind, null, " ".join([meaning, *refs]).strip()])
    return rows


def schema_section(name: str) -> str:
    return section(SOURCE_README, f"`{name}`")


@pytest.mark.parametrize("name", sorted(metadata.tables))
def test_schema_table_matches_the_code(name: str) -> None:
    table = metadata.tables[name]
    text = schema_section(name)
    expected = schema_rows(table)
    actual = table_rows(text, SCHEMA_HEADER)
    assert actual == expected, mismatch(f"The columns of {name}", SCHEMA_HEADER, expected)
    missing = [ix.name for ix in table.indexes if f"`{ix.name}`" not in text]
    assert not missing, f"indexes of {name} not named in its section: {missing}"


def test_schema_doc_has_no_other_tables() -> None:
    documented = re.findall(r"^### `(\w+)`", read(SOURCE_README), flags=re.M)
    assert sorted(documented) == sorted(metadata.tables)


# --- Import columns (dashboard/ingest/README.md → "Columns per table") ------------------------------

IMPORT_HEADER = "| column | Chinese headers | type | required |"
ONE_OF_AT_MOST = 8  # longer enumerations are listed once, under "Values"


def import_specs() -> list[Any]:
    """The importer's table specs, in processing order. The one place this test reaches into the importer."""
    from dashboard.ingest.specs import iter_specs

    return list(iter_specs())


def import_type(field: Any, table: Any) -> str:
    """How the import docs describe what a field accepts."""
    if field.enum:
        codes = list(dict.fromkeys(field.enum.values()))
        if len(codes) > ONE_OF_AT_MOST:
            text = "code or label (see [Values](#values))"
        else:
            text = "one of " + " / ".join(f"`{c}`" for c in codes)
    else:
        text = {
            "int": "integer ≥ 0",
            "float": "number",
            "bool": "yes/no",
            "date": "date",
            "datetime": "date-time",
        }.get(field.kind) or (f"text ≤ {field.max_len}" if field.max_len else "text")
    return text if field.name in table.c else f"{text} (lookup only)"


def import_required(field: Any, table: Any) -> str:
    if field.required:
        return "yes"
    col = table.c.get(field.name)
    return "derived" if col is not None and not col.nullable and col.default is None else ""


def import_rows(spec: Any) -> list[list[str]]:
    return [
        [f"`{f.name}`", "、".join(f.aliases), import_type(f, spec.table), import_required(f, spec.table)]
        for f in spec.fields.values()
    ]


def import_heading(spec: Any) -> str:
    """``### `event` (事件、案件、工单)``: the Chinese names ``--table`` accepts besides the table name."""
    names = [h for h in spec.file_hints if h not in {spec.name, spec.name + "s"}] or [spec.zh]
    return f"### `{spec.name}` ({'、'.join(names)})"


def import_key_line(spec: Any) -> str:
    line = f"Natural key: `({', '.join(spec.key)})`"
    return line + (" — append-only: a known key is skipped, never changed." if spec.append_only else "")


@pytest.mark.parametrize("spec", import_specs(), ids=lambda s: s.name)
def test_import_columns_match_the_importer(spec: Any) -> None:
    text = section(INGEST_README, f"`{spec.name}`")
    expected = import_rows(spec)
    actual = table_rows(text, IMPORT_HEADER)
    assert actual == expected, mismatch(f"The import columns of {spec.name}", IMPORT_HEADER, expected)
    assert import_key_line(spec) in text
    assert spec.zh in section_heading(INGEST_README, f"`{spec.name}`")


def test_import_doc_has_no_other_tables() -> None:
    documented = re.findall(r"^### `(\w+)`", read(INGEST_README), flags=re.M)
    assert documented == [s.name for s in import_specs()]


# --- Module tables (dashboard/<package>/README.md → "| module |") -----------------------------------


def module_table_packages() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "dashboard").glob("*/README.md") if "| module |" in read(p))


@pytest.mark.parametrize("package", module_table_packages(), ids=lambda p: p.name)
def test_module_table_lists_every_module_of_its_package(package: Path) -> None:
    text = read(package / "README.md")
    table = text[text.index("| module |") :].split("\n\n", 1)[0]
    named = {
        m for row in table.splitlines()[2:] for m in re.findall(r"`([a-z0-9_]+\.py)`", row.split("|")[1])
    }
    modules = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    assert named == modules, f"{rel(package)}/README.md: missing {modules - named}, extra {named - modules}"


# --- Links and references ---------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_PATH = re.compile(
    r"(?<![\w./-])((?:dashboard|tests|callbacks|layouts|assets)/[\w./-]*\.(?:py|md|css|js))\b"
)
DOTTED = re.compile(r"`((?:dashboard|callbacks|layouts)(?:\.[A-Za-z_]\w*)+)")
MISSING_DOCS = re.compile(r"DOMAIN\.md|\bDOMAIN (?:§|brief)|STACK-NOTES|docs/metrics\.md")
SECTION_REF = re.compile(r"([\w./-]*README(?:\.md)?)`*\s*→\s*(\"[^\"]+\"|\S+)")


def link_problem(source: Path, target: str) -> str | None:
    """Why the relative link ``target`` of ``source`` does not resolve, or None."""
    if re.match(r"^[a-z]+:", target):
        return None
    path_part, _, anchor = target.partition("#")
    path = (source.parent / path_part).resolve() if path_part else source
    if not path.exists():
        return None if rel_or_none(path) in GENERATED else "no such file"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"no heading with anchor #{anchor}"
    return None


def rel_or_none(path: Path) -> str | None:
    try:
        return rel(path)
    except ValueError:
        return None


def test_relative_links_resolve() -> None:
    broken = []
    for md in walk(".md"):
        text = without_code_blocks(read(md))
        for match in LINK.finditer(re.sub(r"`[^`\n]*`", "", text)):
            problem = link_problem(md, match.group(1))
            if problem:
                broken.append(f"{rel(md)}: ({match.group(1)}) {problem}")
    assert not broken, "\n".join(broken)


def test_code_paths_in_markdown_exist() -> None:
    missing = [
        f"{rel(md)}: {p}"
        for md in walk(".md")
        for p in CODE_PATH.findall(read(md))
        if not (ROOT / p).exists()
    ]
    assert not missing, "\n".join(missing)


def dotted_name_exists(dotted: str) -> bool:
    """``dashboard.x.y.name`` names a module, or a top-level def, class or assignment of one (read, not
    imported)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:i])
        module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if module.exists():
            rest = parts[i:]
            if not rest:
                return True
            pattern = rf"^(?:def|class|async def) {rest[0]}\b|^{rest[0]}\b[^=\n]*="
            return re.search(pattern, read(module), flags=re.M) is not None
    return False


def test_dotted_names_in_markdown_exist() -> None:
    missing = [
        f"{rel(md)}: {name}"
        for md in walk(".md")
        for name in DOTTED.findall(read(md))
        if not dotted_name_exists(name)
    ]
    assert not missing, "\n".join(missing)


def section_ref_problem(source: Path, doc: str, target: str) -> str | None:
    if not target.startswith('"'):
        return f"{doc} → {target}: quote the section name"
    path = README if doc in {"README", "README.md"} else ROOT / doc
    if not path.exists():
        path = source.parent / doc
    if not path.exists():
        return f"{doc}: no such document"
    wanted = target.strip('"').lstrip("# ").lower()
    if not any(h.lower().replace("`", "").startswith(wanted) for h in headings(path)):
        return f'{doc} → "{wanted}": no such section'
    return None


def stale_references() -> Iterator[tuple[str, str, str]]:
    """(file, text found, why) for every reference to a document or section that is not there."""
    for path in [*walk(".py"), *walk(".md")]:
        if path == Path(__file__).resolve():
            continue  # names the missing documents on purpose
        text = read(path)
        for match in MISSING_DOCS.finditer(text):
            yield rel(path), match.group(0), "not in the repository"
        for match in SECTION_REF.finditer(text):
            problem = section_ref_problem(path, match.group(1), match.group(2))
            if problem:
                yield rel(path), match.group(0), problem


def test_no_reference_to_a_missing_document() -> None:
    found = [f"{f}: {found!r}: {why}" for f, found, why in stale_references()]
    assert not found, "\n".join(found)


# --- Printing the generated tables --------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """``python -m tests.test_docs metrics|schema|import``: the tables as the docs should hold them."""
    what = argv[0] if argv else ""
    if what == "metrics":
        print(markdown_table(METRICS_HEADER, (metric_row(m) for m in METRICS.values())))
    elif what == "schema":
        for name in sorted(metadata.tables):
            print(f"### `{name}`\n\n{markdown_table(SCHEMA_HEADER, schema_rows(metadata.tables[name]))}\n")
    elif what == "import":
        for spec in import_specs():
            table = markdown_table(IMPORT_HEADER, import_rows(spec))
            print(f"{import_heading(spec)}\n\n{import_key_line(spec)}\n\n{table}\n")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
