"""The fork server: every outcome classification, isolation and the event stream, on real children."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conformance.sandbox.calibration import MAX_AUTO_SCALE, measure
from conformance.sandbox.child import OUTPUT_FILE
from conformance.sandbox.client import SandboxClient, ServerLost, run_in_process
from conformance.scenario.events import (
    CallStarted,
    Expect,
    HarnessError,
    Observed,
    ScenarioDone,
    StreamCorrupted,
    Violation,
)
from conformance.scenario.protocol import Outcome, SandboxResult, ScenarioRequest


@pytest.fixture(scope="module")
def client() -> Iterator[SandboxClient]:
    sandbox = SandboxClient()
    yield sandbox
    sandbox.close()


def run(client: SandboxClient, name: str, **kwargs: object) -> SandboxResult:
    return client.run(ScenarioRequest(name, "/nonexistent/plugin.so", **kwargs))  # type: ignore[arg-type]


def test_completed_scenario_streams_its_events(client: SandboxClient) -> None:
    result = run(client, "selftest.events")
    assert result.outcome is Outcome.COMPLETED
    assert Observed("answer", 42) in result.events
    assert any(isinstance(e, Expect) and e.ok for e in result.events)
    assert isinstance(result.events[-1], ScenarioDone)


def test_overrun_call_is_timed_out_in_that_entry_with_stacks(client: SandboxClient) -> None:
    result = run(client, "selftest.sleep-in-call", budget_scale=0.3)
    assert result.outcome is Outcome.TIMED_OUT
    assert result.in_flight is not None and result.in_flight.entry == "process_packet"
    assert result.in_flight.detail == "sleeping on purpose"
    assert "process_packet did not return" in result.detail
    if result.stack_tool == "gdb":
        assert result.stacks and "Thread 1" in result.stacks
    else:
        assert "gdb" in result.stack_tool  # the reason it is missing is stated


def test_segfault_is_attributed_to_the_call_and_earlier_events_survive(client: SandboxClient) -> None:
    result = run(client, "selftest.segfault-in-call")
    assert result.outcome is Outcome.CRASHED
    assert result.signal_name == "SIGSEGV"
    assert result.in_flight is not None and result.in_flight.entry == "flush"
    assert Observed("before", "the crash") in result.events


def test_abort_is_sigabrt(client: SandboxClient) -> None:
    result = run(client, "selftest.abort")
    assert (result.outcome, result.signal_name) == (Outcome.CRASHED, "SIGABRT")
    assert result.in_flight is not None and result.in_flight.entry == "create_instance"


def test_exit_is_classified_with_its_code(client: SandboxClient) -> None:
    result = client.run(ScenarioRequest("selftest.exit", "/x", options={"code": 7}))
    assert (result.outcome, result.exit_code) == (Outcome.EXITED, 7)
    assert result.in_flight is not None and result.in_flight.entry == "destroy_instance"


def test_output_flood_hits_the_output_limit(client: SandboxClient) -> None:
    result = run(client, "selftest.flood-output", output_limit_bytes=1 << 20)
    assert (result.outcome, result.resource) == (Outcome.RESOURCE_LIMIT, "output volume")


def test_memory_exhaustion_hits_the_address_space_limit(client: SandboxClient) -> None:
    result = run(client, "selftest.exhaust-memory", memory_limit_mb=512)
    assert result.outcome is Outcome.RESOURCE_LIMIT
    assert result.resource is not None and "memory" in result.resource


def test_scenario_bug_is_a_harness_error_not_a_plugin_verdict(client: SandboxClient) -> None:
    result = run(client, "selftest.raise")
    assert result.outcome is Outcome.HARNESS_ERROR
    errors = [e for e in result.events if isinstance(e, HarnessError)]
    assert errors and "a bug in a scenario" in errors[0].message and "Traceback" in errors[0].traceback


def test_child_is_isolated(client: SandboxClient) -> None:
    result = client.run(ScenarioRequest("selftest.report-env", "/x", env={"SKC_SELFTEST": "yes"}))
    observed = {e.key: e.value for e in result.events if isinstance(e, Observed)}
    assert observed["env"] == "yes"
    assert observed["pgid_is_pid"] is True
    assert observed["stdin_is_devnull"] is True
    assert os.path.basename(os.path.dirname(observed["cwd"])).startswith("skc-") and observed["cwd"] != os.getcwd()
    assert not os.path.exists(observed["cwd"])  # the server removed the child's directory
    # stdin, stdout, stderr, the event pipe and the descriptor listdir itself used: nothing inherited.
    assert observed["fds"] == [0, 1, 2, 3, 4]
    assert observed["event_fd_inheritable"] is False  # a program the plugin executes does not get the channel


@pytest.mark.parametrize("forgery", ["completion", "completion-with-token", "junk"])
def test_a_forged_or_corrupt_channel_is_recorded_against_the_call_in_flight(
    client: SandboxClient, forgery: str
) -> None:
    result = run(client, "selftest.forge-channel", options={"forgery": forgery})
    corrupt = result.events_of(StreamCorrupted)
    assert corrupt, result
    assert result.in_flight is not None and result.in_flight.entry == "process_packet"
    assert not result.events_of(ScenarioDone)
    if forgery != "junk":  # a clean exit in the middle of a call is an exit during that call
        assert (result.outcome, result.exit_code) == (Outcome.EXITED, 0)
    if forgery == "completion":
        assert "token" in corrupt[0].detail
    if forgery == "completion-with-token":
        assert "while process_packet was in flight" in corrupt[0].detail


def test_an_exit_0_inside_a_call_never_completes(client: SandboxClient) -> None:
    result = run(client, "selftest.exit", options={"code": 0})
    assert (result.outcome, result.exit_code) == (Outcome.EXITED, 0)
    assert result.in_flight is not None and result.in_flight.entry == "destroy_instance"


def test_kill_of_the_child_is_a_crash_and_server_keeps_serving(client: SandboxClient) -> None:
    result = run(client, "selftest.kill-self")
    assert (result.outcome, result.signal_name) == (Outcome.CRASHED, "SIGKILL")
    assert run(client, "selftest.empty").outcome is Outcome.COMPLETED


def test_server_dying_mid_request_is_reported_and_replaced() -> None:
    sandbox = SandboxClient()
    try:
        assert sandbox.run(ScenarioRequest("selftest.empty", "/x")).outcome is Outcome.COMPLETED
        server = sandbox._process
        assert server is not None
        killer = threading.Timer(0.3, os.kill, (server.pid, signal.SIGKILL))
        killer.start()
        failed = sandbox.run(ScenarioRequest("selftest.sleep-in-call", "/x", budget_scale=5.0))
        killer.join()
        # A crash of the scenario that was running (the watchdog's ServerLost), never a harness error.
        assert isinstance(failed, ServerLost) and failed.outcome is Outcome.CRASHED
        assert "was killed by SIGKILL while it ran selftest.sleep-in-call" in failed.detail
        assert sandbox.run(ScenarioRequest("selftest.empty", "/x")).outcome is Outcome.COMPLETED
    finally:
        sandbox.close()


def test_unknown_scenario_is_a_harness_error(client: SandboxClient) -> None:
    result = run(client, "no.such.check")
    assert result.outcome is Outcome.HARNESS_ERROR
    assert "no check with id" in result.detail


def test_in_process_mode_runs_the_same_scenario_here() -> None:
    result = run_in_process(ScenarioRequest("selftest.events", "/x"))
    assert result.outcome is Outcome.COMPLETED
    assert Observed("answer", 42) in result.events


def test_call_started_carries_the_scaled_budget(client: SandboxClient) -> None:
    result = run(client, "selftest.segfault-in-call", budget_scale=2.0)
    started = [e for e in result.events if isinstance(e, CallStarted)]
    assert started and started[0].budget_s == pytest.approx(2.0)


def test_calibration_takes_two_children_and_measures_each_figure(client: SandboxClient) -> None:
    requests: list[ScenarioRequest] = []

    def counted(request: ScenarioRequest) -> SandboxResult:
        requests.append(request)
        return client.run(request)

    measured = measure(counted)
    assert measured is not None and measured.source == "measured"
    assert [request.scenario for request in requests] == ["selftest.empty", "selftest.cpu-loop"]
    assert 0 < measured.loop_cpu_s <= measured.loop_wall_s * 1.5  # thread CPU time is within its wall time
    assert measured.round_trip_s > 0
    assert 1.0 <= measured.factor <= MAX_AUTO_SCALE


def test_in_process_runs_one_after_another_each_see_their_callback_violations(
    fixture_so: Callable[[str], Path],
) -> None:
    """In-process mode (``repro --in-process``) runs a scenario in this process; a second one must not find the
    host callbacks of the first still bound to the first's events."""
    request = ScenarioRequest("callbacks.pool-returned-once", str(fixture_so("double_free")))
    for _ in range(2):
        result = run_in_process(request)
        rules = [event.rule for event in result.events if isinstance(event, Violation)]
        assert rules, [type(event).__name__ for event in result.events]


def test_each_child_writes_only_its_own_output_through_the_streams_the_server_made(client: SandboxClient) -> None:
    """sys.stdout and sys.stderr are made once in the server (``child.warm_child``): a child's writes reach its
    own output file, and nothing written by an earlier child is carried into a later one."""
    tails = [
        client.run(ScenarioRequest("selftest.print-option", "/x", options={"word": word})).stderr_tail
        for word in ("first", "second", "third")
    ]
    assert [tail.strip() for tail in tails] == ["scenario says first", "scenario says second", "scenario says third"]


def test_the_native_preparation_leaves_a_child_as_the_python_steps_do(tmp_path: Path) -> None:
    """``faults.prepare_child_natively`` replaces the Python steps of ``child.prepare_child`` when the helper is
    compiled: descriptors, directory, process group, limits, signal dispositions, privileges and the fault
    reporter must come out the same either way (read from the kernel, ``selftest.prepared_state``)."""
    script = f"""
import json, os, sys
from conformance.sandbox import child, faults
from conformance.sandbox.selftest import prepared_state
from conformance.scenario.protocol import ScenarioRequest
assert faults.load_reporter() == "", "the helper did not build"
request = ScenarioRequest("selftest.empty", "/x", memory_limit_mb=700, output_limit_bytes=12345)
states = {{}}
for way in ("native", "python"):
    if way == "python":  # the helper stays loaded (the fault reporter, natively dropped privileges)
        child.prepare_child_natively = lambda *arguments: False
    workdir = os.path.join({str(tmp_path)!r}, way)
    os.mkdir(workdir)
    read, write = os.pipe()
    spare = os.open(os.devnull, os.O_RDONLY)  # a descriptor the child must not keep
    os.set_inheritable(spare, True)
    pid = os.fork()
    if pid == 0:
        os.close(read)
        child.prepare_child(request, write, workdir)
        os.write(3, json.dumps(prepared_state()).encode())
        os._exit(0)
    os.close(write)
    os.close(spare)
    states[way] = json.loads(os.read(read, 1 << 16).decode().replace(workdir, "WORKDIR"))
    assert os.waitpid(pid, 0)[1] == 0
print(json.dumps(states))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    states = json.loads(done.stdout)
    assert states["native"] == states["python"]
    native = states["native"]
    assert native["fds"] == [0, 1, 2, 3, 4] and native["cwd"] == "WORKDIR" and native["pgid_is_pid"] is True
    assert native["stdout_and_stderr"] == [f"WORKDIR/{OUTPUT_FILE}"] * 2 and native["stdin_is_devnull"] is True
    assert native["event_fd_inheritable"] is False
    assert native["limits"] == [[0, 0], [700 * 1024 * 1024] * 2, [12345, 12345]]
    assert native["status"]["NoNewPrivs"] == "1" and int(native["status"]["CapEff"], 16) == 0
    caught, ignored = int(native["status"]["SigCgt"], 16), int(native["status"]["SigIgn"], 16)
    assert caught & (1 << (signal.SIGSEGV - 1)) and caught & (1 << (signal.SIGBUS - 1))  # the fault reporter
    assert ignored & (1 << (signal.SIGPIPE - 1)) and not ignored & (1 << (signal.SIGXFSZ - 1))


def test_a_server_without_descriptor_1_leaves_each_child_to_make_its_streams(tmp_path: Path) -> None:
    script = f"""
import os, sys
from conformance.sandbox import child
from conformance.scenario.protocol import ScenarioRequest
saved = os.dup(1)
os.close(1)
child.warm_child()
os.dup2(saved, 1)
assert child._child_stdio == [], child._child_stdio
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    child.prepare_child(ScenarioRequest("selftest.empty", "/x"), write, {str(tmp_path)!r})
    print("to stdout", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert status == 0, status
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / OUTPUT_FILE).read_text() == "to stdout\nto stderr\n"
