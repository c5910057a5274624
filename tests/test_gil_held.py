"""Reads of plugin memory and event frames give the same bytes and errors whether or not other Python threads run.

With other threads, ``SafeMemory`` and ``EventWriter`` call libc's ``pread`` and ``write`` without
letting go of the GIL (``conformance.host.gil_held``); with one thread they use ``os.pread`` and
``os.write``. The tests that read or write run both ways.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading

import pytest

from conformance.host import gil_held
from conformance.host.gil_held import pread_exact, several_threads, write_all
from conformance.host.memory import SafeMemory, UnreadableMemory
from conformance.sandbox.event_codec import EventStream, EventWriter
from conformance.scenario.events import CallFinished, CallStarted, Event, Observed, ScenarioDone

TOKEN = b"t" * 16


@pytest.fixture(params=[False, True], ids=["os calls", "gil held"])
def threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Each path forced: whether other Python threads are alive depends on the runner (xdist has some)."""
    held: bool = request.param
    monkeypatch.setattr(gil_held, "several_threads", lambda: held)
    return held


def test_reads_are_the_same_either_way(threads: bool) -> None:
    text = ctypes.create_string_buffer(b"kind\0" + b"x" * 5000 + b"\0")
    address = ctypes.addressof(text)
    memory = SafeMemory()
    assert memory.read(address, 4) == b"kind"
    assert memory.read_cstring(address) == b"kind"
    assert memory.read_cstring(address + 5) == b"x" * 5000  # crosses pages and read chunks
    assert memory.read_u64(address) == int.from_bytes(b"kind\0xxx", "little")


def test_unmapped_memory_is_unreadable_either_way(threads: bool) -> None:
    region = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(region))
    region.close()  # the two pages are unmapped now
    memory = SafeMemory()
    with pytest.raises(UnreadableMemory):
        memory.read(base, 8)
    assert not memory.readable(base)
    with pytest.raises(UnreadableMemory):
        memory.read(0x10, 8)


def test_pread_exact_reports_a_short_read_as_none(threads: bool) -> None:
    fd = os.open("/proc/self/mem", os.O_RDONLY)
    try:
        data = ctypes.create_string_buffer(b"abcdef")
        assert pread_exact(fd, 6, ctypes.addressof(data)) == b"abcdef"
        assert pread_exact(fd, 8, 0x10) is None
    finally:
        os.close(fd)


def test_write_all_raises_as_os_write_does(threads: bool) -> None:
    read_end, write_end = os.pipe()
    write_all(write_end, b"frame")
    assert os.read(read_end, 16) == b"frame"
    os.close(read_end)
    with pytest.raises(BrokenPipeError):
        write_all(write_end, b"frame")
    os.close(write_end)
    with pytest.raises(OSError):
        write_all(write_end, b"frame")


def test_frames_decode_the_same_either_way(threads: bool) -> None:
    read_end, write_end = os.pipe()
    events: list[Event] = [
        CallStarted("get_metadata", 0.5, "", "MainThread#1", 1),
        CallFinished("get_metadata", 0.001, "ok", "MainThread#1"),
        Observed("metadata_pointer", "0x1000"),
        ScenarioDone(),
    ]
    writer = EventWriter(write_end, TOKEN)
    for event in events:
        writer(event)
    os.close(write_end)
    stream = EventStream(TOKEN)
    with os.fdopen(read_end, "rb") as pipe:
        decoded = stream.feed(pipe.read())
    assert [type(event) for event in decoded] == [type(event) for event in events]
    assert decoded[:3] == events[:3]


def test_several_threads_sees_a_second_thread() -> None:
    release = threading.Event()
    idle = threading.Thread(target=release.wait, name="idle")
    idle.start()
    try:
        assert several_threads()
    finally:
        release.set()
        idle.join()
