"""leaks: processes the plugin starts do not outlive its instances (ABI.md 4.9; HOST.md 1.9).

Two ways to see them. Inside the child, after destroy, the scenario lists the
child's own children: a helper the plugin forked and did not end is named with
the call that left it. After every scenario of every check the fork server
kills whatever is left in the sandbox (``sandbox.containment.sweep``): a
daemon that detached itself (double fork, ``setsid``) is no child of anyone,
and shows up there as a ``process.left-running`` violation, which this check
owns and the monitors credit to it from wherever it was seen.
"""

from __future__ import annotations

import os
import time

from conformance.checks.common import valid_params
from conformance.checks.probe import ordinary_session
from conformance.checks.registry import check
from conformance.checks.traffic import detect_node_kind
from conformance.host.instance import Instance
from conformance.sandbox.containment import STRAY_PROCESS_RULE
from conformance.sandbox.procfs import children, describe, is_alive
from conformance.scenario.context import ScenarioContext

#: A helper that ends on its own (it saw its pipe close, say) is given this long after destroy.
EXIT_GRACE_S = 0.2


def running_children() -> list[str]:
    """This process's live children, from every thread's list (a plugin thread may have forked), as "pid command"."""
    return [describe(pid) for pid in children(os.getpid()) if is_alive(pid)]


@check(
    "leaks.processes-left-running",
    abi_ref="ABI.md 4.9; HOST.md 1.9, 6.3",
    rationale="Processes a plugin starts are resources like threads and descriptors: left running after "
    "destroy_instance they outlive the node, accumulate with every pipeline restart, and a detached one "
    "outlives the host.",
    owns_violations=(STRAY_PROCESS_RULE,),
)
def processes_left_running(ctx: ScenarioContext) -> None:
    missing = ctx.plugin.missing_required()
    if missing:
        ctx.skip(f"needs {', '.join(missing)} to run a session")
    node_kind = detect_node_kind(ctx)
    instance = Instance.create(ctx.plugin, valid_params(ctx))
    if instance is None:
        ctx.skip("create_instance refused valid params (lifecycle reports it)")
    ordinary_session(ctx, node_kind, instance)
    deadline = time.monotonic() + EXIT_GRACE_S
    left = running_children()
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = running_children()
    ctx.expect(
        not left,
        "no process the plugin started is still running after destroy_instance",
        f"{len(left)} still running: {', '.join(left[:8])}",
    )
