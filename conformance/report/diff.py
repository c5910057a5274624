"""Comparing two report.json files of the same plugin: what got worse, what got better.

Used by ``conformance diff old.json new.json`` (exit 1 on any regression) to
review a plugin change or a new release of the tool. Statuses are ranked;
a check whose rank rises is a regression, one whose rank falls an improvement.
``fail``, ``crash``, ``timeout`` and ``error`` share a rank: a fail that
becomes a crash is reported as changed, not as a regression, because both
already fail. ``pass`` and ``skip`` share a rank too: a check that stops
applying is a change worth seeing, but not a regression of the plugin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.checks.model import Status

RANK = {"pass": 0, "skip": 0, "warn": 1, "flaky": 2, "fail": 3, "crash": 3, "timeout": 3, "error": 3}
FAILING_RANK = 2


class ReportReadError(Exception):
    """The file is not a report this tool can compare; the message is one line."""


@dataclass(frozen=True)
class Change:
    item: str
    severity: str
    old: str | None  # None: the item is not in the old report
    new: str | None  # None: the item is not in the new report
    message: str

    def line(self) -> str:
        before = self.old or "(absent)"
        after = self.new or "(absent)"
        text = f"  {self.item} [{self.severity}]: {before} -> {after}"
        return text + (f": {self.message}" if self.message and self.new not in (None, Status.PASS) else "")


@dataclass(frozen=True)
class ReportDiff:
    regressions: list[Change] = field(default_factory=list)
    improvements: list[Change] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReportReadError(f"{path}: is a directory (give the report.json inside it)") from None
    except UnicodeDecodeError:
        raise ReportReadError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ReportReadError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    except OSError as error:
        raise ReportReadError(f"{path}: cannot read: {error.strerror or error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list) or "schema_version" not in data:
        raise ReportReadError(f"{path}: not a conformance report.json (no schema_version/checks)")
    if not str(data["schema_version"]).startswith("1."):
        raise ReportReadError(f"{path}: report schema {data['schema_version']} is not supported (1.x only)")
    for entry in data["checks"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("status"), str)):
            raise ReportReadError(f"{path}: a check entry lacks id or status")
    return data


def _rank(status: str) -> int:
    return RANK.get(status, RANK["error"])


def compare_reports(old: dict[str, Any], new: dict[str, Any]) -> ReportDiff:
    before = {entry["id"]: entry for entry in old["checks"]}
    after = {entry["id"]: entry for entry in new["checks"]}
    diff = ReportDiff()
    for item, entry in after.items():
        status = entry["status"]
        severity = str(entry.get("severity", "?"))
        message = " ".join(str(entry.get("message", "")).split())[:200]
        previous = before.get(item)
        if previous is None:
            if _rank(status) >= FAILING_RANK:
                diff.regressions.append(Change(item, severity, None, status, message))
            continue
        old_status = previous["status"]
        if old_status == status:
            continue
        change = Change(item, severity, old_status, status, message)
        if _rank(status) > _rank(old_status):
            diff.regressions.append(change)
        elif _rank(status) < _rank(old_status):
            diff.improvements.append(change)
        else:
            diff.changes.append(change)
    for item, entry in before.items():
        if item not in after:
            diff.changes.append(Change(item, str(entry.get("severity", "?")), entry["status"], None, ""))
    old_name, new_name = old.get("plugin", {}).get("name"), new.get("plugin", {}).get("name")
    if old_name != new_name:
        diff.notes.append(f"note: comparing different plugins ({old_name} -> {new_name})")
    if old.get("verdict") != new.get("verdict"):
        diff.notes.append(f"verdict: {old.get('verdict')} -> {new.get('verdict')}")
    if new.get("complete") is False:
        diff.notes.append("note: the new report is incomplete; checks it lacks are listed as changed, not regressed")
    return diff


def render_diff(diff: ReportDiff) -> str:
    lines: list[str] = []
    for title, changes in (
        ("regressions", diff.regressions),
        ("improvements", diff.improvements),
        ("changed", diff.changes),
    ):
        if changes:
            lines.append(f"{title} ({len(changes)}):")
            lines.extend(change.line() for change in changes)
    lines.extend(diff.notes)
    if not diff.regressions and not diff.improvements and not diff.changes:
        lines.append("no differences in check statuses")
    return "\n".join(lines)
