"""panics: a panic in any entry point comes back as an error and the process survives (ABI.md 6.1; HOST.md 3).

Each check drives one entry point with ordinary traffic. A panic that the
plugin's guard turned into "plugin panicked: ..." passes here (it is still an
error, which other checks judge); a panic that unwinds out of ``extern "C"``
or a ``panic = "abort"`` build aborts the process and fails, classified as a
crash with the panic text.
"""

from __future__ import annotations

from conformance.checks.common import valid_params
from conformance.checks.entries import ENTRY_POINTS, EntryPoint, driven
from conformance.checks.probe import ordinary_session
from conformance.checks.registry import check
from conformance.checks.traffic import detect_node_kind
from conformance.checks.verdict import REPLAYS_TRIAGE
from conformance.host.instance import Instance
from conformance.scenario.context import Scenario, ScenarioContext


def _scenario(entry: EntryPoint) -> Scenario:
    def scenario(ctx: ScenarioContext) -> None:
        results = driven(ctx, entry).results
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


@check(
    "panics.first-process-crash",
    abi_ref="ABI.md 6.1; HOST.md 3.1-3.2",
    rationale="A crash in the plugin's first process (the tool's triage: one instance through every entry "
    "with ordinary traffic) is a crash the host meets too; run again, it either crashes again or is "
    "intermittent, and never passes.",
    options={REPLAYS_TRIAGE: True},
)
def first_process_crash(ctx: ScenarioContext) -> None:
    # Only what triage ran, and only crashes are judged: a refusal is the lifecycle and load checks' finding.
    missing = ctx.plugin.missing_required()
    if missing:
        ctx.skip(f"triage does not run without {', '.join(missing)} (load.required-entries reports it)")
    if ctx.plugin.metadata.metadata is None:
        ctx.skip("triage does not run without usable metadata (see the metadata checks)")
    node_kind = detect_node_kind(ctx)
    instance = Instance.create(ctx.plugin, valid_params(ctx))
    if instance is None:
        ctx.skip("create_instance refused valid params, so triage ran no session (lifecycle reports it)")
    ordinary_session(ctx, node_kind, instance)
    ctx.expect(True, "the ordinary session triage ran completes")
