"""Per-call callback bundles and the host callbacks behind them (ABI.md 4.12-4.16, 8.4, 8.6).

Every plugin call that takes a ``CNodeCallbacks`` gets a fresh ``CallFrame``.
Its user-data fields carry a token, not a Python object, so a plugin that
stashes the bundle and calls it after the call returned (or passes garbage)
is recognised and recorded instead of crashing the host. Callbacks never
raise across C: the first problem is recorded and a valid ``CResult`` is
returned.

The plugin gets the native guard's trampolines (``conformance.host.native_guard``)
rather than the cffi callbacks themselves: they count concurrent calls into one
bundle before the interpreter lock is taken, and ``close_frame`` turns an
overlap into a ``callbacks.concurrent`` violation. Without a C compiler the
Python lock of each frame is the fallback (it sees only overlaps the GIL lets
through).

Tokens are unique for the life of the process, not per ``HostCallbacks``: in a
shared child a bundle stashed by an earlier scenario is then recognised as
late, never mistaken for a live bundle of the next one.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.abi import ffi
from conformance.abi.layout import CALLBACK_FIELD_END
from conformance.host.guarded import guarded_buffer
from conformance.host.logs import current_call
from conformance.host.memory import UnreadableMemory, safe_memory
from conformance.host.native_guard import NativeGuard, native_guard, unavailable_reason
from conformance.host.per_scenario import PerScenario
from conformance.host.wire import WireError, decode_packet_with_handles
from conformance.scenario.context import thread_label
from conformance.scenario.events import Event, Violation

_TOKEN_BASE = 0x5C0F_0000_0000
_HANDLE_BASE = 0x5CA1_0000_0000
_BINARY_HANDLE_BASE = 0x5CB1_0000_0000
_tokens = itertools.count(1)  # process-wide: see the module docstring


@dataclass
class Emitted:
    """One packet the plugin passed to the output callback, decoded or rejected."""

    pin: str | None
    packet: Any = None  # conformance.host.packets.Packet when decoded
    error: str | None = None
    packet_type: int | None = None
    pool_handle: int | None = None
    binary_handle: int | None = None
    forwarded: bool = False
    thread: str = ""


@dataclass
class TelemetryEvent:
    event_type: str | None
    payload: Any
    problem: str | None
    thread: str


@dataclass
class PoolBuffer:
    """A buffer handed out by alloc_video/alloc_audio, followed until it is sent or freed."""

    handle: int
    kind: str  # "video" or "audio"
    address: int
    length: int  # bytes for video, samples for audio
    frame_id: int
    storage: Any
    state: str = "issued"  # issued, sent, freed


@dataclass
class CallFrame:
    """The per-call context behind one ``CNodeCallbacks`` bundle."""

    token: int
    entry: str
    struct_size: int
    thread: str
    declared_outputs: frozenset[str] | None
    fail_outputs: bool = False
    alloc_null: bool = False
    active: bool = True
    outputs: list[Emitted] = field(default_factory=list)
    telemetry: list[TelemetryEvent] = field(default_factory=list)
    pool: list[PoolBuffer] = field(default_factory=list)
    foreign_threads: set[str] = field(default_factory=set)
    in_callback: threading.Lock = field(default_factory=threading.Lock)
    cdata: Any = None

    def field_present(self, name: str) -> bool:
        return self.struct_size >= CALLBACK_FIELD_END[name]


class HostCallbacks:
    """The process-wide cffi callbacks and the registry of frames and pool buffers."""

    def __init__(self, emit: Callable[[Event], None]) -> None:
        f = ffi()
        self.emit = emit
        # Only live state is kept: a child may make thousands of calls (the leak checks measure its heap).
        self.frames: dict[int, CallFrame] = {}
        self.buffers: dict[int, PoolBuffer] = {}
        self.released: dict[int, str] = {}
        self.binary_handles: dict[int, str] = {}
        self._last_token = 0
        self._handles = itertools.count(1)
        self.output = f.callback("COutputCallback", self._on_output)
        self.telemetry = f.callback("CTelemetryCallback", self._on_telemetry)
        self.alloc_video = f.callback("CAllocVideoFn", self._on_alloc_video)
        self.alloc_audio = f.callback("CAllocAudioFn", self._on_alloc_audio)
        self.free = f.callback("CFreeFn", self._on_free)
        self.binary_free = f.callback("CFreeFn", self._on_binary_free)
        self.lock = threading.Lock()
        self.guard: NativeGuard | None = native_guard()
        # What the bundles point at: the guard's trampolines (forwarding to the callbacks above) when it loaded.
        self.entry_output, self.entry_telemetry = self.output, self.telemetry
        self.entry_alloc_video, self.entry_alloc_audio = self.alloc_video, self.alloc_audio
        if self.guard is not None:
            guard = self.guard
            targets = (self.output, self.telemetry, self.alloc_video, self.alloc_audio)
            guard.set_bundle_targets(*(_address(target) for target in targets))
            self.entry_output = f.cast("COutputCallback", guard.address("skg_output"))
            self.entry_telemetry = f.cast("CTelemetryCallback", guard.address("skg_telemetry"))
            self.entry_alloc_video = f.cast("CAllocVideoFn", guard.address("skg_alloc_video"))
            self.entry_alloc_audio = f.cast("CAllocAudioFn", guard.address("skg_alloc_audio"))

    @property
    def guard_problem(self) -> str:
        """Why overlaps are seen only through the Python lock ("" when the native guard is on)."""
        return "" if self.guard is not None else (unavailable_reason() or "the native callback guard is not loaded")

    # -- frames -------------------------------------------------------------

    def open_frame(
        self,
        entry: str,
        *,
        struct_size: int = 64,
        telemetry: bool = True,
        alloc: bool = True,
        declared_outputs: frozenset[str] | None = None,
        fail_outputs: bool = False,
        alloc_null: bool = False,
    ) -> CallFrame:
        f = ffi()
        token = _TOKEN_BASE + next(_tokens)
        self._last_token = token
        frame = CallFrame(token, entry, struct_size, thread_label(), declared_outputs, fail_outputs, alloc_null)
        bundle = f.new("CNodeCallbacks *")
        bundle.struct_size = struct_size
        user_data = f.cast("void *", token)
        bundle.output_callback = self.entry_output
        bundle.output_user_data = user_data
        if telemetry:
            bundle.telemetry_callback = self.entry_telemetry
        bundle.telemetry_user_data = user_data
        if alloc:
            bundle.alloc_video = self.entry_alloc_video
            bundle.alloc_audio = self.entry_alloc_audio
        bundle.alloc_user_data = user_data
        frame.cdata = bundle
        self.frames[token] = frame
        if self.guard is not None:
            self.guard.open(token, threading.get_native_id())
        return frame

    def close_frame(self, frame: CallFrame) -> None:
        """The call returned: its token becomes dead (tokens are sequential, so no record is kept).

        The guard's slot says whether two threads were inside the bundle's callbacks at once.
        """
        frame.active = False
        self.frames.pop(frame.token, None)
        overlap = self.guard.close(frame.token) if self.guard is not None else None
        if overlap is not None:
            self.emit(Violation("callbacks.concurrent", overlap.describe(frame.entry), frame.entry))

    def _frame(self, user_data: Any, callback: str) -> CallFrame | None:
        token = int(ffi().cast("uintptr_t", user_data))
        frame = self.frames.get(token)
        if frame is None and _TOKEN_BASE < token <= self._last_token:
            self.emit(
                Violation(
                    "callbacks.late",
                    f"{callback} called after the call it was passed to returned (the bundle is dead; "
                    "a use-after-free in the real host)",
                    current_call(),
                )
            )
            return None
        if frame is None:
            self.emit(
                Violation(
                    "callbacks.user-data",
                    f"{callback} called with user_data 0x{token:x}, which the host never passed",
                    current_call(),
                )
            )
            return None
        if not frame.active:
            self.emit(
                Violation(
                    "callbacks.late",
                    f"{callback} called after {frame.entry} returned (the bundle is dead; "
                    "a use-after-free in the real host)",
                    current_call(),
                )
            )
            return None
        here = thread_label()
        if here != frame.thread:
            frame.foreign_threads.add(here)
        return frame

    # -- output -------------------------------------------------------------

    def _on_output(self, pin_name: Any, packet: Any, user_data: Any) -> Any:
        f = ffi()
        failure = f.new("CResult *")[0]
        frame = self._frame(user_data, "output_callback")
        if frame is None:
            return failure
        if self.guard is not None:
            # The native guard has counted any overlap before the GIL; here the calls are only serialised,
            # so the packet is still taken (as the real host would) and no other check fails on a refusal.
            frame.in_callback.acquire()
        elif not frame.in_callback.acquire(blocking=False):
            self.emit(
                Violation("callbacks.concurrent", "output_callback called concurrently from two threads", frame.entry)
            )
            return failure
        try:
            emitted = self._decode_output(frame, pin_name, packet)
            frame.outputs.append(emitted)
            if emitted.error is not None:
                # Always on: whichever scenario sent the input, the emitted packet breaks ABI.md 4.12/5/8.6.
                where = f" on pin {emitted.pin!r}" if emitted.pin is not None else ""
                self.emit(Violation("wire-out.convert", f"emitted{where}: {emitted.error}", frame.entry))
            if emitted.error is not None or frame.fail_outputs:
                return failure
            ok = f.new("CResult *")[0]
            ok.success = True
            return ok
        finally:
            frame.in_callback.release()

    def _decode_output(self, frame: CallFrame, pin_name: Any, packet: Any) -> Emitted:
        f = ffi()
        here = thread_label()
        if pin_name == f.NULL or packet == f.NULL:
            which = "pin_name" if pin_name == f.NULL else "packet"
            return Emitted(None, error=f"output_callback called with a NULL {which}", thread=here)
        try:
            raw_pin = safe_memory().read_cstring(int(f.cast("uintptr_t", pin_name)))
        except UnreadableMemory as error:
            return Emitted(None, error=f"Invalid pin name: {error}", thread=here)
        try:
            pin = raw_pin.decode("utf-8")
        except UnicodeDecodeError as error:
            return Emitted(None, error=f"Invalid pin name: Invalid UTF-8: {error}", thread=here)

        try:
            packet_type = int(f.cast("CPacket *", packet).packet_type)
        except Exception:  # noqa: BLE001 - unreadable packet struct; the decoder reports it
            packet_type = None
        try:
            decoded = decode_packet_with_handles(packet, resolve_pool_buffer=self.resolve_pool_buffer)
        except WireError as error:
            return Emitted(
                pin, error=f"Failed to convert packet: {error.message}", packet_type=packet_type, thread=here
            )
        emitted = Emitted(
            pin,
            decoded.packet,
            None,
            packet_type,
            decoded.pool_handle,
            decoded.binary_handle,
            decoded.forwarded,
            here,
        )
        if decoded.pool_handle is not None:
            self._take_pool_buffer(frame, decoded.pool_handle)
        if decoded.binary_handle is not None and not decoded.forwarded:
            self.emit(
                Violation(
                    "wire-out.binary-handle",
                    f"emitted BinaryWithMeta carries buffer_handle 0x{decoded.binary_handle:x}; plugins must "
                    "send NULL (the host would treat it as a Rust Bytes object)",
                    frame.entry,
                )
            )
        return emitted

    # -- pool buffers -----------------------------------------------------

    def resolve_pool_buffer(self, handle: int) -> tuple[int, int] | None:
        buffer = self.buffers.get(handle)
        if buffer is None:
            return None
        return buffer.address, buffer.length

    def _release(self, buffer: PoolBuffer) -> None:
        """A buffer came back: forget its memory, remember only how it ended."""
        self.buffers.pop(buffer.handle, None)
        self.released[buffer.handle] = buffer.state

    def _take_pool_buffer(self, frame: CallFrame, handle: int) -> None:
        buffer = self.buffers.get(handle)
        if buffer is None and handle in self.released:
            self.emit(
                Violation(
                    "pool.reused-handle",
                    f"pool buffer 0x{handle:x} sent after it was already {self.released[handle]}",
                    frame.entry,
                )
            )
            return
        if buffer is None:
            self.emit(
                Violation(
                    "pool.unknown-handle",
                    f"frame carries buffer_handle 0x{handle:x}, never issued by the host",
                    frame.entry,
                )
            )
            return
        buffer.state = "sent"
        self._release(buffer)

    def _allocate(self, frame: CallFrame, kind: str, count: int, element: str) -> PoolBuffer | None:
        if count <= 0 or count > (256 << 20):
            return None

        unit = "samples" if kind == "audio" else "bytes"
        storage, address = guarded_buffer(
            count * ffi().sizeof(element),
            element_size=ffi().sizeof(element),
            label=f"alloc_{kind} buffer ({count} {unit})",
        )
        handle = _HANDLE_BASE + next(self._handles)
        buffer = PoolBuffer(handle, kind, address, count, frame.token, storage)
        self.buffers[handle] = buffer
        frame.pool.append(buffer)
        return buffer

    def _on_alloc_video(self, min_bytes: int, user_data: Any) -> Any:
        result, buffer = self._alloc_result("CAllocVideoResult *", user_data, "video", int(min_bytes), "uint8_t", 48)
        if buffer is not None:
            result.len = buffer.length
        return result

    def _on_alloc_audio(self, min_samples: int, user_data: Any) -> Any:
        result, buffer = self._alloc_result("CAllocAudioResult *", user_data, "audio", int(min_samples), "float", 56)
        if buffer is not None:
            result.sample_count = buffer.length
        return result

    def _alloc_result(
        self, result_type: str, user_data: Any, kind: str, count: int, element: str, min_struct_size: int
    ) -> tuple[Any, PoolBuffer | None]:
        """The shared body of alloc_video and alloc_audio: the zeroed result struct, filled but for its length
        field when a buffer was allocated (the caller sets that field, whose name differs)."""
        f = ffi()
        result = f.new(result_type)[0]
        entry = f"alloc_{kind}"
        frame = self._frame(user_data, entry)
        if frame is None:
            return result, None
        if not frame.field_present(entry):
            self.emit(
                Violation(
                    "callbacks.struct-size",
                    f"{entry} called although struct_size is {frame.struct_size} (< {min_struct_size})",
                    frame.entry,
                )
            )
        if frame.alloc_null:
            return result, None
        buffer = self._allocate(frame, kind, count, element)
        if buffer is None:
            return result, None
        result.data = f.cast(f"{element} *", buffer.address)
        result.handle = f.cast("void *", buffer.handle)
        result.free_fn = self.free
        return result, buffer

    def _on_free(self, handle: Any) -> None:
        value = int(ffi().cast("uintptr_t", handle))
        with self.lock:
            buffer = self.buffers.get(value)
            if buffer is None and value in self.released:
                self.emit(
                    Violation(
                        "pool.double-release",
                        f"pool buffer 0x{value:x} released after it was already {self.released[value]}",
                        current_call(),
                    )
                )
                return
            if buffer is None:
                self.emit(
                    Violation(
                        "pool.unknown-handle",
                        f"free_fn called with 0x{value:x}, never issued by the host",
                        current_call(),
                    )
                )
                return
            buffer.state = "freed"
            self._release(buffer)

    def outstanding(self, frame_tokens: set[int] | None = None) -> list[PoolBuffer]:
        return [
            buffer
            for buffer in self.buffers.values()
            if buffer.state == "issued" and (frame_tokens is None or buffer.frame_id in frame_tokens)
        ]

    def mark_leaked(self, buffer: PoolBuffer) -> None:
        buffer.state = "leaked"
        self._release(buffer)

    # -- v9 binary handles the harness delivers -----------------------------

    def new_binary_handle(self, label: str) -> tuple[Any, Any]:
        """A sentinel ``buffer_handle`` and the recording free function for a delivered packet."""
        value = _BINARY_HANDLE_BASE + next(self._handles)
        self.binary_handles[value] = "issued"
        return ffi().cast("void *", value), self.binary_free

    def _on_binary_free(self, handle: Any) -> None:
        value = int(ffi().cast("uintptr_t", handle))
        state = self.binary_handles.get(value)
        if state is None:
            self.emit(
                Violation(
                    "binary.unknown-handle", f"binary free_fn called with 0x{value:x}, never issued", current_call()
                )
            )
        elif state != "issued":
            self.emit(Violation("binary.double-release", f"binary buffer 0x{value:x} released twice", current_call()))
        else:
            self.binary_handles[value] = "freed-by-plugin"

    def host_release_binary(self, value: int) -> None:
        """After the call: the host frees a handle the plugin left in the struct (ABI.md 4.16 rule 1)."""
        state = self.binary_handles.get(value)
        if state == "issued":
            self.binary_handles[value] = "freed-by-host"
        elif state is not None:
            self.emit(
                Violation(
                    "binary.double-release",
                    "the plugin released the binary handle with free_fn but left it in buffer_handle; "
                    "the host releases it again (double free)",
                    current_call(),
                )
            )

    # -- telemetry ----------------------------------------------------------

    def _on_telemetry(self, event_type: Any, data_json: Any, data_len: int, metadata: Any, user_data: Any) -> Any:
        f = ffi()
        ok = f.new("CResult *")[0]
        ok.success = True
        frame = self._frame(user_data, "telemetry_callback")
        if frame is None:
            return ok
        if not frame.field_present("telemetry_callback"):
            self.emit(
                Violation(
                    "callbacks.struct-size",
                    f"telemetry_callback called although struct_size is {frame.struct_size} (< 32)",
                    frame.entry,
                )
            )
        problem: str | None = None
        name: str | None = None
        payload: Any = {}
        memory = safe_memory()
        if event_type == f.NULL:
            problem = "event_type is NULL"
        else:
            try:
                name = memory.read_cstring(int(f.cast("uintptr_t", event_type))).decode("utf-8")
            except (UnreadableMemory, UnicodeDecodeError) as error:
                problem = f"event_type: {error}"
        if problem is None and data_json != f.NULL and data_len:
            try:
                raw = memory.read(int(f.cast("uintptr_t", data_json)), int(data_len))
                payload = json.loads(raw.decode("utf-8"))
            except (UnreadableMemory, UnicodeDecodeError, ValueError) as error:
                problem = f"data_json is not {int(data_len)} bytes of JSON: {error}"
        if problem is None and metadata != f.NULL:
            try:
                raw_meta = memory.read(int(f.cast("uintptr_t", metadata)), 48)
                for offset in (8, 24, 40):
                    if raw_meta[offset] > 1:
                        problem = f"metadata bool at offset {offset} is {raw_meta[offset]}, not 0 or 1"
            except UnreadableMemory as error:
                problem = f"metadata: {error}"
        frame.telemetry.append(TelemetryEvent(name, payload, problem, thread_label()))
        return ok


_callbacks: PerScenario[HostCallbacks] = PerScenario(HostCallbacks)


def _address(callback: Any) -> int:
    return int(ffi().cast("uintptr_t", callback))


def host_callbacks(emit: Callable[[Event], None]) -> HostCallbacks:
    return _callbacks.get(emit)


def retire_host_callbacks() -> None:
    """The next scenario of a shared child gets fresh callbacks; the old cffi callbacks stay alive,
    because a plugin may still hold their pointers."""
    _callbacks.retire()
