"""Which checks the prefetcher runs on servers of their own: those that wait out a wedged entry's budget."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conformance.battery.runner import battery_for, probe
from conformance.pytest_face.prefetch import calls_wedged_entry


def test_only_the_checks_that_call_the_wedged_entry_wait(fixture_so: Callable[[str], Path]) -> None:
    wedged = probe(fixture_so("wedge_update_params"))
    waiting = {item.name for item in battery_for(wedged) if calls_wedged_entry(item, wedged)}
    assert "timeouts.update-params" in waiting
    assert not any(name.startswith(("timeouts.process-packet", "wire-in.", "metadata.")) for name in waiting)
    conforming = probe(fixture_so("conforming_processor"))
    assert not any(calls_wedged_entry(item, conforming) for item in battery_for(conforming))
