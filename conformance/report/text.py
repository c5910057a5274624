"""Plain-text rendering of one check result, for pytest's failure section and the CLI."""

from __future__ import annotations

from conformance.report.model import CheckResult

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
