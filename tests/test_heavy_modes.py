"""--race and --memcheck: valgrind runs whose findings point inside the plugin."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BatteryRun, SharedRuns

#: valgrind runs: minutes of CPU, so `slow`.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed"),
]
Runner = Callable[..., BatteryRun]


@pytest.fixture(scope="session")
def race_run(shared_runs: SharedRuns, fixture_so: Callable[[str], Path]) -> BatteryRun:
    """``--race`` over the racy and the conforming fixture in one run: the same options, one battery start."""

    def arguments(directory: Path) -> list[str]:
        plugins = [f"--plugin={fixture_so(label)}" for label in ("lying_send_counter", "conforming_processor")]
        return [*plugins, "--race", "-k", "threading.parallel-instances"]

    return shared_runs.battery("race", arguments)


def test_race_mode_reports_the_shared_counter_race_inside_the_fixture(race_run: BatteryRun) -> None:
    run = race_run
    check = run.checks("lying_send_counter")["threading.parallel-instances"]
    race = check["evidence"]["race"]
    assert race["tool"] == "helgrind" and race["duration_s"] > 0
    assert race["findings"], check["message"]
    assert any(frame for finding in race["findings"] for frame in finding["plugin_frames"])
    assert "data race" in check["message"] and check["status"] == "fail"


def test_race_mode_is_quiet_on_the_conforming_processor(race_run: BatteryRun) -> None:
    run = race_run
    check = run.checks("conforming_processor")["threading.parallel-instances"]
    assert check["status"] == "pass", check["message"]
    assert check["evidence"]["race"]["findings"] == []


def test_memcheck_attaches_the_leak_with_plugin_frames(fixture_so: Callable[[str], Path], run_battery: Runner) -> None:
    run = run_battery(fixture_so("leaky"), args=("--memcheck", "-k", "leaks.create-destroy"))
    check = run.checks("leaky")["leaks.create-destroy"]
    memcheck = check["evidence"]["memcheck"]
    assert memcheck["tool"] == "memcheck"
    assert any("definitely lost" in finding["what"] for finding in memcheck["findings"])
    assert any("leaky" in frame for finding in memcheck["findings"] for frame in finding["plugin_frames"])


def test_unknown_race_tool_is_one_line(fixture_so: Callable[[str], Path], run_battery: Runner) -> None:
    run = run_battery(fixture_so("conforming_processor"), args=("--race=tsan",))
    assert run.returncode == 4
    assert "must be helgrind or drd" in run.stderr and "Traceback" not in run.stderr


def test_repro_under_memcheck_prints_the_plugin_frames(fixture_so: Callable[[str], Path]) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance.cli",
            "repro",
            str(fixture_so("leaky")),
            "leaks.create-destroy",
            "--memcheck",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "memcheck ran for" in done.stdout and "definitely lost" in done.stdout and "leaky" in done.stdout
