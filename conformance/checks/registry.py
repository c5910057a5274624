"""The catalogue: every check in a fixed order, plus the tool's own scenarios.

Category modules register their checks with ``@check(...)`` at import; the
catalogue is the tuple of them in module order then definition order, which
is the order pytest parametrises, lists and reports them in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from conformance.checks.model import Applicability, Check, Severity
from conformance.scenario.context import ScenarioContext
from conformance.scenario.tools import registered_tool_scenario

Scenario = Callable[[ScenarioContext], None]

_CATEGORY_MODULES: tuple[str, ...] = (
    "conformance.checks.load",
    "conformance.checks.metadata",
    "conformance.checks.lifecycle",
    "conformance.checks.wire_in",
    "conformance.checks.wire_out",
    "conformance.checks.callbacks",
    "conformance.checks.errors",
    "conformance.checks.params",
    "conformance.checks.panics",
    "conformance.checks.timeouts",
    "conformance.checks.threading_checks",
    "conformance.checks.logging",
    "conformance.checks.source",
    "conformance.checks.schema",
    "conformance.checks.leaks",
)

_registered: list[Check] = []
#: Tool scenarios the catalogue does not need: their modules are imported when one of them is asked for.
_TOOL_SCENARIO_MODULES = ("conformance.sandbox.selftest", "conformance.fuzzing")


def check(
    id: str,
    *,
    category: str,
    severity: Severity,
    abi_ref: str,
    rationale: str,
    applies: Applicability = Applicability(),
    budget_s: float = 10.0,
    owns_violations: tuple[str, ...] = (),
    no_failing_fixture: str = "",
    options: dict[str, Any] | None = None,
) -> Callable[[Scenario], Scenario]:
    """Register the decorated scenario as a check."""

    def register(scenario: Scenario) -> Scenario:
        if any(existing.id == id for existing in _registered):
            raise ValueError(f"duplicate check id {id}")
        _registered.append(
            Check(
                id,
                category,
                severity,
                abi_ref,
                rationale,
                scenario,
                applies,
                budget_s,
                owns_violations,
                no_failing_fixture,
                tuple(sorted((options or {}).items())),
            )
        )
        return scenario

    return register


def family_check(
    category: str,
    suffix: str,
    scenario: Scenario,
    rationale: str,
    abi_ref: str,
    owns: tuple[str, ...] = (),
    severity: Severity = Severity.REQUIRED,
) -> Check:
    """A check of ``category`` named ``<category>.<suffix>``: the shape most category tables use."""
    return Check(f"{category}.{suffix}", category, severity, abi_ref, rationale, scenario, owns_violations=owns)


def register_checks(checks: list[Check]) -> None:
    """Register checks built as data (parametrised families)."""
    for item in checks:
        if any(existing.id == item.id for existing in _registered):
            raise ValueError(f"duplicate check id {item.id}")
        _registered.append(item)


@lru_cache(maxsize=1)
def catalogue() -> tuple[Check, ...]:
    for module in _CATEGORY_MODULES:
        importlib.import_module(module)
    importlib.import_module("conformance.checks.probe")
    importlib.import_module("conformance.checks.minimise")
    return tuple(_registered)


@lru_cache(maxsize=1)
def checks_by_id() -> dict[str, Check]:
    return {item.id: item for item in catalogue()}


def lookup_check(check_id: str) -> Check:
    try:
        return checks_by_id()[check_id]
    except KeyError:
        raise KeyError(f"no check with id {check_id!r}") from None


def lookup_scenario(name: str) -> Scenario:
    """The scenario named ``name``: a tool scenario, else the check of that id (the sandbox's lookup)."""
    catalogue()
    scenario = registered_tool_scenario(name)
    if scenario is None and name not in checks_by_id():
        for module in _TOOL_SCENARIO_MODULES:
            importlib.import_module(module)
        scenario = registered_tool_scenario(name)
    return scenario if scenario is not None else lookup_check(name).scenario
