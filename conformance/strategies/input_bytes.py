"""Fuzzer bytes read as fields (``ByteSource``) and written back (``ByteSink``).

Reading is total and deterministic on purpose: libFuzzer mutates bytes, and
a saved input (corpus, artifact, regression) must keep meaning the same
thing. Missing bytes read as 0, so every byte string is a complete input.
The targets and ``conformance.strategies.packet_from_bytes`` read through
the one ``ByteSource``, and seeds are written with the calls that read them.
"""

from __future__ import annotations

import math
import struct


class ByteSource:
    """Reads fields from fuzzer bytes; past the end every byte is 0, so every input is complete."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.data)

    def byte(self) -> int:
        value = self.data[self.position] if self.position < len(self.data) else 0
        self.position += 1
        return value

    def flag(self) -> bool:
        return bool(self.byte() & 1)

    def below(self, bound: int) -> int:
        return self.byte() % bound if bound > 0 else 0

    def uint(self, bits: int) -> int:
        return int.from_bytes(self.chunk(bits // 8), "little")

    def sint(self, bits: int) -> int:
        return int.from_bytes(self.chunk(bits // 8), "little", signed=True)

    def f32(self) -> float:
        """A binary32 value; NaN reads as 0.0 so that what holds it compares equal to itself."""
        value: float = struct.unpack("<f", self.chunk(4))[0]
        return 0.0 if math.isnan(value) else value

    def text(self, max_bytes: int) -> str:
        """A length byte (``% (max_bytes + 1)``) then that many bytes as UTF-8, invalid sequences replaced."""
        return self.chunk(self.below(max_bytes + 1)).decode("utf-8", "replace")

    def chunk(self, size: int) -> bytes:
        """Exactly ``size`` bytes, zero-padded past the end."""
        piece = self.data[self.position : self.position + size]
        self.position += size
        return piece + bytes(size - len(piece))

    def take(self, size: int) -> bytes:
        """Up to ``size`` bytes, not padded: for sub-inputs that pad themselves."""
        piece = self.data[self.position : self.position + size]
        self.position += size
        return piece

    def rest(self) -> bytes:
        piece = self.data[self.position :]
        self.position = len(self.data)
        return piece


class ByteSink:
    """The writer twin of ``ByteSource``: seeds are written with the calls the targets read them with."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def byte(self, value: int) -> ByteSink:
        self.parts.append(bytes([value & 0xFF]))
        return self

    def uint(self, value: int, bits: int) -> ByteSink:
        self.parts.append((value % (1 << bits)).to_bytes(bits // 8, "little"))
        return self

    def sint(self, value: int, bits: int) -> ByteSink:
        self.parts.append(value.to_bytes(bits // 8, "little", signed=True))
        return self

    def f32(self, value: float) -> ByteSink:
        return self.raw(struct.pack("<f", value))

    def text(self, text: str, max_bytes: int) -> ByteSink:
        """What ``ByteSource.text(max_bytes)`` reads back as ``text``, cut at a character boundary."""
        data = text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore").encode("utf-8")
        return self.byte(len(data)).raw(data)

    def raw(self, data: bytes) -> ByteSink:
        self.parts.append(data)
        return self

    def sized(self, data: bytes) -> ByteSink:
        """A length byte then the bytes (at most 255: longer data is cut)."""
        data = data[:255]
        return self.byte(len(data)).raw(data)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)
