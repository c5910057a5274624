#!/usr/bin/env python3
"""Fuzz target: ``read_metadata`` reports every broken ``CNodeMetadata`` and never raises.

Why: ``get_metadata`` is the first thing the host reads from a plugin, and
the metadata checks judge plugins by what ``read_metadata`` reports. It must
survive any graph a plugin can return (garbage and misaligned pointers,
absurd counts, enums out of range, strings that are not UTF-8) and must not
miss a defect a plugin really has.

The input bytes build a ``CNodeMetadata`` graph. Unlike the wire targets,
pointers here may be garbage (unmapped addresses) because ``read_metadata``
reads through ``SafeMemory``. Oracles: it returns a ``MetadataReading``;
every defect planted at the top level (NULL or unreadable strings, strings
that are not UTF-8 as Rust judges them, NULL, misaligned or implausible
arrays) is reported with its code and path; what was readable is decoded to
exactly what was written.

    python fuzz/metadata_decode.py [libFuzzer flags] [corpus dirs | input files]
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conformance.abi import ffi
from conformance.fuzzing.driver import fuzz_main
from conformance.fuzzing.findings import FuzzFinding, short
from conformance.host.metadata import MAX_PLAUSIBLE_COUNT, MetadataReading, read_metadata
from conformance.host.wire import rust_utf8_error
from conformance.strategies.input_bytes import ByteSink, ByteSource

TARGET = "metadata_decode"
#: Addresses that are never mapped: below vm.mmap_min_addr or in the non-canonical upper half.
GARBAGE = (0x8, 0x10, 0x1000, 0xFFF8, 1 << 63, 0xFFFF_FFFF_FFFF_FFF0)
_STRING_FIELDS = ((0, "kind"), (8, "description"), (48, "param_schema"))


@dataclass
class _Text:
    """How a string field was built: NULL, garbage, or these bytes (NUL-terminated in memory)."""

    kind: str  # null | garbage | bytes
    data: bytes = b""

    @property
    def prefix(self) -> bytes:
        return self.data.split(b"\0", 1)[0]


@dataclass
class _Array:
    """How an array field was built: its pointer kind, how many elements exist, the count written."""

    pointer: str  # null | garbage | misaligned | valid
    elements: int
    count: int
    address: int = 0
    items: list[Any] = field(default_factory=list)


class _Graph:
    """C memory for one metadata graph, from a ``ByteSource``; buffers stay alive in ``keep``."""

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self.keep: list[Any] = []
        self.texts: dict[str, _Text] = {}
        self.arrays: dict[str, _Array] = {}

    def place(self, data: bytes, misalign: int = 0) -> int:
        """Copy ``data`` to fresh memory (8-byte aligned, or ``misalign`` bytes past that); its address."""
        buffer = ffi().new("uint64_t[]", (len(data) + misalign) // 8 + 2)
        address = int(ffi().cast("uintptr_t", buffer)) + misalign
        ffi().memmove(ffi().cast("uint8_t *", address), data, len(data))
        self.keep.append(buffer)
        return address

    def text(self, path: str | None = None) -> int:
        """A string pointer: mode ``% 8``: 0 NULL, 1 garbage, else a length byte and the bytes."""
        mode = self.source.byte() % 8
        if mode == 0:
            built, address = _Text("null"), 0
        elif mode == 1:
            built, address = _Text("garbage"), GARBAGE[self.source.below(len(GARBAGE))]
        else:
            data = self.source.chunk(self.source.byte())
            built, address = _Text("bytes", data), self.place(data + b"\0")
        if path is not None:
            self.texts[path] = built
        return address

    def pin_type(self) -> bytes:
        """A 32-byte ``CPacketTypeInfo``: discriminant (``% 12``, or 0xF0+: any int32) and three pointers."""
        value = self.source.byte()
        discriminant = self.source.sint(32) if value >= 0xF0 else value % 12
        pointers = []
        for size in (12, None, 12):  # audio_format, custom_type_id, raw_video_format
            if size is None:
                pointers.append(self.text())
                continue
            mode = self.source.byte() % 4
            if mode == 0:
                pointers.append(0)
            elif mode == 1:
                pointers.append(GARBAGE[self.source.below(len(GARBAGE))])
            else:
                pointers.append(self.place(self.source.chunk(size)))
        return struct.pack("<i4x3Q", discriminant, *pointers)

    def input_pin(self) -> bytes:
        name = self.text()
        accepts = self.array("accepts_types", 32, self.pin_type, record=False)
        return struct.pack("<3Q", name, accepts.address, accepts.count)

    def output_pin(self) -> bytes:
        return struct.pack("<Q", self.text()) + self.pin_type()

    def category(self) -> bytes:
        return struct.pack("<Q", self.text())

    def array(self, path: str, size: int, element: Any, *, record: bool = True) -> _Array:
        """An array: pointer mode (``% 4``: NULL, garbage, misaligned, valid), up to 4 elements, a count
        mode (``% 4``: exact, a few past the end, arbitrary u64, exact)."""
        mode = self.source.byte() % 4
        elements = self.source.below(5)
        items = [element() for _ in range(elements)]
        count_mode = self.source.byte() % 4
        count = elements
        if count_mode == 1:
            count = elements + 1 + self.source.below(3)
        elif count_mode == 2:
            count = self.source.uint(64)
        data = b"".join(items)
        if mode == 0:
            built = _Array("null", elements, count)
        elif mode == 1:
            built = _Array("garbage", elements, count, GARBAGE[self.source.below(len(GARBAGE))])
        elif mode == 2:
            built = _Array("misaligned", elements, count, self.place(data, 1 + self.source.below(7)))
        else:
            built = _Array("valid", elements, count, self.place(data))
        built.items = items
        if record:
            self.arrays[path] = built
        return built

    def metadata(self) -> int:
        """The ``CNodeMetadata`` pointer: first byte ``% 16``: 0 NULL, 1 garbage, else a struct."""
        mode = self.source.byte() % 16
        if mode == 0:
            return 0
        if mode == 1:
            return GARBAGE[self.source.below(len(GARBAGE))]
        kind = self.text("kind")
        description = self.text("description")
        inputs = self.array("inputs", 24, self.input_pin)
        outputs = self.array("outputs", 40, self.output_pin)
        schema = self.text("param_schema")
        categories = self.array("categories", 8, self.category)
        raw = struct.pack(
            "<9Q",
            kind,
            description,
            inputs.address,
            inputs.count,
            outputs.address,
            outputs.count,
            schema,
            categories.address,
            categories.count,
        )
        return self.place(raw)


def _codes(reading: MetadataReading, path: str) -> set[str]:
    return {issue.code for issue in reading.issues if issue.path == path}


def _expect(ok: bool, signature: str, graph: _Graph, reading: MetadataReading, detail: str) -> None:
    if not ok:
        issues = "\n".join(f"  {issue.code} {issue.path}: {issue.message}" for issue in reading.issues[:20])
        raise FuzzFinding(signature, f"{detail}\nissues:\n{issues}\nbuilt: {short(graph.texts)} {short(graph.arrays)}")


def _check_text(graph: _Graph, reading: MetadataReading, path: str) -> None:
    built = graph.texts[path]
    codes = _codes(reading, path)
    value = getattr(reading.metadata, path)
    if built.kind == "garbage":
        _expect("pointer.unreadable" in codes, f"an unreadable {path} pointer is not reported", graph, reading, path)
        return
    if built.kind == "null":
        if path == "kind":
            _expect("kind.null" in codes, "a NULL kind is not reported", graph, reading, path)
        _expect(value is None, f"a NULL {path} decodes to a value", graph, reading, short(value))
        return
    rust_error = rust_utf8_error(built.prefix)
    if rust_error is not None:
        _expect("string.utf8" in codes, f"a {path} that is not UTF-8 is not reported", graph, reading, rust_error)
    else:
        _expect(
            "string.utf8" not in codes,
            f"a valid UTF-8 {path} is reported as invalid",
            graph,
            reading,
            short(built.prefix),
        )
        _expect(
            value == built.prefix.decode("utf-8"),
            f"the {path} decodes to something else",
            graph,
            reading,
            f"wrote {short(built.prefix)}, read {short(value)}",
        )


def _check_array(graph: _Graph, reading: MetadataReading, path: str) -> None:
    built = graph.arrays[path]
    codes = _codes(reading, path) | _codes(reading, f"{path}_count")
    if built.count > MAX_PLAUSIBLE_COUNT:
        _expect(
            "count.implausible" in codes,
            f"an implausible {path}_count is not reported",
            graph,
            reading,
            str(built.count),
        )
        return
    if built.pointer == "null":
        code = "array.null" if built.count else "array.null-empty"
        _expect(code in codes, f"a NULL {path} array is not reported ({code})", graph, reading, f"count {built.count}")
        return
    if built.pointer == "misaligned":
        _expect(
            "array.misaligned" in codes,
            f"a misaligned {path} array is not reported",
            graph,
            reading,
            hex(built.address),
        )
    if built.pointer == "garbage" and built.count:
        _expect(
            "pointer.unreadable" in codes,
            f"an unreadable {path} array is not reported",
            graph,
            reading,
            hex(built.address),
        )
    if path == "categories" and built.pointer in ("valid", "misaligned") and built.count == built.elements:
        decoded = reading.metadata.categories if reading.metadata is not None else ()
        _expect(
            len(decoded) == built.elements, "categories are lost", graph, reading, f"{len(decoded)} of {built.elements}"
        )


def test_one_input(data: bytes) -> None:
    """Build the graph, read it; check what must be reported and what must be decoded."""
    graph = _Graph(ByteSource(data))
    pointer = graph.metadata()
    reading = read_metadata(pointer)
    if not isinstance(reading, MetadataReading):
        raise FuzzFinding(f"read_metadata returned a {type(reading).__name__}")
    if pointer == 0:
        _expect(
            reading.metadata is None and "metadata.null" in _codes(reading, "get_metadata()"),
            "a NULL metadata pointer is not reported",
            graph,
            reading,
            "",
        )
        return
    if pointer in GARBAGE:
        _expect(
            reading.metadata is None and "pointer.unreadable" in _codes(reading, "metadata"),
            "an unreadable metadata pointer is not reported",
            graph,
            reading,
            hex(pointer),
        )
        return
    _expect(reading.metadata is not None, "readable metadata is not decoded", graph, reading, "")
    for _, path in _STRING_FIELDS:
        _check_text(graph, reading, path)
    for path in ("inputs", "outputs", "categories"):
        _check_array(graph, reading, path)
    for issue in reading.issues:
        _expect(
            bool(issue.code and issue.path and issue.message),
            "an issue without code, path or message",
            graph,
            reading,
            short(issue),
        )


# -- seeds ------------------------------------------------------------------------


def _sink_text(sink: ByteSink, text: bytes | None) -> None:
    if text is None:
        sink.byte(0)
    else:
        sink.byte(2).sized(text)


def _sink_pin_type(
    sink: ByteSink,
    discriminant: int,
    custom: bytes | None = None,
    audio: tuple[int, int, int] | None = None,
    video: tuple[int, int, int] | None = None,
) -> None:
    if 0 <= discriminant < 12:
        sink.byte(discriminant)
    else:
        sink.byte(0xF0).sint(discriminant, 32)
    if audio is None:
        sink.byte(0)
    else:
        sink.byte(2).raw(struct.pack("<IH2xi", *audio))
    _sink_text(sink, custom)
    if video is None:
        sink.byte(0)
    else:
        sink.byte(2).raw(struct.pack("<IIi", *video))


def _node(
    kind: bytes | None = b"demo",
    description: bytes | None = b"a node",
    inputs: list[tuple[bytes, list[dict[str, Any]]]] | None = None,
    outputs: list[tuple[bytes, dict[str, Any]]] | None = None,
    schema: bytes | None = b'{"type":"object"}',
    categories: list[bytes] | None = None,
    inputs_mode: int = 3,
    inputs_count_mode: int = 0,
    inputs_tail: bytes = b"",
) -> bytes:
    """Seed bytes for a metadata graph described like a plugin author would write it."""
    inputs = [(b"in", [{"discriminant": 6}])] if inputs is None else inputs
    outputs = [(b"out", {"discriminant": 7})] if outputs is None else outputs
    categories = [b"test"] if categories is None else categories
    sink = ByteSink().byte(2)
    _sink_text(sink, kind)
    _sink_text(sink, description)
    sink.byte(inputs_mode).byte(len(inputs))
    for name, accepts in inputs:
        _sink_text(sink, name)
        sink.byte(3).byte(len(accepts))
        for pin_type in accepts:
            _sink_pin_type(sink, **pin_type)
        sink.byte(0)
    sink.byte(inputs_count_mode).raw(inputs_tail)  # the count's extra bytes, then the pointer's
    sink.byte(3).byte(len(outputs))
    for name, pin_type in outputs:
        _sink_text(sink, name)
        _sink_pin_type(sink, **pin_type)
    sink.byte(0)
    _sink_text(sink, schema)
    sink.byte(3).byte(len(categories))
    for category in categories:
        _sink_text(sink, category)
    sink.byte(0)
    return sink.getvalue()


def seed_inputs() -> Iterator[tuple[str, bytes]]:
    """The fixture corpus's metadata shapes: the conforming ones and each metadata defect."""
    yield (
        "conforming-processor",
        _node(
            b"conforming_processor",
            schema=b'{"type":"object","properties":{"label":{"type":"string","default":"echo"}}}',
        ),
    )
    yield "conforming-source", _node(b"conforming_source", inputs=[], outputs=[(b"out", {"discriminant": 2})])
    yield (
        "media-pins",
        _node(
            inputs=[
                (b"audio", [{"discriminant": 0, "audio": (48000, 2, 0)}]),
                (b"video", [{"discriminant": 8, "video": (640, 480, 1)}]),
            ],
            outputs=[
                (b"enc", {"discriminant": 11, "custom": b"opus"}),
                (b"vid", {"discriminant": 9, "custom": b"vp9"}),
            ],
        ),
    )
    yield (
        "custom-pin",
        _node(
            inputs=[
                (b"in", [{"discriminant": 4, "custom": b"demo/event@1"}, {"discriminant": 5}, {"discriminant": 10}])
            ]
        ),
    )
    yield "bad-codec", _node(outputs=[(b"enc", {"discriminant": 11, "custom": b"mp3"})])
    yield "missing-format", _node(inputs=[(b"in", [{"discriminant": 0}, {"discriminant": 8}])])
    yield "bad-discriminant", _node(inputs=[(b"in", [{"discriminant": 42}])])
    yield "negative-discriminant", _node(inputs=[(b"in", [{"discriminant": -1}])])
    yield "bad-schema", _node(schema=b'{"type": object')
    yield "bad-utf8-description", _node(description=b"\xff\xfe")
    yield "null-kind", _node(kind=None)
    yield "reserved-kind", _node(kind=b"core::passthrough")
    yield "empty-kind", _node(kind=b"")
    yield "null-inputs-array", _node(inputs_mode=0, inputs_count_mode=1, inputs_tail=bytes([0]))
    yield "misaligned-inputs", _node(inputs_mode=2, inputs_tail=bytes([3]))
    yield "huge-count", _node(inputs_count_mode=2, inputs_tail=(1 << 40).to_bytes(8, "little"))
    yield "null-metadata", bytes([0])
    yield "garbage-metadata", bytes([1, 2])
    yield "garbage-kind", bytes([2, 1, 0])


def main(argv: list[str] | None = None) -> None:
    fuzz_main(TARGET, test_one_input, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
