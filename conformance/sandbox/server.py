"""The fork server: a warm interpreter that forks one child per scenario.

Started once per pytest process (and per xdist worker). It imports cffi, the
ABI declarations and the scenario registry up front, never loads a plugin
itself, and stays single-threaded so that ``fork`` is safe. For each request it
forks a child, follows the child's event stream against the budget of the call
in flight, captures stacks and kills the child's process group on overrun, and
answers with one ``SandboxResult``.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

from conformance.sandbox.child import OUTPUT_FILE, Scenario, child_main, group_child_main
from conformance.sandbox.classify import classify_exit, panic_message
from conformance.sandbox.events import (
    CallFinished,
    CallStarted,
    Event,
    HarnessError,
    ScenarioBoundary,
    ScenarioDone,
)
from conformance.sandbox.framing import FrameBuffer, FrameError, read_frame, write_frame
from conformance.sandbox.protocol import GroupRequest, GroupResult, Outcome, SandboxResult, ScenarioRequest
from conformance.sandbox.stacks import capture_stacks

STDERR_TAIL_BYTES = 8192
EXIT_GRACE_S = 2.0


class _CallTracker:
    """Calls in flight per thread, with the deadline of each."""

    def __init__(self) -> None:
        self.in_flight: dict[str, tuple[CallStarted, float]] = {}
        self.last_started: CallStarted | None = None

    def started(self, event: CallStarted, now: float) -> None:
        self.in_flight[event.thread] = (event, now + event.budget_s)
        self.last_started = event

    def finished(self, event: CallFinished) -> None:
        self.in_flight.pop(event.thread, None)

    def earliest(self) -> tuple[CallStarted, float] | None:
        if not self.in_flight:
            return None
        return min(self.in_flight.values(), key=lambda item: item[1])

    def current(self) -> CallStarted | None:
        """The call to blame for a death: the most recently started one still in flight."""
        if not self.in_flight:
            return None
        return max(self.in_flight.values(), key=lambda item: item[1] - item[0].budget_s)[0]


def _read_tail(path: str) -> str:
    """The child's output, bounded: all of it when short, else its head and its tail.

    The head matters as much as the tail: a Rust panic message comes first and
    the (forced) backtrace of a non-unwinding panic follows it.
    """
    try:
        size = os.path.getsize(path)
    except OSError:
        return ""
    return _read_span(path, 0, size)


def _kill_group(pid: int) -> None:
    """SIGKILL the child's process group (plugin-spawned processes included), then the child itself."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def _wait_exit(pid: int, grace_s: float) -> int:
    """Reap the child, killing it if it does not exit within ``grace_s``."""
    deadline = time.monotonic() + grace_s
    while True:
        waited, status = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return status
        if time.monotonic() >= deadline:
            _kill_group(pid)
            _, status = os.waitpid(pid, 0)
            return status
        time.sleep(0.001)


def _fork_child(body: Callable[[int, str], None]) -> tuple[int, int, str, float]:
    """Fork a child that runs ``body(event_fd, workdir)`` and never returns; (pid, read fd, workdir, start)."""
    workdir = tempfile.mkdtemp(prefix="skc-")
    read_fd, write_fd = os.pipe()
    started_at = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        body(write_fd, workdir)
    os.close(write_fd)
    return pid, read_fd, workdir, started_at


def run_request(request: ScenarioRequest, lookup: Callable[[str], Scenario]) -> SandboxResult:
    """Fork a child for ``request`` and follow it to its end."""
    scenario = lookup(request.scenario)
    pid, read_fd, workdir, started_at = _fork_child(lambda fd, work: child_main(request, scenario, fd, work))
    try:
        return _follow_child(request, pid, read_fd, workdir, started_at)
    finally:
        os.close(read_fd)
        shutil.rmtree(workdir, ignore_errors=True)


def _follow_child(request: ScenarioRequest, pid: int, read_fd: int, workdir: str, started_at: float) -> SandboxResult:
    events: list[Event] = []
    frames = FrameBuffer()
    calls = _CallTracker()
    overall_deadline = started_at + request.overall_budget_s * request.budget_scale
    pidfd = os.pidfd_open(pid)
    timed_out: CallStarted | None = None
    overall_overrun = False
    exited = False
    try:
        while True:
            now = time.monotonic()
            earliest = calls.earliest()
            deadline = overall_deadline if earliest is None else min(earliest[1], overall_deadline)
            if now >= deadline:
                if earliest is not None and earliest[1] <= overall_deadline:
                    timed_out = earliest[0]
                else:
                    overall_overrun = True
                break
            readable, _, _ = select.select([read_fd, pidfd], [], [], deadline - now)
            if read_fd in readable:
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    break
                try:
                    decoded = frames.feed(chunk)
                except FrameError as error:
                    events.append(HarnessError(f"corrupt event stream: {error}"))
                    break
                for event in decoded:
                    events.append(event)
                    if isinstance(event, CallStarted):
                        calls.started(event, time.monotonic())
                    elif isinstance(event, CallFinished):
                        calls.finished(event)
            elif pidfd in readable:
                exited = True
                _drain(read_fd, lambda chunk: _feed_events(frames, events, chunk))
                break
    finally:
        os.close(pidfd)

    stacks: str | None = None
    stack_tool = ""
    if timed_out is not None or overall_overrun:
        if request.capture_stacks:
            stacks, stack_tool = capture_stacks(pid)
        _kill_group(pid)
    status = _wait_exit(pid, 0.0 if exited else EXIT_GRACE_S)
    _kill_group(pid)  # anything the plugin left behind in the child's group
    duration = time.monotonic() - started_at
    tail = _read_tail(os.path.join(workdir, OUTPUT_FILE))
    completed = any(isinstance(event, ScenarioDone) for event in events)
    if timed_out is not None or overall_overrun:
        detail = (
            f"{timed_out.entry} did not return within {timed_out.budget_s:.2f} s"
            if timed_out is not None
            else f"scenario exceeded its overall budget of {request.overall_budget_s * request.budget_scale:.1f} s"
        )
        return SandboxResult(
            Outcome.TIMED_OUT,
            tuple(events),
            duration,
            detail,
            in_flight=timed_out or calls.current(),
            stacks=stacks,
            stack_tool=stack_tool,
            stderr_tail=tail,
            pid=pid,
        )
    outcome, sig, code, resource_kind = classify_exit(status, tail, completed)
    from conformance.sandbox.classify import signal_name

    harness_errors = [event for event in events if isinstance(event, HarnessError)]
    if outcome is Outcome.COMPLETED and harness_errors:
        outcome = Outcome.HARNESS_ERROR
    return SandboxResult(
        outcome,
        tuple(events),
        duration,
        harness_errors[0].message if outcome is Outcome.HARNESS_ERROR else "",
        signal_number=sig,
        signal_name=signal_name(sig) if sig is not None else None,
        exit_code=code,
        in_flight=calls.current() if outcome is not Outcome.COMPLETED else None,
        stderr_tail=tail,
        panic_message=panic_message(tail),
        resource=resource_kind,
        pid=pid,
    )


def _feed_events(frames: FrameBuffer, events: list[Event], chunk: bytes) -> bool:
    """Decode ``chunk`` into ``events``; a corrupt stream becomes a harness error and stops the reading."""
    try:
        events.extend(frames.feed(chunk))
    except FrameError as error:
        events.append(HarnessError(f"corrupt event stream: {error}"))
        return False
    return True


def run_group(group: GroupRequest, lookup: Callable[[str], Scenario]) -> GroupResult:
    """Fork one child for all of ``group`` and follow it scenario by scenario."""
    scenarios = [lookup(request.scenario) for request in group.requests]
    pid, read_fd, workdir, started_at = _fork_child(
        lambda fd, work: group_child_main(group.requests, scenarios, fd, work)
    )
    try:
        return _GroupFollower(group.requests, pid, read_fd, workdir, started_at).follow()
    finally:
        os.close(read_fd)
        shutil.rmtree(workdir, ignore_errors=True)


class _GroupFollower:
    """Cuts a shared child's event stream into per-scenario results at each ``ScenarioBoundary``.

    Each scenario has its own budgets, restarted at the previous boundary. The
    first scenario that does not reach its boundary (crash, hang, exit) ends
    the group: no stacks are taken, because the caller runs it again alone.
    """

    def __init__(
        self, requests: tuple[ScenarioRequest, ...], pid: int, read_fd: int, workdir: str, started_at: float
    ) -> None:
        self.requests = requests
        self.pid = pid
        self.read_fd = read_fd
        self.workdir = workdir
        self.frames = FrameBuffer()
        self.done: list[tuple[tuple[Event, ...], float, int, int]] = []  # events, duration, output span
        self.threads_left = 1
        self._begin(started_at, 0)

    def _begin(self, now: float, output_start: int) -> None:
        self.events: list[Event] = []
        self.calls = _CallTracker()
        self.scenario_started = now
        self.output_start = output_start
        if len(self.done) < len(self.requests):
            request = self.requests[len(self.done)]
            self.overall_deadline = now + request.overall_budget_s * request.budget_scale

    def _consume(self, decoded: list[Any]) -> None:
        for event in decoded:
            if isinstance(event, ScenarioBoundary):
                now = time.monotonic()
                duration = now - self.scenario_started
                self.done.append((tuple(self.events), duration, self.output_start, event.output_end))
                self.threads_left = event.threads_left
                self._begin(now, event.output_end)
                continue
            self.events.append(event)
            if isinstance(event, CallStarted):
                self.calls.started(event, time.monotonic())
            elif isinstance(event, CallFinished):
                self.calls.finished(event)

    def _feed(self, chunk: bytes) -> bool:
        try:
            self._consume(self.frames.feed(chunk))
        except FrameError:
            return False
        return True

    def follow(self) -> GroupResult:
        stopped = ""
        pidfd = os.pidfd_open(self.pid)
        exited = False
        try:
            while len(self.done) < len(self.requests) and self.threads_left <= 1:
                now = time.monotonic()
                earliest = self.calls.earliest()
                deadline = self.overall_deadline if earliest is None else min(earliest[1], self.overall_deadline)
                if now >= deadline:
                    stopped = f"{self._in_flight()} ran past its budget"
                    break
                readable, _, _ = select.select([self.read_fd, pidfd], [], [], deadline - now)
                if self.read_fd in readable:
                    chunk = os.read(self.read_fd, 1 << 16)
                    if not chunk:
                        break  # the child closed its end: it is exiting
                    if not self._feed(chunk):
                        stopped = f"{self._in_flight()} corrupted the event stream"
                        break
                elif pidfd in readable:
                    exited = True
                    _drain(self.read_fd, self._feed)
                    break
        finally:
            os.close(pidfd)
        if stopped:
            _kill_group(self.pid)
        status = _wait_exit(self.pid, 0.0 if exited else EXIT_GRACE_S)
        _kill_group(self.pid)
        if len(self.done) < len(self.requests):
            if self.threads_left > 1:
                stopped = f"{self.requests[len(self.done) - 1].scenario} left {self.threads_left - 1} thread(s) running"
            elif not stopped:
                stopped = f"{self._in_flight()} ended the shared child ({_status_text(status)})"
        results = tuple(self._result(i) for i in range(len(self.done)))
        return GroupResult(results, stopped, threads_outlived=self.threads_left > 1)

    def _in_flight(self) -> str:
        return self.requests[len(self.done)].scenario

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
            events,
            duration,
            detail,
            stderr_tail=tail,
            panic_message=panic_message(tail),
            pid=self.pid,
            shared_child=True,
        )


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        from conformance.sandbox.classify import signal_name

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


def _drain(read_fd: int, feed: Callable[[bytes], bool]) -> None:
    """Read what an exited child left in the pipe, chunk by chunk, until ``feed`` refuses one or it is empty."""
    os.set_blocking(read_fd, False)
    while True:
        try:
            chunk = os.read(read_fd, 1 << 16)
        except BlockingIOError:
            return
        if not chunk or not feed(chunk):
            return


def serve(request_fd: int, reply_fd: int) -> None:
    """Answer requests until the parent closes the request pipe."""
    from conformance.abi import warm_up
    from conformance.checks.registry import catalogue, lookup_scenario
    from conformance.host.libc import libc

    # Warm everything a child would otherwise redo per scenario: declarations, type parses, the catalogue.
    warm_up()
    libc()
    catalogue()
    from conformance.sandbox.faults import load_reporter

    load_reporter()
    while True:
        try:
            request = read_frame(request_fd)
        except EOFError:
            return
        try:
            if isinstance(request, GroupRequest):
                reply: object = run_group(request, lookup_scenario)
            else:
                reply = run_request(request, lookup_scenario)
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
        write_frame(reply_fd, reply)


def main() -> None:
    from conformance.sandbox.child import die_with_parent

    die_with_parent()
    # The protocol owns the original stdin/stdout; stray prints go to stderr.
    request_fd = os.dup(0)
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    sys.stdout = sys.stderr
    serve(request_fd, reply_fd)


if __name__ == "__main__":
    main()
