"""The wire encoder and the validating receiver against ABI.md 2.2, 5 and 8.5/8.6.

Malformed packets are built by hand with cffi here, not with ``encode_raw``,
so the receiver is checked against the specification rather than against the
harness's own description of it.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.abi import ffi
from conformance.abi.constants import PacketType, PixelFormat
from conformance.host.packets import (
    U32_MAX,
    BinaryPacket,
    CustomPacket,
    JsonShapeError,
    PacketMetadata,
    RawAudioPacket,
    RawVideoPacket,
    TextPacket,
    TranscriptionPacket,
    TranscriptionSegment,
    normalise,
    parse_json_value,
    parse_transcription_json,
    transcription_json,
)
from conformance.host.video import packed_frame_size
from conformance.host.wire import (
    HARNESS_RULES,
    RawAudio,
    RawBinaryMeta,
    RawBytes,
    RawCustom,
    RawMetadata,
    RawText,
    RawVideo,
    RawWire,
    Rule,
    WireError,
    _utf8_failure,
    decode_metadata_struct,
    decode_packet,
    decode_packet_with_handles,
    encode_packet,
    encode_raw,
    expected_receiver_error,
    receiver_error_matches,
    rust_utf8_error,
)
from conformance.strategies.profiles import load_selected_profile

POISON = 0xDEAD_BEEF_DEAD_BEEF

load_selected_profile()


class Built:
    """Hand-built C memory, kept alive for the duration of one test."""

    def __init__(self) -> None:
        self.keep: list[Any] = []

    def new(self, ctype: str, init: Any = None) -> Any:
        value = ffi().new(ctype, init)
        self.keep.append(value)
        return value

    def buffer(self, data: bytes) -> Any:
        return self.new("uint8_t[]", max(len(data), 1)) if not data else self.new("uint8_t[]", data)

    def string(self, data: bytes) -> Any:
        buffer = self.new("char[]", len(data) + 1)
        ffi().memmove(buffer, data, len(data))
        return buffer

    def packet(self, packet_type: int, data: Any, length: int) -> Any:
        packet = self.new("CPacket *")
        packet.packet_type = packet_type
        packet.data = ffi().NULL if data is None else ffi().cast("void *", data)
        packet.len = length
        return packet

    def metadata(self, timestamp: int | None = None, sequence: int | None = None) -> Any:
        meta = self.new("CPacketMetadata *")
        if timestamp is not None:
            meta.timestamp_us, meta.has_timestamp_us = timestamp, True
        if sequence is not None:
            meta.sequence, meta.has_sequence = sequence, True
        return meta


@pytest.fixture
def built() -> Built:
    return Built()


def _error(pointer: Any, **kwargs: Any) -> WireError:
    with pytest.raises(WireError) as caught:
        decode_packet(pointer, **kwargs)
    return caught.value


# -- round trips ---------------------------------------------------------------

ROUND_TRIP_PACKETS = [
    TextPacket("héllo"),
    TextPacket("cut\0here"),
    TextPacket(""),
    TranscriptionPacket(
        "hi there",
        (TranscriptionSegment("hi", 0, 500, 0.9), TranscriptionSegment("there", 500, 900, None)),
        "en",
        PacketMetadata(1_000, 20_000, 7, True),
    ),
    TranscriptionPacket("", (), None, None),
    CustomPacket("plugin::native::vad/vad-event@1", {"speech": True, "p": 0.5, "ids": [1, 2]}, PacketMetadata(5)),
    CustomPacket("", None),
    CustomPacket("a\0b", "string value", PacketMetadata()),
    BinaryPacket(b"\x00\x01\x02"),
    BinaryPacket(b""),
    BinaryPacket(b"aac", "audio/aac", PacketMetadata(42_000, 21_333, 1)),
    BinaryPacket(b"x", "", None),
    BinaryPacket(b"x", None, PacketMetadata()),
    RawAudioPacket(48_000, 2, (0.5, -0.5, 0.25, -0.25), PacketMetadata(sequence=3)),
    RawAudioPacket(0, 0, ()),
    RawVideoPacket(2, 1, PixelFormat.RGBA8, bytes(range(8))),
    RawVideoPacket(3, 3, PixelFormat.I420, bytes(17) + b"extra", PacketMetadata(timestamp_us=9)),
    RawVideoPacket(3, 3, PixelFormat.NV12, bytes(range(17))),
    RawVideoPacket(0, 480, PixelFormat.RGBA8, b"ignored"),
]

DELIVERIES = [(9, 9), (9, 8), (9, 7), (9, 6), (8, 8), (8, 7), (8, 6), (7, 7), (7, 6), (6, 6)]


@pytest.mark.parametrize("packet", ROUND_TRIP_PACKETS, ids=lambda packet: type(packet).__name__)
@pytest.mark.parametrize(("host", "plugin"), DELIVERIES, ids=lambda version: f"v{version}")
def test_round_trip_equals_normalise(packet: Any, host: int, plugin: int) -> None:
    encoded = encode_packet(packet, host_version=host, plugin_version=plugin)
    assert decode_packet(encoded.ptr) == normalise(packet, host_version=host, plugin_version=plugin)


def test_normalise_keeps_metadata_none_and_empty_metadata_apart() -> None:
    with_empty = BinaryPacket(b"x", None, PacketMetadata())
    assert normalise(with_empty) == with_empty
    assert decode_packet(encode_packet(with_empty).ptr) == with_empty
    without = BinaryPacket(b"x", "t")
    assert decode_packet(encode_packet(without).ptr) == without
    assert with_empty != BinaryPacket(b"x", None, None)


def test_keyframe_is_lost_in_the_struct_but_kept_in_transcription_json() -> None:
    metadata = PacketMetadata(1, 2, 3, keyframe=True)
    audio = decode_packet(encode_packet(RawAudioPacket(1, 1, (), metadata)).ptr)
    assert isinstance(audio, RawAudioPacket)
    assert audio.metadata == PacketMetadata(1, 2, 3, None)
    transcription = decode_packet(encode_packet(TranscriptionPacket("t", (), None, metadata)).ptr)
    assert isinstance(transcription, TranscriptionPacket)
    assert transcription.metadata == metadata


def test_text_is_nul_terminated_with_len_including_the_terminator() -> None:
    encoded = encode_packet(TextPacket("héllo\0rest"))
    assert encoded.packet_type == PacketType.TEXT
    assert encoded.length == len("héllo".encode()) + 1
    assert ffi().string(ffi().cast("char *", encoded.ptr.data)) == "héllo".encode()


def test_transcription_json_has_every_key_in_order_with_explicit_nulls() -> None:
    packet = TranscriptionPacket("t", (TranscriptionSegment("s", 1, 2, None),), None, None)
    encoded = encode_packet(packet)
    raw = bytes(ffi().buffer(ffi().cast("uint8_t *", encoded.ptr.data), encoded.length))
    assert raw == (
        b'{"text":"t","segments":[{"text":"s","start_time_ms":1,"end_time_ms":2,"confidence":null}],'
        b'"language":null,"metadata":null}'
    )
    assert raw == transcription_json(packet)


def test_transcription_confidence_is_written_as_shortest_f32_and_nan_as_null() -> None:
    packet = TranscriptionPacket(
        "t", (TranscriptionSegment("a", 0, 1, 0.1), TranscriptionSegment("b", 0, 1, float("nan")))
    )
    text = transcription_json(packet).decode()
    assert '"confidence":0.1}' in text
    assert '"confidence":null}' in text
    segments = parse_transcription_json(text.encode()).segments
    assert segments[0].confidence == struct.unpack("<f", struct.pack("<f", 0.1))[0]
    assert segments[1].confidence is None


def test_custom_struct_fields() -> None:
    encoded = encode_packet(CustomPacket("id\0x", {"b": 1, "a": [True]}, PacketMetadata(sequence=4)))
    assert encoded.length == 40
    custom = ffi().cast("CCustomPacket *", encoded.ptr.data)
    assert ffi().string(custom.type_id) == b"id x"
    assert custom.encoding == 0
    assert bytes(ffi().buffer(custom.data_json, custom.data_len)) == b'{"a":[true],"b":1}'
    assert custom.metadata.has_sequence and custom.metadata.sequence == 4
    assert not custom.metadata.has_timestamp_us and custom.metadata.timestamp_us == 0


def test_audio_and_video_struct_sizes_and_null_handles() -> None:
    audio = encode_packet(RawAudioPacket(48_000, 1, (1.0,)))
    video = encode_packet(RawVideoPacket(1, 1, PixelFormat.RGBA8, b"rgba"))
    assert (audio.packet_type, audio.length) == (PacketType.RAW_AUDIO, 40)
    assert (video.packet_type, video.length) == (PacketType.RAW_VIDEO, 48)
    assert ffi().cast("CAudioFrame *", audio.ptr.data).buffer_handle == ffi().NULL
    assert ffi().cast("CVideoFrame *", video.ptr.data).buffer_handle == ffi().NULL
    assert ffi().cast("CAudioFrame *", audio.ptr.data).metadata == ffi().NULL


def test_encoded_video_and_audio_decode_to_plain_binary(built: Built) -> None:
    for kind in (PacketType.ENCODED_VIDEO, PacketType.ENCODED_AUDIO):
        packet = built.packet(kind, built.buffer(b"\x1a\x45\xdf\xa3"), 4)
        assert decode_packet(packet) == BinaryPacket(b"\x1a\x45\xdf\xa3")


# -- version-dependent delivery (ABI.md 2.2) ---------------------------------------

WITH_META = BinaryPacket(b"payload", "audio/aac", PacketMetadata(timestamp_us=10))
PLAIN = BinaryPacket(b"payload")


def _binary_view(encoded: Any) -> Any:
    return ffi().cast("CBinaryPacketV8 *", encoded.ptr.data)


def test_v9_host_downgrades_binary_with_meta_for_a_v6_plugin() -> None:
    encoded = encode_packet(WITH_META, host_version=9, plugin_version=6)
    assert (encoded.packet_type, encoded.length, encoded.binary) == (PacketType.BINARY, 7, None)
    assert bytes(ffi().buffer(ffi().cast("uint8_t *", encoded.ptr.data), 7)) == b"payload"


@pytest.mark.parametrize("plugin", [7, 8])
def test_v9_host_sends_48_byte_struct_without_handle_to_v7_v8_plugins(plugin: int) -> None:
    encoded = encode_packet(WITH_META, host_version=9, plugin_version=plugin)
    assert (encoded.packet_type, encoded.length) == (PacketType.BINARY_WITH_META, 48)
    assert encoded.binary is not None
    assert encoded.binary.buffer_handle == ffi().NULL and encoded.binary.free_fn == ffi().NULL
    assert ffi().string(encoded.binary.content_type) == b"audio/aac"
    assert encode_packet(PLAIN, host_version=9, plugin_version=plugin).packet_type == PacketType.BINARY


@pytest.mark.parametrize(("host", "plugin"), [(8, 8), (8, 7), (7, 7)])
def test_v7_v8_host_sends_the_32_byte_struct(host: int, plugin: int) -> None:
    encoded = encode_packet(WITH_META, host_version=host, plugin_version=plugin)
    assert (encoded.packet_type, encoded.length, encoded.binary) == (PacketType.BINARY_WITH_META, 32, None)
    structs = [item for item in encoded.keepalive if ffi().typeof(item) == ffi().typeof("CBinaryPacketV8 *")]
    assert len(structs) == 1 and ffi().sizeof(structs[0][0]) == 32
    assert ffi().string(_binary_view(encoded).content_type) == b"audio/aac"
    assert encode_packet(PLAIN, host_version=host, plugin_version=plugin).packet_type == PacketType.BINARY


@pytest.mark.parametrize(("host", "plugin"), [(8, 6), (7, 6), (6, 6)])
def test_v6_sides_only_know_plain_binary(host: int, plugin: int) -> None:
    for packet in (WITH_META, PLAIN):
        encoded = encode_packet(packet, host_version=host, plugin_version=plugin)
        assert (encoded.packet_type, encoded.length) == (PacketType.BINARY, 7)


def test_v9_host_upgrades_plain_binary_for_a_v9_plugin() -> None:
    encoded = encode_packet(PLAIN)
    assert (encoded.packet_type, encoded.length) == (PacketType.BINARY_WITH_META, 48)
    binary = encoded.binary
    assert binary.content_type == ffi().NULL and binary.metadata == ffi().NULL
    assert binary.buffer_handle == ffi().NULL  # never invented by the harness
    assert bytes(ffi().buffer(binary.data, binary.data_len)) == b"payload"
    assert decode_packet(encoded.ptr) == PLAIN


def test_buffer_handle_is_placed_only_when_given_and_only_for_v9_plugins() -> None:
    free_fn = ffi().callback("void(void *)", lambda handle: None)
    encoded = encode_packet(PLAIN, buffer_handle=0x5CB1_0000_0001, free_fn=free_fn)
    assert int(ffi().cast("uintptr_t", encoded.binary.buffer_handle)) == 0x5CB1_0000_0001
    assert encoded.binary.free_fn == free_fn
    assert free_fn in encoded.keepalive
    with pytest.raises(ValueError, match="v9 host"):
        encode_packet(WITH_META, plugin_version=8, buffer_handle=1, free_fn=free_fn)
    with pytest.raises(ValueError, match="together"):
        encode_packet(PLAIN, buffer_handle=1)
    with pytest.raises(ValueError, match="v9 host"):
        encode_packet(TextPacket("t"), buffer_handle=1, free_fn=free_fn)


@pytest.mark.parametrize(("host", "plugin"), [(8, 9), (9, 5), (10, 9), (6, 7)])
def test_impossible_deliveries_are_refused(host: int, plugin: int) -> None:
    with pytest.raises(ValueError):
        encode_packet(TextPacket("t"), host_version=host, plugin_version=plugin)


# -- the len >= 48 gate and binary handles (ABI.md 2.3, 5.5, 4.16) ------------------


def _binary_packet(built: Built, data: bytes | None, data_len: int, length: int, handle: int = 0) -> tuple[Any, Any]:
    binary = built.new("CBinaryPacket *")
    binary.data = ffi().NULL if data is None else built.buffer(data)
    binary.data_len = data_len
    binary.buffer_handle = ffi().cast("void *", handle)
    return built.packet(PacketType.BINARY_WITH_META, binary, length), binary


def test_poisoned_tail_of_a_32_byte_packet_is_never_read(built: Built) -> None:
    packet, binary = _binary_packet(built, b"abc", 3, 32)
    tail = ffi().cast("uint64_t *", binary)
    tail[4] = tail[5] = POISON
    decoded = decode_packet_with_handles(packet)
    assert decoded.packet == BinaryPacket(b"abc")
    assert decoded.binary_handle is None
    assert tail[4] == POISON and tail[5] == POISON  # not consumed, not NULLed


def test_raw_wire_poison_case_is_accepted_and_left_untouched() -> None:
    raw = RawWire(PacketType.BINARY_WITH_META, RawBinaryMeta(b"abc", legacy_size=True, tail_poison=POISON))
    encoded = encode_raw(raw)
    assert encoded.length == 32 and encoded.binary is None
    assert expected_receiver_error(raw) is None
    assert decode_packet(encoded.ptr) == BinaryPacket(b"abc")
    tail = ffi().cast("uint64_t *", encoded.ptr.data)
    assert (tail[4], tail[5]) == (POISON, POISON)


def test_handle_in_a_48_byte_packet_is_consumed_and_nulled(built: Built) -> None:
    packet, binary = _binary_packet(built, b"abc", 3, 48, handle=0x1234)
    decoded = decode_packet_with_handles(packet)
    assert decoded.binary_handle == 0x1234 and not decoded.forwarded
    assert binary.buffer_handle == ffi().NULL


def test_handle_on_empty_payload_is_consumed_even_with_null_data(built: Built) -> None:
    packet, binary = _binary_packet(built, None, 0, 48, handle=0x77)
    decoded = decode_packet_with_handles(packet)
    assert decoded.packet == BinaryPacket(b"")
    assert decoded.binary_handle == 0x77 and binary.buffer_handle == ffi().NULL


def test_forwarding_the_delivered_packet_is_recognised() -> None:
    free_fn = ffi().callback("void(void *)", lambda handle: None)
    encoded = encode_packet(PLAIN, buffer_handle=0xABC, free_fn=free_fn)
    decoded = decode_packet_with_handles(encoded.ptr)
    assert decoded.forwarded and decoded.binary_handle == 0xABC
    assert decoded.binary_free_fn == int(ffi().cast("uintptr_t", free_fn))
    assert encoded.binary.buffer_handle == ffi().NULL


def test_copy_of_the_delivered_struct_is_not_forwarding(built: Built) -> None:
    free_fn = ffi().callback("void(void *)", lambda handle: None)
    encoded = encode_packet(PLAIN, buffer_handle=0xABC, free_fn=free_fn)
    copy = built.new("CBinaryPacket *", encoded.binary[0])
    packet = built.packet(PacketType.BINARY_WITH_META, copy, 48)
    decoded = decode_packet_with_handles(packet)
    assert decoded.binary_handle == 0xABC and not decoded.forwarded
    assert not decode_packet_with_handles(packet, delivered=encoded).forwarded


def test_null_data_error_still_reports_the_consumed_handle(built: Built) -> None:
    packet, binary = _binary_packet(built, None, 5, 48, handle=0x99)
    error = _error(packet)
    assert (error.rule, error.message) == (
        Rule.BINARY_NULL_DATA,
        "BinaryWithMeta packet has null data pointer",
    )
    assert error.binary_handle == 0x99 and binary.buffer_handle == ffi().NULL


# -- every ABI.md 5 error text ---------------------------------------------------------


def test_null_packet_pointer() -> None:
    error = _error(ffi().NULL)
    assert (error.rule, error.message) == (Rule.NULL_PACKET, "Null packet pointer")
    assert error.host_message == "Failed to convert packet: Null packet pointer"
    assert error.sdk_message == "Invalid packet: Null packet pointer"


@pytest.mark.parametrize("kind", [kind for kind in PacketType], ids=lambda kind: kind.name)
def test_null_data_pointer_for_every_type(built: Built, kind: PacketType) -> None:
    error = _error(built.packet(kind, None, 0))
    assert (error.rule, str(error)) == (Rule.NULL_DATA, "Null packet data pointer")


@pytest.mark.parametrize(
    ("kind", "name"),
    [(PacketType.OPUS_AUDIO, "OpusAudio"), (PacketType.ANY, "Any"), (PacketType.PASSTHROUGH, "Passthrough")],
)
def test_unsupported_runtime_types(built: Built, kind: PacketType, name: str) -> None:
    error = _error(built.packet(kind, built.buffer(b"x"), 1))
    assert (error.rule, error.message) == (Rule.UNSUPPORTED_TYPE, f"Unsupported packet type: {name}")


@pytest.mark.parametrize("discriminant", [12, -1, 1 << 30])
def test_discriminant_outside_the_enum_gets_our_own_text(built: Built, discriminant: int) -> None:
    error = _error(built.packet(discriminant, built.buffer(b"x"), 1))
    assert error.message == f"Invalid packet type discriminant: {discriminant}"
    assert error.rule in HARNESS_RULES and not error.from_real_host


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (b"ab\xff", "invalid utf-8 sequence of 1 bytes from index 2"),
        (b"ab\xe2\x82", "incomplete utf-8 byte sequence from index 2"),
        (b"\xe2\x82(", "invalid utf-8 sequence of 2 bytes from index 0"),
        (b"\xed\xa0\x80", "invalid utf-8 sequence of 1 bytes from index 0"),
    ],
)
def test_text_invalid_utf8(built: Built, text: bytes, detail: str) -> None:
    error = _error(built.packet(PacketType.TEXT, built.string(text), 0))
    assert (error.rule, error.message) == (Rule.TEXT_UTF8, f"Invalid UTF-8 in text packet: {detail}")


def test_text_ignores_len_and_stops_at_nul(built: Built) -> None:
    assert decode_packet(built.packet(PacketType.TEXT, built.string(b"ok\0\xff"), 999)) == TextPacket("ok")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b'{"text":"a"}', "missing field `segments`"),
        (b'{"segments":[]}', "missing field `text`"),
        (b'{"text":"a","segments":[{"text":"s","start_time_ms":-1,"end_time_ms":0}]}', "expected u64"),
        (b'{"text":"a","text":"b","segments":[]}', "duplicate field `text`"),
        (b"{", ""),
        (b"", ""),
    ],
)
def test_transcription_invalid(built: Built, data: bytes, needle: str) -> None:
    error = _error(built.packet(PacketType.TRANSCRIPTION, built.buffer(data), len(data)))
    assert error.rule == Rule.TRANSCRIPTION_JSON
    assert error.message.startswith("Invalid transcription data: ") and needle in error.message


def test_transcription_reads_exactly_len_bytes(built: Built) -> None:
    data = b'{"text":"a","segments":[]}garbage'
    packet = built.packet(PacketType.TRANSCRIPTION, built.buffer(data), len(data) - len(b"garbage"))
    assert decode_packet(packet) == TranscriptionPacket("a")


def _custom(built: Built, type_id: bytes | None, data_json: bytes | None, data_len: int, encoding: int = 0) -> Any:
    custom = built.new("CCustomPacket *")
    custom.type_id = ffi().NULL if type_id is None else built.string(type_id)
    custom.data_json = ffi().NULL if data_json is None else built.buffer(data_json)
    custom.data_len = data_len
    custom.encoding = encoding
    return built.packet(PacketType.CUSTOM, custom, 40)


@pytest.mark.parametrize(
    ("type_id", "data_json", "data_len", "rule", "message"),
    [
        (None, b"{}", 2, Rule.CUSTOM_NO_TYPE_ID, "Custom packet missing type_id"),
        (None, None, 0, Rule.CUSTOM_NO_TYPE_ID, "Custom packet missing type_id"),
        (b"t", None, 0, Rule.CUSTOM_NO_DATA, "Custom packet missing data_json"),
        (
            b"\xc3",
            b"{}",
            2,
            Rule.CUSTOM_TYPE_ID_UTF8,
            "Invalid UTF-8: incomplete utf-8 byte sequence from index 0",
        ),
        (b"\xc3", None, 0, Rule.CUSTOM_NO_DATA, "Custom packet missing data_json"),
        (b"t", b"{}", 0, Rule.CUSTOM_JSON, "Invalid custom JSON: "),
        (b"t", b"{nope}", 6, Rule.CUSTOM_JSON, "Invalid custom JSON: "),
        (b"t", b"[1,2]", 4, Rule.CUSTOM_JSON, "Invalid custom JSON: "),
    ],
)
def test_custom_errors_in_order(
    built: Built, type_id: bytes | None, data_json: bytes | None, data_len: int, rule: Rule, message: str
) -> None:
    error = _error(_custom(built, type_id, data_json, data_len))
    assert error.rule == rule
    assert receiver_error_matches(message, error.message), error.message


def test_custom_empty_type_id_is_accepted_and_encoding_must_be_zero(built: Built) -> None:
    assert decode_packet(_custom(built, b"", b"[1]", 3)) == CustomPacket("", [1])
    error = _error(_custom(built, b"t", b"1", 1, encoding=1))
    assert (error.rule, error.message) == (Rule.CUSTOM_ENCODING, "Invalid custom encoding: 1")


def test_binary_with_meta_content_type_utf8(built: Built) -> None:
    packet, binary = _binary_packet(built, b"abc", 3, 48)
    binary.content_type = built.string(b"audio/\xff")
    error = _error(packet)
    assert (error.rule, error.message) == (
        Rule.BINARY_CONTENT_TYPE_UTF8,
        "Invalid UTF-8: invalid utf-8 sequence of 1 bytes from index 6",
    )


def test_binary_with_len_zero_and_null_data_is_c2(built: Built) -> None:
    assert _error(built.packet(PacketType.BINARY, None, 0)).message == "Null packet data pointer"


def _video(built: Built, width: int, height: int, fmt: int, data: bytes | None, data_len: int, handle: int = 0) -> Any:
    frame = built.new("CVideoFrame *")
    frame.width, frame.height, frame.pixel_format = width, height, fmt
    frame.data = ffi().NULL if data is None else built.buffer(data)
    frame.data_len = data_len
    frame.buffer_handle = ffi().cast("void *", handle)
    return built.packet(PacketType.RAW_VIDEO, frame, 48)


def test_video_errors(built: Built) -> None:
    assert _error(_video(built, 3, 3, 0, None, 36)).message == "Null data pointer in video frame"
    small = _error(_video(built, 3, 3, PixelFormat.RGBA8, bytes(36), 35))
    assert (small.rule, small.message) == (
        Rule.VIDEO_TOO_SMALL,
        "Invalid video frame: VideoFrame data buffer too small: need 36 bytes, have 35",
    )
    i420 = _error(_video(built, 3, 3, PixelFormat.I420, bytes(16), 16))
    assert i420.message.endswith("need 17 bytes, have 16")
    bad_format = _error(_video(built, 1, 1, 3, bytes(4), 4))
    assert (bad_format.rule, bad_format.message) == (Rule.VIDEO_PIXEL_FORMAT, "Invalid pixel format: 3")


def test_video_oversized_is_truncated_and_zero_size_accepted(built: Built) -> None:
    decoded = decode_packet(_video(built, 1, 1, PixelFormat.RGBA8, b"rgbaEXTRA", 9))
    assert decoded == RawVideoPacket(1, 1, PixelFormat.RGBA8, b"rgba")
    assert decode_packet(_video(built, 0, 0, PixelFormat.NV12, b"", 0)) == RawVideoPacket(0, 0, PixelFormat.NV12, b"")


def test_audio_null_samples(built: Built) -> None:
    frame = built.new("CAudioFrame *")
    frame.sample_count = 4
    error = _error(built.packet(PacketType.RAW_AUDIO, frame, 40))
    assert (error.rule, error.message) == (Rule.AUDIO_NULL_SAMPLES, "Null samples pointer in audio frame")


def test_implausible_counts_are_refused_not_read(built: Built) -> None:
    error = _error(built.packet(PacketType.BINARY, built.buffer(b"x"), 1 << 40))
    assert error.rule == Rule.IMPLAUSIBLE_COUNT and "1099511627776" in error.message
    assert _error(_video(built, 1, 1, 0, b"rgba", 1 << 40)).rule == Rule.IMPLAUSIBLE_COUNT


# -- pool buffers (ABI.md 4.14, 5.6, 5.7) -------------------------------------------------


def test_zero_copy_video_uses_the_allocation_length(built: Built) -> None:
    pool = built.new("uint8_t[]", b"POOLPOOL")
    address = int(ffi().cast("uintptr_t", pool))
    packet = _video(built, 2, 1, PixelFormat.RGBA8, b"stale", 0, handle=0x5CA1)
    decoded = decode_packet_with_handles(packet, resolve_pool_buffer={0x5CA1: (address, 8)}.get)
    assert decoded.packet == RawVideoPacket(2, 1, PixelFormat.RGBA8, b"POOLPOOL")
    assert decoded.pool_handle == 0x5CA1
    error = _error(packet, resolve_pool_buffer={0x5CA1: (address, 7)}.get)
    assert error.message.endswith("need 8 bytes, have 7") and error.pool_handle == 0x5CA1


def test_pool_handle_is_reported_when_video_data_is_null(built: Built) -> None:
    error = _error(_video(built, 2, 2, 0, None, 16, handle=0x5CA2))
    assert error.rule == Rule.VIDEO_NULL_DATA and error.pool_handle == 0x5CA2


def test_unknown_pool_handle_is_our_own_error(built: Built) -> None:
    error = _error(_video(built, 1, 1, 0, b"rgba", 4, handle=0xBAD))
    assert (error.rule, error.message) == (Rule.POOL_HANDLE_UNKNOWN, "Unknown pool buffer handle 0xbad")


def test_zero_copy_audio_ignores_sample_count(built: Built) -> None:
    pool = built.new("float[]", [0.5, 1.5, -2.0])
    frame = built.new("CAudioFrame *")
    frame.sample_rate, frame.channels = 48_000, 1
    frame.samples = pool
    frame.sample_count = 99
    frame.buffer_handle = ffi().cast("void *", 0x5CA3)
    address = int(ffi().cast("uintptr_t", pool))
    decoded = decode_packet_with_handles(
        built.packet(PacketType.RAW_AUDIO, frame, 40), resolve_pool_buffer={0x5CA3: (address, 3)}.get
    )
    assert decoded.packet == RawAudioPacket(48_000, 1, (0.5, 1.5, -2.0))
    assert decoded.pool_handle == 0x5CA3


# -- metadata and bool bytes (ABI.md 3.1, 5.10) -------------------------------------------


def test_values_behind_false_flags_are_ignored(built: Built) -> None:
    meta = built.new("CPacketMetadata *")
    meta.timestamp_us, meta.duration_us, meta.sequence = 11, 22, 33
    meta.has_duration_us = True
    assert decode_metadata_struct(meta) == PacketMetadata(None, 22, None)
    assert decode_metadata_struct(ffi().NULL) is None


@pytest.mark.parametrize(("offset", "field"), [(8, "has_timestamp_us"), (24, "has_duration_us"), (40, "has_sequence")])
@pytest.mark.parametrize("value", [2, 0xFF])
def test_bool_bytes_other_than_0_or_1_are_rejected(built: Built, offset: int, field: str, value: int) -> None:
    meta = built.new("CPacketMetadata *")
    ffi().cast("uint8_t *", meta)[offset] = value
    with pytest.raises(WireError) as caught:
        decode_metadata_struct(meta)
    assert caught.value.rule == Rule.METADATA_BOOL
    assert caught.value.message == f"Invalid bool value {value} in CPacketMetadata.{field}"
    frame = built.new("CAudioFrame *")
    frame.samples = built.new("float[]", 1)
    frame.metadata = meta
    assert _error(built.packet(PacketType.RAW_AUDIO, frame, 40)).rule == Rule.METADATA_BOOL


# -- expected_receiver_error agrees with the receiver on hand-picked cases --------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (RawWire(PacketType.BINARY, RawBytes(), null_packet_data=True), "Null packet data pointer"),
        (RawWire(PacketType.ANY, RawBytes(b"x")), "Unsupported packet type: Any"),
        (
            RawWire(PacketType.TEXT, RawText(b"\xff")),
            "Invalid UTF-8 in text packet: invalid utf-8 sequence of 1 bytes from index 0",
        ),
        (RawWire(PacketType.TEXT, RawText(b"ok\0\xff")), None),
        (RawWire(PacketType.TRANSCRIPTION, RawBytes(b"{}")), "Invalid transcription data: "),
        (RawWire(PacketType.CUSTOM, RawCustom(None)), "Custom packet missing type_id"),
        (RawWire(PacketType.CUSTOM, RawCustom(b"t", None, 0)), "Custom packet missing data_json"),
        (RawWire(PacketType.CUSTOM, RawCustom(b"t", b"{}", 0)), "Invalid custom JSON: "),
        (
            RawWire(PacketType.BINARY_WITH_META, RawBinaryMeta(None, 3)),
            "BinaryWithMeta packet has null data pointer",
        ),
        (RawWire(PacketType.BINARY_WITH_META, RawBinaryMeta(None, 0)), None),
        (
            RawWire(PacketType.RAW_VIDEO, RawVideo(3, 3, PixelFormat.RGBA8, bytes(36), 35)),
            "Invalid video frame: VideoFrame data buffer too small: need 36 bytes, have 35",
        ),
        (RawWire(PacketType.RAW_VIDEO, RawVideo(3, 3, PixelFormat.NV12, bytes(20), 17)), None),
        (RawWire(PacketType.ENCODED_AUDIO, RawBytes(b"")), None),
    ],
    ids=lambda value: getattr(value, "label", None) or (value if isinstance(value, str) else None),
)
def test_expected_error_matches_decoder(raw: RawWire, expected: str | None) -> None:
    assert expected_receiver_error(raw) == expected
    encoded = encode_raw(raw)
    if expected is None:
        decode_packet(encoded.ptr)
    else:
        assert receiver_error_matches(expected, _error(encoded.ptr).message)


def test_raw_wire_defaults_to_the_types_empty_payload() -> None:
    raw = RawWire(PacketType.RAW_AUDIO)
    assert isinstance(raw.payload, RawAudio) and raw.cpacket_len == 40
    assert decode_packet(encode_raw(raw).ptr) == RawAudioPacket(48_000, 1, ())
    assert isinstance(RawWire(PacketType.TEXT).payload, RawText)


def test_metadata_behind_false_flags_round_trips_as_ignored() -> None:
    metadata = RawMetadata(5, False, 6, True, 7, False)
    decoded = decode_packet(encode_raw(RawWire(PacketType.BINARY_WITH_META, RawBinaryMeta(b"", metadata=metadata))).ptr)
    assert isinstance(decoded, BinaryPacket) and decoded.metadata == PacketMetadata(None, 6, None)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RawWire(12),
        lambda: RawWire(PacketType.TEXT, RawBytes()),
        lambda: RawWire(PacketType.BINARY, RawBytes(b"ab"), len_override=3),
        lambda: RawVideo(1, 1, 3, b"rgba"),
        lambda: RawVideo(1, 1, 0, b"rgb", 4),
        lambda: RawCustom(b"t", b"{}", 3),
        lambda: RawBinaryMeta(b"", legacy_size=True, buffer_handle=1),
        lambda: RawWire(PacketType.BINARY_WITH_META, RawBinaryMeta(b"", legacy_size=True), len_override=48),
    ],
)
def test_raw_wire_refuses_undefined_behaviour(make: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        make()


# -- Rust UTF-8 and serde_json corners ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"plain", None),
        ("é€😀".encode(), None),
        (b"\xff", "invalid utf-8 sequence of 1 bytes from index 0"),
        (b"\xc0\xaf", "invalid utf-8 sequence of 1 bytes from index 0"),
        (b"a\xe2\x28\xa1", "invalid utf-8 sequence of 1 bytes from index 1"),
        (b"\xf0\x9f\x98\x28", "invalid utf-8 sequence of 3 bytes from index 0"),
        (b"\xf0\x9f\x98", "incomplete utf-8 byte sequence from index 0"),
        (b"\xf4\x90\x80\x80", "invalid utf-8 sequence of 1 bytes from index 0"),
    ],
)
def test_rust_utf8_error_display(data: bytes, expected: str | None) -> None:
    assert rust_utf8_error(data) == expected


_UTF8_EDGE_BYTES = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1]
_UTF8_EDGE_BYTES += [0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]


@given(st.lists(st.sampled_from(_UTF8_EDGE_BYTES), max_size=8).map(bytes))
def test_rust_utf8_error_agrees_with_an_independent_decoder(data: bytes) -> None:
    """CPython's UTF-8 decoder reports the same maximal-subpart ranges Rust's Utf8Error does."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.reason == "unexpected end of data":
            assert rust_utf8_error(data) == f"incomplete utf-8 byte sequence from index {error.start}"
        else:
            length = error.end - error.start
            assert rust_utf8_error(data) == f"invalid utf-8 sequence of {length} bytes from index {error.start}"
    else:
        assert rust_utf8_error(data) is None


@given(st.lists(st.sampled_from(_UTF8_EDGE_BYTES), max_size=8).map(bytes))
def test_the_byte_walk_accepts_exactly_what_the_decoder_accepts(data: bytes) -> None:
    """``rust_utf8_error`` answers valid input with CPython's decoder alone: the Rust-like walk must agree."""
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert (_utf8_failure(data) is None) == valid


@given(st.binary(min_size=48, max_size=48))
def test_any_metadata_bytes_decode_or_raise_wire_error(raw: bytes) -> None:
    meta = ffi().new("uint8_t[]", raw)
    try:
        decoded = decode_metadata_struct(meta)
    except WireError as error:
        assert error.rule == Rule.METADATA_BOOL
        assert any(raw[offset] > 1 for offset in (8, 24, 40))
    else:
        assert decoded is not None
        assert (decoded.timestamp_us is not None) == (raw[8] == 1)


def test_serde_nesting_limit_is_127() -> None:
    assert parse_json_value(b"[" * 127 + b"]" * 127) is not None
    with pytest.raises(JsonShapeError, match="recursion"):
        parse_json_value(b"[" * 128 + b"]" * 128)


@pytest.mark.parametrize("text", [b"NaN", b"1e999", b'"\\ud800"', b"\xef\xbb\xbf{}", b"[1,]", b""])
def test_serde_rejects_what_python_json_might_accept(text: bytes) -> None:
    with pytest.raises(JsonShapeError):
        parse_json_value(text)


def test_serde_number_semantics() -> None:
    assert parse_json_value(str(1 << 64).encode()) == float(1 << 64)
    assert parse_json_value(str((1 << 64) - 1).encode()) == (1 << 64) - 1
    assert parse_json_value(b'{"a":1,"a":2}') == {"a": 2}
    wide = CustomPacket("t", [1 << 70])
    assert normalise(wide) == CustomPacket("t", [float(1 << 70)])


def test_transcription_struct_may_come_as_a_positional_array() -> None:
    assert parse_transcription_json(b'["t",[["s",1,2,null]],null,null]') == TranscriptionPacket(
        "t", (TranscriptionSegment("s", 1, 2, None),)
    )


# -- packed sizes (ABI.md 5.6) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "rgba", "yuv"),
    [
        (640, 480, 1_228_800, 460_800),
        (1920, 1080, 8_294_400, 3_110_400),
        (3, 3, 36, 17),
        (1, 1, 4, 3),
        (5, 2, 40, 16),
    ],
)
def test_packed_frame_sizes(width: int, height: int, rgba: int, yuv: int) -> None:
    assert packed_frame_size(width, height, PixelFormat.RGBA8) == rgba
    assert packed_frame_size(width, height, PixelFormat.I420) == yuv
    assert packed_frame_size(width, height, PixelFormat.NV12) == yuv


@pytest.mark.parametrize(("width", "height"), [(0, 0), (0, 480), (640, 0)])
@pytest.mark.parametrize("fmt", list(PixelFormat))
def test_zero_dimension_needs_zero_bytes(width: int, height: int, fmt: PixelFormat) -> None:
    assert packed_frame_size(width, height, fmt) == 0


def test_packed_size_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        packed_frame_size(-1, 1, PixelFormat.RGBA8)
    with pytest.raises(ValueError):
        packed_frame_size(1, 1, 3)


# -- the model refuses what Rust cannot hold ------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: RawVideoPacket(3, 3, PixelFormat.RGBA8, bytes(35)),
        lambda: RawVideoPacket(U32_MAX + 1, 0, PixelFormat.RGBA8, b""),
        lambda: RawAudioPacket(48_000, 1 << 16, ()),
        lambda: TextPacket("\ud800"),
        lambda: PacketMetadata(timestamp_us=-1),
        lambda: PacketMetadata(sequence=True),
        lambda: CustomPacket("t", float("nan")),
        lambda: CustomPacket("t", {1: 2}),  # type: ignore[dict-item]
        lambda: TranscriptionSegment("s", 0, 1 << 64),
    ],
)
def test_model_refuses_unrepresentable_values(make: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        make()


def test_custom_packet_is_canonical_and_hashable() -> None:
    first = CustomPacket("t", {"b": 1, "a": "é"})
    second = CustomPacket("t", data_json='{ "a" : "é", "b" : 1 }')
    assert first == second and hash(first) == hash(second)
    assert first.data_json == '{"a":"é","b":1}'
    assert first.data == {"a": "é", "b": 1}
    assert json.loads(first.data_json) == first.data
