"""Enumerations, symbol names, version range and verbatim host texts of the ABI."""

from __future__ import annotations

from enum import IntEnum

API_SYMBOL = "streamkit_native_plugin_api"
SET_LOG_ENABLED_SYMBOL = "streamkit_native_plugin_set_log_enabled_callback"

MIN_SUPPORTED_API_VERSION = 6
CURRENT_API_VERSION = 9
SUPPORTED_VERSIONS: tuple[int, ...] = tuple(range(MIN_SUPPORTED_API_VERSION, CURRENT_API_VERSION + 1))

CALLBACKS_STRUCT_SIZE = 64
BINARY_PACKET_V9_SIZE = 48
BINARY_PACKET_V8_SIZE = 32


class LogLevel(IntEnum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


class SampleFormat(IntEnum):
    F32 = 0
    S16LE = 1


class PacketType(IntEnum):
    RAW_AUDIO = 0
    OPUS_AUDIO = 1
    TEXT = 2
    TRANSCRIPTION = 3
    CUSTOM = 4
    BINARY = 5
    ANY = 6
    PASSTHROUGH = 7
    RAW_VIDEO = 8
    ENCODED_VIDEO = 9
    BINARY_WITH_META = 10
    ENCODED_AUDIO = 11


#: Rust enum variant names, as the host spells them in "Unsupported packet type: <Name>".
PACKET_TYPE_RUST_NAMES: dict[PacketType, str] = {
    PacketType.RAW_AUDIO: "RawAudio",
    PacketType.OPUS_AUDIO: "OpusAudio",
    PacketType.TEXT: "Text",
    PacketType.TRANSCRIPTION: "Transcription",
    PacketType.CUSTOM: "Custom",
    PacketType.BINARY: "Binary",
    PacketType.ANY: "Any",
    PacketType.PASSTHROUGH: "Passthrough",
    PacketType.RAW_VIDEO: "RawVideo",
    PacketType.ENCODED_VIDEO: "EncodedVideo",
    PacketType.BINARY_WITH_META: "BinaryWithMeta",
    PacketType.ENCODED_AUDIO: "EncodedAudio",
}


def packet_type_name(value: int) -> str:
    """``Transcription (type 3)``: the SDK's name first, as plugin authors know the types by name."""
    try:
        return f"{PACKET_TYPE_RUST_NAMES[PacketType(value)]} (type {value})"
    except (ValueError, KeyError):
        return f"type {value}"


#: Discriminants that are pin-type tags only; at runtime they are rejected (rule C3).
RUNTIME_UNSUPPORTED_TYPES = frozenset({PacketType.OPUS_AUDIO, PacketType.ANY, PacketType.PASSTHROUGH})


class PixelFormat(IntEnum):
    RGBA8 = 0
    I420 = 1
    NV12 = 2


class CustomEncoding(IntEnum):
    JSON = 0


VIDEO_CODECS = frozenset({"vp9", "h264", "av1"})
AUDIO_CODECS = frozenset({"opus", "aac"})

#: The nullable entries of the API table and the version that added each.
OPTIONAL_ENTRIES: dict[str, int] = {
    "get_source_config": 3,
    "tick": 3,
    "get_runtime_param_schema": 4,
    "on_upstream_hint": 5,
}
REQUIRED_ENTRIES: tuple[str, ...] = (
    "get_metadata",
    "create_instance",
    "process_packet",
    "update_params",
    "flush",
    "destroy_instance",
)


class HostText:
    """Error and warning texts of the real host, verbatim (reference sections 1 and 4)."""

    LOAD_FAILED = "Failed to load library '{path}': {error}."
    NO_ENTRY_SYMBOL = (
        "Plugin does not export 'streamkit_native_plugin_api' symbol: {error}. "
        "Make sure the plugin was built with the native_plugin_entry! macro."
    )
    API_NULL = "Plugin API function returned null pointer"
    # The separator is U+2013 EN DASH, as in the host.
    VERSION_MISMATCH = "Plugin API version mismatch: plugin has v{version}, host supports v6\u2013v9"
    METADATA_NULL = "Plugin metadata is null"
    NO_LOG_SETTER = "v9 plugin did not export log-enabled callback symbol"
    CREATE_FAILED = "Plugin failed to create instance"
    UNKNOWN_PROCESS_ERROR = "Unknown plugin error"
    FLUSH_FAILED = "Plugin flush failed"
    TICK_FAILED = "Source tick failed"
    UPDATE_PARAMS_FAILED = "Failed to update parameters"
    HINT_FAILED = "on_upstream_hint failed"
    PROBE_NULL = (
        "Source config probe failed: plugin returned null from create_instance with no params "
        "\u2014 treating as processor."
    )
