"""How the sandbox finds a scenario by name without importing the layers that define it.

A lookup is a function from a scenario name to the scenario. The sandbox is
handed one as a ``module:function`` spec, which its fork server (and an
in-process run) imports at start-up, so the check catalogue, built in a layer
above the sandbox, is never imported by the sandbox's own code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from conformance.scenario.context import Scenario

ScenarioLookup = Callable[[str], Scenario]

#: Every check of the catalogue and every tool scenario (the default of the sandbox's clients).
CATALOGUE_LOOKUP = "conformance.checks.registry:lookup_scenario"


def import_lookup(spec: str) -> ScenarioLookup:
    """The lookup a ``module:function`` spec names."""
    module, _, function = spec.partition(":")
    if not function:
        raise ValueError(f"a scenario lookup is named module:function, not {spec!r}")
    return cast(ScenarioLookup, getattr(importlib.import_module(module), function))
