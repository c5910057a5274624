"""Buffers whose last byte abuts an inaccessible guard page (issue 7: memory safety at the boundary).

A plugin that writes one byte past the end of a buffer the host handed out
faults immediately, inside the call that did it, instead of corrupting the
host's heap silently.
"""

from __future__ import annotations

import mmap
from typing import Any

from conformance.abi import ffi

PAGE = mmap.PAGESIZE


def guarded_buffer(size: int, *, element_size: int = 1) -> tuple[Any, int]:
    """Return (keepalive, address) of ``size`` writable bytes followed by a PROT_NONE page."""
    body = max(PAGE, -(-size // PAGE) * PAGE)
    region = mmap.mmap(-1, body + PAGE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ffi().from_buffer(region)
    address = int(ffi().cast("uintptr_t", base))
    from conformance.host.libc import libc

    libc().lib.mprotect(libc().ffi.cast("void *", address + body), PAGE, 0)
    start = address + body - size
    start -= start % max(1, element_size)
    return (region, base), start
