"""Length-prefixed pickle frames over pipes.

Only our own processes speak this protocol (the pytest process, the fork
server and its children, all running this package), so pickle of our frozen
dataclasses is both safe and the cheapest encoding. Frames are written with a
single ``os.write`` where possible so a frame from a dying child is either
whole or absent.
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

_HEADER = struct.Struct("<I")
MAX_FRAME = 64 * 1024 * 1024


class FrameError(Exception):
    """The peer closed the pipe mid-frame or sent something that is not a frame."""


def encode_frame(obj: Any) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def write_frame(fd: int, obj: Any) -> None:
    data = memoryview(encode_frame(obj))
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_exact(fd: int, size: int) -> bytes | None:
    """Read exactly ``size`` bytes; None on a clean EOF before the first byte."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, remaining)
        if not chunk:
            if remaining == size:
                return None
            raise FrameError("pipe closed in the middle of a frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> Any:
    """Read one frame; raises EOFError on a clean end of stream."""
    header = read_exact(fd, _HEADER.size)
    if header is None:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise FrameError(f"frame of {size} bytes exceeds the {MAX_FRAME}-byte limit")
    payload = read_exact(fd, size)
    if payload is None:
        raise FrameError("pipe closed after a frame header")
    return pickle.loads(payload)


class FrameBuffer:
    """Incremental decoder for a non-blocking reader fed with arbitrary chunks."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[Any]:
        self._buffer.extend(chunk)
        frames: list[Any] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise FrameError(f"frame of {size} bytes exceeds the {MAX_FRAME}-byte limit")
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            frames.append(pickle.loads(bytes(self._buffer[_HEADER.size : end])))
            del self._buffer[:end]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buffer)
