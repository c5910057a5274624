"""Writing report.json per plugin, atomically (temporary file, then rename)."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.abi.constants import SUPPORTED_VERSIONS
from conformance.report.model import SCHEMA_VERSION, CheckResult, file_sha256, grade_of, verdict_of
from conformance.settings import RunSettings


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _label(path: Path) -> str:
    from conformance.runner import plugin_label

    return plugin_label(path)


def _identity(path: Path, facts: dict[str, Any]) -> dict[str, Any]:
    from conformance.runner import inspect

    elf = inspect(path)
    return {
        "name": _label(path),
        "path": str(path),
        "sha256": file_sha256(path),
        "api_version": facts.get("version"),
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


def build_report(
    path: Path, results: list[CheckResult], facts: dict[str, Any], settings: RunSettings, complete: bool
) -> dict[str, Any]:
    identity = _identity(path, facts)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "streamkit-conformance", "version": __version__},
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "complete": complete,
        "plugin": identity,
        "budgets": {"scale": settings.budget_scale},
        "verdict": verdict_of(results, identity["loadable"]),
        "grade": grade_of(results) if identity["loadable"] else "F",
        "counts": counts,
        "host_matrix": host_matrix(results, identity["api_version"]),
        "checks": [result.to_json() for result in results],
    }


def write_reports(
    settings: RunSettings, payloads: list[dict[str, Any]], complete: bool = True
) -> list[tuple[Path, str]]:
    """Group the collected results by plugin, write one report.json each; returns (path, verdict)."""
    from conformance.checks.registry import checks_by_id

    order = {check_id: index for index, check_id in enumerate(checks_by_id())}
    by_plugin: dict[str, tuple[Path, dict[str, Any], list[CheckResult]]] = {}
    for payload in payloads:
        key = payload["plugin"]
        entry = by_plugin.setdefault(key, (Path(key), payload["facts"], []))
        entry[2].append(CheckResult.from_json(payload["result"]))
    written = []
    for path in settings.plugins:
        _, facts, results = by_plugin.get(str(path), (path, {}, []))
        results.sort(key=lambda r: (order.get(r.check_id, 1 << 30), r.host_version or 0))
        report = build_report(path, results, facts, settings, complete)
        target = settings.report_dir / _label(path) / "report.json"
        atomic_write_text(target, json.dumps(report, indent=2, sort_keys=False) + "\n")
        written.append((target, str(report["verdict"])))
    return written


def write_unloadable_report(report_dir: Path, path: Path, reason: str) -> Path:
    from conformance.settings import RunSettings

    settings = RunSettings(plugins=(path,), report_dir=report_dir, budget_scale=1.0)
    report = build_report(path, [], {"loadable": False, "load_problem": reason}, settings, True)
    report["plugin"]["load_problem"] = reason
    target = report_dir / _label(path) / "report.json"
    atomic_write_text(target, json.dumps(report, indent=2) + "\n")
    return target
