"""The threads of the sandbox child, by id and name, so that a verdict can name the ones a plugin left behind.

A sandbox child runs its scenario on one thread (helpers it starts are joined before a call returns), so
every thread that appears between two readings was started by the plugin.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Mapping

TASKS = "/proc/self/task"
POLL_S = 0.01


def threads() -> dict[int, str]:
    """Every thread of this process: its id and its name (``comm``, which Linux cuts to 15 bytes)."""
    found: dict[int, str] = {}
    for entry in os.listdir(TASKS):
        try:
            with open(f"{TASKS}/{entry}/comm") as comm:
                found[int(entry)] = comm.read().strip()
        except OSError:  # it exited between the listing and the read
            continue
    return found


def started_since(before: Mapping[int, str]) -> dict[int, str]:
    """Threads running now that were not running at ``before``."""
    return {tid: name for tid, name in threads().items() if tid not in before}


def still_running_after(before: Mapping[int, str], grace_s: float) -> dict[int, str]:
    """Threads started since ``before`` that are still running once they had ``grace_s`` to finish."""
    deadline = time.monotonic() + grace_s
    while True:
        left = started_since(before)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(POLL_S)


def timeslices(tid: int) -> int | None:
    """How many times the thread has been given a CPU (``schedstat``), or None when the kernel does not say."""
    try:
        with open(f"{TASKS}/{tid}/schedstat") as schedstat:
            return int(schedstat.read().split()[2])
    except (OSError, IndexError, ValueError):
        return None


def is_running(tid: int) -> bool:
    """The thread is on a CPU or waiting for one (state R), or its state cannot be read (gone meanwhile)."""
    try:
        with open(f"{TASKS}/{tid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "R"
    except (OSError, IndexError):
        return True


def left_after_running_again(before: Mapping[int, str], wait_s: float) -> dict[int, str]:
    """Threads started since ``before`` still there once each has had a CPU again and is off it (or ``wait_s``
    ran out).

    For threads left behind when the library was closed: one that runs its code again crashes the process,
    so a thread that had a CPU since this call began and went back to sleep is blocked outside the library.
    On a busy machine a thread may wait long to be scheduled; waiting for that, not for a fixed time, keeps
    the crash inside the caller's announced call.
    """
    deadline = time.monotonic() + wait_s
    first = {tid: timeslices(tid) for tid in started_since(before)}

    def settled(tid: int) -> bool:
        now = timeslices(tid)
        return now is not None and now > (first.get(tid) or 0) and not is_running(tid)

    while True:
        left = started_since(before)
        if all(settled(tid) for tid in left) or time.monotonic() >= deadline:
            return started_since(before)
        time.sleep(POLL_S)


def describe(found: Mapping[int, str]) -> str:
    """The count, then each name with how many threads bear it: ``3 threads: 'worker' x2, 'skp-log'``."""
    names = Counter(found.values())
    listed = ", ".join(f"'{name}'" + (f" x{count}" if count > 1 else "") for name, count in sorted(names.items()))
    return f"{len(found)} thread{'' if len(found) == 1 else 's'}: {listed}"
