"""The battery's short run protocol (``pytest_face/protocol.py``) reports exactly what pytest's own protocol did.

Each test runs the same ``-k`` subset twice, once with ``CONFORMANCE_SHORT_PROTOCOL=0`` (pytest's
``runtestprotocol``), and compares what the hooks received and the files the run wrote. The subset of
``any_but_text_only`` has items that pass, fail, warn and are skipped as not applicable.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

#: A plugin module (``-p``) that writes every run-protocol hook call it sees, in order, as JSON lines.
RECORDER = """
import json
import os
import sys

import pytest

_OUT = open(os.environ["RECORDED_TO"], "w")


def _write(*entry):
    _OUT.write(json.dumps(entry, default=str) + "\\n")


def _stable(value):
    # A payload without what differs from run to run: durations and evidence (addresses, timings).
    if isinstance(value, dict):
        return {key: _stable(item) for key, item in value.items() if key not in ("evidence", "duration_s")}
    return value


def _protocol():
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == "runtestprotocol":
            return "pytest"
        frame = frame.f_back
    return "short"


def pytest_collection_finish(session):
    # pytest's own Item.location, next to the battery's (worked out once per plugin)
    _write("locations", all(item.location == pytest.Item.location.func(item) for item in session.items))


def pytest_runtest_logstart(nodeid, location):
    _write("logstart", nodeid, location)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    longrepr = report.longrepr if isinstance(report.longrepr, tuple) else str(report.longrepr)
    _write(
        "logreport", _protocol(), report.nodeid, report.when, report.outcome, longrepr, report.location,
        sorted(report.keywords), report.sections,
        [(name, _stable(value if isinstance(value, dict) else json.loads(value))) for name, value in report.user_properties],
        type(report.duration).__name__,
    )


def pytest_exception_interact(node, call, report):
    _write("exception_interact", node.nodeid, call.when, type(call.excinfo.value).__name__, report.outcome)


def pytest_runtest_logfinish(nodeid, location):
    _write("logfinish", nodeid, location)


def pytest_unconfigure(config):
    _OUT.close()
"""
SELECTION = "wire-in.transcription or wire-in.custom or source-inputs or load.dlopen"


def _battery(tmp_path: Path, plugin: Path, short: bool, *args: str) -> tuple[int, str, list[Any], Path]:
    """Run the battery with the recorder in ``tmp_path/short`` or ``tmp_path/pytest``: exit status, output,
    the hook calls, the run's directory."""
    run_dir = tmp_path / ("short" if short else "pytest")
    run_dir.mkdir(exist_ok=True)
    (run_dir / "protocol_recorder.py").write_text(RECORDER)
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CONFORMANCE_")}
    environment.update(
        PYTHONPATH=str(run_dir), RECORDED_TO=str(run_dir / "recorded.jsonl"), CONFORMANCE_SHORT_PROTOCOL=str(int(short))
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "protocol_recorder"]
    command += [f"--plugin={plugin}", f"--report-dir={run_dir / 'reports'}", *args]
    done = subprocess.run(command, cwd=run_dir, env=environment, capture_output=True, text=True, check=False)
    recorded = [json.loads(line) for line in _without_timing((run_dir / "recorded.jsonl").read_text()).splitlines()]
    return done.returncode, done.stdout, recorded, run_dir


def _without_timing(output: str) -> str:
    """Output with the run's directory and its time made equal."""
    return re.sub(r" in [0-9.]+s", "", output.replace("/short/", "/RUN/").replace("/pytest/", "/RUN/"))


def _without_protocol(recorded: list[Any]) -> list[Any]:
    """The hook calls without which protocol made them (the second field of a report's entry)."""
    return [entry[:1] + entry[2:] if entry[0] == "logreport" else entry for entry in recorded]


def _junit_cases(path: Path) -> list[dict[str, Any]]:
    """Every test case of a JUnit file with its children, without times."""
    cases = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        attributes = {name: value for name, value in case.attrib.items() if name != "time"}
        children = [(child.tag, dict(child.attrib), child.text) for child in case]
        cases.append({"attributes": attributes, "children": children})
    return cases


def _report_without_timing(run_dir: Path) -> Any:
    text = (run_dir / "reports" / "any_but_text_only" / "report.json").read_text()
    report = json.loads(text.replace(str(run_dir), "RUN"))

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            dropped = ("evidence", "run", "generated_at")  # addresses and timings; the run and its times
            return {key: scrub(item) for key, item in value.items() if "duration" not in key and key not in dropped}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    return scrub(report)


@pytest.fixture(scope="module")
def plugin(fixture_so: Callable[[str], Path]) -> Path:
    return fixture_so("any_but_text_only")


def test_the_short_protocol_reports_what_pytests_own_did(tmp_path: Path, plugin: Path) -> None:
    runs = {}
    for short in (False, True):
        status, output, recorded, run_dir = _battery(tmp_path, plugin, short, "-k", SELECTION, "--junitxml=junit.xml")
        runs[short] = (status, output, recorded, run_dir)
    (status, output, recorded, run_dir), (short_status, short_output, short_recorded, short_dir) = (
        runs[False],
        runs[True],
    )
    outcomes = {entry[4] for entry in recorded if entry[0] == "logreport" and entry[3] == "call"}
    assert outcomes == {"passed", "failed", "skipped"}, "the subset no longer has every kind of outcome"
    assert any(entry[0] == "exception_interact" for entry in recorded)
    assert ["locations", True] in short_recorded
    assert short_status == status == 1
    assert {entry[1] for entry in recorded if entry[0] == "logreport"} == {"pytest"}
    assert {entry[1] for entry in short_recorded if entry[0] == "logreport"} == {"short"}
    assert _without_protocol(short_recorded) == _without_protocol(recorded)
    assert _without_timing(short_output) == _without_timing(output)
    assert _junit_cases(short_dir / "junit.xml") == _junit_cases(run_dir / "junit.xml")
    assert _report_without_timing(short_dir) == _report_without_timing(run_dir)


def test_maxfail_stops_the_short_protocol_where_it_stopped_pytests(tmp_path: Path, plugin: Path) -> None:
    _, _, recorded, _ = _battery(tmp_path, plugin, False, "-k", SELECTION, "--maxfail=2")
    _, _, short_recorded, _ = _battery(tmp_path, plugin, True, "-k", SELECTION, "--maxfail=2")
    failed = [entry for entry in recorded if entry[0] == "logreport" and entry[4] == "failed"]
    assert len(failed) == 2 and recorded[-1][0] == "logfinish"
    assert _without_protocol(short_recorded) == _without_protocol(recorded)


def test_a_mark_added_by_a_conftest_takes_pytests_protocol(tmp_path: Path, plugin: Path) -> None:
    """An xfail mark is honoured only by pytest's protocol (its skipping plugin), so the item takes that one."""
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "conftest.py").write_text(
        "import pytest\n\n\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        item.add_marker(pytest.mark.xfail(reason='known', strict=True))\n"
    )
    status, output, _, _ = _battery(tmp_path, plugin, True, "-k", "wire-in.custom.object")
    assert "1 xfailed" in output, output
