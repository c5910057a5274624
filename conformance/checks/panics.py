"""panics: a panic in any entry point comes back as an error and the process survives (ABI.md 6.1; HOST.md 3).

Each check drives one entry point with ordinary traffic. A panic that the
plugin's guard turned into "plugin panicked: ..." passes here (it is still an
error, which other checks judge); a panic that unwinds out of ``extern "C"``
or a ``panic = "abort"`` build aborts the process and fails, classified as a
crash with the panic text.
"""

from __future__ import annotations

from conformance.checks.entries import ENTRY_POINTS, EntryPoint
from conformance.checks.registry import check
from conformance.scenario.context import Scenario, ScenarioContext


def _scenario(entry: EntryPoint) -> Scenario:
    def scenario(ctx: ScenarioContext) -> None:
        results = entry.drive(ctx)
        contained = [r.message for r in results if r.message and "panicked" in r.message]
        if contained:
            ctx.observe("contained_panic", contained[0])
        ctx.expect(True, f"the process survived {entry.name}")

    return scenario


for _entry in ENTRY_POINTS:
    check(
        f"panics.{_entry.slug}",
        abi_ref="ABI.md 4.1, 6.1; HOST.md 3.1-3.2, 6.8",
        rationale=f"A panic in {_entry.name} must not cross the C boundary: unguarded, Rust aborts the whole host "
        "('panic in a function that cannot unwind').",
        applies=_entry.applies,
    )(_scenario(_entry))
