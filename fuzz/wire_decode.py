#!/usr/bin/env python3
"""Fuzz target: the validating receiver returns a packet or raises ``WireError``, nothing else.

Why: ``decode_packet`` reads every packet a plugin emits. A plugin can put
any value in any field, so the receiver must turn every combination into a
packet or one of ABI.md 5's errors; an ``IndexError`` or ``OverflowError``
would be reported as a harness error instead of the plugin's fault.

The input bytes build a packet graph in C memory: any discriminant (0..11
and arbitrary int32), NULL or valid pointers, arbitrary enums, bool bytes,
handles and lengths. Pointers are always valid (never garbage: the real host
segfaults on those, and so would any reader), and every byte count is either
within its buffer or above the decoder's ``max_bytes`` (which it refuses
unread), so a crash here is always the receiver's bug.

    python fuzz/wire_decode.py [libFuzzer flags] [corpus dirs | input files]

Input layout (``ByteSource``; missing bytes read as 0): discriminant byte
(``% 12``; 0xFF: an int32 follows), flags byte (0xFE: NULL packet pointer;
low nibble 0xF: NULL data; bit 4: an arbitrary u64 ``CPacket.len`` follows),
then the payload of the discriminant (see ``_Graph``), then the length.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any

from conformance.abi import ffi
from conformance.abi.constants import PacketType
from conformance.fuzzing.driver import fuzz_main
from conformance.fuzzing.findings import FuzzFinding, short
from conformance.fuzzing.seeds import battery_packets
from conformance.host.packets import (
    BinaryPacket,
    CustomPacket,
    Packet,
    RawAudioPacket,
    RawVideoPacket,
    TextPacket,
    TranscriptionPacket,
)
from conformance.host.video import packed_frame_size
from conformance.host.wire import (
    RawAudio,
    RawBinaryMeta,
    RawBytes,
    RawCustom,
    RawMetadata,
    RawText,
    RawVideo,
    RawWire,
    WireError,
    decode_packet,
    to_raw_wire,
)
from conformance.strategies.input_bytes import ByteSink, ByteSource

TARGET = "wire_decode"
#: The decoder's byte limit in this target: counts above it must be refused before anything is read.
MAX_BYTES = 1 << 16
#: The one pool handle the target's resolver knows (any other non-NULL handle is unknown, rule P1).
POOL_HANDLE = 0x5EED_0000_1000
_BYTE_COUNT_KINDS = frozenset(
    {PacketType.TRANSCRIPTION, PacketType.BINARY, PacketType.ENCODED_VIDEO, PacketType.ENCODED_AUDIO}
)
_NATURAL_LEN = {
    PacketType.RAW_AUDIO: 40,
    PacketType.CUSTOM: 40,
    PacketType.RAW_VIDEO: 48,
    PacketType.BINARY_WITH_META: 48,
}
_PACKET_TYPES = (TextPacket, TranscriptionPacket, CustomPacket, BinaryPacket, RawAudioPacket, RawVideoPacket)


class _Graph:
    """C memory for one packet, built field by field from a ``ByteSource``; everything stays alive here."""

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self.keep: list[Any] = []
        self.pool: tuple[int, int] | None = None

    # -- building blocks

    def size(self) -> int:
        """A byte length: one byte, or 0xFF then a u16 (mod 4096)."""
        size = self.source.byte()
        return self.source.uint(16) % 4096 if size == 0xFF else size

    def buffer(self, data: bytes) -> Any:
        buffer = ffi().new("uint8_t[]", max(len(data), 1))
        ffi().memmove(buffer, data, len(data))
        self.keep.append(buffer)
        return buffer

    def optional_bytes(self) -> tuple[Any, int]:
        """(pointer, available): 0 is NULL, n is n-1 bytes, 0xFF a u16 size."""
        mode = self.source.byte()
        if mode == 0:
            return ffi().NULL, 0
        size = self.source.uint(16) % 4096 if mode == 0xFF else mode - 1
        return self.buffer(self.source.chunk(size)), size

    def optional_string(self) -> Any:
        """A NUL-terminated string (any bytes, NULs and invalid UTF-8 included) or NULL."""
        pointer, size = self.optional_bytes()
        if pointer == ffi().NULL:
            return pointer
        text = ffi().new("char[]", size + 1)
        ffi().memmove(text, pointer, size)
        self.keep.append(text)
        return text

    def count(self, available: int, unit: int = 1) -> int:
        """A count the receiver may read: all, part or none of ``available``, or one it must refuse."""
        mode = self.source.byte() % 4
        if mode == 0:
            return available
        if mode == 1:
            return self.source.uint(16) % (available + 1)
        if mode == 2:
            return min(MAX_BYTES // unit + 1 + self.source.uint(32), (1 << 64) - 1)
        return 0

    def metadata(self) -> Any:
        """NULL, a struct of valid flags (bits 1-3), or (bit 7) 48 raw bytes: bool bytes beyond 0/1."""
        mode = self.source.byte()
        if not mode & 1:
            return ffi().NULL
        raw = self.source.chunk(48)
        if not mode & 0x80:
            values = struct.unpack_from("<3Q", raw)
            flags = [(mode >> bit) & 1 for bit in (1, 2, 3)]
            raw = struct.pack("<QB7xQB7xQB7x", values[0], flags[0], values[1], flags[1], values[2], flags[2])
        return ffi().cast("CPacketMetadata *", self.buffer(raw))

    def pool_handle(self, element_size: int) -> Any:
        """NULL, the known pool handle (with a real pool buffer behind it), or an unknown one."""
        mode = self.source.byte() % 4
        if mode == 1:
            count = self.source.uint(16) % 2048
            storage = self.buffer(bytes(count * element_size))
            self.pool = (int(ffi().cast("uintptr_t", storage)), count)
            return ffi().cast("void *", POOL_HANDLE)
        if mode == 2:
            return ffi().cast("void *", self.source.uint(64) or 1)
        return ffi().NULL

    def int32(self, small: Callable[[int], int]) -> int:
        """A small valid value from one byte, or (0xF0 and above) an arbitrary int32."""
        value = self.source.byte()
        return self.source.sint(32) if value >= 0xF0 else small(value)

    # -- payloads: (data pointer, natural CPacket.len, bytes a byte-count len may cover)

    def text(self) -> tuple[Any, int, int]:
        size = self.size()
        data = self.source.chunk(size)
        text = ffi().new("char[]", size + 1)
        ffi().memmove(text, data, size)
        self.keep.append(text)
        return text, size + 1, size

    def opaque(self) -> tuple[Any, int, int]:
        size = self.size()
        return self.buffer(self.source.chunk(size)), size, size

    def custom(self) -> tuple[Any, int, int]:
        struct_ = ffi().new("CCustomPacket *")
        struct_.type_id = self.optional_string()
        struct_.encoding = self.int32(lambda value: 0)
        data, available = self.optional_bytes()
        struct_.data_json = data
        struct_.data_len = self.count(available) if data != ffi().NULL else self.source.uint(64)
        struct_.metadata = self.metadata()
        self.keep.append(struct_)
        return struct_, 40, 0

    def binary_meta(self) -> tuple[Any, int, int]:
        struct_ = ffi().new("CBinaryPacket *")  # always 48 bytes: any CPacket.len gate is safe
        data, available = self.optional_bytes()
        struct_.data = data
        struct_.data_len = self.count(available) if data != ffi().NULL else self.source.uint(64)
        struct_.content_type = self.optional_string()
        struct_.metadata = self.metadata()
        if self.source.byte() & 1:
            struct_.buffer_handle = ffi().cast("void *", self.source.uint(64))
            struct_.free_fn = ffi().cast("void (*)(void *)", self.source.uint(64))
        self.keep.append(struct_)
        return struct_, 48, 0

    def audio(self) -> tuple[Any, int, int]:
        frame = ffi().new("CAudioFrame *")
        frame.sample_rate = self.source.uint(32)
        frame.channels = self.source.uint(16)
        samples, available = self.optional_bytes()
        usable = available // 4
        frame.samples = ffi().cast("float *", samples)
        frame.sample_count = self.count(usable, 4) if samples != ffi().NULL else self.source.uint(64)
        frame.buffer_handle = self.pool_handle(4)
        frame.metadata = self.metadata()
        self.keep.append(frame)
        return frame, 40, 0

    def video(self) -> tuple[Any, int, int]:
        frame = ffi().new("CVideoFrame *")
        frame.width = self.int32(lambda value: value % 17) & 0xFFFFFFFF
        frame.height = self.int32(lambda value: value % 17) & 0xFFFFFFFF
        frame.pixel_format = self.int32(lambda value: value % 3)
        data, available = self.optional_bytes()
        frame.data = data
        frame.data_len = self.count(available) if data != ffi().NULL else self.source.uint(64)
        frame.buffer_handle = self.pool_handle(1)
        frame.metadata = self.metadata()
        self.keep.append(frame)
        return frame, 48, 0

    def payload(self, kind: int) -> tuple[Any, int, int]:
        builders: dict[int, Callable[[], tuple[Any, int, int]]] = {
            PacketType.RAW_AUDIO: self.audio,
            PacketType.TEXT: self.text,
            PacketType.CUSTOM: self.custom,
            PacketType.RAW_VIDEO: self.video,
            PacketType.BINARY_WITH_META: self.binary_meta,
        }
        return builders.get(kind, self.opaque)()

    def packet(self) -> Any:
        first = self.source.byte()
        kind = self.source.sint(32) if first == 0xFF else first % 12
        flags = self.source.byte()
        if flags == 0xFE:
            return ffi().NULL
        packet = ffi().new("CPacket *")
        packet.packet_type = kind
        wild_len = bool(flags & 0x10)
        if flags & 0x0F == 0x0F:
            packet.data = ffi().NULL
            packet.len = self.source.uint(64) if wild_len else 0
        else:
            data, natural, available = self.payload(kind)
            packet.data = data
            if kind in _BYTE_COUNT_KINDS or not 0 <= kind <= 11:
                packet.len = self.count(available)
            else:
                packet.len = self.source.uint(64) if wild_len else natural
        self.keep.append(packet)
        return packet

    def resolve(self, handle: int) -> tuple[int, int] | None:
        return self.pool if handle == POOL_HANDLE and self.pool is not None else None


def _check_invariants(packet: Packet) -> None:
    """What every decoded packet must look like, whatever the input was."""
    if not isinstance(packet, _PACKET_TYPES):
        raise FuzzFinding(f"decode_packet returned a {type(packet).__name__}", short(packet))
    if isinstance(packet, TextPacket) and "\0" in packet.text:
        raise FuzzFinding("a decoded Text holds a NUL", short(packet))
    if isinstance(packet, RawVideoPacket):
        need = packed_frame_size(packet.width, packet.height, packet.pixel_format)
        if len(packet.data) != need:
            raise FuzzFinding(
                "a decoded RawVideo frame is not trimmed to its packed size", f"need {need}: {short(packet)}"
            )
    if isinstance(packet, (BinaryPacket, RawAudioPacket)):
        size = len(packet.data) if isinstance(packet, BinaryPacket) else 4 * len(packet.samples)
        if size > MAX_BYTES:
            raise FuzzFinding("the decoder read more than max_bytes", f"{size} bytes")


def test_one_input(data: bytes) -> None:
    """Build the graph, decode it; only a packet or a ``WireError`` may come out."""
    graph = _Graph(ByteSource(data))
    pointer = graph.packet()
    try:
        packet = decode_packet(pointer, resolve_pool_buffer=graph.resolve, max_bytes=MAX_BYTES)
    except WireError as error:
        if not error.message:
            raise FuzzFinding(f"a WireError ({error.rule.name}) without a message") from None
        return
    _check_invariants(packet)


# -- seeds: the battery's packets written in this target's input layout ----------------------


def _sink_size(sink: ByteSink, size: int) -> None:
    if size < 0xFF:
        sink.byte(size)
    else:
        sink.byte(0xFF).uint(size, 16)


def _sink_optional(sink: ByteSink, data: bytes | None) -> None:
    if data is None:
        sink.byte(0)
    elif len(data) < 0xFE:
        sink.byte(len(data) + 1).raw(data)
    else:
        sink.byte(0xFF).uint(len(data[:4095]), 16).raw(data[:4095])


def _sink_count(sink: ByteSink, count: int | None) -> None:
    if count is None:
        sink.byte(0)
    else:
        sink.byte(1).uint(count, 16)


def _sink_metadata(sink: ByteSink, metadata: RawMetadata | None) -> None:
    if metadata is None:
        sink.byte(0)
        return
    flags = 1 | metadata.has_timestamp_us << 1 | metadata.has_duration_us << 2 | metadata.has_sequence << 3
    sink.byte(flags).uint(metadata.timestamp_us, 64).uint(metadata.duration_us, 64).uint(metadata.sequence, 64)
    sink.raw(bytes(24))  # the rest of the 48 bytes the target reads


def seed_bytes(raw: RawWire) -> bytes:
    """``raw`` in this target's layout (what the battery sends, as a starting point for mutation)."""
    sink = ByteSink().byte(raw.packet_type)
    kind = raw.kind
    wild = raw.len_override is not None and kind not in _BYTE_COUNT_KINDS
    sink.byte((0x0F if raw.null_packet_data else 0) | (0x10 if wild else 0))
    if raw.null_packet_data:
        if wild:
            sink.uint(raw.cpacket_len, 64)
        return sink.getvalue()
    payload = raw.payload
    if isinstance(payload, (RawText, RawBytes)):
        data = payload.data[:4095]
        _sink_size(sink, len(data))
        sink.raw(data)
    elif isinstance(payload, RawCustom):
        _sink_optional(sink, payload.type_id)
        sink.byte(0)  # encoding 0
        _sink_optional(sink, payload.data_json)
        if payload.data_json is None:
            sink.uint(payload.data_len or 0, 64)
        else:
            _sink_count(sink, payload.data_len)
        _sink_metadata(sink, payload.metadata)
    elif isinstance(payload, RawBinaryMeta):
        _sink_optional(sink, payload.data)
        if payload.data is None:
            sink.uint(payload.effective_data_len, 64)
        else:
            _sink_count(sink, payload.data_len)
        _sink_optional(sink, payload.content_type)
        _sink_metadata(sink, payload.metadata)
        if payload.tail_poison is not None:
            sink.byte(1).uint(payload.tail_poison, 64).uint(payload.tail_poison, 64)
        else:
            sink.byte(0)
    elif isinstance(payload, RawAudio):
        sink.uint(payload.sample_rate, 32).uint(payload.channels, 16)
        samples = None if payload.samples is None else struct.pack(f"<{len(payload.samples)}f", *payload.samples)
        _sink_optional(sink, samples)
        if samples is None:
            sink.uint(payload.sample_count or 0, 64)
        else:
            _sink_count(sink, payload.sample_count)
        sink.byte(0)  # no pool handle
        _sink_metadata(sink, payload.metadata)
    elif isinstance(payload, RawVideo):
        for side in (payload.width, payload.height):
            if side <= 16:
                sink.byte(side)
            else:
                sink.byte(0xF0).sint(side - (1 << 32) if side >= 1 << 31 else side, 32)
        sink.byte(int(payload.pixel_format))
        _sink_optional(sink, payload.data)
        if payload.data is None:
            sink.uint(payload.data_len or 0, 64)
        else:
            _sink_count(sink, payload.data_len)
        sink.byte(0)
        _sink_metadata(sink, payload.metadata)
    if kind in _BYTE_COUNT_KINDS or isinstance(payload, RawBytes):
        _sink_count(sink, raw.len_override)
    elif wild:
        sink.uint(raw.cpacket_len, 64)
    return sink.getvalue()


def seed_inputs() -> Iterator[tuple[str, bytes]]:
    """wire-in's legal and malformed cases and the traffic samples, plus the shapes only this target makes."""
    for label, packet in battery_packets():
        raw = packet if isinstance(packet, RawWire) else to_raw_wire(packet)
        yield label, seed_bytes(raw)
    yield "null-packet", bytes([2, 0xFE])
    yield "bad-discriminant", bytes([0xFF]) + (42).to_bytes(4, "little") + bytes([0, 1, 0])
    yield "custom-bad-encoding", bytes([4, 0, 2, 0x74, 0xF0, 7, 0, 0, 0, 3]) + b"{}" + bytes([0, 0])
    yield "video-bad-pixel-format", bytes([8, 0, 2, 2, 0xF0, 9, 0, 0, 0, 17]) + bytes(16) + bytes([0, 0, 0])
    yield "audio-pool-handle", bytes([0, 0]) + bytes(6) + bytes([9]) + bytes(8) + bytes([0, 1, 64, 0, 0])
    yield (
        "metadata-bad-bool",
        bytes([4, 0, 2]) + b"t" + bytes([0, 3]) + b"{}" + bytes([0, 0x81]) + bytes(8) + bytes([2]) + bytes(39),
    )


def main(argv: list[str] | None = None) -> None:
    fuzz_main(TARGET, test_one_input, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
