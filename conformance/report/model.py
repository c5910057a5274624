"""The result model every renderer reads: one ``CheckResult`` per battery item, one report per plugin."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "1.1"  # 1.1 added the optional root_cause


@dataclass(frozen=True)
class CheckResult:
    """The judgement of one check (at one host version) on one plugin."""

    id: str
    check_id: str
    host_version: int | None
    category: str
    severity: str
    status: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    repro: str = ""
    abi_ref: str = ""
    attempts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        # Shallow: evidence is plain JSON data already; asdict's deep copy cost ~0.1 ms per item.
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**data)

    @property
    def blocking(self) -> bool:
        """A required check that did not pass makes the plugin fail."""
        return self.severity == "required" and self.status not in ("pass", "warn", "skip")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()


def verdict_of(results: list[CheckResult], loadable: bool = True) -> str:
    if not loadable:
        return "fail"
    return "fail" if any(result.blocking for result in results) else "pass"


def grade_of(results: list[CheckResult]) -> str:
    """A: everything passed; B: only warnings; C: only recommended failures; F: a required check failed."""
    if any(result.blocking for result in results):
        return "F"
    if any(result.status in ("fail", "crash", "timeout", "error") for result in results):
        return "C"
    if any(result.status == "warn" for result in results):
        return "B"
    return "A"
