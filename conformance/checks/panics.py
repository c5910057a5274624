"""panics: a panic in any entry point comes back as an error and the process survives (ABI.md 6.1; HOST.md 3).

Each check drives one entry point with ordinary traffic. A panic that the
plugin's guard turned into "plugin panicked: ..." passes here (it is still an
error, which other checks judge); a panic that unwinds out of ``extern "C"``
or a ``panic = "abort"`` build aborts the process and fails, classified as a
crash with the panic text.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.entries import ENTRY_POINTS, EntryPoint
from conformance.checks.model import Check, Severity
from conformance.checks.registry import register_checks
from conformance.scenario.context import ScenarioContext


def _scenario(entry: EntryPoint) -> Any:
    def scenario(ctx: ScenarioContext) -> None:
        results = entry.drive(ctx)
        contained = [r.message for r in results if r.message and "panicked" in r.message]
        if contained:
            ctx.observe("contained_panic", contained[0])
        ctx.expect(True, f"the process survived {entry.name}")

    return scenario


register_checks(
    [
        Check(
            f"panics.{entry.slug}",
            "panics",
            Severity.REQUIRED,
            "ABI.md 4.1, 6.1; HOST.md 3.1-3.2, 6.8",
            f"A panic in {entry.name} must not cross the C boundary: unguarded, Rust aborts the whole host "
            "('panic in a function that cannot unwind').",
            _scenario(entry),
            entry.applies,
        )
        for entry in ENTRY_POINTS
    ]
)
