"""The host's always-on monitors of issue 15 that need no plugin: dead stack, data-symbol extents, BinaryWithMeta len.

The end-to-end evidence is in the corpus (c_stack_message, c_count_overrun,
c_binary_len40); these pin the building blocks on memory of this process.
"""

from __future__ import annotations

import cffi
import pytest

from conformance.fixtures import build_fixtures
from conformance.host.extents import _symbols, data_object_at
from conformance.host.stack import _stack, in_dead_stack
from conformance.host.wire import binary_meta_len_message, observe_sender


def test_an_address_below_the_live_frames_is_dead_stack() -> None:
    probe = _stack().live_frames_start()
    assert probe != 0
    assert in_dead_stack(probe - 512)


def test_heap_static_and_null_pointers_are_not_dead_stack() -> None:
    ffi = cffi.FFI()
    heap = ffi.new("char[]", b"message")
    assert not in_dead_stack(int(ffi.cast("uintptr_t", heap)))
    assert not in_dead_stack(0)
    bounds = _stack().bounds()
    assert bounds is not None
    low, high, _ = bounds
    assert not in_dead_stack(low - 4096)
    assert not in_dead_stack(high + 4096)


def test_a_sized_data_symbol_of_a_loaded_library_is_found() -> None:
    ffi = cffi.FFI()
    ffi.cdef("extern char **environ;")
    libc = ffi.dlopen(None)
    address = int(ffi.cast("uintptr_t", ffi.addressof(libc, "environ")))  # type: ignore[arg-type]  # cffi stubs lack the library form
    found = data_object_at(address)
    assert found is not None and found.size == 8 and "environ" in found.name
    assert found.room_after(address) == 8


def test_heap_memory_has_no_data_symbol() -> None:
    ffi = cffi.FFI()
    block = ffi.new("char[]", 64)
    assert data_object_at(int(ffi.cast("uintptr_t", block))) is None


def test_the_symbol_table_of_a_c_fixture_sizes_its_static_arrays() -> None:
    """Read from the file only (the fixture is never loaded into this process)."""
    built = build_fixtures(["c_count_overrun"])
    starts, objects, _ = _symbols(str(built["c_count_overrun"]))
    sizes = {name: size for _, size, name in objects}
    assert sizes["CATEGORIES"] == 16 and sizes["KEYWORDS"] == 16
    assert list(starts) == sorted(starts)


@pytest.mark.parametrize(("length", "ok"), [(32, True), (48, True), (64, True), (0, False), (24, False), (40, False)])
def test_binary_with_meta_len_is_32_or_at_least_48(length: int, ok: bool) -> None:
    message = binary_meta_len_message(length)
    assert (message is None) is ok
    if message is not None:
        assert f"len is {length}" in message


def test_sender_observers_are_scoped_to_the_call() -> None:
    seen: list[tuple[str, str]] = []
    with observe_sender(lambda rule, detail: seen.append((rule, detail))):
        from conformance.host import wire

        wire._sender_breach("wire-out.binary-meta-len", "x")
    wire._sender_breach("wire-out.binary-meta-len", "after")
    assert seen == [("wire-out.binary-meta-len", "x")]
