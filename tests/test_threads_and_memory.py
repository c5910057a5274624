"""Issue 7 in default mode: lying-Send, thread-affine, leaking and memory-unsafe fixtures fail the right
check every time, and the conforming fixtures pass every time (5 runs each, in the sandbox)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from conformance.battery.runner import BatteryItem, probe, run_item
from conformance.checks.registry import lookup_check
from conformance.sandbox.client import SandboxClient
from conformance.scenario.events import CallFinished, CallStarted, GuardRegion, LogSeen
from conformance.scenario.protocol import Outcome, ScenarioRequest

RUNS = 5
CASES = [
    ("lying_send_tls", "threading.host-schedule", "fail", "instance state missing on this thread"),
    ("lying_send_counter", "threading.parallel-instances", "fail", "produces what a serial run produces"),
    ("thread_affine_destroy", "threading.destroy-elsewhere", "crash", "destroyed on a foreign thread"),
    ("leaky", "leaks.create-destroy", "fail", "B per cycle"),
    (
        "overflow_alloc",
        "panics.process-packet",
        "crash",
        "wrote past the end of an alloc_audio buffer (960 samples) in process_packet",
    ),
    ("writes_input", "panics.process-packet", "crash", "wrote into host-owned input"),
    ("conforming_processor", "threading.parallel-instances", "pass", ""),
    ("conforming_processor", "threading.host-schedule", "pass", ""),
    ("conforming_processor", "leaks.create-destroy", "pass", ""),
    ("conforming_c", "threading.parallel-instances", "pass", ""),
    ("conforming_source", "threading.host-schedule", "pass", ""),
]


@pytest.fixture(scope="module")
def client() -> Iterator[SandboxClient]:
    sandbox = SandboxClient()
    yield sandbox
    sandbox.close()


@pytest.mark.parametrize(("fixture", "check_id", "status", "evidence"), CASES)
def test_same_verdict_five_times_out_of_five(
    fixture: str, check_id: str, status: str, evidence: str, fixture_so: Callable[[str], Path], client: SandboxClient
) -> None:
    path = fixture_so(fixture)
    facts = probe(path)
    item = BatteryItem(lookup_check(check_id), 9, False)
    outcomes = []
    for _ in range(RUNS):
        result = run_item(path, item, facts, reruns=0, client=client)
        outcomes.append(result.status)
        if evidence:
            assert evidence in result.message + str(result.evidence), result.message
    assert outcomes == [status] * RUNS


def test_a_completed_result_leaves_out_call_announcements_and_guard_regions_unless_traced(
    fixture_so: Callable[[str], Path], client: SandboxClient
) -> None:
    """The server keeps the buffers a child announced where a fault may need them explained, and the calls'
    announcements where a scenario did not complete; a traced request keeps everything."""
    crashed = client.run(ScenarioRequest("panics.process-packet", str(fixture_so("overflow_alloc"))))
    request = ScenarioRequest("panics.process-packet", str(fixture_so("conforming_processor")))
    completed = client.run(request)
    traced = client.run(replace(request, trace=True))
    assert crashed.outcome is Outcome.CRASHED
    assert any(region.kind == "alloc" for region in crashed.events_of(GuardRegion)) and crashed.events_of(CallStarted)
    assert completed.outcome is traced.outcome is Outcome.COMPLETED
    assert completed.events_of(CallFinished) and completed.events_of(LogSeen)
    assert completed.events_of(GuardRegion) == completed.events_of(CallStarted) == []
    assert traced.events_of(GuardRegion) and len(traced.events_of(CallStarted)) == len(traced.events_of(CallFinished))
    kept = [type(event) for event in traced.events if type(event) not in (CallStarted, GuardRegion)]
    assert kept == [type(event) for event in completed.events]
