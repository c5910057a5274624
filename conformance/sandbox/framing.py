"""Length-prefixed pickle frames between the pytest process and its fork server.

Requests (pytest -> server) and replies (server -> pytest) travel on the server's stdin and stdout pipes,
which no scenario child holds: a child keeps only its own event pipe (fd 3) and closes every other
descriptor it inherited. (A process of the same user can reopen another's pipe through
``/proc/<pid>/fd`` unless that process is non-dumpable, so the containment around the server matters
here too.) Requests carry the tool's own types (a fuzzing plan, say); replies are decoded with a loader
that may name only the protocol's classes and plain containers, as a second line. What a child sends never comes through here:
it is JSON checked against the event schema (``event_codec``), because the plugin shares the child's
descriptors. Frames are written with a single ``os.write`` where possible so a frame from a dying
process is either whole or absent.
"""

from __future__ import annotations

import enum
import io
import os
import pickle
import signal
import struct
from typing import Any

_HEADER = struct.Struct("<I")
MAX_FRAME = 64 * 1024 * 1024


class FrameError(Exception):
    """The peer closed the pipe mid-frame or sent something that is not a frame.

    ``decoded`` holds the good frames that came before the bad one in the same chunk.
    """

    def __init__(self, message: str, decoded: list[Any] | None = None) -> None:
        super().__init__(message)
        self.decoded: list[Any] = decoded or []


#: Modules whose classes a frame may name (checked to be classes defined there).
_PROTOCOL_MODULES = frozenset({"conformance.scenario.events", "conformance.scenario.protocol"})
#: Other names a frame may carry: containers and plain values only, nothing that calls or imports.
_PLAIN_VALUES = frozenset(
    {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("signal", "Signals"),
    }
)


def _enum_member(cls: Any, name: str) -> Any:
    """``getattr`` as the pickles of Python 3.11.0-3.11.4 use it for an enum member (``getattr(Outcome,
    'CRASHED')``; other versions pickle the value): only a member of an enum the protocol allows."""
    if isinstance(cls, type) and issubclass(cls, enum.Enum) and isinstance(name, str) and name in cls.__members__:
        return cls.__members__[name]
    raise pickle.UnpicklingError(f"a frame may call getattr only for an enum member, not {name!r:.60}")


class _ProtocolUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):
            return _enum_member
        if module == "signal" and name in signal.Signals.__members__:  # how 3.11.0-3.11.4 pickle a Signals member
            return signal.Signals[name]
        if (module, name) in _PLAIN_VALUES:
            return super().find_class(module, name)
        if module in _PROTOCOL_MODULES and not name.startswith("_"):
            found = super().find_class(module, name)
            if isinstance(found, type) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"a frame may not name {module}.{name}")


def decode_payload(payload: bytes) -> Any:
    """One frame's payload; anything that is not a frame of this protocol is a ``FrameError``."""
    stream = io.BytesIO(payload)
    try:
        value = _ProtocolUnpickler(stream).load()
        if stream.tell() != len(payload):
            raise pickle.UnpicklingError(f"{len(payload) - stream.tell()} bytes after the object")
    except Exception as error:  # noqa: BLE001 - whatever the bytes provoke, it is a corrupt frame
        raise FrameError(f"not a frame of the sandbox protocol ({type(error).__name__}: {error})") from None
    return value


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
    """Read one request frame from the parent; raises EOFError on a clean end of stream.

    Only the fork server reads this way, from the pipe the pytest process writes and no child holds (a
    child closes every inherited descriptor but its own event pipe), so requests may carry any of the
    tool's own types (a fuzzing plan, say). Everything a child sends goes through ``event_codec``.
    """
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
    """Incremental decoder of the server's replies for a non-blocking reader fed with arbitrary chunks."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[Any]:
        self._buffer.extend(chunk)
        frames: list[Any] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise FrameError(f"frame of {size} bytes exceeds the {MAX_FRAME}-byte limit", frames)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            try:
                frames.append(decode_payload(bytes(self._buffer[_HEADER.size : end])))
            except FrameError as error:
                raise FrameError(str(error), frames) from None
            del self._buffer[:end]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buffer)
