"""Hypothesis strategies: the one public definition of "a packet" for StreamKit ABI tests.

Plugin authors, the conformance battery and the fuzzers import these, so a
packet means the same thing everywhere:

* ``packets(kinds)`` and the per-type strategies give legal model packets
  (``conformance.host.packets``) that a host may deliver; ``encode_packet``
  puts them on the wire and ``normalise`` says what must come back.
* ``wire_packets(kinds)`` gives legal wire shapes (``RawWire``) beyond what an
  encoder produces: ignored lengths, flags false with values set, 32-byte
  BinaryWithMeta with a poisoned tail, oversized frames, EncodedVideo/Audio.
* ``malformed_packets(kinds)`` gives every illegal case ABI.md 5 names; for
  each, ``expected_receiver_error(raw)`` is the error a conforming receiver
  must give (never None).
* ``params_json()`` and ``hints()`` give texts for ``create_instance`` /
  ``update_params`` and ``on_upstream_hint``; ``classify_params`` and
  ``classify_hint`` say which case a text is.
* ``packet_from_bytes(data)`` turns any byte string into a legal packet,
  deterministically and without Hypothesis, for coverage-guided fuzzers
  (see its docstring for why it is not ``fuzz_one_input``).

Sizes are small by default (video up to 16x16, audio up to 64 samples, byte
payloads up to 64 bytes) so property tests stay fast. Nothing here generates
values that are undefined behaviour for a Rust receiver (ABI.md 5.0 C4/C6).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from enum import Enum
from functools import cache

from hypothesis import strategies as st

from conformance.abi.constants import RUNTIME_UNSUPPORTED_TYPES, PacketType, PixelFormat
from conformance.host.packets import (
    I64_MIN,
    MODEL_PACKET_TYPES,
    U16_MAX,
    U32_MAX,
    U64_MAX,
    BinaryPacket,
    CustomPacket,
    JsonShapeError,
    JsonValue,
    Packet,
    PacketMetadata,
    RawAudioPacket,
    RawVideoPacket,
    TextPacket,
    TranscriptionPacket,
    TranscriptionSegment,
    packet_type_of,
    parse_json_value,
    transcription_json,
)
from conformance.host.video import packed_frame_size
from conformance.host.wire import (
    DECODABLE_TYPES,
    ENCODABLE_TYPES,
    RUNTIME_PACKET_TYPES,
    RawAudio,
    RawBinaryMeta,
    RawBytes,
    RawCustom,
    RawMetadata,
    RawText,
    RawVideo,
    RawWire,
    rust_utf8_error,
    to_raw_wire,
)
from conformance.strategies.input_bytes import ByteSource

__all__ = [
    "MAX_AUDIO_SAMPLES",
    "MAX_BYTES",
    "MAX_VIDEO_SIDE",
    "HintKind",
    "ParamsKind",
    "binary_packets",
    "classify_hint",
    "classify_params",
    "custom_packets",
    "hints",
    "invalid_utf8",
    "json_values",
    "malformed_packets",
    "packet_from_bytes",
    "packet_from_source",
    "packet_metadata",
    "packets",
    "params_json",
    "raw_audio_packets",
    "raw_video_packets",
    "text_packets",
    "transcription_packets",
    "wire_packets",
]

MAX_VIDEO_SIDE = 16
MAX_AUDIO_SAMPLES = 64
MAX_BYTES = 64
_MAX_TEXT = 24

# -- building blocks -------------------------------------------------------------


def _u64() -> st.SearchStrategy[int]:
    """Boundary values first: 0, 1, 2^32, 2^63 and u64::MAX are where encoders slip."""
    return st.one_of(st.sampled_from([0, 1, 1 << 32, 1 << 63, U64_MAX]), st.integers(0, U64_MAX))


def _texts(max_size: int = _MAX_TEXT) -> st.SearchStrategy[str]:
    """Any Unicode scalar values (never surrogates), NUL included."""
    return st.text(alphabet=st.characters(codec="utf-8"), max_size=max_size)


def _texts_without_nul(max_size: int = _MAX_TEXT) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0"), max_size=max_size)


def packet_metadata(*, with_keyframe: bool = False) -> st.SearchStrategy[PacketMetadata]:
    """Any metadata; ``keyframe`` only on request (only transcription JSON carries it)."""
    optional = st.none() | _u64()
    keyframe = st.none() | st.booleans() if with_keyframe else st.none()
    return st.builds(PacketMetadata, optional, optional, optional, keyframe)


def _optional_metadata() -> st.SearchStrategy[PacketMetadata | None]:
    return st.none() | packet_metadata()


def json_values(max_leaves: int = 12) -> st.SearchStrategy[JsonValue]:
    """JSON values a ``serde_json::Value`` holds and both parsers read identically.

    Floats are multiples of 1/64 (short decimals: serde_json's default float
    parser is exact on them); integers cover i64/u64 and, rarely, values
    beyond, which ``normalise`` turns into floats as serde_json does.
    """
    integers = st.one_of(
        st.integers(I64_MIN, U64_MAX),
        st.sampled_from([I64_MIN, -1, 0, 1, (1 << 63) - 1, U64_MAX]),
        st.integers(U64_MAX + 1, 1 << 80),
    )
    floats = st.integers(-(1 << 20), 1 << 20).map(lambda value: value / 64)
    scalars: st.SearchStrategy[JsonValue] = st.one_of(st.none(), st.booleans(), integers, floats, _texts(12))

    def extend(children: st.SearchStrategy[JsonValue]) -> st.SearchStrategy[JsonValue]:
        return st.lists(children, max_size=4) | st.dictionaries(_texts(8), children, max_size=4)

    return st.recursive(scalars, extend, max_leaves=max_leaves)


_BAD_UTF8: tuple[bytes, ...] = (
    b"\x80",  # lone continuation
    b"\xbf",
    b"\xc0\xaf",  # overlong
    b"\xc3",  # truncated two-byte sequence
    b"\xe2\x82",  # truncated three-byte sequence
    b"\xe2\x28\xa1",
    b"\xed\xa0\x80",  # UTF-16 surrogate
    b"\xf0\x28\x8c\xbc",
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xf8\x88\x80\x80\x80",
    b"\xfe",
    b"\xff",
)


@st.composite
def invalid_utf8(draw: st.DrawFn) -> bytes:
    """Bytes that are not UTF-8 and hold no NUL: valid text, a bad sequence, then ASCII.

    The ASCII tail cannot complete a truncated sequence, so the bytes stay
    invalid wherever they are cut after the bad sequence.
    """
    prefix = draw(_texts_without_nul(8)).encode("utf-8")
    bad = draw(st.sampled_from(_BAD_UTF8))
    suffix = draw(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=8))
    return prefix + bad + suffix.encode("ascii")


# -- legal model packets -----------------------------------------------------------


def text_packets() -> st.SearchStrategy[TextPacket]:
    """Text, sometimes with NUL (the encoder truncates there, ABI.md 5.1)."""
    return st.builds(TextPacket, _texts())


def _confidence() -> st.SearchStrategy[float | None]:
    """Mostly f32 values; sometimes NaN/inf or beyond f32, which serde_json writes as null."""
    return st.one_of(st.none(), st.floats(width=32), st.floats(allow_nan=True))


def transcription_packets() -> st.SearchStrategy[TranscriptionPacket]:
    segments = st.lists(
        st.builds(TranscriptionSegment, _texts(12), _u64(), _u64(), _confidence()),
        max_size=4,
    ).map(tuple)
    return st.builds(
        TranscriptionPacket,
        _texts(),
        segments,
        st.none() | _texts(8),
        st.none() | packet_metadata(with_keyframe=True),
    )


def custom_packets() -> st.SearchStrategy[CustomPacket]:
    """Custom packets; the type id may be empty or hold NUL (the encoder turns it into a space)."""
    return st.builds(CustomPacket, _texts(16), json_values(), _optional_metadata())


def binary_packets(*, with_meta: bool | None = None) -> st.SearchStrategy[BinaryPacket]:
    """Binary packets: plain (``with_meta=False``), with content type and/or metadata (True), or both."""
    data = st.binary(max_size=MAX_BYTES)
    plain = st.builds(BinaryPacket, data)
    content_type = st.none() | st.sampled_from(["audio/aac", "application/octet-stream", ""]) | _texts(16)
    meta = st.builds(BinaryPacket, data, content_type, _optional_metadata()).filter(lambda packet: packet.has_meta)
    if with_meta is None:
        return plain | meta
    return meta if with_meta else plain


def raw_audio_packets(
    *, max_samples: int = MAX_AUDIO_SAMPLES, allow_nan: bool = False
) -> st.SearchStrategy[RawAudioPacket]:
    """Interleaved f32 audio; NaN only on request (it compares unequal to itself)."""
    sample_rate = st.sampled_from([0, 8_000, 16_000, 44_100, 48_000, U32_MAX]) | st.integers(0, U32_MAX)
    channels = st.integers(0, 8) | st.just(U16_MAX)
    samples = st.lists(st.floats(width=32, allow_nan=allow_nan), max_size=max_samples).map(tuple)
    return st.builds(RawAudioPacket, sample_rate, channels, samples, _optional_metadata())


def raw_video_packets(
    pixel_formats: Iterable[PixelFormat] = tuple(PixelFormat),
    *,
    max_side: int = MAX_VIDEO_SIDE,
    max_extra: int = 8,
) -> st.SearchStrategy[RawVideoPacket]:
    """Frames with exactly the packed size plus up to ``max_extra`` bytes the receiver must trim."""
    formats = tuple(pixel_formats)
    if not formats:
        raise ValueError("raw_video_packets needs at least one pixel format")

    @st.composite
    def frames(draw: st.DrawFn) -> RawVideoPacket:
        width = draw(st.integers(0, max_side))
        height = draw(st.integers(0, max_side))
        pixel_format = draw(st.sampled_from(formats))
        size = packed_frame_size(width, height, pixel_format) + draw(st.integers(0, max_extra))
        data = draw(st.binary(min_size=size, max_size=size))
        return RawVideoPacket(width, height, pixel_format, data, draw(_optional_metadata()))

    return frames()


#: Each kind's strategy, built once: ``_from_model`` draws one per packet, and a strategy built anew is
#: validated anew by Hypothesis (a quarter of the fuzzer's time per plan under libFuzzer).
_MODEL_STRATEGIES: dict[PacketType, Callable[[], st.SearchStrategy[Packet]]] = {
    PacketType.RAW_AUDIO: cache(raw_audio_packets),
    PacketType.TEXT: cache(text_packets),
    PacketType.TRANSCRIPTION: cache(transcription_packets),
    PacketType.CUSTOM: cache(custom_packets),
    PacketType.BINARY: cache(lambda: binary_packets(with_meta=False)),
    PacketType.BINARY_WITH_META: cache(lambda: binary_packets(with_meta=True)),
    PacketType.RAW_VIDEO: cache(raw_video_packets),
}


def _kinds(kinds: Iterable[PacketType | int] | None, default: Iterable[PacketType]) -> list[PacketType]:
    chosen = sorted({PacketType(kind) for kind in (default if kinds is None else kinds)})
    if not chosen:
        raise ValueError("no packet kinds requested")
    return chosen


def packets(kinds: Iterable[PacketType | int] | None = None) -> st.SearchStrategy[Packet]:
    """Legal packets whose encoder discriminant (``packet_type_of``) is one of ``kinds`` (default: all).

    EncodedVideo/EncodedAudio (9/11) are never emitted by a host, so no model
    packet has them: use ``wire_packets`` for those.
    """
    chosen = _kinds(kinds, MODEL_PACKET_TYPES)
    unknown = [kind.name for kind in chosen if kind not in _MODEL_STRATEGIES]
    if unknown:
        raise ValueError(f"no model packets of type {unknown}; use wire_packets() for 9/11")
    return st.one_of([_MODEL_STRATEGIES[kind]() for kind in chosen])


# -- legal wire shapes -----------------------------------------------------------------


def _raw_metadata() -> st.SearchStrategy[RawMetadata]:
    """Metadata structs with values set behind false flags too (the receiver must ignore them)."""
    return st.builds(RawMetadata, _u64(), st.booleans(), _u64(), st.booleans(), _u64(), st.booleans())


def _optional_raw_metadata() -> st.SearchStrategy[RawMetadata | None]:
    return st.none() | _raw_metadata()


def _ignored_len() -> st.SearchStrategy[int | None]:
    """A ``CPacket.len`` the receiver ignores (C5), so any value is legal."""
    return st.none() | st.sampled_from([0, 1, 7, 1 << 20, U64_MAX])


@st.composite
def _legal_text_wires(draw: st.DrawFn) -> RawWire:
    """Valid UTF-8 up to the first NUL; whatever follows the NUL is never read."""
    text = draw(_texts_without_nul()).encode("utf-8")
    tail = draw(st.just(b"") | invalid_utf8().map(lambda bad: b"\0" + bad))
    return RawWire(PacketType.TEXT, RawText(text + tail), len_override=draw(_ignored_len()), label="text")


@st.composite
def _legal_transcription_wires(draw: st.DrawFn) -> RawWire:
    """The encoder's JSON, or a hand-written variant: optional keys missing, unknown keys, whitespace."""
    encoded = transcription_json(draw(transcription_packets()))
    variants = [
        encoded,
        b'{"text":"t","segments":[]}',
        b' {"segments":[{"text":"s","start_time_ms":0,"end_time_ms":1}],"text":"t","extra":[1,{"a":null}]}\n',
        b'{"text":"t","segments":[],"language":null,"metadata":{}}',
    ]
    data = draw(st.sampled_from(variants))
    return RawWire(PacketType.TRANSCRIPTION, RawBytes(data), label="transcription")


@st.composite
def _legal_custom_wires(draw: st.DrawFn) -> RawWire:
    """Valid JSON, possibly followed by bytes beyond ``data_len``; empty type ids are legal."""
    value = _compact_json(draw(json_values()))
    tail = draw(st.binary(max_size=8))
    type_id = draw(_texts_without_nul(12)).encode("utf-8") + draw(st.sampled_from([b"", b"\0\xff"]))
    custom = RawCustom(type_id, value + tail, len(value), draw(_optional_raw_metadata()))
    return RawWire(PacketType.CUSTOM, custom, len_override=draw(_ignored_len()), label="custom")


def _compact_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@st.composite
def _legal_binary_wires(draw: st.DrawFn) -> RawWire:
    """Plain Binary: ``len`` may stop short of the buffer (never beyond it)."""
    data = draw(st.binary(max_size=MAX_BYTES))
    length = draw(st.none() | st.integers(0, len(data)))
    return RawWire(PacketType.BINARY, RawBytes(data), len_override=length, label="binary")


@st.composite
def _legal_binary_meta_wires(draw: st.DrawFn) -> RawWire:
    """BinaryWithMeta in the 48-byte form, the 32-byte form, or 32 bytes with a poisoned tail."""
    data = draw(st.none() | st.binary(max_size=MAX_BYTES))
    data_len = 0 if data is None else draw(st.none() | st.integers(0, len(data)))
    content_type = draw(st.none() | _texts_without_nul(16).map(lambda text: text.encode("utf-8")))
    form = draw(st.sampled_from(["v9", "v8", "v8-poison"]))
    payload = RawBinaryMeta(
        data,
        data_len,
        content_type,
        draw(_optional_raw_metadata()),
        legacy_size=form != "v9",
        tail_poison=draw(st.sampled_from([0xDEAD_BEEF_DEAD_BEEF, U64_MAX, 1])) if form == "v8-poison" else None,
    )
    return RawWire(PacketType.BINARY_WITH_META, payload, label=f"binary-with-meta {form}")


@st.composite
def _legal_audio_wires(draw: st.DrawFn) -> RawWire:
    samples = draw(st.lists(st.floats(width=32, allow_nan=False), max_size=MAX_AUDIO_SAMPLES).map(tuple))
    count = draw(st.none() | st.integers(0, len(samples)))
    audio = RawAudio(
        draw(st.integers(0, U32_MAX)),
        draw(st.integers(0, U16_MAX)),
        samples,
        count,
        draw(_optional_raw_metadata()),
    )
    return RawWire(PacketType.RAW_AUDIO, audio, len_override=draw(_ignored_len()), label="audio")


@st.composite
def _legal_video_wires(draw: st.DrawFn) -> RawWire:
    """Frames at or above the packed size; ``data_len`` beyond it must be truncated by the receiver."""
    width = draw(st.integers(0, MAX_VIDEO_SIDE))
    height = draw(st.integers(0, MAX_VIDEO_SIDE))
    pixel_format = draw(st.sampled_from(tuple(PixelFormat)))
    need = packed_frame_size(width, height, pixel_format)
    data = draw(st.binary(min_size=need, max_size=need + 8))
    data_len = draw(st.none() | st.integers(need, len(data)))
    video = RawVideo(width, height, pixel_format, data, data_len, draw(_optional_raw_metadata()))
    return RawWire(PacketType.RAW_VIDEO, video, len_override=draw(_ignored_len()), label="video")


def _legal_encoded_wires(kind: PacketType) -> st.SearchStrategy[RawWire]:
    """EncodedVideo/EncodedAudio at runtime: opaque bytes (ABI.md 5.8)."""
    return st.binary(max_size=MAX_BYTES).map(
        lambda data: RawWire(kind, RawBytes(data), label=f"{kind.name.lower()} bytes")
    )


#: (host, plugin) versions whose delivery keeps a model packet's discriminant (ABI.md 2.2): a v9
#: host upgrades plain Binary for v9 plugins, and v6 sides downgrade BinaryWithMeta.
_DELIVERIES_KEEPING: dict[PacketType, tuple[tuple[int, int], ...]] = {
    PacketType.BINARY: ((9, 8), (9, 7), (9, 6), (8, 8), (7, 6), (6, 6)),
    PacketType.BINARY_WITH_META: ((9, 9), (9, 8), (9, 7), (8, 8), (8, 7), (7, 7)),
}


@st.composite
def _from_model(draw: st.DrawFn, kind: PacketType) -> RawWire:
    """A model packet as some host version delivers it, keeping ``kind`` as the discriminant."""
    packet = draw(_MODEL_STRATEGIES[kind]())
    host, plugin = draw(st.sampled_from(_DELIVERIES_KEEPING.get(kind, ((9, 9),))))
    return to_raw_wire(packet, host_version=host, plugin_version=plugin)


_WIRE_STRATEGIES: dict[PacketType, Callable[[], st.SearchStrategy[RawWire]]] = {
    PacketType.RAW_AUDIO: lambda: _from_model(PacketType.RAW_AUDIO) | _legal_audio_wires(),
    PacketType.TEXT: lambda: _from_model(PacketType.TEXT) | _legal_text_wires(),
    PacketType.TRANSCRIPTION: lambda: _from_model(PacketType.TRANSCRIPTION) | _legal_transcription_wires(),
    PacketType.CUSTOM: lambda: _from_model(PacketType.CUSTOM) | _legal_custom_wires(),
    PacketType.BINARY: lambda: _from_model(PacketType.BINARY) | _legal_binary_wires(),
    PacketType.RAW_VIDEO: lambda: _from_model(PacketType.RAW_VIDEO) | _legal_video_wires(),
    PacketType.ENCODED_VIDEO: lambda: _legal_encoded_wires(PacketType.ENCODED_VIDEO),
    PacketType.BINARY_WITH_META: lambda: _from_model(PacketType.BINARY_WITH_META) | _legal_binary_meta_wires(),
    PacketType.ENCODED_AUDIO: lambda: _legal_encoded_wires(PacketType.ENCODED_AUDIO),
}


def wire_packets(kinds: Iterable[PacketType | int] | None = None) -> st.SearchStrategy[RawWire]:
    """Legal wire packets of the runtime types in ``kinds`` (default: all nine); receivers accept them."""
    chosen = _kinds(kinds, RUNTIME_PACKET_TYPES)
    refused = [kind.name for kind in chosen if kind in RUNTIME_UNSUPPORTED_TYPES]
    if refused:
        raise ValueError(f"{refused} are never legal at runtime; see malformed_packets()")
    return st.one_of([_WIRE_STRATEGIES[kind]() for kind in chosen])


# -- malformed wire packets ----------------------------------------------------------


def _null_data(kind: PacketType) -> st.SearchStrategy[RawWire]:
    """C2: ``CPacket.data`` NULL, for every type -- even Binary with len 0."""
    lengths = st.sampled_from([0, 1, 40, 48])
    return lengths.map(lambda length: RawWire(kind, null_packet_data=True, len_override=length, label="C2 null data"))


def _unsupported(kind: PacketType) -> st.SearchStrategy[RawWire]:
    """C3: OpusAudio/Any/Passthrough at runtime."""
    return st.binary(max_size=16).map(lambda data: RawWire(kind, RawBytes(data), label=f"C3 {kind.name}"))


def _malformed_text() -> st.SearchStrategy[RawWire]:
    return invalid_utf8().map(lambda data: RawWire(PacketType.TEXT, RawText(data), label="text invalid UTF-8"))


_BAD_TRANSCRIPTIONS: tuple[bytes, ...] = (
    b"",
    b"{}",
    b"null",
    b"[1,2]",
    b'{"text":"a"}',
    b'{"segments":[]}',
    b'{"text":1,"segments":[]}',
    b'{"text":"a","segments":{}}',
    b'{"text":"a","segments":[{"text":"x","start_time_ms":-1,"end_time_ms":0}]}',
    b'{"text":"a","segments":[{"text":"x","start_time_ms":1.5,"end_time_ms":2}]}',
    b'{"text":"a","segments":[{"text":"x","end_time_ms":2}]}',
    b'{"text":"a","segments":[{"text":"x","start_time_ms":0,"end_time_ms":1,"confidence":"high"}]}',
    b'{"text":"a","segments":[],"language":5}',
    b'{"text":"a","segments":[],"metadata":{"keyframe":1}}',
    b'{"text":"a","segments":[],"metadata":{"sequence":-3}}',
    b'{"text":"a","segments":[]',
    b'{"text":"\xff","segments":[]}',
    b'{"text":"a","segments":[],"x":NaN}',
    b'["a",[]]',
)


@st.composite
def _truncated_transcription(draw: st.DrawFn) -> RawWire:
    """The encoder's JSON with ``len`` stopping short: compact JSON cut anywhere is invalid."""
    data = transcription_json(draw(transcription_packets()))
    length = draw(st.integers(0, len(data) - 1))
    return RawWire(PacketType.TRANSCRIPTION, RawBytes(data), len_override=length, label="transcription truncated")


def _malformed_transcription() -> st.SearchStrategy[RawWire]:
    fixed = st.sampled_from(_BAD_TRANSCRIPTIONS).map(
        lambda data: RawWire(PacketType.TRANSCRIPTION, RawBytes(data), label="transcription bad JSON")
    )
    return fixed | _truncated_transcription()


_BAD_JSON: tuple[bytes, ...] = (
    b"{",
    b"nul",
    b"NaN",
    b"Infinity",
    b"{'a':1}",
    b'{"a":}',
    b"[1,]",
    b"01",
    b'"\xff"',
    b"{}}",
    b'"unterminated',
)


@st.composite
def _malformed_custom(draw: st.DrawFn) -> RawWire:
    valid_json = _compact_json(draw(json_values(4)))
    type_id = draw(_texts_without_nul(12)).encode("utf-8")
    metadata = draw(_optional_raw_metadata())
    case = draw(st.sampled_from(["no type_id", "no data_json", "type_id UTF-8", "bad JSON", "empty", "truncated"]))
    if case == "no type_id":
        custom = RawCustom(None, draw(st.none() | st.just(valid_json)), None, metadata)
    elif case == "no data_json":
        custom = RawCustom(type_id, None, draw(st.sampled_from([0, 1, 16])), metadata)
    elif case == "type_id UTF-8":
        custom = RawCustom(draw(invalid_utf8()), valid_json, None, metadata)
    elif case == "bad JSON":
        custom = RawCustom(type_id, draw(st.sampled_from(_BAD_JSON)), None, metadata)
    elif case == "empty":
        custom = RawCustom(type_id, valid_json, 0, metadata)
    else:
        custom = RawCustom(type_id, b"[" + valid_json, draw(st.integers(1, len(valid_json) + 1)), metadata)
    return RawWire(PacketType.CUSTOM, custom, label=f"custom {case}")


@st.composite
def _malformed_binary_meta(draw: st.DrawFn, binary_handle: tuple[int, int] | None) -> RawWire:
    """BM1 (NULL data with a length) and BM2 (content type not UTF-8), in 48- and 32-byte forms.

    A handle is attached only where a Rust-SDK plugin frees rather than takes
    it over (NULL data, or ``data_len`` 0): never a fake handle with payload.
    """
    form = draw(st.sampled_from(["v9", "v8", "v8-poison"]))
    legacy = form != "v9"
    poison = 0xDEAD_BEEF_DEAD_BEEF if form == "v8-poison" else None
    metadata = draw(_optional_raw_metadata())
    if draw(st.booleans()):
        data: bytes | None = None
        data_len = draw(st.integers(1, 1 << 20))
        content_type = draw(st.none() | invalid_utf8() | st.just(b"audio/aac"))
        label = "BinaryWithMeta null data"
    else:
        data = draw(st.binary(max_size=MAX_BYTES))
        data_len = draw(st.integers(0, len(data)))
        content_type = draw(invalid_utf8())
        label = "BinaryWithMeta content_type UTF-8"
    handle = free_fn = 0
    if binary_handle is not None and not legacy and (data is None or data_len == 0) and draw(st.booleans()):
        handle, free_fn = binary_handle
        label += " with handle"
    payload = RawBinaryMeta(data, data_len, content_type, metadata, handle, free_fn, legacy, poison)
    return RawWire(PacketType.BINARY_WITH_META, payload, label=f"{label} ({form})")


@st.composite
def _malformed_video(draw: st.DrawFn) -> RawWire:
    width = draw(st.integers(1, MAX_VIDEO_SIDE))
    height = draw(st.integers(1, MAX_VIDEO_SIDE))
    pixel_format = draw(st.sampled_from(tuple(PixelFormat)))
    metadata = draw(_optional_raw_metadata())
    if draw(st.booleans()):
        video = RawVideo(width, height, pixel_format, None, draw(st.sampled_from([0, 1, 1 << 20])), metadata)
        return RawWire(PacketType.RAW_VIDEO, video, label="video null data")
    need = packed_frame_size(width, height, pixel_format)
    data = draw(st.binary(min_size=need - 1, max_size=need + 8))
    data_len = draw(st.integers(0, need - 1))
    video = RawVideo(width, height, pixel_format, data, data_len, metadata)
    return RawWire(PacketType.RAW_VIDEO, video, label="video too small")


def _malformed_audio() -> st.SearchStrategy[RawWire]:
    audio = st.builds(
        RawAudio,
        st.integers(0, U32_MAX),
        st.integers(0, 8),
        st.none(),
        st.sampled_from([0, 1, 960, 1 << 20]),
        _optional_raw_metadata(),
    )
    return audio.map(lambda payload: RawWire(PacketType.RAW_AUDIO, payload, label="audio null samples"))


def _malformed_for(kind: PacketType, binary_handle: tuple[int, int] | None) -> st.SearchStrategy[RawWire]:
    if kind in RUNTIME_UNSUPPORTED_TYPES:
        return _unsupported(kind)
    specific: dict[PacketType, Callable[[], st.SearchStrategy[RawWire]]] = {
        PacketType.TEXT: _malformed_text,
        PacketType.TRANSCRIPTION: _malformed_transcription,
        PacketType.CUSTOM: _malformed_custom,
        PacketType.BINARY_WITH_META: lambda: _malformed_binary_meta(binary_handle),
        PacketType.RAW_VIDEO: _malformed_video,
        PacketType.RAW_AUDIO: _malformed_audio,
    }
    null_data = _null_data(kind)
    return null_data | specific[kind]() if kind in specific else null_data


def malformed_packets(
    kinds: Iterable[PacketType | int] | None = None, *, binary_handle: tuple[int, int] | None = None
) -> st.SearchStrategy[RawWire]:
    """Every illegal case of ABI.md 5 for the discriminants in ``kinds`` (default: all twelve).

    For each value, ``expected_receiver_error(raw)`` is the error a conforming
    receiver gives. JSON cases are ones RFC 8259 or the ABI.md 5.2 shape
    settles; serde_json-only corners (duplicate keys, nesting beyond 127, lone
    surrogate escapes, numbers beyond f64) are enforced by the decoder but not
    generated here, because a non-serde receiver may legitimately differ.

    ``binary_handle`` = ``(handle, free_fn)`` addresses adds BinaryWithMeta
    cases that carry a harness handle the receiver must release and NULL
    (only with NULL data or ``data_len`` 0, which is safe for Rust plugins).
    """
    chosen = _kinds(kinds, PacketType)
    return st.one_of([_malformed_for(kind, binary_handle) for kind in chosen])


# -- params and hints ------------------------------------------------------------------


class ParamsKind(Enum):
    """What a params text is, for ``create_instance``/``update_params`` (ABI.md 4.3, 4.6)."""

    NONE = "NULL"
    EMPTY = "empty (treated as no params)"
    OBJECT = "JSON object"
    NON_OBJECT = "JSON, not an object"
    NOT_JSON = "not JSON"
    INVALID_UTF8 = "not UTF-8"


def classify_params(text: bytes | None) -> ParamsKind:
    if text is None:
        return ParamsKind.NONE
    if text == b"":
        return ParamsKind.EMPTY
    if rust_utf8_error(text) is not None:
        return ParamsKind.INVALID_UTF8
    try:
        value = parse_json_value(text)
    except JsonShapeError:
        return ParamsKind.NOT_JSON
    return ParamsKind.OBJECT if isinstance(value, dict) else ParamsKind.NON_OBJECT


def _no_nul(text: bytes) -> bool:
    """C strings end at the first NUL, so a NUL would silently change the case."""
    return b"\0" not in text


def params_json() -> st.SearchStrategy[bytes]:
    """Params texts of every ``ParamsKind`` except NONE (pass NULL yourself); never containing NUL."""
    scalar = st.none() | st.booleans() | st.integers(-(1 << 31), 1 << 31) | _texts_without_nul(8)
    objects = st.dictionaries(_texts_without_nul(8), scalar, max_size=4)
    compact = objects.map(_compact_json)
    spaced = objects.map(lambda value: json.dumps(value, indent=1, ensure_ascii=False).encode("utf-8"))
    non_object = st.sampled_from([b"null", b"[]", b"1", b'"x"', b"true", b"[1,2]"])
    not_json = st.sampled_from([b"{", b"not json", b"{'a':1}", b'{"a":}', b"{}}", b"NaN", b'{"a":1,}', b" "])
    bad_utf8 = invalid_utf8().map(lambda bad: b'{"a":"' + bad + b'"}')
    return st.one_of(compact, spaced, st.just(b""), non_object, not_json, bad_utf8).filter(_no_nul)


class HintKind(Enum):
    """What an ``on_upstream_hint`` text is (ABI.md 4.11)."""

    VALID = "preferred_size with u32 width and height"
    MALFORMED = "not UTF-8 or not JSON"
    NOT_A_HINT = "JSON without a string type tag"
    UNKNOWN_TYPE = "unknown type tag"
    BAD_FIELDS = "preferred_size with missing or out-of-range fields"


def _is_u32(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= U32_MAX


def classify_hint(text: bytes) -> HintKind:
    """The only variant is ``{"type":"preferred_size","width":u32,"height":u32}``; extra keys are ignored."""
    try:
        value = parse_json_value(text)
    except JsonShapeError:
        return HintKind.MALFORMED
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return HintKind.NOT_A_HINT
    if value["type"] != "preferred_size":
        return HintKind.UNKNOWN_TYPE
    if _is_u32(value.get("width")) and _is_u32(value.get("height")):
        return HintKind.VALID
    return HintKind.BAD_FIELDS


@st.composite
def _valid_hint(draw: st.DrawFn) -> bytes:
    fields: list[tuple[str, JsonValue]] = [
        ("type", "preferred_size"),
        ("width", draw(st.sampled_from([0, 640, 1280, 1920, U32_MAX]) | st.integers(0, U32_MAX))),
        ("height", draw(st.sampled_from([0, 480, 720, 1080, U32_MAX]) | st.integers(0, U32_MAX))),
    ]
    if draw(st.booleans()):
        fields.append(("extra", draw(st.none() | st.integers(0, 9))))
    order = draw(st.permutations(fields))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    return json.dumps(dict(order), separators=separators).encode("utf-8")


@st.composite
def _bad_field_hint(draw: st.DrawFn) -> bytes:
    bad = draw(st.sampled_from([-1, U32_MAX + 1, 1.5, "640", None, True]))
    field_name = draw(st.sampled_from(["width", "height"]))
    value: dict[str, JsonValue] = {"type": "preferred_size", "width": 640, "height": 480}
    if draw(st.booleans()):
        del value[field_name]
    else:
        value[field_name] = bad
    return _compact_json(value)


def hints() -> st.SearchStrategy[bytes]:
    """Hint texts of every ``HintKind``; never containing NUL."""
    malformed = st.sampled_from([b"", b"{", b"not json", b'{"type":"preferred_size",}']) | invalid_utf8()
    not_a_hint = st.sampled_from([b"null", b"[]", b'{"width":640,"height":480}', b'{"type":5}', b'"preferred_size"'])
    unknown = (
        _texts_without_nul(12)
        .filter(lambda tag: tag != "preferred_size")
        .map(lambda tag: _compact_json({"type": tag, "width": 640, "height": 480}))
    )
    return st.one_of(_valid_hint(), malformed, not_a_hint, unknown, _bad_field_hint()).filter(_no_nul)


# -- a deterministic byte-driven packet ----------------------------------------------


#: The sample rates a byte-driven RawAudio packet picks from (or any u32, by its flag byte).
BYTE_SAMPLE_RATES = (0, 8_000, 16_000, 44_100, 48_000, U32_MAX)


def _read_optional_u64(source: ByteSource, present: bool) -> int | None:
    return source.uint(64) if present else None


def _read_metadata(source: ByteSource, *, with_keyframe: bool = False) -> PacketMetadata | None:
    flags = source.byte()
    if not flags & 1:
        return None
    keyframe = bool(flags & 32) if with_keyframe and flags & 16 else None
    return PacketMetadata(
        _read_optional_u64(source, bool(flags & 2)),
        _read_optional_u64(source, bool(flags & 4)),
        _read_optional_u64(source, bool(flags & 8)),
        keyframe,
    )


def _read_json(source: ByteSource, depth: int = 3) -> JsonValue:
    tag = source.below(7 if depth > 0 else 5)
    if tag == 0:
        return None
    if tag == 1:
        return bool(source.byte() & 1)
    if tag == 2:
        return source.sint(64)
    if tag == 3:
        return source.sint(16) / 64
    if tag == 4:
        return source.text(12)
    if tag == 5:
        return [_read_json(source, depth - 1) for _ in range(source.below(4))]
    return {source.text(8): _read_json(source, depth - 1) for _ in range(source.below(4))}


def _bytes_text(reader: ByteSource) -> Packet:
    return TextPacket(reader.text(_MAX_TEXT))


def _bytes_transcription(reader: ByteSource) -> Packet:
    text = reader.text(_MAX_TEXT)
    segments = []
    for _ in range(reader.below(4)):
        confidence = reader.f32() if reader.byte() & 1 else None
        segments.append(TranscriptionSegment(reader.text(12), reader.uint(32), reader.uint(32), confidence))
    language = reader.text(8) if reader.byte() & 1 else None
    return TranscriptionPacket(text, tuple(segments), language, _read_metadata(reader, with_keyframe=True))


def _bytes_custom(reader: ByteSource) -> Packet:
    return CustomPacket(reader.text(16), _read_json(reader), _read_metadata(reader))


def _bytes_binary(reader: ByteSource) -> Packet:
    return BinaryPacket(reader.chunk(reader.below(MAX_BYTES + 1)))


def _bytes_binary_meta(reader: ByteSource) -> Packet:
    data = reader.chunk(reader.below(MAX_BYTES + 1))
    content_type = reader.text(16) if reader.byte() & 1 else None
    metadata = _read_metadata(reader)
    if content_type is None and metadata is None:
        content_type = ""  # still BinaryWithMeta: an empty content type counts as present
    return BinaryPacket(data, content_type, metadata)


def _bytes_audio(reader: ByteSource) -> Packet:
    flag = reader.byte() & 1
    sample_rate = BYTE_SAMPLE_RATES[reader.below(len(BYTE_SAMPLE_RATES))] if flag else reader.uint(32)
    channels = reader.below(9)
    samples = tuple(reader.f32() for _ in range(reader.below(MAX_AUDIO_SAMPLES + 1)))
    return RawAudioPacket(sample_rate, channels, samples, _read_metadata(reader))


def _bytes_video(reader: ByteSource) -> Packet:
    width = reader.below(MAX_VIDEO_SIDE + 1)
    height = reader.below(MAX_VIDEO_SIDE + 1)
    pixel_format = PixelFormat(reader.below(len(PixelFormat)))
    size = packed_frame_size(width, height, pixel_format) + reader.below(9)
    return RawVideoPacket(width, height, pixel_format, reader.chunk(size), _read_metadata(reader))


_BYTE_BUILDERS: tuple[Callable[[ByteSource], Packet], ...] = (
    _bytes_audio,
    _bytes_text,
    _bytes_transcription,
    _bytes_custom,
    _bytes_binary,
    _bytes_binary_meta,
    _bytes_video,
)


def packet_from_bytes(data: bytes) -> Packet:
    """A legal packet for any byte string: total, deterministic, small, independent of Hypothesis.

    The first byte picks the kind (RawAudio, Text, Transcription, Custom,
    Binary, BinaryWithMeta, RawVideo, modulo 7); later bytes fill the fields;
    missing bytes read as zero. Coverage-guided fuzzers (atheris, libFuzzer)
    mutate bytes and need the same bytes to give the same packet forever --
    Hypothesis' ``fuzz_one_input`` depends on its internal choice encoding,
    which changes between releases and rejects (rather than completes) short
    inputs, so it would invalidate saved corpora and is not total.
    """
    return packet_from_source(ByteSource(data))


def packet_from_source(reader: ByteSource) -> Packet:
    """``packet_from_bytes`` reading through ``reader`` (a subclass may watch which fields it reads)."""
    return _BYTE_BUILDERS[reader.below(len(_BYTE_BUILDERS))](reader)


# -- import-time coverage check ---------------------------------------------------


def _check_coverage() -> None:
    """Every runtime discriminant needs a strategy, an encoder path and a decoder path."""
    problems = []
    for kind in sorted(RUNTIME_PACKET_TYPES):
        if kind not in _WIRE_STRATEGIES:
            problems.append(f"{kind.name}: no wire strategy")
        if kind not in ENCODABLE_TYPES:
            problems.append(f"{kind.name}: no encoder path")
        if kind not in DECODABLE_TYPES:
            problems.append(f"{kind.name}: no decoder path")
    for kind in sorted(MODEL_PACKET_TYPES):
        if kind not in _MODEL_STRATEGIES:
            problems.append(f"{kind.name}: no model packet strategy")
    if DECODABLE_TYPES != RUNTIME_PACKET_TYPES:
        problems.append(f"decoder covers {sorted(DECODABLE_TYPES)}, runtime types are {sorted(RUNTIME_PACKET_TYPES)}")
    builders = {packet_type_of(builder(ByteSource(bytes(256)))) for builder in _BYTE_BUILDERS}
    if builders != set(MODEL_PACKET_TYPES):
        problems.append(f"packet_from_bytes covers {sorted(builders)}")
    if problems:
        raise RuntimeError("strategy coverage incomplete: " + "; ".join(problems))


_check_coverage()
