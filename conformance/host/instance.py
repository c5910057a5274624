"""Plugin instances driven as the host drives them (ABI.md 4.3-4.11, HOST.md 1.3-1.8).

``Instance`` owns one handle: it is destroyed exactly once, whatever fails
after create (``instance_guard``). Every call copies the plugin's error string
immediately (ABI.md 4.1: it is only valid until the next call on the thread),
reads bool bytes raw so a value other than 0 or 1 is reported rather than
misread, and gets a fresh callback bundle that is invalidated when it returns.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conformance.abi import ffi
from conformance.host.callbacks import CallFrame, HostCallbacks, host_callbacks
from conformance.host.errors import HarnessMisuse
from conformance.host.guarded import announce_struct, protect_inputs
from conformance.host.logs import log_bridge, set_current_call
from conformance.host.memory import copy_text
from conformance.host.stack import in_dead_stack
from conformance.host.wire import observe_sender
from conformance.scenario.events import Event, Violation

if TYPE_CHECKING:
    from conformance.host.loader import LoadedPlugin
    from conformance.host.wire import EncodedPacket


_PROTECTED = object()  # marks an EncodedPacket whose payload already lives in read-only pages


@dataclass
class CallResult:
    """What one CResult-returning call gave back, copied out at once."""

    entry: str
    success_byte: int
    message: str | None
    message_problem: str | None = None
    frame: CallFrame | None = None
    done_byte: int | None = None
    schema: str | None = None
    schema_problem: str | None = None
    message_address: int = 0
    schema_address: int = 0

    @property
    def success(self) -> bool:
        return self.success_byte == 1

    @property
    def bool_ok(self) -> bool:
        bytes_ = [self.success_byte] + ([self.done_byte] if self.done_byte is not None else [])
        return all(value in (0, 1) for value in bytes_)

    @property
    def done(self) -> bool:
        return self.done_byte == 1

    @property
    def outputs(self) -> list[Any]:
        return self.frame.outputs if self.frame is not None else []

    def describe(self) -> str:
        if not self.bool_ok:
            return f"success byte {self.success_byte} (not 0 or 1)"
        if self.success:
            return "ok"
        return f"error: {self.message!r}" if self.message is not None else "error with NULL message"


@dataclass(frozen=True)
class SourceConfig:
    is_source_byte: int
    tick_interval_us: int
    max_ticks: int

    @property
    def is_source(self) -> bool:
        return self.is_source_byte == 1


def _copy_string(pointer: Any) -> tuple[str | None, str | None]:
    """(text, problem) of a borrowed C string; copied now, before any other call."""
    f = ffi()
    return copy_text(0 if pointer == f.NULL else int(f.cast("uintptr_t", pointer)))


#: The problem of a string that points into the stack frame that just returned: its bytes are whatever the
#: host's own calls left there, so they are not reported as the plugin's text.
DEAD_STACK = "points into the stack frame that just returned (a local buffer, dead once the call returned)"


def _copy_borrowed(pointer: Any) -> tuple[str | None, str | None]:
    """``_copy_string`` for a string returned by a call that just returned: a dead stack pointer is no text."""
    if in_dead_stack(_address(pointer)):
        return None, DEAD_STACK
    return _copy_string(pointer)


def _address(pointer: Any) -> int:
    return int(ffi().cast("uintptr_t", pointer))


def watch_result_strings(emit: Callable[[Event], None], result: CallResult, field_name: str, address: int) -> None:
    """The host's always-on monitor of returned strings (ABI.md 3.3, 4.1).

    ``errors.message-on-success``: ``error_message`` must be NULL when the
    call succeeded. ``errors.message-stack``: a borrowed string must outlive
    the call, so it can never point into the stack frame that just returned.
    """
    if address == 0:
        return
    if field_name == "error_message" and result.success_byte == 1:
        emit(
            Violation(
                "errors.message-on-success",
                f"{result.entry} returned success with error_message 0x{address:x} ({result.message!r}); "
                "ABI.md 3.3: it is NULL on success",
                result.entry,
            )
        )
    if in_dead_stack(address):
        emit(
            Violation(
                "errors.message-stack",
                f"{result.entry} returned {field_name} 0x{address:x}, inside the stack frame that just returned "
                "(a local buffer): the string is dead before the host copies it",
                result.entry,
            )
        )


def _raw_byte(struct_value: Any, field_name: str) -> int:
    """The field's byte as the plugin left it (a ``bool`` field would read any non-zero byte as 1)."""
    f = ffi()
    ctype = f.typeof(struct_value)
    offset = _FIELD_OFFSETS.get((ctype, field_name))
    if offset is None:  # ffi.addressof(value, field) re-resolves the field each time: 5x the cost of this
        offset = _FIELD_OFFSETS[(ctype, field_name)] = f.offsetof(ctype, field_name)
    return int(f.cast("uint8_t *", f.addressof(struct_value))[offset])


_FIELD_OFFSETS: dict[tuple[Any, str], int] = {}


def _params_bytes(params: str | bytes | dict[str, Any] | None) -> bytes | None:
    if params is None or isinstance(params, bytes):
        return params
    if isinstance(params, dict):
        return json.dumps(params, separators=(",", ":")).encode()
    return params.encode()


@dataclass
class Instance:
    """One live plugin handle."""

    plugin: LoadedPlugin
    handle: Any
    label: str
    destroyed: bool = False
    keepalive: list[Any] = field(default_factory=list)
    frame_tokens: set[int] = field(default_factory=set)

    # -- creation -------------------------------------------------------------

    @classmethod
    def create(
        cls,
        plugin: LoadedPlugin,
        params: str | bytes | dict[str, Any] | None = None,
        *,
        install_setter: bool = True,
        silent_log: bool = False,
        log_user_data: Any = None,
        label: str = "",
    ) -> Instance | None:
        """create_instance (+ the v9 setter, as the host does right after); None on a NULL handle."""
        f = ffi()
        bridge = log_bridge(plugin.ctx.emit)
        raw = _params_bytes(params)
        c_params = f.NULL if raw is None else f.new("char[]", raw)
        log_cb = bridge.silent_log_callback if silent_log else bridge.log_callback
        user_data = f.NULL if log_user_data is None else log_user_data
        shown = "NULL" if raw is None else repr(raw.decode("utf-8", "replace"))[:80]
        handle = _traced(
            plugin, "create_instance", plugin.api.create_instance, c_params, log_cb, user_data, detail=f"params {shown}"
        )
        if handle == f.NULL:
            return None
        instance = cls(plugin, handle, label or shown)
        bridge.state.live_instances += 1
        try:
            if install_setter and plugin.has_setter and plugin.ctx.host_version >= 9:
                _traced(plugin, "set_log_enabled_callback", plugin.setter, handle, bridge.enabled_callback, f.NULL)
        except BaseException:
            instance.destroy()
            raise
        return instance

    # -- calls ---------------------------------------------------------------

    def _require_alive(self, entry: str) -> None:
        if self.destroyed:
            raise HarnessMisuse(f"{entry} called on a destroyed instance")

    def _callbacks(self) -> HostCallbacks:
        return host_callbacks(self.plugin.ctx.emit)

    def _frame(self, entry: str, **options: Any) -> CallFrame:
        declared = None
        if self.plugin._metadata is not None and self.plugin._metadata.metadata is not None:
            declared = frozenset(pin.name for pin in self.plugin._metadata.metadata.outputs)
        frame = self._callbacks().open_frame(entry, declared_outputs=declared, **options)
        self.frame_tokens.add(frame.token)
        f = ffi()
        announce_struct("CNodeCallbacks struct", int(f.cast("uintptr_t", frame.cdata)), f.sizeof("CNodeCallbacks"))
        return frame

    def _result(self, entry: str, value: Any, frame: CallFrame | None) -> CallResult:
        message, problem = _copy_borrowed(value.error_message)
        result = CallResult(entry, _raw_byte(value, "success"), message, problem, frame)
        result.message_address = _address(value.error_message)
        watch_result_strings(self.plugin.ctx.emit, result, "error_message", result.message_address)
        return result

    def process(
        self,
        pin: str | bytes | None,
        packet: EncodedPacket | None,
        *,
        detail: str = "",
        null_callbacks: bool = False,
        null_handle: bool = False,
        **frame_options: Any,
    ) -> CallResult:
        self._require_alive("process_packet")
        f = ffi()
        c_pin = f.NULL if pin is None else f.new("char[]", pin.encode() if isinstance(pin, str) else pin)
        c_packet = f.NULL if packet is None else packet.ptr
        if packet is not None and not any(item is _PROTECTED for item in packet.keepalive):
            # Host-owned input is const: a plugin writing into it faults inside this call.
            packet.keepalive.extend(protect_inputs(packet))
            packet.keepalive.append(_PROTECTED)
        frame = self._frame("process_packet", **frame_options)
        callbacks = f.NULL if null_callbacks else frame.cdata
        handle = f.NULL if null_handle else self.handle
        try:
            value = _traced(
                self.plugin,
                "process_packet",
                self.plugin.api.process_packet,
                handle,
                c_pin,
                c_packet,
                callbacks,
                detail=detail,
            )
        finally:
            self._callbacks().close_frame(frame)
        result = self._result("process_packet", value, frame)
        if packet is not None and packet.binary is not None:
            self._release_delivered_binary(packet)
        return result

    def _release_delivered_binary(self, packet: EncodedPacket) -> None:
        """ABI.md 4.16: after the call the host frees a handle still in the struct."""
        f = ffi()
        handle = packet.binary.buffer_handle
        if handle != f.NULL:
            self._callbacks().host_release_binary(int(f.cast("uintptr_t", handle)))

    def flush(self, *, null_callbacks: bool = False, **frame_options: Any) -> CallResult:
        self._require_alive("flush")
        f = ffi()
        frame = self._frame("flush", **frame_options)
        try:
            value = _traced(
                self.plugin, "flush", self.plugin.api.flush, self.handle, f.NULL if null_callbacks else frame.cdata
            )
        finally:
            self._callbacks().close_frame(frame)
        return self._result("flush", value, frame)

    def tick(self, *, null_callbacks: bool = False, detail: str = "", **frame_options: Any) -> CallResult:
        self._require_alive("tick")
        f = ffi()
        frame = self._frame("tick", **frame_options)
        try:
            value = _traced(
                self.plugin,
                "tick",
                self.plugin.entry("tick"),
                self.handle,
                f.NULL if null_callbacks else frame.cdata,
                detail=detail,
            )
        finally:
            self._callbacks().close_frame(frame)
        result = self._result("tick", value.result, frame)
        result.done_byte = _raw_byte(value, "done")
        return result

    def update_params(self, params: str | bytes | dict[str, Any] | None) -> CallResult:
        self._require_alive("update_params")
        f = ffi()
        raw = _params_bytes(params)
        value = _traced(
            self.plugin,
            "update_params",
            self.plugin.api.update_params,
            self.handle,
            f.NULL if raw is None else f.new("char[]", raw),
        )
        return self._result("update_params", value, None)

    def hint(self, hint: str | bytes | None) -> CallResult:
        self._require_alive("on_upstream_hint")
        f = ffi()
        raw = hint.encode() if isinstance(hint, str) else hint
        value = _traced(
            self.plugin,
            "on_upstream_hint",
            self.plugin.entry("on_upstream_hint"),
            self.handle,
            f.NULL if raw is None else f.new("char[]", raw),
        )
        return self._result("on_upstream_hint", value, None)

    def runtime_schema(self) -> CallResult:
        self._require_alive("get_runtime_param_schema")
        value = _traced(
            self.plugin, "get_runtime_param_schema", self.plugin.entry("get_runtime_param_schema"), self.handle
        )
        result = self._result("get_runtime_param_schema", value, None)
        result.schema, result.schema_problem = _copy_borrowed(value.json_schema)
        result.schema_address = _address(value.json_schema)
        watch_result_strings(self.plugin.ctx.emit, result, "json_schema", result.schema_address)
        return result

    def source_config(self) -> SourceConfig:
        self._require_alive("get_source_config")
        value = _traced(self.plugin, "get_source_config", self.plugin.entry("get_source_config"), self.handle)
        return SourceConfig(_raw_byte(value, "is_source"), int(value.tick_interval_us), int(value.max_ticks))

    def source_config_then_destroy(self) -> SourceConfig:
        """get_source_config, then destroy_instance even when the call raised: the host's probe sequence."""
        try:
            return self.source_config()
        finally:
            self.destroy()

    def destroy(self) -> None:
        """destroy_instance, exactly once; pool buffers still outstanding are then a leak."""
        if self.destroyed:
            return
        self.destroyed = True
        try:
            _traced(self.plugin, "destroy_instance", self.plugin.api.destroy_instance, self.handle)
        finally:
            bridge = log_bridge(self.plugin.ctx.emit)
            bridge.state.live_instances -= 1
            bridge.state.destroyed_instances += 1
        callbacks = self._callbacks()
        for buffer in callbacks.outstanding(self.frame_tokens):
            callbacks.mark_leaked(buffer)
            self.plugin.ctx.emit(
                Violation(
                    "pool.leak",
                    f"{buffer.kind} pool buffer 0x{buffer.handle:x} was neither sent nor freed by destroy",
                    "destroy_instance",
                )
            )


def _traced(plugin: LoadedPlugin, entry: str, fn: Any, *args: Any, detail: str = "") -> Any:
    """Call through the context so the server knows the budget, and mark the call for callbacks."""
    if fn == ffi().NULL:
        raise HarnessMisuse(f"{entry} is NULL in the API table; the host would crash calling it")

    def breach(rule: str, text: str) -> None:
        plugin.ctx.emit(Violation(rule, text, entry))

    set_current_call(entry)
    try:
        with observe_sender(breach):
            return plugin.ctx.call(entry, fn, *args, detail=detail)
    finally:
        set_current_call(None)


@contextlib.contextmanager
def instance_guard(
    plugin: LoadedPlugin, params: str | bytes | dict[str, Any] | None = None, **options: Any
) -> Iterator[Instance | None]:
    """Create an instance and destroy it exactly once on the way out, whatever happened."""
    instance = Instance.create(plugin, params, **options)
    try:
        yield instance
    finally:
        if instance is not None:
            instance.destroy()


def run_on_thread(name: str, fn: Any, *args: Any, budget_s: float = 30.0) -> Any:
    """Run ``fn`` on a fresh named thread and return its result (re-raising its exception)."""
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller
            box["error"] = error

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    thread.join(budget_s)
    if thread.is_alive():
        raise HarnessMisuse(f"thread {name} did not finish within {budget_s:.1f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")
