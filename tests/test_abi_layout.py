"""The cffi declarations against the hand-written layout table (ABI.md 3).

Each struct's size, alignment and every field offset must match, and the
table must name every field cffi knows, so a typo on either side shows up
here instead of as a misread plugin.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.abi import ffi
from conformance.abi.cdefs import STRUCT_NAMES
from conformance.abi.constants import (
    BINARY_PACKET_V8_SIZE,
    BINARY_PACKET_V9_SIZE,
    CALLBACKS_STRUCT_SIZE,
    OPTIONAL_ENTRIES,
    REQUIRED_ENTRIES,
)
from conformance.abi.layout import CALLBACK_FIELD_END, LAYOUTS, VERSIONED_SIZES, StructLayout


def _fields(name: str) -> list[tuple[str, Any]]:
    return list(ffi().typeof(name).fields)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_size_and_alignment(layout: StructLayout) -> None:
    assert ffi().sizeof(layout.name) == layout.size
    assert ffi().alignof(layout.name) == layout.align


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_every_field_offset(layout: StructLayout) -> None:
    for field_name, offset in layout.offsets:
        assert ffi().offsetof(layout.name, field_name) == offset, field_name


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_table_names_every_declared_field_in_order(layout: StructLayout) -> None:
    assert [name for name, _ in _fields(layout.name)] == [name for name, _ in layout.offsets]


def test_every_declared_struct_has_a_layout_row() -> None:
    assert {layout.name for layout in LAYOUTS} == set(STRUCT_NAMES)


def test_fields_end_within_the_struct_in_ascending_order() -> None:
    for layout in LAYOUTS:
        end = 0
        for field_name, field in _fields(layout.name):
            assert field.offset >= end, f"{layout.name}.{field_name} overlaps its predecessor"
            end = field.offset + ffi().sizeof(field.type)
        assert end <= layout.size, layout.name


def test_binary_packet_is_48_bytes_and_v8_form_is_its_32_byte_prefix() -> None:
    assert ffi().sizeof("CBinaryPacket") == BINARY_PACKET_V9_SIZE == 48
    assert ffi().sizeof("CBinaryPacketV8") == BINARY_PACKET_V8_SIZE == 32
    v8 = _fields("CBinaryPacketV8")
    v9 = _fields("CBinaryPacket")
    assert [(name, field.offset) for name, field in v8] == [(name, field.offset) for name, field in v9[:4]]
    assert [name for name, _ in v9[4:]] == ["buffer_handle", "free_fn"]
    assert ffi().offsetof("CBinaryPacket", "buffer_handle") == BINARY_PACKET_V8_SIZE


def test_api_table_is_88_bytes_version_plus_ten_entries() -> None:
    assert ffi().sizeof("CNativePluginAPI") == 88
    names = [name for name, _ in _fields("CNativePluginAPI")]
    assert names[0] == "version"
    assert set(names[1:]) == set(REQUIRED_ENTRIES) | set(OPTIONAL_ENTRIES)
    assert len(names) == 11
    assert ffi().offsetof("CNativePluginAPI", "on_upstream_hint") == 80


def test_callbacks_field_end_table_matches_the_struct() -> None:
    for field_name, end in CALLBACK_FIELD_END.items():
        field = dict(_fields("CNodeCallbacks"))[field_name]
        assert field.offset + ffi().sizeof(field.type) == end, field_name
    assert CALLBACK_FIELD_END["telemetry_callback"] == 32
    assert CALLBACK_FIELD_END["alloc_video"] == 48
    assert CALLBACK_FIELD_END["alloc_audio"] == 56
    assert ffi().sizeof("CNodeCallbacks") == CALLBACKS_STRUCT_SIZE == max(CALLBACK_FIELD_END.values())


def test_v9_sizes_of_versioned_structs_are_the_declared_ones() -> None:
    for name, by_version in VERSIONED_SIZES.items():
        assert ffi().sizeof(name) == by_version[9], name
    assert VERSIONED_SIZES["CBinaryPacket"][8] == ffi().sizeof("CBinaryPacketV8")


@pytest.mark.parametrize(
    ("type_name", "size"),
    [("CPacketType", 4), ("CPixelFormat", 4), ("CLogLevel", 4), ("CCustomEncoding", 4), ("_Bool", 1)],
)
def test_enums_are_int_sized_and_bool_is_one_byte(type_name: str, size: int) -> None:
    assert ffi().sizeof(type_name) == size


def test_metadata_flags_sit_right_after_their_values() -> None:
    for value, flag in (("timestamp_us", 8), ("duration_us", 24), ("sequence", 40)):
        assert ffi().offsetof("CPacketMetadata", f"has_{value}") == flag
        assert ffi().offsetof("CPacketMetadata", value) == flag - 8
