"""What a plugin starts stays in the sandbox: signals, daemons, limits, and the level reported.

Each plugin is a few lines of C on the reference echo, built here like tests/test_hostile.py's. Each run gets
a marker in its environment, which every process it starts inherits; after the run no process may carry it.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_hostile import battery, build

from conformance.sandbox.containment import CONTAINMENT_ENV, Containment

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the hostile plugins")

MARKER_ENV = "SKC_CONTAINMENT_TEST_MARKER"

ECHO_WITH = """
#include "c_common/skfix_c.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "@NAME@", "Text echo that misbehaves in process_packet")
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static CResult process_packet(CPluginHandle handle, const char *pin, const CPacket *packet, const CNodeCallbacks *cb) {
    @BODY@
    return skfix_text_echo_process(handle, pin, packet, cb);
}
SKFIX_PROCESSOR_API(API, get_metadata, process_packet)
SKFIX_EXPORT_API(API)
"""


def hostile(tmp_path: Path, name: str, body: str) -> Path:
    return build(tmp_path, name, ECHO_WITH.replace("@NAME@", name).replace("@BODY@", body))


def processes_with(marker: str) -> list[str]:
    """Live processes whose environment carries ``marker`` (everything a run started inherits it)."""
    found = []
    needle = f"{MARKER_ENV}={marker}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes()
            state = Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state not in ("Z", "X"):
            found.append(f"{name} {Path(f'/proc/{name}/comm').read_text().strip()}")
    return found


def contained_run(tmp_path: Path, plugin: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The battery on ``plugin``; afterwards nothing it started is alive. Returns the report."""
    marker = uuid.uuid4().hex
    before = set(tmp_path.iterdir())
    done, report = battery(tmp_path, plugin, *args, env={MARKER_ENV: marker, **(env or {})})
    assert report["verdict"] == "fail" and done.returncode == 1, done.stdout[-3000:]
    assert processes_with(marker) == [], "processes of the run outlived it"
    # The run's directory gains the report directory and nothing else (the sandbox works in its own temporary one).
    assert set(tmp_path.iterdir()) - before <= {tmp_path / "reports"}
    return report


def checks_of(report: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [check for check in report["checks"] if check["id"].startswith(prefix)]


@pytest.mark.parametrize(
    ("call", "target"),
    [
        ("kill(getppid(), SIGSTOP)", "kill(1, SIGSTOP): a signal to the sandbox server (its parent)"),
        ("kill(0, SIGTERM)", "kill(0, SIGTERM): a signal to its process group"),
        ("kill(-1, SIGKILL)", "kill(-1, SIGKILL): a signal to every process"),
    ],
)
def test_a_signal_to_the_server_or_a_group_is_refused_and_named(tmp_path: Path, call: str, target: str) -> None:
    plugin = hostile(tmp_path, "signals_out", f"{call};")
    report = contained_run(tmp_path, plugin, "-k", "wire-in.text")
    assert report["run"]["containment"] == Containment.NAMESPACES
    packet_checks = checks_of(report, "wire-in.text")
    assert packet_checks and all(check["status"] == "crash" for check in packet_checks), packet_checks
    assert target in packet_checks[0]["message"] and "in process_packet" in packet_checks[0]["message"]


DAEMONIZES = """
    static int started = 0;
    if (!started++) {
        pid_t first = fork();
        if (first == 0) {
            setsid();
            if (fork() == 0) {
                sleep(3); /* then try to rewrite the report, as a daemon left behind would */
                FILE *out = fopen(getenv("SKC_DAEMON_TARGET"), "w");
                if (out) { fputs("{\\"verdict\\": \\"pass\\"}", out); fclose(out); }
                _exit(0);
            }
            _exit(0);
        }
    }
"""


@pytest.mark.parametrize("level", list(Containment))
def test_a_detached_daemon_is_killed_and_named_and_cannot_touch_the_report(tmp_path: Path, level: str) -> None:
    plugin = hostile(tmp_path, "daemonizes", DAEMONIZES)
    target = tmp_path / "reports" / "daemonizes" / "report.json"
    # Every sandbox child that calls process_packet leaves a daemon. These 21 checks start children of each
    # kind (shared, alone, the leak check that names it); the rest of the battery would only start more alike.
    report = contained_run(
        tmp_path,
        plugin,
        "-k",
        "leaks.processes-left-running or lifecycle or wire-in.text",
        env={"SKC_DAEMON_TARGET": str(target), CONTAINMENT_ENV: level},
    )
    assert report["run"]["containment"] == level
    (check,) = checks_of(report, "leaks.processes-left-running")
    assert check["status"] == "fail", check
    assert "killed by the sandbox" in check["message"], check["message"]
    time.sleep(3.5)  # the daemon's delay: had it survived, it would have written by now
    assert '"verdict": "fail"' in target.read_text()


def test_a_helper_left_running_after_destroy_is_named(tmp_path: Path, fixture_so: Any) -> None:
    report = contained_run(tmp_path, fixture_so("c_spawns_helper"), "-k", "leaks.processes or lifecycle")
    (check,) = checks_of(report, "leaks.processes-left-running")
    assert check["status"] == "fail"
    assert "still running after destroy_instance" in check["message"], check["message"]


LIFTS_LIMITS = """
    struct rlimit limit;
    int which[2] = {RLIMIT_AS, RLIMIT_FSIZE};
    for (int i = 0; i < 2; i++) {
        if (getrlimit(which[i], &limit) == 0) { limit.rlim_cur = limit.rlim_max = RLIM_INFINITY; setrlimit(which[i], &limit); }
        if (getrlimit(which[i], &limit) == 0) { limit.rlim_cur = limit.rlim_max; setrlimit(which[i], &limit); }
    }
    size_t big = (size_t)9 << 29; /* 4.5 GiB */
    char *block = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block != MAP_FAILED) { for (size_t at = 0; at < big; at += 4096) block[at] = 1; }
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 16; i++) (void)!write(1, chunk, sizeof chunk);
"""


@pytest.mark.parametrize("level", list(Containment))
def test_limits_cannot_be_lifted_and_their_breach_is_named(tmp_path: Path, level: str) -> None:
    """As root too: without namespaces it is the dropped capabilities that keep the hard limits."""
    plugin = hostile(tmp_path, "lifts_limits", LIFTS_LIMITS)
    report = contained_run(tmp_path, plugin, "-k", "wire-in.text.ascii", env={CONTAINMENT_ENV: level})
    (check,) = checks_of(report, "wire-in.text.ascii")
    assert check["status"] == "crash", check
    assert "limit" in check["message"] and "process_packet" in check["message"], check["message"]


def test_the_fallback_is_reported_when_forced(tmp_path: Path, fixture_so: Any) -> None:
    done, report = battery(
        tmp_path, fixture_so("conforming_processor"), "-k", "load", env={CONTAINMENT_ENV: Containment.SUBREAPER}
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert report["run"]["containment"] == Containment.SUBREAPER
