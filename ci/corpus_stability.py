"""Run the fixture-corpus battery several times and check the verdicts never move, quiet or under stress.

    ci/corpus-stability [RUNS] [--stress K] [--gate] [--max-seconds S]

Each run is a full ``pytest --plugin=...`` over every fixture with the default settings; its matrix is every
(fixture, item, status). A run must match every fixture's expected.toml, and all runs must give the same
matrix. With ``--stress K`` each run happens on a machine made busy on purpose, the way a shared CI runner
is: K busy-loop processes per core spin, and a **second corpus run goes at the same time** (a fork-heavy
neighbour); both runs are compared. With ``--gate`` each run is ``ci/sdk-release-gate`` instead (the
neighbour with ``--no-build``), which must also exit 0: two release gates started together. Everything this script starts is stopped by it, and no run may take
longer than ``--max-seconds``.

Prints, per run, the wall time, the deviations, and the deadline extensions the sandbox granted (calls that
were runnable but not scheduled, ``conformance/sandbox/deadlines.py``). Exit 1 on any deviation or any
difference between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from conformance.corpus import check
from conformance.fixtures import build_fixtures

BUSY_LOOP = (
    "import time\nend = time.monotonic() + float(__import__('sys').argv[1])\nwhile time.monotonic() < end: pass\n"
)


@dataclass(frozen=True)
class CorpusRun:
    """One finished corpus run: its matrix, deviations from expected.toml, wall time and extensions."""

    label: str
    matrix: dict[tuple[str, str], str]
    deviations: list[str]
    seconds: float
    extensions: list[float]
    factors: list[float]

    def line(self) -> str:
        largest = f", largest {max(self.extensions):.2f} s" if self.extensions else ""
        factor = f", calibration factor {max(self.factors):.2f}" if self.factors else ""
        return (
            f"{self.label}: {len(self.matrix)} items in {self.seconds:.1f} s, {len(self.deviations)} deviations "
            f"from expected.toml, {len(self.extensions)} budget extensions{largest}{factor}"
        )


def read_reports(report_dir: Path) -> tuple[dict[tuple[str, str], str], list[float], list[float]]:
    matrix: dict[tuple[str, str], str] = {}
    extensions: list[float] = []
    factors: list[float] = []
    for path in sorted(report_dir.glob("*/report.json")):
        report = json.loads(path.read_text())
        calibration = report["run"].get("calibration")
        if calibration:
            factors.append(float(calibration["budget_factor"]))
        for entry in report["checks"]:
            matrix[(report["plugin"]["name"], entry["id"])] = entry["status"]
            extensions.extend(float(value) for value in entry.get("evidence", {}).get("budget_extensions_s", []))
    return matrix, extensions, factors


GATE = Path(__file__).resolve().parent / "sdk-release-gate"


def start_corpus(plugins: list[Path], report_dir: Path, log: Path, gate: str = "") -> subprocess.Popen[bytes]:
    """A corpus battery, or with ``gate`` ("build" or "no-build") a release gate run, in the background."""
    if gate:
        command = [sys.executable, str(GATE), f"--report-dir={report_dir}"] + (["--no-build"] if gate == "no-build" else [])
    else:
        command = [sys.executable, "-m", "pytest", "-q", "--tb=no", "-p", "no:cacheprovider", f"--report-dir={report_dir}"]
        command += [f"--plugin={path}" for path in plugins]
    with log.open("wb") as output:
        return subprocess.Popen(command, cwd=report_dir.parent, stdout=output, stderr=subprocess.STDOUT)


def finish(
    label: str, process: subprocess.Popen[bytes], report_dir: Path, started: float, deadline: float, gate: bool
) -> CorpusRun:
    try:
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return CorpusRun(
            label, {}, ["the run took longer than its limit and was stopped"], time.monotonic() - started, [], []
        )
    seconds = time.monotonic() - started
    matrix, extensions, factors = read_reports(report_dir)
    deviations = [str(deviation) for deviation in check(report_dir)]
    if gate and process.returncode != 0:
        deviations.append(f"the release gate exited {process.returncode} (see its gate.json and summary.md)")
    return CorpusRun(label, matrix, deviations, seconds, extensions, factors)


def one_round(number: int, plugins: list[Path], stress: int, max_seconds: float, gate: bool) -> list[CorpusRun]:
    with tempfile.TemporaryDirectory(prefix="corpus-stability-") as work:
        root = Path(work)
        loops: list[subprocess.Popen[bytes]] = []
        if stress:
            cores = len(os.sched_getaffinity(0))
            loops = [
                subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(max_seconds)]) for _ in range(stress * cores)
            ]
        try:
            labels = [f"run {number}"] + ([f"run {number} (concurrent neighbour)"] if stress else [])
            started = time.monotonic()
            deadline = started + max_seconds
            processes = []
            for index, _ in enumerate(labels):
                report_dir = root / f"reports-{index}"
                report_dir.mkdir()
                mode = ("build" if index == 0 else "no-build") if gate else ""
                processes.append((report_dir, start_corpus(plugins, report_dir, root / f"log-{index}.txt", mode)))
            return [
                finish(label, process, report_dir, started, deadline, gate)
                for label, (report_dir, process) in zip(labels, processes, strict=True)
            ]
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="corpus-stability", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", type=int, default=5, help="how many runs (default 5)")
    parser.add_argument(
        "--stress", type=int, default=0, metavar="K", help="K busy loops per core plus a concurrent corpus run"
    )
    parser.add_argument(
        "--gate", action="store_true", help="run ci/sdk-release-gate (the neighbour with --no-build); it must pass"
    )
    parser.add_argument("--max-seconds", type=float, default=900.0, help="limit of one run (default 900)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.stress < 0:
        parser.error("RUNS must be at least 1 and --stress at least 0")
    plugins = [path for _, path in sorted(build_fixtures().items())]
    first: dict[tuple[str, str], str] | None = None
    failed = False
    for number in range(1, args.runs + 1):
        for run in one_round(number, plugins, args.stress, args.max_seconds, args.gate):
            print(run.line(), flush=True)
            for deviation in run.deviations[:20]:
                print(f"  {deviation}")
            failed |= bool(run.deviations)
            if first is None:
                first = run.matrix
            differing = sorted(key for key in first.keys() | run.matrix.keys() if first.get(key) != run.matrix.get(key))
            if differing:
                print(f"  differs from the first run on {len(differing)} items, e.g. {differing[:5]}")
                failed = True
    mode = (f"under --stress {args.stress}" if args.stress else "quiet") + (", release gates" if args.gate else "")
    print(f"corpus-stability ({mode}): {'FAIL' if failed else 'PASS'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
