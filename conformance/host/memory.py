"""Reading plugin memory without trusting its pointers.

A plugin can hand the host any pointer. Reading it through ``/proc/self/mem``
turns an unmapped address into an ``OSError`` instead of a segmentation fault,
so the metadata and wire decoders can report "pointer 0x10 is not readable"
rather than die.
"""

from __future__ import annotations

import os
import struct

from conformance.host.gil_held import pread_exact

_FIRST_CHUNK = 256
#: Past this many bytes a string is read 1 MiB at a time (an 80 MiB description in a tenth of a second).
_LONG_CHUNK = 1 << 20


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
        data = pread_exact(self._fd, size, address)  # keeps the GIL while other threads run (``host.gil_held``)
        if data is None:
            raise UnreadableMemory(address, size)
        return data

    def read_cstring(self, address: int) -> bytes:
        """Bytes up to (not including) the NUL terminator, however long: the ABI sets no limit and the
        host reads the whole string (``CStr::from_ptr``). Raises ``UnreadableMemory`` only when the
        string starts in, or runs into, unmapped memory before its NUL."""
        collected = bytearray()
        while True:
            chunk = self._string_chunk(address + len(collected), long=len(collected) >= _LONG_CHUNK)
            end = chunk.find(b"\0")
            if end >= 0:
                collected.extend(chunk[:end])
                return bytes(collected)
            collected.extend(chunk)

    def _string_chunk(self, offset: int, *, long: bool) -> bytes:
        """The next piece of a string, ending on a page boundary; a long string reads 1 MiB at a time,
        falling back to one page when the larger read reaches unmapped memory (the NUL may come before it)."""
        to_page_end = 4096 - offset % 4096
        if not long:
            return self.read(offset, min(_FIRST_CHUNK, to_page_end))
        try:
            return self.read(offset, _LONG_CHUNK - 4096 + to_page_end)
        except UnreadableMemory:
            return self.read(offset, to_page_end)

    def read_u64(self, address: int) -> int:
        return int(struct.unpack("<Q", self.read(address, 8))[0])

    def readable(self, address: int, size: int = 1) -> bool:
        try:
            self.read(address, size)
        except UnreadableMemory:
            return False
        return True


_memory: tuple[int, SafeMemory] | None = None


def copy_text(address: int) -> tuple[str | None, str | None]:
    """(text, problem) of the C string at ``address``: 0 is (None, None); unreadable or non-UTF-8 bytes give a
    problem (with the text decoded leniently where the bytes were readable)."""
    if address == 0:
        return None, None
    try:
        raw = safe_memory().read_cstring(address)
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
