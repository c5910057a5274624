"""summary.md for the run: what a CI job summary or a pull-request comment shows.

Failures come first, passing checks are folded into one ``<details>`` line per
plugin, and the number of rows per plugin is capped, so that a run over the
whole fixture corpus still fits in a PR comment (GitHub caps those at 65536
characters) and stays readable.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.model import Status
from conformance.report.present import (
    ALL_HOSTS,
    baseline_line,
    blocking,
    count_line,
    failures_first,
    host_cells,
    is_problem,
    one_line,
)

MAX_ROWS_PER_PLUGIN = 40
_HOST_MARK = {"compatible": "\u2705", "incompatible": "\u274c", "n/a": "\u2013"}
_VERDICT_MARK = {"pass": "\u2705", "fail": "\u274c"}


def _cell(text: str, limit: int = 160) -> str:
    return one_line(text, limit).replace("|", "\\|").replace("<", "&lt;")


def _hosts(report: dict[str, Any]) -> str:
    return " ".join(f"v{host} {_HOST_MARK[state]}" for host, state, _ in host_cells(report))


def _verdict(report: dict[str, Any]) -> str:
    text = f"{_VERDICT_MARK.get(report['verdict'], '')} **{report['verdict'].upper()}**"
    return text + (" (incomplete)" if not report["complete"] else "")


def _overview(reports: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| plugin | verdict | grade | API | required failed | checks | hosts "
        + " ".join(f"v{h}" for h in ALL_HOSTS)
        + " | baseline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for report in reports:
        version = report["plugin"].get("api_version")
        failed = sum(1 for check in report["checks"] if blocking(check))
        lines.append(
            f"| [`{report['plugin']['name']}`](#{report['plugin']['name']}) | {_verdict(report)} | {report['grade']} "
            f"| {f'v{version}' if version is not None else '-'} | {failed} | {count_line(report)} | {_hosts(report)} "
            f"| {baseline_line(report) or '-'} |"
        )
    return lines


def _plugin(report: dict[str, Any]) -> list[str]:
    plugin = report["plugin"]
    lines = [
        f'<a id="{plugin["name"]}"></a>',
        f"## {_VERDICT_MARK.get(report['verdict'], '')} `{plugin['name']}`: {report['verdict'].upper()} "
        f"(grade {report['grade']})",
        "",
        f"{count_line(report)}. Hosts: {_hosts(report)}."
        + (f" Baseline: {baseline_line(report)}." if report.get("baseline") else ""),
    ]
    if not plugin.get("loadable", True):
        lines += ["", f"Not loadable: {_cell(plugin.get('load_problem', ''), 300)}"]
    calibration = report["run"].get("calibration")
    if calibration and calibration["budget_factor"] > 1:
        lines += [
            "",
            f"Busy or slow machine ({calibration['slowness']}x the reference): budgets scaled by "
            f"{calibration['budget_factor']}.",
        ]
    if report.get("root_cause"):
        lines += [
            "",
            f"**Likely root cause**: {_cell(report['root_cause']['summary'].removeprefix('likely root cause: '), 400)}",
        ]
    if not report["complete"]:
        run = report["run"]
        lines += [
            "",
            f"**Incomplete run**: {run['items_finished']} checks finished"
            + (f" of {run['items_selected']}" if run.get("items_selected") is not None else "")
            + ": a run that did not finish never passes.",
        ]
    for entry in (report.get("baseline") or {}).get("expired", []):
        lines += [
            "",
            f"**Expired baseline entry**: `{entry['check']}` (expired {entry['expires']}): " + _cell(entry["reason"]),
        ]
    problems = [check for check in failures_first(report["checks"]) if is_problem(check)]
    if problems:
        lines += ["", "| status | check | severity | baseline | message |", "|---|---|---|---|---|"]
        for check in problems[:MAX_ROWS_PER_PLUGIN]:
            mark = "**" if blocking(check) and check.get("baseline") != "known" else ""
            lines.append(
                f"| {mark}{check['status'].upper()}{mark} | `{check['id']}` | {check['severity']} "
                f"| {check.get('baseline') or '-'} | {_cell(check['message'])} |"
            )
        if len(problems) > MAX_ROWS_PER_PLUGIN:
            lines.append(f"| | ... {len(problems) - MAX_ROWS_PER_PLUGIN} more in report.html | | | |")
    passed = [check["id"] for check in report["checks"] if Status(check["status"]) is Status.PASS]
    skipped = [check["id"] for check in report["checks"] if Status(check["status"]) is Status.SKIP]
    if passed or skipped:
        lines += ["", f"<details><summary>{len(passed)} passed, {len(skipped)} skipped</summary>", ""]
        if passed:
            lines.append("Passed: " + ", ".join(f"`{item}`" for item in passed))
        if skipped:
            lines += ["", "Skipped (not applicable): " + ", ".join(f"`{item}`" for item in skipped)]
        lines += ["", "</details>"]
    lines += ["", f"Details: `{plugin['name']}/report.html`, data: `{plugin['name']}/report.json`.", ""]
    return lines


def render_summary(reports: list[dict[str, Any]], run_id: str) -> str:
    """The Markdown summary of a run; ``reports`` are report.json dictionaries."""
    ordered = sorted(reports, key=lambda r: (r["verdict"] == "pass", r["complete"], r["plugin"]["name"]))
    failing = sum(1 for r in reports if r["verdict"] != "pass")
    tool = reports[0]["tool"] if reports else {"name": "streamkit-conformance", "version": "?"}
    lines = [
        f"<!-- conformance-run-id: {run_id} -->",
        "# StreamKit plugin conformance",
        "",
        f"{len(reports)} plugin{'s' if len(reports) != 1 else ''} checked, **{failing} failing**, "
        f"by {tool['name']} {tool['version']} (run `{run_id}`).",
        "",
        *_overview(ordered),
        "",
    ]
    for report in ordered:
        lines += _plugin(report)
    return "\n".join(lines).rstrip() + "\n"
