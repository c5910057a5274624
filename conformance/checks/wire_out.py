"""wire-out: what a plugin emits decodes, on declared pins, with declared types (ABI.md 4.12, 5, 8.6)."""

from __future__ import annotations

from conformance.abi.constants import RUNTIME_UNSUPPORTED_TYPES, PacketType
from conformance.checks.common import metadata_of, require_processor
from conformance.checks.model import Severity
from conformance.checks.registry import check
from conformance.checks.traffic import TrafficRun, traffic_once
from conformance.scenario.context import ScenarioContext

_RUNTIME_TYPES = frozenset(PacketType) - RUNTIME_UNSUPPORTED_TYPES
#: Byte payloads: a pin declared as one of these may carry any of them.
_BINARY_LIKE = frozenset(
    {PacketType.BINARY, PacketType.ENCODED_VIDEO, PacketType.BINARY_WITH_META, PacketType.ENCODED_AUDIO}
)


def _traffic(ctx: ScenarioContext) -> TrafficRun | None:
    require_processor(ctx)
    return traffic_once(ctx)


def _count_outputs(ctx: ScenarioContext) -> None:
    """Ordinary traffic only: the output callback records the rule's violations (owned below), in this
    scenario and in every other one, where they are credited to the owning check."""
    run = _traffic(ctx)
    if run is not None:
        ctx.observe("outputs", len(run.outputs))


def _binary_meta_len(ctx: ScenarioContext) -> None:
    """ABI.md 2.3, 8.6: the host's decoder reports any other CPacket.len as a violation (owned below)."""
    run = _traffic(ctx)
    if run is None:
        return
    binary = [out for out in run.outputs if out.packet_type == PacketType.BINARY_WITH_META]
    ctx.observe("binary_with_meta_outputs", len(binary))
    if not binary:
        ctx.skip("the ordinary traffic produced no BinaryWithMeta packet")


def _runtime_types(ctx: ScenarioContext) -> None:
    run = _traffic(ctx)
    if run is None:
        return
    bad = sorted(
        {
            out.packet_type
            for out in run.outputs
            if out.packet_type is not None and out.packet_type not in _RUNTIME_TYPES
        }
    )
    ctx.expect(not bad, "emitted discriminants are runtime types (not OpusAudio, Any, Passthrough)", f"emitted {bad}")


def _declared_pins(ctx: ScenarioContext) -> None:
    run = _traffic(ctx)
    if run is None:
        return
    declared = {pin.name for pin in metadata_of(ctx).outputs}
    unknown = sorted({out.pin for out in run.outputs if out.pin is not None and out.pin not in declared})
    ctx.expect(
        not unknown,
        "packets go only to declared output pins",
        f"emitted on {unknown}; declared {sorted(declared)} (the router drops the rest)",
    )


def _type_allowed(produced: int, emitted: int) -> bool:
    if produced in (PacketType.ANY, PacketType.PASSTHROUGH):
        return True
    if produced in _BINARY_LIKE or produced == PacketType.OPUS_AUDIO:
        return emitted in _BINARY_LIKE
    return produced == emitted


def _declared_types(ctx: ScenarioContext) -> None:
    run = _traffic(ctx)
    if run is None:
        return
    produces = {pin.name: pin.produces.discriminant for pin in metadata_of(ctx).outputs}
    wrong = sorted(
        {
            f"{out.pin}: declared {produces[out.pin]}, emitted {out.packet_type}"
            for out in run.outputs
            if out.pin in produces
            and out.packet_type is not None
            and not _type_allowed(produces[out.pin], out.packet_type)
        }
    )
    ctx.expect(not wrong, "each output pin carries the packet type it declares", "; ".join(wrong))


def _telemetry(ctx: ScenarioContext) -> None:
    run = _traffic(ctx)
    if run is None:
        return
    problems = [f"{event.event_type}: {event.problem}" for event in run.telemetry if event.problem]
    ctx.observe("telemetry_events", len(run.telemetry))
    ctx.expect(
        not problems,
        "telemetry events have a UTF-8 event_type and exactly data_len bytes of JSON",
        "; ".join(problems[:5]),
    )


check(
    "wire-out.decodes",
    abi_ref="ABI.md 4.12, 5, 8.6",
    rationale="The host converts every emitted packet with the ABI.md 5 rules; one that fails to convert fails "
    "the node ('Failed to convert packet: ...').",
    owns_violations=("wire-out.convert",),
)(_count_outputs)
check(
    "wire-out.runtime-types",
    abi_ref="ABI.md 5.0 C3, 8.6",
    rationale="OpusAudio, Any and Passthrough are pin-type tags; emitting them fails the node.",
)(_runtime_types)
check(
    "wire-out.declared-pins",
    abi_ref="ABI.md 4.12, 8.6",
    rationale="The host does not check pin names in the callback; the router drops packets for unknown pins and "
    "the rest of that call's outputs.",
)(_declared_pins)
check(
    "wire-out.declared-types",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 5.11, 8.6",
    rationale="Downstream nodes are wired by the declared output type; another type breaks them.",
)(_declared_types)
check(
    "wire-out.binary-handle-null",
    abi_ref="ABI.md 4.16 rule 5, 8.6",
    rationale="A plugin's own BinaryWithMeta must carry buffer_handle and free_fn NULL (or use the 32-byte form); "
    "the host would treat a handle as a Rust Bytes object.",
    owns_violations=("wire-out.binary-handle",),
)(_count_outputs)
check(
    "wire-out.binary-meta-len",
    abi_ref="ABI.md 2.3, 5.5 step 1, 8.6",
    rationale="The host reads BinaryWithMeta's handle fields only when CPacket.len >= 48 and the 32-byte v7/v8 layout "
    "below that: any len other than 32 or >= 48 is a size the plugin got wrong (its handle fields are "
    "silently dropped, or the host reads past the struct).",
    owns_violations=("wire-out.binary-meta-len",),
)(_binary_meta_len)
check(
    "wire-out.telemetry",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 4.13, 8.6",
    rationale="Telemetry events need a UTF-8 event type and JSON of exactly data_len bytes, else the host drops "
    "them with a warning.",
)(_telemetry)
