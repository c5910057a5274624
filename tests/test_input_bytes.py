"""The one reader of fuzzer bytes (targets and ``strategies.packet_from_bytes``) and its writer twin.

Saved corpora and regressions depend on these reading the same forever, so
the rules are pinned here: missing bytes are zeros, and what the sink writes
the source reads back.
"""

from __future__ import annotations

import math
import struct

from hypothesis import given
from hypothesis import strategies as st

from conformance.strategies.input_bytes import ByteSink, ByteSource


def test_missing_bytes_read_as_zero() -> None:
    source = ByteSource(b"\x07")
    assert source.byte() == 7 and source.exhausted
    assert source.byte() == 0 and source.uint(32) == 0 and source.chunk(3) == bytes(3)
    assert source.take(5) == b"" and source.rest() == b""


def test_below_a_zero_bound_reads_nothing() -> None:
    source = ByteSource(b"\x09")
    assert source.below(0) == 0 and source.position == 0
    assert source.below(4) == 1 and source.position == 1


def test_nan_reads_as_zero() -> None:
    assert ByteSource(struct.pack("<f", math.nan)).f32() == 0.0


@given(st.text(max_size=40), st.integers(0, 30))
def test_text_round_trips_within_its_limit(text: str, max_bytes: int) -> None:
    read = ByteSource(ByteSink().text(text, max_bytes).getvalue()).text(max_bytes)
    assert text.startswith(read) and len(read.encode()) <= max_bytes
    if len(text.encode()) <= max_bytes:
        assert read == text


@given(st.integers(0, 2**64 - 1), st.integers(-(2**63), 2**63 - 1), st.floats(width=32, allow_nan=False))
def test_numbers_round_trip(unsigned: int, signed: int, value: float) -> None:
    source = ByteSource(ByteSink().uint(unsigned, 64).sint(signed, 64).f32(value).getvalue())
    assert (source.uint(64), source.sint(64), source.f32()) == (unsigned, signed, value)
