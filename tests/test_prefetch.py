"""Which checks the prefetcher runs on servers of their own: those that wait out a wedged entry's budget, and
those that wait by design."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.battery.runner import battery_for, probe
from conformance.checks.isolation import LINGERING_CHECKS, shares_child
from conformance.checks.registry import checks_by_id
from conformance.pytest_face.prefetch import SWITCH_INTERVAL_S, Prefetcher, calls_wedged_entry, waits
from conformance.sandbox.client import SandboxClient


def test_only_the_checks_that_call_the_wedged_entry_wait(fixture_so: Callable[[str], Path]) -> None:
    wedged = probe(fixture_so("wedge_update_params"))
    waiting = {item.name for item in battery_for(wedged) if calls_wedged_entry(item, wedged)}
    assert "timeouts.update-params" in waiting
    assert not any(name.startswith(("timeouts.process-packet", "wire-in.", "metadata.")) for name in waiting)
    conforming = probe(fixture_so("conforming_processor"))
    assert not any(calls_wedged_entry(item, conforming) for item in battery_for(conforming))


def test_the_checks_that_wait_by_design_wait_on_servers_of_their_own(fixture_so: Callable[[str], Path]) -> None:
    checks = checks_by_id()
    assert all(check_id in checks and not shares_child(checks[check_id]) for check_id in LINGERING_CHECKS)
    conforming = probe(fixture_so("conforming_processor"))
    waiting = {item.check.id for item in battery_for(conforming) if waits(item, conforming)}
    assert waiting == set(LINGERING_CHECKS)


def test_the_pool_shortens_the_thread_switch_interval_while_it_runs_and_restores_it() -> None:
    """A pool thread whose server answered waits for the interpreter lock up to one switch interval before it
    can send the next request (``prefetch.SWITCH_INTERVAL_S``); the caller's interval comes back at close."""
    before = sys.getswitchinterval()
    prefetcher = Prefetcher([SandboxClient()])  # never started: the pool starts servers on first use
    try:
        assert sys.getswitchinterval() == pytest.approx(min(before, SWITCH_INTERVAL_S))
    finally:
        prefetcher.close()
    assert sys.getswitchinterval() == pytest.approx(before)
