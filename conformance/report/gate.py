"""The release gate's verdict as files: gate.json, the banner of index.html, the block atop summary.md.

Written by ``ci/sdk-release-gate`` after its run, and by ``conformance merge``
when it combines the report directories of a gate run split over CI runners:
both must render the same verdict the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.report.html_index import render_index
from conformance.report.writer import SUMMARY_MD, atomic_write_text

GATE_JSON = "gate.json"
#: Lines of problems and notes written into summary.md; gate.json keeps them all.
MAX_LINES = 200


@dataclass
class GateVerdict:
    fixtures: list[str] = field(default_factory=list)
    extra_plugins: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: "I/N" when this verdict covers one shard of a split run (``--shard``): the merge checks all N came.
    shard: str = ""

    @property
    def state(self) -> str:
        return "FAIL" if self.problems else "PASS"

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.state.lower(),
            "fixtures": self.fixtures,
            "extra_plugins": self.extra_plugins,
            "problems": self.problems,
            "notes": self.notes,
            **({"shard": self.shard} if self.shard else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateVerdict:
        verdict = cls(
            [str(name) for name in data["fixtures"]],
            [str(name) for name in data["extra_plugins"]],
            [str(line) for line in data["problems"]],
            [str(line) for line in data["notes"]],
            str(data.get("shard") or ""),
        )
        if data.get("verdict") == "fail" and not verdict.problems:
            verdict.problems.append("the gate said fail without naming a problem")
        return verdict


def read_reports(report_dir: Path, labels: list[str]) -> list[dict[str, Any]]:
    """The report.json of each label that has a readable one (a missing one is already a gate problem)."""
    reports = []
    for label in labels:
        try:
            reports.append(json.loads((report_dir / label / "report.json").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return reports


def publish_gate(report_dir: Path, verdict: GateVerdict, run_id: str | None = None) -> str:
    """Write gate.json, index.html with the verdict in its banner and the verdict atop summary.md.

    Returns summary.md's text (also appended to ``$GITHUB_STEP_SUMMARY`` when that is set).
    """
    atomic_write_text(report_dir / GATE_JSON, json.dumps(verdict.to_json(), indent=2) + "\n")
    reports = read_reports(report_dir, verdict.fixtures + verdict.extra_plugins)
    if reports:
        run_id = run_id or str(reports[0].get("run", {}).get("id", ""))
        atomic_write_text(report_dir / "index.html", render_index(reports, run_id, gate=verdict.to_json()))
    summary = report_dir / SUMMARY_MD
    text = summary.read_text(encoding="utf-8") if summary.exists() else ""
    first, _, rest = text.partition("\n")
    mark = "\u274c" if verdict.problems else "\u2705"
    block = [
        f"# SDK release gate: {mark} {verdict.state}",
        "",
        f"{len(verdict.fixtures)} corpus fixtures, {len(verdict.extra_plugins)} extra plugins; "
        f"{len(verdict.problems)} problems, {len(verdict.notes)} notes.",
        "",
    ]
    block += [f"- {line}" for line in verdict.problems[:MAX_LINES]]
    if len(verdict.problems) > MAX_LINES:
        block.append(f"- ... {len(verdict.problems) - MAX_LINES} more in {GATE_JSON}")
    if verdict.notes:
        block += ["", "<details><summary>notes</summary>", ""]
        block += [f"- {line}" for line in verdict.notes[:MAX_LINES]]
        block += ["", "</details>"]
    if first.startswith("<!--"):
        text = first + "\n" + "\n".join(block) + "\n\n" + rest
    else:
        text = "\n".join(block) + "\n\n" + text
    atomic_write_text(summary, text)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(text)
    return text
