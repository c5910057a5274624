"""Where the project's own test suite spends its CPU: a pytest plugin that records each test's CPU, and its summary.

    PYTHONPATH=ci CPU_PER_TEST_DIR=/tmp/cpu pytest -p cpu_per_test -q -m "not slow" -n 2
    .venv/bin/python ci/cpu_per_test.py /tmp/cpu [--top 40]

Wall time (``--durations``) misleads on a shared machine, and most of a test's cost is in the batteries and gates
it runs as subprocesses. As a plugin, in every process (each xdist worker, or the single pytest process), it
records the ``RUSAGE_SELF`` and ``RUSAGE_CHILDREN`` deltas around each test's protocol (setup, call, teardown; a
subprocess counts once it is reaped, so a session fixture's run counts in the test that first needed it) and the
wall-clock start and end, and appends one tab-separated line per test to ``<worker>.tsv`` in ``$CPU_PER_TEST_DIR``;
a last line ``<session>`` holds the process's start-up and collection (everything before its first test).

As a script, it prints the CPU per test file, the most expensive tests, and per worker: busy CPU, the time from
its first test's start to its last test's end, and how long before the run's last test ended it finished (a
worker idle at the end waits on another's long test).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections import defaultdict
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import pytest

SESSION = "<session>"


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


class _Recorder:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.lines: list[str] = []
        self.first_start: float | None = None

    def record(
        self, nodeid: str, start: float, end: float, before: tuple[float, float], after: tuple[float, float]
    ) -> None:
        own, children = after[0] - before[0], after[1] - before[1]
        self.lines.append(f"{nodeid}\t{start:.3f}\t{end:.3f}\t{own:.3f}\t{children:.3f}")

    def flush(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text("".join(line + "\n" for line in self.lines))


_recorder: _Recorder | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _recorder
    directory = os.environ.get("CPU_PER_TEST_DIR")
    if directory is None:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if not hasattr(config, "workerinput") and config.getoption("dist", "no") != "no":
        return  # the xdist controller runs no tests
    _recorder = _Recorder(Path(directory) / f"{worker}.tsv")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    if _recorder is None:
        yield
        return
    if _recorder.first_start is None:
        _recorder.first_start = time.time()
        own, children = _cpu()
        _recorder.lines.append(f"{SESSION}\t0\t{_recorder.first_start:.3f}\t{own:.3f}\t{children:.3f}")
    start, before = time.time(), _cpu()
    yield
    _recorder.record(item.nodeid, start, time.time(), before, _cpu())


def pytest_unconfigure(config: pytest.Config) -> None:
    if _recorder is not None:
        _recorder.flush()


@dataclass
class Row:
    worker: str
    nodeid: str
    start: float
    end: float
    own: float
    children: float

    @property
    def cpu(self) -> float:
        return self.own + self.children


def _read(directory: Path) -> list[Row]:
    rows = []
    for path in sorted(directory.glob("*.tsv")):
        for line in path.read_text().splitlines():
            nodeid, start, end, own, children = line.split("\t")
            rows.append(Row(path.stem, nodeid, float(start), float(end), float(own), float(children)))
    return rows


def summarize(directory: Path, top: int) -> None:
    rows = _read(directory)
    tests = [row for row in rows if row.nodeid != SESSION]
    sessions = [row for row in rows if row.nodeid == SESSION]
    total = sum(row.cpu for row in tests)
    print(
        f"{len(tests)} tests, {total:.1f} s CPU in tests ({sum(row.children for row in tests):.1f} s in subprocesses)"
    )
    print(f"start-up and collection: {sum(row.cpu for row in sessions):.1f} s CPU over {len(sessions)} processes")
    per_file: dict[str, list[Row]] = defaultdict(list)
    for row in tests:
        per_file[row.nodeid.split("::")[0]].append(row)
    print("\nCPU per file (s), tests, wall (s)")
    for name, group in sorted(per_file.items(), key=lambda item: -sum(row.cpu for row in item[1])):
        print(
            f"{sum(row.cpu for row in group):8.1f} {len(group):5d} {sum(row.end - row.start for row in group):8.1f}  {name}"
        )
    print(f"\nthe {top} most expensive tests: CPU (own + children), wall, worker")
    for row in sorted(tests, key=lambda row: -row.cpu)[:top]:
        print(
            f"{row.cpu:7.2f} ({row.own:5.2f} + {row.children:6.2f}) {row.end - row.start:7.2f}  {row.worker}  {row.nodeid}"
        )
    if not tests:
        return
    last_end = max(row.end for row in tests)
    first_start = min(row.start for row in tests)
    print(
        f"\nworkers: busy CPU, first test start to last test end, idle before the run's last test ended (s); run {last_end - first_start:.1f} s"
    )
    for worker in sorted({row.worker for row in tests}):
        mine = [row for row in tests if row.worker == worker]
        begin, end = min(row.start for row in mine), max(row.end for row in mine)
        longest = max(mine, key=lambda row: row.end)
        print(
            f"{worker:6s} {sum(row.cpu for row in mine):7.1f} {end - begin:7.1f} {last_end - end:7.1f}"
            f"  last: {longest.nodeid} ({longest.end - longest.start:.1f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="the CPU_PER_TEST_DIR of a run")
    parser.add_argument("--top", type=int, default=40, help="how many of the most expensive tests to list")
    arguments = parser.parse_args()
    summarize(arguments.directory, arguments.top)


if __name__ == "__main__":
    main()
