"""Buffers whose last byte abuts an inaccessible guard page (issue 7: memory safety at the boundary).

A plugin that writes one byte past the end of a buffer the host handed out
faults immediately, inside the call that did it, instead of corrupting the
host's heap silently.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from typing import Any

from conformance.abi import ffi
from conformance.abi.constants import PacketType
from conformance.host.libc import libc
from conformance.scenario.events import GuardRegion

PAGE = mmap.PAGESIZE

#: Where the child announces the regions it guards (set by the scenario runner; None in other processes).
_region_sink: Callable[[GuardRegion], None] | None = None


def set_region_sink(sink: Callable[[GuardRegion], None] | None) -> None:
    global _region_sink
    _region_sink = sink


def _announce(kind: str, label: str, body: tuple[int, int], guard: tuple[int, int], writable: bool) -> None:
    """Tell the parent about a guarded region, so a fault inside it can be explained in words."""
    if _region_sink is not None:
        _region_sink(GuardRegion(kind, label, body[0], body[1], guard[0], guard[1], writable))


def announce_struct(label: str, address: int, size: int) -> None:
    """Announce a host struct handed to the plugin (no guard page), so a jump into it can be named."""
    _announce("struct", label, (address, address + size), (0, 0), False)


def guarded_buffer(size: int, *, element_size: int = 1, label: str = "buffer") -> tuple[Any, int]:
    """Return (keepalive, address) of ``size`` writable bytes followed by a PROT_NONE page."""
    body = max(PAGE, -(-size // PAGE) * PAGE)
    region = mmap.mmap(-1, body + PAGE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ffi().from_buffer(region)
    address = int(ffi().cast("uintptr_t", base))

    libc().lib.mprotect(libc().ffi.cast("void *", address + body), PAGE, 0)
    start = address + body - size
    start -= start % max(1, element_size)
    _announce("alloc", label, (start, address + body), (address + body, address + body + PAGE), True)
    return (region, base), start


def readonly_copy(data: bytes, label: str = "input payload") -> tuple[Any, int]:
    """``data`` in read-only memory that ends where an inaccessible page begins.

    A plugin that writes into host-owned input, or reads past its end, faults
    inside the call that did it.
    """

    size = max(len(data), 1)
    body = -(-size // PAGE) * PAGE
    region = mmap.mmap(-1, body + PAGE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    start = body - size
    region[start : start + len(data)] = data
    base = ffi().from_buffer(region)
    address = int(ffi().cast("uintptr_t", base))
    c = libc()
    c.lib.mprotect(c.ffi.cast("void *", address + body), PAGE, 0)
    c.lib.mprotect(c.ffi.cast("void *", address), body, 1)  # PROT_READ
    _announce("input", label, (address + start, address + body), (address + body, address + body + PAGE), False)
    return (region, base), address + start


def protect_inputs(encoded: Any) -> list[Any]:
    """Move the payload bytes of a delivered packet into read-only pages (structs stay where they are).

    The CBinaryPacket struct itself stays writable: the plugin may clear its
    ``buffer_handle`` (ABI.md 4.16). Returns what must be kept alive.
    """

    f = ffi()
    packet = encoded.ptr
    keep: list[Any] = []
    if packet.data == f.NULL:
        return keep

    kind = int(packet.packet_type)
    try:
        type_name = PacketType(kind).name
    except ValueError:
        type_name = f"type {kind}"

    def move(pointer: Any, size: int, ctype: str, what: str = "payload") -> Any:
        if pointer == f.NULL:
            return pointer
        label = f"{type_name} {what} ({size} bytes)"
        storage, address = readonly_copy(bytes(f.buffer(f.cast("char *", pointer), size)), label)
        keep.append(storage)
        return f.cast(ctype, address)

    def move_string(pointer: Any, what: str = "payload") -> Any:
        if pointer == f.NULL:
            return pointer
        return move(pointer, len(f.string(f.cast("char *", pointer))) + 1, "char *", what)

    if kind == PacketType.TEXT:
        packet.data = move_string(packet.data)
    elif kind in (
        PacketType.TRANSCRIPTION,
        PacketType.BINARY,
        PacketType.ENCODED_AUDIO,
        PacketType.ENCODED_VIDEO,
        PacketType.OPUS_AUDIO,
        PacketType.ANY,
        PacketType.PASSTHROUGH,
    ):
        packet.data = move(packet.data, max(int(packet.len), 1), "void *")
    elif kind == PacketType.CUSTOM:
        custom = f.cast("CCustomPacket *", packet.data)
        custom.type_id = move_string(custom.type_id, "type_id")
        custom.data_json = move(custom.data_json, max(int(custom.data_len), 1), "uint8_t *", "data_json")
        custom.metadata = move(custom.metadata, 48, "CPacketMetadata *", "metadata")
    elif kind == PacketType.BINARY_WITH_META:
        binary = f.cast("CBinaryPacketV8 *", packet.data)
        binary.data = move(binary.data, max(int(binary.data_len), 1), "uint8_t *")
        binary.content_type = move_string(binary.content_type, "content_type")
        binary.metadata = move(binary.metadata, 48, "CPacketMetadata *", "metadata")
    elif kind == PacketType.RAW_AUDIO:
        frame = f.cast("CAudioFrame *", packet.data)
        frame.samples = move(frame.samples, max(int(frame.sample_count), 1) * 4, "float *", "samples")
        frame.metadata = move(frame.metadata, 48, "CPacketMetadata *", "metadata")
    elif kind == PacketType.RAW_VIDEO:
        video = f.cast("CVideoFrame *", packet.data)
        video.data = move(video.data, max(int(video.data_len), 1), "uint8_t *", "data")
        video.metadata = move(video.metadata, 48, "CPacketMetadata *", "metadata")
    return keep
