"""Packets on the wire: the host's encoder, malformed-packet descriptions and the validating receiver.

Three jobs, one module, because they must agree byte for byte:

* ``encode_packet`` builds the C memory a host of a given version hands to a
  plugin of a given version (ABI.md 2.2, 5). ``to_raw_wire`` gives the same
  thing as a ``RawWire`` description.
* ``RawWire``/``encode_raw`` describe and build packets field by field,
  including every malformed shape ABI.md 5 names, so the battery and the
  fuzzers can send them; ``expected_receiver_error`` says what a conforming
  receiver must answer. RawWire refuses values that are undefined behaviour in
  a Rust receiver (ABI.md 5.0 C4/C6: enums out of range, garbage pointers,
  counts beyond the buffer): a plugin cannot be blamed for what such packets do.
* ``decode_packet``/``decode_packet_with_handles`` are the host's receiver for
  packets a plugin emits (ABI.md 5, 2.3, 8.6), with the host's exact error texts.

Every buffer is ordinary ``ffi.new`` memory kept alive by
``EncodedPacket.keepalive``; the writable ``CBinaryPacket`` (ABI.md 4.16,
5.5) is exposed as ``EncodedPacket.binary`` for zero-copy checks.

The decoder reads only memory the plugin points it at. It cannot survive a
garbage non-NULL pointer (that is a segfault in the real host too); counts
above ``max_bytes`` are refused with our own error instead of being trusted.
"""

from __future__ import annotations

import contextlib
import struct
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, TypeAlias

from conformance.abi import ffi
from conformance.abi.constants import (
    BINARY_PACKET_V8_SIZE,
    BINARY_PACKET_V9_SIZE,
    PACKET_TYPE_RUST_NAMES,
    RUNTIME_UNSUPPORTED_TYPES,
    PacketType,
    PixelFormat,
)
from conformance.host.packets import (
    U16_MAX,
    U32_MAX,
    U64_MAX,
    BinaryForm,
    BinaryPacket,
    CustomPacket,
    JsonShapeError,
    Packet,
    PacketMetadata,
    RawAudioPacket,
    RawVideoPacket,
    TextPacket,
    TranscriptionPacket,
    binary_form,
    check_versions,
    nul_to_space,
    parse_json_value,
    parse_transcription_json,
    transcription_json,
    truncate_at_nul,
)
from conformance.host.video import packed_frame_size

#: Discriminants a plugin may legally put in an emitted packet (ABI.md 8.6).
RUNTIME_PACKET_TYPES: frozenset[PacketType] = frozenset(PacketType) - RUNTIME_UNSUPPORTED_TYPES

#: Struct sizes the encoder writes into ``CPacket.len`` (ABI.md 5.3, 5.6, 5.7).
CUSTOM_PACKET_SIZE = 40
AUDIO_FRAME_SIZE = 40
VIDEO_FRAME_SIZE = 48
METADATA_SIZE = 48

#: Largest byte count the decoder copies; the real host trusts any count (C6) and crashes instead.
DEFAULT_MAX_BYTES = 1 << 30

HOST_ERROR_PREFIX = "Failed to convert packet: "
SDK_ERROR_PREFIX = "Invalid packet: "
TRANSCRIPTION_ERROR_PREFIX = "Invalid transcription data: "
CUSTOM_JSON_ERROR_PREFIX = "Invalid custom JSON: "


# -- errors ------------------------------------------------------------------


class Rule(StrEnum):
    """Receiver rules, named after ABI.md 5 (C1-C6 are 5.0; the others follow their sections)."""

    NULL_PACKET = "C1"
    NULL_DATA = "C2"
    UNSUPPORTED_TYPE = "C3"
    BAD_DISCRIMINANT = "C4"  # our text: UB in the Rust host
    IMPLAUSIBLE_COUNT = "C6"  # our text: the Rust host would read it and crash
    TEXT_UTF8 = "T1"
    TRANSCRIPTION_JSON = "TR1"
    CUSTOM_NO_TYPE_ID = "CU1"
    CUSTOM_NO_DATA = "CU2"
    CUSTOM_TYPE_ID_UTF8 = "CU3"
    CUSTOM_JSON = "CU4"
    CUSTOM_ENCODING = "CU5"  # our text: UB in the Rust host
    BINARY_NULL_DATA = "BM1"
    BINARY_CONTENT_TYPE_UTF8 = "BM2"
    VIDEO_NULL_DATA = "V1"
    VIDEO_TOO_SMALL = "V2"
    VIDEO_PIXEL_FORMAT = "V3"  # our text: UB in the Rust host
    AUDIO_NULL_SAMPLES = "A1"
    POOL_HANDLE_UNKNOWN = "P1"  # our text: the Rust host would reinterpret the pointer
    METADATA_BOOL = "M1"  # our text: UB in the Rust host


#: Rules whose text is ours because the real host has undefined behaviour there.
HARNESS_RULES: frozenset[Rule] = frozenset(
    {
        Rule.BAD_DISCRIMINANT,
        Rule.IMPLAUSIBLE_COUNT,
        Rule.CUSTOM_ENCODING,
        Rule.VIDEO_PIXEL_FORMAT,
        Rule.POOL_HANDLE_UNKNOWN,
        Rule.METADATA_BOOL,
    }
)


class WireError(Exception):
    """A packet the receiver refuses. ``message`` is the host's text without its prefix.

    When the packet carried a handle the real host would have consumed before
    failing (a pool buffer it frees or returns, a v9 binary handle it releases
    and NULLs), ``pool_handle``/``binary_handle`` say so: the caller releases it.
    """

    def __init__(self, rule: Rule, message: str) -> None:
        super().__init__(rule, message)
        self.rule = rule
        self.message = message
        self.pool_handle: int | None = None
        self.binary_handle: int | None = None
        self.binary_free_fn: int | None = None

    def __str__(self) -> str:
        return self.message

    @property
    def host_message(self) -> str:
        """As the host records it for the node failure (ABI.md 4.12)."""
        return HOST_ERROR_PREFIX + self.message

    @property
    def sdk_message(self) -> str:
        """As a Rust-SDK plugin returns it from ``process_packet`` (ABI.md 5.0)."""
        return SDK_ERROR_PREFIX + self.message

    @property
    def from_real_host(self) -> bool:
        """False when the text is the harness's own (the real host has UB at this point)."""
        return self.rule not in HARNESS_RULES


def unsupported_type_message(packet_type: int) -> str:
    """C3: the host formats the Rust enum variant with ``{:?}``."""
    return f"Unsupported packet type: {PACKET_TYPE_RUST_NAMES[PacketType(packet_type)]}"


def binary_meta_len_message(length: int) -> str | None:
    """ABI.md 2.3, 8.6: a BinaryWithMeta ``CPacket.len`` is 32 (the v7/v8 struct) or at least 48 (v9); else the text.

    Any other value is ambiguous: the host gates on ``len >= 48`` and reads
    the 32-byte layout for everything below, so a plugin that meant the v9
    struct silently loses its handle fields, and one below 32 makes the host
    read past the struct.
    """
    if length == BINARY_PACKET_V8_SIZE or length >= BINARY_PACKET_V9_SIZE:
        return None
    return (
        f"{BINARY_META_LEN_PREFIX}{length}: it must be {BINARY_PACKET_V8_SIZE} (the v7/v8 CBinaryPacket) "
        f"or >= {BINARY_PACKET_V9_SIZE} (the v9 struct)"
    )


BINARY_META_LEN_PREFIX = "BinaryWithMeta CPacket.len is "

#: Told about what the host accepts but ABI.md 8.6 forbids a plugin to send (see ``observe_sender``).
SenderObserver: TypeAlias = Callable[[str, str], None]
_sender_observers: list[SenderObserver] = []


@contextlib.contextmanager
def observe_sender(observer: SenderObserver) -> Iterator[None]:
    """While a plugin call runs: ``observer(rule, detail)`` for each packet the host would accept as it is
    but the sender rules of ABI.md 8.6 forbid (today: ``wire-out.binary-meta-len``)."""
    _sender_observers.append(observer)
    try:
        yield
    finally:
        _sender_observers.remove(observer)


def _sender_breach(rule: str, detail: str) -> None:
    for observer in list(_sender_observers):
        observer(rule, detail)


def video_too_small_message(need: int, have: int) -> str:
    return f"Invalid video frame: VideoFrame data buffer too small: need {need} bytes, have {have}"


def receiver_error_matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is the receiver error ``expected`` names.

    Texts ending in ``": "`` are prefixes: their detail is serde_json's wording,
    which the harness does not reproduce. All other texts must match exactly
    (UTF-8 details are reproduced exactly, see ``rust_utf8_error``).
    """
    if expected.endswith(": "):
        return actual.startswith(expected)
    return actual == expected


# -- Rust's UTF-8 validation ---------------------------------------------------


def _utf8_width(first: int) -> int:
    if 0xC2 <= first <= 0xDF:
        return 2
    if 0xE0 <= first <= 0xEF:
        return 3
    if 0xF0 <= first <= 0xF4:
        return 4
    return 0


def _second_byte_ok(first: int, second: int) -> bool:
    if first == 0xE0:
        return 0xA0 <= second <= 0xBF
    if first == 0xED:
        return 0x80 <= second <= 0x9F
    if first == 0xF0:
        return 0x90 <= second <= 0xBF
    if first == 0xF4:
        return 0x80 <= second <= 0x8F
    return 0x80 <= second <= 0xBF


def _utf8_failure(data: bytes) -> tuple[int, int | None] | None:
    """Rust's ``run_utf8_validation``: (valid_up_to, error_len or None when incomplete), None if valid."""
    index = 0
    while index < len(data):
        first = data[index]
        width = 1 if first < 0x80 else _utf8_width(first)
        if width == 0:
            return index, 1
        for offset in range(1, width):
            if index + offset >= len(data):
                return index, None
            byte = data[index + offset]
            ok = _second_byte_ok(first, byte) if offset == 1 else 0x80 <= byte <= 0xBF
            if not ok:
                return index, offset
        index += width
    return None


def rust_utf8_error(data: bytes) -> str | None:
    """``core::str::Utf8Error``'s Display for ``data``, or None when it is valid UTF-8.

    Python's strict UTF-8 decoder accepts exactly what Rust's ``from_utf8`` accepts (no surrogates, no
    overlong forms, nothing past U+10FFFF), so it answers the common case; the byte walk only words
    the error."""
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    failure = _utf8_failure(data)
    if failure is None:
        return None
    valid_up_to, error_len = failure
    if error_len is None:
        return f"incomplete utf-8 byte sequence from index {valid_up_to}"
    return f"invalid utf-8 sequence of {error_len} bytes from index {valid_up_to}"


# -- raw descriptions ----------------------------------------------------------


def _check_range(value: int, top: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise ValueError(f"{name} must be an int in 0..{top}, got {value!r}")


def _check_count(count: int | None, available: int | None, name: str) -> None:
    """A count must not promise more than the buffer holds: the receiver would read past it (C6)."""
    if count is None:
        return
    _check_range(count, U64_MAX, name)
    if available is not None and count > available:
        raise ValueError(f"{name} {count} exceeds the {available} available (an over-read is UB, ABI.md 5.0 C6)")


@dataclass(frozen=True)
class RawMetadata:
    """``CPacketMetadata`` field by field: values may be set behind a false flag (receivers ignore them)."""

    timestamp_us: int = 0
    has_timestamp_us: bool = False
    duration_us: int = 0
    has_duration_us: bool = False
    sequence: int = 0
    has_sequence: bool = False

    def __post_init__(self) -> None:
        for name in ("timestamp_us", "duration_us", "sequence"):
            _check_range(getattr(self, name), U64_MAX, name)

    @classmethod
    def of(cls, metadata: PacketMetadata) -> RawMetadata:
        """The encoder's form (ABI.md 5.10): absent values written as 0 with the flag false."""
        return cls(
            metadata.timestamp_us or 0,
            metadata.timestamp_us is not None,
            metadata.duration_us or 0,
            metadata.duration_us is not None,
            metadata.sequence or 0,
            metadata.sequence is not None,
        )

    def received(self) -> PacketMetadata:
        """What a receiver keeps: values whose flag is set."""
        return PacketMetadata(
            self.timestamp_us if self.has_timestamp_us else None,
            self.duration_us if self.has_duration_us else None,
            self.sequence if self.has_sequence else None,
        )


@dataclass(frozen=True)
class RawText:
    """Text (2): ``data`` is written followed by a NUL; it may hold NULs and invalid UTF-8."""

    data: bytes


@dataclass(frozen=True)
class RawBytes:
    """The byte payload of Transcription (3), Binary (5), EncodedVideo/Audio (9/11) or of 1/6/7."""

    data: bytes = b""


@dataclass(frozen=True)
class RawCustom:
    """``CCustomPacket``. ``None`` pointers are NULL; ``type_id`` gets a NUL appended; encoding is 0."""

    type_id: bytes | None = b""
    data_json: bytes | None = b"null"
    data_len: int | None = None
    metadata: RawMetadata | None = None

    def __post_init__(self) -> None:
        _check_count(self.data_len, None if self.data_json is None else len(self.data_json), "data_len")


@dataclass(frozen=True)
class RawBinaryMeta:
    """``CBinaryPacket`` for BinaryWithMeta (10).

    ``legacy_size`` sends the v7/v8 form (``CPacket.len`` 32). Without
    ``tail_poison`` the struct is a real 32-byte allocation; with it, 48
    bytes are allocated and the 16 bytes after the v8 fields hold the poison
    value twice, which a receiver must never read (the ``len >= 48`` gate).
    ``buffer_handle``/``free_fn`` are addresses (the caller keeps whatever they
    point at alive); they are only meaningful in the 48-byte form.
    """

    data: bytes | None = b""
    data_len: int | None = None
    content_type: bytes | None = None
    metadata: RawMetadata | None = None
    buffer_handle: int = 0
    free_fn: int = 0
    legacy_size: bool = False
    tail_poison: int | None = None

    def __post_init__(self) -> None:
        _check_count(self.data_len, None if self.data is None else len(self.data), "data_len")
        _check_range(self.buffer_handle, U64_MAX, "buffer_handle")
        _check_range(self.free_fn, U64_MAX, "free_fn")
        if self.legacy_size and (self.buffer_handle or self.free_fn):
            raise ValueError("a 32-byte BinaryWithMeta has no handle fields; use tail_poison for tail bytes")
        if self.tail_poison is not None:
            if not self.legacy_size:
                raise ValueError("tail_poison only exists behind a 32-byte packet (legacy_size=True)")
            _check_range(self.tail_poison, U64_MAX, "tail_poison")

    @property
    def allocated_size(self) -> int:
        return BINARY_PACKET_V8_SIZE if self.legacy_size and self.tail_poison is None else BINARY_PACKET_V9_SIZE

    @property
    def effective_data_len(self) -> int:
        return self.data_len if self.data_len is not None else len(self.data or b"")


@dataclass(frozen=True)
class RawAudio:
    """``CAudioFrame``; ``samples`` None is a NULL pointer; ``buffer_handle`` is NULL host -> plugin."""

    sample_rate: int = 48_000
    channels: int = 1
    samples: tuple[float, ...] | None = ()
    sample_count: int | None = None
    metadata: RawMetadata | None = None

    def __post_init__(self) -> None:
        _check_range(self.sample_rate, U32_MAX, "sample_rate")
        _check_range(self.channels, U16_MAX, "channels")
        if self.samples is not None:
            object.__setattr__(self, "samples", tuple(float(sample) for sample in self.samples))
        _check_count(self.sample_count, None if self.samples is None else len(self.samples), "sample_count")


@dataclass(frozen=True)
class RawVideo:
    """``CVideoFrame``; ``data`` None is a NULL pointer; ``data_len`` may be below the packed size."""

    width: int = 0
    height: int = 0
    pixel_format: int = PixelFormat.RGBA8
    data: bytes | None = b""
    data_len: int | None = None
    metadata: RawMetadata | None = None

    def __post_init__(self) -> None:
        _check_range(self.width, U32_MAX, "width")
        _check_range(self.height, U32_MAX, "height")
        _check_range(self.pixel_format, max(PixelFormat), "pixel_format")
        _check_count(self.data_len, None if self.data is None else len(self.data), "data_len")

    @property
    def effective_data_len(self) -> int:
        return self.data_len if self.data_len is not None else len(self.data or b"")


RawPayload: TypeAlias = RawText | RawBytes | RawCustom | RawBinaryMeta | RawAudio | RawVideo

_PAYLOAD_FOR: dict[PacketType, type[RawPayload]] = {
    PacketType.RAW_AUDIO: RawAudio,
    PacketType.OPUS_AUDIO: RawBytes,
    PacketType.TEXT: RawText,
    PacketType.TRANSCRIPTION: RawBytes,
    PacketType.CUSTOM: RawCustom,
    PacketType.BINARY: RawBytes,
    PacketType.ANY: RawBytes,
    PacketType.PASSTHROUGH: RawBytes,
    PacketType.RAW_VIDEO: RawVideo,
    PacketType.ENCODED_VIDEO: RawBytes,
    PacketType.BINARY_WITH_META: RawBinaryMeta,
    PacketType.ENCODED_AUDIO: RawBytes,
}


def default_payload(kind: PacketType) -> RawPayload:
    """The empty payload of a discriminant: what ``RawWire(kind)`` carries when none is given."""
    payload_type = _PAYLOAD_FOR[kind]
    if payload_type is RawText:
        return RawText(b"")
    return _EMPTY_PAYLOADS[payload_type]


_EMPTY_PAYLOADS: dict[type[RawPayload], RawPayload] = {
    payload_type: payload_type() for payload_type in (RawBytes, RawCustom, RawBinaryMeta, RawAudio, RawVideo)
}


_DEFAULT_PAYLOAD = RawBytes()

#: Types whose ``CPacket.len`` is a byte count the receiver reads (ABI.md 5.0 C5).
_LEN_IS_BYTE_COUNT = frozenset(
    {PacketType.TRANSCRIPTION, PacketType.BINARY, PacketType.ENCODED_VIDEO, PacketType.ENCODED_AUDIO}
)


@dataclass(frozen=True)
class RawWire:
    """One packet, field by field, legal or not (but never UB for a Rust receiver).

    ``payload`` defaults to the type's empty payload (``default_payload``).
    ``null_packet_data`` sends ``CPacket.data`` NULL (C2); ``len_override``
    replaces the ``CPacket.len`` the encoder would write (for BinaryWithMeta it
    is the size gate). ``label`` names the case in reports; it is not compared.
    """

    packet_type: int
    payload: RawPayload = _DEFAULT_PAYLOAD
    null_packet_data: bool = False
    len_override: int | None = None
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _check_range(self.packet_type, max(PacketType), "packet_type (values outside 0..11 are UB, C4)")
        kind = PacketType(self.packet_type)
        if self.payload is _DEFAULT_PAYLOAD:
            object.__setattr__(self, "payload", default_payload(kind))
        expected = _PAYLOAD_FOR[kind]
        if not isinstance(self.payload, expected):
            raise TypeError(f"{kind.name} takes a {expected.__name__} payload, got {type(self.payload).__name__}")
        if self.len_override is not None:
            available = None
            if kind in _LEN_IS_BYTE_COUNT and not self.null_packet_data:
                assert isinstance(self.payload, RawBytes)
                available = len(self.payload.data)
            _check_count(self.len_override, available, "len_override")
            payload = self.payload
            if isinstance(payload, RawBinaryMeta) and self.len_override > payload.allocated_size:
                raise ValueError(f"len {self.len_override} would make the receiver read past a 32-byte struct")

    @property
    def kind(self) -> PacketType:
        return PacketType(self.packet_type)

    @property
    def natural_len(self) -> int:
        """The ``CPacket.len`` the encoder writes (ABI.md 5)."""
        payload = self.payload
        if isinstance(payload, RawText):
            return len(payload.data) + 1
        if isinstance(payload, RawBytes):
            return len(payload.data)
        if isinstance(payload, RawCustom):
            return CUSTOM_PACKET_SIZE
        if isinstance(payload, RawBinaryMeta):
            return BINARY_PACKET_V8_SIZE if payload.legacy_size else BINARY_PACKET_V9_SIZE
        if isinstance(payload, RawAudio):
            return AUDIO_FRAME_SIZE
        return VIDEO_FRAME_SIZE

    @property
    def cpacket_len(self) -> int:
        return self.natural_len if self.len_override is None else self.len_override


# -- encoding -------------------------------------------------------------------


@dataclass(eq=False)
class EncodedPacket:
    """A packet in C memory: ``ptr`` is the owning ``CPacket *``.

    Everything the packet points at lives in ``keepalive``, which is also
    tied to ``ptr`` itself, so holding either the object or just ``ptr``
    keeps the whole packet valid (``decode_packet(encode_raw(raw).ptr)`` is
    safe). ``binary`` is the writable 48-byte ``CBinaryPacket`` when the
    packet has one with live handle fields (``CPacket.len >= 48``), else None.
    """

    ptr: Any
    packet_type: int
    binary: Any = None
    keepalive: list[Any] = field(default_factory=list)

    @property
    def address(self) -> int:
        return int(ffi().cast("uintptr_t", self.ptr))

    @property
    def length(self) -> int:
        return int(self.ptr.len)


#: Buffers of every live packet, keyed (weakly) by its owning CPacket cdata.
_KEEPALIVE: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
#: Live packets with a 48-byte binary struct, by CPacket address: a plugin emitting one of these
#: forwards "the identical CPacket pointer the harness delivered" (ABI.md 4.16 rule 4).
_DELIVERED: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def _address(value: Any) -> int:
    """An address from an int or any cffi pointer (NULL/None -> 0)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return int(ffi().cast("uintptr_t", value))


def _c_bytes(data: bytes, keep: list[Any]) -> Any:
    """A non-NULL buffer holding ``data`` (one byte even when empty: C2 forbids NULL)."""
    buffer = ffi().new("uint8_t[]", max(len(data), 1))
    ffi().memmove(buffer, data, len(data))
    keep.append(buffer)
    return buffer


def _c_string(data: bytes, keep: list[Any]) -> Any:
    buffer = ffi().new("char[]", len(data) + 1)  # zero-filled: the last byte is the terminator
    ffi().memmove(buffer, data, len(data))
    keep.append(buffer)
    return buffer


def _c_optional_string(data: bytes | None, keep: list[Any]) -> Any:
    return ffi().NULL if data is None else _c_string(data, keep)


def _c_metadata(metadata: RawMetadata | None, keep: list[Any]) -> Any:
    if metadata is None:
        return ffi().NULL
    struct_ = ffi().new("CPacketMetadata *")
    struct_.timestamp_us = metadata.timestamp_us
    struct_.has_timestamp_us = metadata.has_timestamp_us
    struct_.duration_us = metadata.duration_us
    struct_.has_duration_us = metadata.has_duration_us
    struct_.sequence = metadata.sequence
    struct_.has_sequence = metadata.has_sequence
    keep.append(struct_)
    return struct_


def _c_custom(payload: RawCustom, keep: list[Any]) -> Any:
    custom = ffi().new("CCustomPacket *")
    custom.type_id = _c_optional_string(payload.type_id, keep)
    custom.encoding = 0
    if payload.data_json is None:
        custom.data_json = ffi().NULL
        custom.data_len = payload.data_len or 0
    else:
        custom.data_json = _c_bytes(payload.data_json, keep)
        custom.data_len = len(payload.data_json) if payload.data_len is None else payload.data_len
    custom.metadata = _c_metadata(payload.metadata, keep)
    keep.append(custom)
    return custom


def _c_binary_meta(payload: RawBinaryMeta, keep: list[Any]) -> Any:
    f = ffi()
    struct_ = f.new("CBinaryPacketV8 *" if payload.allocated_size == BINARY_PACKET_V8_SIZE else "CBinaryPacket *")
    struct_.data = f.NULL if payload.data is None else _c_bytes(payload.data, keep)
    struct_.data_len = payload.effective_data_len
    struct_.content_type = _c_optional_string(payload.content_type, keep)
    struct_.metadata = _c_metadata(payload.metadata, keep)
    if payload.tail_poison is not None:
        tail = f.cast("uint64_t *", struct_)
        tail[4] = payload.tail_poison
        tail[5] = payload.tail_poison
    elif payload.allocated_size == BINARY_PACKET_V9_SIZE:
        struct_.buffer_handle = f.cast("void *", payload.buffer_handle)
        struct_.free_fn = f.cast("void (*)(void *)", payload.free_fn)
    keep.append(struct_)
    return struct_


def _c_audio(payload: RawAudio, keep: list[Any]) -> Any:
    f = ffi()
    frame = f.new("CAudioFrame *")
    frame.sample_rate = payload.sample_rate
    frame.channels = payload.channels
    if payload.samples is None:
        frame.samples = f.NULL
        frame.sample_count = payload.sample_count or 0
    else:
        samples = f.new("float[]", max(len(payload.samples), 1))
        samples[0 : len(payload.samples)] = list(payload.samples)
        keep.append(samples)
        frame.samples = samples
        frame.sample_count = len(payload.samples) if payload.sample_count is None else payload.sample_count
    frame.buffer_handle = f.NULL
    frame.metadata = _c_metadata(payload.metadata, keep)
    keep.append(frame)
    return frame


def _c_video(payload: RawVideo, keep: list[Any]) -> Any:
    f = ffi()
    frame = f.new("CVideoFrame *")
    frame.width = payload.width
    frame.height = payload.height
    frame.pixel_format = payload.pixel_format
    frame.data = f.NULL if payload.data is None else _c_bytes(payload.data, keep)
    frame.data_len = payload.effective_data_len
    frame.buffer_handle = f.NULL
    frame.metadata = _c_metadata(payload.metadata, keep)
    keep.append(frame)
    return frame


def _c_payload(payload: RawPayload, keep: list[Any]) -> Any:
    if isinstance(payload, RawText):
        return _c_string(payload.data, keep)
    if isinstance(payload, RawBytes):
        return _c_bytes(payload.data, keep)
    if isinstance(payload, RawCustom):
        return _c_custom(payload, keep)
    if isinstance(payload, RawBinaryMeta):
        return _c_binary_meta(payload, keep)
    if isinstance(payload, RawAudio):
        return _c_audio(payload, keep)
    return _c_video(payload, keep)


def encode_raw(raw: RawWire) -> EncodedPacket:
    """Build ``raw`` in C memory exactly as described (no sanitising: that is the point)."""
    f = ffi()
    keep: list[Any] = []
    packet = f.new("CPacket *")
    packet.packet_type = raw.packet_type
    packet.len = raw.cpacket_len
    data = f.NULL if raw.null_packet_data else _c_payload(raw.payload, keep)
    packet.data = data
    _KEEPALIVE[packet] = keep  # must not reference ``packet`` itself, or it would never die
    binary = None
    if (
        isinstance(raw.payload, RawBinaryMeta)
        and not raw.null_packet_data
        and raw.payload.allocated_size == BINARY_PACKET_V9_SIZE
        and raw.cpacket_len >= BINARY_PACKET_V9_SIZE
    ):
        binary = f.cast("CBinaryPacket *", data)
    encoded = EncodedPacket(packet, raw.packet_type, binary, keep)
    if binary is not None:
        _DELIVERED[encoded.address] = packet
    return encoded


def to_raw_wire(packet: Packet, *, host_version: int = 9, plugin_version: int = 9) -> RawWire:
    """The wire form a ``host_version`` host gives ``packet`` for a ``plugin_version`` plugin (no handles)."""
    check_versions(host_version, plugin_version)
    match packet:
        case TextPacket():
            return RawWire(PacketType.TEXT, RawText(truncate_at_nul(packet.text).encode("utf-8")))
        case TranscriptionPacket():
            return RawWire(PacketType.TRANSCRIPTION, RawBytes(transcription_json(packet)))
        case CustomPacket():
            custom = RawCustom(
                nul_to_space(packet.type_id).encode("utf-8"),
                packet.data_json.encode("utf-8"),
                None,
                _raw_metadata(packet.metadata),
            )
            return RawWire(PacketType.CUSTOM, custom)
        case BinaryPacket():
            return _binary_raw_wire(packet, binary_form(packet, host_version, plugin_version))
        case RawAudioPacket():
            audio = RawAudio(
                packet.sample_rate,
                packet.channels,
                packet.samples,
                None,
                _raw_metadata(packet.metadata),
            )
            return RawWire(PacketType.RAW_AUDIO, audio)
        case RawVideoPacket():
            video = RawVideo(
                packet.width,
                packet.height,
                packet.pixel_format,
                packet.data,
                None,
                _raw_metadata(packet.metadata),
            )
            return RawWire(PacketType.RAW_VIDEO, video)
    raise TypeError(f"not a packet: {packet!r}")


def _raw_metadata(metadata: PacketMetadata | None) -> RawMetadata | None:
    return None if metadata is None else RawMetadata.of(metadata)


def _binary_raw_wire(packet: BinaryPacket, form: BinaryForm) -> RawWire:
    if form is BinaryForm.PLAIN:
        return RawWire(PacketType.BINARY, RawBytes(packet.data))
    content_type = None if packet.content_type is None else nul_to_space(packet.content_type).encode("utf-8")
    metadata = _raw_metadata(packet.metadata)
    payload = RawBinaryMeta(
        packet.data,
        None,
        content_type,
        metadata,
        legacy_size=form is BinaryForm.META_V8,
    )
    return RawWire(PacketType.BINARY_WITH_META, payload)


def encode_packet(
    packet: Packet,
    *,
    host_version: int = 9,
    plugin_version: int = 9,
    buffer_handle: Any = None,
    free_fn: Any = None,
) -> EncodedPacket:
    """How a ``host_version`` host delivers ``packet`` to a ``plugin_version`` plugin (ABI.md 2.2, 5).

    ``buffer_handle``/``free_fn`` (cffi pointers or addresses) go into the
    48-byte struct only when given, and only where a v9 host attaches one (a
    binary packet from a v9 host to a v9 plugin). The real host puts a boxed
    Rust ``bytes::Bytes`` there; the harness never invents one, because a
    Rust-SDK plugin would take a fake handle over as that object (ABI.md 8.5).
    Both objects are kept alive with the packet.
    """
    raw = to_raw_wire(packet, host_version=host_version, plugin_version=plugin_version)
    if buffer_handle is None and free_fn is None:
        return encode_raw(raw)
    if buffer_handle is None or free_fn is None:
        raise ValueError("buffer_handle and free_fn come together (free_fn is NULL iff buffer_handle is NULL)")
    payload = raw.payload
    if not isinstance(payload, RawBinaryMeta) or payload.legacy_size or plugin_version != 9:
        raise ValueError("only a v9 host delivering binary data to a v9 plugin attaches a buffer handle")
    raw = replace(raw, payload=replace(payload, buffer_handle=_address(buffer_handle), free_fn=_address(free_fn)))
    encoded = encode_raw(raw)
    encoded.keepalive.extend([buffer_handle, free_fn])
    return encoded


# -- what a conforming receiver must answer -----------------------------------


def _text_error(payload: RawText) -> str | None:
    detail = rust_utf8_error(payload.data.split(b"\0", 1)[0])
    return None if detail is None else f"Invalid UTF-8 in text packet: {detail}"


def _transcription_error(data: bytes) -> str | None:
    try:
        parse_transcription_json(data)
    except JsonShapeError:
        return TRANSCRIPTION_ERROR_PREFIX
    return None


def _custom_error(payload: RawCustom) -> str | None:
    if payload.type_id is None:
        return "Custom packet missing type_id"
    if payload.data_json is None:
        return "Custom packet missing data_json"
    detail = rust_utf8_error(payload.type_id.split(b"\0", 1)[0])
    if detail is not None:
        return f"Invalid UTF-8: {detail}"
    length = len(payload.data_json) if payload.data_len is None else payload.data_len
    try:
        parse_json_value(payload.data_json[:length])
    except JsonShapeError:
        return CUSTOM_JSON_ERROR_PREFIX
    return None


def _binary_meta_error(payload: RawBinaryMeta) -> str | None:
    if payload.data is None and payload.effective_data_len > 0:
        return "BinaryWithMeta packet has null data pointer"
    if payload.content_type is not None:
        detail = rust_utf8_error(payload.content_type.split(b"\0", 1)[0])
        if detail is not None:
            return f"Invalid UTF-8: {detail}"
    return None


def _video_error(payload: RawVideo) -> str | None:
    if payload.data is None:
        return "Null data pointer in video frame"
    need = packed_frame_size(payload.width, payload.height, payload.pixel_format)
    if payload.effective_data_len < need:
        return video_too_small_message(need, payload.effective_data_len)
    return None


def expected_receiver_error(raw: RawWire) -> str | None:
    """The ABI.md 5 error a conforming receiver gives for ``raw`` (without prefix), None if it must accept it.

    Compare with ``receiver_error_matches``: JSON errors are given as their
    prefix (``"Invalid transcription data: "``, ``"Invalid custom JSON: "``).
    """
    if raw.null_packet_data:
        return "Null packet data pointer"
    kind = raw.kind
    if kind in RUNTIME_UNSUPPORTED_TYPES:
        return unsupported_type_message(kind)
    payload = raw.payload
    if isinstance(payload, RawText):
        return _text_error(payload)
    if kind is PacketType.TRANSCRIPTION:
        assert isinstance(payload, RawBytes)
        return _transcription_error(payload.data[: raw.cpacket_len])
    if isinstance(payload, RawCustom):
        return _custom_error(payload)
    if isinstance(payload, RawBinaryMeta):
        return _binary_meta_error(payload)
    if isinstance(payload, RawVideo):
        return _video_error(payload)
    if isinstance(payload, RawAudio):
        return "Null samples pointer in audio frame" if payload.samples is None else None
    return None  # Binary, EncodedVideo, EncodedAudio: any bytes are accepted


# -- the validating receiver -----------------------------------------------------

PoolResolver: TypeAlias = Callable[[int], "tuple[int, int] | None"]

_METADATA_LAYOUT = struct.Struct("<QB7xQB7xQB7x")
_METADATA_FLAGS = ("has_timestamp_us", "has_duration_us", "has_sequence")


@dataclass(frozen=True)
class DecodedPacket:
    """A decoded plugin packet and the handles whose ownership moved to the host with it.

    ``pool_handle``: a RawAudio/RawVideo ``buffer_handle`` (the host took the
    pool buffer over). ``binary_handle``: a v9 BinaryWithMeta handle the host
    consumed and NULLed in the sender's struct; ``forwarded`` says it arrived
    in the very CPacket the harness delivered (legal, ABI.md 4.16 rule 4) --
    any other non-NULL binary handle from a plugin is a conformance failure.
    """

    packet: Packet
    pool_handle: int | None = None
    binary_handle: int | None = None
    forwarded: bool = False
    binary_free_fn: int | None = None


def _is_null(pointer: Any) -> bool:
    return pointer is None or _address(pointer) == 0


def _utf8(raw: bytes, rule: Rule, prefix: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(rule, f"{prefix}{rust_utf8_error(raw)}") from None


def decode_metadata_struct(pointer: Any) -> PacketMetadata | None:
    """``CPacketMetadata`` as the receiver reads it (ABI.md 5.10); flags are read as raw bytes.

    A flag byte other than 0 or 1 is UB in Rust; here it is a ``WireError``
    naming the field.
    """
    if _is_null(pointer):
        return None
    f = ffi()
    raw = bytes(f.buffer(f.cast("const uint8_t *", pointer), METADATA_SIZE))
    timestamp, has_timestamp, duration, has_duration, sequence, has_sequence = _METADATA_LAYOUT.unpack(raw)
    for name, flag in zip(_METADATA_FLAGS, (has_timestamp, has_duration, has_sequence), strict=True):
        if flag not in (0, 1):
            raise WireError(Rule.METADATA_BOOL, f"Invalid bool value {flag} in CPacketMetadata.{name}")
    return PacketMetadata(
        timestamp if has_timestamp else None,
        duration if has_duration else None,
        sequence if has_sequence else None,
    )


class _Receiver:
    """One decode: ABI.md 5 in the order the host applies it, remembering consumed handles."""

    def __init__(self, resolve_pool_buffer: PoolResolver | None, delivered: Any, max_bytes: int) -> None:
        self.resolve_pool_buffer = resolve_pool_buffer
        self.delivered = delivered
        self.max_bytes = max_bytes
        self.pool_handle: int | None = None
        self.binary_handle: int | None = None
        self.binary_free_fn: int | None = None
        self.forwarded = False

    def decoded(self, packet: Packet) -> DecodedPacket:
        return DecodedPacket(packet, self.pool_handle, self.binary_handle, self.forwarded, self.binary_free_fn)

    def annotate(self, error: WireError) -> WireError:
        error.pool_handle = self.pool_handle
        error.binary_handle = self.binary_handle
        error.binary_free_fn = self.binary_free_fn
        return error

    # -- helpers

    def copy(self, pointer: Any, count: int, what: str) -> bytes:
        if count > self.max_bytes:
            raise WireError(
                Rule.IMPLAUSIBLE_COUNT, f"Refusing to read {count} bytes of {what} (limit {self.max_bytes})"
            )
        if count == 0:
            return b""
        f = ffi()
        return bytes(f.buffer(f.cast("const uint8_t *", pointer), count))

    def resolve(self, handle: int) -> tuple[int, int]:
        found = None if self.resolve_pool_buffer is None else self.resolve_pool_buffer(handle)
        if found is None:
            raise WireError(Rule.POOL_HANDLE_UNKNOWN, f"Unknown pool buffer handle 0x{handle:x}")
        return found

    def is_delivered(self, packet_address: int) -> bool:
        if self.delivered is not None:
            target = self.delivered.ptr if isinstance(self.delivered, EncodedPacket) else self.delivered
            return _address(target) == packet_address
        return packet_address in _DELIVERED

    # -- entry

    def read(self, pointer: Any) -> Packet:
        if _is_null(pointer):
            raise WireError(Rule.NULL_PACKET, "Null packet pointer")
        f = ffi()
        packet = f.cast("CPacket *", pointer)
        packet_type = int(packet.packet_type)
        data = packet.data
        length = int(packet.len)
        if data == f.NULL:
            raise WireError(Rule.NULL_DATA, "Null packet data pointer")
        if not 0 <= packet_type <= max(PacketType):
            raise WireError(Rule.BAD_DISCRIMINANT, f"Invalid packet type discriminant: {packet_type}")
        kind = PacketType(packet_type)
        if kind in RUNTIME_UNSUPPORTED_TYPES:
            raise WireError(Rule.UNSUPPORTED_TYPE, unsupported_type_message(kind))
        return _DECODERS[kind](self, data, length, _address(pointer))

    # -- one method per discriminant

    def audio(self, data: Any, length: int, packet_address: int) -> Packet:
        f = ffi()
        frame = f.cast("CAudioFrame *", data)
        handle = _address(frame.buffer_handle)
        if handle:
            self.pool_handle = handle
        if frame.samples == f.NULL:
            raise WireError(Rule.AUDIO_NULL_SAMPLES, "Null samples pointer in audio frame")
        metadata = decode_metadata_struct(frame.metadata)
        if handle:
            address, count = self.resolve(handle)  # the allocation length, sample_count is ignored
            source: Any = f.cast("const float *", address)
        else:
            count, source = int(frame.sample_count), frame.samples
        raw = self.copy(source, count * 4, "audio samples")
        samples = struct.unpack(f"<{count}f", raw)
        return RawAudioPacket(int(frame.sample_rate), int(frame.channels), samples, metadata)

    def text(self, data: Any, length: int, packet_address: int) -> Packet:
        f = ffi()
        raw = f.string(f.cast("const char *", data))  # up to the first NUL; len is ignored
        return TextPacket(_utf8(raw, Rule.TEXT_UTF8, "Invalid UTF-8 in text packet: "))

    def transcription(self, data: Any, length: int, packet_address: int) -> Packet:
        raw = self.copy(data, length, "transcription JSON")
        try:
            return parse_transcription_json(raw)
        except JsonShapeError as error:
            raise WireError(Rule.TRANSCRIPTION_JSON, f"{TRANSCRIPTION_ERROR_PREFIX}{error}") from None

    def custom(self, data: Any, length: int, packet_address: int) -> Packet:
        f = ffi()
        custom = f.cast("CCustomPacket *", data)
        if custom.type_id == f.NULL:
            raise WireError(Rule.CUSTOM_NO_TYPE_ID, "Custom packet missing type_id")
        if custom.data_json == f.NULL:
            raise WireError(Rule.CUSTOM_NO_DATA, "Custom packet missing data_json")
        type_id = _utf8(f.string(custom.type_id), Rule.CUSTOM_TYPE_ID_UTF8, "Invalid UTF-8: ")
        raw = self.copy(custom.data_json, int(custom.data_len), "custom data_json")
        try:
            value = parse_json_value(raw)
        except JsonShapeError as error:
            raise WireError(Rule.CUSTOM_JSON, f"{CUSTOM_JSON_ERROR_PREFIX}{error}") from None
        metadata = decode_metadata_struct(custom.metadata)
        encoding = int(custom.encoding)
        if encoding != 0:
            raise WireError(Rule.CUSTOM_ENCODING, f"Invalid custom encoding: {encoding}")
        return CustomPacket(type_id, value, metadata)

    def bytes_payload(self, data: Any, length: int, packet_address: int) -> Packet:
        """Binary (5) and, at runtime, EncodedVideo/EncodedAudio (9/11): opaque bytes (ABI.md 5.8)."""
        return BinaryPacket(self.copy(data, length, "binary data"))

    def binary_with_meta(self, data: Any, length: int, packet_address: int) -> Packet:
        f = ffi()
        wrong_len = binary_meta_len_message(length)
        if wrong_len is not None:
            _sender_breach("wire-out.binary-meta-len", wrong_len)  # the host goes on with the v7/v8 layout
        has_v9_fields = length >= BINARY_PACKET_V9_SIZE  # the v7/v8 compatibility gate (ABI.md 2.3)
        binary = f.cast("CBinaryPacket *" if has_v9_fields else "CBinaryPacketV8 *", data)
        if has_v9_fields:
            self.take_binary_handle(binary, packet_address)
        data_len = int(binary.data_len)
        if binary.data == f.NULL and data_len > 0:
            raise WireError(Rule.BINARY_NULL_DATA, "BinaryWithMeta packet has null data pointer")
        payload = self.copy(binary.data, data_len, "binary data")
        content_type = None
        if binary.content_type != f.NULL:
            content_type = _utf8(f.string(binary.content_type), Rule.BINARY_CONTENT_TYPE_UTF8, "Invalid UTF-8: ")
        return BinaryPacket(payload, content_type, decode_metadata_struct(binary.metadata))

    def take_binary_handle(self, binary: Any, packet_address: int) -> None:
        """Steps 2-4 of ABI.md 5.5: any handle is consumed and NULLed before anything can fail.

        The host would call ``free_fn`` (empty or NULL data) or take the Rust
        ``Bytes`` over; the harness only records the handle for its caller.
        """
        handle = _address(binary.buffer_handle)
        if not handle:
            return
        self.binary_handle = handle
        self.binary_free_fn = _address(binary.free_fn) or None
        self.forwarded = self.is_delivered(packet_address)
        binary.buffer_handle = ffi().NULL

    def video(self, data: Any, length: int, packet_address: int) -> Packet:
        f = ffi()
        frame = f.cast("CVideoFrame *", data)
        handle = _address(frame.buffer_handle)
        if handle:
            self.pool_handle = handle
        if frame.data == f.NULL:
            raise WireError(Rule.VIDEO_NULL_DATA, "Null data pointer in video frame")
        pixel_format = int(frame.pixel_format)
        if not 0 <= pixel_format <= max(PixelFormat):
            raise WireError(Rule.VIDEO_PIXEL_FORMAT, f"Invalid pixel format: {pixel_format}")
        metadata = decode_metadata_struct(frame.metadata)
        width, height = int(frame.width), int(frame.height)
        need = packed_frame_size(width, height, pixel_format)
        if handle:
            address, have = self.resolve(handle)  # the allocation length, data_len is ignored
            source: Any = address
        else:
            have, source = int(frame.data_len), frame.data
            if have > self.max_bytes:
                raise WireError(
                    Rule.IMPLAUSIBLE_COUNT,
                    f"Refusing to read {have} bytes of video data (limit {self.max_bytes})",
                )
        if have < need:
            raise WireError(Rule.VIDEO_TOO_SMALL, video_too_small_message(need, have))
        return RawVideoPacket(width, height, PixelFormat(pixel_format), self.copy(source, need, "video data"), metadata)


_Decoder: TypeAlias = Callable[[_Receiver, Any, int, int], Packet]

_DECODERS: dict[PacketType, _Decoder] = {
    PacketType.RAW_AUDIO: _Receiver.audio,
    PacketType.TEXT: _Receiver.text,
    PacketType.TRANSCRIPTION: _Receiver.transcription,
    PacketType.CUSTOM: _Receiver.custom,
    PacketType.BINARY: _Receiver.bytes_payload,
    PacketType.RAW_VIDEO: _Receiver.video,
    PacketType.ENCODED_VIDEO: _Receiver.bytes_payload,
    PacketType.BINARY_WITH_META: _Receiver.binary_with_meta,
    PacketType.ENCODED_AUDIO: _Receiver.bytes_payload,
}

#: Discriminants with a decoder path; equals RUNTIME_PACKET_TYPES (checked by the strategies module).
DECODABLE_TYPES: frozenset[PacketType] = frozenset(_DECODERS)
#: Discriminants ``encode_raw`` can build legally (every runtime type) -- 1/6/7 exist only to be refused.
ENCODABLE_TYPES: frozenset[PacketType] = frozenset(_PAYLOAD_FOR)


def decode_packet_with_handles(
    pointer: Any,
    *,
    resolve_pool_buffer: PoolResolver | None = None,
    delivered: Any = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DecodedPacket:
    """Validate and decode a ``CPacket *`` a plugin emitted, as the host does (ABI.md 5, 2.3).

    ``resolve_pool_buffer(handle)`` maps a pool handle the harness issued to
    ``(data_address, allocation_length)`` -- bytes for video, samples for
    audio; zero-copy frames are read from there with that length, as the host
    does (ABI.md 5.6/5.7). ``delivered`` is the packet the harness delivered
    in this call (an ``EncodedPacket`` or pointer); without it, any live
    ``EncodedPacket`` counts. Nothing is freed here: a ``WireError`` carries
    the handles consumed before the failure, a ``DecodedPacket`` those consumed
    with the packet.
    """
    receiver = _Receiver(resolve_pool_buffer, delivered, max_bytes)
    try:
        packet = receiver.read(pointer)
    except WireError as error:
        raise receiver.annotate(error) from None
    return receiver.decoded(packet)


def decode_packet(
    pointer: Any,
    *,
    resolve_pool_buffer: PoolResolver | None = None,
    delivered: Any = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Packet:
    """``decode_packet_with_handles`` for callers that only want the packet."""
    return decode_packet_with_handles(
        pointer, resolve_pool_buffer=resolve_pool_buffer, delivered=delivered, max_bytes=max_bytes
    ).packet


__all__ = [
    "AUDIO_FRAME_SIZE",
    "BINARY_META_LEN_PREFIX",
    "CUSTOM_JSON_ERROR_PREFIX",
    "CUSTOM_PACKET_SIZE",
    "DECODABLE_TYPES",
    "DEFAULT_MAX_BYTES",
    "ENCODABLE_TYPES",
    "HARNESS_RULES",
    "HOST_ERROR_PREFIX",
    "RUNTIME_PACKET_TYPES",
    "SDK_ERROR_PREFIX",
    "TRANSCRIPTION_ERROR_PREFIX",
    "VIDEO_FRAME_SIZE",
    "DecodedPacket",
    "EncodedPacket",
    "PoolResolver",
    "RawAudio",
    "RawBinaryMeta",
    "RawBytes",
    "RawCustom",
    "RawMetadata",
    "RawPayload",
    "RawText",
    "RawVideo",
    "RawWire",
    "Rule",
    "SenderObserver",
    "WireError",
    "binary_meta_len_message",
    "decode_metadata_struct",
    "decode_packet",
    "decode_packet_with_handles",
    "default_payload",
    "encode_packet",
    "encode_raw",
    "observe_sender",
    "expected_receiver_error",
    "receiver_error_matches",
    "rust_utf8_error",
    "to_raw_wire",
    "unsupported_type_message",
    "video_too_small_message",
]
