"""The likely root cause of a plugin that crashed in several checks (issue 15, class 1).

When a plugin crashes on ordinary traffic, every check that sends ordinary
traffic crashes the same way, and the report fills with copies of one
SIGSEGV. What names the broken rule is elsewhere: the *narrowest* failing
checks (the ones that send one specific, unusual input, such as a
BinaryWithMeta with NULL content_type, or a NULL alloc result) and the
differential minimisation of the crashing packet (``checks.minimise``).
This module picks them, so the report can say so in one line.

Narrowness, from narrowest:

0. a targeted check that failed in the entry point it targets, on its own
   input (not the ordinary packet triage saw crash), and whose rationale
   names the field the minimisation found;
1. any other targeted check that failed in the entry point it targets, on
   its own input;
2. the panics/timeouts check of the entry point that failed (narrowest of
   all when the minimisation found that no field of the packet matters);
3. a targeted check that failed on the ordinary packet;
4. everything else: a check that failed in an entry point it only uses to
   get started (a wire-in check whose create_instance crashed), and the
   whole-process categories (load, threading, logging, leaks).
"""

from __future__ import annotations

import re
from typing import Any

from conformance.checks.model import Status

#: Categories whose checks observe the whole process, never one specific input.
BROAD_CATEGORIES = frozenset({"load", "threading", "logging", "leaks"})
#: The entry points each category targets: a failure elsewhere happened while getting started.
TARGETS: dict[str, frozenset[str]] = {
    "metadata": frozenset({"get_metadata"}),
    "lifecycle": frozenset({"create_instance", "set_log_enabled_callback", "destroy_instance", "get_source_config"}),
    "wire-in": frozenset({"process_packet"}),
    "wire-out": frozenset({"process_packet", "flush", "tick"}),
    "callbacks": frozenset({"process_packet", "flush", "tick"}),
    "errors": frozenset({"process_packet", "flush", "tick", "update_params", "get_runtime_param_schema"}),
    "params": frozenset({"update_params"}),
    "source": frozenset({"get_source_config", "tick", "on_upstream_hint", "process_packet", "flush"}),
    "schema": frozenset({"get_runtime_param_schema"}),
}
FAILED = frozenset({Status.FAIL, Status.CRASH, Status.TIMEOUT})
MAX_NAMED = 3


def _difference(checks: list[dict[str, Any]]) -> dict[str, Any] | None:
    for check in checks:
        difference = check.get("evidence", {}).get("crash_difference")
        if difference:
            return dict(difference)
    return None


def _fault(checks: list[dict[str, Any]]) -> str | None:
    """The first crash whose fault address the host could name (a host struct or buffer), in words."""
    for check in checks:
        fault = check.get("evidence", {}).get("fault") or {}
        if fault.get("explanation"):
            return str(fault["explanation"])
    return None


def _field_words(difference: dict[str, Any] | None) -> set[str]:
    """The field names the minimisation found ("content_type set" -> {"content_type"})."""
    if not difference:
        return set()
    words: set[str] = set()
    for side in difference.get("passes_with", []):
        words.update(word for word in re.findall(r"[a-z_]+", side) if "_" in word or word in ("metadata", "samples"))
    return words


def _rank(
    check: dict[str, Any], ordinary: str | None, fields: set[str], rationale: str, input_independent: bool
) -> int:
    category = check["category"]
    in_flight = check.get("evidence", {}).get("in_flight") or {}
    entry = in_flight.get("entry")
    if category in ("panics", "timeouts"):
        return 0 if input_independent else 2
    if category in BROAD_CATEGORIES or category not in TARGETS:
        return 4
    if entry is not None and entry not in TARGETS[category]:
        return 4
    if ordinary is not None and in_flight.get("detail") == ordinary:
        return 3
    if fields and any(field in rationale for field in fields):
        return 0
    return 1


def root_cause(checks: list[dict[str, Any]], rationales: dict[str, str]) -> dict[str, Any] | None:
    """The narrowest failing checks and the crash difference; None unless at least two checks crashed."""
    if sum(1 for check in checks if check["status"] == Status.CRASH) < 2:
        return None
    difference = _difference(checks)
    ordinary = difference.get("packet") if difference else None
    fields = _field_words(difference)
    # No field of the crashing packet mattered: the entry point's own panics check names it best.
    input_independent = (
        difference is not None and not difference.get("passes_with") and bool(difference.get("still_crashes_with"))
    )
    failing = [check for check in checks if check["status"] in FAILED]
    ranked = sorted(
        enumerate(failing),
        key=lambda pair: (
            _rank(pair[1], ordinary, fields, rationales.get(pair[1]["check_id"], ""), input_independent),
            pair[0],
        ),
    )
    named: list[str] = []
    for _, check in ranked:
        if check["check_id"] not in named:
            named.append(check["check_id"])
        if len(named) == MAX_NAMED:
            break
    fault = _fault(checks)
    summary = "likely root cause: " + ", ".join(named)
    if fault:
        summary += f"; {fault}"
    if difference:
        summary += f"; {difference['sentence']}"
    return {
        "checks": named,
        "difference": difference["sentence"] if difference else None,
        "fault": fault,
        "failing": len(failing),
        "summary": summary,
    }
