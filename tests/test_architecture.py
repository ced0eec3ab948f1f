"""The house rules, read from the import graph (imports inside functions count too).

* The import-linter contracts in pyproject.toml: the layers, no flask/dash/werkzeug below the web layer,
  present never queries, layouts and callbacks see the app only through the web layer's typed context,
  nothing in the product imports the tools.
* No import cycle between modules anywhere in dashboard/, callbacks/, layouts/.
* No module imports another module's underscore names.

Each rule is also run against a small deliberately broken tree, so a checker that stopped seeing
violations would fail here rather than pass in silence.
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
ROOTS = ("dashboard", "callbacks", "layouts")


# --- the checkers ------------------------------------------------------------------------------------


def run_contracts(config: Path) -> tuple[int, str]:
    """import-linter on ``config``: (exit status, its report)."""
    out = io.StringIO()
    # import-linter configures logging and disables every logger that exists by then: the tests that
    # run after it in the same process would no longer see the dashboard's log lines.
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    enabled = [logger for logger in loggers if not logger.disabled]
    try:
        with contextlib.redirect_stdout(out):
            status = lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    finally:
        for logger in enabled:
            logger.disabled = False
    return status, out.getvalue()


def import_cycles(roots: Sequence[str]) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan's SCCs)."""
    graph = grimp.build_graph(*roots, cache_dir=None)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a deep chain of imports cannot hit the recursion limit.
        work: list[tuple[str, Iterator[str]]] = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, []))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))

    for module in modules:
        if module in index or module not in edges:
            continue
        visit(module)
    return found


def module_files(base: Path, roots: Sequence[str]) -> Iterator[tuple[str, Path]]:
    for root in roots:
        for path in sorted((base / root).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def private_name_uses(base: Path, roots: Sequence[str]) -> list[str]:
    """``from m import _x`` and ``m._x`` where ``m`` is another module of the project."""
    found: list[str] = []
    for module, path in module_files(base, roots):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # local name → project module it names
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in roots:
                        aliases[alias.asname or alias.name.split(".")[0]] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] not in roots or node.module == module:
                    continue
                for alias in node.names:
                    if _private(alias.name):
                        found.append(f"{module}:{node.lineno} imports {alias.name} from {node.module}")
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and aliases[node.value.id] != module
            ):
                found.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# --- the project keeps the rules ----------------------------------------------------------------------


def test_the_import_contracts_hold() -> None:
    status, report = run_contracts(ROOT / "pyproject.toml")
    assert status == 0, report


def test_no_import_cycle_anywhere() -> None:
    assert import_cycles(ROOTS) == []


def test_no_module_imports_another_modules_underscore_names() -> None:
    assert private_name_uses(ROOT, ROOTS) == []


# --- the checkers see a broken tree -------------------------------------------------------------------

BROKEN = {
    "dashboard/__init__.py": "",
    "dashboard/core/__init__.py": "",
    "dashboard/core/a.py": "def f():\n    from dashboard.core import b\n",  # a cycle through a function
    "dashboard/core/b.py": "from dashboard.core import a\n",
    "dashboard/source/__init__.py": "",
    "dashboard/source/q.py": "from dashboard.core.a import _hidden\n",
    "dashboard/service/__init__.py": "",
    "dashboard/service/s.py": "def who():\n    from flask import g\n    return g\n",
    "dashboard/web/__init__.py": "",
    "dashboard/web/context.py": "",
    "layouts/__init__.py": "",
    "layouts/page.py": "from dashboard.source import q\n\ndef render():\n    return q._rows()\n",
    "callbacks/__init__.py": "",
}
BROKEN_CONFIG = """
[tool.importlinter]
root_packages = ["dashboard", "callbacks", "layouts"]
include_external_packages = true

[[tool.importlinter.contracts]]
name = "no web stack below web"
type = "forbidden"
source_modules = ["dashboard.core", "dashboard.source", "dashboard.service"]
forbidden_modules = ["flask"]

[[tool.importlinter.contracts]]
name = "screens see the context"
type = "forbidden"
source_modules = ["callbacks", "layouts"]
forbidden_modules = ["dashboard.source", "dashboard.service"]
allow_indirect_imports = true
"""


@pytest.fixture
def broken_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in BROKEN.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(BROKEN_CONFIG, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.split(".")[0] in ROOTS]:
        monkeypatch.delitem(sys.modules, name)  # grimp finds packages through the import system
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_checkers_report_a_broken_tree(broken_tree: Path) -> None:
    status, report = run_contracts(broken_tree / "pyproject.toml")
    assert status != 0
    assert "dashboard.service.s -> flask" in report
    assert "layouts.page -> dashboard.source.q" in report
    assert import_cycles(ROOTS) == [["dashboard.core.a", "dashboard.core.b"]]
    assert private_name_uses(broken_tree, ROOTS) == [
        "dashboard.source.q:1 imports _hidden from dashboard.core.a",
        "layouts.page:4 uses q._rows",
    ]
