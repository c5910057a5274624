"""Shared fixtures of the project's own tests: the built fixture corpus and a battery runner."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.strategies.profiles import load_selected_profile

load_selected_profile()


@pytest.fixture(scope="session")
def fixture_so() -> Callable[[str], Path]:
    """Path of a built fixture plugin by name (builds the corpus once, cached by source hash)."""
    from conformance.fixtures import fixture_path

    return fixture_path


@dataclass
class BatteryRun:
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path

    def report(self, label: str) -> dict[str, Any]:
        return dict(json.loads((self.report_dir / label / "report.json").read_text()))

    def checks(self, label: str) -> dict[str, dict[str, Any]]:
        return {entry["id"]: entry for entry in self.report(label)["checks"]}


@pytest.fixture
def run_battery(tmp_path: Path) -> Callable[..., BatteryRun]:
    """Run ``pytest --plugin=...`` in a subprocess from an empty directory, as a plugin author would."""

    def run(*plugins: Path | str, args: tuple[str, ...] = (), cwd: Path | None = None) -> BatteryRun:
        report_dir = tmp_path / "reports"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--report-dir", str(report_dir)]
        for plugin in plugins:
            command += ["--plugin", str(plugin)]
        command += list(args)
        completed = subprocess.run(
            command, cwd=cwd or tmp_path, capture_output=True, text=True, timeout=600, check=False
        )
        return BatteryRun(completed.returncode, completed.stdout, completed.stderr, report_dir)

    return run


GATE = Path(__file__).resolve().parent.parent / "ci" / "sdk-release-gate"


@dataclass
class GateRun:
    """One run of ``ci/sdk-release-gate`` over the whole committed corpus."""

    returncode: int
    stdout: str
    stderr: str
    report_dir: Path


@pytest.fixture(scope="session")
def corpus_gate_run(tmp_path_factory: pytest.TempPathFactory) -> GateRun:
    """The release gate over the whole corpus, run once per test session, even under xdist.

    The corpus self-test (expected matrices) and the gate's own test read the same
    run: a full corpus battery takes minutes, and running it twice was half of the
    suite's time. xdist workers share it through a lock in their common temporary
    directory: the first one runs the gate, the others wait and read its result.
    """
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    root = base.parent / f"corpus-gate-{run_id}" if run_id else base / "corpus-gate"
    root.mkdir(parents=True, exist_ok=True)
    outcome = root / "outcome.json"
    with (root / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not outcome.exists():
            command = [sys.executable, str(GATE), f"--report-dir={root / 'reports'}"]
            done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=1200, check=False)
            outcome.write_text(json.dumps([done.returncode, done.stdout, done.stderr]))
    returncode, stdout, stderr = json.loads(outcome.read_text())
    return GateRun(returncode, stdout, stderr, root / "reports")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: a worker per core plus one. Many tests wait with a core idle (a wedged call's budget,
    a battery subprocess starting, valgrind); the extra worker runs something in that time."""
    return (os.cpu_count() or 1) + 1


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-clusterfuzzlite",
        action="store_true",
        help="also run tests/test_clusterfuzzlite.py (PyInstaller builds of every fuzz target, about two CPU minutes)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first (order otherwise kept): under ``-n 2`` the long runs start at once on both
    workers and the short tests fill the gaps, instead of one long test running alone at the end.

    The ClusterFuzzLite build is skipped unless asked for: it would double the default run, and it has a
    step of its own in ``.ci/run``."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if not config.getoption("--run-clusterfuzzlite"):
        skip = pytest.mark.skip(
            reason="the ClusterFuzzLite build runs in its own .ci/run step: pytest tests/test_clusterfuzzlite.py --run-clusterfuzzlite"
        )
        for item in items:
            if item.get_closest_marker("clusterfuzzlite") is not None:
                item.add_marker(skip)
