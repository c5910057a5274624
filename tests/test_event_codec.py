"""The child's event channel: every event round-trips; every other byte sequence is a FrameError, and runs nothing."""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.sandbox.event_codec import (
    CHILD_EVENTS,
    HEADER,
    MAX_EVENT_FRAME,
    EventStream,
    EventWriter,
    _compact_json,
    decode_result,
    encode_event,
    encode_result,
    new_token,
)
from conformance.sandbox.framing import FrameError
from conformance.scenario.events import (
    CallFinished,
    CallStarted,
    Event,
    Expect,
    GuardRegion,
    HarnessError,
    LoadFailed,
    LogSeen,
    Observed,
    ScenarioBoundary,
    ScenarioDone,
    Skipped,
    StreamCorrupted,
    Violation,
)
from conformance.scenario.protocol import Outcome, SandboxResult, ScenarioRequest

TOKEN = b"t" * 16

#: One event of every kind a child sends, with every field set (a scenario's worth, in a valid order).
EVERY_EVENT: tuple[Event, ...] = (
    Observed("facts", {"loadable": True, "pins": [["in", [1, 2]]], "ratio": 0.5, "none": None}),
    CallStarted("process_packet", 1.5, "text packet", "MainThread#7", 7),
    LogSeen(2, "plugin::x", "héllo \udcff", "skp-1#9", "process_packet", after_destroy=True, answer=None),
    LogSeen(3, None, None, "t", None, enabled_query=True, answer=False),
    Violation("late-output", "output after return", "process_packet"),
    GuardRegion("input", "TEXT payload (5 bytes)", 0x7F00_0000_0FFB, 0x7F00_0000_1000, 0x7F00_0000_1000, 2**64 - 1, False),
    CallFinished("process_packet", 0.25, "ok", "MainThread#7"),
    Expect(False, "echoes its input", "got 3 bytes", warn_only=True),
    Skipped("no input pin"),
    LoadFailed("symbol", "undefined symbol: x"),
    HarnessError("KeyError: 'x'", "Traceback ..."),
    ScenarioDone(0, {"note": [1, "two"]}, frames=11),
)


def frames_of(events: typing.Iterable[Event], token: bytes = TOKEN, first: int = 0) -> bytes:
    return b"".join(encode_event(event, token, first + number) for number, event in enumerate(events))


def test_every_event_a_child_sends_is_covered_here() -> None:
    sent = {type(event).__name__ for event in EVERY_EVENT} | {"ScenarioBoundary"}
    assert sent == set(CHILD_EVENTS)
    assert "StreamCorrupted" not in CHILD_EVENTS  # only the server writes that one


def test_every_event_round_trips_through_arbitrary_chunks() -> None:
    data = frames_of(EVERY_EVENT)
    stream = EventStream(TOKEN)
    decoded: list[Event] = []
    for start in range(0, len(data), 7):
        decoded += stream.feed(data[start : start + 7])
    assert decoded == list(EVERY_EVENT) and stream.pending == 0
    stream.end()


def test_a_shared_child_stream_restarts_its_count_at_each_boundary() -> None:
    scenario = (Expect(True, "x"), ScenarioDone(frames=1))
    events = (*scenario, ScenarioBoundary(0, 10, 1), *scenario, ScenarioBoundary(1, 20, 1))
    assert EventStream(TOKEN, shared=True).feed(frames_of(events)) == list(events)


_json_leaf = st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12
)


@settings(max_examples=60, deadline=None)
@given(
    entry=st.text(),
    budget=st.floats(allow_nan=False, allow_infinity=False),
    tid=st.integers(0, 2**31),
    value=_json,
    level=st.integers(-5, 5),
    message=st.none() | st.text(),
)
def test_values_round_trip(entry: str, budget: float, tid: int, value: Any, level: int, message: str | None) -> None:
    events = (
        CallStarted(entry, budget, entry, entry, tid),
        Observed(entry, value),
        LogSeen(level, message, message, entry, None),
        CallFinished(entry, budget, "", entry),
        ScenarioDone(frames=4),
    )
    assert EventStream(TOKEN).feed(frames_of(events)) == list(events)


def test_the_writer_stamps_sequence_and_counts_frames_per_scenario() -> None:
    read_fd, write_fd = os.pipe()
    try:
        writer = EventWriter(write_fd, TOKEN)
        events = (Expect(True, "x"), ScenarioDone(), ScenarioBoundary(0, 0, 1), ScenarioDone())
        for event in events:
            writer(event)
        decoded = EventStream(TOKEN, shared=True).feed(os.read(read_fd, 1 << 16))
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert [event.frames for event in decoded if isinstance(event, ScenarioDone)] == [1, 0]


def _packed(event: Event) -> bytes:
    """The payload the child sends for ``event``: packed, as every call's two events are."""
    payload = encode_event(event, TOKEN, 0)[HEADER.size :]
    assert payload[0] in (1, 2, 3, 4), payload
    return payload


def _frame(payload: bytes, token: bytes = TOKEN, sequence: int = 0) -> bytes:
    return HEADER.pack(len(payload), token, sequence) + payload


def _json_frame(obj: object, **kwargs: Any) -> bytes:
    return _frame(json.dumps(obj).encode(), **kwargs)


BAD_FRAMES = {
    "no-token": _json_frame({"@": "ScenarioDone"}, token=b"\0" * 16),
    "another-channel's-token": encode_event(ScenarioDone(), new_token(), 0),
    "out-of-sequence": _json_frame({"@": "ScenarioDone"}, sequence=1),
    "oversize": HEADER.pack(MAX_EVENT_FRAME + 1, TOKEN, 0),
    "unknown-tag": _json_frame({"@": "Os.system", "command": "x"}),
    "no-tag": _json_frame({"key": "x"}),
    "server-only-event": _json_frame({"@": "StreamCorrupted", "detail": "x"}),
    "unknown-field": _json_frame({"@": "Skipped", "reason": "x", "why": 1}),
    "missing-field": _json_frame({"@": "Skipped"}),
    "str-for-int": _json_frame(
        {"@": "LogSeen", "level": "2", "target": None, "message": None, "thread": "t", "during": None}
    ),
    "bool-for-int": _json_frame({"@": "ScenarioBoundary", "index": True, "output_end": 0}),
    "int-for-bool": _json_frame({"@": "Expect", "ok": 1, "what": "x"}),
    "null-for-str": _json_frame({"@": "Skipped", "reason": None}),
    "list-for-dict": _json_frame({"@": "ScenarioDone", "extra": []}),
    "str-for-float": _json_frame({"@": "CallFinished", "entry": "x", "duration_s": "1"}),
    "nested-event": _json_frame({"@": "Skipped", "reason": {"@": "Skipped", "reason": "x"}}),
    "array-payload": _json_frame(["Skipped", "x"]),
    "not-utf-8": _frame(b'{"@":"Skipped","reason":"\xff\xfe"}'),
    "utf-16": _frame('{"@":"Skipped","reason":"x"}'.encode("utf-16")),
    "not-json": _frame(b"{'@': 'Skipped'}"),
    "trailing-bytes": _frame(b'{"@":"Skipped","reason":"x"} {}'),
    "deep-nesting": _frame(b'{"@":"Observed","key":"x","value":' + b"[" * 100000 + b"]" * 100000 + b"}"),
    "empty": _frame(b""),
    "old-pickle-frame": struct.pack("<I", 30) + pickle.dumps(ScenarioDone()),
    "packed-shorter-than-its-header": _frame(_packed(CallStarted("e", 1.0, "", "t", 1))[:10]),
    "packed-texts-cut-short": _frame(_packed(CallStarted("entry", 1.0, "", "t", 1))[:-1]),
    "packed-bytes-after-its-texts": _frame(_packed(CallFinished("entry", 1.0, "", "t")) + b"x"),
    "packed-text-not-utf-8": _frame(_packed(CallFinished("ab", 1.0, "", "t")).replace(b"ab", b"\xff\xfe")),
    "packed-surrogate-as-utf-8": _frame(_packed(CallFinished("abc", 1.0, "", "t")).replace(b"abc", b"\xed\xa0\x80")),
    "packed-region-cut-short": _frame(_packed(GuardRegion("alloc", "buffer", 1, 2, 2, 3, True))[:-1]),
    "packed-region-writable-not-0-or-1": _frame(
        bytes([3, 2]) + _packed(GuardRegion("alloc", "buffer", 1, 2, 2, 3, True))[2:]
    ),
    "packed-region-label-not-utf-8": _frame(
        _packed(GuardRegion("alloc", "buffer", 1, 2, 2, 3, True)).replace(b"buffer", b"buff\xff\xfe")
    ),
    "packed-log-unknown-flag": _frame(
        _packed(LogSeen(1, None, None, "t", None))[:9] + b"\x80" + _packed(LogSeen(1, None, None, "t", None))[10:]
    ),
    "packed-log-answer-without-its-flag": _frame(
        _packed(LogSeen(1, None, None, "t", None))[:9] + bytes([1 << 6]) + _packed(LogSeen(1, None, None, "t", None))[10:]
    ),
    "packed-log-text-of-an-absent-target": _frame(
        _packed(LogSeen(1, "ab", None, "t", None))[:9] + b"\x00" + _packed(LogSeen(1, "ab", None, "t", None))[10:]
    ),
    "packed-log-cut-short": _frame(_packed(LogSeen(1, "target", "message", "t", "during"))[:-1]),
    "junk": bytes(range(256)),
}


@pytest.mark.parametrize("data", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_anything_else_is_a_frame_error(data: bytes) -> None:
    with pytest.raises(FrameError):
        EventStream(TOKEN).feed(data)


def test_good_events_before_a_bad_frame_survive_in_the_error() -> None:
    good = (CallStarted("process_packet", 1.0, "", "main", 1),)
    with pytest.raises(FrameError, match="token") as raised:
        EventStream(TOKEN).feed(frames_of(good) + BAD_FRAMES["no-token"])
    assert raised.value.decoded == list(good)


def test_a_chunk_of_many_frames_and_a_part_of_the_next_keeps_the_part_for_the_next_chunk() -> None:
    events = [Observed("n", number) for number in range(300)]
    data = frames_of((*events, ScenarioDone(frames=300)))
    cut = len(data) - 5
    stream = EventStream(TOKEN)
    assert stream.feed(data[:cut]) == events and not stream.completed
    assert stream.pending == len(data) - len(frames_of(events)) - 5  # the completion frame but its last 5 bytes
    assert stream.feed(data[cut:]) == [ScenarioDone(frames=300)] and stream.pending == 0 and stream.completed


def test_a_bad_frame_after_good_ones_in_the_same_chunk_is_left_alone_in_the_buffer() -> None:
    good = (Observed("a", 1), Observed("b", 2))
    stream = EventStream(TOKEN)
    with pytest.raises(FrameError, match="token") as raised:
        stream.feed(frames_of(good) + BAD_FRAMES["no-token"])
    assert raised.value.decoded == list(good) and stream.pending == len(BAD_FRAMES["no-token"])


def test_a_few_junk_bytes_at_the_end_of_the_stream_are_corruption() -> None:
    stream = EventStream(TOKEN)
    stream.feed(frames_of((Skipped("x"), ScenarioDone(frames=1))) + b"hi\n")
    with pytest.raises(FrameError, match="not a frame"):
        stream.end()


def test_a_frame_cut_short_after_a_good_header_is_a_death_not_corruption() -> None:
    stream = EventStream(TOKEN)
    stream.feed(frames_of((Skipped("x"),))[:-3])
    stream.end()


class _MakesAFile:
    """Unpickled by any default loader, this calls ``os.mkdir(path)``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.path,))


def test_a_pickle_with_the_right_token_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(FrameError, match="not an event"):
            EventStream(TOKEN).feed(_frame(pickle.dumps(_MakesAFile(str(marker)), protocol=protocol)))
    assert not marker.exists()


def _grammar_error(*events: Event, shared: bool = False) -> str:
    with pytest.raises(FrameError) as raised:
        EventStream(TOKEN, shared=shared).feed(frames_of(events))
    return str(raised.value)


def test_completion_must_count_the_frames_the_server_received() -> None:
    assert "counting 0 frames where the server received 1" in _grammar_error(Skipped("x"), ScenarioDone(frames=0))
    assert "counting 2 frames" in _grammar_error(Skipped("x"), ScenarioDone(frames=2))


def test_completion_inside_a_call_is_refused() -> None:
    call = CallStarted("process_packet", 1.0, "", "MainThread#1", 1)
    assert "while process_packet was in flight" in _grammar_error(call, ScenarioDone(frames=1))
    # A validator error may abandon a call: then the completion stands (the verdict is an error anyway).
    events = (call, HarnessError("TypeError: x"), ScenarioDone(frames=2))
    assert EventStream(TOKEN).feed(frames_of(events)) == list(events)


def test_after_completion_only_callback_reports_and_the_boundary() -> None:
    done = ScenarioDone(frames=0)
    late = (done, LogSeen(1, None, "late", "t", None), Violation("late-output", "x"), GuardRegion("alloc", "b", 1, 2, 2, 3, True))
    assert EventStream(TOKEN).feed(frames_of(late)) == list(late)
    assert "a Expect frame after the scenario's completion" in _grammar_error(done, Expect(True, "x"))
    assert "after the scenario's completion" in _grammar_error(done, ScenarioDone(frames=1))
    assert "after the scenario's completion" in _grammar_error(done, CallStarted("process_packet", 1.0))


def test_boundaries_only_in_shared_children_and_only_after_completion() -> None:
    boundary = ScenarioBoundary(0, 0, 1)
    assert "child that runs one scenario" in _grammar_error(ScenarioDone(), boundary)
    assert "before the scenario's completion" in _grammar_error(Skipped("x"), boundary, shared=True)


def test_stream_corrupted_is_never_accepted_from_a_child() -> None:
    with pytest.raises(FrameError, match="unexpected tag 'StreamCorrupted'"):
        EventStream(TOKEN).feed(frames_of((StreamCorrupted("x"),)))


@pytest.mark.parametrize(
    "event",
    [
        CallStarted("process_packet", 1.0, "library constructors", "MainThread#7", 7),
        CallFinished("process_packet", 0.25, "", "meta-3#9"),
        CallStarted("", float("inf"), "", "", 0),
        CallFinished("\u00e9\u4e16\U0001f600", -0.0, "r", "t"),
        GuardRegion("alloc", "alloc_audio buffer (960 samples)", 0x5000, 0x6000, 0x6000, 0x7000, True),
        GuardRegion("struct", "CNodeCallbacks struct", 0x10, 0x48, 0, 0, False),
        GuardRegion("input", "\u00e9", 0, 2**64 - 1, 2**64 - 1, 2**64 - 1, False),
    ],
)
def test_call_events_and_guard_regions_are_packed_and_come_back_equal(event: Event) -> None:
    payload = _packed(event)
    assert len(payload) < len(json.dumps(event.__dict__))
    assert EventStream(TOKEN).feed(_frame(payload)) == [event]


@pytest.mark.parametrize(
    "event",
    [
        CallStarted("\ud800", 1.0, "", "t", 1),  # a lone surrogate: UTF-8 cannot carry it, JSON can
        CallStarted("e", 1.0, "", "t", 2**70),  # an id past 64 bits
        CallStarted("e", 1, "", "t", 1),  # an int budget: JSON makes it a float, as the field declares
        CallFinished("e" * 70000, 1.0, "", "t"),  # a text past the 16-bit length
        GuardRegion("alloc", "b", -1, 2, 2, 3, True),  # no address is negative, but JSON carries it
        GuardRegion("alloc", "b", 1, 2**64, 2, 3, True),  # past 64 bits
        GuardRegion("alloc", "\ud800", 1, 2, 2, 3, True),  # a lone surrogate
    ],
)
def test_an_event_that_does_not_fit_the_packing_goes_as_json(event: Event) -> None:
    frame = encode_event(event, TOKEN, 0)
    assert frame[HEADER.size : HEADER.size + 1] == b"{"
    (decoded,) = EventStream(TOKEN).feed(frame)
    assert decoded == event


_maybe_text = st.none() | st.text()


@settings(max_examples=80, deadline=None)
@given(
    level=st.integers(-(2**63), 2**63 - 1),
    target=_maybe_text,
    message=_maybe_text,
    thread=st.text(),
    during=_maybe_text,
    after_destroy=st.booleans(),
    enabled_query=st.booleans(),
    answer=st.none() | st.booleans(),
)
def test_a_log_is_packed_when_its_texts_fit_and_comes_back_equal(
    level: int,
    target: str | None,
    message: str | None,
    thread: str,
    during: str | None,
    after_destroy: bool,
    enabled_query: bool,
    answer: bool | None,
) -> None:
    log = LogSeen(level, target, message, thread, during, after_destroy, enabled_query, answer)
    frame = encode_event(log, TOKEN, 0)
    texts = [text for text in (target, message, thread, during) if text is not None]
    fits = all(not any(0xD800 <= ord(c) <= 0xDFFF for c in text) for text in texts)
    assert (frame[HEADER.size] == 4) is fits
    assert EventStream(TOKEN).feed(frame) == [log]


def test_a_packed_call_event_is_not_a_result() -> None:
    with pytest.raises(FrameError, match="packed CallStarted"):
        decode_result(_packed(CallStarted("e", 1.0, "", "t", 1)))


def test_a_value_json_cannot_carry_fails_in_the_child() -> None:
    with pytest.raises(TypeError):
        encode_event(Observed("raw", b"bytes"), TOKEN, 0)


def test_a_result_round_trips_with_its_events_call_and_outcome() -> None:
    call = CallStarted("process_packet", 1.0, "x", "MainThread#1", 1)
    result = SandboxResult(
        Outcome.CRASHED,
        (*EVERY_EVENT, StreamCorrupted("bad frame")),
        0.5,
        "detail",
        signal_number=11,
        signal_name="SIGSEGV",
        in_flight=call,
        budget_extensions=(0.25, 1.0),
    )
    assert decode_result(encode_result(result)) == result
    assert decode_result(encode_result(SandboxResult(Outcome.COMPLETED, (), 0.0))).in_flight is None


def test_the_solo_process_hands_back_checked_json_and_a_pickle_there_is_refused(tmp_path: Path) -> None:
    """Under valgrind the plugin runs in the process that writes the result file: the file is decoded strictly."""
    request_file, result_file = tmp_path / "request", tmp_path / "result"
    request_file.write_bytes(pickle.dumps(ScenarioRequest("selftest.events", "/x")))
    command = [sys.executable, "-m", "conformance.sandbox.solo", str(request_file), str(result_file)]
    subprocess.run(command, check=True, timeout=120)
    result = decode_result(result_file.read_bytes())
    assert result.outcome is Outcome.COMPLETED and Observed("answer", 42) in result.events
    marker = tmp_path / "ran"
    with pytest.raises(FrameError):
        decode_result(pickle.dumps(_MakesAFile(str(marker))))
    assert not marker.exists()


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON_VALUES)
def test_the_encoder_made_once_writes_what_json_dumps_writes(value: Any) -> None:
    """Frames are encoded by one C encoder built at import (``_compact_json``); its text is ``json.dumps``'s
    with the compact separators, NaN and infinities included, non-ASCII escaped."""
    assert _compact_json(value) == json.dumps(value, separators=(",", ":"))


def test_the_encoder_made_once_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="bytes is not JSON serializable"):
        _compact_json({"data": b"\x00"})
