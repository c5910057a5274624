"""Race mode (helgrind/DRD) and memcheck mode: one scenario under valgrind, findings inside the plugin.

A scenario runs in a process of its own under the tool (``sandbox.solo``);
valgrind writes XML, and only the errors with a stack frame inside the
plugin's shared object are reported: interpreter and cffi noise is
suppressed by the shipped suppression file and then filtered out.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from conformance.sandbox.event_codec import decode_result
from conformance.sandbox.framing import FrameError
from conformance.scenario.protocol import Outcome, SandboxResult, ScenarioRequest

TOOLS = ("helgrind", "drd", "memcheck")
#: The error kinds each tool's mode reports (helgrind's "Misc" API-misuse reports come from the
#: interpreter's own lock handling and are not plugin findings).
REPORTED_KINDS = {
    "helgrind": ("Race",),
    "drd": ("ConflictingAccess",),
    "memcheck": (
        "Leak_DefinitelyLost",
        "InvalidWrite",
        "InvalidRead",
        "InvalidFree",
        "MismatchedFree",
        "UninitCondition",
        "UninitValue",
        "SyscallParam",
        "Overlap",
    ),
}
VALGRIND_TIMEOUT_S = 600.0


class ValgrindMissing(Exception):
    """valgrind is not installed; the message is one line naming the package."""


@dataclass(frozen=True)
class Frame:
    function: str
    obj: str
    location: str


@dataclass(frozen=True)
class Finding:
    kind: str
    what: str
    frames: tuple[Frame, ...]

    def plugin_frames(self, plugin: str) -> list[Frame]:
        return [frame for frame in self.frames if _same_file(frame.obj, plugin)]


@dataclass
class ValgrindRun:
    tool: str
    duration_s: float
    findings: list[Finding] = field(default_factory=list)
    result: SandboxResult | None = None
    error: str = ""

    def as_evidence(self, plugin: str) -> dict[str, object]:
        return {
            "tool": self.tool,
            "duration_s": round(self.duration_s, 2),
            "findings": [
                {
                    "kind": f.kind,
                    "what": f.what,
                    "plugin_frames": [f"{fr.function} ({fr.location or fr.obj})" for fr in f.plugin_frames(plugin)],
                }
                for f in self.findings
            ],
            "error": self.error,
        }


def _same_file(left: str, right: str) -> bool:
    try:
        return bool(left) and os.path.realpath(left) == os.path.realpath(right)
    except OSError:
        return False


def valgrind_path() -> str:
    found = shutil.which("valgrind")
    if found is None:
        raise ValgrindMissing("this mode needs valgrind, which is not installed (apt-get install valgrind)")
    return found


#: How the shipped suppression file names the interpreter's object.
_LIBPYTHON_PATTERN = "obj:*libpython3*"


def shipped_suppressions() -> str:
    return resources.files("conformance").joinpath("data/valgrind-python.supp").read_text()


def interpreter_suppressions(shipped: str, interpreter: str) -> str:
    """The shipped interpreter entries again, naming ``interpreter`` itself.

    The shipped file names the interpreter as ``libpython3``, which fits a
    build with a shared libpython (pyenv, python.org). Debian's and many
    distributions' ``python3`` links the interpreter into the executable, so
    its frames are in ``/usr/bin/python3.11`` and none of those entries
    matched: helgrind's reports of the GIL hand-over inside a plugin's
    callback then counted as races in the plugin. valgrind names an object
    by its real path, so the copies use the resolved executable.
    """
    blocks = re.findall(r"\{[^{}]*\}", shipped)
    copies = []
    for block in blocks:
        if _LIBPYTHON_PATTERN not in block:
            continue
        renamed = block.replace(_LIBPYTHON_PATTERN, f"obj:{interpreter}")
        copies.append(re.sub(r"\{\s*(\S+)", lambda m: "{\n   " + m.group(1) + "-executable", renamed, count=1))
    return "\n".join(copies) + "\n"


def write_suppressions(work: Path) -> list[Path]:
    """The suppression files for one run: the shipped file and its copies for this interpreter."""
    shipped = shipped_suppressions()
    files = [work / "python.supp", work / "interpreter.supp"]
    files[0].write_text(shipped)
    files[1].write_text(interpreter_suppressions(shipped, os.path.realpath(sys.executable)))
    return files


def parse_xml(text: str) -> list[Finding]:
    findings = []
    root = ElementTree.fromstring(text)
    for error in root.iter("error"):
        kind = error.findtext("kind") or ""
        what = error.findtext("what") or error.findtext("xwhat/text") or ""
        frames = []
        for frame in error.iter("frame"):
            location = ""
            if frame.findtext("file"):
                location = f"{frame.findtext('file')}:{frame.findtext('line')}"
            frames.append(Frame(frame.findtext("fn") or "??", frame.findtext("obj") or "", location))
        findings.append(Finding(kind, what, tuple(frames)))
    return findings


def run_under(tool: str, request: ScenarioRequest) -> ValgrindRun:
    """Run ``request`` once under ``tool``; findings keep only errors with a frame in the plugin."""
    if tool not in TOOLS:
        raise ValueError(f"unknown valgrind tool {tool!r}")
    valgrind = valgrind_path()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="skc-valgrind-") as work:
        request_file = Path(work) / "request.pickle"
        result_file = Path(work) / "result.pickle"
        xml_file = Path(work) / "valgrind.xml"
        request_file.write_bytes(pickle.dumps(request))
        options = [
            f"--tool={tool}",
            "--xml=yes",
            f"--xml-file={xml_file}",
            *(f"--suppressions={path}" for path in write_suppressions(Path(work))),
            "--error-limit=no",
        ]
        if tool == "memcheck":
            options += ["--leak-check=full", "--show-leak-kinds=definite"]
        else:
            options += ["--fair-sched=try"]
        env = dict(os.environ, PYTHONMALLOC="malloc")
        command = [
            valgrind,
            *options,
            sys.executable,
            "-m",
            "conformance.sandbox.solo",
            str(request_file),
            str(result_file),
        ]
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                timeout=VALGRIND_TIMEOUT_S * request.budget_scale,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return ValgrindRun(tool, time.monotonic() - started, error=f"{tool} run did not finish in time")
        run = ValgrindRun(tool, time.monotonic() - started)
        if result_file.exists():
            try:  # the plugin ran in that process and could have written the file: decode it strictly
                run.result = decode_result(result_file.read_bytes())
            except FrameError as error:
                run.result = SandboxResult(Outcome.HARNESS_ERROR, (), run.duration_s, f"result file: {error}")
        else:
            run.result = SandboxResult(Outcome.CRASHED, (), run.duration_s, completed.stderr[-2000:])
        if xml_file.exists() and xml_file.stat().st_size:
            try:
                findings = parse_xml(xml_file.read_text(errors="replace"))
            except ElementTree.ParseError as error:
                run.error = f"unreadable {tool} output: {error}"
                findings = []
            run.findings = [
                f for f in findings if f.kind in REPORTED_KINDS[tool] and f.plugin_frames(request.plugin_path)
            ]
    return run
