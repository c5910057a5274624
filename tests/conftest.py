"""Shared fixtures of the project's own tests: the built fixture corpus and a battery runner."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.fixtures import list_fixtures
from conformance.scaleout.shard import assign
from conformance.settings import plugin_label
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
#: The corpus gate runs as this many shards (``--shard I/N``), merged with ``conformance merge``: the way the
#: CI recipes split it over runners, and pieces xdist can spread over its workers instead of one long run.
CORPUS_SHARDS = 4


@dataclass
class GateRun:
    """One run of ``ci/sdk-release-gate`` (or of ``conformance merge`` over gate shards)."""

    returncode: int
    stdout: str
    stderr: str
    report_dir: Path


class CorpusGate:
    """The release gate over the whole corpus in ``CORPUS_SHARDS`` shards, each run once per test session.

    The gate's own tests, the corpus self-test (expected matrices), the sharding test and tests that
    compare another way of running a fixture with a plain run all read these runs: a full corpus
    battery takes minutes of CPU, and running it twice was half of the suite's time. xdist workers
    share them through a lock per shard in their common temporary directory: the first worker to
    need a shard runs it, one that needs a shard being run waits for it. A worker that needs every
    shard first runs those nobody has started, so it never waits while a shard is still to do.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def shard_dir(self, index: int) -> Path:
        return self.root / f"shard-{index}"

    def shard(self, index: int, wait: bool = True) -> GateRun | None:
        """Shard ``index`` (run here unless already run); None when another worker is running it and
        ``wait`` is false."""
        report_dir = self.shard_dir(index)
        command = [sys.executable, str(GATE), f"--shard={index}/{CORPUS_SHARDS}", f"--report-dir={report_dir}"]
        return self._once(f"shard-{index}", command, report_dir, wait)

    def shard_of(self, fixture: str) -> GateRun:
        """The shard run whose plugins include ``fixture``, split the way the gate splits them."""
        plugins = [info.artifact for info in list_fixtures()]
        for index, shard in enumerate(assign(plugins, CORPUS_SHARDS, plugin_label, {}), start=1):
            if fixture in {plugin_label(path) for path in shard}:
                run = self.shard(index)
                assert run is not None
                return run
        raise LookupError(f"no fixture named {fixture!r} in the corpus")

    def merged(self) -> GateRun:
        """Every shard, merged into one report directory by ``conformance merge``."""
        indexes = range(1, CORPUS_SHARDS + 1)
        for index in [index for index in indexes if self.shard(index, wait=False) is None]:
            self.shard(index)
        report_dir = self.root / "merged"
        command = [sys.executable, "-m", "conformance.cli", "merge", *map(str, map(self.shard_dir, indexes))]
        run = self._once("merged", [*command, "--out", str(report_dir)], report_dir, wait=True)
        assert run is not None
        return run

    def _once(self, name: str, command: list[str], report_dir: Path, wait: bool) -> GateRun | None:
        outcome = self.root / f"{name}.json"
        with (self.root / f"{name}.lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            if not outcome.exists():
                done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=1200, check=False)
                outcome.write_text(json.dumps([done.returncode, done.stdout, done.stderr]))
        returncode, stdout, stderr = json.loads(outcome.read_text())
        return GateRun(returncode, stdout, stderr, report_dir)


def shared_root(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory of this test run that every xdist worker sees under the same path."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    return base.parent / f"{name}-{run_id}" if run_id else base / name


class SharedRuns:
    """Expensive runs (a battery over several plugins, with the plugins it builds) done once per test run.

    A module-scoped fixture runs once per xdist worker that runs any of the module's tests, and
    ``--dist worksteal`` may split a module between workers. Here the first worker to need a run does
    it in the run's own directory, under a lock; another that needs it meanwhile waits, then reads it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def once(self, name: str, work: Callable[[Path], None]) -> Path:
        """The directory in which ``work`` ran, given it empty, the first time any worker asked for ``name``."""
        directory = self.root / name
        with (self.root / f"{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            done = self.root / f"{name}.done"
            if not done.exists():
                shutil.rmtree(directory, ignore_errors=True)  # left by a worker whose ``work`` failed
                directory.mkdir()
                work(directory)
                done.touch()
        return directory

    def battery(
        self,
        name: str,
        arguments: Callable[[Path], list[str]],
        env: dict[str, str] | None = None,
        after: Callable[[Path], None] | None = None,
    ) -> BatteryRun:
        """``pytest -q --report-dir=… ARGUMENTS`` run once, as a plugin author would, from a directory of its own.

        ``arguments`` gets that directory and may build plugins there first; ``after`` runs right after the
        battery (to look for what it left running, say) and keeps what it finds there. The exit status and
        the output are kept beside the reports, for every worker to read."""

        def work(directory: Path) -> None:
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            command += [f"--report-dir={directory / 'reports'}", *arguments(directory)]
            done = subprocess.run(
                command, cwd=directory, capture_output=True, text=True, timeout=600, check=False,
                env={**os.environ, **(env or {})},
            )  # fmt: skip
            (directory / "run.json").write_text(json.dumps([done.returncode, done.stdout, done.stderr]))
            if after is not None:
                after(directory)

        directory = self.once(name, work)
        returncode, stdout, stderr = json.loads((directory / "run.json").read_text())
        return BatteryRun(returncode, stdout, stderr, directory / "reports")


@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory: pytest.TempPathFactory) -> SharedRuns:
    """Runs several tests read, shared by every xdist worker of this test run."""
    return SharedRuns(shared_root(tmp_path_factory, "shared-runs"))


@pytest.fixture(scope="session")
def three_plugins(shared_runs: SharedRuns, fixture_so: Callable[[str], Path]) -> BatteryRun:
    """The whole battery over a failing, a conforming and a refused (v5) plugin, with a JUnit file beside the
    reports: the report tests read every file it wrote, the entry tests the conforming and the refused
    plugin's verdicts (a whole battery alone on either costs as much again)."""

    def arguments(directory: Path) -> list[str]:
        plugins = [f"--plugin={fixture_so(label)}" for label in ("panicking", "conforming_processor", "version5")]
        return [*plugins, f"--junitxml={directory / 'junit.xml'}"]

    run = shared_runs.battery("three-plugins", arguments)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    return run


@pytest.fixture(scope="session")
def panic_and_abort(shared_runs: SharedRuns, fixture_so: Callable[[str], Path]) -> BatteryRun:
    """A panic in process_packet and an abort in the library's constructor, with a JUnit file beside the
    reports: the JUnit test reads both failures, the entry test the crash at load."""

    def arguments(directory: Path) -> list[str]:
        plugins = [f"--plugin={fixture_so(label)}" for label in ("panicking", "ctor_abort")]
        return [*plugins, f"--junitxml={directory / 'junit.xml'}", "-k", "wire-in.text.ascii or load.dlopen"]

    return shared_runs.battery("panic-and-abort", arguments)


@pytest.fixture(scope="session")
def corpus_gate(tmp_path_factory: pytest.TempPathFactory) -> CorpusGate:
    """The sharded release gate over the whole corpus, shared by every xdist worker of this run."""
    return CorpusGate(shared_root(tmp_path_factory, "corpus-gate"))


@pytest.fixture(scope="session")
def corpus_gate_run(corpus_gate: CorpusGate) -> GateRun:
    """The gate over the whole corpus: its shards merged into one report directory."""
    return corpus_gate.merged()


@pytest.fixture(params=range(1, CORPUS_SHARDS + 1), ids=lambda index: f"shard{index}")
def corpus_shard(request: pytest.FixtureRequest, corpus_gate: CorpusGate) -> tuple[int, GateRun]:
    """Each shard of the corpus gate in a test of its own, so that xdist workers run them side by side."""
    index: int = request.param
    run = corpus_gate.shard(index)
    assert run is not None
    return index, run


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """``-n`` without ``--dist`` distributes by ``worksteal``, not xdist's ``load``.

    ``load`` hands each worker its next tests ahead of time, so near the end one worker idles while the
    other works through its backlog (12 s of a 230 s developer loop); with ``worksteal`` an idle worker takes
    half of a busy one's queue. Set here, not in ``addopts``: the batteries the tests start from empty
    directories find this project's pyproject.toml too (their plugin path lies under it), and there
    ``--dist`` without ``-n`` would change what the battery sees."""
    if config.option.numprocesses and config.option.dist == "no":
        config.option.dist = "worksteal"


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
    """Spread the slow tests over the workers (``spread_for_workers``).

    The ClusterFuzzLite build is skipped unless asked for: it would double the default run, and it has a
    step of its own in ``.ci/run``."""
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})  # set on xdist workers only
    items[:] = spread_for_workers(items, int(workerinput.get("workercount", 1)))
    if not config.getoption("--run-clusterfuzzlite"):
        skip = pytest.mark.skip(
            reason="the ClusterFuzzLite build runs in its own .ci/run step: pytest tests/test_clusterfuzzlite.py --run-clusterfuzzlite"
        )
        for item in items:
            if item.get_closest_marker("clusterfuzzlite") is not None:
                item.add_marker(skip)


def spread_for_workers(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The order that gives each of ``workers`` xdist workers a share of the slow tests, at its start.

    ``--dist worksteal`` hands worker i the i-th of ``workers`` contiguous slices of the list (idle
    workers later steal the tail half of a busy one's queue); ``--dist load`` deals the first quarter
    out one by one. Each slice here starts with every ``workers``-th slow test, the shards of the
    corpus gate first, so the long runs start at once on every worker and the short tests fill the
    gaps; the tests that read the whole corpus end the slices, when its shards are done or running.
    The short tests keep their order, so module-scoped runs stay on few workers.
    """

    def uses(item: pytest.Item, fixture: str) -> bool:
        return fixture in getattr(item, "fixturenames", ())

    whole = [item for item in items if uses(item, "corpus_gate_run")]
    slow = [item for item in items if item.get_closest_marker("slow") is not None and not uses(item, "corpus_gate_run")]
    slow.sort(key=lambda item: not uses(item, "corpus_shard"))
    chosen = {id(item) for item in whole + slow}
    fast = [item for item in items if id(item) not in chosen]
    ordered: list[pytest.Item] = []
    left = len(items)
    for worker in range(workers):
        size = left // (workers - worker)  # the slice worksteal sends this worker
        left -= size
        head, tail = slow[worker::workers], whole[worker::workers]
        take = max(size - len(head) - len(tail), 0) if worker < workers - 1 else len(fast)
        ordered += head + fast[:take] + tail
        del fast[:take]
    return ordered
