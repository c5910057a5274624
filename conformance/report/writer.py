"""Writing the reports of a run: report.json and report.html per plugin, summary.md and index.html.

Everything is written atomically (temporary file in the same directory, then
rename), so a reader (a CI artifact upload, a browser reloading the page) sees
either the previous file or the new one, never half of one. The JSON of every
plugin is written before any rendering, so a bug in a renderer cannot cost the
data. See ``rundir`` for how files of an earlier run are kept out.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.abi.constants import SUPPORTED_VERSIONS
from conformance.budgets import DEFAULT_BUDGETS_S, SLOW_THRESHOLDS_S
from conformance.checks.registry import checks_by_id
from conformance.checks.result import CheckResult
from conformance.host.elfcheck import elf_facts
from conformance.report.baseline import Baseline
from conformance.report.halves import in_halves
from conformance.report.html_index import render_index
from conformance.report.html_report import render_report
from conformance.report.jsontext import dumps_indented
from conformance.report.markdown import render_summary
from conformance.report.model import SCHEMA_VERSION, file_sha256, grade_of, verdict_of
from conformance.report.rootcause import root_cause
from conformance.report.rundir import TOOL_NAME, RunInfo, clear_stale
from conformance.settings import RunSettings, plugin_label

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
SUMMARY_MD = "summary.md"
INDEX_HTML = "index.html"


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_GATE_TEXT = re.compile(r"Plugin API version mismatch: plugin has v(\d+)")


def declared_version(facts: dict[str, Any]) -> int | None:
    """The plugin's API version; for a plugin the version gate refused, read from the host's own text.

    The probe's facts of a refused plugin carry only the host's message, and
    that message (quoted exactly from the host) names the version it read.
    """
    version = facts.get("version")
    if isinstance(version, int):
        return version
    match = _GATE_TEXT.search(str(facts.get("load_problem") or ""))
    return int(match.group(1)) if match else None


def _identity(path: Path, facts: dict[str, Any]) -> dict[str, Any]:
    elf = elf_facts(path)
    return {
        "name": plugin_label(path),
        "path": str(path),
        "sha256": file_sha256(path),
        "api_version": declared_version(facts),
        "kind": facts.get("kind"),
        "node_kind": facts.get("node_kind"),
        "language": facts.get("language") or elf.language,
        "exported_symbols": [s for s in elf.exported if s.startswith("streamkit_")],
        "loadable": bool(facts.get("loadable", elf.loadable)),
        "load_problem": facts.get("load_problem") or elf.problem or "",
    }


def host_matrix(results: list[CheckResult], plugin_version: int | None) -> list[dict[str, Any]]:
    """Per host version: compatible unless a required check run at (or regardless of) that host failed."""
    if plugin_version is None or plugin_version not in SUPPORTED_VERSIONS:
        return []
    matrix = []
    for host in range(max(6, plugin_version), 10):
        blocking = [r for r in results if r.blocking and (r.host_version in (None, host))]
        matrix.append(
            {
                "host_version": host,
                "compatible": not blocking,
                "because": sorted({r.id for r in blocking}),
            }
        )
    return matrix


def budgets(scale: float) -> dict[str, Any]:
    """The time limits this run judged by (already multiplied by the scale)."""
    return {
        "scale": scale,
        "call_budgets_s": {entry: round(value * scale, 6) for entry, value in DEFAULT_BUDGETS_S.items()},
        "slow_thresholds_s": {entry: round(value * scale, 6) for entry, value in SLOW_THRESHOLDS_S.items()},
    }


def baseline_section(baseline: Baseline, label: str, checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The run-level view of the baseline for one plugin; ``outcome`` is what CI should act on."""
    by_class: dict[str, list[str]] = {"known": [], "new": [], "improved": []}
    for check in checks:
        if check["baseline"]:
            by_class[check["baseline"]].append(check["id"])
    expired = baseline.expired_entries([label])
    unmatched = baseline.unmatched_entries(label, [check["id"] for check in checks])
    return {
        "file": str(baseline.path),
        "sha256": file_sha256(baseline.path),
        "outcome": "fail" if by_class["new"] or expired else "pass",
        **by_class,
        "expired": [entry.to_json() for entry in expired],
        "unmatched": [entry.to_json() for entry in unmatched],
    }


def build_report(
    path: Path,
    results: list[CheckResult],
    facts: dict[str, Any],
    settings: RunSettings,
    complete: bool,
    *,
    run: RunInfo | None = None,
    selected: int | None = None,
    baseline: Baseline | None = None,
    nothing_selected: bool = False,
) -> dict[str, Any]:
    """One plugin's report.json; ``nothing_selected``: -k/-m left no item, so there is no verdict."""
    run = run or RunInfo()
    identity = _identity(path, facts)
    now = dt.datetime.now(dt.UTC)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    checks = []
    for result in results:
        entry = result.to_json()
        entry["baseline"] = (
            baseline.classify(identity["name"], result.id, result.status, result.severity) if baseline else None
        )
        checks.append(entry)
    complete = complete and not run.interrupted and (selected is None or len(results) >= selected)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "generated_at": now.isoformat(timespec="seconds"),
        "complete": complete,
        "run": run.to_json(now, selected, len(results)),
        "plugin": identity,
        "budgets": budgets(settings.budget_scale),
        "verdict": _verdict(results, identity["loadable"], complete, nothing_selected),
        "grade": "-" if nothing_selected else grade_of(results) if identity["loadable"] else "F",
        "counts": counts,
        "host_matrix": host_matrix(results, identity["api_version"]),
        "baseline": baseline_section(baseline, identity["name"], checks) if baseline else None,
        "checks": checks,
        "root_cause": root_cause(checks, _rationales()),
    }


def _verdict(results: list[CheckResult], loadable: bool, complete: bool, nothing_selected: bool) -> str:
    """An incomplete run never passes (the checks that did not run could have failed), even one that
    was interrupted before any check was selected."""
    if not complete:
        return "fail"
    return "none" if nothing_selected else verdict_of(results, loadable)


def _rationales() -> dict[str, str]:
    return {check_id: check.rationale for check_id, check in checks_by_id().items()}


@dataclass(frozen=True)
class WrittenReport:
    label: str
    json_path: Path
    html_path: Path
    verdict: str
    complete: bool
    baseline: dict[str, Any] | None
    loadable: bool = True

    @property
    def fails_the_run(self) -> bool:
        """A failing verdict the baseline does not account for: the run's exit status must say fail.

        A baseline accepts known check failures; it never accepts a plugin that could not be loaded.
        """
        return verdict_fails_the_run(self.verdict, self.loadable, self.baseline)


def verdict_fails_the_run(verdict: str, loadable: bool, baseline: dict[str, Any] | None) -> bool:
    """The exit-status rule of one plugin's report, for a run just written and for merged shard reports."""
    if verdict != "fail":
        return False
    if not loadable or baseline is None:
        return True
    return bool(baseline.get("new")) or not baseline.get("known")


@dataclass(frozen=True)
class WrittenRun:
    run_id: str
    reports: list[WrittenReport]
    summary: Path
    index: Path | None
    removed: list[Path] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)

    @property
    def baseline_failed(self) -> bool:
        """New failures or expired entries: the run must fail even if pytest's items all passed."""
        return bool(self.expired) or any(r.baseline and r.baseline["outcome"] == "fail" for r in self.reports)


def _group(payloads: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], list[CheckResult]]]:
    by_plugin: dict[str, tuple[dict[str, Any], list[CheckResult]]] = {}
    for payload in payloads:
        entry = by_plugin.setdefault(payload["plugin"], (payload["facts"], []))
        entry[1].append(CheckResult.from_json(payload["result"]))
    return by_plugin


def write_reports(
    settings: RunSettings,
    payloads: list[dict[str, Any]],
    complete: bool = True,
    *,
    run: RunInfo | None = None,
    selected: dict[str, int] | None = None,
    baseline: Baseline | None = None,
    nothing_selected: bool = False,
) -> WrittenRun:
    """Write every file of the run; ``selected`` maps plugin path to the number of items pytest selected."""

    run = run or RunInfo()
    order = {check_id: index for index, check_id in enumerate(checks_by_id())}
    by_plugin = _group(payloads)
    reports: list[tuple[Path, dict[str, Any]]] = []
    for path in settings.plugins:
        facts, results = by_plugin.get(str(path), ({}, []))
        results.sort(key=lambda r: (order.get(r.check_id, 1 << 30), r.host_version or 0))
        count = selected.get(str(path)) if selected is not None else None
        report = build_report(
            path,
            results,
            facts,
            settings,
            complete,
            run=run,
            selected=count,
            baseline=baseline,
            nothing_selected=nothing_selected,
        )
        reports.append((settings.report_dir / plugin_label(path) / REPORT_JSON, report))
    # Every report.json first, then the pages; two processes share the work on two cores.
    files = [(target, report, False) for target, report in reports] + [
        (target, report, True) for target, report in reports
    ]
    in_halves(files, _write_report_file)
    written = []
    for target, report in reports:
        html_path = target.with_name(REPORT_HTML)
        written.append(
            WrittenReport(
                report["plugin"]["name"],
                target,
                html_path,
                report["verdict"],
                report["complete"],
                report["baseline"],
                bool(report["plugin"].get("loadable", True)),
            )
        )
    report_dicts = [report for _, report in reports]
    summary = settings.report_dir / SUMMARY_MD
    atomic_write_text(summary, render_summary(report_dicts, run.id))
    index: Path | None = None
    run_files = {SUMMARY_MD}
    if len(report_dicts) > 1:
        index = settings.report_dir / INDEX_HTML
        atomic_write_text(index, render_index(report_dicts, run.id))
        run_files.add(INDEX_HTML)
    removed = clear_stale(settings.report_dir, run.id, {r.label for r in written}, run_files)
    expired = []
    if baseline is not None:
        expired = [baseline.expiry_message(e) for e in baseline.expired_entries(r.label for r in written)]
    return WrittenRun(run.id, written, summary, index, removed, expired)


def replaced_reports(written: WrittenRun) -> str:
    """One line naming the reports of an earlier run that this run removed ('' when none).

    A report directory holds one run (see ``rundir``); checking another plugin
    into the same directory replaces the reports there, and the user is told.
    """
    labels = sorted({path.parent.name for path in written.removed if path.name in ("report.json", "report.html")})
    if not labels:
        return ""
    where = next(iter(written.removed)).parent.parent
    return (
        f"removed the report{'s' if len(labels) > 1 else ''} of {', '.join(labels)} from an earlier run in {where} "
        "(a report directory holds one run; give each run its own --report-dir to keep both)"
    )


def _write_report_file(job: tuple[Path, dict[str, Any], bool]) -> None:
    """One plugin's report.json, or its report.html when the job says ``html``."""
    target, report, html = job
    if html:
        atomic_write_text(target.with_name(REPORT_HTML), render_report(report))
    else:
        atomic_write_text(target, dumps_indented(report) + "\n")


def write_unloadable_report(report_dir: Path, path: Path, reason: str, facts: dict[str, Any] | None = None) -> Path:
    """The report of a plugin the tool cannot inspect or the host refuses (the run stops with a usage error)."""

    settings = RunSettings(plugins=(path,), report_dir=report_dir, budget_scale=1.0)
    known = {**(facts or {}), "loadable": False, "load_problem": reason}
    report = build_report(path, [], known, settings, True)
    report["plugin"]["load_problem"] = reason
    target = report_dir / plugin_label(path) / REPORT_JSON
    atomic_write_text(target, dumps_indented(report) + "\n")
    atomic_write_text(target.with_name(REPORT_HTML), render_report(report))
    return target
