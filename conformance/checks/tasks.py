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


def describe(found: Mapping[int, str]) -> str:
    """The count, then each name with how many threads bear it: ``3 threads: 'worker' x2, 'skp-log'``."""
    names = Counter(found.values())
    listed = ", ".join(f"'{name}'" + (f" x{count}" if count > 1 else "") for name, count in sorted(names.items()))
    return f"{len(found)} thread{'' if len(found) == 1 else 's'}: {listed}"
