"""The parent side: talks to a fork server, restarts it if it dies, never hangs.

One client per process (per xdist worker). The server is started lazily on the
first request so that collecting tests costs nothing when none runs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import subprocess
import time
from dataclasses import replace

from conformance.sandbox.calibration import machine_factor
from conformance.sandbox.child import run_scenario
from conformance.sandbox.containment import note_containment
from conformance.sandbox.framing import FrameBuffer, FrameError, encode_frame
from conformance.sandbox.frozen import module_command
from conformance.scenario.events import Event, HarnessError
from conformance.scenario.lookup import CATALOGUE_LOOKUP, import_lookup
from conformance.scenario.protocol import GroupRequest, GroupResult, Outcome, SandboxResult, ScenarioRequest

#: Extra time the parent grants the server beyond a request's own budget
#: (stack capture, reaping) before it declares the server itself stuck.
SERVER_GRACE_S = 30.0
MAX_RESTARTS = 5


class SandboxClient:
    """Sends scenario requests to a warm fork server and returns their results."""

    def __init__(self, lookup: str = CATALOGUE_LOOKUP) -> None:
        """``lookup`` names (``module:function``) how the server finds a scenario by name."""
        self._lookup = lookup
        self._process: subprocess.Popen[bytes] | None = None
        self._restarts = 0

    def _start(self) -> subprocess.Popen[bytes]:
        # A fuzzer frozen by PyInstaller (ClusterFuzzLite) starts itself in the server role (conformance.sandbox.frozen).
        command, env = module_command("conformance.sandbox.server", self._lookup)
        env.setdefault("PYTHONHASHSEED", "0")
        return subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            env=env,
            close_fds=True,
        )

    def start(self) -> None:
        """Start the server now (it warms up while the caller does other work)."""
        self._server()

    def _server(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = self._start()
        return self._process

    def run(self, request: ScenarioRequest) -> SandboxResult:
        request = _calibrated(request)
        started = time.monotonic()
        reply = self._exchange(request, request.overall_budget_s * request.budget_scale)
        if isinstance(reply, SandboxResult):
            note_containment(reply.containment)
            return reply
        if not isinstance(reply, str):
            reply = f"the sandbox server sent {type(reply).__name__}, not a result"
        return self._server_failed(request, reply, started)

    def run_group(self, group: GroupRequest) -> GroupResult:
        """Run ``group`` in one shared child; a server failure comes back as an empty, stopped result."""
        group = replace(group, requests=tuple(_calibrated(request) for request in group.requests))
        budget = sum(request.overall_budget_s * request.budget_scale for request in group.requests)
        reply = self._exchange(group, budget)
        if isinstance(reply, GroupResult):
            note_containment(reply.containment)
            return reply
        if not isinstance(reply, str):
            reply = f"the sandbox server sent {type(reply).__name__}, not a group result"
        self.close()
        self._restarts += 1
        return GroupResult((), f"sandbox server failure: {reply}")

    def _exchange(self, message: ScenarioRequest | GroupRequest, budget_s: float) -> object:
        """Send one request and wait for its reply; a string says what went wrong instead."""
        process = self._server()
        assert process.stdin is not None and process.stdout is not None
        started = time.monotonic()
        try:
            process.stdin.write(encode_frame(message))
            process.stdin.flush()
        except BrokenPipeError:
            return "the sandbox server exited before the request"
        return self._read_reply(process, started + budget_s + SERVER_GRACE_S)

    def _read_reply(self, process: subprocess.Popen[bytes], deadline: float) -> object:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        frames = FrameBuffer()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "the sandbox server did not answer in time"
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return _server_ending(process)
            try:
                decoded = frames.feed(chunk)
            except FrameError as error:
                return f"the sandbox server sent a corrupt reply: {error}"
            if decoded:
                reply: object = decoded[0]
                return reply

    def _server_failed(self, request: ScenarioRequest, reason: str, started: float) -> SandboxResult:
        self.close()
        self._restarts += 1
        if self._restarts > MAX_RESTARTS:
            reason += f" (restarted {MAX_RESTARTS} times already)"
        return SandboxResult(
            Outcome.HARNESS_ERROR,
            (HarnessError(f"{reason} while running {request.scenario}"),),
            time.monotonic() - started,
            reason,
        )

    def request_stop(self) -> None:
        """Tell the server to stop (it exits at end of input) without waiting: several stop at once."""
        process = self._process
        if process is not None and process.stdin is not None and not process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()

    def close(self) -> None:
        self.request_stop()
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _server_ending(process: subprocess.Popen[bytes]) -> str:
    """How the server ended mid-scenario. It never dies on its own: a signal is most likely the plugin's."""
    try:
        code = process.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        return "the sandbox server closed its reply pipe while running the scenario"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
        return (
            f"the sandbox server was killed by {name} while running the scenario "
            "(the plugin may have signalled its parent or its process group)"
        )
    return f"the sandbox server exited with status {code} while running the scenario"


def _calibrated(request: ScenarioRequest) -> ScenarioRequest:
    """Every budget times the machine's calibration factor (1 on a machine like the reference)."""
    factor = machine_factor()
    return request if factor == 1.0 else replace(request, budget_scale=request.budget_scale * factor)


_client: SandboxClient | None = None


def shared_client() -> SandboxClient:
    """The process-wide client (one warm server per pytest process or xdist worker)."""
    global _client
    if _client is None:
        _client = SandboxClient()
        atexit.register(_client.close)
    return _client


def run_in_process(request: ScenarioRequest, lookup: str = CATALOGUE_LOOKUP) -> SandboxResult:
    """Run the scenario in this very process: for debuggers only; a crash takes us down."""
    scenario = import_lookup(lookup)(request.scenario)
    events: list[Event] = []
    started = time.monotonic()
    saved_env = dict(os.environ)
    os.environ.update(request.env)
    try:
        run_scenario(request, scenario, events.append)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    errors = [event for event in events if isinstance(event, HarnessError)]
    outcome = Outcome.HARNESS_ERROR if errors else Outcome.COMPLETED
    return SandboxResult(outcome, tuple(events), time.monotonic() - started, errors[0].message if errors else "")
