"""Reads of this process's memory and writes of event frames that keep the GIL while other Python threads run.

``os.pread`` and ``os.write`` let go of the GIL around the system call. With one Python thread
that costs nothing; with several (``metadata.threads`` decodes the metadata from 8 threads,
``threading.parallel-instances`` drives instances from several) every read of plugin memory and
every event frame handed the GIL to another thread and waited to get it back: on
``conforming_processor``, two thirds of ``metadata.threads``' CPU went to the kernel switching
threads. These calls take microseconds and wait on nothing that needs the GIL (a frame waits only
on the server draining the pipe), so holding it is safe: with other threads alive, these functions
call libc's through a ``ctypes.PyDLL`` handle, which keeps the GIL; alone, ``os.pread`` and
``os.write``, a microsecond cheaper per call. The handle is made at import, in the fork server, so
children find the functions looked up (``sandbox.libc_calls`` says why).
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading

_LIBC = ctypes.PyDLL(None, use_errno=True)
_PREAD = _LIBC.pread
_PREAD.restype = ctypes.c_ssize_t
_PREAD.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64)
_WRITE = _LIBC.write
_WRITE.restype = ctypes.c_ssize_t
_WRITE.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)


def several_threads() -> bool:
    """Whether other Python threads (plugin threads in a callback included) could want the GIL now."""
    return threading.active_count() > 1


def pread_exact(fd: int, size: int, offset: int) -> bytes | None:
    """``size`` bytes at ``offset``, or None when fewer could be read (an unmapped page of /proc/self/mem)."""
    if not several_threads():
        try:
            data = os.pread(fd, size, offset)
        except OSError:
            return None
        return data if len(data) == size else None
    buffer = ctypes.create_string_buffer(size)
    while True:
        got = _PREAD(fd, buffer, size, offset)
        if got < 0 and ctypes.get_errno() == errno.EINTR:
            continue
        return buffer.raw if got == size else None


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``; an error is raised as ``os.write`` raises it."""
    if not several_threads():
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return
    while data:
        written = _WRITE(fd, data, len(data))
        if written < 0:
            code = ctypes.get_errno()
            if code == errno.EINTR:
                continue
            raise OSError(code, os.strerror(code))
        data = data[written:]
