"""Sizes and field offsets of every ABI struct (reference section 3).

The table is the specification, written out by hand; the cffi declarations in
``cdefs`` are the implementation. A test compares the two, so a typo in either
shows up as a mismatch instead of a silently misread plugin.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StructLayout:
    """Expected size, alignment and field offsets of one C struct."""

    name: str
    size: int
    align: int
    offsets: tuple[tuple[str, int], ...]


LAYOUTS: tuple[StructLayout, ...] = (
    StructLayout("CResult", 16, 8, (("success", 0), ("error_message", 8))),
    StructLayout("CSchemaResult", 24, 8, (("success", 0), ("error_message", 8), ("json_schema", 16))),
    StructLayout("CAudioFormat", 12, 4, (("sample_rate", 0), ("channels", 4), ("sample_format", 8))),
    StructLayout("CRawVideoFormat", 12, 4, (("width", 0), ("height", 4), ("pixel_format", 8))),
    StructLayout(
        "CPacketMetadata",
        48,
        8,
        (
            ("timestamp_us", 0),
            ("has_timestamp_us", 8),
            ("duration_us", 16),
            ("has_duration_us", 24),
            ("sequence", 32),
            ("has_sequence", 40),
        ),
    ),
    StructLayout(
        "CVideoFrame",
        48,
        8,
        (
            ("width", 0),
            ("height", 4),
            ("pixel_format", 8),
            ("data", 16),
            ("data_len", 24),
            ("buffer_handle", 32),
            ("metadata", 40),
        ),
    ),
    StructLayout(
        "CAudioFrame",
        40,
        8,
        (
            ("sample_rate", 0),
            ("channels", 4),
            ("samples", 8),
            ("sample_count", 16),
            ("buffer_handle", 24),
            ("metadata", 32),
        ),
    ),
    StructLayout(
        "CCustomPacket",
        40,
        8,
        (("type_id", 0), ("encoding", 8), ("data_json", 16), ("data_len", 24), ("metadata", 32)),
    ),
    StructLayout(
        "CBinaryPacket",
        48,
        8,
        (
            ("data", 0),
            ("data_len", 8),
            ("content_type", 16),
            ("metadata", 24),
            ("buffer_handle", 32),
            ("free_fn", 40),
        ),
    ),
    StructLayout(
        "CBinaryPacketV8",
        32,
        8,
        (("data", 0), ("data_len", 8), ("content_type", 16), ("metadata", 24)),
    ),
    StructLayout("CPacket", 24, 8, (("packet_type", 0), ("data", 8), ("len", 16))),
    StructLayout(
        "CPacketTypeInfo",
        32,
        8,
        (("type_discriminant", 0), ("audio_format", 8), ("custom_type_id", 16), ("raw_video_format", 24)),
    ),
    StructLayout("CInputPin", 24, 8, (("name", 0), ("accepts_types", 8), ("accepts_types_count", 16))),
    StructLayout("COutputPin", 40, 8, (("name", 0), ("produces_type", 8))),
    StructLayout(
        "CNodeMetadata",
        72,
        8,
        (
            ("kind", 0),
            ("description", 8),
            ("inputs", 16),
            ("inputs_count", 24),
            ("outputs", 32),
            ("outputs_count", 40),
            ("param_schema", 48),
            ("categories", 56),
            ("categories_count", 64),
        ),
    ),
    StructLayout("CSourceConfig", 24, 8, (("is_source", 0), ("tick_interval_us", 8), ("max_ticks", 16))),
    StructLayout("CTickResult", 24, 8, (("result", 0), ("done", 16))),
    StructLayout("CAllocVideoResult", 32, 8, (("data", 0), ("len", 8), ("handle", 16), ("free_fn", 24))),
    StructLayout("CAllocAudioResult", 32, 8, (("data", 0), ("sample_count", 8), ("handle", 16), ("free_fn", 24))),
    StructLayout(
        "CNodeCallbacks",
        64,
        8,
        (
            ("struct_size", 0),
            ("output_callback", 8),
            ("output_user_data", 16),
            ("telemetry_callback", 24),
            ("telemetry_user_data", 32),
            ("alloc_video", 40),
            ("alloc_audio", 48),
            ("alloc_user_data", 56),
        ),
    ),
    StructLayout(
        "CNativePluginAPI",
        88,
        8,
        (
            ("version", 0),
            ("get_metadata", 8),
            ("create_instance", 16),
            ("process_packet", 24),
            ("update_params", 32),
            ("flush", 40),
            ("destroy_instance", 48),
            ("get_source_config", 56),
            ("tick", 64),
            ("get_runtime_param_schema", 72),
            ("on_upstream_hint", 80),
        ),
    ),
)

#: Per-version sizes of the structs that grew (reference sections 2.1 and 3).
VERSIONED_SIZES: dict[str, dict[int, int]] = {
    # v7/v8 hosts and plugins use the 4-field struct; v9 added buffer_handle + free_fn.
    "CBinaryPacket": {7: 32, 8: 32, 9: 48},
    "CVideoFrame": {6: 48, 7: 48, 8: 48, 9: 48},
    "CAudioFrame": {6: 40, 7: 40, 8: 40, 9: 40},
    "CNodeCallbacks": {6: 64, 7: 64, 8: 64, 9: 64},
    "CNativePluginAPI": {6: 88, 7: 88, 8: 88, 9: 88},
}

#: End offsets of optional CNodeCallbacks fields; a plugin may use a field
#: only when ``struct_size`` reaches its end (reference section 2.3).
CALLBACK_FIELD_END: dict[str, int] = {
    "output_callback": 16,
    "output_user_data": 24,
    "telemetry_callback": 32,
    "telemetry_user_data": 40,
    "alloc_video": 48,
    "alloc_audio": 56,
    "alloc_user_data": 64,
}
