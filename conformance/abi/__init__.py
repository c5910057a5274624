"""The ABI model: C declarations, layout tables, enumerations and host texts.

``ffi()`` builds the cffi object lazily: the pytest plugin and the light
commands (``conformance explain``, ``list-checks``) import the catalogue, and
with it this package, without needing cffi or the declarations (tests/test_cli.py
holds the light commands to it). It loads them from the out-of-line module
``compiled`` caches rather than parsing them in every process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from conformance.abi.cdefs import CDEFS, STRUCT_NAMES
from conformance.abi.constants import (
    API_SYMBOL,
    CURRENT_API_VERSION,
    MIN_SUPPORTED_API_VERSION,
    SET_LOG_ENABLED_SYMBOL,
    SUPPORTED_VERSIONS,
    HostText,
    LogLevel,
    PacketType,
    PixelFormat,
)
from conformance.abi.layout import LAYOUTS, StructLayout

__all__ = [
    "API_SYMBOL",
    "CDEFS",
    "CURRENT_API_VERSION",
    "LAYOUTS",
    "MIN_SUPPORTED_API_VERSION",
    "SET_LOG_ENABLED_SYMBOL",
    "STRUCT_NAMES",
    "SUPPORTED_VERSIONS",
    "HostText",
    "LogLevel",
    "PacketType",
    "PixelFormat",
    "StructLayout",
    "ffi",
]


#: Every C type string the host uses; parsed once in the fork server so children inherit the parse.
WARM_TYPES: tuple[str, ...] = (
    "CAllocAudioFn",
    "CAllocAudioResult *",
    "CAllocVideoFn",
    "CAllocVideoResult *",
    "CAudioFrame *",
    "CBinaryPacket *",
    "CBinaryPacketV8 *",
    "CCustomPacket *",
    "CFreeFn",
    "CLogCallback",
    "CLogEnabledCallback",
    "CNodeCallbacks *",
    "CNodeCallbacks",
    "COutputCallback",
    "CPacket *",
    "CPacketMetadata *",
    "CPluginApiEntry",
    "CResult *",
    "CSetLogEnabledCallback",
    "CTelemetryCallback",
    "CVideoFrame *",
    "CSchemaResult",
    "CTickResult",
    "CSourceConfig",
    "CNativePluginAPI *",
    "CNodeMetadata *",
    "char *",
    "char[]",
    "const char *",
    "float",
    "uint8_t",
    "uintptr_t",
    "void *",
    "const float *",
    "const uint8_t *",
    "float *",
    "float[]",
    "uint64_t *",
    "uint8_t *",
    "uint8_t[]",
    "uintptr_t",
    "void (*)(void *)",
    "void *",
)


@lru_cache(maxsize=1)
def ffi() -> Any:
    """The process-wide cffi FFI with every ABI type declared (typed Any: cffi ships no stubs)."""
    # On first use: the catalogue loads this package in processes that never call a plugin.
    from conformance.abi.compiled import declared_ffi

    return declared_ffi("streamkit_abi", CDEFS)


def warm_up() -> None:
    """Parse every type the host uses now, so that forked children do not each parse them again."""
    instance = ffi()
    for name in WARM_TYPES:
        instance.typeof(name)
