"""The fork server: a warm interpreter that forks one child per scenario.

Started once per pytest process (and per xdist worker). It imports cffi, the
ABI declarations and the scenario lookup it is handed up front, never loads a plugin
itself, and stays single-threaded so that ``fork`` is safe. For each request it
forks a child, follows the child's event stream against the budget of the call
in flight, captures stacks and kills the child's process group on overrun, and
answers with one ``SandboxResult``.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import itertools
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from conformance.abi import warm_up
from conformance.host.libc import libc
from conformance.host.loader import load_host_process_libraries
from conformance.host.stack import warm_up as warm_stack
from conformance.sandbox.bare_fork import fork_child, warm_bare_fork
from conformance.sandbox.child import OUTPUT_FILE, child_main, die_with_parent, group_child_main, warm_child
from conformance.sandbox.classify import classify_exit, panic_message, signal_name
from conformance.sandbox.containment import STRAY_PROCESS_RULE, Containment, contain_server, sweep
from conformance.sandbox.deadlines import CallWatch, WatchedCall, child_is_dying, watch_overall_budget
from conformance.sandbox.debuginfo import hide_host_debug_info
from conformance.sandbox.event_codec import EventStream, new_token
from conformance.sandbox.faults import load_reporter
from conformance.sandbox.framing import FrameError, read_frame, write_frame
from conformance.sandbox.stacks import capture_stacks
from conformance.sandbox.workdirs import make_server_dir
from conformance.scenario.events import (
    CallFinished,
    CallStarted,
    Event,
    GuardRegion,
    HarnessError,
    ScenarioBoundary,
    ScenarioDone,
    StreamCorrupted,
    Violation,
)
from conformance.scenario.lookup import ScenarioLookup, import_lookup
from conformance.scenario.protocol import GroupRequest, GroupResult, Outcome, SandboxResult, ScenarioRequest

STDERR_TAIL_BYTES = 8192
EXIT_GRACE_S = 2.0
#: How long a child that is already dying (fatal signal pending, exiting) is given to finish dying.
DYING_GRACE_S = 5.0
#: A stream read again this soon after its last read is dense (a scenario making calls in a loop): the server
#: waits this long before reading, so that it wakes once per millisecond rather than once per event (a leak
#: check's 1,400 events cost 700 wake-ups and a fifth of the server's CPU). Budgets are seconds; the last event
#: of a scenario is read at most this much later. Not after a lone child's completion event: what follows is
#: its exit (the end of the stream), which a wait would only delay, by a millisecond per child.
DENSE_STREAM_S = 0.001
#: After stacks of a stuck call were captured: a death in this window (e.g. a signal that arrived while gdb
#: held the process) is reported as that death, not as a hang.
POST_CAPTURE_GRACE_S = 0.1


def _read_tail(path: str) -> str:
    """The child's output, bounded: all of it when short, else its head and its tail.

    The head matters as much as the tail: a Rust panic message comes first and
    the (forced) backtrace of a non-unwinding panic follows it.
    """
    try:
        size = os.path.getsize(path)
    except OSError:
        return ""
    return _read_span(path, 0, size) if size else ""  # most children print nothing


def _kill_group(pid: int) -> None:
    """SIGKILL the child's process group (plugin-spawned processes included), then the child itself."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def _wait_exit(pid: int, grace_s: float) -> int:
    """Reap the child, killing it if it does not exit within ``grace_s`` (woken by its exit, not polling)."""
    waited, status = os.waitpid(pid, os.WNOHANG)
    if waited == pid:
        return status
    pidfd = os.pidfd_open(pid)
    try:
        exited, _, _ = select.select([pidfd], [], [], grace_s)
    finally:
        os.close(pidfd)
    if not exited:
        _kill_group(pid)
    _, status = os.waitpid(pid, 0)
    return status


#: This server's directory, which holds its children's (``sandbox.workdirs``); made when it starts serving.
_server_dir: list[str] = []
#: Numbers the children's directories in this server's own directory.
_child_numbers = itertools.count()


def _make_workdir() -> str:
    """A new, private directory for a child: numbered in the server's own directory, which only this server
    writes (``tempfile.mkdtemp``'s random names cost four times as much), else a temporary one."""
    if _server_dir:
        path = os.path.join(_server_dir[0], f"child-{next(_child_numbers)}")
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
            return path
    return tempfile.mkdtemp(prefix="child-", dir=_server_dir[0] if _server_dir else None)


def _remove_workdir(workdir: str) -> None:
    """Remove a child's directory: usually only its output file is in it, else the whole tree."""
    try:
        os.unlink(os.path.join(workdir, OUTPUT_FILE))
        os.rmdir(workdir)
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)


def _fork_child(body: Callable[[int, str, bytes], None]) -> tuple[int, int, str, float, bytes]:
    """Fork a child that runs ``body(event_fd, workdir, token)`` and never returns.

    Returns (pid, read fd, workdir, start, token): the channel token is drawn before the fork, so only
    this server and that child know it.
    """
    workdir = _make_workdir()
    read_fd, write_fd = os.pipe()
    token = new_token()
    started_at = time.monotonic()
    pid = fork_child()
    if pid == 0:  # child
        os.close(read_fd)
        body(write_fd, workdir, token)
    os.close(write_fd)
    return pid, read_fd, workdir, started_at, token


def run_request(request: ScenarioRequest, lookup: ScenarioLookup) -> SandboxResult:
    """Fork a child for ``request`` and follow it to its end."""
    scenario = lookup(request.scenario)
    pid, read_fd, workdir, started_at, token = _fork_child(
        lambda fd, work, token: child_main(request, scenario, fd, work, token)
    )
    try:
        return _follow_child(request, pid, read_fd, workdir, started_at, token)
    finally:
        os.close(read_fd)
        _remove_workdir(workdir)


class _End(enum.Enum):
    """How following a child ended."""

    SATISFIED = "satisfied"  # the follower has all it waited for (a group's last boundary)
    EOF = "eof"  # the child closed its end of the event pipe
    EXITED = "exited"  # the child died; what it sent before was read
    CORRUPT = "corrupt"  # the event stream could not be decoded
    STUCK = "stuck"  # a call (or the scenario) used its whole budget: see ``stuck``


class _Follower:
    """Reads a child's event stream against the budgets of the calls in flight.

    One loop for lone and shared children; subclasses say what an event means (``consume``) and when
    there is nothing more to wait for (``satisfied``). When a budget runs out the verdict is never taken
    from the wall clock alone: events that already arrived are read first, a child that is dying is
    given its death, and a call that was runnable but not scheduled gets its deadline moved
    (``deadlines.CallWatch.review``).
    """

    #: A child that runs a group of scenarios (its stream has boundaries).
    shared = False
    #: The events of the scenario being followed (a lone child's, or a shared child's current one).
    events: list[Event]

    def __init__(self, pid: int, read_fd: int, started_at: float, overall_budget_s: float, token: bytes) -> None:
        self.pid = pid
        self.read_fd = read_fd
        self.frames = EventStream(token, shared=self.shared)
        self.calls = CallWatch(pid)
        self.pidfd = os.pidfd_open(pid)
        self.stuck: WatchedCall | None = None
        self.overall = self._watch_scenario(started_at, overall_budget_s)
        self.last_read = 0.0  # when the stream was last read

    def _watch_scenario(self, now: float, overall_budget_s: float) -> WatchedCall:
        """The overall budget is watched like a call, on every thread of the child (``deadlines``)."""
        budget = CallStarted("scenario", overall_budget_s, "overall budget", "", self.pid)
        return watch_overall_budget(budget, self.pid, now)

    def consume(self, decoded: list[Any]) -> None:
        raise NotImplementedError

    def satisfied(self) -> bool:
        return False

    def feed(self, chunk: bytes) -> bool:
        try:
            self.consume(self.frames.feed(chunk))
        except FrameError as error:
            self.consume(error.decoded)  # what came before the bad frame is still the child's own account
            self.corrupt(str(error))
            return False
        return True

    def corrupt(self, error: str) -> None:
        """The stream broke (lone children record it as StreamCorrupted, judged against the plugin)."""

    def ended(self, end: _End) -> _End:
        """The stream ended: bytes left that cannot begin a frame of ours corrupt it."""
        try:
            self.frames.end()
        except FrameError as error:
            self.corrupt(str(error))
            return _End.CORRUPT
        return end

    def track(self, event: Event) -> None:
        if isinstance(event, CallStarted):
            self.calls.started(event, time.monotonic())
        elif isinstance(event, CallFinished):
            self.calls.finished(event)

    def follow(self) -> _End:
        while not self.satisfied():
            now = time.monotonic()
            call = self.calls.earliest()
            deadline = self.overall.deadline if call is None else min(call.deadline, self.overall.deadline)
            if now >= deadline:
                end = self._at_deadline(now)
                if end is not None:
                    return end
                continue
            readable, _, _ = select.select([self.read_fd, self.pidfd], [], [], deadline - now)
            if self.read_fd in readable:
                if now - self.last_read < DENSE_STREAM_S and not self.frames.completed:
                    time.sleep(DENSE_STREAM_S)  # let a dense stream gather: one read of many frames
                chunk = os.read(self.read_fd, 1 << 16)
                self.last_read = time.monotonic()
                if not chunk:
                    return self.ended(_End.EOF)
                if not self.feed(chunk):
                    return _End.CORRUPT
            elif self.pidfd in readable:
                if not _drain(self.read_fd, self.feed):
                    return _End.CORRUPT
                return self.ended(_End.EXITED)
        return _End.SATISFIED

    def _at_deadline(self, now: float) -> _End | None:
        """A budget ran out: decide from what the child is doing, not from the clock alone."""
        if not _drain(self.read_fd, self.feed):
            return _End.CORRUPT
        if self.satisfied():
            return _End.SATISFIED
        if self.died_within(DYING_GRACE_S if child_is_dying(self.pid) else 0.0):
            if not _drain(self.read_fd, self.feed):
                return _End.CORRUPT
            return self.ended(_End.EXITED)
        call = self.calls.earliest()
        if call is not None and call.deadline <= now and call.deadline <= self.overall.deadline:
            watched = call
        elif self.overall.deadline <= now:
            watched = self.overall
        else:
            return None  # the events just read finished the call that was due
        if self.calls.review(watched, now):
            self.stuck = watched
            return _End.STUCK
        return None

    def died_within(self, seconds: float) -> bool:
        readable, _, _ = select.select([self.pidfd], [], [], seconds)
        return bool(readable)

    def close(self) -> None:
        os.close(self.pidfd)


class _LoneFollower(_Follower):
    def __init__(self, pid: int, read_fd: int, started_at: float, overall_budget_s: float, token: bytes) -> None:
        self.events: list[Event] = []
        super().__init__(pid, read_fd, started_at, overall_budget_s, token)

    def consume(self, decoded: list[Any]) -> None:
        for event in decoded:
            self.events.append(event)
            self.track(event)

    def corrupt(self, error: str) -> None:
        self.events.append(StreamCorrupted(error))


def _follow_child(
    request: ScenarioRequest, pid: int, read_fd: int, workdir: str, started_at: float, token: bytes
) -> SandboxResult:
    overall_budget = request.overall_budget_s * request.budget_scale
    follower = _LoneFollower(pid, read_fd, started_at, overall_budget, token)
    try:
        return _ended_alone(request, follower, follower.follow(), read_fd, workdir, started_at)
    finally:
        follower.close()


def _ended_alone(
    request: ScenarioRequest, follower: _Follower, end: _End, read_fd: int, workdir: str, started_at: float
) -> SandboxResult:
    """The result of a child whose only scenario so far is ``request``, after following it to ``end``: stacks of
    a stuck call, the exit status, the output. A lone child's, and a shared child's that ended in its first."""
    pid = follower.pid
    stacks: str | None = None
    stack_tool = ""
    stuck = follower.stuck if end is _End.STUCK else None
    if stuck is not None:
        if request.capture_stacks:
            stacks, stack_tool = capture_stacks(pid)
        # A death during the capture, or one on its way, is a death: never reported as a hang.
        if follower.died_within(DYING_GRACE_S if child_is_dying(pid) else POST_CAPTURE_GRACE_S):
            _drain(read_fd, follower.feed)
            stuck, end = None, _End.EXITED
        else:
            _kill_group(pid)
    events = follower.events
    status = _wait_exit(pid, 0.0 if end is _End.EXITED else EXIT_GRACE_S)
    _kill_group(pid)  # anything the plugin left behind in the child's group
    duration = time.monotonic() - started_at
    tail = _read_tail(os.path.join(workdir, OUTPUT_FILE))
    extensions = tuple(follower.calls.extensions)
    if stuck is not None:
        overall_budget = request.overall_budget_s * request.budget_scale
        if stuck is follower.overall:
            detail = f"scenario exceeded its overall budget of {overall_budget:.1f} s ({stuck.verdict})"
            in_flight = follower.calls.current()
        else:
            detail = f"{stuck.event.entry} did not return within {stuck.event.budget_s:.2f} s ({stuck.verdict})"
            in_flight = stuck.event
        return SandboxResult(
            Outcome.TIMED_OUT,
            tuple(events),
            duration,
            detail,
            in_flight=in_flight,
            stacks=stacks,
            stack_tool=stack_tool,
            stderr_tail=tail,
            pid=pid,
            budget_extensions=extensions,
        )
    current = follower.calls.current()
    corrupt = end is _End.CORRUPT
    return _by_exit(tuple(events), duration, status, tail, pid, extensions, current, corrupt, request.trace)


#: Events a completed scenario's result leaves out unless its request asks for the whole trace
#: (``ScenarioRequest.trace``): nothing judges a completed scenario by them.
_FOLLOWED_ONLY = (CallStarted, GuardRegion)


def _for_outcome(events: Sequence[Event], outcome: Outcome, trace: bool) -> tuple[Event, ...]:
    """The events a result carries: all of them for a scenario that did not complete (a crash is explained with
    the guard regions), or when the request asks for its trace; else what judgements read."""
    if trace or outcome not in (Outcome.COMPLETED, Outcome.HARNESS_ERROR):
        return tuple(events)
    return tuple(event for event in events if type(event) not in _FOLLOWED_ONLY)


def _by_exit(
    events: tuple[Event, ...],
    duration: float,
    status: int,
    tail: str,
    pid: int,
    extensions: tuple[float, ...],
    current: CallStarted | None,
    corrupt: bool,
    trace: bool,
) -> SandboxResult:
    """A scenario judged by how its child exited (``status``): a lone child's, or a shared child's first.
    ``current`` is the call in flight, blamed when the scenario did not complete or its stream broke."""
    completed = any(isinstance(event, ScenarioDone) for event in events)
    outcome, sig, code, resource_kind = classify_exit(status, tail, completed)
    harness_errors = [event for event in events if isinstance(event, HarnessError)]
    if outcome is Outcome.COMPLETED and harness_errors:
        outcome = Outcome.HARNESS_ERROR
    return SandboxResult(
        outcome,
        _for_outcome(events, outcome, trace),
        duration,
        harness_errors[0].message if outcome is Outcome.HARNESS_ERROR else "",
        signal_number=sig,
        signal_name=signal_name(sig) if sig is not None else None,
        exit_code=code,
        in_flight=current if outcome is not Outcome.COMPLETED or corrupt else None,
        stderr_tail=tail,
        panic_message=panic_message(tail),
        resource=resource_kind,
        pid=pid,
        budget_extensions=extensions,
    )


def run_group(group: GroupRequest, lookup: ScenarioLookup) -> GroupResult:
    """Fork one child for all of ``group`` and follow it scenario by scenario."""
    scenarios = [lookup(request.scenario) for request in group.requests]
    pid, read_fd, workdir, started_at, token = _fork_child(
        lambda fd, work, token: group_child_main(group.requests, scenarios, fd, work, token)
    )
    try:
        return _GroupFollower(group.requests, pid, read_fd, workdir, started_at, token).follow_group()
    finally:
        os.close(read_fd)
        _remove_workdir(workdir)


class _GroupFollower(_Follower):
    """Cuts a shared child's event stream into per-scenario results at each ``ScenarioBoundary``.

    Each scenario has its own budgets, restarted at the previous boundary. The
    first scenario that does not reach its boundary (crash, hang, exit) ends
    the group. The child's first scenario met the plugin as a child of its own
    would, and its result is made as one's is (``_ended_alone``: stacks of a
    stuck call, the exit status when the child ended in it or right after it),
    so the caller takes it as a run of its own. A later one that ends the group
    gets no stacks: the caller runs it again alone.
    """

    shared = True

    def __init__(
        self,
        requests: tuple[ScenarioRequest, ...],
        pid: int,
        read_fd: int,
        workdir: str,
        started_at: float,
        token: bytes,
    ) -> None:
        self.requests = requests
        self.workdir = workdir
        self.done: list[tuple[tuple[Event, ...], float, int, int]] = []  # events, duration, output span
        self.threads_left = 1
        self.events: list[Event] = []
        self.scenario_started = started_at
        self.output_start = 0
        self.first_extensions: tuple[float, ...] = ()
        super().__init__(pid, read_fd, started_at, self._overall_budget(0), token)

    def _overall_budget(self, index: int) -> float:
        request = self.requests[min(index, len(self.requests) - 1)]
        return request.overall_budget_s * request.budget_scale

    def _next_scenario(self, now: float, output_start: int) -> None:
        self.events = []
        self.calls.in_flight.clear()
        self.scenario_started = now
        self.output_start = output_start
        self.overall = self._watch_scenario(now, self._overall_budget(len(self.done)))

    def satisfied(self) -> bool:
        return len(self.done) >= len(self.requests) or self.threads_left > 1

    def consume(self, decoded: list[Any]) -> None:
        for event in decoded:
            if isinstance(event, ScenarioBoundary):
                now = time.monotonic()
                duration = now - self.scenario_started
                self.done.append((tuple(self.events), duration, self.output_start, event.output_end))
                if len(self.done) == 1:
                    self.first_extensions = tuple(self.calls.extensions)
                self.threads_left = event.threads_left
                self._next_scenario(now, event.output_end)
                continue
            self.events.append(event)
            self.track(event)

    def corrupt(self, error: str) -> None:
        if not self.done:  # in the first scenario, as a lone child's stream would say
            self.events.append(StreamCorrupted(error))

    def follow_group(self) -> GroupResult:
        try:
            end = self.follow()
            if not self.done:
                return self._ended_in_first(end)
        finally:
            self.close()
        stopped = ""
        if end is _End.STUCK:
            stopped = f"{self._in_flight()} ran past its budget"
        elif end is _End.CORRUPT:
            stopped = f"{self._in_flight()} corrupted the event stream"
        if stopped:
            _kill_group(self.pid)
        status = _wait_exit(self.pid, 0.0 if end is _End.EXITED else EXIT_GRACE_S)
        _kill_group(self.pid)
        died = ""
        if len(self.done) < len(self.requests):
            if self.threads_left > 1:
                stopped = f"{self.requests[len(self.done) - 1].scenario} left {self.threads_left - 1} thread(s) running"
            elif not stopped:
                died = _status_text(status)
                stopped = f"{self._in_flight()} ended the shared child ({died})"
        ended_after_first = len(self.done) == 1 and self.threads_left > 1
        first = self._first_result(status if ended_after_first else 0)
        results = (first, *(self._result(i) for i in range(1, len(self.done))))
        return GroupResult(results, stopped, threads_outlived=self.threads_left > 1, died=died)

    def _ended_in_first(self, end: _End) -> GroupResult:
        """The child ended in its first scenario: that scenario's result is a lone child's.

        One race differs: a call that returns while its stacks are being taken, after its budget ran out,
        lets a lone child finish and exit (its scenario completes), where this child goes on to its next
        scenario and is killed (a timeout). The call did overrun its budget, so the stricter verdict stands.
        """
        first = _ended_alone(self.requests[0], self, end, self.read_fd, self.workdir, self.scenario_started)
        stopped = f"{self.requests[0].scenario} ended the shared child ({first.outcome.value})"
        return GroupResult((first,), stopped, first_ended_child=True)

    def _in_flight(self) -> str:
        return self.requests[len(self.done)].scenario

    def _first_result(self, status: int) -> SandboxResult:
        """The first scenario's result as a lone child's: ``status`` is the child's exit status when it ended
        right after this scenario (plugin threads outlived it), else 0, the status a lone child exits with."""
        events, duration, start, end = self.done[0]
        tail = _read_span(os.path.join(self.workdir, OUTPUT_FILE), start, end)
        return _by_exit(
            events, duration, status, tail, self.pid, self.first_extensions, None, False, self.requests[0].trace
        )

    def _result(self, index: int) -> SandboxResult:
        events, duration, start, end = self.done[index]
        tail = _read_span(os.path.join(self.workdir, OUTPUT_FILE), start, end)
        harness_errors = [event for event in events if isinstance(event, HarnessError)]
        completed = any(isinstance(event, ScenarioDone) for event in events)
        outcome = Outcome.HARNESS_ERROR if harness_errors or not completed else Outcome.COMPLETED
        detail = ""
        if harness_errors:
            detail = harness_errors[0].message
        elif not completed:
            detail = "the scenario ended without its completion event"
        return SandboxResult(
            outcome,
            _for_outcome(events, outcome, self.requests[index].trace),
            duration,
            detail,
            stderr_tail=tail,
            panic_message=panic_message(tail),
            pid=self.pid,
            shared_child=True,
        )


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal_name(os.WTERMSIG(status))}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _read_span(path: str, start: int, end: int) -> str:
    """Bytes ``start``..``end`` of a child's output (one scenario's part of a shared child's), bounded:
    all of them when short, else the head and the tail."""
    try:
        with open(path, "rb") as handle:
            size = max(0, end - start)
            handle.seek(start)
            if size <= 2 * STDERR_TAIL_BYTES:
                return handle.read(size).decode("utf-8", "replace")
            head = handle.read(STDERR_TAIL_BYTES)
            handle.seek(end - STDERR_TAIL_BYTES)
            tail = handle.read(STDERR_TAIL_BYTES)
    except OSError:
        return ""
    skipped = size - 2 * STDERR_TAIL_BYTES
    return f"{head.decode('utf-8', 'replace')}\n[... {skipped} bytes omitted ...]\n{tail.decode('utf-8', 'replace')}"


def _drain(read_fd: int, feed: Callable[[bytes], bool]) -> bool:
    """Read what is in the pipe now, chunk by chunk, without waiting; False when ``feed`` refused a chunk."""
    os.set_blocking(read_fd, False)
    try:
        while True:
            try:
                chunk = os.read(read_fd, 1 << 16)
            except BlockingIOError:
                return True
            if not chunk:
                return True
            if not feed(chunk):
                return False
    finally:
        os.set_blocking(read_fd, True)


def serve(
    request_fd: int,
    reply_fd: int,
    lookup: ScenarioLookup,
    containment: Containment = Containment.SUBREAPER,
    client_sees_pid: int | None = None,
) -> None:
    """Answer requests until the parent closes the request pipe, finding scenarios through ``lookup``.

    Whatever the lookup imports (the catalogue, on its first call) is imported
    here, before the fork, so children inherit it. After each request, whatever
    the plugin left running is killed and named (``containment.sweep``).
    ``client_sees_pid`` names the server's directory (``sandbox.workdirs``) by the pid its client reaps.
    """
    warm_server()
    if containment is Containment.NAMESPACES:
        hide_host_debug_info()  # everything the server will map is mapped; no plugin is yet
    gc.freeze()
    _server_dir[:] = [make_server_dir(client_sees_pid or os.getpid())]
    try:
        _answer_requests(request_fd, reply_fd, lookup, containment)
    finally:
        shutil.rmtree(_server_dir.pop(), ignore_errors=True)


def _answer_requests(request_fd: int, reply_fd: int, lookup: ScenarioLookup, containment: Containment) -> None:
    while True:
        try:
            request = read_frame(request_fd)
        except EOFError:
            return
        try:
            if isinstance(request, GroupRequest):
                reply: object = run_group(request, lookup)
            else:
                reply = run_request(request, lookup)
        except Exception as error:  # noqa: BLE001 - one bad request must not end the server
            if isinstance(request, GroupRequest):
                reply = GroupResult((), f"sandbox server error: {type(error).__name__}: {error}")
            else:
                reply = SandboxResult(
                    Outcome.HARNESS_ERROR,
                    (HarnessError(f"{type(error).__name__}: {error}", traceback.format_exc()),),
                    0.0,
                    f"sandbox server error: {error}",
                )
        write_frame(reply_fd, with_containment(reply, containment, sweep(containment)))


def with_containment(reply: object, level: Containment, strays: tuple[str, ...]) -> object:
    """The reply as sent: the containment in force, and the processes the scenario left running as a violation.

    In a shared child the strays cannot be told apart by scenario; they go to
    the last one that completed.
    """
    if isinstance(reply, GroupResult):
        results = list(reply.results)
        if results:
            results[-1] = _contained(results[-1], level, strays)
        return replace(reply, results=tuple(results), containment=level.value, stray_processes=strays)
    if isinstance(reply, SandboxResult):
        return _contained(reply, level, strays)
    return reply


def _contained(result: SandboxResult, level: Containment, strays: tuple[str, ...]) -> SandboxResult:
    events = result.events
    if strays:
        count = f"{len(strays)} process{'es' if len(strays) > 1 else ''}"
        detail = f"left {count} running after the scenario (killed by the sandbox): {', '.join(strays[:8])}"
        events = (*events, Violation(STRAY_PROCESS_RULE, detail))
    return replace(result, events=events, containment=level.value, stray_processes=strays)


def warm_server() -> None:
    """Do now, once, what every child would otherwise redo per scenario: declarations, type parses, helpers.

    Idempotent: the zygote warms itself, and the servers it forks find everything done.
    """
    warm_up()
    libc()
    load_host_process_libraries()
    load_reporter()
    warm_stack()
    warm_child()
    warm_bare_fork()


def main(lookup_spec: str) -> None:
    """Serve on the original stdin/stdout, finding scenarios through the lookup ``module:function`` names."""
    die_with_parent()
    run_server(lookup_spec)


def run_server(lookup_spec: str) -> None:
    """A server whose stdin and stdout are its request and reply pipes: contain it, then serve until EOF.

    Shared by a booted server (``main``) and one forked by the zygote (``sandbox.zygote``).
    """
    client_sees_pid = os.getpid()  # with namespaces the server goes on as PID 1 and this process relays
    containment, why = contain_server(die_with_parent)
    if why:
        print(f"conformance sandbox: containment without namespaces ({why})", file=sys.stderr)
    lookup = import_lookup(lookup_spec)
    # The protocol owns the original stdin/stdout; stray prints go to stderr.
    request_fd = os.dup(0)
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    sys.stdout = sys.stderr
    serve(request_fd, reply_fd, lookup, containment, client_sees_pid)


if __name__ == "__main__":
    main(sys.argv[1])
