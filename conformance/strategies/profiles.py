"""Hypothesis settings profiles, defined once for tests, fuzzers and plugin authors.

``dev`` (50 examples) keeps the local loop fast, ``ci`` (100) is what every
submission runs, ``nightly`` (2000) is the long soak. Deadlines are off
everywhere: packets go through C memory and, in the battery, through plugin
subprocesses, whose timing says nothing about correctness.

Select one with ``CONFORMANCE_HYPOTHESIS_PROFILE`` (or Hypothesis' own
``HYPOTHESIS_PROFILE``); without either, ``ci`` when ``CI`` is set, else ``dev``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE_EXAMPLES: dict[str, int] = {"dev": 50, "ci": 100, "nightly": 2000}
PROFILE_ENV_VARS: tuple[str, ...] = ("CONFORMANCE_HYPOTHESIS_PROFILE", "HYPOTHESIS_PROFILE")


def register_profiles() -> None:
    """Register the three profiles (idempotent: re-registering replaces them)."""
    for name, examples in PROFILE_EXAMPLES.items():
        settings.register_profile(
            name,
            max_examples=examples,
            deadline=None,
            print_blob=name != "dev",
            # Video frames and nested JSON are large draws by design.
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )


def selected_profile() -> str:
    """The profile the environment asks for (see the module docstring)."""
    for variable in PROFILE_ENV_VARS:
        name = os.environ.get(variable)
        if name:
            if name not in PROFILE_EXAMPLES:
                raise ValueError(f"{variable}={name!r}: known profiles are {sorted(PROFILE_EXAMPLES)}")
            return name
    return "ci" if os.environ.get("CI") else "dev"


def load_selected_profile() -> str:
    """Register the profiles, load the selected one and return its name."""
    register_profiles()
    name = selected_profile()
    settings.load_profile(name)
    return name


register_profiles()
