"""Where a whole ``pytest --plugin=...`` process spends its time: a pytest plugin that stamps each phase.

    PYTHONPATH=ci pytest -p phase_stamps -q --plugin=PATH.so
    .venv/bin/python ci/phase_stamps.py --runs 10 CHECKOUT [CHECKOUT...]

As a plugin, at exit it prints to stderr, for each phase boundary, the wall time since the process started
(read from /proc, so the interpreter's own start-up counts) and the CPU time of this process and of its
reaped children so far. Loaded with ``-p``, before the entry-point plugins, so its hooks see every phase:
start-up (interpreter, pytest, plugins), configure, collection, the items, the reports and the exit.

As a script, it runs the battery on ``conforming_processor`` as a whole process in each checkout (its own
``.venv`` and built fixtures), taking turns, with the environment CI has (``PYTHONDONTWRITEBYTECODE=1``),
beside ``python -c pass``, and prints the medians: wall and CPU of the whole process tree, the CPU of the
pytest process itself and of its children, and each phase.
The figures of BENCHMARKS.md ("start-up and exit of one battery run") were measured with it.
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import statistics
import subprocess
import sys
import tempfile
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
_LAST_PHASE = "exit (atexit)"


def stamp(phase: str) -> None:
    """Record ``phase`` now: wall since the process started, own CPU, CPU of the reaped children."""
    times = os.times()
    _stamps.append(
        (phase, time.perf_counter() - _ORIGIN, times.user + times.system, times.children_user + times.children_system)
    )


def _print() -> None:
    stamp(_LAST_PHASE)
    for phase, wall, cpu, children in _stamps:
        sys.stderr.write(f"STAMP {wall:7.3f} s wall {cpu:6.3f} s cpu {children:6.3f} s children cpu  {phase}\n")


if __name__ != "__main__":  # loaded by pytest
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


_STAMP_LINE = re.compile(r"STAMP\s+([\d.]+) s wall\s+([\d.]+) s cpu\s+([\d.]+) s children cpu  (.*)")
_PLUGIN = "fixture_plugins/target/release/libconforming_processor.so"


def _run(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU (every process of the tree, reaped) of one command run from the temporary directory."""
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(), check=False)
    wall = time.perf_counter() - started
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"{command} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    return wall, cpu, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description="whole-process battery runs of several checkouts, in turns")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("checkouts", nargs="+", type=os.path.abspath)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.path.dirname(os.path.abspath(__file__))}
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in ["python -c pass", *args.checkouts]}
    for turn in range(args.runs):
        checkouts = args.checkouts if turn % 2 == 0 else list(reversed(args.checkouts))
        wall, cpu, _ = _run([sys.executable, "-c", "pass"], env)
        figures["python -c pass"].setdefault("wall", []).append(wall)
        figures["python -c pass"].setdefault("cpu", []).append(cpu)
        for checkout in checkouts:
            with tempfile.TemporaryDirectory() as reports:
                python = os.path.join(checkout, ".venv", "bin", "python")
                plugin = os.path.join(checkout, _PLUGIN)
                command = [python, "-m", "pytest", "-p", "phase_stamps", "-q", "-p", "no:cacheprovider"]
                wall, cpu, stderr = _run([*command, "--report-dir", reports, f"--plugin={plugin}"], env)
            entry = figures[checkout]
            entry.setdefault("wall", []).append(wall)
            entry.setdefault("cpu", []).append(cpu)
            for line in stderr.splitlines():
                match = _STAMP_LINE.match(line)
                if match:
                    entry.setdefault(match.group(4), []).append(float(match.group(1)))
                    if match.group(4) == _LAST_PHASE:  # the pytest process's own CPU, and its reaped children's
                        entry.setdefault("cpu of the pytest process", []).append(float(match.group(2)))
                        entry.setdefault("cpu of its children", []).append(float(match.group(3)))
        print(f"turn {turn + 1} of {args.runs} done, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    for name, entry in figures.items():
        print(name)
        for key, values in entry.items():
            print(
                f"  {key:55s} median {statistics.median(values):6.3f} s (min {min(values):.3f}, max {max(values):.3f})"
            )


if __name__ == "__main__":
    main()
