"""The sandbox's frames: protocol objects round-trip; anything else, including a crafted pickle, is refused."""

from __future__ import annotations

import os
import pickle
import struct

import pytest

from conformance.sandbox.framing import FrameBuffer, FrameError, decode_payload, encode_frame
from conformance.scenario.events import CallStarted, ScenarioDone
from conformance.scenario.protocol import Outcome, SandboxResult


class _Calls:
    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (os.getcwd, ())


def test_protocol_objects_round_trip_through_the_buffer() -> None:
    events = (CallStarted("process_packet", 1.0, "text", "MainThread", 7), ScenarioDone())
    result = SandboxResult(Outcome.COMPLETED, events, 0.01, "ok")
    buffer = FrameBuffer()
    data = encode_frame(result) + encode_frame(events[1])
    assert buffer.feed(data[:5]) == []
    assert buffer.feed(data[5:]) == [result, events[1]]


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(_Calls()),
        pickle.dumps(os.system),
        pickle.dumps({"a": frozenset({1})}) + b"trailing",
        b"\x80\x05not a pickle",
        b"",
    ],
    ids=["reduce-to-a-call", "a-function", "trailing-bytes", "garbage", "empty"],
)
def test_anything_else_is_a_frame_error(payload: bytes) -> None:
    with pytest.raises(FrameError, match="not a frame of the sandbox protocol"):
        FrameBuffer().feed(struct.pack("<I", len(payload)) + payload)


def test_plain_containers_are_allowed() -> None:
    value = {"set": {1, 2}, "frozen": frozenset({3}), "bytes": bytearray(b"x")}
    assert decode_payload(pickle.dumps(value)) == value
