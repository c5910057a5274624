"""What a report says of a plugin as a whole: its verdict and grade from its ``CheckResult``s, its file's digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conformance.checks.model import Status
from conformance.checks.result import CheckResult

SCHEMA_VERSION = "1.1"  # 1.1 added the optional root_cause
#: What grades a plugin C when no required check has it.
FAILED = frozenset({Status.FAIL, Status.CRASH, Status.TIMEOUT, Status.ERROR})


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
    if any(result.status in FAILED for result in results):
        return "C"
    if any(result.status is Status.WARN for result in results):
        return "B"
    return "A"
