"""One report directory from the directories of a run split ``--shard I/N`` over CI runners.

Each shard's directory holds its plugins' report.json/report.html, and may hold
junit.xml and, from the release gate, gate.json. The merged directory holds
every plugin once (a plugin in two shards means the shards were not of one
split, and is refused), an index.html and summary.md over all of them, one
junit.xml with every shard's test suites, and, when the shards were gate runs,
one gate verdict: it fails when any shard's gate failed or a shard has no
gate.json (its job died before judging).

The plugin reports keep the run id of the shard that wrote them; summary.md
and index.html carry the merge's own id and summary.md names the shard runs.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.report.gate import GATE_JSON, GateVerdict, publish_gate
from conformance.report.html_index import render_index
from conformance.report.markdown import render_summary
from conformance.report.rundir import PLUGIN_FILES, TOOL_NAME, new_run_id
from conformance.report.writer import SUMMARY_MD, atomic_write_text, verdict_fails_the_run
from conformance.scaleout.shard import Shard, ShardError

JUNIT_XML = "junit.xml"
_JUNIT_COUNTS = ("tests", "failures", "errors", "skipped")


class MergeError(Exception):
    """The shard directories cannot be merged; one line for the user."""


@dataclass(frozen=True)
class MergedRun:
    run_id: str
    reports: list[dict[str, Any]]
    gate: GateVerdict | None

    @property
    def failed(self) -> bool:
        """The merged run's exit status: the gate's verdict when there is one, else any failing report."""
        if self.gate is not None:
            return bool(self.gate.problems)
        return any(report_fails(report) for report in self.reports)


def report_fails(report: dict[str, Any]) -> bool:
    """An incomplete report, or a failing verdict its baseline does not account for (as ``pytest --plugin``)."""
    if not report.get("complete", False):
        return True
    loadable = bool(report["plugin"].get("loadable", True))
    return verdict_fails_the_run(str(report.get("verdict")), loadable, report.get("baseline"))


def _shard_reports(shard_dir: Path) -> dict[str, dict[str, Any]]:
    reports: dict[str, dict[str, Any]] = {}
    for path in sorted(shard_dir.glob("*/report.json")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise MergeError(f"{path} is not a readable report ({error})") from None
        if not isinstance(report, dict) or (report.get("tool") or {}).get("name") != TOOL_NAME:
            continue  # not ours: never copied, never judged
        reports[path.parent.name] = report
    return reports


def merge_runs(shard_dirs: list[Path], out: Path) -> MergedRun:
    if not shard_dirs:
        raise MergeError("give the report directories of the shards to merge")
    resolved_out = out.resolve()
    owner: dict[str, Path] = {}
    reports: dict[str, dict[str, Any]] = {}
    for shard_dir in shard_dirs:
        if not shard_dir.is_dir():
            raise MergeError(f"{shard_dir} is not a directory")
        if shard_dir.resolve() == resolved_out:
            raise MergeError(f"the output directory {out} is one of the shards; merge into a new directory")
        found = _shard_reports(shard_dir)
        if not found and not (shard_dir / GATE_JSON).exists():
            raise MergeError(f"{shard_dir} holds no report of {TOOL_NAME}")
        for label, report in found.items():
            if label in owner:
                raise MergeError(
                    f"{label} was checked in both {owner[label]} and {shard_dir}: these are not shards of one split"
                )
            owner[label] = shard_dir
            reports[label] = report
    if out.exists() and any(out.iterdir()):
        raise MergeError(f"{out} is not empty: merge into a new directory, so no earlier run's file is mixed in")
    out.mkdir(parents=True, exist_ok=True)
    for label, shard_dir in owner.items():
        (out / label).mkdir(exist_ok=True)
        for name in PLUGIN_FILES:
            if (shard_dir / label / name).exists():
                shutil.copyfile(shard_dir / label / name, out / label / name)
    ordered = [reports[label] for label in sorted(reports)]
    run_id = new_run_id()
    shard_runs = sorted({str((report.get("run") or {}).get("id", "")) for report in ordered} - {""})
    summary = render_summary(ordered, run_id)
    first, _, rest = summary.partition("\n")
    origin = f"Merged from {len(shard_dirs)} shard directories (runs {', '.join(f'`{r}`' for r in shard_runs)})."
    atomic_write_text(out / SUMMARY_MD, f"{first}\n{origin}\n\n{rest}")
    atomic_write_text(out / "index.html", render_index(ordered, run_id))
    _merge_junit(shard_dirs, out / JUNIT_XML)
    gate = _merge_gates(shard_dirs)
    if gate is not None:
        publish_gate(out, gate, run_id)
    return MergedRun(run_id, ordered, gate)


def _merge_junit(shard_dirs: list[Path], target: Path) -> None:
    """Every shard's ``<testsuite>`` under one ``<testsuites>`` whose counts are the sums."""
    root = ElementTree.Element("testsuites", {"name": "streamkit-conformance (merged shards)"})
    totals = dict.fromkeys(_JUNIT_COUNTS, 0)
    seconds = 0.0
    for shard_dir in shard_dirs:
        path = shard_dir / JUNIT_XML
        if not path.exists():
            continue
        try:
            tree = ElementTree.parse(path)
        except (OSError, ElementTree.ParseError) as error:
            raise MergeError(f"{path} is not readable JUnit XML ({error})") from None
        top = tree.getroot()
        for suite in [top] if top.tag == "testsuite" else top.findall("testsuite"):
            root.append(suite)
            for key in _JUNIT_COUNTS:
                totals[key] += int(suite.get(key, "0") or 0)
            seconds += float(suite.get("time", "0") or 0)
    if not len(root):
        return
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    atomic_write_text(target, ElementTree.tostring(root, encoding="unicode", xml_declaration=True))


def _merge_gates(shard_dirs: list[Path]) -> GateVerdict | None:
    """One verdict from the shards' gate.json files; None when no shard was a gate run."""
    found = {shard_dir: shard_dir / GATE_JSON for shard_dir in shard_dirs}
    present = {shard_dir: path for shard_dir, path in found.items() if path.exists()}
    if not present:
        return None
    merged = GateVerdict()
    specs: list[str] = []
    for shard_dir, path in found.items():
        if shard_dir not in present:
            merged.problems.append(f"{shard_dir}: no {GATE_JSON}: this shard's gate did not finish")
            continue
        try:
            verdict = GateVerdict.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            merged.problems.append(f"{path}: not a readable gate verdict ({error})")
            continue
        if verdict.shard:
            specs.append(verdict.shard)
        merged.fixtures += verdict.fixtures
        merged.extra_plugins += verdict.extra_plugins
        merged.problems += verdict.problems
        merged.notes += verdict.notes
    merged.problems += _missing_shards(specs)
    merged.fixtures.sort()
    merged.extra_plugins.sort()
    return merged


def _missing_shards(specs: list[str]) -> list[str]:
    """Problems when the shards' ``I/N`` do not cover 1..N exactly once: a job that never uploaded is a fail."""
    try:
        shards = [Shard.parse(spec, "gate.json") for spec in specs]
    except ShardError as error:
        return [str(error)]
    counts = {shard.count for shard in shards}
    if len(counts) > 1:
        return [f"the shards come from different splits ({', '.join(sorted(specs))})"]
    if not counts:
        return []
    count = counts.pop()
    seen = [shard.index for shard in shards]
    problems = [
        f"shard {index}/{count} is missing: its job left no report directory"
        for index in range(1, count + 1)
        if index not in seen
    ]
    problems += [f"shard {index}/{count} was given twice" for index in sorted(set(seen)) if seen.count(index) > 1]
    return problems
