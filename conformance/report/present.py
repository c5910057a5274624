"""Shared presentation rules of the Markdown and HTML renderers, so both tell the same story.

Renderers read report dictionaries (the report.json shape), not
``CheckResult`` objects: any report.json on disk can be re-rendered, and the
renderers exercise exactly what consumers of the JSON see.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.model import Severity, Status
from conformance.checks.result import blocks

ALL_HOSTS = (6, 7, 8, 9)
FAILING = frozenset({Status.FAIL, Status.CRASH, Status.TIMEOUT, Status.ERROR, Status.FLAKY})
STATUS_ORDER = tuple(
    status.value
    for status in (
        Status.FAIL,
        Status.CRASH,
        Status.TIMEOUT,
        Status.ERROR,
        Status.FLAKY,
        Status.WARN,
        Status.PASS,
        Status.SKIP,
    )
)


def blocking(check: dict[str, Any]) -> bool:
    """``CheckResult.blocking`` of a report.json check."""
    return blocks(Severity(check["severity"]), Status(check["status"]))


def problem_rank(check: dict[str, Any]) -> int:
    """Failures first: new blocking, accepted blocking, other failures, warnings, passes, skips."""
    status = Status(check["status"])
    if blocking(check):
        return 1 if check.get("baseline") == "known" else 0
    if status in FAILING:
        return 2
    if status is Status.WARN:
        return 3
    if status is Status.PASS:
        return 4
    return 5


def is_problem(check: dict[str, Any]) -> bool:
    return Status(check["status"]) not in (Status.PASS, Status.SKIP)


def failures_first(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stable: inside a rank the report's (catalogue) order is kept."""
    return sorted(checks, key=problem_rank)


def blocking_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [check for check in report["checks"] if blocking(check)]


def new_blocking(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [check for check in blocking_checks(report) if check.get("baseline") != "known"]


def host_cells(report: dict[str, Any]) -> list[tuple[int, str, list[str]]]:
    """(host, state, because) for v6..v9; state is ``compatible``, ``incompatible`` or ``n/a``."""
    by_host = {row["host_version"]: row for row in report.get("host_matrix", [])}
    cells: list[tuple[int, str, list[str]]] = []
    for host in ALL_HOSTS:
        row = by_host.get(host)
        if row is None:
            cells.append((host, "n/a", []))
        else:
            cells.append((host, "compatible" if row["compatible"] else "incompatible", list(row["because"])))
    return cells


def host_reason(report: dict[str, Any], host: int) -> str:
    """Why a host is n/a for this plugin, in words."""
    plugin = report["plugin"]
    version = plugin.get("api_version")
    if not plugin.get("loadable", True):
        return "the plugin is not loadable"
    if version is None:
        return "the plugin declares no API version"
    if version > host:
        return f"plugin API v{version} needs a host of v{version} or later"
    return f"plugin API v{version} is outside v6-v9"


def count_line(report: dict[str, Any]) -> str:
    counts = report.get("counts", {})
    parts = [f"{counts[status]} {status}" for status in STATUS_ORDER if counts.get(status)]
    return ", ".join(parts) or "no checks ran"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def baseline_line(report: dict[str, Any]) -> str:
    section = report.get("baseline")
    if not section:
        return ""
    parts = [f"{len(section[key])} {key}" for key in ("new", "known", "improved")]
    if section["expired"]:
        parts.append(f"{len(section['expired'])} expired")
    return ", ".join(parts)


def one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
