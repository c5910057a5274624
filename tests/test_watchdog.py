"""A plugin that freezes, kills or signals the harness: the run ends soon, fails, names it and leaves nothing.

The plugins are built from a few lines of C on the reference echo, like ``test_hostile``. Each run
sets ``CONFORMANCE_CONTAINMENT=subreaper``: without namespaces a plugin can reach its parent, the
fork server, which is what the watchdog (``sandbox/watchdog.py``) is for. Each run also carries a
marker in its environment, which every process it starts inherits, so that a scan of /proc finds
whatever outlived it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from test_hostile import build

from conformance.report.rundir import RunInfo
from conformance.report.writer import build_report
from conformance.sandbox.client import SandboxClient, ServerLost
from conformance.sandbox.procfs import children, process_state
from conformance.sandbox.watchdog import STOPPED_FOR_S, Fate, ServerWatch, descendants, kill_tree
from conformance.scenario.protocol import Outcome, ScenarioRequest
from conformance.settings import RunSettings

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the hostile plugins")

MARKER_VARIABLE = "CONFORMANCE_WATCHDOG_TEST_MARKER"
#: Far above what any of these runs takes (a few seconds to a minute on a loaded machine), far below 37 minutes.
RUN_LIMIT_S = 240

_PLUGIN = """
#include "c_common/skfix_c.h"
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "@NAME@", "Text echo that attacks the harness in process_packet")
static pid_t parent_of(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *file = fopen(path, "r");
    int parent = -1;
    if (file != NULL) {
        (void)!fscanf(file, "%*d %*s %*c %d", &parent);
        fclose(file);
    }
    return (pid_t)parent;
}
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static CResult process_packet(CPluginHandle handle, const char *pin, const CPacket *packet, const CNodeCallbacks *cb) {
    (void)parent_of;
    @ATTACK@;
    return skfix_text_echo_process(handle, pin, packet, cb);
}
SKFIX_PROCESSOR_API(API, get_metadata, process_packet)
SKFIX_EXPORT_API(API)
"""

ATTACKS = {
    "stops_parent": "kill(getppid(), SIGSTOP)",
    "kills_parent": "kill(getppid(), SIGKILL)",
    # Not in triage's ordinary traffic: the probe passes, one check meets it.
    "kills_parent_on_long_text": "if (packet != NULL && packet->len > 4096) kill(getppid(), SIGKILL)",
    "terms_own_group": "kill(0, SIGTERM)",
    "terms_parent_group": "kill(-getpgid(getppid()), SIGTERM)",
    # The fork server's parent is the tool itself: its process group is the one CI would signal.
    "terms_tool_group": "kill(-getpgid(parent_of(getppid())), SIGTERM)",
}


def hostile(tmp_path: Path, name: str) -> Path:
    return build(tmp_path, name, _PLUGIN.replace("@NAME@", name).replace("@ATTACK@", ATTACKS[name]))


def conformance_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``conformance ARGS`` like ``contained_battery``'s pytest run."""
    return run_contained(tmp_path, [str(Path(sys.executable).parent / "conformance"), *args])


def run_contained(tmp_path: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    """``command`` in the fallback containment, in a session of its own (the plugin may signal the tool's
    process group: it must not reach this test's). Asserts that nothing of the run is left."""
    marker = uuid.uuid4().hex
    env = {**os.environ, "CONFORMANCE_CONTAINMENT": "subreaper", MARKER_VARIABLE: marker}
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        check=False,
        env=env,
        start_new_session=True,
    )
    time.sleep(0.2)  # a SIGKILLed process is gone once its parent reaped it; init reaps orphans at once
    assert survivors(marker) == [], done.stdout[-3000:]
    return done


def survivors(marker: str) -> list[str]:
    """Processes (other than this one) whose environment holds ``marker``: "pid command" each."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes()
            command = Path(f"/proc/{name}/comm").read_text().strip()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(f"{name} {command}")
    return found


def contained_battery(
    tmp_path: Path, plugin: Path, *args: str, others: tuple[Path, ...] = ()
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``pytest --plugin`` through ``run_contained``; the run and the plugin's report path."""
    report_dir = tmp_path / "reports"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--report-dir={report_dir}"]
    plugins = [f"--plugin={plugin}", *(f"--plugin={other}" for other in others)]
    done = run_contained(tmp_path, [*command, *plugins, *args])
    label = plugin.name.removeprefix("lib").removesuffix(".so")
    return done, report_dir / label / "report.json"


def _checks(report: dict[str, Any]) -> str:
    return json.dumps([report["plugin"], report["checks"]])


@needs_gcc
@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("stops_parent", "froze its parent process"),
        ("kills_parent", "killed by SIGKILL"),
        ("terms_parent_group", "killed by SIGTERM"),
    ],
)
def test_a_plugin_that_freezes_or_kills_the_server_fails_once_and_the_run_stays_short(
    tmp_path: Path, name: str, words: str
) -> None:
    junit = tmp_path / "reports" / "junit.xml"
    done, path = contained_battery(tmp_path, hostile(tmp_path, name), f"--junitxml={junit}")
    report = json.loads(path.read_text())
    assert done.returncode == 1, done.stdout[-3000:]
    assert ElementTree.parse(junit).getroot().tag == "testsuites"
    assert not [file.name for file in junit.parent.rglob(".*")], "a temporary file of an atomic write was left"
    assert report["verdict"] == "fail" and report["complete"] is True
    text = _checks(report)
    assert words in text and "the probe" in text and "process_packet" in text, text[:3000]
    assert "validator error" not in text and "harness_error" not in text
    # Reported once: every check is skipped with the finding as its reason, none ran into the server again.
    statuses = {check["status"] for check in report["checks"]}
    assert statuses <= {"skip"}, statuses
    assert all("every check would do it again" in check["message"] for check in report["checks"])


@needs_gcc
def test_a_server_killed_by_one_check_fails_that_check_and_skips_the_rest_of_that_plugin_only(
    tmp_path: Path, fixture_so: Callable[[str], Path]
) -> None:
    conforming = fixture_so("conforming_processor")
    plugin = hostile(tmp_path, "kills_parent_on_long_text")
    done, path = contained_battery(tmp_path, plugin, "-k", "wire-in or load", others=(conforming,))
    report = json.loads(path.read_text())
    assert done.returncode == 1, done.stdout[-3000:]
    assert report["verdict"] == "fail" and report["plugin"]["loadable"] is True
    checks = {check["id"]: check for check in report["checks"]}
    finding = checks["wire-in.text.long"]
    assert finding["status"] == "crash" and finding["severity"] == "required", finding
    assert "killed its parent process" in finding["message"] and "wire-in.text.long" in finding["message"]
    assert finding["evidence"]["sandbox_server"]["fate"] == "killed"
    others = [check for name, check in checks.items() if name != finding["id"]]
    assert {check["status"] for check in others} <= {"pass", "skip", "warn"}
    # Reported once: a check that ran into the server after it is skipped with the finding as its reason.
    assert all(check["status"] == "skip" for check in others if "sandbox server" in check["message"])
    conforming_report = json.loads((path.parent.parent / "conforming_processor" / "report.json").read_text())
    assert conforming_report["verdict"] == "pass", conforming_report["counts"]
    assert not any("sandbox server" in check["message"] for check in conforming_report["checks"])


@needs_gcc
def test_a_plugin_that_signals_its_own_group_crashes_with_that_signal(tmp_path: Path) -> None:
    done, path = contained_battery(tmp_path, hostile(tmp_path, "terms_own_group"), "-k", "wire-in.text")
    report = json.loads(path.read_text())
    assert done.returncode == 1, done.stdout[-3000:]
    assert report["verdict"] == "fail"
    assert "crashed with SIGTERM" in _checks(report) and "process_packet" in _checks(report)


@needs_gcc
def test_a_plugin_that_signals_the_tools_group_never_leaves_a_passing_report(tmp_path: Path) -> None:
    """The fork server runs in a process group of its own, so only a plugin that looks up the tool's group reaches
    it. The tool then ends early: its report says incomplete and fail, its exit status is not 0."""
    done, path = contained_battery(tmp_path, hostile(tmp_path, "terms_tool_group"), "-k", "wire-in.text")
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout[-3000:]
    report = json.loads(path.read_text())
    assert (report["verdict"], report["complete"], report["run"]["interrupted"]) == ("fail", False, True)
    assert "(incomplete)" in done.stdout and "received SIGTERM" in done.stdout


@needs_gcc
def test_conformance_check_signalled_by_the_plugin_while_probing_exits_interrupted(tmp_path: Path) -> None:
    plugin = hostile(tmp_path, "terms_tool_group")
    done = conformance_command(tmp_path, "check", str(plugin), "-k", "wire-in.text")
    assert done.returncode == 130, done.stdout + done.stderr
    assert "PASS" not in done.stdout


# --- the watchdog on its own, against servers that misbehave on purpose ---


def _lost(client: SandboxClient, request: ScenarioRequest) -> ServerLost:
    result = client.run(request)
    assert isinstance(result, ServerLost), result
    return result


def _server_pid(client: SandboxClient) -> int:
    client.start()
    process = client._process
    assert process is not None
    return process.pid


def _stop_server(pid: int) -> None:
    """SIGSTOP the server: with namespaces ``pid`` is the relay outside them, and its child (PID 1 inside),
    once forked, answers the requests; so the relay first (then it forks no more), then that child."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while process_state(pid) not in ("T", "t") and time.monotonic() < deadline:
        time.sleep(0.001)
    for child in children(pid):
        os.kill(child, signal.SIGSTOP)


def test_a_stopped_server_is_seen_in_a_second_killed_and_replaced() -> None:
    client = SandboxClient()
    try:
        pid = _server_pid(client)
        _stop_server(pid)
        started = time.monotonic()
        result = _lost(client, ScenarioRequest("selftest.empty", "", overall_budget_s=60.0, capture_stacks=False))
        assert time.monotonic() - started < 10 * STOPPED_FOR_S + 5
        assert result.loss.fate is Fate.STOPPED and result.outcome is Outcome.TIMED_OUT
        assert result.scenario == "selftest.empty" and "stopped" in result.detail
        assert process_state(pid) is None  # killed and reaped
        again = client.run(ScenarioRequest("selftest.empty", "", capture_stacks=False))
        assert again.outcome is Outcome.COMPLETED and not isinstance(again, ServerLost)
    finally:
        client.close()


def test_a_killed_server_is_a_crash_naming_the_signal() -> None:
    client = SandboxClient()
    try:
        pid = _server_pid(client)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        # Found dead before the request: replaced, and the request runs on the new server.
        assert client.run(ScenarioRequest("selftest.empty", "", capture_stacks=False)).outcome is Outcome.COMPLETED
    finally:
        client.close()


def test_the_watch_calls_a_silent_server_wedged_past_its_grace() -> None:
    sleeper = subprocess.Popen(["sleep", "30"], process_group=0)
    try:
        watch = ServerWatch(sleeper.pid, budget_s=0.1, grace=0.2)
        loss = None
        deadline = time.monotonic() + 20
        while loss is None and time.monotonic() < deadline:
            loss = watch.check(None)
            time.sleep(0.05)
        assert loss is not None and loss.fate is Fate.SILENT, loss
        assert "silent" in loss.detail and loss.waited_s < 10
    finally:
        kill_tree(sleeper.pid)
        sleeper.wait()


def test_kill_tree_ends_a_process_and_what_it_started_in_its_group() -> None:
    shell = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"], process_group=0)
    time.sleep(0.2)
    children = descendants(shell.pid)
    assert len(children) == 2
    kill_tree(shell.pid)
    shell.wait()
    time.sleep(0.05)
    assert all(process_state(child) in (None, "Z") for child in children)


def test_an_incomplete_report_never_passes(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    plugin = fixture_so("conforming_processor")
    settings = RunSettings(plugins=(plugin,), report_dir=tmp_path, budget_scale=1.0)
    facts = {"loadable": True, "version": 9}
    interrupted = build_report(plugin, [], facts, settings, True, run=RunInfo(interrupted=True), selected=3)
    short = build_report(plugin, [], facts, settings, True, selected=3)
    finished = build_report(plugin, [], facts, settings, True, selected=0)
    assert (interrupted["verdict"], interrupted["complete"]) == ("fail", False)
    assert (short["verdict"], short["complete"]) == ("fail", False)
    assert finished["verdict"] == "pass"


@needs_gcc
def test_repro_of_a_check_that_freezes_the_server_fails_and_names_it(tmp_path: Path) -> None:
    plugin = hostile(tmp_path, "stops_parent")
    done = conformance_command(tmp_path, "repro", str(plugin), "wire-in.text.ascii")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "TIMEOUT: the plugin froze its parent process" in done.stdout
    assert "wire-in.text.ascii" in done.stdout
