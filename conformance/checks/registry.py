"""The catalogue: every check in a fixed order, plus the tool's own scenarios.

Category modules declare their checks with ``check(...)`` at import, as a
decorator or through ``declare_family`` for a table of typed rows. The
catalogue is the tuple of them in ``CATEGORIES`` order, then declaration
order, whatever order the modules were imported in: the order pytest
parametrises, lists and reports them in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from conformance.checks.joint import JOINT_PREFIX, joint_scenario
from conformance.checks.model import CATEGORIES, Applicability, Check, Severity
from conformance.scenario.context import Scenario
from conformance.scenario.tools import registered_tool_scenario

Row = TypeVar("Row", bound="FamilyRow")

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
    "conformance.checks.processes",
)

_registered: list[Check] = []
_registered_ids: dict[str, str] = {}  # check id -> the module that declared it
#: Tool scenarios the catalogue does not need: their modules are imported when one of them is asked for.
_TOOL_SCENARIO_MODULES = ("conformance.sandbox.selftest", "conformance.fuzzing.intake_scenarios")


def check(
    id: str,
    *,
    abi_ref: str,
    rationale: str,
    severity: Severity = Severity.REQUIRED,
    applies: Applicability = Applicability(),
    budget_s: float = 10.0,
    owns_violations: tuple[str, ...] = (),
    no_failing_fixture: str = "",
    options: dict[str, Any] | None = None,
) -> Callable[[Scenario], Scenario]:
    """Declare the decorated scenario a check: the one way a check enters the catalogue.

    ``declare_family`` calls it once per row of a family's table. The category is the id's
    first part and must be one of ``CATEGORIES``: it is written nowhere else.
    """
    category = id.split(".", 1)[0]
    if category not in CATEGORIES or "." not in id:
        raise ValueError(f"check id {id!r} does not start with a category ({', '.join(CATEGORIES)})")
    if budget_s <= 0:
        raise ValueError(f"{id}: budget_s must be positive")

    def register(scenario: Scenario) -> Scenario:
        module = getattr(scenario, "__module__", "")
        earlier = _registered_ids.get(id)
        if earlier is not None and earlier != module:
            raise ValueError(f"duplicate check id {id} (declared in {earlier} and in {module})")
        if earlier is not None:
            # The module runs again after an import of it was interrupted (Python forgets a module whose
            # import failed): its declaration replaces the one from the interrupted attempt.
            _registered[:] = [entry for entry in _registered if entry.id != id]
        _registered_ids[id] = module
        _registered.append(
            Check(
                id=id,
                severity=severity,
                abi_ref=abi_ref,
                rationale=rationale,
                scenario=scenario,
                applies=applies,
                budget_s=budget_s,
                owns_violations=owns_violations,
                no_failing_fixture=no_failing_fixture,
                options=tuple(sorted((options or {}).items())),
            )
        )
        return scenario

    return register


@dataclass(frozen=True, kw_only=True)
class FamilyRow:
    """One member of a family of checks: what its declaration says. A family's row type adds the
    fields its scenario is built from."""

    suffix: str
    abi_ref: str
    rationale: str
    severity: Severity = Severity.REQUIRED


def declare_family(
    prefix: str,
    rows: Iterable[Row],
    scenario_for: Callable[[Row], Scenario],
    applies: Applicability | Callable[[Row], Applicability] = Applicability(),
) -> None:
    """Declare one check ``<prefix><row.suffix>`` per row, in table order, through ``check``."""
    for row in rows:
        check(
            prefix + row.suffix,
            severity=row.severity,
            abi_ref=row.abi_ref,
            rationale=row.rationale,
            applies=applies if isinstance(applies, Applicability) else applies(row),
        )(scenario_for(row))


@lru_cache(maxsize=1)
def catalogue() -> tuple[Check, ...]:
    for module in _CATEGORY_MODULES:
        importlib.import_module(module)
    importlib.import_module("conformance.checks.probe")
    importlib.import_module("conformance.checks.minimise")
    return tuple(sorted(_registered, key=lambda item: CATEGORIES.index(item.category)))


@lru_cache(maxsize=1)
def checks_by_id() -> dict[str, Check]:
    return {item.id: item for item in catalogue()}


def lookup_check(check_id: str) -> Check:
    try:
        return checks_by_id()[check_id]
    except KeyError:
        raise KeyError(f"no check with id {check_id!r}") from None


def lookup_scenario(name: str) -> Scenario:
    """The scenario named ``name``: a tool scenario, a joint run (``checks.joint``), else the check of that id
    (the sandbox's lookup)."""
    catalogue()
    if name.startswith(JOINT_PREFIX):
        return _joint_scenario(name)
    scenario = registered_tool_scenario(name)
    if scenario is None and name not in checks_by_id():
        for module in _TOOL_SCENARIO_MODULES:
            importlib.import_module(module)
        scenario = registered_tool_scenario(name)
    return scenario if scenario is not None else lookup_check(name).scenario


@lru_cache(maxsize=256)
def _joint_scenario(name: str) -> Scenario:
    return joint_scenario(name, lambda check_id: lookup_check(check_id).scenario)
