"""Scenarios that exercise the sandbox itself, without a plugin.

Shipped with the package because the fork server can only run scenarios it
imported at start: the project's tests use them to prove each outcome
classification, and the benchmark uses ``selftest.empty`` to measure the
per-scenario overhead.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import threading
import time

from conformance.host.callbacks import host_callbacks
from conformance.host.logs import log_bridge
from conformance.sandbox.child import CHANNEL_FD
from conformance.sandbox.debuginfo import debug_info_visible, mapped_objects
from conformance.sandbox.event_codec import TOKEN_BYTES, encode_event
from conformance.sandbox.procfs import read_proc
from conformance.scenario.context import ScenarioContext
from conformance.scenario.events import ScenarioDone
from conformance.scenario.tools import tool_scenario


@tool_scenario("selftest.empty")
def empty(ctx: ScenarioContext) -> None:
    """Nothing at all: the cost of one round trip through the sandbox."""


@tool_scenario("selftest.events")
def events(ctx: ScenarioContext) -> None:
    ctx.observe("answer", 42)
    ctx.expect(True, "an expectation that holds")


@tool_scenario("selftest.sleep-in-call")
def sleep_in_call(ctx: ScenarioContext) -> None:
    ctx.call("process_packet", time.sleep, 3600, detail="sleeping on purpose")


@tool_scenario("selftest.segfault-in-call")
def segfault_in_call(ctx: ScenarioContext) -> None:
    ctx.observe("before", "the crash")
    ctx.call("flush", ctypes.string_at, 16, detail="reads address 16")


@tool_scenario("selftest.abort")
def abort_now(ctx: ScenarioContext) -> None:
    ctx.call("create_instance", os.abort)


@tool_scenario("selftest.exit")
def exit_now(ctx: ScenarioContext) -> None:
    ctx.call("destroy_instance", os._exit, int(ctx.option("code", 3)))


@tool_scenario("selftest.forge-channel")
def forge_channel(ctx: ScenarioContext) -> None:
    """What a hostile plugin does to the event channel from inside a call: option ``forgery`` says what.

    ``completion``: a well-formed ScenarioDone with a guessed token, then a clean exit mid-call;
    ``completion-with-token``: the same through the child's own writer (right token, sequence and count),
    as a plugin that searched the child's memory could;
    ``junk``: bytes that are no frame, then the call returns and the scenario goes on.
    """
    forgery = ctx.option("forgery", "junk")

    def plugin_code() -> None:
        if forgery == "completion":
            os.write(3, encode_event(ScenarioDone(), os.urandom(TOKEN_BYTES), 0))
            os._exit(0)
        if forgery == "completion-with-token":
            ctx.emit(ScenarioDone())
            os._exit(0)
        os.write(3, b"not a frame of the sandbox protocol at all")

    ctx.call("process_packet", plugin_code, detail="writes to the event channel")
    ctx.expect(True, "the scenario went on")


@tool_scenario("selftest.flood-output")
def flood_output(ctx: ScenarioContext) -> None:
    line = "x" * 1023 + "\n"
    for _ in range(1 << 20):
        os.write(2, line.encode())


@tool_scenario("selftest.exhaust-memory")
def exhaust_memory(ctx: ScenarioContext) -> None:
    hoard = []
    while True:
        hoard.append(bytearray(64 << 20))


@tool_scenario("selftest.raise")
def raise_error(ctx: ScenarioContext) -> None:
    raise RuntimeError("a bug in a scenario")


@tool_scenario("selftest.report-env")
def report_env(ctx: ScenarioContext) -> None:
    ctx.observe("env", os.environ.get("SKC_SELFTEST", ""))
    for key, value in prepared_state().items():
        ctx.observe(key, value)


#: Lines of /proc/self/status that say what a prepared child may do (signals, privileges, filter).
_STATUS_LINES = ("SigIgn", "SigCgt", "NoNewPrivs", "CapEff", "CapPrm", "CapBnd", "Seccomp")
#: The limits ``child.prepare_child`` sets.
_LIMITS = (resource.RLIMIT_CORE, resource.RLIMIT_AS, resource.RLIMIT_FSIZE)


def prepared_state() -> dict[str, object]:
    """What ``child.prepare_child`` made of this process, as the kernel reports it: the native preparation and
    the Python steps must leave the same (``tests/test_sandbox.py``)."""
    lines = (read_proc("/proc/self/status") or "").splitlines()
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    return {
        "cwd": os.getcwd(),
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "pgid_is_pid": os.getpgid(0) == os.getpid(),
        "stdin_is_devnull": os.path.realpath("/proc/self/fd/0") == os.devnull,
        "stdout_and_stderr": [os.path.realpath(f"/proc/self/fd/{fd}") for fd in (1, 2)],
        "event_fd_inheritable": os.get_inheritable(CHANNEL_FD),
        "limits": [list(resource.getrlimit(which)) for which in _LIMITS],
        "status": {key: status[key].strip() for key in _STATUS_LINES if key in status},
    }


@tool_scenario("selftest.host-debug-info")
def host_debug_info(ctx: ScenarioContext) -> None:
    """Which of the host's mapped objects still show debug information to a symbolizer in the child."""
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as handle:
        objects = mapped_objects(handle.read())
    ctx.observe("objects", objects)
    ctx.observe("debug_visible", [path for path in objects if debug_info_visible(path)])


@tool_scenario("selftest.kill-self")
def kill_self(ctx: ScenarioContext) -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


@tool_scenario("selftest.print-option")
def print_option(ctx: ScenarioContext) -> None:
    """One line of output naming this request: shows each scenario of a shared child gets its own output."""
    print(f"scenario says {ctx.option('word', '?')}", file=sys.stderr, flush=True)


@tool_scenario("selftest.leave-thread")
def leave_thread(ctx: ScenarioContext) -> None:
    """Returns with a thread still running, as a plugin with a background worker would."""

    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()


@tool_scenario("selftest.host-state")
def host_state(ctx: ScenarioContext) -> None:
    """Which host callbacks and log bridge this scenario got (a shared child must give each its own)."""

    ctx.observe("callbacks", id(host_callbacks(ctx.emit)))
    ctx.observe("bridge", id(log_bridge(ctx.emit)))
    ctx.observe("pid", os.getpid())


@tool_scenario("selftest.abort-after-budget")
def abort_after_budget(ctx: ScenarioContext) -> None:
    """Sleeps just past its budget, then aborts: the death must be reported, not a hang."""

    def late_abort() -> None:
        time.sleep(ctx.budget("process_packet") + float(ctx.option("overrun_s", 0.03)))
        os.abort()

    ctx.call("process_packet", late_abort, detail="aborts just after its budget")


def _low_priority_on_one_cpu(ctx: ScenarioContext) -> float:
    """Pin this thread (and the threads it starts) to the ``cpu`` option at the ``nice`` one; the CPU seconds
    the scenario needs (``cpu_s``)."""
    os.sched_setaffinity(0, {int(ctx.option("cpu", 0))})
    os.nice(int(ctx.option("nice", 10)))
    return float(ctx.option("cpu_s", 0.05))


def _spin(need_s: float) -> float:
    """Burn ``need_s`` of this thread's CPU time, however long that takes in wall time; the CPU time used."""
    started = time.thread_time()
    while time.thread_time() - started < need_s:
        pass
    return time.thread_time() - started


@tool_scenario("selftest.starved-call")
def starved_call(ctx: ScenarioContext) -> None:
    """A call that needs a little CPU, run at low priority on one CPU shared with busy loops.

    It needs far less CPU time than its budget but, starved, takes longer than the budget in wall time:
    the sandbox must extend its deadline and let it finish.
    """
    need = _low_priority_on_one_cpu(ctx)
    used = ctx.call("process_packet", lambda: _spin(need), detail="needs a little CPU, starved of it")
    ctx.observe("cpu_used_s", used)


@tool_scenario("selftest.starved-workers")
def starved_workers(ctx: ScenarioContext) -> None:
    """Worker threads that need a little CPU, starved of it, while the thread that started them only waits.

    They need far less CPU than the budget but take longer in wall time, and the sandbox must see the
    workers' wait, not that of the waiting thread (blocked in ``join``, never waiting for a CPU). With
    ``in_call`` the workers run inside a call, as a plugin's own threads would (the call's budget
    watches); without, only the overall budget does.
    """
    need = _low_priority_on_one_cpu(ctx)
    used: list[float] = []

    def run_workers() -> None:
        workers = [
            threading.Thread(target=lambda: used.append(_spin(need))) for _ in range(int(ctx.option("workers", 2)))
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    if ctx.option("in_call"):
        ctx.call("process_packet", run_workers, detail="waits for its own threads, which are starved")
    else:
        run_workers()
    ctx.observe("cpu_used_s", sum(used))


@tool_scenario("selftest.spin-in-call")
def spin_in_call(ctx: ScenarioContext) -> None:
    """Never returns and burns CPU all the while: wedged once it has had its budget of CPU."""

    def spin() -> None:
        while True:
            pass

    ctx.call("process_packet", spin, detail="spinning on purpose")


@tool_scenario("selftest.cpu-loop")
def cpu_loop(ctx: ScenarioContext) -> None:
    """A fixed amount of interpreter work, ``repeats`` times: its CPU time says how fast the machine is, its wall
    time how busy. Observes the list of each repeat's CPU and wall seconds."""
    iterations = int(ctx.option("iterations", 200_000))
    cpu_s: list[float] = []
    wall_s: list[float] = []
    total = 0
    for _ in range(int(ctx.option("repeats", 1))):
        wall, cpu = time.monotonic(), time.thread_time()
        for number in range(iterations):
            total += number * number % 7
        cpu_s.append(time.thread_time() - cpu)
        wall_s.append(time.monotonic() - wall)
    ctx.observe("cpu_s", cpu_s)
    ctx.observe("wall_s", wall_s)
    ctx.observe("checksum", total)
