"""The summary `conformance check` prints after a run: per plugin, then totals.

A plugin author reads this in a terminal or a CI log, often without opening
the report. So every failure carries what to do next (``reproduce:`` and
``explain:`` lines), failures that share one root cause (the same status and
message, such as one panic seen by thirteen checks) are listed once with the
checks they cover, messages are shortened at a word with an ellipsis, and an
incomplete or empty run says so in the first word of its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from conformance.checks.model import Severity, Status
from conformance.report.present import baseline_line, blocking

MESSAGE_LIMIT = 160
MAX_GROUPS = 15
CHECKS_PER_GROUP = 6


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """One line of at most ``limit`` characters, cut at a word boundary and marked with an ellipsis."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "\u2026"


@dataclass
class FailureGroup:
    """Failures with one root cause: the same status and message."""

    status: str
    message: str
    checks: list[dict[str, Any]] = field(default_factory=list)


_QUOTED_ERROR = re.compile(r"error: '([^']+)'")


def root_cause(check: dict[str, Any]) -> str:
    """What made the check fail, without the check's own words: a panic, a signal, the plugin's error text.

    Thirteen checks that each saw one panic in process_packet state thirteen
    different expectations; what the author has to fix is the panic.
    """
    evidence = check.get("evidence") or {}
    message = " ".join(str(check.get("message", "")).split())
    if evidence.get("panic"):
        return f"panic: {' '.join(str(evidence['panic']).split())}"
    if evidence.get("signal"):
        return f"{evidence['signal']} during {evidence.get('in_flight') or 'a plugin call'}"
    match = _QUOTED_ERROR.search(message)
    return match.group(1) if match else message


def group_failures(checks: list[dict[str, Any]]) -> list[FailureGroup]:
    """Group in report (catalogue) order; the first check of a group is the one to reproduce."""
    groups: dict[tuple[str, str], FailureGroup] = {}
    for check in checks:
        key = (check["status"], root_cause(check))
        groups.setdefault(key, FailureGroup(key[0], key[1])).checks.append(check)
    return list(groups.values())


def headline(report: dict[str, Any]) -> str:
    """``name: VERDICT (grade G) - vN kind``, with INCOMPLETE/NOTHING CHECKED/NOT LOADABLE first."""
    plugin = report["plugin"]
    verdict = str(report["verdict"]).upper()
    run = report.get("run") or {}
    if report["verdict"] == "none":
        state = "NOTHING CHECKED (no check was selected)"
    elif not plugin.get("loadable", True):
        state = "NOT LOADABLE"
    elif not report.get("complete", True):
        finished, selected = run.get("items_finished"), run.get("items_selected")
        of = f" after {finished} of {selected} checks" if selected else f" after {finished} checks"
        failures = sum(1 for check in report["checks"] if blocking(check))
        state = f"INCOMPLETE (interrupted{of}; no verdict, {failures} required failure{'s' if failures != 1 else ''} so far)"
    else:
        state = f"{verdict} (grade {report.get('grade', '-')})"
    version = plugin.get("api_version")
    identity = f"v{version if version is not None else '?'} {plugin.get('node_kind') or ''} {plugin.get('kind') or ''}"
    return f"{plugin['name']}: {state} - {identity}".rstrip()


def _failure_lines(report: dict[str, Any], failing: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    groups = group_failures(failing)
    for group in groups[:MAX_GROUPS]:
        first = group.checks[0]
        classes = {str(check["baseline"]) for check in group.checks if check.get("baseline")}
        mark = f" [{'/'.join(sorted(classes))}]" if classes else ""
        if len(group.checks) == 1:
            lines.append(f"  {group.status.upper():8s} {first['id']}{mark}: {shorten(first['message'])}")
        else:
            names = ", ".join(check["id"] for check in group.checks[:CHECKS_PER_GROUP])
            more = f" and {len(group.checks) - CHECKS_PER_GROUP} more" if len(group.checks) > CHECKS_PER_GROUP else ""
            lines.append(
                f"  {group.status.upper():8s} {len(group.checks)} checks, one cause{mark}: {shorten(group.message)}"
            )
            lines.append(f"           checks: {names}{more}")
        if first.get("repro"):
            lines.append(f"           reproduce: {first['repro']}")
        lines.append(f"           explain:   conformance explain {first['id'].split('[', 1)[0]}")
    if len(groups) > MAX_GROUPS:
        rest = sum(len(group.checks) for group in groups[MAX_GROUPS:])
        lines.append(f"  ... and {rest} more required failures ({len(groups) - MAX_GROUPS} causes): see the report")
    return lines


def render_plugin(report: dict[str, Any], path: str) -> str:
    """The block for one plugin."""
    plugin = report["plugin"]
    lines = [headline(report)]
    matrix = report.get("host_matrix") or []
    if matrix and report.get("complete", True):  # an interrupted run cannot clear a host
        cells = ", ".join(f"v{m['host_version']} {'compatible' if m['compatible'] else 'INCOMPATIBLE'}" for m in matrix)
        lines.append(f"  hosts: {cells}")
    if plugin.get("load_problem"):
        lines.append(f"  {plugin['load_problem']}")
    if report.get("root_cause"):
        lines.append(f"  {report['root_cause']['summary']}")
    failing = [check for check in report["checks"] if blocking(check)]
    lines.extend(_failure_lines(report, failing))
    warned = [
        check
        for check in report["checks"]
        if check["status"] == Status.WARN
        or (check["severity"] != Severity.REQUIRED and check["status"] in (Status.FAIL, Status.CRASH, Status.TIMEOUT))
    ]
    if warned:
        lines.append(
            f"  {len(warned)} warning(s): "
            + ", ".join(check["id"] for check in warned[:8])
            + (" ..." if len(warned) > 8 else "")
        )
    lines.extend(_baseline_lines(report))
    lines.append(f"  report: {path}")
    return "\n".join(lines)


def _baseline_lines(report: dict[str, Any]) -> list[str]:
    section = report.get("baseline")
    if not section:
        return []
    lines = [f"  baseline {section['file']}: {baseline_line(report)} -> {section['outcome'].upper()}"]
    for key, meaning in (("new", "not accepted"), ("known", "accepted"), ("improved", "now pass, entry can go")):
        if section[key]:
            names = ", ".join(section[key][:8]) + (" ..." if len(section[key]) > 8 else "")
            lines.append(f"    {key} ({meaning}): {names}")
    for entry in section.get("expired", []):
        lines.append(f"    expired: {entry.get('check')} (expired {entry.get('expires')}; fails the run)")
    return lines


def render_totals(reports: list[dict[str, Any]]) -> str:
    """The last line of a run over several plugins."""
    verdicts: dict[str, int] = {}
    for report in reports:
        key = "incomplete" if not report.get("complete", True) else str(report["verdict"])
        verdicts[key] = verdicts.get(key, 0) + 1
    failures = sum(1 for report in reports for check in report["checks"] if blocking(check))
    warnings = sum(1 for report in reports for check in report["checks"] if check["status"] == Status.WARN)
    parts = ", ".join(f"{count} {verdict}" for verdict, count in sorted(verdicts.items()))
    return (
        f"total: {len(reports)} plugins: {parts}; {failures} required failure{'s' if failures != 1 else ''}, "
        f"{warnings} warning{'s' if warnings != 1 else ''}"
    )
