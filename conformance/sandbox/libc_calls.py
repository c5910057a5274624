"""libc through ctypes, for the process-control calls that report through errno (prctl, mount, unshare, capset)."""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def process_libc() -> ctypes.CDLL:
    """One handle per process. ctypes keeps each function it looked up on the handle, so what a fork server
    (or the zygote) looked up once, its children find looked up: a handle and a function pointer made anew
    in a child cost about a quarter of a millisecond, mostly page faults."""
    return ctypes.CDLL(None, use_errno=True)
