"""The fork server's own functions, with scenarios of the test's making: no plugin is loaded.

A scenario here never touches ``ctx.plugin``, so what is tested is the server's part alone: fork a
child, follow its event stream and its exit, and classify what happened.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.sandbox import server
from conformance.sandbox.server import run_group, run_request
from conformance.scenario.context import Scenario, ScenarioContext
from conformance.scenario.events import Observed
from conformance.scenario.protocol import GroupRequest, Outcome, ScenarioRequest


def _observes(ctx: ScenarioContext) -> None:
    ctx.observe("answer", 42)


def _exits_3(ctx: ScenarioContext) -> None:
    ctx.observe("before", True)
    os._exit(3)


def _segfaults(ctx: ScenarioContext) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _sleeps(ctx: ScenarioContext) -> None:
    time.sleep(30)


def _does_nothing(ctx: ScenarioContext) -> None:
    pass


SCENARIOS: dict[str, Scenario] = {
    "observes": _observes,
    "exits": _exits_3,
    "segfaults": _segfaults,
    "sleeps": _sleeps,
    "nothing": _does_nothing,
}


def lookup(name: str) -> Scenario:
    return SCENARIOS[name]


def request(name: str, budget_s: float = 10.0) -> ScenarioRequest:
    return ScenarioRequest(name, "/nonexistent/libnothing.so", overall_budget_s=budget_s, capture_stacks=False)


def observed(events: tuple[object, ...]) -> dict[str, object]:
    return {event.key: event.value for event in events if isinstance(event, Observed)}


def test_a_scenario_that_completes_brings_back_its_events() -> None:
    result = run_request(request("observes"), lookup)
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert observed(result.events)["answer"] == 42


def test_a_lone_child_is_not_waited_for_after_its_completion_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait that lets a dense stream gather is for a scenario's events: after the completion event only the
    child's exit is to come, and a wait would delay every child's result by it."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)  # the server's module is this one
    result = run_request(request("nothing"), lookup)
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert waits == []  # one frame (the completion), then the end of the stream: nothing to gather


@pytest.mark.parametrize(
    ("name", "outcome", "check"),
    [
        ("exits", Outcome.EXITED, lambda result: result.exit_code == 3 and observed(result.events)["before"]),
        ("segfaults", Outcome.CRASHED, lambda result: result.signal_name == "SIGSEGV"),
    ],
)
def test_a_child_that_dies_is_classified_by_how(name: str, outcome: Outcome, check: Callable[..., bool]) -> None:
    result = run_request(request(name), lookup)
    assert result.outcome is outcome, result.detail
    assert check(result)


def test_a_child_past_its_budget_is_killed_and_timed_out() -> None:
    started = time.monotonic()
    result = run_request(request("sleeps", budget_s=0.5), lookup)
    assert result.outcome is Outcome.TIMED_OUT, result.detail
    assert time.monotonic() - started < 20  # killed, not waited for


def test_a_group_runs_in_one_child_and_stops_at_the_first_scenario_that_does_not_complete() -> None:
    group = GroupRequest((request("observes"), request("observes"), request("segfaults"), request("observes")))
    reply = run_group(group, lookup)
    assert [result.outcome for result in reply.results[:2]] == [Outcome.COMPLETED, Outcome.COMPLETED]
    assert len(reply.results) <= 3  # the caller re-runs the rest alone
    assert all(observed(result.events)["answer"] == 42 for result in reply.results[:2])


def _leaves_files(ctx: ScenarioContext) -> None:
    os.makedirs("left/behind")
    with open("left/behind/file", "w", encoding="ascii") as handle:
        handle.write("x")
    print("some output")


SCENARIOS["leaves-files"] = _leaves_files


def test_a_childs_directory_goes_whatever_the_plugin_left_in_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Children's directories are numbered in the server's own; one with more than the output file goes too."""
    monkeypatch.setattr(server, "_server_dir", [str(tmp_path)])
    for name in ("nothing", "leaves-files", "exits"):
        run_request(request(name), lookup)
    assert list(tmp_path.iterdir()) == []
