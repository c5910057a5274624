"""The sandbox's frames: protocol objects round-trip; anything else, including a crafted pickle, is refused."""

from __future__ import annotations

import os
import pickle
import signal
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


class _ByName:
    """Pickles as Python 3.11.0-3.11.4 pickle an enum member: ``getattr(cls, name)``."""

    def __init__(self, cls: object, name: str) -> None:
        self.cls, self.name = cls, name

    def __reduce__(self) -> tuple[object, tuple[object, str]]:
        return getattr, (self.cls, self.name)


def test_an_enum_member_pickled_by_name_is_read_as_that_member() -> None:
    """Debian's Python 3.11.2 pickles every enum member so; its fork servers' replies were refused."""
    payload = pickle.dumps(_ByName(Outcome, "CRASHED"))
    assert b"getattr" in payload
    assert decode_payload(payload) is Outcome.CRASHED


@pytest.mark.parametrize(
    ("target", "name"), [(Outcome, "__class__"), (Outcome, "_missing_"), (SandboxResult, "__init__")]
)
def test_getattr_in_a_frame_reaches_nothing_but_an_enum_member(target: object, name: str) -> None:
    with pytest.raises(FrameError):
        decode_payload(pickle.dumps(_ByName(target, name)))


def test_a_signal_pickled_by_its_global_name_is_read_as_that_signal() -> None:
    """Python 3.11.0-3.11.4 pickle ``signal.SIGXFSZ`` as the global ``signal.SIGXFSZ``."""
    payload = b"\x80\x04\x8c\x06signal\x94\x8c\x07SIGXFSZ\x94\x93\x94."
    assert decode_payload(payload) is signal.Signals.SIGXFSZ
    with pytest.raises(FrameError):
        decode_payload(b"\x80\x04\x8c\x06signal\x94\x8c\x06signal\x94\x93\x94.")  # signal.signal: a function
