"""The pytest side's watch over a fork server: a server that is stopped, killed or silent is named and ended.

The fork server is the plugin's parent. Where the kernel gives the sandbox no namespaces
(``CONFORMANCE_CONTAINMENT=subreaper``), a plugin can signal it: SIGSTOP freezes it, SIGKILL ends it
mid-request. A server can also wedge on its own. Waiting on its reply pipe alone turned each of
those into a wait of the request's budget plus 30 s, and a plugin that froze every new server
held a run for 37 minutes. So while it waits the client polls the server: a stopped server is
seen within ``STOPPED_FOR_S``, a dead one at once, and one that is alive but silent past its
request's budget plus ``grace_s`` is killed, unless it is visibly finishing its work: gdb capturing
the stacks of a stuck call, or a tree the machine is starving (the server's own rule for a call,
``deadlines.py``, applied to the server's whole process tree), up to the same bound as the server's.

Killing a server kills its process tree and every process of its group (servers start in a
process group of their own), so nothing the plugin started outlives the replacement.
"""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import time
from dataclasses import dataclass

from conformance.sandbox.deadlines import MAX_EXTENSION_FACTOR
from conformance.sandbox.procfs import children, command_name, is_alive, process_state, read_proc, stat_fields

#: How often a waiting client looks at its server.
POLL_S = 0.1
#: A server seen stopped this long is frozen (a debugger's brief stop is not).
STOPPED_FOR_S = 0.5
#: Beyond a request's budget: a dying child's grace and the exit grace of the server's own follower
#: (``DYING_GRACE_S`` and ``EXIT_GRACE_S`` there), reaping and the reply.
SETTLE_S = 8.0
#: Past the grace, the server is still given time while its tree waited for a CPU at least this share of it,
#: while gdb captures the stacks of a stuck call (bounded by gdb's own timeout), or while a child of
#: it is in the kernel (state D: dumping core, say) ...
STARVED_SHARE = 0.25
#: ... until the cap: the budget times the server's own bound on extensions, plus the grace.
_STOPPED_STATES = ("T", "t")


def grace_s(factor: float) -> float:
    """Time granted past a request's own budget (both already scaled) before a silent server is wedged."""
    return SETTLE_S * factor


class Fate(enum.Enum):
    """What happened to a server that did not answer a request."""

    KILLED = "killed"  # ended by a signal
    EXITED = "exited"  # ended with an exit status
    STOPPED = "stopped"  # frozen (SIGSTOP, or traced)
    SILENT = "silent"  # alive, not starved, no answer past budget plus grace
    GARBLED = "garbled"  # answered with bytes that are not a reply


@dataclass(frozen=True)
class ServerLoss:
    """Why a request got no reply from its server, in words for the report."""

    fate: Fate
    detail: str  # "killed by SIGKILL", "stopped (state T) for 0.5 s", ...
    waited_s: float
    signal_name: str | None = None


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid``, parents before their children."""
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children(pending.pop()):
            if child not in found:
                found.append(child)
                pending.append(child)
    return found


def group_members(group: int) -> list[int]:
    """Processes of process group ``group`` (a server's leftovers that were re-parented away from it)."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        text = read_proc(f"/proc/{name}/stat")
        fields = stat_fields(text) if text is not None else None
        if fields is not None and len(fields) > 2 and fields[2] == str(group):
            members.append(int(name))
    return members


def run_queue_wait_s(pids: list[int]) -> float:
    """Time the main threads of ``pids`` spent runnable but not running, in all (0 where unknown)."""
    total = 0.0
    for pid in pids:
        text = read_proc(f"/proc/{pid}/schedstat")
        if text is not None and len(text.split()) >= 2:
            total += int(text.split()[1]) / 1e9
    return total


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, its descendants and its process group (it leads one), until none is left.

    Descendants are collected before the server dies: once it is gone, the orphans it was the
    subreaper of move to init and only the group still finds them (one in a group of its own not even that).
    """
    for _ in range(5):
        victims = [*descendants(pid), *group_members(pid)]
        if is_alive(pid):
            victims.insert(0, pid)
        victims = [victim for victim in dict.fromkeys(victims) if is_alive(victim)]
        if not victims:
            return
        for victim in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(victim, signal.SIGKILL)
        time.sleep(0.01)


class ServerWatch:
    """One request's watch over its server: ``check`` says when to stop waiting, and why."""

    def __init__(self, pid: int, budget_s: float, grace: float) -> None:
        self.pid = pid
        self.started = time.monotonic()
        self.deadline = self.started + budget_s + grace
        # The server's own extensions for a starved call are bounded by this factor; so is the watch's.
        self.cap = self.started + budget_s * (1.0 + MAX_EXTENSION_FACTOR) + grace
        self.budget_s = budget_s
        self.grace = grace
        self._stopped_since: float | None = None
        self._last_review = self.started
        self._last_wait: float | None = None

    def waited_s(self) -> float:
        return time.monotonic() - self.started

    def check(self, exit_status: int | None) -> ServerLoss | None:
        """Called at every poll with the server's exit status (None while it runs)."""
        now = time.monotonic()
        waited = now - self.started
        if exit_status is not None:
            return ended(exit_status, waited)
        state = process_state(self.pid)
        if state in _STOPPED_STATES:
            self._stopped_since = self._stopped_since if self._stopped_since is not None else now
            if now - self._stopped_since >= STOPPED_FOR_S:
                return ServerLoss(
                    Fate.STOPPED, f"stopped (state {state}) for {now - self._stopped_since:.1f} s", waited
                )
        else:
            self._stopped_since = None
        if now < self.deadline:
            return None
        if now < self.cap and self._still_working(now):
            self.deadline = now + POLL_S * 5
            return None
        return ServerLoss(
            Fate.SILENT,
            f"alive (state {state}) but silent for {waited:.1f} s, past the request's budget of "
            f"{self.budget_s:.1f} s and {self.grace:.1f} s of grace",
            waited,
        )

    def _still_working(self, now: float) -> bool:
        """Whether the server's tree shows work the server has to finish: gdb capturing stacks, a child in
        the kernel, or a tree that waited for a CPU for a good share of the time since the last review."""
        tree = descendants(self.pid)
        if any(command_name(pid) == "gdb" or process_state(pid) == "D" for pid in tree):
            return True
        wait = run_queue_wait_s([self.pid, *tree])
        previous, self._last_wait = self._last_wait, wait
        interval, self._last_review = now - self._last_review, now
        if previous is None:
            return True  # the first review only takes the measurement; the next one judges
        return wait - previous >= STARVED_SHARE * interval


def exit_status(pid: int) -> int | None:
    """The exit status of our child ``pid`` once it has ended (negative: its signal), without reaping it.

    Left unreaped, its pid cannot be reused while ``kill_tree`` still looks for its group.
    """
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def ended(exit_status: int, waited_s: float) -> ServerLoss:
    """The loss of a server that ended with ``exit_status`` (negative: the signal that ended it)."""
    if exit_status < 0:
        number = -exit_status
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return ServerLoss(Fate.KILLED, f"killed by {name}", waited_s, name)
    return ServerLoss(Fate.EXITED, f"exited with status {exit_status}", waited_s)
