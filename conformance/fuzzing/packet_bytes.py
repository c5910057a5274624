"""Packets to fuzzer bytes: the inverse of ``conformance.strategies.packet_from_bytes``.

The seed corpora start from the very packets the battery sends, so each is
written as the bytes that the shared generator turns back into it.
"""

from __future__ import annotations

import json
from functools import lru_cache

from conformance.abi.constants import PacketType
from conformance.host.packets import (
    BinaryPacket,
    CustomPacket,
    JsonValue,
    Packet,
    PacketMetadata,
    RawAudioPacket,
    RawVideoPacket,
    TextPacket,
    TranscriptionPacket,
    packet_type_of,
)
from conformance.host.video import packed_frame_size
from conformance.strategies import BYTE_SAMPLE_RATES, packet_from_bytes
from conformance.strategies.input_bytes import ByteSink


@lru_cache(maxsize=1)
def model_kind_order() -> tuple[PacketType, ...]:
    """The kind ``packet_from_bytes`` builds for each first byte 0..6 (asked, not assumed)."""
    return tuple(packet_type_of(packet_from_bytes(bytes([index]))) for index in range(7))


def _sink_metadata(sink: ByteSink, metadata: PacketMetadata | None, *, with_keyframe: bool = False) -> None:
    if metadata is None:
        sink.byte(0)
        return
    values = (metadata.timestamp_us, metadata.duration_us, metadata.sequence)
    flags = 1 | sum(2 << index for index, value in enumerate(values) if value is not None)
    keyframe = metadata.keyframe
    if with_keyframe and keyframe is not None:
        flags |= 16 | (32 if keyframe else 0)
    sink.byte(flags)
    for value in values:
        if value is not None:
            sink.uint(value, 64)


def _sink_json(sink: ByteSink, value: JsonValue, depth: int = 3) -> None:
    """What ``strategies._read_json`` reads back: a tag byte then the value; what the format cannot hold
    becomes null."""
    if isinstance(value, bool):
        sink.byte(1).byte(int(value))
    elif isinstance(value, int) and -(1 << 63) <= value < (1 << 63):
        sink.byte(2).sint(value, 64)
    elif isinstance(value, float) and value * 64 == int(value * 64) and -(1 << 15) <= value * 64 < (1 << 15):
        sink.byte(3).sint(int(value * 64), 16)
    elif isinstance(value, str):
        sink.byte(4).text(value, 12)
    elif isinstance(value, list) and depth > 0:
        sink.byte(5).byte(min(len(value), 3))
        for item in value[:3]:
            _sink_json(sink, item, depth - 1)
    elif isinstance(value, dict) and depth > 0:
        items = list(value.items())[:3]
        sink.byte(6).byte(len(items))
        for key, item in items:
            sink.text(key, 8)
            _sink_json(sink, item, depth - 1)
    else:
        sink.byte(0)


def _sink_transcription(sink: ByteSink, packet: TranscriptionPacket) -> None:
    sink.text(packet.text, 24).byte(min(len(packet.segments), 3))
    for segment in packet.segments[:3]:
        if segment.confidence is None:
            sink.byte(0)
        else:
            sink.byte(1).f32(segment.confidence)
        sink.text(segment.text, 12).uint(segment.start_time_ms, 32).uint(segment.end_time_ms, 32)
    if packet.language is None:
        sink.byte(0)
    else:
        sink.byte(1).text(packet.language, 8)
    _sink_metadata(sink, packet.metadata, with_keyframe=True)


def _sink_binary(sink: ByteSink, packet: BinaryPacket) -> None:
    sink.byte(min(len(packet.data), 64)).raw(packet.data[:64])
    if not packet.has_meta:
        return
    if packet.content_type is None:
        sink.byte(0)
    else:
        sink.byte(1).text(packet.content_type, 16)
    _sink_metadata(sink, packet.metadata)


def _sink_audio(sink: ByteSink, packet: RawAudioPacket) -> None:
    if packet.sample_rate in BYTE_SAMPLE_RATES:
        sink.byte(1).byte(BYTE_SAMPLE_RATES.index(packet.sample_rate))
    else:
        sink.byte(0).uint(packet.sample_rate, 32)
    samples = packet.samples[:64]
    sink.byte(min(packet.channels, 8)).byte(len(samples))
    for sample in samples:
        sink.f32(sample)
    _sink_metadata(sink, packet.metadata)


def _sink_video(sink: ByteSink, packet: RawVideoPacket) -> None:
    width, height = min(packet.width, 16), min(packet.height, 16)
    need = packed_frame_size(width, height, packet.pixel_format)
    extra = max(0, min(len(packet.data) - need, 8)) if (width, height) == (packet.width, packet.height) else 0
    sink.byte(width).byte(height).byte(int(packet.pixel_format)).byte(extra).raw(packet.data[: need + extra])
    _sink_metadata(sink, packet.metadata)


def bytes_for_packet(packet: Packet) -> bytes:
    """Bytes that ``packet_from_bytes`` turns back into ``packet`` (exactly, within its size limits).

    Beyond the generator's limits (texts over 24 bytes, more than 64 samples,
    frames over 16x16) the result is the nearest packet the generator can make.
    """
    sink = ByteSink().byte(model_kind_order().index(packet_type_of(packet)))
    if isinstance(packet, TextPacket):
        sink.text(packet.text, 24)
    elif isinstance(packet, TranscriptionPacket):
        _sink_transcription(sink, packet)
    elif isinstance(packet, CustomPacket):
        sink.text(packet.type_id, 16)
        _sink_json(sink, json.loads(packet.data_json))
        _sink_metadata(sink, packet.metadata)
    elif isinstance(packet, BinaryPacket):
        _sink_binary(sink, packet)
    elif isinstance(packet, RawAudioPacket):
        _sink_audio(sink, packet)
    elif isinstance(packet, RawVideoPacket):
        _sink_video(sink, packet)
    return sink.getvalue()
