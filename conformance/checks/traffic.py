"""Ordinary traffic: what the battery sends a plugin by default.

One sample packet of every runtime type each input pin accepts (sized from the
pin's declared formats), then flush; for sources, a few ticks. Checks that
judge side effects (callbacks, pools, logs, outputs) run this and look at what
came back. It is also what every defective fixture must show its defect under.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from conformance.abi.constants import PacketType, PixelFormat
from conformance.checks.common import metadata_of, valid_params
from conformance.host.callbacks import Emitted, TelemetryEvent
from conformance.host.instance import CallResult, Instance
from conformance.host.metadata import PinType
from conformance.host.packets import (
    BinaryPacket,
    CustomPacket,
    Packet,
    PacketMetadata,
    RawAudioPacket,
    RawVideoPacket,
    TextPacket,
    TranscriptionPacket,
    TranscriptionSegment,
)
from conformance.host.video import packed_frame_size
from conformance.host.wire import encode_packet
from conformance.scenario.context import ScenarioContext

SAMPLE_META = PacketMetadata(timestamp_us=40_000, duration_us=20_000, sequence=3)
MAX_TRAFFIC_PIXELS = 320 * 240


def _audio(pin_type: PinType | None) -> RawAudioPacket:
    rate, channels = 48_000, 2
    if pin_type is not None and pin_type.audio_format is not None:
        rate = pin_type.audio_format[0] or rate
        channels = pin_type.audio_format[1] or channels
    samples = tuple(math.sin(i / 7.0) * 0.25 for i in range(channels * 32))
    return RawAudioPacket(rate, channels, samples, SAMPLE_META)


def _video(pin_type: PinType | None) -> RawVideoPacket:
    width, height, fmt = 16, 8, PixelFormat.RGBA8
    if pin_type is not None and pin_type.raw_video_format is not None:
        declared_w, declared_h, declared_fmt = pin_type.raw_video_format
        if declared_w and declared_h and declared_w * declared_h <= MAX_TRAFFIC_PIXELS:
            width, height = declared_w, declared_h
        if declared_fmt in tuple(PixelFormat):
            fmt = PixelFormat(declared_fmt)
    size = packed_frame_size(width, height, fmt)
    return RawVideoPacket(width, height, fmt, bytes((i * 13) % 256 for i in range(size)), SAMPLE_META)


def sample_for(packet_type: int, pin_type: PinType | None = None) -> Packet | None:
    """A legal sample packet of a runtime type (None for pin-type-only discriminants)."""
    kind = PacketType(packet_type)
    if kind is PacketType.TEXT:
        return TextPacket("hello from the conformance host")
    if kind is PacketType.TRANSCRIPTION:
        return TranscriptionPacket("hi there", (TranscriptionSegment("hi there", 0, 640, 0.75),), "en", None)
    if kind is PacketType.CUSTOM:
        type_id = (
            pin_type.custom_type_id if pin_type is not None and pin_type.custom_type_id else "conformance/sample@1"
        )
        return CustomPacket(type_id, {"sample": True, "n": 3}, SAMPLE_META)
    if kind in (PacketType.BINARY, PacketType.BINARY_WITH_META, PacketType.ENCODED_AUDIO, PacketType.ENCODED_VIDEO):
        return BinaryPacket(b"\x00\x01binary sample\xff")
    if kind is PacketType.RAW_AUDIO:
        return _audio(pin_type)
    if kind is PacketType.RAW_VIDEO:
        return _video(pin_type)
    return None


_ANY_SAMPLES = (
    PacketType.TEXT,
    PacketType.BINARY,
    PacketType.RAW_AUDIO,
    PacketType.RAW_VIDEO,
    PacketType.CUSTOM,
    PacketType.TRANSCRIPTION,
)


def samples(ctx: ScenarioContext) -> list[tuple[str, Packet]]:
    """(pin, packet) for every runtime type each input pin accepts, one per (pin, type)."""
    result: list[tuple[str, Packet]] = []
    for pin in metadata_of(ctx).inputs:
        seen: set[type] = set()
        for pin_type in pin.accepts:
            candidates: list[tuple[int, PinType | None]]
            if pin_type.discriminant == PacketType.ANY:
                candidates = [(int(kind), None) for kind in _ANY_SAMPLES]
            else:
                candidates = [(pin_type.discriminant, pin_type)]
            for kind, declared in candidates:
                sample = sample_for(int(kind), declared)
                if sample is not None and type(sample) not in seen:
                    seen.add(type(sample))
                    result.append((pin.name, sample))
    return result


def traffic_detail(pin: str, packet: Packet) -> str:
    """How a call of ordinary traffic is announced ("TextPacket on pin 'in'"): triage's crash names it so."""
    return f"{type(packet).__name__} on pin {pin!r}"


@dataclass
class TrafficRun:
    results: list[CallResult] = field(default_factory=list)

    @property
    def outputs(self) -> list[Emitted]:
        return [out for result in self.results for out in result.outputs]

    @property
    def telemetry(self) -> list[TelemetryEvent]:
        return [event for result in self.results if result.frame is not None for event in result.frame.telemetry]


def fingerprint(run: TrafficRun) -> list[Any]:
    """What an instance produced: per call, success and the decoded outputs (pin, packet)."""
    return [(r.entry, r.success, r.message, [(o.pin, o.packet, o.error) for o in r.outputs]) for r in run.results]


def difference(expected: Any, actual: Any) -> str:
    """The first step where two fingerprints (or lists of them) differ, for the report ("" when equal)."""
    if expected == actual:
        return ""
    if not isinstance(expected, list) or not isinstance(actual, list):
        return f"expected {str(expected)[:200]}, got {str(actual)[:200]}"
    for index, (left, right) in enumerate(zip(expected, actual, strict=False)):
        if left != right:
            return f"first difference at step {index + 1}: reference {str(left)[:300]} vs this run {str(right)[:300]}"
    return f"the reference produced {len(expected)} steps, this run {len(actual)}"


def drive(ctx: ScenarioContext, instance: Instance, *, ticks: int = 3, **frame_options: Any) -> TrafficRun:
    """Send the ordinary traffic to ``instance``: every sample then flush, or ``ticks`` ticks for a source."""
    run = TrafficRun()
    plugin = ctx.plugin
    if _is_source(ctx):
        for number in range(ticks):
            result = instance.tick(detail=f"tick {number + 1}", **frame_options)
            run.results.append(result)
            if result.done or not result.success:
                break
        return run
    for pin, packet in samples(ctx):
        encoded = encode_packet(packet, host_version=ctx.host_version, plugin_version=plugin.version)
        run.results.append(instance.process(pin, encoded, detail=traffic_detail(pin, packet), **frame_options))
    run.results.append(instance.flush(**frame_options))
    return run


def _is_source(ctx: ScenarioContext) -> bool:
    return node_kind(ctx) == "source"


def node_kind(ctx: ScenarioContext) -> str:
    """Processor or source, as the probe found it (detected again when run without the runner)."""
    known = ctx.option("node_kind")
    if known is not None:
        return str(known)
    return detect_node_kind(ctx)


def detect_node_kind(ctx: ScenarioContext) -> str:
    """ABI.md 1.2 step 7: a source iff get_source_config exists and the NULL-params probe says so."""
    plugin = ctx.plugin
    if not plugin.has_entry("get_source_config"):
        return "processor"
    instance = Instance.create(plugin, None, install_setter=False, silent_log=True, label="probe")
    if instance is None:
        return "processor"
    config = instance.source_config_then_destroy()
    return "source" if config.is_source else "processor"


def traffic_once(ctx: ScenarioContext, **frame_options: Any) -> TrafficRun | None:
    """A fresh instance with valid params, the ordinary traffic once, destroy; None when create failed."""
    instance = with_instance(ctx)
    if instance is None:
        return None
    try:
        return drive(ctx, instance, **frame_options)
    finally:
        instance.destroy()


def with_instance(ctx: ScenarioContext, **create_options: object) -> Instance | None:
    """A fresh instance with valid params, or None after a failed expectation."""
    instance = Instance.create(ctx.plugin, valid_params(ctx), **create_options)  # type: ignore[arg-type]
    if instance is None:
        ctx.expect(False, "create_instance with valid params returns a handle")
    return instance
