"""Budgets on a busy machine: a starved call is extended, a stuck one is not, and a death stays a death.

These run real sandbox children. Load is made here, deterministically: busy loops pinned to one CPU
beside a child that pins itself to it at a lower priority. Nothing asserts a duration.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from conformance.sandbox.client import SandboxClient
from conformance.sandbox.deadlines import child_is_dying, sample_thread
from conformance.scenario.protocol import Outcome, SandboxResult, ScenarioRequest

BUSY_LOOP = "import os, sys, time\nos.sched_setaffinity(0, {int(sys.argv[1])})\nend = time.monotonic() + 300\nwhile time.monotonic() < end: pass\n"


@pytest.fixture(scope="module")
def client() -> Iterator[SandboxClient]:
    sandbox = SandboxClient()
    yield sandbox
    sandbox.close()


@contextlib.contextmanager
def busy_loops(cpus: list[int]) -> Iterator[None]:
    """One spinning process per entry of ``cpus``, pinned there; bounded to 300 s even if never stopped."""
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(cpu)]) for cpu in cpus]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def run(client: SandboxClient, name: str, budget_scale: float, **options: object) -> SandboxResult:
    return client.run(ScenarioRequest(name, "/nonexistent/plugin.so", budget_scale=budget_scale, options=dict(options)))


def test_a_crash_just_after_the_budget_is_reported_as_the_crash(client: SandboxClient) -> None:
    """The call overruns by a hair and aborts while its stacks are taken: a death is never a hang."""
    result = run(client, "selftest.abort-after-budget", 0.3)
    assert result.outcome is Outcome.CRASHED, result.detail
    assert result.signal_name == "SIGABRT"
    assert result.in_flight is not None and result.in_flight.entry == "process_packet"


def test_a_starved_call_gets_its_deadline_moved_and_passes(client: SandboxClient) -> None:
    """Needs 0.1 s of CPU within a 0.5 s budget, but at nice 5 beside two busy loops it waits far longer."""
    cpu = min(os.sched_getaffinity(0))
    with busy_loops([cpu, cpu]):
        result = run(client, "selftest.starved-call", 0.5, cpu=cpu, nice=5, cpu_s=0.1)
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert result.budget_extensions, "the call was starved but its deadline never moved"


@pytest.mark.parametrize(
    ("in_call", "budget"),
    [(False, {"overall_budget_s": 0.4}), (True, {"budget_scale": 0.4})],
    ids=["overall-budget", "call-budget"],
)
def test_a_thread_waiting_for_starved_workers_gets_its_deadline_moved(
    client: SandboxClient, in_call: bool, budget: dict[str, float]
) -> None:
    """Two threads need 0.1 s of CPU each, at nice 5 beside two busy loops, within a 0.4 s budget; the thread
    that started them only joins them. The wait that counts is the workers', never seen on the joining thread."""
    cpu = min(os.sched_getaffinity(0))
    options = {"cpu": cpu, "nice": 5, "cpu_s": 0.1, "workers": 2, "in_call": in_call}
    request = ScenarioRequest(
        "selftest.starved-workers",
        "/nonexistent/plugin.so",
        budget_scale=budget.get("budget_scale", 1.0),
        overall_budget_s=budget.get("overall_budget_s", 20.0),
        options=options,
    )
    with busy_loops([cpu, cpu]):
        result = client.run(request)
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert result.budget_extensions, "the workers were starved but the deadline never moved"


def test_a_blocked_call_is_wedged_at_its_budget_even_under_load(client: SandboxClient) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    with busy_loops(cpus * 2):
        result = run(client, "selftest.sleep-in-call", 0.3)
    assert result.outcome is Outcome.TIMED_OUT
    assert "blocked (sleeping)" in result.detail, result.detail
    # Only the moments the thread waited for a CPU before it went to sleep can move the deadline, never the
    # sleep itself: whatever the load, the extensions stay below the 0.3 s budget.
    assert sum(result.budget_extensions) < 0.3, result.budget_extensions


def test_a_spinning_call_is_wedged_once_it_had_its_budget_of_cpu(client: SandboxClient) -> None:
    result = run(client, "selftest.spin-in-call", 0.3)
    assert result.outcome is Outcome.TIMED_OUT
    assert "running" in result.detail, result.detail


def test_scheduler_readings_of_this_process() -> None:
    sample = sample_thread(os.getpid(), os.getpid())
    assert sample is not None and sample.state in "RS" and sample.on_cpu_s > 0
    assert not child_is_dying(os.getpid())
    assert sample_thread(os.getpid(), 1 << 30) is None
