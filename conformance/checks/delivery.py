"""Delivering one packet to a fresh instance and collecting what came back.

Shared by the wire-in, wire-out, callbacks and errors checks: create an
instance with valid params on the pin that accepts the packet, call
process_packet once, and return the result for the scenario to judge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.abi import ffi
from conformance.abi.constants import PacketType, packet_type_name
from conformance.checks.common import metadata_of, require_processor, valid_params
from conformance.host.callbacks import host_callbacks
from conformance.host.instance import CallResult, Instance
from conformance.host.packets import Packet, normalise, packet_type_of
from conformance.host.wire import EncodedPacket, RawWire, encode_packet, encode_raw
from conformance.scenario.context import ScenarioContext


def pin_for(ctx: ScenarioContext, packet_type: int) -> str:
    """The first input pin that accepts ``packet_type`` (Any accepts all; Binary and BinaryWithMeta alias)."""
    metadata = metadata_of(ctx)
    if packet_type in (PacketType.OPUS_AUDIO, PacketType.ANY, PacketType.PASSTHROUGH) and metadata.inputs:
        return metadata.inputs[0].name  # never legal at runtime: what matters is that any pin refuses it
    binary_like = {5, 9, 10, 11}
    for pin in metadata.inputs:
        types = {t.discriminant for t in pin.accepts}
        if int(PacketType.ANY) in types or packet_type in types:
            return pin.name
        if packet_type in binary_like and types & binary_like:  # encoded payloads arrive as opaque bytes
            return pin.name
    if not metadata.inputs:
        ctx.skip("the plugin declares no input pin")
    ctx.skip(f"no input pin accepts {packet_type_name(packet_type)} packets")
    raise AssertionError("unreachable")


def is_echo(ctx: ScenarioContext) -> bool:
    return any(pin.produces.discriminant == int(PacketType.PASSTHROUGH) for pin in metadata_of(ctx).outputs)


@dataclass
class Delivery:
    instance: Instance
    encoded: EncodedPacket
    result: CallResult
    pin: str


def encode_for(ctx: ScenarioContext, packet: Packet | RawWire, **handles: Any) -> EncodedPacket:
    if isinstance(packet, RawWire):
        return encode_raw(packet)
    return encode_packet(packet, host_version=ctx.host_version, plugin_version=ctx.plugin.version, **handles)


def deliver(
    ctx: ScenarioContext,
    packet: Packet | RawWire,
    *,
    detail: str,
    packet_type: int | None = None,
    encoded: EncodedPacket | None = None,
    then: Callable[[Instance], None] | None = None,
    **frame_options: Any,
) -> Delivery | None:
    """Create, process once (and run ``then``), destroy. None when create failed (with an expectation)."""
    plugin = require_processor(ctx)
    if packet_type is None:
        packet_type = packet.packet_type if isinstance(packet, RawWire) else int(packet_type_of(packet))
    pin = pin_for(ctx, packet_type)
    if encoded is None:
        encoded = encode_for(ctx, packet)
    instance = Instance.create(plugin, valid_params(ctx))
    if instance is None:
        ctx.expect(False, "create_instance with valid params returns a handle")
        return None
    try:
        result = instance.process(pin, encoded, detail=f"{detail} on pin {pin!r}", **frame_options)
        if then is not None:
            then(instance)
    finally:
        instance.destroy()
    return Delivery(instance, encoded, result, pin)


def expected_echo(ctx: ScenarioContext, packet: Packet) -> Packet:
    return normalise(packet, host_version=ctx.host_version, plugin_version=ctx.plugin.version)


def binary_handle_state(ctx: ScenarioContext, handle: Any) -> str:
    return host_callbacks(ctx.emit).binary_handles.get(int(ffi().cast("uintptr_t", handle)), "unknown")
