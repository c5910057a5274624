"""The package boundaries, read from the source: who may import whom, and no cycles between packages.

Every import statement of every module counts, at any depth (a function-level
import is a dependency too, only a hidden one). Imports under
``if TYPE_CHECKING:`` never run; they may cross a boundary only where
``TYPE_ONLY`` says so. A unit is a package directly under ``conformance``
(``host``, ``checks``...) or a top-level module (``runner``, ``settings``...).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"

#: The bottom of the stack, bottom first: each unit may import only itself and the units listed with it.
BOTTOM: dict[str, frozenset[str]] = {
    "_dataclass_code": frozenset(),  # the package's start-up cache, installed before anything is defined
    "abi": frozenset(),
    "budgets": frozenset(),
    "scenario": frozenset({"abi", "budgets"}),
    "host": frozenset({"abi", "budgets", "scenario"}),
    "sandbox": frozenset({"abi", "budgets", "scenario", "host", "_dataclass_code"}),
    "checks": frozenset({"abi", "budgets", "scenario", "host", "sandbox"}),
}
#: What drives a battery and the pytest face: none of the units above may import them.
RUNNING = frozenset({"battery", "heavy", "pytest_face", "pytest_plugin", "cli", "commands"})
#: Reports are made of results; they never run anything.
NOT_FROM_REPORT = RUNNING
#: (importing module, imported module) pairs allowed under ``if TYPE_CHECKING:`` across a boundary.
TYPE_ONLY = frozenset(
    {
        # The context holds the plugin the host loaded (the sandbox child hands it the host's loader).
        ("conformance.scenario.context", "conformance.host.loader"),
    }
)
#: Units whose function-level imports must say why they are not at the top (a comment on or above them).
NO_HIDDEN_IMPORTS = frozenset(
    {"scenario", "host", "sandbox", "report", "battery", "heavy", "settings", "cli", "commands", "corpus"}
)


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported module (or package), dotted
    line: int
    in_function: bool
    type_only: bool

    @property
    def source_unit(self) -> str:
        return unit_of(self.source)

    @property
    def target_unit(self) -> str:
        return unit_of(self.target)


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    # ``from conformance import report`` imports the submodule; ``from conformance import __version__`` a name.
    submodules = [f"{base}.{alias.name}" for alias in node.names]
    return [name for name in submodules if _exists(name)] or [base]


def _exists(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    is_package = path.name == "__init__.py"

    def walk(node: ast.AST, in_function: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, True, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    yield from walk(ast.Module(body=[statement], type_ignores=[]), in_function, True)
                for statement in child.orelse:
                    yield from walk(ast.Module(body=[statement], type_ignores=[]), in_function, type_only)
            elif isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(child, module, is_package):
                    if target.split(".")[0] == "conformance":
                        yield Import(module, target, child.lineno, in_function, type_only)
            else:
                yield from walk(child, in_function, type_only)

    yield from walk(ast.parse(path.read_text(encoding="utf-8")), False, False)


@functools.cache
def all_imports() -> tuple[Import, ...]:
    """Read when a test first needs it, not at collection: parsing the package costs each xdist worker 1 s."""
    return tuple(found for path in sorted(PACKAGE.rglob("*.py")) for found in imports_of(path))


def _where(found: Import) -> str:
    how = "type-only " if found.type_only else "function-level " if found.in_function else ""
    return f"{found.source}:{found.line} {how}imports {found.target}"


def _crossings() -> list[Import]:
    """Imports between units, type-only ones except those ``TYPE_ONLY`` allows."""
    return [
        found
        for found in all_imports()
        if found.source_unit != found.target_unit
        and found.target != "conformance"
        and not (found.type_only and (found.source, found.target) in TYPE_ONLY)
    ]


def test_the_parser_sees_every_kind_of_import() -> None:
    """The rules below are only as good as the import list: it has top-level, function-level and type-only ones."""
    kinds = {(found.in_function, found.type_only) for found in all_imports()}
    assert {(False, False), (True, False), (False, True)} <= kinds
    assert any(found.target == "conformance.host.loader" for found in all_imports() if found.source.endswith("child"))


@pytest.mark.parametrize("unit", sorted(BOTTOM))
def test_the_bottom_of_the_stack_imports_only_what_is_below_it(unit: str) -> None:
    allowed = BOTTOM[unit]
    wrong = [_where(found) for found in _crossings() if found.source_unit == unit and found.target_unit not in allowed]
    assert wrong == [], f"{unit} may import only {sorted(allowed)}"


def test_nothing_below_the_runner_imports_it_or_the_pytest_face() -> None:
    wrong = [_where(found) for found in _crossings() if found.source_unit in BOTTOM and found.target_unit in RUNNING]
    assert wrong == []


def test_reports_never_import_the_runner() -> None:
    wrong = [
        _where(found)
        for found in _crossings()
        if found.source_unit == "report" and found.target_unit in NOT_FROM_REPORT
    ]
    assert wrong == []


def test_type_only_imports_cross_no_boundary_unless_listed() -> None:
    listed = {(found.source, found.target) for found in all_imports() if found.type_only}
    assert listed >= TYPE_ONLY, "a TYPE_ONLY entry no longer exists: remove it"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_units() -> None:
    edges: dict[str, set[str]] = {}
    for found in _crossings():
        edges.setdefault(found.source_unit, set()).add(found.target_unit)
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _explained(path: Path, line: int) -> bool:
    """A comment on the import, on an import of the same block, or on the line above the block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    number = line - 1
    while number >= 0 and lines[number].lstrip().startswith(("import ", "from ")):
        if "#" in lines[number]:
            return True
        number -= 1
    return number >= 0 and lines[number].lstrip().startswith("#")


def test_function_level_imports_say_why() -> None:
    """No import hides in a function to dodge a cycle; the few deferred for start-up cost carry the reason."""
    hidden = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if unit_of(module_name(path)) not in NO_HIDDEN_IMPORTS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom) and not _explained(path, node.lineno):
                    hidden.append(f"{module_name(path)}:{node.lineno} {ast.unparse(node)}")
    assert hidden == []
