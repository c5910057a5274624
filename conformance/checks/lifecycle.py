"""lifecycle: creating and destroying instances (ABI.md 4.3, 4.9, 8.3; HOST.md 1.3, 6.3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from conformance.abi import ffi
from conformance.checks import tasks
from conformance.checks.common import metadata_of, require_processor, schema_defaults, valid_params, variant_params
from conformance.checks.model import Applicability, Needs, Severity
from conformance.checks.registry import FamilyRow, check, declare_family
from conformance.checks.traffic import difference, drive, fingerprint, traffic_once
from conformance.host.instance import Instance
from conformance.host.libc import libc
from conformance.scenario.context import Scenario, ScenarioContext

CREATE_DESTROY_CYCLES = 100
COEXISTING_INSTANCES = 4
#: How long threads the plugin started get to finish after its last instance is destroyed.
THREAD_EXIT_GRACE_S = 0.5
#: Longest wait, once the library is closed, for each of those still running to get a CPU again (and end,
#: or run into the unmapped code); within the budget of the "join" call.
UNLOAD_WAIT_S = 1.5


@dataclass(frozen=True, kw_only=True)
class CreateCase(FamilyRow):
    """One create_instance check: the params, how the report names them, and what must come back."""

    params: str | bytes | None
    label: str
    expect_handle: bool
    may_ignore: bool = False


CREATE_CASES: tuple[CreateCase, ...] = (
    CreateCase(
        suffix="null-params",
        params=None,
        label="NULL",
        rationale="The host passes NULL params when a node has none; the plugin must create an instance.",
        expect_handle=True,
        abi_ref="ABI.md 1.3, 4.3, 8.3",
    ),
    CreateCase(
        suffix="empty-string",
        params="",
        label='""',
        rationale='Plugins should treat "" as "no params" (the SDK does); the host never sends it but tools may.',
        expect_handle=True,
        abi_ref="ABI.md 4.3",
        severity=Severity.RECOMMENDED,
    ),
    CreateCase(
        suffix="empty-object",
        params="{}",
        label="{}",
        rationale="An empty JSON object is the params of a node configured with no settings.",
        expect_handle=True,
        abi_ref="ABI.md 4.3, 8.3",
    ),
    CreateCase(
        suffix="invalid-json",
        params="{not json",
        label="invalid JSON",
        rationale="Invalid JSON params must give a NULL handle (the host reports 'Plugin failed to create instance'), "
        "never a crash and never a node that silently ignores its configuration.",
        expect_handle=False,
        abi_ref="ABI.md 4.3, 8.3",
    ),
    CreateCase(
        suffix="invalid-utf8",
        params=b'{"label":"\xff\xfe"}',
        label="invalid UTF-8",
        rationale="Params that are not UTF-8 must give a NULL handle, never a crash and never a node that silently "
        "ignores its configuration.",
        expect_handle=False,
        abi_ref="ABI.md 4.3, 8.3",
    ),
    CreateCase(
        suffix="non-object-json",
        params="[1,2,3]",
        label="a JSON array",
        rationale="Params of the wrong JSON shape must be refused or ignored, never crash the plugin.",
        expect_handle=False,
        abi_ref="ABI.md 4.3",
        may_ignore=True,
    ),
)


def _create_then_destroy(case: CreateCase) -> Scenario:
    label = case.label

    def scenario(ctx: ScenarioContext) -> None:
        plugin = require_processor(ctx)
        instance = Instance.create(plugin, case.params, label=label)
        if case.expect_handle:
            ctx.expect(
                instance is not None,
                f"create_instance({label}) returns a handle",
                "NULL handle: the host fails the node with 'Plugin failed to create instance'",
            )
        elif not case.may_ignore:
            ctx.observe("handle_returned", instance is not None)
            ctx.expect(
                instance is None,
                f"create_instance({label}) refuses the params with a NULL handle",
                "a handle was returned for params the plugin cannot have read: the host would run a node "
                "configured with nothing it asked for (ABI.md 4.3: NULL on any failure)",
            )
        if instance is not None:
            instance.destroy()

    return scenario


declare_family("lifecycle.create-", CREATE_CASES, _create_then_destroy)


@check(
    "lifecycle.create-valid-params",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 1.3, 4.3, 8.3",
    rationale="Params built from the plugin's own schema defaults are valid by its own declaration and must be accepted.",
)
def create_valid_params(ctx: ScenarioContext) -> None:
    plugin = require_processor(ctx)
    params = schema_defaults(metadata_of(ctx))
    if params is None:
        ctx.skip("the param schema declares no defaults to build valid params from")
    text = json.dumps(params, separators=(",", ":"))
    instance = Instance.create(plugin, text)
    ctx.expect(instance is not None, f"create_instance({text}) returns a handle")
    if instance is not None:
        instance.destroy()


@check(
    "lifecycle.create-destroy",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.9; HOST.md 6.3",
    rationale="The host prewarms plugins by creating a node and dropping it at once: create then destroy with no "
    "other call must work.",
)
def create_destroy(ctx: ScenarioContext) -> None:
    plugin = require_processor(ctx)
    instance = Instance.create(plugin, None, install_setter=False)
    if instance is None:
        ctx.skip("create_instance(NULL) returned NULL (see lifecycle.create-null-params)")
    assert instance is not None
    instance.destroy()
    ctx.expect(True, "create_instance then destroy_instance with no other call")


@check(
    "lifecycle.create-destroy-many",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.3, 4.9",
    rationale="Instances are created and destroyed once per node and pipeline restart; 100 cycles must work.",
)
def create_destroy_many(ctx: ScenarioContext) -> None:
    plugin = require_processor(ctx)
    created = 0
    for _ in range(CREATE_DESTROY_CYCLES):
        instance = Instance.create(plugin, None)
        if instance is None:
            break
        created += 1
        instance.destroy()
    ctx.expect(
        created == CREATE_DESTROY_CYCLES,
        f"{CREATE_DESTROY_CYCLES} create/destroy cycles succeed",
        f"create returned NULL on cycle {created + 1}",
    )


@check(
    "lifecycle.instances-coexist",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.3, 8.3",
    rationale="One plugin backs many nodes: several live instances at once must be independent. Handles that repeat "
    "are a warning only when a state test shows the instances independent anyway (a stateless zero-sized "
    "instance); shared state is a failure.",
)
def instances_coexist(ctx: ScenarioContext) -> None:
    plugin = require_processor(ctx)
    instances = [Instance.create(plugin, None) for _ in range(COEXISTING_INSTANCES)]
    live = [instance for instance in instances if instance is not None]
    handles = {int(ffi().cast("uintptr_t", instance.handle)) for instance in live}
    ctx.expect(len(live) == COEXISTING_INSTANCES, "four instances can be live at once")
    for instance in reversed(live):
        instance.destroy()
    if len(handles) == len(live):
        return
    ctx.observe("distinct_handles", f"{len(handles)} for {len(live)} live instances")
    shared_state, evidence = _state_test(ctx)
    ctx.observe("state_test", evidence)
    if shared_state:
        ctx.expect(False, "instances that share one handle are still independent", evidence["difference"])
        return
    ctx.expect(
        False,
        "every live instance has a distinct handle",
        "handles repeat (a zero-sized instance); the state test found no shared state, but hosts that key "
        "state by handle would mix nodes up",
        warn_only=True,
    )


def _state_test(ctx: ScenarioContext) -> tuple[bool, dict[str, Any]]:
    """Two live instances with different params, driven in turn, against fresh instances driven alone.

    A: params P1, B: params P2 (``variant_params``; P1 again when the schema
    offers no other valid value). Reference: A alone for two rounds, B alone
    for one. Live together: A, B, A. Any difference means the instances share
    state (B's params or A's history leak into the other).
    """
    metadata = metadata_of(ctx)
    first = valid_params(ctx)
    second = variant_params(metadata) or first
    reference_a = _rounds(ctx, first, 2)
    reference_b = _rounds(ctx, second, 1)
    if reference_b is None and second != first:
        second, reference_b = first, reference_a[:1] if reference_a is not None else None
    evidence: dict[str, Any] = {"params_a": first, "params_b": second}
    if reference_a is None or reference_b is None:
        evidence["difference"] = "create_instance returned NULL for the reference runs"
        return False, evidence
    a = Instance.create(ctx.plugin, first, label="A")
    b = Instance.create(ctx.plugin, second, label="B")
    try:
        if a is None or b is None:
            evidence["difference"] = "a second live instance could not be created"
            return False, evidence
        together = [fingerprint(drive(ctx, a)), fingerprint(drive(ctx, b)), fingerprint(drive(ctx, a))]
    finally:
        for instance in (b, a):
            if instance is not None:
                instance.destroy()
    expected = [reference_a[0], reference_b[0], reference_a[1]]
    evidence["params_matter"] = reference_a[0] != reference_b[0]
    evidence["history_matters"] = reference_a[0] != reference_a[1]
    labels = ("A (first round)", "B", "A (second round)")
    for label, want, got in zip(labels, expected, together, strict=True):
        if want != got:
            evidence["difference"] = (
                f"{label} live next to the other differs from a lone instance: {difference(want, got)}"
            )
            return True, evidence
    return False, evidence


def _rounds(ctx: ScenarioContext, params: dict[str, Any], count: int) -> list[Any] | None:
    instance = Instance.create(ctx.plugin, params, label="reference")
    if instance is None:
        return None
    try:
        return [fingerprint(drive(ctx, instance)) for _ in range(count)]
    finally:
        instance.destroy()


@check(
    "lifecycle.destroy-null",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 6.1 (argument checks), 8.3",
    rationale="destroy_instance(NULL) must be a no-op (the SDK checks); a defensive host may issue it.",
)
def destroy_null(ctx: ScenarioContext) -> None:
    plugin = require_processor(ctx)
    ctx.call("destroy_instance", plugin.api.destroy_instance, ffi().NULL, detail="NULL handle")
    ctx.expect(True, "destroy_instance(NULL) returned")


@check(
    "lifecycle.source-probe",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 1.2 step 7, 4.10, 8.1; HOST.md 1.1 step 7",
    rationale="A plugin with get_source_config is probed at load: create(NULL) with a silent logger, "
    "get_source_config, destroy, all on the loading thread. A NULL handle demotes it to a processor.",
    applies=Applicability(needs=Needs(entry="get_source_config")),
    options={
        "triage_exempt": tuple(
            f"wedged:{entry}" for entry in ("create_instance", "get_source_config", "destroy_instance")
        )
    },
)
def source_probe(ctx: ScenarioContext) -> None:
    plugin = require_processor(ctx)
    instance = Instance.create(plugin, None, install_setter=False, silent_log=True, label="probe")
    ctx.expect(
        instance is not None,
        "the probe's create_instance(NULL) returns a handle",
        "host WARN: Source config probe failed: plugin returned null from create_instance with no params",
    )
    if instance is None:
        return
    config = instance.source_config_then_destroy()
    ctx.expect(config.is_source_byte in (0, 1), "CSourceConfig.is_source is 0 or 1", f"byte {config.is_source_byte}")
    ctx.observe(
        "source_config",
        {
            "is_source": config.is_source_byte,
            "tick_interval_us": config.tick_interval_us,
            "max_ticks": config.max_ticks,
        },
    )


@check(
    "lifecycle.threads-stopped",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.9; HOST.md 1.9",
    rationale="After its last instance is destroyed the host may dlclose the library, and no thread the plugin "
    "started may outlive that: one still running unmapped code crashes the host, one that keeps spinning burns "
    "a core of the server for good.",
)
def threads_stopped(ctx: ScenarioContext) -> None:
    before = tasks.threads()  # before the library is loaded: threads its constructors start count too
    plugin = require_processor(ctx)
    traffic_once(ctx)
    grace = THREAD_EXIT_GRACE_S * ctx.request.budget_scale
    after_destroy = tasks.still_running_after(before, grace)
    if not after_destroy:
        ctx.expect(True, "every thread the plugin started has ended once its last instance is destroyed")
        return
    left = tasks.describe(after_destroy)
    ctx.observe("threads_after_destroy", sorted(after_destroy.values()))
    wait = UNLOAD_WAIT_S * ctx.request.budget_scale

    def close_then_wait() -> tuple[int, dict[int, str]]:
        # One announced call from dlclose to the end of the wait: a library destructor may still stop the
        # threads, and one that runs into the unmapped code crashes inside this call, which names them.
        closed = int(libc().lib.dlclose(plugin.handle))
        return closed, tasks.left_after_running_again(before, wait)

    detail = f"dlclose, with {left} started by the plugin still running after its last destroy_instance"
    closed, after_close = ctx.call("join", close_then_wait, detail=detail)
    ctx.expect(closed == 0, "dlclose succeeds")
    ctx.expect(
        not after_close,
        "no thread the plugin started still runs after its last instance is destroyed and the library closed",
        f"{tasks.describe(after_close)} still running after destroy_instance and dlclose",
    )
