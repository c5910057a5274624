"""From a sandbox result to a judgement: what happened in the child, as a status, a message and evidence.

The rules every later decision shares (fail or warn, reruns, baselines) are
``checks.verdict``; whether a check applies at all is ``checks.applicability``.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.model import Check, Judgement, Status
from conformance.checks.monitors import EVIDENCE_KEY, unowned
from conformance.checks.verdict import failure_status
from conformance.sandbox.classify import describe_call, undefined_symbol_text, unresolved_symbol
from conformance.sandbox.faults import parse_fault, parse_refused_signal
from conformance.scenario.events import (
    CallFinished,
    Expect,
    GuardRegion,
    HarnessError,
    LoadFailed,
    LogSeen,
    Observed,
    Skipped,
    StreamCorrupted,
    Violation,
)
from conformance.scenario.protocol import Outcome, SandboxResult

MAX_EVIDENCE_ITEMS = 40
#: Faults below this address are a NULL pointer plus a small field offset.
NULL_PAGE = 4096
#: Waits after the library was closed (lifecycle.threads-stopped): a jump to a stray address there is a
#: plugin thread left running in unmapped code.
AFTER_UNLOAD = frozenset({"join"})


def _evidence(result: SandboxResult) -> dict[str, Any]:
    calls = [
        {"entry": e.entry, "duration_s": round(e.duration_s, 6), "thread": e.thread}
        for e in result.events
        if isinstance(e, CallFinished)
    ]
    logs = [
        {"level": e.level, "target": e.target, "message": e.message, "thread": e.thread, "during": e.during}
        for e in result.events
        if isinstance(e, LogSeen) and not e.enabled_query
    ]
    evidence: dict[str, Any] = {
        "outcome": result.outcome.value,
        "calls": calls[:MAX_EVIDENCE_ITEMS],
        "call_count": len(calls),
        "logs": logs[:MAX_EVIDENCE_ITEMS],
        "log_count": len(logs),
        "observations": {e.key: e.value for e in result.events if isinstance(e, Observed)},
    }
    violations = [
        {"rule": e.rule, "detail": e.detail, "during": e.during} for e in result.events if isinstance(e, Violation)
    ]
    if violations:
        evidence["violations"] = violations[:MAX_EVIDENCE_ITEMS]
    expectations = [{"ok": e.ok, "what": e.what, "detail": e.detail} for e in result.events if isinstance(e, Expect)]
    if expectations:
        evidence["expectations"] = expectations[:MAX_EVIDENCE_ITEMS]
    if result.in_flight is not None:
        evidence["in_flight"] = {
            "entry": result.in_flight.entry,
            "detail": result.in_flight.detail,
            "thread": result.in_flight.thread,
        }
    if result.signal_name:
        evidence["signal"] = result.signal_name
    if result.exit_code is not None:
        evidence["exit_code"] = result.exit_code
    if result.panic_message:
        evidence["panic"] = result.panic_message
    if result.stacks is not None or result.stack_tool:
        evidence["stacks"] = result.stacks
        evidence["stack_tool"] = result.stack_tool
    if result.stderr_tail:
        evidence["stderr_tail"] = result.stderr_tail[-4000:]
    if result.resource:
        evidence["resource"] = result.resource
    if result.budget_extensions:
        # The machine was busy: the call was runnable but not scheduled for this long (sandbox/deadlines.py).
        evidence["budget_extensions_s"] = [round(extension, 3) for extension in result.budget_extensions]
    return evidence


def explain_fault(result: SandboxResult) -> tuple[str, dict[str, Any]] | None:
    """Name the host buffer a segmentation fault hit, from the reporter's line and the announced regions."""
    fault = parse_fault(result.stderr_tail)
    if fault is None:
        return None
    detail: dict[str, Any] = {"address": f"0x{fault.address:x}", "access": fault.access, "signal": fault.signal}
    entry = result.in_flight.entry if result.in_flight is not None else "the plugin"
    for region in result.events_of(GuardRegion):
        if region.kind == "struct":
            if fault.access == "exec" and region.body_start <= fault.address < region.body_end:
                detail["region"] = _region_evidence(region)
                return _called_struct(region.label, entry), detail
            continue
        if region.guard_start <= fault.address < region.guard_end:
            detail["region"] = _region_evidence(region)
            if region.kind == "alloc":
                verb = "wrote" if fault.access == "write" else "read"
                return f"{verb} past the end of an {region.label} in {entry}", detail
            return f"read past the end of host-owned input ({region.label}) in {entry}", detail
        if region.body_start - 4096 <= fault.address < region.body_end and not region.writable:
            detail["region"] = _region_evidence(region)
            return f"wrote into host-owned input ({region.label}), which is const, in {entry}", detail
    if fault.address < NULL_PAGE and fault.access in ("read", "write"):
        verb = "wrote" if fault.access == "write" else "read"
        return f"{verb} through a NULL pointer (address 0x{fault.address:x}) in {entry}", detail
    if fault.access == "exec" and entry in AFTER_UNLOAD:
        return (
            f"jumped to 0x{fault.address:x}, which is no longer code: a plugin thread ran on in the closed library",
            detail,
        )
    if fault.access == "exec":
        return (
            f"jumped to 0x{fault.address:x}, which is not code (a data pointer called as a function) in {entry}",
            detail,
        )
    return None


def _region_evidence(region: GuardRegion) -> dict[str, Any]:
    return {
        "kind": region.kind,
        "label": region.label,
        "body": [region.body_start, region.body_end],
        "guard": [region.guard_start, region.guard_end],
        "writable": region.writable,
    }


def _called_struct(label: str, entry: str) -> str:
    """A jump into the callbacks bundle: the plugin calls the struct pointer itself, as pre-v6 code did."""
    if label == "CNodeCallbacks struct":
        return (
            f"called the CNodeCallbacks pointer as a function in {entry}: the plugin was built against the "
            "pre-v6 signature (positional output_callback, user data and telemetry arguments); since v6 "
            "the last argument is a const CNodeCallbacks * (ABI.md 2.1, 3.3)"
        )
    return f"jumped into the host's {label} (a data pointer called as a function) in {entry}"


def judge(check: Check, result: SandboxResult) -> Judgement:
    evidence = _evidence(result)
    # Violations of rules other checks own: the monitors credit them to those checks (checks.monitors).
    foreign = unowned(check, ((v.rule, v.detail, v.during) for v in result.events_of(Violation)))
    if foreign:
        evidence[EVIDENCE_KEY] = foreign
    where = describe_call(result.in_flight)
    corrupt = result.events_of(StreamCorrupted)
    if corrupt:  # the first thing to name: whatever followed, the plugin forged or broke the host's channel
        return Judgement(
            Status.FAIL,
            f"the plugin wrote to the host's event channel {where}, a descriptor it inherited: "
            f"corrupt event stream: {corrupt[0].detail}",
            evidence,
        )
    if result.outcome is Outcome.TIMED_OUT:
        return Judgement(Status.TIMEOUT, f"timed out: {result.detail} ({where})", evidence)
    if result.outcome is Outcome.CRASHED:
        message = f"crashed with {result.signal_name} {where}"
        if result.panic_message:
            message += f": panic crossed the FFI boundary: {result.panic_message}"
        refused = parse_refused_signal(result.stderr_tail) if result.signal_name == "SIGSYS" else None
        if refused is not None:
            message += f": it called {refused}, which the sandbox refuses (a plugin may signal only itself and the processes it started)"
        explained = explain_fault(result)
        if explained is not None:
            message += f": {explained[0]}"
            evidence["fault"] = {**explained[1], "explanation": explained[0]}
        return Judgement(Status.CRASH, message, evidence)
    if result.outcome is Outcome.EXITED:
        message = f"the process exited with code {result.exit_code} {where}"
        unresolved = unresolved_symbol(result.stderr_tail)
        if unresolved is not None:
            symbol, library = unresolved
            evidence["undefined_symbol"] = {"symbol": symbol, "library": library}
            message += f": {undefined_symbol_text(symbol)} (the dynamic linker's symbol lookup error)"
        return Judgement(Status.CRASH, message, evidence)
    if result.outcome is Outcome.RESOURCE_LIMIT:
        return Judgement(Status.CRASH, f"hit the {result.resource} limit {where}", evidence)
    errors = result.events_of(HarnessError)
    if result.outcome is Outcome.HARNESS_ERROR or errors:
        detail = errors[0].message if errors else result.detail
        if errors and errors[0].traceback:
            evidence["traceback"] = errors[0].traceback
        return Judgement(Status.ERROR, f"validator error (please report it): {detail}", evidence)
    skipped = result.events_of(Skipped)
    if skipped:
        return Judgement(Status.SKIP, skipped[0].reason, evidence)
    load_failed = result.events_of(LoadFailed)
    if load_failed:
        return Judgement(Status.SKIP, f"not loadable: {load_failed[0].message}", evidence)
    failures: list[str] = []
    warnings: list[str] = []
    for expectation in result.events_of(Expect):
        if expectation.ok:
            continue
        text = expectation.what + (f": {expectation.detail}" if expectation.detail else "")
        (warnings if expectation.warn_only else failures).append(text)
    for violation in result.events_of(Violation):
        if any(violation.rule.startswith(prefix) for prefix in check.owns_violations):
            during = f" (during {violation.during})" if violation.during else ""
            failures.append(f"{violation.detail}{during}")
    if failures:
        return Judgement(failure_status(check.severity), "; ".join(dict.fromkeys(failures)), evidence)
    if warnings:
        return Judgement(Status.WARN, "; ".join(dict.fromkeys(warnings)), evidence)
    return Judgement(Status.PASS, "ok", evidence)
