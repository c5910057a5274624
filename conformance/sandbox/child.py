"""The body of a forked scenario child: isolate, run one scenario, stream events, exit.

Runs after ``fork`` in the server, so it never returns: it ends with
``os._exit`` so that neither atexit handlers nor library destructors of the
plugin run unless a scenario asks for them (the unload checks call dlclose
themselves).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import resource
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import TextIO

from conformance.host.callbacks import retire_host_callbacks
from conformance.host.errors import LoadError
from conformance.host.guarded import set_region_sink
from conformance.host.loader import LoadedPlugin
from conformance.host.logs import retire_log_bridge
from conformance.sandbox.containment import Containment, drop_privileges, in_force
from conformance.sandbox.event_codec import EventWriter
from conformance.sandbox.faults import install_in_child, prepare_child_natively, refuse_foreign_signals
from conformance.sandbox.libc_calls import process_libc
from conformance.scenario.context import Emitter, Scenario, ScenarioContext, ScenarioSkip
from conformance.scenario.events import (
    Event,
    HarnessError,
    LoadFailed,
    ScenarioBoundary,
    ScenarioDone,
    Skipped,
)
from conformance.scenario.protocol import ScenarioRequest

OUTPUT_FILE = "output.log"
#: The descriptor a child's end of the event channel has once the child is prepared.
CHANNEL_FD = 3
#: ``signal.signal``'s C half. The Python half converts the number and the handler it returns to enums, and in
#: a fresh child that cold path cost four calls 53 page faults (about 0.2 ms) against 15.
_C_SIGNAL = importlib.import_module("_signal")
#: The child's ``sys.stdout`` and ``sys.stderr``, made once in the server before it forks (``warm_child``): they
#: name descriptors 1 and 2, which each child points at its own output file. Made in every child, they cost
#: it 50 page faults (0.2 ms). The server never writes to them, so a child starts with their buffers empty.
_child_stdio: list[tuple[TextIO, TextIO]] = []
#: Whether the server set RUST_BACKTRACE=0 before it forked (``warm_child``): a child then need not read it.
_rust_quieted: list[bool] = []


def _apply_limits(request: ScenarioRequest) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _lower_limit(resource.RLIMIT_AS, _memory_limit_bytes(request))
    _lower_limit(resource.RLIMIT_FSIZE, request.output_limit_bytes)


def _memory_limit_bytes(request: ScenarioRequest) -> int:
    return request.memory_limit_mb * 1024 * 1024


def _lower_limit(which: int, value: int) -> None:
    """Soft and hard both: a plugin (root or not, capabilities dropped) cannot raise its limit back."""
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _prctl() -> Callable[..., int]:
    """libc's ``prctl``: the zygote and every server call it before they fork, so a child finds it looked up."""
    prctl: Callable[..., int] = process_libc().prctl
    return prctl


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG: if our parent dies, so do we (no orphaned, wedged plugin processes)."""

    PR_SET_PDEATHSIG = 1
    _prctl()(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _isolate(event_fd: int, workdir: str, output_path: str) -> int:
    """Give the child its own process group, stdio, directory and no inherited descriptors."""
    die_with_parent()
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    out = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    # Keep the event pipe at a fixed low number, close-on-exec (a program the plugin runs does not get it),
    # then close everything else.
    os.dup2(event_fd, CHANNEL_FD)
    os.set_inheritable(CHANNEL_FD, False)
    os.closerange(4, 65536)
    os.chdir(workdir)
    # Signals as in the real host, a Rust binary. Its runtime ignores SIGPIPE, so a plugin writing to a closed
    # pipe gets EPIPE and lives: SIGPIPE stays ignored (Python ignores it too; set here so that does not depend
    # on how the interpreter was started). SIGXFSZ, which Python ignores and Rust leaves alone, kills as it
    # would kill the host; SIGINT and SIGTERM get their default action back from Python's handlers.
    _C_SIGNAL.signal(signal.SIGPIPE, _C_SIGNAL.SIG_IGN)
    _C_SIGNAL.signal(signal.SIGXFSZ, _C_SIGNAL.SIG_DFL)
    _C_SIGNAL.signal(signal.SIGINT, _C_SIGNAL.SIG_DFL)
    _C_SIGNAL.signal(signal.SIGTERM, _C_SIGNAL.SIG_DFL)
    return CHANNEL_FD


def run_scenario(request: ScenarioRequest, scenario: Scenario, sink: Callable[[Event], None]) -> None:
    """Run ``scenario`` and translate its exceptions into events (shared with in-process mode)."""

    emit = Emitter(sink)
    set_region_sink(emit)
    run_translated(scenario, ScenarioContext(request, emit, LoadedPlugin.load))
    emit(ScenarioDone())


def run_translated(scenario: Scenario, ctx: ScenarioContext) -> None:
    """Run ``scenario``, its exceptions sent as events (a joint run's members too, ``checks.joint``)."""
    try:
        scenario(ctx)
    except ScenarioSkip as skip:
        ctx.emit(Skipped(str(skip), skip.static))
    except LoadError as error:
        ctx.emit(LoadFailed(error.stage, error.message))
    except MemoryError:
        raise  # the address-space limit: the child exits and is classified as a resource limit
    except Exception as error:  # noqa: BLE001 - a scenario bug must become a harness-error event
        ctx.emit(HarnessError(f"{type(error).__name__}: {error}", traceback.format_exc()))


def _prepare(request: ScenarioRequest, event_fd: int, workdir: str, token: bytes) -> EventWriter:
    """A fresh scenario child (``prepare_child``) with its end of the event channel."""
    return EventWriter(prepare_child(request, event_fd, workdir), token)


def prepare_child(request: ScenarioRequest, channel_fd: int, workdir: str) -> int:
    """Isolation, fault reporter, limits, privileges and environment of a fresh child, before any plugin is
    loaded (scenario children and the fuzzer's persistent ones); returns the channel's new descriptor.

    Natively in one call when the helper is compiled (``faults.prepare_child_natively``), else step by step.
    """
    namespaces = in_force() is Containment.NAMESPACES
    output_path = os.path.join(workdir, OUTPUT_FILE)
    limits = (_memory_limit_bytes(request), request.output_limit_bytes)
    if prepare_child_natively(channel_fd, output_path, workdir, *limits, namespaces):
        fd = CHANNEL_FD
    else:
        fd = _isolate(channel_fd, workdir, output_path)
        install_in_child(2)
        _apply_limits(request)
        drop_privileges()
        if namespaces:
            refuse_foreign_signals()
    # Rust prints a backtrace of every panic with RUST_BACKTRACE=1; symbolising it against the
    # interpreter costs ~0.2 s per panic. Off unless the request asks for it (repro --trace).
    # The server sets it once (``warm_child``): a write here costs a child ~40 page faults, a read 17.
    if not _rust_quieted:
        quiet_rust_backtraces()
    if request.env:
        os.environ.update(request.env)
    sys.stdout, sys.stderr = _child_stdio[0] if _child_stdio else _stdio_streams()
    return fd


def _stdio_streams() -> tuple[TextIO, TextIO]:
    """Line-buffered text streams on descriptors 1 and 2 that never close them (they live until ``_exit``)."""
    return (
        open(1, "w", buffering=1, closefd=False),  # noqa: SIM115
        open(2, "w", buffering=1, closefd=False),  # noqa: SIM115
    )


def quiet_rust_backtraces() -> None:
    """RUST_BACKTRACE=0 in this process's environment, written only when it is not so already."""
    if os.environ.get("RUST_BACKTRACE") != "0":
        os.environ["RUST_BACKTRACE"] = "0"


def warm_child() -> None:
    """In the fork server, before it forks: what ``prepare_child`` would otherwise do in every child."""
    _prctl()
    quiet_rust_backtraces()
    _rust_quieted[:] = [True]
    if not _child_stdio:
        with contextlib.suppress(OSError):  # a descriptor closed here: each child makes its own
            _child_stdio.append(_stdio_streams())


def child_main(request: ScenarioRequest, scenario: Scenario, event_fd: int, workdir: str, token: bytes) -> None:
    try:
        writer = _prepare(request, event_fd, workdir, token)
        run_scenario(request, scenario, writer)
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        _die_reporting()
    os._exit(0)


def group_child_main(
    requests: tuple[ScenarioRequest, ...], scenarios: list[Scenario], event_fd: int, workdir: str, token: bytes
) -> None:
    """Run scenarios one after another in this child, marking each end with a ``ScenarioBoundary``.

    Each scenario gets a fresh context and fresh host callbacks and log
    bridge. The child stops after a scenario that leaves threads behind: a
    plugin thread still running could act during the next scenario and blur
    which one did what.
    """
    try:
        writer = _prepare(requests[0], event_fd, workdir, token)
        for index, (request, scenario) in enumerate(zip(requests, scenarios, strict=True)):
            if index:
                fresh_host_state()
            run_scenario(request, scenario, writer)
            sys.stdout.flush()
            sys.stderr.flush()
            threads = thread_count()
            writer(ScenarioBoundary(index, os.lseek(1, 0, os.SEEK_CUR), threads))
            if threads > 1:
                break
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        _die_reporting()
    os._exit(0)


def fresh_host_state() -> None:
    """The next scenario in this process gets host callbacks and a log bridge of its own: the ones made for
    an earlier scenario report to that scenario's events."""
    retire_host_callbacks()
    retire_log_bridge()


def thread_count() -> int:
    """Threads of this process, native ones included (Python's count misses plugin threads)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _die_reporting() -> None:
    try:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(70)
