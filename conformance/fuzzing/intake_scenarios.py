"""The sandbox side of plugin intake: ``fuzz.profile`` reads a plugin's profile, ``fuzz.intake`` runs a
plan against it with its oracles (failed oracles are ``Expect(ok=False)`` events).

The fork server imports this module to know these scenarios, so it stays
free of Hypothesis (the parent sends the plan ready-made).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from conformance.abi.constants import PacketType
from conformance.checks.common import metadata_of, require_processor, schema_defaults
from conformance.checks.traffic import detect_node_kind
from conformance.fuzzing.findings import short
from conformance.fuzzing.intake_plan import IntakeOp, IntakePlan
from conformance.fuzzing.intake_profile import BINARY_LIKE, PluginProfile
from conformance.host.instance import CallResult, Instance
from conformance.host.loader import LoadedPlugin
from conformance.host.packets import Packet, normalise
from conformance.host.wire import EncodedPacket, WireError, decode_packet, encode_packet, encode_raw
from conformance.scenario.context import ScenarioContext
from conformance.scenario.tools import tool_scenario

PROFILE_SCENARIO = "fuzz.profile"
INTAKE_SCENARIO = "fuzz.intake"

_TYPE_ALLOWED_ANY = frozenset({PacketType.ANY, PacketType.PASSTHROUGH})


def profile_from_ctx(ctx: ScenarioContext) -> PluginProfile:
    """Read the profile inside a sandbox child (loads the plugin, reads its metadata, detects sources)."""
    plugin = require_processor(ctx)
    metadata = metadata_of(ctx)
    node_kind = ctx.option("node_kind")
    if node_kind is None:
        node_kind = detect_node_kind(ctx)
    return PluginProfile(
        name=Path(ctx.request.plugin_path).stem.removeprefix("lib"),
        version=int(plugin.version),
        node_kind=str(node_kind),
        inputs=tuple((pin.name, tuple(t.discriminant for t in pin.accepts)) for pin in metadata.inputs),
        outputs=tuple((pin.name, pin.produces.discriminant) for pin in metadata.outputs),
        has_hint=plugin.has_entry("on_upstream_hint"),
        valid_params=json.dumps(schema_defaults(metadata) or {}, separators=(",", ":")),
    )


@tool_scenario(PROFILE_SCENARIO)
def profile_scenario(ctx: ScenarioContext) -> None:
    """Learn the profile once per fuzzing session, in the sandbox (constructors may crash)."""
    ctx.observe("profile", asdict(profile_from_ctx(ctx)))


@tool_scenario(INTAKE_SCENARIO)
def intake_scenario(ctx: ScenarioContext) -> None:
    """One intake: options ``plan`` (an ``IntakePlan``) or ``input`` (its bytes, planned here)."""
    plan = ctx.option("plan")
    if plan is None:
        # Planning imports Hypothesis (slow), which the fork server must not pay for at start-up;
        # only a caller that sends bytes without a plan needs it.
        from conformance.fuzzing.intake_planner import plan_intake

        plan = plan_intake(bytes(ctx.option("input", b"")), profile_from_ctx(ctx))
    run_intake(ctx, plan)


@dataclass(frozen=True)
class IntakeTarget:
    """What every intake of one loaded plugin judges against: the plugin (its required entries present),
    its declared output pins with the type each produces, and whether it echoes (a Passthrough output)."""

    plugin: LoadedPlugin
    declared: dict[str, int]
    echo: bool


def intake_target(ctx: ScenarioContext) -> IntakeTarget:
    """The plugin's ``IntakeTarget``; skips the scenario when it is no processor or its metadata is unusable."""
    plugin = require_processor(ctx)
    declared = {pin.name: pin.produces.discriminant for pin in metadata_of(ctx).outputs}
    echo = any(produces == PacketType.PASSTHROUGH for produces in declared.values())
    return IntakeTarget(plugin, declared, echo)


def run_intake(
    ctx: ScenarioContext, plan: IntakePlan, *, label_calls: bool = True, target: IntakeTarget | None = None
) -> None:
    """Create, run every op with its oracles, destroy.

    ``label_calls=False`` leaves the calls' ``detail`` empty: only a context that announces calls (the lone
    child's in-flight evidence) reads it, and describing an op costs more than calling the plugin.
    ``target`` is the plugin's ``intake_target``, for a caller that keeps the plugin loaded across intakes.
    """
    target = target or intake_target(ctx)
    declared, echo = target.declared, target.echo
    instance = Instance.create(target.plugin, plan.params, label="fuzz")
    if instance is None:
        ctx.observe("create", "refused")  # legal for any params: nothing else to drive
        return
    try:
        for index, op in enumerate(plan.ops):
            label = _OpLabel(index, op)
            _run_op(ctx, instance, op, label, label.text if label_calls else "", declared, echo)
    finally:
        instance.destroy()


class _OpLabel:
    """``op N: <call>`` for messages, described on first use: a passing intake never reads it."""

    __slots__ = ("_text", "index", "op")

    def __init__(self, index: int, op: IntakeOp) -> None:
        self.index = index
        self.op = op
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = f"op {self.index}: {self.op.describe()}"
        return self._text

    def __str__(self) -> str:
        return self.text


def _type_allowed(produced: int, emitted: int) -> bool:
    """The wire-out rule: Any/Passthrough carry anything; binary-like pins carry binary-like packets."""
    if produced in _TYPE_ALLOWED_ANY:
        return True
    if produced in BINARY_LIKE or produced == PacketType.OPUS_AUDIO:
        return emitted in BINARY_LIKE
    return produced == emitted


def _failed(ctx: ScenarioContext, what: str, detail: str) -> None:
    """Only failures become events (a passing intake streams nothing the parent must unpickle), and only a
    failure's detail is formatted."""
    ctx.expect(False, what, detail)


def _run_op(
    ctx: ScenarioContext,
    instance: Instance,
    op: IntakeOp,
    label: _OpLabel,
    call_detail: str,
    declared: dict[str, int],
    echo: bool,
) -> None:
    if op.action in ("packet", "wire", "malformed"):
        encoded, expected = _delivery(ctx, op, label)
        result = instance.process(op.pin, encoded, detail=call_detail)
        _judge_call(ctx, result, label)
        _judge_outputs(ctx, result, declared, label)
        if op.action == "malformed":
            if result.success:
                _failed(ctx, "a malformed packet is refused (ABI.md 5)", f"{label}: it returned success")
        elif result.success and echo and expected is not None:
            _judge_echo(ctx, result, expected, label)
    elif op.action == "params":
        _judge_call(ctx, instance.update_params(op.text), label)
    elif op.action == "hint":
        _judge_call(ctx, instance.hint(op.text), label)
    elif op.action == "tick":
        result = instance.tick(detail=call_detail)
        _judge_call(ctx, result, label)
        _judge_outputs(ctx, result, declared, label)
    else:
        result = instance.flush()
        _judge_call(ctx, result, label)
        _judge_outputs(ctx, result, declared, label)


def _delivery(ctx: ScenarioContext, op: IntakeOp, label: _OpLabel) -> tuple[EncodedPacket, Packet | None]:
    """The packet as the host delivers it, and what an echo must give back (None: nothing to compare)."""
    version = ctx.plugin.version
    if op.packet is not None:
        encoded = encode_packet(op.packet, host_version=ctx.host_version, plugin_version=version)
        return encoded, normalise(op.packet, host_version=ctx.host_version, plugin_version=version)
    assert op.raw is not None
    if op.action == "malformed":
        return encode_raw(op.raw), None
    try:
        decoded = decode_packet(encode_raw(op.raw).ptr)  # a second copy: the delivered one is the plugin's
    except WireError as error:
        _failed(ctx, "the host receiver accepts a legal wire packet", f"{label}: {error.rule}: {error.message}")
        return encode_raw(op.raw), None
    if op.raw.kind in (PacketType.ENCODED_VIDEO, PacketType.ENCODED_AUDIO):
        return encode_raw(op.raw), decoded
    return encode_raw(op.raw), normalise(decoded, host_version=ctx.host_version, plugin_version=version)


def _judge_call(ctx: ScenarioContext, result: CallResult, label: _OpLabel) -> None:
    if not result.bool_ok:
        _failed(ctx, "CResult.success is 0 or 1", f"{label}: {result.describe()}")
    if result.message_problem is not None:
        _failed(ctx, "the error message is a readable C string", f"{label}: {result.message_problem}")


def _judge_outputs(ctx: ScenarioContext, result: CallResult, declared: dict[str, int], label: _OpLabel) -> None:
    for out in result.outputs:
        if out.error is not None:
            _failed(
                ctx,
                "every emitted packet converts as the host converts it",
                f"{label}: emitted on {out.pin!r}: {out.error}",
            )
        elif out.pin not in declared:
            _failed(
                ctx,
                "packets go only to declared output pins",
                f"{label}: emitted on {out.pin!r}; declared {sorted(declared)}",
            )
        elif out.packet_type is not None and not _type_allowed(declared[out.pin], out.packet_type):
            _failed(
                ctx,
                "each output pin carries the packet type it declares",
                f"{label}: emitted on {out.pin!r}: declared {declared[out.pin]}, emitted {out.packet_type}",
            )


def _judge_echo(ctx: ScenarioContext, result: CallResult, expected: Packet, label: _OpLabel) -> None:
    good = [out.packet for out in result.outputs if out.error is None]
    if len(good) != 1:
        _failed(ctx, "the echo plugin emits exactly one packet", f"{label}: {len(good)} packets")
    elif good[0] != expected:
        _failed(
            ctx,
            "the echoed packet equals what a conforming receiver reads",
            f"{label}: expected {short(expected)}, got {short(good[0])}",
        )
