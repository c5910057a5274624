"""The likely root cause of a plugin that crashed in several checks (issue 15, class 1).

When a plugin crashes on ordinary traffic, every check that sends ordinary
traffic crashes the same way, and the report fills with copies of one
SIGSEGV. What names the broken rule is elsewhere: the *narrowest* failing
checks (the ones that send one specific, unusual input, such as a
BinaryWithMeta with NULL content_type, or a NULL alloc result) and the
differential minimisation of the crashing packet (``checks.minimise``).
This module picks them, so the report can say so in one line.

Narrowness, from narrowest:

0. a targeted check whose own input made it fail (not the ordinary packet
   triage saw crash) and whose rationale names the field the minimisation
   found;
1. any other targeted check that failed on its own input;
2. a targeted check that failed on ordinary traffic;
3. the whole-entry-point and whole-process categories (panics, timeouts,
   leaks, threading, logging, lifecycle, load): they drive ordinary traffic
   or the process as a whole, so they are the least specific.
"""

from __future__ import annotations

import re
from typing import Any

#: Categories whose checks drive whole entry points or the whole process, never one specific input.
BROAD_CATEGORIES = frozenset({"load", "lifecycle", "panics", "timeouts", "threading", "logging", "leaks"})
FAILED = ("fail", "crash", "timeout")
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


def _rank(check: dict[str, Any], ordinary: str | None, fields: set[str], rationale: str) -> int:
    if check["category"] in BROAD_CATEGORIES:
        return 3
    in_flight = check.get("evidence", {}).get("in_flight") or {}
    if ordinary is not None and in_flight.get("detail") == ordinary:
        return 2
    if fields and any(field in rationale for field in fields):
        return 0
    return 1


def root_cause(checks: list[dict[str, Any]], rationales: dict[str, str]) -> dict[str, Any] | None:
    """The narrowest failing checks and the crash difference; None unless at least two checks crashed."""
    if sum(1 for check in checks if check["status"] == "crash") < 2:
        return None
    difference = _difference(checks)
    ordinary = difference.get("packet") if difference else None
    fields = _field_words(difference)
    failing = [check for check in checks if check["status"] in FAILED]
    ranked = sorted(
        enumerate(failing),
        key=lambda pair: (_rank(pair[1], ordinary, fields, rationales.get(pair[1]["check_id"], "")), pair[0]),
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
