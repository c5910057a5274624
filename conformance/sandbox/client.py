"""The parent side: talks to a fork server, replaces it when it dies, freezes or wedges, never hangs.

One client per process (per xdist worker). The server is started lazily on the
first request so that collecting tests costs nothing when none runs. It runs in
a process group of its own, so a plugin that signals its parent's process group
reaches the server, never pytest; ``watchdog`` says how a waiting client
notices a server that will not answer. (A group, not a session: a session of
its own would also be a scheduler autogroup of its own, and change how the
sandbox shares the CPU with everything else, which call budgets are judged by.)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass, replace

from conformance.sandbox.calibration import machine_factor
from conformance.sandbox.containment import note_containment
from conformance.sandbox.framing import FrameBuffer, FrameError, encode_frame
from conformance.sandbox.frozen import module_command
from conformance.sandbox.spawner import ServerProcess, spawn_server
from conformance.sandbox.watchdog import (
    POLL_S,
    Fate,
    ServerLoss,
    ServerWatch,
    ended,
    exit_status,
    grace_s,
    kill_tree,
)
from conformance.sandbox.workdirs import remove_server_dirs, remove_stale_server_dirs
from conformance.scenario.events import Event, HarnessError
from conformance.scenario.lookup import CATALOGUE_LOOKUP, import_lookup
from conformance.scenario.protocol import GroupRequest, GroupResult, Outcome, SandboxResult, ScenarioRequest

#: How long a server asked to stop (its request pipe closed) is given before it is killed.
STOP_GRACE_S = 2.0


@dataclass(frozen=True, kw_only=True)
class ServerLost(SandboxResult):
    """The result of a request the server never answered: it was killed, stopped, silent or garbled.

    The server was replaced. The call in flight is unknown (the server's record of it went with
    the server): ``scenario`` is what was running, ``loss`` what happened to the server.
    """

    loss: ServerLoss
    scenario: str


#: Directories of servers of earlier runs that were killed as a whole are removed once per process.
_swept: list[list[str]] = []


class SandboxClient:
    """Sends scenario requests to a warm fork server and returns their results."""

    def __init__(self, lookup: str = CATALOGUE_LOOKUP) -> None:
        """``lookup`` names (``module:function``) how the server finds a scenario by name."""
        self._lookup = lookup
        self._process: ServerProcess | subprocess.Popen[bytes] | None = None
        self.replaced = 0  # servers lost mid-request and replaced

    def _start(self) -> ServerProcess | subprocess.Popen[bytes]:
        """A fork of the warm zygote when possible (``sandbox.spawner``), else a freshly booted server."""
        if not _swept:
            _swept.append(remove_stale_server_dirs())
        forked = spawn_server(self._lookup)
        if forked is not None:
            return forked
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
            process_group=0,
        )

    def start(self) -> None:
        """Start the server now (it warms up while the caller does other work)."""
        self._server()

    def _server(self) -> ServerProcess | subprocess.Popen[bytes]:
        if self._process is not None and exit_status(self._process.pid) is not None:
            self._discard()  # it died between requests: nothing of the next one has run yet
        if self._process is None:
            self._process = self._start()
        return self._process

    def run(self, request: ScenarioRequest) -> SandboxResult:
        request = _calibrated(request)
        started = time.monotonic()
        budget = request.overall_budget_s * request.budget_scale
        reply = self._exchange(request, budget, grace_s(machine_factor()))
        if isinstance(reply, SandboxResult):
            note_containment(reply.containment)
            return reply
        if not isinstance(reply, ServerLoss):
            reply = ServerLoss(Fate.GARBLED, f"answered with a {type(reply).__name__}, not a result", 0.0)
        return self._lost(request.scenario, reply, started)

    def run_group(self, group: GroupRequest) -> GroupResult:
        """Run ``group`` in one shared child; a server failure comes back as an empty, stopped result."""
        group = replace(group, requests=tuple(_calibrated(request) for request in group.requests))
        budget = sum(request.overall_budget_s * request.budget_scale for request in group.requests)
        reply = self._exchange(group, budget, grace_s(machine_factor()))
        if isinstance(reply, GroupResult):
            note_containment(reply.containment)
            return reply
        if not isinstance(reply, ServerLoss):
            reply = ServerLoss(Fate.GARBLED, f"answered with a {type(reply).__name__}, not a group result", 0.0)
        self._discard()
        self.replaced += 1
        return GroupResult((), f"sandbox server failure: the sandbox server was {reply.detail}")

    def _exchange(self, message: ScenarioRequest | GroupRequest, budget_s: float, grace: float) -> object:
        """Send one request and wait for its reply, or for the watch to say why none will come."""
        frame = encode_frame(message)
        for attempt in range(2):
            process = self._server()
            assert process.stdin is not None
            try:
                process.stdin.write(frame)
                process.stdin.flush()
                break
            except BrokenPipeError:
                # Ended between requests, before this one reached it: a fresh server takes it, once.
                status = exit_status(process.pid)
                self._discard()
                if attempt:
                    return ended(status, 0.0) if status is not None else ServerLoss(Fate.EXITED, "gone", 0.0)
        return self._read_reply(process, ServerWatch(process.pid, budget_s, grace))

    def _read_reply(self, process: ServerProcess | subprocess.Popen[bytes], watch: ServerWatch) -> object:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        frames = FrameBuffer()
        while True:
            readable, _, _ = select.select([fd], [], [], POLL_S)
            if readable:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return _server_ending(process, watch)
                try:
                    decoded = frames.feed(chunk)
                except FrameError as error:
                    return ServerLoss(Fate.GARBLED, f"sending a corrupt reply ({error})", watch.waited_s())
                if decoded:
                    reply: object = decoded[0]
                    return reply
                continue
            loss = watch.check(exit_status(process.pid))
            if loss is not None:
                return loss

    def _lost(self, scenario: str, loss: ServerLoss, started: float) -> ServerLost:
        """Replace the server and say what became of the request."""
        self._discard()
        self.replaced += 1
        ended_itself = loss.fate in (Fate.KILLED, Fate.EXITED, Fate.GARBLED)
        number = _signal_number(loss.signal_name)
        return ServerLost(
            Outcome.CRASHED if ended_itself else Outcome.TIMED_OUT,
            (),
            time.monotonic() - started,
            f"the sandbox server was {loss.detail} while it ran {scenario}; it was replaced",
            signal_number=number,
            signal_name=loss.signal_name,
            loss=loss,
            scenario=scenario,
        )

    def _discard(self) -> None:
        """Kill the server with everything it started, and reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        kill_tree(process.pid)
        process.wait()
        _close_pipes(process)
        remove_server_dirs(process.pid)  # a killed server could not remove its children's directories

    def request_stop(self) -> None:
        """Tell the server to stop (it exits at end of input) without waiting: several stop at once."""
        process = self._process
        if process is not None and process.stdin is not None and not process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()

    def close(self) -> None:
        """Stop the server, kill what it left (or all of it, past ``STOP_GRACE_S``) and reap it."""
        self.request_stop()
        process = self._process
        if process is None:
            return
        deadline = time.monotonic() + STOP_GRACE_S
        while exit_status(process.pid) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        self._discard()


def _close_pipes(process: ServerProcess | subprocess.Popen[bytes]) -> None:
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _server_ending(process: ServerProcess | subprocess.Popen[bytes], watch: ServerWatch) -> ServerLoss:
    """The server closed its reply pipe: how it ended (it never ends on its own mid-request)."""
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        status = exit_status(process.pid)
        if status is not None:
            return ended(status, watch.waited_s())
        time.sleep(0.01)
    return ServerLoss(Fate.GARBLED, "closing its reply pipe without ending", watch.waited_s())


def _signal_number(name: str | None) -> int | None:
    if name is None or not name.startswith("SIG"):
        return None
    try:
        return int(signal.Signals[name])
    except KeyError:
        return None


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


def close_shared_client() -> None:
    """Stop the process-wide client's server now (it starts again if asked for another request)."""
    if _client is not None:
        _client.close()


def run_in_process(request: ScenarioRequest, lookup: str = CATALOGUE_LOOKUP) -> SandboxResult:
    """Run the scenario in this very process: for debuggers only; a crash takes us down."""
    # Imported here: the child side (running a scenario, encoding its events) is what a fork server
    # runs; a process that only sends requests (pytest's, the CLI's) never needs it.
    from conformance.host.loader import load_host_process_libraries
    from conformance.sandbox.child import fresh_host_state, run_scenario

    load_host_process_libraries()
    scenario = import_lookup(lookup)(request.scenario)
    events: list[Event] = []
    started = time.monotonic()
    saved_env = dict(os.environ)
    os.environ.update(request.env)
    fresh_host_state()
    try:
        run_scenario(request, scenario, events.append)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    errors = [event for event in events if isinstance(event, HarnessError)]
    outcome = Outcome.HARNESS_ERROR if errors else Outcome.COMPLETED
    return SandboxResult(outcome, tuple(events), time.monotonic() - started, errors[0].message if errors else "")
