"""Plugins that attack the harness instead of failing a check: the verdict and the exit status still agree.

These plugins are built here from a few lines of C on the reference echo (``c_common/skfix_c.h``), not
kept in the corpus: what they break is the tool's process tree, not a rule of ABI.md.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.fixtures import FIXTURE_ROOT
from conformance.sandbox.event_codec import TOKEN_BYTES, encode_event
from conformance.scenario.events import ScenarioDone

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the hostile plugins")

KILLS_ITS_PARENT = """
#include "c_common/skfix_c.h"
#include <signal.h>
#include <unistd.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "kills_parent", "Text echo that kills its parent process")
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static CResult process_packet(CPluginHandle handle, const char *pin, const CPacket *packet, const CNodeCallbacks *cb) {
    kill(getppid(), SIGKILL);
    return skfix_text_echo_process(handle, pin, packet, cb);
}
SKFIX_PROCESSOR_API(API, get_metadata, process_packet)
SKFIX_EXPORT_API(API)
"""


def build(tmp_path: Path, name: str, source: str) -> Path:
    source_file = tmp_path / f"{name}.c"
    source_file.write_text(source)
    library = tmp_path / f"lib{name}.so"
    command = ["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-pthread", "-I", str(FIXTURE_ROOT)]
    command += ["-I", str(FIXTURE_ROOT / "include")]
    subprocess.run([*command, str(source_file), "-o", str(library)], check=True, capture_output=True)
    return library


def battery(
    tmp_path: Path, plugin: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``pytest --plugin`` as a plugin author runs it, from ``tmp_path``; the run and the plugin's report."""
    report_dir = tmp_path / "reports"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--report-dir={report_dir}"]
    done = subprocess.run(
        [*command, f"--plugin={plugin}", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )
    label = plugin.name.removeprefix("lib").removesuffix(".so")
    report: dict[str, Any] = json.loads((report_dir / label / "report.json").read_text())
    return done, report


def test_killing_the_sandbox_server_fails_the_run_and_names_the_call(tmp_path: Path) -> None:
    """In its namespace the server is PID 1, which a plugin cannot kill; the attempt is refused and named.

    The fallback without namespaces, where the signal does reach the server, is tests/test_watchdog.py's.
    """
    plugin = build(tmp_path, "kills_parent", KILLS_ITS_PARENT)
    # Only the text checks are read: the rest of the battery would add a crashed child per packet check.
    done, report = battery(tmp_path, plugin, "-k", "wire-in.text")
    assert report["verdict"] == "fail"
    assert done.returncode == 1, done.stdout[-2000:]  # never 0 beside a failing report
    packet_checks = [check for check in report["checks"] if check["id"].startswith("wire-in.text")]
    assert packet_checks and all(check["status"] == "crash" for check in packet_checks), packet_checks
    message = packet_checks[0]["message"]
    assert "SIGSYS in process_packet" in message and "kill(1, SIGKILL)" in message, message


WRITES_TO_EVERY_DESCRIPTOR = """
#include "c_common/skfix_c.h"
#include <unistd.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "@NAME@", "Text echo that writes forged frames to every descriptor it may hold")
static const unsigned char FRAME[] = {@FRAME@};
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static CResult process_packet(CPluginHandle handle, const char *pin, const CPacket *packet, const CNodeCallbacks *cb) {
    for (int fd = 0; fd <= 64; fd++) (void)!write(fd, FRAME, sizeof FRAME);
    if (@EXIT@) _exit(0);  /* "done": the forged completion, then a clean exit in the middle of the call */
    return skfix_text_echo_process(handle, pin, packet, cb);
}
SKFIX_PROCESSOR_API(API, get_metadata, process_packet)
SKFIX_EXPORT_API(API)
"""


class _MakesADirectory:
    """Unpickled by a default loader, this calls ``os.mkdir(path)``: code of the plugin's choosing."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.path,))


def _old_pickle_frames(marker: Path) -> bytes:
    """What the event channel carried before it was JSON: a code-running pickle, then a forged completion."""
    payloads = [pickle.dumps(_MakesADirectory(str(marker))), pickle.dumps(ScenarioDone())]
    return b"".join(struct.pack("<I", len(payload)) + payload for payload in payloads)


def _forged_json_frames(marker: Path) -> bytes:
    """Well-formed frames of today's channel with a forged completion: one with no token, one with a guessed one."""
    return encode_event(ScenarioDone(frames=0), bytes(TOKEN_BYTES), 0) + encode_event(
        ScenarioDone(frames=3), os.urandom(TOKEN_BYTES), 3
    )


def _junk(marker: Path) -> bytes:
    return random.Random(19).randbytes(200)


FORGERIES = {
    "old-pickle-frames": (_old_pickle_frames, True),
    "forged-json-completion": (_forged_json_frames, True),
    "random-junk": (_junk, False),
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_frames_written_to_every_descriptor_are_the_plugins_fault(tmp_path: Path, forgery: str) -> None:
    """A pickle runs nothing, a forged completion completes nothing, junk is junk: each is a failure of the
    checks that deliver packets, naming process_packet, and the run fails."""
    marker = tmp_path / "the-plugin-ran-code-in-the-harness"
    make_frames, exits = FORGERIES[forgery]
    source = (
        WRITES_TO_EVERY_DESCRIPTOR.replace("@NAME@", "forges_frames")
        .replace("@FRAME@", ", ".join(str(byte) for byte in make_frames(marker)))
        .replace("@EXIT@", "1" if exits else "0")
    )
    plugin = build(tmp_path, "forges_frames", source)
    done, report = battery(tmp_path, plugin, "-k", "wire-in.text or probe or load")
    assert not marker.exists(), "a frame written by the plugin ran code in the harness"
    checks = {check["id"]: check for check in report["checks"]}
    delivering = [check for name, check in checks.items() if name.startswith("wire-in.text.")]
    assert delivering, sorted(checks)
    for check in delivering:
        assert check["status"] == "fail", check["message"]
        assert "wrote to the host's event channel in process_packet" in check["message"]
    assert not any(check["status"] == "error" for check in checks.values()), done.stdout[-2000:]
    assert report["verdict"] == "fail" and done.returncode == 1, done.stdout[-2000:]


HUGE_DESCRIPTION = """
#include "c_common/skfix_c.h"
#include <string.h>
SKFIX_TEXT_ECHO_METADATA(TEMPLATE, "huge_description", "replaced at load")
#define DESCRIPTION_BYTES (80u << 20)
static char DESCRIPTION[DESCRIPTION_BYTES + 1];
static CNodeMetadata METADATA;
__attribute__((constructor)) static void fill_description(void) {
    /* at load: get_metadata stays fast, and the pointer and its bytes stay the same for the library's life */
    memset(DESCRIPTION, 'd', DESCRIPTION_BYTES);
    METADATA = TEMPLATE;
    METADATA.description = DESCRIPTION;
}
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
SKFIX_PROCESSOR_API(API, get_metadata, skfix_text_echo_process)
SKFIX_EXPORT_API(API)
"""


# Slow: 80 MiB (past metadata.threads' 64 MiB per thread) read by every metadata check, about 20 s of CPU.
# The developer loop keeps the metadata category through tests/test_categories.py.
@pytest.mark.slow
def test_an_80_mib_description_is_read_in_full_never_called_unreadable(tmp_path: Path) -> None:
    """The ABI sets no length limit on a string; a long, valid and stable one is not a pointer problem."""
    plugin = build(tmp_path, "huge_description", HUGE_DESCRIPTION)
    done, report = battery(tmp_path, plugin, "-k", "metadata or load")
    assert "unreadable" not in json.dumps(report["checks"])
    # A warning (a call slower than its threshold on a busy machine) is not this test's concern.
    failing = [check["id"] for check in report["checks"] if check["status"] not in ("pass", "skip", "warn")]
    assert failing == [] and report["verdict"] == "pass" and done.returncode == 0, (failing, done.stdout[-2000:])


CRASHES_IN_ITS_FIRST_PROCESS = """
#include "c_common/skfix_c.h"
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "crash_once", "Text echo that aborts in the first process that sends it a packet")
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static CResult process_packet(CPluginHandle handle, const char *pin, const CPacket *packet, const CNodeCallbacks *cb) {
    const char *marker = getenv("CRASH_ONCE_MARKER");
    int fd = marker != NULL ? open(marker, O_CREAT | O_EXCL | O_WRONLY, 0600) : -1;
    if (fd >= 0) {  /* the first process of the run to get here, and only that one */
        close(fd);
        abort();
    }
    return skfix_text_echo_process(handle, pin, packet, cb);
}
SKFIX_PROCESSOR_API(API, get_metadata, process_packet)
SKFIX_EXPORT_API(API)
"""


def test_a_crash_only_in_the_first_process_stays_in_the_verdict(tmp_path: Path) -> None:
    """Triage is the first process that sends a packet; every later check passes. The crash it saw is
    reported (flaky: intermittent), the verdict fails and so does the exit status."""
    plugin = build(tmp_path, "crash_once", CRASHES_IN_ITS_FIRST_PROCESS)
    marker = {"CRASH_ONCE_MARKER": str(tmp_path / "crashed-once")}
    done, report = battery(tmp_path, plugin, "-k", "panics or wire-in.text", env=marker)
    checks = {check["id"]: check for check in report["checks"]}
    replay = checks["panics.first-process-crash"]
    assert replay["status"] == "flaky", replay["message"]
    assert "SIGABRT" in replay["message"] and "process_packet" in replay["message"]
    assert replay["evidence"]["triage_crash"]["entry"] == "process_packet"
    assert all(check["status"] in ("pass", "skip") for name, check in checks.items() if name != replay["id"])
    assert report["verdict"] == "fail" and done.returncode == 1, done.stdout[-2000:]
