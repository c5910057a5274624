"""Plain-text rendering of one check result, for pytest's failure section, JUnit and the CLI.

pytest's ``--junitxml`` puts this text into each failing test case's
``<failure>`` element, so it has to carry the evidence itself: a CI page
showing only the JUnit file must be enough to see why a check failed and how
to reproduce it.
"""

from __future__ import annotations

from conformance.checks.model import Status
from conformance.checks.result import CheckResult

_EVIDENCE_ORDER = ("in_flight", "signal", "panic", "violations", "expectations", "stack_tool")


def failure_text(result: CheckResult) -> str:
    lines = [f"{result.id} [{result.severity}, {result.category}] {result.status.upper()}: {result.message}"]
    if result.abi_ref:
        lines.append(f"  rule: {result.abi_ref}")
    evidence = result.evidence
    for key in _EVIDENCE_ORDER:
        if key not in evidence or evidence[key] in (None, "", []):
            continue
        value = evidence[key]
        if key == "expectations":
            failed = [item for item in value if not item["ok"]]
            for item in failed[:10]:
                lines.append(f"  expected: {item['what']}" + (f" -- {item['detail']}" if item["detail"] else ""))
            continue
        if key == "violations":
            for item in value[:10]:
                lines.append(f"  violation {item['rule']}: {item['detail']}")
            continue
        lines.append(f"  {key}: {value}")
    if evidence.get("exit_code") not in (None, 0):
        lines.append(f"  exit code: {evidence['exit_code']}")
    if len(set(result.attempts)) > 1:
        lines.append(f"  attempts: {', '.join(result.attempts)}")
    logs = evidence.get("logs") or []
    if logs and result.status is not Status.PASS:
        lines.append(f"  plugin log (last {min(len(logs), 5)} of {len(logs)}):")
        lines.extend("    " + _log_line(entry) for entry in logs[-5:])
    stacks = evidence.get("stacks")
    if stacks:
        lines.append("  native stacks (gdb; interpreter frames omitted):")
        lines.extend("    " + line for line in native_frames(str(stacks))[:40])
    tail = evidence.get("stderr_tail")
    if tail:
        lines.append("  plugin stderr (tail):")
        lines.extend("    " + line for line in str(tail).strip().splitlines()[-10:])
    if result.repro:
        lines.append(f"  reproduce: {result.repro}")
    return "\n".join(lines)


_LEVELS = {0: "TRACE", 1: "DEBUG", 2: "INFO", 3: "WARN", 4: "ERROR"}


def _log_line(entry: object) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    raw_level = entry.get("level")
    level = _LEVELS.get(raw_level, str(raw_level)) if isinstance(raw_level, int) else str(raw_level)
    during = f" (during {entry['during']})" if entry.get("during") else ""
    return f"{level} {entry.get('target', '')}: {entry.get('message', '')}{during}"


_INTERPRETER_MARKERS = ("_cffi_backend", "libpython", "Python/", "Objects/", "Modules/", "_PyEval", "Py_")


def native_frames(stacks: str) -> list[str]:
    """Each thread's frames down to where the interpreter starts: the plugin's part of the stack."""
    kept: list[str] = []
    skipping = False
    for line in stacks.splitlines():
        if line.startswith("Thread "):
            kept.append(line)
            skipping = False
        elif not skipping:
            if any(marker in line for marker in _INTERPRETER_MARKERS):
                skipping = True
                continue
            kept.append(line)
    return kept
