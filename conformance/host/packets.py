"""The semantic packet model: what the Rust host holds, independent of the wire.

Each class mirrors one shape of the host's ``Packet`` enum (crates/core
``types.rs``): ``Audio`` -> ``RawAudioPacket``, ``Video`` -> ``RawVideoPacket``,
``Text``, ``Transcription``, ``Custom`` and the single ``Binary`` variant, whose
optional content type and metadata decide whether it travels as ``Binary`` (5)
or ``BinaryWithMeta`` (10). All classes are frozen and hashable so that
Hypothesis can shrink and deduplicate them and tests can put them in sets.

Constructors validate what the Rust types make unrepresentable (integer
ranges, strings that are not UTF-8 encodable, frames shorter than their packed
size); malformed wire packets are described with ``wire.RawWire`` instead.

``normalise`` says what a round trip through a conforming receiver gives
(ABI.md 5.1-5.10); the JSON helpers here reproduce how the Rust receiver
(``serde_json``) reads transcription and custom payloads, because the host and
the Rust SDK share that one reading (ABI.md 5, ``packet_from_c``).
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeAlias

from conformance.abi.constants import PacketType, PixelFormat
from conformance.host.video import packed_frame_size

U16_MAX = (1 << 16) - 1
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1
I64_MIN = -(1 << 63)

JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"


class JsonShapeError(ValueError):
    """A JSON payload that the Rust receiver (serde_json) would refuse; the text is our own detail."""


# -- field validation ------------------------------------------------------


def _check_uint(value: object, bits: int, name: str) -> int:
    """Reject what a Rust ``u<bits>`` cannot hold (bool is not an integer there)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{name} must fit u{bits}, got {value}")
    return value


def _check_optional_uint(value: object, bits: int, name: str) -> None:
    if value is not None:
        _check_uint(value, bits, name)


def _check_text(value: object, name: str) -> str:
    """Rust strings are UTF-8: a Python str with lone surrogates has no Rust counterpart."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{name} is not UTF-8 encodable: {error}") from None
    return value


def _as_bytes(value: object, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, got {type(value).__name__}")


def to_f32(value: float) -> float:
    """Round to the nearest binary32 value the way Rust's ``as f32`` does (overflow gives +-inf)."""
    try:
        return float(struct.unpack("<f", struct.pack("<f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


# -- the model ---------------------------------------------------------------


@dataclass(frozen=True)
class PacketMetadata:
    """Timing metadata; ``None`` = absent. ``keyframe`` exists in Rust but not in ``CPacketMetadata``.

    The C struct carries the first three fields with ``has_*`` flags; the
    keyframe flag survives only inside transcription JSON (ABI.md 3.3, 5.10).
    """

    timestamp_us: int | None = None
    duration_us: int | None = None
    sequence: int | None = None
    keyframe: bool | None = None

    def __post_init__(self) -> None:
        _check_optional_uint(self.timestamp_us, 64, "timestamp_us")
        _check_optional_uint(self.duration_us, 64, "duration_us")
        _check_optional_uint(self.sequence, 64, "sequence")
        if self.keyframe is not None and not isinstance(self.keyframe, bool):
            raise TypeError("keyframe must be a bool or None")

    def without_keyframe(self) -> PacketMetadata:
        """What a trip through ``CPacketMetadata`` leaves: the keyframe flag becomes unknown."""
        return PacketMetadata(self.timestamp_us, self.duration_us, self.sequence)


@dataclass(frozen=True)
class TextPacket:
    """``Packet::Text``. Travels NUL-terminated, so a NUL ends it (ABI.md 5.1)."""

    text: str

    def __post_init__(self) -> None:
        _check_text(self.text, "text")


@dataclass(frozen=True)
class TranscriptionSegment:
    """One segment of ``TranscriptionData``; ``confidence`` is an ``f32`` in Rust."""

    text: str
    start_time_ms: int
    end_time_ms: int
    confidence: float | None = None

    def __post_init__(self) -> None:
        _check_text(self.text, "segment text")
        _check_uint(self.start_time_ms, 64, "start_time_ms")
        _check_uint(self.end_time_ms, 64, "end_time_ms")
        if self.confidence is not None:
            if isinstance(self.confidence, bool) or not isinstance(self.confidence, (int, float)):
                raise TypeError("confidence must be a float or None")
            object.__setattr__(self, "confidence", float(self.confidence))


@dataclass(frozen=True)
class TranscriptionPacket:
    """``Packet::Transcription``: travels as JSON bytes (ABI.md 5.2)."""

    text: str
    segments: tuple[TranscriptionSegment, ...] = ()
    language: str | None = None
    metadata: PacketMetadata | None = None

    def __post_init__(self) -> None:
        _check_text(self.text, "text")
        object.__setattr__(self, "segments", tuple(self.segments))
        for segment in self.segments:
            if not isinstance(segment, TranscriptionSegment):
                raise TypeError("segments must be TranscriptionSegment values")
        if self.language is not None:
            _check_text(self.language, "language")


@dataclass(frozen=True, init=False)
class CustomPacket:
    """``Packet::Custom`` with its JSON value kept as canonical text, so the packet stays hashable.

    Canonical = compact, keys sorted by code point (which is also UTF-8 byte
    order, the order ``serde_json``'s default ``BTreeMap`` writes), non-ASCII
    unescaped. Build with a value (``CustomPacket("t", {"a": 1})``) or with
    JSON text (``data_json=...``); ``.data`` gives the value back.
    """

    type_id: str
    data_json: str
    metadata: PacketMetadata | None

    def __init__(
        self,
        type_id: str,
        data: JsonValue = None,
        metadata: PacketMetadata | None = None,
        *,
        data_json: str | None = None,
    ) -> None:
        _check_text(type_id, "type_id")
        value = json.loads(data_json) if data_json is not None else data
        object.__setattr__(self, "type_id", type_id)
        object.__setattr__(self, "data_json", canonical_json(value))
        object.__setattr__(self, "metadata", metadata)

    @property
    def data(self) -> JsonValue:
        """The JSON value (a fresh object on every access)."""
        value: JsonValue = json.loads(self.data_json)
        return value


@dataclass(frozen=True)
class BinaryPacket:
    """``Packet::Binary``. With a content type or metadata it travels as BinaryWithMeta (ABI.md 5.4, 5.5)."""

    data: bytes
    content_type: str | None = None
    metadata: PacketMetadata | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _as_bytes(self.data, "data"))
        if self.content_type is not None:
            _check_text(self.content_type, "content_type")

    @property
    def has_meta(self) -> bool:
        """Whether the host encodes it as BinaryWithMeta (an empty content type still counts)."""
        return self.content_type is not None or self.metadata is not None


@dataclass(frozen=True)
class RawAudioPacket:
    """``Packet::Audio``: interleaved f32 samples, ``len(samples)`` counts all channels (ABI.md 5.7).

    NaN samples are allowed but compare unequal; compare ``samples_f32_bytes``
    when bit-exactness matters.
    """

    sample_rate: int
    channels: int
    samples: tuple[float, ...] = ()
    metadata: PacketMetadata | None = None

    def __post_init__(self) -> None:
        _check_uint(self.sample_rate, 32, "sample_rate")
        _check_uint(self.channels, 16, "channels")
        object.__setattr__(self, "samples", tuple(float(sample) for sample in self.samples))

    @property
    def samples_f32_bytes(self) -> bytes:
        """The samples as little-endian binary32, exactly as they sit in C memory."""
        return b"".join(struct.pack("<f", to_f32(sample)) for sample in self.samples)


@dataclass(frozen=True)
class RawVideoPacket:
    """``Packet::Video``. ``data`` may exceed the packed size (the receiver trims it), never fall short."""

    width: int
    height: int
    pixel_format: PixelFormat
    data: bytes
    metadata: PacketMetadata | None = None

    def __post_init__(self) -> None:
        _check_uint(self.width, 32, "width")
        _check_uint(self.height, 32, "height")
        object.__setattr__(self, "pixel_format", PixelFormat(self.pixel_format))
        object.__setattr__(self, "data", _as_bytes(self.data, "data"))
        need = self.packed_size
        if len(self.data) < need:
            raise ValueError(
                f"{self.width}x{self.height} {self.pixel_format.name} needs {need} bytes, "
                f"got {len(self.data)} (describe undersized frames with wire.RawWire)"
            )

    @property
    def packed_size(self) -> int:
        return packed_frame_size(self.width, self.height, self.pixel_format)


Packet: TypeAlias = RawAudioPacket | TextPacket | TranscriptionPacket | CustomPacket | BinaryPacket | RawVideoPacket

#: Discriminants ``packet_type_of`` can give: every runtime type except EncodedVideo/EncodedAudio,
#: which a host never emits (encoded media travels as Binary with a content type, ABI.md 5.8).
MODEL_PACKET_TYPES: frozenset[PacketType] = frozenset(
    {
        PacketType.RAW_AUDIO,
        PacketType.TEXT,
        PacketType.TRANSCRIPTION,
        PacketType.CUSTOM,
        PacketType.BINARY,
        PacketType.BINARY_WITH_META,
        PacketType.RAW_VIDEO,
    }
)


def packet_type_of(packet: Packet) -> PacketType:
    """The discriminant the encoder picks before any version adjustment (ABI.md 5, ``packet_to_c``)."""
    match packet:
        case RawAudioPacket():
            return PacketType.RAW_AUDIO
        case TextPacket():
            return PacketType.TEXT
        case TranscriptionPacket():
            return PacketType.TRANSCRIPTION
        case CustomPacket():
            return PacketType.CUSTOM
        case BinaryPacket():
            return PacketType.BINARY_WITH_META if packet.has_meta else PacketType.BINARY
        case RawVideoPacket():
            return PacketType.RAW_VIDEO
    raise TypeError(f"not a packet: {packet!r}")


# -- version-dependent binary delivery (ABI.md 2.2) ---------------------------


class BinaryForm(Enum):
    """How a ``BinaryPacket`` reaches a plugin."""

    PLAIN = "Binary (5): bytes only"
    META_V8 = "BinaryWithMeta (10), 32-byte v7/v8 struct, CPacket.len 32"
    META_V9 = "BinaryWithMeta (10), 48-byte v9 struct, CPacket.len 48"


def check_versions(host_version: int, plugin_version: int) -> None:
    """A host loads plugins from v6 up to its own version; anything else never gets a packet."""
    for name, version in (("host_version", host_version), ("plugin_version", plugin_version)):
        if not 6 <= version <= 9:
            raise ValueError(f"{name} must be in 6..9, got {version}")
    if plugin_version > host_version:
        raise ValueError(f"a v{host_version} host does not load a v{plugin_version} plugin")


def binary_form(packet: BinaryPacket, host_version: int = 9, plugin_version: int = 9) -> BinaryForm:
    """ABI.md 2.2 for a v9 host; older hosts as the versions they implement.

    * v9 host: v9 plugins get everything as 48-byte BinaryWithMeta (plain
      Binary upgraded); v7/v8 plugins get plain Binary as 5 and Binary with
      meta as 48-byte BinaryWithMeta; v6 plugins get 5 (meta downgraded away).
    * v7/v8 host: Binary with meta as the 32-byte struct (its own struct
      size), plain Binary as 5, downgrade for v6 plugins.
    * v6 host: only Binary (5) exists.
    """
    check_versions(host_version, plugin_version)
    if host_version == 9 and plugin_version == 9:
        return BinaryForm.META_V9
    if not packet.has_meta or plugin_version == 6 or host_version == 6:
        return BinaryForm.PLAIN
    return BinaryForm.META_V9 if host_version == 9 else BinaryForm.META_V8


# -- JSON as serde_json reads and writes it -----------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
#: serde_json refuses the 128th nested array/object ("recursion limit exceeded").
SERDE_MAX_DEPTH = 127


def _check_json_value(value: object, path: str = "$") -> None:
    """Only what ``serde_json::Value`` can hold: str keys, finite numbers, UTF-8 strings."""
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: JSON has no {value}")
        return
    if isinstance(value, str):
        _check_text(value, path)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json_value(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: JSON object keys must be str, got {key!r}")
            _check_text(key, f"{path} key")
            _check_json_value(item, f"{path}.{key}")
        return
    raise TypeError(f"{path}: not a JSON value: {type(value).__name__}")


def canonical_json(value: object) -> str:
    """Compact, key-sorted, non-ASCII kept: the one text per JSON value used by ``CustomPacket``."""
    _check_json_value(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _nesting_exceeds(text: str, limit: int) -> bool:
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _rust_int(text: str) -> int | float:
    """serde_json keeps i64/u64 integers; larger ones become f64, infinite ones are errors."""
    value = int(text)
    if I64_MIN <= value <= U64_MAX:
        return value
    return _rust_float(text)


def _rust_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonShapeError(f"number out of range: {text[:40]}")
    return value


def _reject_constant(text: str) -> object:
    raise JsonShapeError(f"expected value, found {text}")


class _ObjectPairs(list[tuple[str, Any]]):
    """A JSON object kept as its key/value pairs, so duplicate keys stay visible."""


def _walk_strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, _ObjectPairs):
        for key, item in value:
            yield key
            yield from _walk_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_strings(item)


def _parse_rust_json(data: bytes, *, keep_pairs: bool) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JsonShapeError(f"invalid UTF-8 at byte {error.start}") from None
    if _nesting_exceeds(text, SERDE_MAX_DEPTH):
        raise JsonShapeError("recursion limit exceeded")
    try:
        value = json.loads(
            text,
            parse_int=_rust_int,
            parse_float=_rust_float,
            parse_constant=_reject_constant,
            object_pairs_hook=_ObjectPairs if keep_pairs else None,
        )
    except json.JSONDecodeError as error:
        raise JsonShapeError(str(error)) from None
    for string in _walk_strings(value):
        if _SURROGATE.search(string):
            raise JsonShapeError("lone surrogate in hex escape")
    return value


def parse_json_value(data: bytes) -> JsonValue:
    """Parse exactly ``data`` as ``serde_json::from_slice::<Value>`` would, or raise ``JsonShapeError``.

    Differences from Python's ``json`` that matter here: no NaN/Infinity,
    integers beyond i64/u64 become floats (infinite ones fail), a nesting depth
    of 128 fails, lone surrogate escapes fail, invalid UTF-8 fails. Duplicate
    keys keep the last value in both. Error details are ours, not serde's.
    """
    value: JsonValue = _parse_rust_json(data, keep_pairs=False)
    return value


def _describe(value: object) -> str:
    """serde's wording for an unexpected JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, _ObjectPairs):
        return "map"
    return "sequence"


def _struct_fields(value: object, struct_name: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields a serde-derived struct reads from a JSON object or (positionally) from an array."""
    if isinstance(value, _ObjectPairs):
        fields: dict[str, Any] = {}
        for key, item in value:
            if key in names:
                if key in fields:
                    raise JsonShapeError(f"duplicate field `{key}`")
                fields[key] = item
        return fields
    if isinstance(value, list):
        if len(value) < len(names):
            raise JsonShapeError(
                f"invalid length {len(value)}, expected struct {struct_name} with {len(names)} elements"
            )
        if len(value) > len(names):
            raise JsonShapeError("trailing characters")
        return dict(zip(names, value, strict=True))
    raise JsonShapeError(f"invalid type: {_describe(value)}, expected struct {struct_name}")


def _required(fields: dict[str, Any], name: str) -> Any:
    if name not in fields:
        raise JsonShapeError(f"missing field `{name}`")
    return fields[name]


def _json_string(value: object) -> str:
    if not isinstance(value, str):
        raise JsonShapeError(f"invalid type: {_describe(value)}, expected a string")
    return value


def _json_u64(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise JsonShapeError(f"invalid type: {_describe(value)}, expected u64")
    if value < 0:
        raise JsonShapeError(f"invalid value: integer `{value}`, expected u64")
    return value


def _json_optional_u64(fields: dict[str, Any], name: str) -> int | None:
    value = fields.get(name)
    return None if value is None else _json_u64(value)


def _json_optional_f32(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise JsonShapeError(f"invalid type: {_describe(value)}, expected f32")
    return to_f32(float(value))


_METADATA_FIELDS = ("timestamp_us", "duration_us", "sequence", "keyframe")
_SEGMENT_FIELDS = ("text", "start_time_ms", "end_time_ms", "confidence")
_TRANSCRIPTION_FIELDS = ("text", "segments", "language", "metadata")


def _metadata_from_json(value: object) -> PacketMetadata | None:
    if value is None:
        return None
    fields = _struct_fields(value, "PacketMetadata", _METADATA_FIELDS)
    keyframe = fields.get("keyframe")
    if keyframe is not None and not isinstance(keyframe, bool):
        raise JsonShapeError(f"invalid type: {_describe(keyframe)}, expected a boolean")
    return PacketMetadata(
        _json_optional_u64(fields, "timestamp_us"),
        _json_optional_u64(fields, "duration_us"),
        _json_optional_u64(fields, "sequence"),
        keyframe,
    )


def _segment_from_json(value: object) -> TranscriptionSegment:
    fields = _struct_fields(value, "TranscriptionSegment", _SEGMENT_FIELDS)
    return TranscriptionSegment(
        _json_string(_required(fields, "text")),
        _json_u64(_required(fields, "start_time_ms")),
        _json_u64(_required(fields, "end_time_ms")),
        _json_optional_f32(fields.get("confidence")),
    )


def parse_transcription_json(data: bytes) -> TranscriptionPacket:
    """``serde_json::from_slice::<TranscriptionData>``: required text/segments, unknown keys ignored.

    Like serde-derived structs, a JSON array with exactly the fields in
    declaration order is accepted too, duplicate known keys are an error and
    ``f32`` values are rounded (overflowing ones become infinite).
    """
    value = _parse_rust_json(data, keep_pairs=True)
    fields = _struct_fields(value, "TranscriptionData", _TRANSCRIPTION_FIELDS)
    text = _json_string(_required(fields, "text"))
    raw_segments = _required(fields, "segments")
    if isinstance(raw_segments, _ObjectPairs) or not isinstance(raw_segments, list):
        raise JsonShapeError(f"invalid type: {_describe(raw_segments)}, expected a sequence")
    language = fields.get("language")
    return TranscriptionPacket(
        text,
        tuple(_segment_from_json(segment) for segment in raw_segments),
        None if language is None else _json_string(language),
        _metadata_from_json(fields.get("metadata")),
    )


def f32_json(value: float | None) -> str:
    """An ``Option<f32>`` as serde_json writes it: shortest digits that read back to the same f32.

    Non-finite values have no JSON form; serde_json writes them as ``null``.
    """
    if value is None:
        return "null"
    rounded = to_f32(value)
    if not math.isfinite(rounded):
        return "null"
    for digits in range(1, 10):
        candidate = float(f"{rounded:.{digits}g}")
        if to_f32(candidate) == rounded:
            return repr(candidate)
    return repr(rounded)  # unreachable: 9 significant digits always round-trip binary32


def _json_text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_optional(value: int | bool | str | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _json_text(value)


def _metadata_json(metadata: PacketMetadata | None) -> str:
    if metadata is None:
        return "null"
    return (
        f'{{"timestamp_us":{_json_optional(metadata.timestamp_us)},'
        f'"duration_us":{_json_optional(metadata.duration_us)},'
        f'"sequence":{_json_optional(metadata.sequence)},'
        f'"keyframe":{_json_optional(metadata.keyframe)}}}'
    )


def _segment_json(segment: TranscriptionSegment) -> str:
    return (
        f'{{"text":{_json_text(segment.text)},"start_time_ms":{segment.start_time_ms},'
        f'"end_time_ms":{segment.end_time_ms},"confidence":{f32_json(segment.confidence)}}}'
    )


def transcription_json(packet: TranscriptionPacket) -> bytes:
    """What the encoder sends (ABI.md 5.2): compact, every key in declaration order, nulls explicit."""
    segments = ",".join(_segment_json(segment) for segment in packet.segments)
    text = (
        f'{{"text":{_json_text(packet.text)},"segments":[{segments}],'
        f'"language":{_json_optional(packet.language)},"metadata":{_metadata_json(packet.metadata)}}}'
    )
    return text.encode("utf-8")


# -- what a round trip gives --------------------------------------------------


def truncate_at_nul(text: str) -> str:
    """ABI.md 5.1: the encoder cuts Text at its first NUL."""
    return text.split("\0", 1)[0]


def nul_to_space(text: str) -> str:
    """ABI.md 5.3/5.5: the encoder replaces NUL in a custom type id or content type by a space."""
    return text.replace("\0", " ")


def struct_metadata(metadata: PacketMetadata | None) -> PacketMetadata | None:
    """Through ``CPacketMetadata``: NULL stays None, a struct (even all-absent) stays one, keyframe is lost.

    ``None`` and ``PacketMetadata()`` differ on the wire (NULL pointer versus
    a struct with every flag false), so they are kept apart.
    """
    return None if metadata is None else metadata.without_keyframe()


def _normalise_samples(samples: Iterable[float]) -> tuple[float, ...]:
    return tuple(to_f32(sample) for sample in samples)


def normalise(packet: Packet, *, host_version: int = 9, plugin_version: int = 9) -> Packet:
    """The packet a conforming receiver rebuilds after ``host_version`` delivered it to ``plugin_version``.

    * Text: truncated at the first NUL.
    * Transcription: re-read from the encoder's JSON (confidence rounded to
      f32, non-finite confidence -> None, keyframe kept: JSON carries it).
    * Custom: NUL in type_id -> space; the value re-read as serde_json would
      (integers beyond i64/u64 -> float); metadata as in ``struct_metadata``.
    * Binary: content type NUL -> space, metadata as in ``struct_metadata``;
      when the delivery is plain Binary (a v6 side), both are dropped.
    * RawAudio: samples rounded to f32. RawVideo: data trimmed to the packed size.
    """
    match packet:
        case TextPacket():
            return TextPacket(truncate_at_nul(packet.text))
        case TranscriptionPacket():
            return parse_transcription_json(transcription_json(packet))
        case CustomPacket():
            value = parse_json_value(packet.data_json.encode("utf-8"))
            return CustomPacket(nul_to_space(packet.type_id), value, struct_metadata(packet.metadata))
        case BinaryPacket():
            if binary_form(packet, host_version, plugin_version) is BinaryForm.PLAIN:
                return BinaryPacket(packet.data)
            content_type = None if packet.content_type is None else nul_to_space(packet.content_type)
            return BinaryPacket(packet.data, content_type, struct_metadata(packet.metadata))
        case RawAudioPacket():
            return RawAudioPacket(
                packet.sample_rate,
                packet.channels,
                _normalise_samples(packet.samples),
                struct_metadata(packet.metadata),
            )
        case RawVideoPacket():
            return RawVideoPacket(
                packet.width,
                packet.height,
                packet.pixel_format,
                packet.data[: packet.packed_size],
                struct_metadata(packet.metadata),
            )
    raise TypeError(f"not a packet: {packet!r}")


__all__ = [
    "I64_MIN",
    "MODEL_PACKET_TYPES",
    "SERDE_MAX_DEPTH",
    "U16_MAX",
    "U32_MAX",
    "U64_MAX",
    "BinaryForm",
    "BinaryPacket",
    "CustomPacket",
    "JsonShapeError",
    "JsonValue",
    "Packet",
    "PacketMetadata",
    "RawAudioPacket",
    "RawVideoPacket",
    "TextPacket",
    "TranscriptionPacket",
    "TranscriptionSegment",
    "binary_form",
    "canonical_json",
    "check_versions",
    "f32_json",
    "normalise",
    "nul_to_space",
    "packet_type_of",
    "parse_json_value",
    "parse_transcription_json",
    "struct_metadata",
    "to_f32",
    "transcription_json",
    "truncate_at_nul",
]
