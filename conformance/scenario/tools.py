"""Scenarios the tool runs by name that are not checks: the probe, the minimiser, fuzz replays, self-tests.

They register here, in the base layer, so that a module of any layer (the
sandbox's own self-tests included) can declare one without importing the
check catalogue. Only modules that were imported have registered theirs:
``checks.registry.lookup_scenario`` imports the rest when asked for a name it
does not know.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.scenario.context import Scenario

_tool_scenarios: dict[str, Scenario] = {}


def tool_scenario(name: str) -> Callable[[Scenario], Scenario]:
    """Register the decorated function as the tool scenario ``name``."""

    def register(scenario: Scenario) -> Scenario:
        _tool_scenarios[name] = scenario
        return scenario

    return register


def registered_tool_scenario(name: str) -> Scenario | None:
    """The tool scenario ``name`` if its module has been imported, else None."""
    return _tool_scenarios.get(name)
