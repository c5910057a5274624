"""Where a whole ``pytest --plugin=...`` process spends its time: a pytest plugin that stamps each phase.

    PYTHONPATH=ci pytest -p phase_stamps -q --plugin=PATH.so

At exit it prints to stderr, for each phase boundary, the wall time since the process started (read from
/proc, so the interpreter's own start-up counts) and the CPU time of this process and of its reaped
children so far. Loaded with ``-p``, before the entry-point plugins, so its hooks see every phase:
start-up (interpreter, pytest, plugins), configure, collection, the items, the reports and the exit.
The figures of BENCHMARKS.md ("start-up and exit of one battery run") were measured with it.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from collections.abc import Generator

import pytest


def _seconds_since_start() -> float:
    """How long ago this process started, from its start time in /proc (clock ticks since boot)."""
    with open("/proc/self/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    with open("/proc/uptime", encoding="ascii") as handle:
        uptime = float(handle.read().split()[0])
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")


_ORIGIN = time.perf_counter() - _seconds_since_start()
_stamps: list[tuple[str, float, float, float]] = []


def stamp(phase: str) -> None:
    """Record ``phase`` now: wall since the process started, own CPU, CPU of the reaped children."""
    times = os.times()
    _stamps.append(
        (phase, time.perf_counter() - _ORIGIN, times.user + times.system, times.children_user + times.children_system)
    )


def _print() -> None:
    stamp("exit (atexit)")
    for phase, wall, cpu, children in _stamps:
        sys.stderr.write(f"STAMP {wall:7.3f} s wall {cpu:6.3f} s cpu {children:6.3f} s children cpu  {phase}\n")


stamp("plugins loading")
atexit.register(_print)  # registered first, so it runs after every other exit handler (the zygote's stop)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    stamp("configure")


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    stamp("collection")


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    stamp("collected (items selected and handed to the pool)")


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    if not any(phase == "first item done" for phase, *_ in _stamps):
        stamp("first item done")
    elif _stamps[-1][0] == "last item done":
        _stamps.pop()
    stamp("last item done")


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, object, object]:
    """Inside the battery's own wrapper, which stops the fork servers first."""
    stamp("fork servers stopped")
    result = yield
    stamp("reports written")
    return result


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    stamp("unconfigured")
