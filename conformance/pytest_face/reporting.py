"""What an item leaves in pytest's reports, and the lines the run's written reports get on the terminal.

An item carries its whole result as one user property (``PROPERTY``), a dictionary of JSON values: the
call report it rides on is what ``report/writer.py`` builds report.json from, under xdist too, since
xdist ships user properties from the workers (execnet carries dictionaries, lists and plain values). It
is not JSON text: encoding 16,000 items' evidence and parsing it again for the hooks cost the pytest
process a tenth of its CPU in a corpus run. The JUnit file gets JSON text (``summarise_property``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from conformance.checks.model import PluginFacts, Status
from conformance.checks.result import NOT_BLOCKING, CheckResult
from conformance.checks.verdict import Classification
from conformance.report.writer import WrittenReport, WrittenRun, replaced_reports
from conformance.settings import plugin_label

PROPERTY = "conformance"
JUNIT_MESSAGE_LIMIT = 300


def item_payload(
    path: Path, facts: PluginFacts, result: CheckResult, baseline: Classification | None
) -> dict[str, Any]:
    """The user property of a finished item: the plugin, its facts, the result and its baseline class."""
    payload = {
        "plugin": str(path),
        "label": plugin_label(path),
        "facts": {
            "loadable": facts.loadable,
            "load_problem": facts.load_problem,
            "version": facts.version,
            "node_kind": facts.node_kind,
            "kind": facts.kind,
            "language": facts.language,
            "has_setter": facts.has_setter,
            "entries": list(facts.entries),
        },
        "result": result.to_json(),
        "baseline": baseline,
    }
    return payload


def payloads(report: pytest.TestReport) -> list[dict[str, Any]]:
    """The item's payloads, as read-only dictionaries."""
    return [_payload(value) for name, value in report.user_properties if name == PROPERTY]


def _payload(value: object) -> dict[str, Any]:
    """A payload as an item made it, or as JSON text (a property ``summarise_property`` made)."""
    if isinstance(value, dict):
        return value
    return _parsed(str(value))


@lru_cache(maxsize=8)
def _parsed(value: str) -> dict[str, Any]:
    """A summarised property is read by each hook that reads the teardown report, one after the other."""
    payload: dict[str, Any] = json.loads(value)
    return payload


def item_status(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """The short and long words of a passed item whose check did not pass (not required) or the baseline knows."""
    if report.when != "call" or not report.passed:
        return None
    for payload in payloads(report):
        status = Status(payload["result"]["status"])
        if payload.get("baseline") == "known":
            return "known", "K", f"KNOWN ({status}, accepted by the baseline)"
        if payload.get("baseline") == "improved":
            return "improved", "I", "IMPROVED (passes; its baseline entry can go)"
        if status is Status.WARN:
            return "warned", "W", "WARN"
        if status not in NOT_BLOCKING:
            return "non-blocking", "N", f"{status.upper()} (not required)"
    return None


def summarise_property(report: pytest.TestReport) -> None:
    """Keep the JUnit file small: a non-pass gets a short property, the full evidence stays in report.json.

    pytest's junitxml writes every user property of the teardown report into
    the file; the whole payload (calls, logs, native stacks) of 79 plugins x
    165 checks made a 33 MB junit.xml. Runs before junitxml (tryfirst); the
    call report, from which the reports are built, keeps the full payload.
    """
    properties = []
    for name, value in report.user_properties:
        if name == PROPERTY:
            payload = _payload(value)
            if "result" not in payload:  # already summarised (by the xdist worker that ran it)
                properties.append((name, value))
                continue
            result = payload["result"]
            if Status(result["status"]) in (Status.PASS, Status.SKIP) and not payload.get("baseline"):
                continue  # the test case says it all: passed, or skipped with the reason
            message = str(result.get("message", ""))
            value = json.dumps(
                {
                    "plugin": payload["label"],
                    "id": result["id"],
                    "status": result["status"],
                    "severity": result["severity"],
                    "baseline": payload.get("baseline"),
                    "message": message[:JUNIT_MESSAGE_LIMIT] + ("\u2026" if len(message) > JUNIT_MESSAGE_LIMIT else ""),
                    "repro": result.get("repro"),
                    "evidence": f"{payload['label']}/report.json",
                },
                separators=(",", ":"),
            )
        properties.append((name, value))
    report.user_properties = properties


def no_selection_message(config: pytest.Config, total: int) -> str:
    selection = []
    if config.getoption("keyword", None):
        selection.append(f"-k {config.getoption('keyword')!r}")
    if config.getoption("markexpr", None):
        selection.append(f"-m {config.getoption('markexpr')!r}")
    what = " and ".join(selection) or "the selection"
    of = f"none of the {total} battery items" if total else "no battery item"  # xdist: the controller has no count
    return f"no check selected: {what} matches {of}; nothing was checked (see `conformance list-checks` for the ids)"


def announce(reporter: pytest.TerminalReporter, written: WrittenRun) -> None:
    """One line per written report (with its baseline counts) and the run's summary file."""
    replaced = replaced_reports(written)
    if replaced:
        reporter.write_line(f"conformance: {replaced}")
    for report in written.reports:
        state = "" if report.complete else " (incomplete)"
        reporter.write_line(f"conformance: {report.verdict.upper()}{state} - report written to {report.json_path}")
        if report.baseline is not None:
            section = report.baseline
            reporter.write_line(
                f"conformance: baseline for {report.label}: {len(section['new'])} new, "
                f"{len(section['known'])} known, {len(section['improved'])} improved"
            )
    index = f", index {written.index}" if written.index else ""
    reporter.write_line(f"conformance: summary {written.summary}{index}")


def exit_status_follows_the_reports(
    session: pytest.Session, reports: list[WrittenReport], reporter: pytest.TerminalReporter | None
) -> None:
    """Never exit 0 beside a report that says fail.

    Items can all pass or skip while a report fails: a plugin that could not be probed (for example one
    that killed the sandbox server) has every check skipped as not loadable. A CI step reads the exit status.
    """
    failing = [report for report in reports if report.fails_the_run]
    if not failing or session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if reporter is not None:
        for report in failing:
            reporter.write_line(f"conformance: {report.label} fails (see its report): exit status 1", red=True)
