"""timeouts: every entry point answers within its budget; slow is a warning, wedged a failure (HOST.md 1.5, 6.5).

The real host waits 300 s and then fails the node, leaving the wedged thread
and the library mapped forever; some entry points (create, the log-enabled
setter, hints, destroy) have no timeout at all there, so a wedge in them
hangs the engine. The sandbox stops a call at its budget and reports the
native stacks of every thread.
"""

from __future__ import annotations

from conformance.budgets import slow_threshold_for
from conformance.checks.entries import ENTRY_POINTS, EntryPoint, driven
from conformance.checks.registry import check
from conformance.scenario.context import Scenario, ScenarioContext


def _scenario(entry: EntryPoint) -> Scenario:
    def scenario(ctx: ScenarioContext) -> None:
        durations = driven(ctx, entry).durations
        if not durations:
            ctx.skip(f"{entry.name} was not reached")
        slowest = max(durations)
        threshold = slow_threshold_for(entry.name, ctx.request.budget_scale)
        ctx.observe("slowest_s", round(slowest, 6))
        ctx.expect(
            slowest <= threshold,
            f"{entry.name} answers within {threshold * 1000:.0f} ms",
            f"slow: {slowest * 1000:.0f} ms (a wedge is a failure; this is a warning)",
            warn_only=True,
        )

    return scenario


for _entry in ENTRY_POINTS:
    check(
        f"timeouts.{_entry.slug}",
        abi_ref="HOST.md 1.5, 6.5, 6.9; ABI.md 7",
        rationale=f"{_entry.name} must return within its budget; a call that never returns wedges the host's worker "
        "(or, for calls the host does not time out, the engine itself).",
        applies=_entry.applies,
        options={"triage_exempt": (f"wedged:{_entry.name}",)},
    )(_scenario(_entry))
