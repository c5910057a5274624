"""The judgement of one battery item on one plugin, as reports serialise it.

``Status`` and ``Severity`` stay enums up to here; ``to_json`` is where they
become the strings of report.json (and of the payloads xdist workers send,
which carry plain data only).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from conformance.checks.model import Severity, Status

#: Statuses that do not fail a check: a required check with any other status blocks the plugin.
NOT_BLOCKING = frozenset({Status.PASS, Status.WARN, Status.SKIP})


def blocks(severity: Severity, status: Status) -> bool:
    """A required check that did not pass makes the plugin fail."""
    return severity is Severity.REQUIRED and status not in NOT_BLOCKING


@dataclass(frozen=True)
class CheckResult:
    """The judgement of one check (at one host version) on one plugin."""

    id: str
    check_id: str
    host_version: int | None
    category: str
    severity: Severity
    status: Status
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    repro: str = ""
    abi_ref: str = ""
    attempts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        # Shallow: evidence is plain JSON data already; asdict's deep copy cost ~0.1 ms per item.
        data = {field.name: getattr(self, field.name) for field in fields(self)}
        data["severity"] = self.severity.value
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**{**data, "severity": Severity(data["severity"]), "status": Status(data["status"])})

    @property
    def blocking(self) -> bool:
        return blocks(self.severity, self.status)
