"""lifecycle: creating and destroying instances (ABI.md 4.3, 4.9, 8.3; HOST.md 1.3, 6.3)."""

from __future__ import annotations

import json
from typing import Any

from conformance.abi import ffi
from conformance.checks.common import metadata_of, require_processor, schema_defaults
from conformance.checks.model import Applicability, Check, Severity
from conformance.checks.registry import check, register_checks
from conformance.host.instance import Instance
from conformance.sandbox.context import ScenarioContext


def _create_then_destroy(params: Any, label: str, *, expect_handle: bool, may_ignore: bool = False) -> Any:
    def scenario(ctx: ScenarioContext) -> None:
        plugin = require_processor(ctx)
        instance = Instance.create(plugin, params, label=label)
        if expect_handle:
            ctx.expect(
                instance is not None,
                f"create_instance({label}) returns a handle",
                "NULL handle: the host fails the node with 'Plugin failed to create instance'",
            )
        elif not may_ignore:
            ctx.observe("handle_returned", instance is not None)
            ctx.expect(
                instance is None,
                f"create_instance({label}) refuses the params with a NULL handle",
                "a handle was returned for params the plugin cannot have understood",
                warn_only=True,
            )
        if instance is not None:
            instance.destroy()

    return scenario


def _create_check(
    suffix: str,
    params: Any,
    label: str,
    rationale: str,
    *,
    expect_handle: bool,
    ref: str,
    may_ignore: bool = False,
    severity: Severity = Severity.REQUIRED,
) -> Check:
    return Check(
        f"lifecycle.create-{suffix}",
        "lifecycle",
        severity,
        ref,
        rationale,
        _create_then_destroy(params, label, expect_handle=expect_handle, may_ignore=may_ignore),
    )


register_checks(
    [
        _create_check(
            "null-params",
            None,
            "NULL",
            "The host passes NULL params when a node has none; the plugin must create an instance.",
            expect_handle=True,
            ref="ABI.md 1.3, 4.3, 8.3",
        ),
        _create_check(
            "empty-string",
            "",
            '""',
            'Plugins should treat "" as "no params" (the SDK does); the host never sends it but tools may.',
            expect_handle=True,
            ref="ABI.md 4.3",
            severity=Severity.RECOMMENDED,
        ),
        _create_check(
            "empty-object",
            "{}",
            "{}",
            "An empty JSON object is the params of a node configured with no settings.",
            expect_handle=True,
            ref="ABI.md 4.3, 8.3",
        ),
        _create_check(
            "invalid-json",
            "{not json",
            "invalid JSON",
            "Invalid params must give a NULL handle (the host reports 'Plugin failed to create instance'), never a crash.",
            expect_handle=False,
            ref="ABI.md 4.3, 8.3",
        ),
        _create_check(
            "invalid-utf8",
            b'{"label":"\xff\xfe"}',
            "invalid UTF-8",
            "Params that are not UTF-8 must give a NULL handle, never a crash.",
            expect_handle=False,
            ref="ABI.md 4.3, 8.3",
        ),
        _create_check(
            "non-object-json",
            "[1,2,3]",
            "a JSON array",
            "Params of the wrong JSON shape must be refused or ignored, never crash the plugin.",
            expect_handle=False,
            ref="ABI.md 4.3",
            may_ignore=True,
        ),
    ]
)


@check(
    "lifecycle.create-valid-params",
    category="lifecycle",
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
    category="lifecycle",
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
    category="lifecycle",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.3, 4.9",
    rationale="Instances are created and destroyed once per node and pipeline restart; 100 cycles must work.",
)
def create_destroy_many(ctx: ScenarioContext) -> None:
    plugin = require_processor(ctx)
    created = 0
    for _ in range(100):
        instance = Instance.create(plugin, None)
        if instance is None:
            break
        created += 1
        instance.destroy()
    ctx.expect(created == 100, "100 create/destroy cycles succeed", f"create returned NULL on cycle {created + 1}")


@check(
    "lifecycle.instances-coexist",
    category="lifecycle",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.3",
    rationale="One plugin backs many nodes: several live instances at once must be independent handles.",
)
def instances_coexist(ctx: ScenarioContext) -> None:
    plugin = require_processor(ctx)
    instances = [Instance.create(plugin, None) for _ in range(4)]
    live = [instance for instance in instances if instance is not None]
    handles = {int(ffi().cast("uintptr_t", instance.handle)) for instance in live}
    ctx.expect(len(live) == 4, "four instances can be live at once")
    ctx.expect(
        len(handles) == len(live),
        "every live instance has a distinct handle",
        "handles repeat (a zero-sized instance?): hosts that key state by handle would mix nodes up",
        warn_only=True,
    )
    for instance in reversed(live):
        instance.destroy()


@check(
    "lifecycle.destroy-null",
    category="lifecycle",
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
    category="lifecycle",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 1.2 step 7, 4.10, 8.1; HOST.md 1.1 step 7",
    rationale="A plugin with get_source_config is probed at load: create(NULL) with a silent logger, "
    "get_source_config, destroy, all on the loading thread. A NULL handle demotes it to a processor.",
    applies=Applicability(needs=("get_source_config",)),
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
    try:
        config = instance.source_config()
    finally:
        instance.destroy()
    ctx.expect(config.is_source_byte in (0, 1), "CSourceConfig.is_source is 0 or 1", f"byte {config.is_source_byte}")
    ctx.observe(
        "source_config",
        {
            "is_source": config.is_source_byte,
            "tick_interval_us": config.tick_interval_us,
            "max_ticks": config.max_ticks,
        },
    )
