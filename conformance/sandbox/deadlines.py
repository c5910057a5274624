"""Deciding that a call is stuck, not merely late.

A wall-clock budget alone says "wedged" whenever the machine is busy: on a 2-core CI runner beside a
fork-heavy neighbour, an aborting panic that takes 0.2 s on a quiet machine can take more than its 1 s
budget, and the verdict flips from crash to hang. So when a budget runs out the server reads what the
kernel knows about the calling thread (``/proc/<pid>/task/<tid>/schedstat``: time on a CPU and time spent
runnable but waiting for one) and charges the call only for the time it could have used:

* time it was **runnable but not scheduled** does not count; the deadline moves by that much;
* time **on a CPU** counts (a spinning call is wedged once it has had its budget of CPU);
* time **blocked** (sleeping in a futex, ``nanosleep``, a read) counts (a blocked call is wedged at its
  budget, exactly as on a quiet machine).

The wait of the calling thread alone is not enough: a plugin that hands its work to threads of its own
and waits for them is blocked while they starve, and so is a scenario's main thread joining its workers
(the overall budget is watched like a call on that thread). So the wait of the whole process counts too,
and the larger of the two moves the deadline. Its threads' run-queue waits add up (Python threads take
turns holding the GIL, so no one thread shows all of it), but threads starving side by side must not be
credited twice: the process's credit is at most the part of the interval it did not have a CPU for (the
interval less the CPU time its threads had, spread over the CPUs it may use). A thread that started and
ended between two readings is not seen. A deadlock still gets nothing: blocked threads do not wait for a CPU.

Extensions are bounded: a call never runs longer than ``MAX_EXTENSION_FACTOR`` times its budget past the
budget itself, whatever the scheduler says. Every extension is reported in the evidence.

Before any verdict the caller also checks whether the child is already dying (a fatal signal pending, the
kernel's exiting flag, a zombie): a death is classified as a death, never as a hang.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from conformance.sandbox.procfs import read_proc, stat_fields
from conformance.scenario.events import CallFinished, CallStarted

#: The longest extension a call can get, as a multiple of its own budget (documented in README and reports).
MAX_EXTENSION_FACTOR = 8.0
#: Below this share of its budget (and this many seconds) left, a review gives the verdict, not an extension.
MIN_EXTENSION_SHARE = 0.02
MIN_EXTENSION_S = 0.005
#: A server lag worth mentioning in the verdict.
LATE_NOTICE_S = 0.05
_PF_EXITING = 0x4
#: Signals whose default action ends the process: one pending means the child is dying, not hanging.
_FATAL_SIGNALS = (4, 5, 6, 7, 8, 9, 11, 31)  # ILL TRAP ABRT BUS FPE KILL SEGV SYS


@dataclass(frozen=True)
class ThreadSample:
    """What the kernel says about one thread at one moment."""

    on_cpu_s: float
    waiting_s: float | None  # runnable but not running; None where schedstat is unavailable
    state: str  # R running/runnable, S sleeping, D uninterruptible, T stopped, Z zombie, ...


def thread_schedstat(pid: int, tid: int) -> tuple[float, float] | None:
    """The thread's time on a CPU and run-queue wait so far, or None (gone, or no schedstat)."""
    schedstat = read_proc(f"/proc/{pid}/task/{tid}/schedstat")
    if schedstat is None or len(schedstat.split()) < 2:
        return None
    run_ns, wait_ns = schedstat.split()[:2]
    return int(run_ns) / 1e9, int(wait_ns) / 1e9


def waiting_of(pid: int, tid: int) -> float | None:
    """The thread's run-queue wait so far: one small read, taken at every call start (a hot path)."""
    stat = thread_schedstat(pid, tid)
    return None if stat is None else stat[1]


def process_schedstats(pid: int) -> dict[int, tuple[float, float]]:
    """``thread_schedstat`` of each thread of the process."""
    try:
        tids = [int(name) for name in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return {}
    stats = {tid: thread_schedstat(pid, tid) for tid in tids}
    return {tid: stat for tid, stat in stats.items() if stat is not None}


def sample_thread(pid: int, tid: int) -> ThreadSample | None:
    """The thread's CPU and run-queue times and state, or None when it is gone."""
    base = f"/proc/{pid}/task/{tid}"
    stat = read_proc(f"{base}/stat")
    if stat is None:
        return None
    fields = stat_fields(stat)
    state = fields[0] if fields else "?"
    schedstat = read_proc(f"{base}/schedstat")
    if schedstat is not None and len(schedstat.split()) >= 2:
        run_ns, wait_ns = (int(value) for value in schedstat.split()[:2])
        return ThreadSample(run_ns / 1e9, wait_ns / 1e9, state)
    ticks = os.sysconf("SC_CLK_TCK")
    on_cpu = (int(fields[11]) + int(fields[12])) / ticks if len(fields) > 12 else 0.0
    return ThreadSample(on_cpu, None, state)


def waiting_so_far_s() -> float:
    """Run-queue wait of the calling thread so far (0 where schedstat is unavailable).

    Subtracted from a call's wall time where a duration is judged ("slow" warnings): time the machine did
    not give the thread a CPU is not the plugin's.
    """
    text = read_proc("/proc/thread-self/schedstat")
    if text is None or len(text.split()) < 2:
        return 0.0
    return int(text.split()[1]) / 1e9


def child_is_dying(pid: int) -> bool:
    """The process is exiting, a zombie, or has a fatal signal pending: its death is on its way."""
    stat = read_proc(f"/proc/{pid}/stat")
    if stat is None:
        return True
    fields = stat_fields(stat)
    if not fields or fields[0] in ("Z", "X") or (len(fields) > 6 and int(fields[6]) & _PF_EXITING):
        return True
    status = read_proc(f"/proc/{pid}/status") or ""
    for line in status.splitlines():
        if line.startswith(("ShdPnd:", "SigPnd:")):
            pending = int(line.split()[1], 16)
            if any(pending & (1 << (number - 1)) for number in _FATAL_SIGNALS):
                return True
    return False


@dataclass
class WatchedCall:
    """One call in flight: its budget, what it has had of it so far, and the extensions granted."""

    event: CallStarted
    tid: int
    deadline: float
    started: float
    last_review: float
    last_waiting_s: float | None  # run-queue wait at the last review (or the start)
    had_s: float = 0.0
    starved_s: float = 0.0
    extensions: list[float] = field(default_factory=list)
    noticed_late_s: float = 0.0  # how long after a deadline the server got to review it (its own lag)
    verdict: str = ""
    #: Every thread's schedstat at the last review (or the start): the process's wait (``process_schedstats``).
    last_stats: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def cap(self) -> float:
        return self.started + self.event.budget_s * (1.0 + MAX_EXTENSION_FACTOR)


#: The threads' schedstats read at one call's start serve the calls started within this window: a scenario
#: making thousands of quick calls read /proc at each (a tenth of the server's time). The values reused are
#: older than the call, so what is counted as starvation can include up to this much wait from before the
#: call: a budget can be extended that much more, never less.
WAIT_SAMPLE_REUSE_S = 0.005


class CallWatch:
    """Calls in flight per thread, with their deadlines, reviewed against the scheduler when they expire."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.in_flight: dict[str, WatchedCall] = {}
        self.extensions: list[float] = []
        self._recent_process: tuple[float, dict[int, tuple[float, float]]] = (-1.0, {})  # (when read, stats)

    def started(self, event: CallStarted, now: float) -> None:
        tid = event.tid or self.pid
        stats = self._process_stats(now)
        own = stats.get(tid)
        waiting = own[1] if own is not None else waiting_of(self.pid, tid)  # a thread newer than the reading
        call = WatchedCall(event, tid, now + event.budget_s, now, now, waiting)
        call.last_stats = stats
        self.in_flight[event.thread] = call

    def _process_stats(self, now: float) -> dict[int, tuple[float, float]]:
        """Every thread's schedstat, reused within ``WAIT_SAMPLE_REUSE_S``."""
        when, stats = self._recent_process
        if now - when >= WAIT_SAMPLE_REUSE_S:
            stats = process_schedstats(self.pid)
            self._recent_process = (now, stats)
        return stats

    def finished(self, event: CallFinished) -> None:
        self.in_flight.pop(event.thread, None)

    def earliest(self) -> WatchedCall | None:
        if not self.in_flight:
            return None
        return min(self.in_flight.values(), key=lambda call: call.deadline)

    def current(self) -> CallStarted | None:
        """The call to blame for a death: the most recently started one still in flight."""
        if not self.in_flight:
            return None
        return max(self.in_flight.values(), key=lambda call: call.started).event

    def review(self, call: WatchedCall, now: float) -> bool:
        """At ``call``'s deadline: True when it is stuck; False when its deadline moved (it was starved)."""
        sample = sample_thread(self.pid, call.tid)
        call.noticed_late_s = max(call.noticed_late_s, now - call.deadline)
        interval = now - call.last_review
        previous = call.last_waiting_s
        starved = self._process_starved(call, interval)
        if sample is not None and previous is not None and sample.waiting_s is not None:
            starved = max(starved, min(interval, max(0.0, sample.waiting_s - previous)))
        call.had_s += interval - starved
        call.starved_s += starved
        call.last_review, call.last_waiting_s = now, sample.waiting_s if sample is not None else None
        remaining = call.event.budget_s - call.had_s
        if (
            sample is None
            or remaining < max(MIN_EXTENSION_S, MIN_EXTENSION_SHARE * call.event.budget_s)
            or now >= call.cap
        ):
            call.verdict = _describe_stuck(call, sample, now)
            return True
        extension = min(remaining, call.cap - now)
        call.deadline = now + extension
        call.extensions.append(extension)
        self.extensions.append(extension)
        return False

    def _process_starved(self, call: WatchedCall, interval: float) -> float:
        """The process's run-queue wait since the last review: its threads' waits added up, but no more than the
        interval less the CPU time they had over the CPUs they may use (threads first seen now: since they
        started, which was after the last review)."""
        stats = process_schedstats(self.pid)
        ran = waited = 0.0
        for tid, (on_cpu, waiting) in stats.items():
            had_cpu, had_waited = call.last_stats.get(tid, (0.0, 0.0))
            ran += max(0.0, on_cpu - had_cpu)
            waited += max(0.0, waiting - had_waited)
        call.last_stats = stats
        try:
            usable = len(os.sched_getaffinity(self.pid))
        except OSError:
            usable = os.cpu_count() or 1
        cpus = max(1, min(len(stats), usable))
        return max(0.0, min(interval, waited, interval - ran / cpus))


def watch_overall_budget(budget: CallStarted, pid: int, now: float) -> WatchedCall:
    """The scenario's overall budget, watched like a call on the child's main thread.

    Started when the child has one thread (a lone child just forked; a shared child between scenarios,
    which it leaves only when no scenario left a thread running), so only that thread is read now.
    """
    stat = thread_schedstat(pid, pid)
    call = WatchedCall(budget, pid, now + budget.budget_s, now, now, None if stat is None else stat[1])
    if stat is not None:
        call.last_stats = {pid: stat}
    return call


def _describe_stuck(call: WatchedCall, sample: ThreadSample | None, now: float) -> str:
    """Why the call is judged stuck, in words for the report."""
    if sample is None:
        return "its thread is gone"
    what = {"R": "running", "S": "blocked (sleeping)", "D": "blocked in the kernel", "T": "stopped"}.get(
        sample.state, f"in state {sample.state}"
    )
    text = f"{what}; {sample.on_cpu_s:.2f} s on a CPU in all"
    if call.extensions:
        text += (
            f"; budget extended {len(call.extensions)} time(s) by {sum(call.extensions):.2f} s in all because the "
            f"thread was runnable but not scheduled for {call.starved_s:.2f} s"
        )
    if call.noticed_late_s >= LATE_NOTICE_S:
        text += f"; the sandbox itself noticed {call.noticed_late_s:.2f} s late"
    if now >= call.cap and call.had_s < call.event.budget_s:
        text += f"; stopped at the cap of {MAX_EXTENSION_FACTOR:g}x the budget past it"
    return text
