"""The prefetcher's pool: tasks that wait out a wedged entry point's budget go first; the rest in order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.battery.runner import battery_for, probe
from conformance.pytest_face.prefetch import calls_wedged_entry
from conformance.pytest_face.taskpool import FrontFirstPool


def test_front_tasks_run_before_queued_ones_and_the_rest_in_order() -> None:
    pool = FrontFirstPool(1, "test-pool")
    gate = threading.Event()
    ran: list[str] = []
    blocker = pool.submit(gate.wait)  # holds the only worker while the queue fills
    futures = [pool.submit(ran.append, name) for name in ("a", "b")]
    futures.append(pool.submit(ran.append, "waits", front=True))
    gate.set()
    assert blocker.result(timeout=10) is True
    for future in futures:
        future.result(timeout=10)
    pool.shutdown()
    assert ran == ["waits", "a", "b"]


def test_errors_reach_the_future_and_shutdown_cancels_what_has_not_started() -> None:
    pool = FrontFirstPool(1, "test-pool")
    gate = threading.Event()
    ran: list[str] = []

    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        pool.submit(fails).result(timeout=10)
    blocker = pool.submit(gate.wait)
    queued = pool.submit(ran.append, "never")
    stopping = threading.Thread(target=pool.shutdown)
    stopping.start()  # cancels the queued task at once, then waits for the running one
    for _ in range(1000):
        if queued.cancelled():
            break
        threading.Event().wait(0.01)
    gate.set()
    stopping.join(timeout=10)
    assert queued.cancelled() and ran == [] and blocker.result(timeout=10) is True
    with pytest.raises(RuntimeError):
        pool.submit(ran.append, "late")


def test_only_the_checks_that_call_the_wedged_entry_go_first(fixture_so: Callable[[str], Path]) -> None:
    wedged = probe(fixture_so("wedge_update_params"))
    first = {item.name for item in battery_for(wedged) if calls_wedged_entry(item, wedged)}
    assert "timeouts.update-params" in first
    assert not any(name.startswith(("timeouts.process-packet", "wire-in.")) for name in first)
    conforming = probe(fixture_so("conforming_processor"))
    assert not any(calls_wedged_entry(item, conforming) for item in battery_for(conforming))
