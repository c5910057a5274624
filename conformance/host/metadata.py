"""Validating decoder for ``CNodeMetadata`` (ABI.md 4.2, 5.11, 8.2).

Every pointer is checked for readability, every count for plausibility, every
enum and bool for its range and every string for UTF-8 before it is used, and
each violation is reported with the path of the field, so a broken plugin is
told "inputs[0].accepts_types[1].type_discriminant = 42" instead of
crashing the host. Reads go through ``SafeMemory``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from conformance.abi import ffi
from conformance.abi.constants import AUDIO_CODECS, VIDEO_CODECS, PacketType, PixelFormat, SampleFormat
from conformance.host.extents import data_object_at
from conformance.host.memory import SafeMemory, UnreadableMemory, safe_memory

MAX_PLAUSIBLE_COUNT = 4096


@dataclass(frozen=True)
class MetadataIssue:
    """One violation: ``code`` is stable (for checks), ``path`` names the field."""

    code: str
    path: str
    message: str
    fatal: bool = True  # the real host would refuse the load or crash


@dataclass(frozen=True)
class PinType:
    discriminant: int
    audio_format: tuple[int, int, int] | None = None
    custom_type_id: str | None = None
    raw_video_format: tuple[int, int, int] | None = None

    @property
    def packet_type(self) -> PacketType | None:
        try:
            return PacketType(self.discriminant)
        except ValueError:
            return None

    def describe(self) -> str:
        kind = self.packet_type
        name = kind.name if kind is not None else f"#{self.discriminant}"
        if self.custom_type_id:
            return f"{name}({self.custom_type_id})"
        return name


@dataclass(frozen=True)
class InputPin:
    name: str
    accepts: tuple[PinType, ...]


@dataclass(frozen=True)
class OutputPin:
    name: str
    produces: PinType


@dataclass(frozen=True)
class NodeMetadata:
    kind: str | None
    description: str | None
    inputs: tuple[InputPin, ...]
    outputs: tuple[OutputPin, ...]
    param_schema: str | None
    categories: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        def pin_type(p: PinType) -> dict[str, Any]:
            return {
                "type": p.describe(),
                "discriminant": p.discriminant,
                "audio_format": p.audio_format,
                "custom_type_id": p.custom_type_id,
                "raw_video_format": p.raw_video_format,
            }

        return {
            "kind": self.kind,
            "description": self.description,
            "inputs": [{"name": p.name, "accepts": [pin_type(t) for t in p.accepts]} for p in self.inputs],
            "outputs": [{"name": p.name, "produces": pin_type(p.produces)} for p in self.outputs],
            "param_schema": self.param_schema,
            "categories": list(self.categories),
        }


@dataclass
class MetadataReading:
    """The decoded metadata (None when unusable) and every issue found on the way."""

    pointer: int
    metadata: NodeMetadata | None
    issues: list[MetadataIssue] = field(default_factory=list)
    raw: bytes = b""
    #: Every non-empty array read: (path, address, count, element size), for ``count_overruns``.
    arrays: list[tuple[str, int, int, int]] = field(default_factory=list)

    @property
    def fatal_issues(self) -> list[MetadataIssue]:
        return [issue for issue in self.issues if issue.fatal]

    def issues_with(self, prefix: str) -> list[MetadataIssue]:
        return [issue for issue in self.issues if issue.code.startswith(prefix)]


class _Reader:
    def __init__(self, memory: SafeMemory) -> None:
        self.memory = memory
        self.issues: list[MetadataIssue] = []
        self.arrays: list[tuple[str, int, int, int]] = []

    def issue(self, code: str, path: str, message: str, *, fatal: bool = True) -> None:
        self.issues.append(MetadataIssue(code, path, message, fatal))

    def struct(self, address: int, size: int, path: str) -> bytes | None:
        try:
            return self.memory.read(address, size)
        except UnreadableMemory:
            self.issue("pointer.unreadable", path, f"{path} points to unreadable memory 0x{address:x}")
            return None

    def string(
        self, address: int, path: str, *, nullable: bool, null_means: str = "", null_code: str = "string.null"
    ) -> str | None:
        if address == 0:
            if not nullable:
                self.issue(null_code, path, f"{path} is NULL (the host reads it as {null_means!r})")
            return None
        try:
            raw = self.memory.read_cstring(address)
        except UnreadableMemory:
            self.issue("pointer.unreadable", path, f"{path} points to unreadable memory 0x{address:x}")
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            self.issue("string.utf8", path, f"{path} is not valid UTF-8: {error}")
            return None

    def array(self, address: int, count: int, element: int, path: str) -> bytes | None:
        if count > MAX_PLAUSIBLE_COUNT:
            self.issue("count.implausible", f"{path}_count", f"{path}_count is {count}, not plausible")
            return None
        if address == 0:
            if count > 0:
                self.issue("array.null", path, f"{path} is NULL with a count of {count} (the host would crash)")
            else:
                self.issue(
                    "array.null-empty",
                    path,
                    f"{path} is NULL with a count of 0 (UB in the host: slices need a non-NULL pointer)",
                )
            return b"" if count == 0 else None
        if address % 8:
            self.issue("array.misaligned", path, f"{path} 0x{address:x} is not 8-byte aligned")
        if count:
            self.arrays.append((path, address, count, element))
        return self.struct(address, count * element, path) if count else b""


def _u64(raw: bytes, offset: int) -> int:
    return int(struct.unpack_from("<Q", raw, offset)[0])


def _i32(raw: bytes, offset: int) -> int:
    return int(struct.unpack_from("<i", raw, offset)[0])


def _u32(raw: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", raw, offset)[0])


#: Per raw pin type: its name, the field pointing to its format struct, that struct's enum field and enum.
_FORMAT_STRUCTS: dict[PacketType, tuple[str, str, str, type[SampleFormat] | type[PixelFormat]]] = {
    PacketType.RAW_AUDIO: ("RawAudio", "audio_format", "sample_format", SampleFormat),
    PacketType.RAW_VIDEO: ("RawVideo", "raw_video_format", "pixel_format", PixelFormat),
}


def _format_struct(
    reader: _Reader,
    path: str,
    pointer: int,
    type_name: str,
    field: str,
    enum_field: str,
    formats: type[SampleFormat] | type[PixelFormat],
) -> tuple[bytes, int] | None:
    """The 12-byte format struct a raw pin type points to and its format enum (at offset 8), or None when the
    pointer is missing or unreadable; an out-of-range enum is an issue but still read."""
    if pointer == 0:
        reader.issue("pin.missing-format", path, f"{path}: {type_name} packet type missing {field}")
        return None
    data = reader.struct(pointer, 12, f"{path}.{field}")
    if data is None:
        return None
    fmt = _i32(data, 8)
    if fmt not in tuple(formats):
        reader.issue(
            f"enum.{enum_field.replace('_', '-')}",
            f"{path}.{field}.{enum_field}",
            f"{enum_field} = {fmt}, outside 0..{int(max(formats))}",
        )
    return data, fmt


def _read_pin_type(reader: _Reader, raw: bytes, offset: int, path: str) -> PinType | None:
    discriminant = _i32(raw, offset)
    audio_ptr = _u64(raw, offset + 8)
    custom_ptr = _u64(raw, offset + 16)
    video_ptr = _u64(raw, offset + 24)
    try:
        kind = PacketType(discriminant)
    except ValueError:
        reader.issue(
            "enum.packet-type",
            f"{path}.type_discriminant",
            f"{path}.type_discriminant = {discriminant}, outside 0..11 (UB in the host)",
        )
        return None
    audio = video = None
    custom: str | None = None
    if kind in _FORMAT_STRUCTS:
        read = _format_struct(
            reader, path, audio_ptr if kind is PacketType.RAW_AUDIO else video_ptr, *_FORMAT_STRUCTS[kind]
        )
        if read is None:
            return None
        data, fmt = read
        if kind is PacketType.RAW_AUDIO:
            audio = (_u32(data, 0), int(struct.unpack_from("<H", data, 4)[0]), fmt)
        else:
            video = (_u32(data, 0), _u32(data, 4), fmt)
    elif kind is PacketType.CUSTOM:
        if custom_ptr == 0:
            reader.issue("pin.missing-type-id", path, f"{path}: Custom packet type missing custom_type_id")
            return None
        custom = reader.string(custom_ptr, f"{path}.custom_type_id", nullable=False)
    elif kind in (PacketType.ENCODED_VIDEO, PacketType.ENCODED_AUDIO):
        codecs = VIDEO_CODECS if kind is PacketType.ENCODED_VIDEO else AUDIO_CODECS
        if custom_ptr == 0:
            fallback = "Binary" if kind is PacketType.ENCODED_VIDEO else "Opus"
            reader.issue(
                "pin.codec-missing",
                path,
                f"{path}: {kind.name} without a codec name falls back to {fallback} (host WARN)",
                fatal=False,
            )
        else:
            custom = reader.string(custom_ptr, f"{path}.custom_type_id", nullable=False)
            if custom is not None and custom not in codecs:
                label = "video" if kind is PacketType.ENCODED_VIDEO else "audio"
                reader.issue(
                    "pin.codec-unknown",
                    f"{path}.custom_type_id",
                    f'{path}: {kind.name}: unknown {label} codec name: "{custom}" '
                    f"(accepted: {', '.join(sorted(codecs))})",
                )
    return PinType(discriminant, audio, custom, video)


def read_metadata(pointer: Any, memory: SafeMemory | None = None) -> MetadataReading:
    """Decode the metadata at ``pointer`` (a cdata or an address) with full validation."""
    memory = memory or safe_memory()
    address = int(ffi().cast("uintptr_t", pointer)) if not isinstance(pointer, int) else pointer
    reader = _Reader(memory)
    if address == 0:
        reader.issue("metadata.null", "get_metadata()", "Plugin metadata is null")
        return MetadataReading(0, None, reader.issues)
    raw = reader.struct(address, 72, "metadata")
    if raw is None:
        return MetadataReading(address, None, reader.issues)
    kind = reader.string(_u64(raw, 0), "kind", nullable=False, null_means="", null_code="kind.null")
    description = reader.string(_u64(raw, 8), "description", nullable=True)
    inputs: list[InputPin] = []
    inputs_raw = reader.array(_u64(raw, 16), _u64(raw, 24), 24, "inputs")
    for index in range(len(inputs_raw or b"") // 24):
        assert inputs_raw is not None
        path = f"inputs[{index}]"
        name = reader.string(_u64(inputs_raw, index * 24), f"{path}.name", nullable=False, null_means="")
        types_raw = reader.array(
            _u64(inputs_raw, index * 24 + 8), _u64(inputs_raw, index * 24 + 16), 32, f"{path}.accepts_types"
        )
        accepts = []
        for t in range(len(types_raw or b"") // 32):
            assert types_raw is not None
            pin_type = _read_pin_type(reader, types_raw, t * 32, f"{path}.accepts_types[{t}]")
            if pin_type is not None:
                accepts.append(pin_type)
        inputs.append(InputPin(name or "", tuple(accepts)))
    outputs: list[OutputPin] = []
    outputs_raw = reader.array(_u64(raw, 32), _u64(raw, 40), 40, "outputs")
    for index in range(len(outputs_raw or b"") // 40):
        assert outputs_raw is not None
        path = f"outputs[{index}]"
        name = reader.string(_u64(outputs_raw, index * 40), f"{path}.name", nullable=False, null_means="")
        produced = _read_pin_type(reader, outputs_raw, index * 40 + 8, f"{path}.produces_type")
        if produced is not None:
            outputs.append(OutputPin(name or "", produced))
    schema = reader.string(_u64(raw, 48), "param_schema", nullable=True)
    if schema:
        try:
            json.loads(schema)
        except ValueError as error:
            reader.issue("schema.json", "param_schema", f"Failed to parse param schema JSON: {error}")
    categories: list[str] = []
    categories_raw = reader.array(_u64(raw, 56), _u64(raw, 64), 8, "categories")
    for index in range(len(categories_raw or b"") // 8):
        assert categories_raw is not None
        value = reader.string(_u64(categories_raw, index * 8), f"categories[{index}]", nullable=True)
        categories.append(value or "")
    _check_kind(reader, kind)
    metadata = NodeMetadata(kind, description, tuple(inputs), tuple(outputs), schema, tuple(categories))
    return MetadataReading(address, metadata, reader.issues, raw, reader.arrays)


def count_overruns(reading: MetadataReading) -> list[MetadataIssue]:
    """Counts larger than the static array they describe (ABI.md 4.2, 8.2 "counts plausible").

    Readable memory past the end is not evidence of anything: the next object
    in the data section is readable too. The array's own data symbol is
    (``conformance.host.extents``); arrays without one are not judged.
    """

    issues = []
    for path, address, count, element in reading.arrays:
        found = data_object_at(address)
        if found is None:
            continue
        room = found.room_after(address)
        if count * element > room:
            holds = max(room, 0) // element
            issues.append(
                MetadataIssue(
                    "count.overrun",
                    f"{path}_count",
                    f"{path}_count is {count} but {path} points into `{found.name}`, which holds {holds} "
                    f"element{'s' if holds != 1 else ''} of {element} bytes from there: the host reads "
                    f"{count - holds} more from whatever follows it",
                )
            )
    return issues


def _check_kind(reader: _Reader, kind: str | None) -> None:
    if kind is None:
        return
    if kind == "":
        reader.issue("kind.empty", "kind", "kind is empty (registered as 'plugin::native::')")
    elif kind.startswith("core::"):
        reader.issue("kind.reserved", "kind", f"kind {kind!r} starts with 'core::', which is reserved")
    elif "::" in kind and not kind.startswith("plugin::native::"):
        reader.issue("kind.reserved", "kind", f"kind {kind!r} contains '::' which is reserved")
