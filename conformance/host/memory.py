"""Reading plugin memory without trusting its pointers.

A plugin can hand the host any pointer. Reading it through ``/proc/self/mem``
turns an unmapped address into an ``OSError`` instead of a segmentation fault,
so the metadata and wire decoders can report "pointer 0x10 is not readable"
rather than die.
"""

from __future__ import annotations

import os
import struct

MAX_STRING = 1 << 20
_CHUNK = 256


class UnreadableMemory(Exception):
    """The address range is not mapped readable in this process."""

    def __init__(self, address: int, size: int) -> None:
        super().__init__(f"pointer 0x{address:x} is not readable ({size} bytes)")
        self.address = address
        self.size = size


class SafeMemory:
    """Bounds-checked reads of this process's memory."""

    def __init__(self) -> None:
        self._fd = os.open("/proc/self/mem", os.O_RDONLY | os.O_CLOEXEC)

    def read(self, address: int, size: int) -> bytes:
        if size == 0:
            return b""
        if address <= 0 or address + size > (1 << 63):
            raise UnreadableMemory(address, size)
        try:
            data = os.pread(self._fd, size, address)
        except OSError:
            raise UnreadableMemory(address, size) from None
        if len(data) != size:
            raise UnreadableMemory(address, size)
        return data

    def read_cstring(self, address: int, limit: int = MAX_STRING) -> bytes:
        """Bytes up to (not including) the NUL terminator; unreadable or unterminated raises."""
        collected = bytearray()
        while len(collected) < limit:
            # Read up to the next page boundary so a string at the end of a mapping is readable.
            chunk_size = min(_CHUNK, 4096 - (address + len(collected)) % 4096)
            chunk = self.read(address + len(collected), chunk_size)
            end = chunk.find(b"\0")
            if end >= 0:
                collected.extend(chunk[:end])
                return bytes(collected)
            collected.extend(chunk)
        raise UnreadableMemory(address, limit)

    def read_u64(self, address: int) -> int:
        return int(struct.unpack("<Q", self.read(address, 8))[0])

    def readable(self, address: int, size: int = 1) -> bool:
        try:
            self.read(address, size)
        except UnreadableMemory:
            return False
        return True


_memory: tuple[int, SafeMemory] | None = None


def copy_text(address: int, limit: int = MAX_STRING) -> tuple[str | None, str | None]:
    """(text, problem) of the C string at ``address``: 0 is (None, None); unreadable or non-UTF-8 bytes give a
    problem (with the text decoded leniently where the bytes were readable)."""
    if address == 0:
        return None, None
    try:
        raw = safe_memory().read_cstring(address, limit)
    except UnreadableMemory as error:
        return None, str(error)
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), "not valid UTF-8"


def safe_memory() -> SafeMemory:
    """The reader for this process (reopened after a fork: /proc/self is per process)."""
    global _memory
    if _memory is None or _memory[0] != os.getpid():
        _memory = (os.getpid(), SafeMemory())
    return _memory[1]
