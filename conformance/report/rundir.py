"""One report directory holds exactly one run.

Every file a run writes carries the run's id (``run.id`` in report.json, a
``conformance-run-id`` meta tag in the HTML, a comment in summary.md). After
the run's files are written, files that an earlier run left behind and that
this run did not rewrite (the directory of a plugin not checked this time,
an ``index.html`` from a multi-plugin run) are removed, so a reader never
combines two runs. Only files this tool writes are touched: a directory is
cleared only when its report.json says it was written by streamkit-conformance,
and only report.json/report.html are deleted from it.

Each file is replaced atomically (``atomic_write_text``); the set of files is
not, which is what the run id is for: a consumer can check that
``summary.md``, ``index.html`` and every ``report.json`` name the same run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.sandbox.calibration import current
from conformance.sandbox.containment import observed_containment

TOOL_NAME = "streamkit-conformance"
PLUGIN_FILES = ("report.json", "report.html")
RUN_FILES = ("summary.md", "index.html")
_RUN_ID_MARK = re.compile(r"conformance-run-id[\"']?\s*(?:content=[\"']|:\s*)([A-Za-z0-9_.-]+)")


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sortable by time, unique enough for two runs started in the same second."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)


@dataclass(frozen=True)
class RunInfo:
    """What the report says about the run as a whole (not about one plugin)."""

    id: str = field(default_factory=new_run_id)
    started_at: dt.datetime | None = None
    interrupted: bool = False
    keyword: str | None = None
    markexpr: str | None = None

    def to_json(self, finished_at: dt.datetime, selected: int | None, finished: int) -> dict[str, Any]:
        duration = (finished_at - self.started_at).total_seconds() if self.started_at else None
        return {
            "id": self.id,
            "started_at": self.started_at.isoformat(timespec="seconds") if self.started_at else None,
            "duration_s": round(duration, 3) if duration is not None else None,
            "interrupted": self.interrupted,
            "items_selected": selected,
            "items_finished": finished,
            "keyword": self.keyword or None,
            "markexpr": self.markexpr or None,
            "containment": observed_containment(),
            "calibration": _calibration_json(),
        }


def _calibration_json() -> dict[str, Any] | None:
    """The machine measurement budgets were scaled by (sandbox/calibration.py), when one was taken."""

    calibration = current()
    return calibration.to_json() if calibration is not None else None


def run_id_of(path: Path) -> str | None:
    """The run id a file of ours carries, or None (not ours, unreadable, or older than run ids)."""
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            run = data.get("run") if isinstance(data, dict) else None
            value = run.get("id") if isinstance(run, dict) else None
            return value if isinstance(value, str) else None
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except (OSError, ValueError):
        return None
    match = _RUN_ID_MARK.search(head)
    return match.group(1) if match else None


def _is_our_report(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    tool = data.get("tool") if isinstance(data, dict) else None
    return isinstance(tool, dict) and tool.get("name") == TOOL_NAME


def _is_our_run_file(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return "conformance-run-id" in head


def clear_stale(report_dir: Path, run_id: str, labels: set[str], run_files: set[str]) -> list[Path]:
    """Remove files of earlier runs: plugin directories not in ``labels``, run files not rewritten now."""
    removed: list[Path] = []
    if not report_dir.is_dir():
        return removed
    for child in sorted(report_dir.iterdir()):
        if child.is_symlink() or not child.is_dir() or child.name in labels:
            continue
        report = child / "report.json"
        if not _is_our_report(report) or run_id_of(report) == run_id:
            continue
        for name in PLUGIN_FILES:
            target = child / name
            if target.exists():
                target.unlink()
                removed.append(target)
        with contextlib.suppress(OSError):  # the user keeps other files there: leave the directory
            child.rmdir()
    for name in RUN_FILES:
        target = report_dir / name
        if name in run_files or not target.is_file():
            continue
        if _is_our_run_file(target) and run_id_of(target) != run_id:
            target.unlink()
            removed.append(target)
    return removed
