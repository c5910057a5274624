"""The pytest entry point loads the battery only when a plugin is given, as one session object."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.pytest_face.execution import ItemRunner
from conformance.pytest_face.session import BatterySession
from conformance.sandbox.calibration import FACTOR_VARIABLE
from conformance.sandbox.client import shared_client
from conformance.sandbox.watchdog import exit_status
from conformance.settings import RunSettings


def plain_command_line() -> SimpleNamespace:
    """A stand-in for pytest's config: options at their defaults, test paths from the ini file."""
    return SimpleNamespace(getoption=lambda name, default=None: default, args_source=pytest.Config.ArgsSource.TESTPATHS)


#: Loaded by pytest from the run's directory: what the entry point loaded and registered by the end of the run.
PROBE = """
import os
import sys

import pytest


def pytest_unconfigure(config):
    loaded = sorted(name for name in sys.modules if name.startswith(("conformance.pytest_face", "conformance.checks")))
    print("LOADED", " ".join(loaded) or "-")
    session = config.pluginmanager.get_plugin("conformance-battery")
    print("SESSION", type(session).__name__)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    # The battery's reports are written in its own pytest_sessionfinish: by then no fork server may be left.
    children = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as handle:
                children.extend(handle.read().split())
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    # A fork server reads its requests on a pipe as stdin (the zygote, its parent, has /dev/null).
    servers = [pid for pid in children if os.readlink(f"/proc/{pid}/fd/0").startswith("pipe:")]
    print("SERVERS AT SESSIONFINISH", len(servers), "OF", len(children), "CHILDREN")
"""


def _run(tmp_path: Path, *args: str) -> str:
    (tmp_path / "conftest.py").write_text(PROBE)
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", *args]
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CONFORMANCE_")}
    done = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_without_a_plugin_nothing_of_the_battery_loads(tmp_path: Path) -> None:
    output = _run(tmp_path, "test_nothing.py")
    # The entry point's start-up tweaks (pytest_face.startup) load in every pytest process; nothing else may.
    loaded = next(line for line in output.splitlines() if line.startswith("LOADED "))
    assert set(loaded.split()[1:]) <= {"-", "conformance.pytest_face", "conformance.pytest_face.startup"}, loaded
    assert "SESSION NoneType" in output


def test_with_a_plugin_one_battery_session_runs_it(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    plugin = fixture_so("conforming_processor")
    output = _run(tmp_path, f"--plugin={plugin}", "--report-dir", str(tmp_path / "r"), "-k", "load.dlopen")
    assert "SESSION BatterySession" in output
    assert "conformance.pytest_face.session" in output


def test_the_fork_servers_are_stopped_before_the_reports_are_written(
    tmp_path: Path, fixture_so: Callable[[str], Path]
) -> None:
    plugin = fixture_so("conforming_processor")
    output = _run(tmp_path, f"--plugin={plugin}", "--report-dir", str(tmp_path / "r"), "-k", "lifecycle.create")
    assert "SERVERS AT SESSIONFINISH 0 OF 1 CHILDREN" in output  # the zygote, stopped at exit


def test_pytest_registers_every_hook_of_the_battery_session() -> None:
    """pytest takes a method for a hook only by its name's ``pytest_`` prefix, whatever its marker's ``specname``."""
    manager = pytest.PytestPluginManager()
    marked = [name for name in dir(BatterySession) if hasattr(getattr(BatterySession, name), "pytest_impl")]
    assert marked
    for name in marked:
        assert manager.parse_hookimpl_opts(BatterySession, name) is not None, name


def test_a_start_that_fails_in_the_background_fails_where_the_run_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The servers start on a thread of their own: its failure reaches the collection, never hangs the run."""

    def no_server() -> object:
        raise OSError("no fork server here")

    monkeypatch.setattr("conformance.pytest_face.execution.shared_client", no_server)
    monkeypatch.setenv("CONFORMANCE_PREFETCH", "1")
    runner = ItemRunner(RunSettings(plugins=(tmp_path / "libplugin.so",), report_dir=tmp_path, budget_scale=1.0))
    runner.start(plain_command_line(), "no")  # type: ignore[arg-type]  # not an xdist worker: no workerinput
    runner.wait_calibrated()  # returns: the header is not held up by a start that failed
    with pytest.raises(OSError, match="no fork server here"):
        runner.wait_started()
    runner.close()


def test_a_server_booted_by_the_start_lives_until_the_run_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture_so: Callable[[str], Path]
) -> None:
    """PR_SET_PDEATHSIG watches the thread that started a process: the start's thread must outlive its servers."""
    monkeypatch.setenv("CONFORMANCE_ZYGOTE", "0")  # booted by the start's thread itself
    monkeypatch.setenv("CONFORMANCE_WORKERS", "1")
    monkeypatch.setenv(FACTOR_VARIABLE, "1")  # no measurement: this process keeps its calibration state
    monkeypatch.setattr("conformance.sandbox.calibration._current", None)
    plugin = fixture_so("conforming_processor")
    runner = ItemRunner(RunSettings(plugins=(plugin,), report_dir=tmp_path, budget_scale=1.0))
    runner.start(plain_command_line(), "no")  # type: ignore[arg-type]  # not an xdist worker: no workerinput
    runner.wait_started()
    server = shared_client()._process
    assert server is not None
    time.sleep(0.3)  # a server killed with the start's thread would be gone by now
    try:
        assert exit_status(server.pid) is None
    finally:
        runner.close()
