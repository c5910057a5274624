"""errors: results are well formed and NULL arguments give errors, not crashes (ABI.md 4.1, 6.1, 8.4)."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from conformance.abi import ffi
from conformance.abi.constants import PacketType
from conformance.checks.common import metadata_of, require_processor, valid_params
from conformance.checks.delivery import pin_for
from conformance.checks.model import Applicability, Severity
from conformance.checks.registry import check
from conformance.checks.traffic import drive, node_kind, samples, with_instance
from conformance.host.instance import DEAD_STACK, CallResult, Instance, _copy_string
from conformance.host.logs import log_bridge
from conformance.host.packets import TextPacket
from conformance.host.wire import RawBytes, RawCustom, RawText, RawWire, encode_packet, encode_raw
from conformance.scenario.context import ScenarioContext, ScenarioSkip

PROCESSORS = Applicability(node_kinds=frozenset({"processor"}))
SOURCES = Applicability(node_kinds=frozenset({"source"}))


def _result_bytes(ctx: ScenarioContext) -> None:
    require_processor(ctx)
    instance = with_instance(ctx)
    if instance is None:
        return
    try:
        results: list[CallResult] = list(drive(ctx, instance).results)
        results.append(instance.update_params("{broken"))
        if instance.plugin.has_entry("get_runtime_param_schema"):
            results.append(instance.runtime_schema())
    finally:
        instance.destroy()
    bad = [f"{r.entry}: {r.describe()}" for r in results if not r.bool_ok]
    ctx.expect(not bad, "every success/done byte is 0 or 1", "; ".join(bad))


def _messages(ctx: ScenarioContext) -> None:
    require_processor(ctx)
    instance = with_instance(ctx)
    if instance is None:
        return
    failures: list[CallResult] = []
    try:
        failures.append(instance.update_params("{broken"))
        metadata = instance.plugin.metadata.metadata
        if ctx.option("node_kind") != "source" and metadata is not None and metadata.inputs:
            raw = encode_raw(RawWire(2, RawText(b"\xff\xfe"), label="invalid UTF-8 text"))
            failures.append(instance.process(metadata.inputs[0].name, raw, detail="invalid UTF-8 text"))
    finally:
        instance.destroy()
    for result in failures:
        if result.success or result.message_problem == DEAD_STACK:
            continue  # a dead stack pointer has no text of its own: errors.message-lifetime names it
        ctx.expect(
            result.message_problem is None,
            f"{result.entry}'s error message is NULL or valid UTF-8",
            f"{result.message_problem}: {result.message!r}",
        )


#: Malformed packets every receiver refuses (ABI.md 5): the process_packet error paths the lifetime is read on.
_REFUSED: tuple[tuple[int, RawWire], ...] = (
    (PacketType.TEXT, RawWire(PacketType.TEXT, RawText(b"ab\xff\xfe"), label="invalid UTF-8 text")),
    (PacketType.OPUS_AUDIO, RawWire(PacketType.OPUS_AUDIO, RawBytes(b"x"), label="OpusAudio at runtime")),
    (PacketType.CUSTOM, RawWire(PacketType.CUSTOM, RawCustom(b"t", b"{oops"), label="Custom with bad JSON")),
    (PacketType.TRANSCRIPTION, RawWire(PacketType.TRANSCRIPTION, RawBytes(b"{nope"), label="bad transcription")),
)


def _accepting_pin(ctx: ScenarioContext, packet_type: int) -> str | None:
    inputs = metadata_of(ctx).inputs
    if packet_type == PacketType.OPUS_AUDIO:
        return inputs[0].name if inputs else None
    for pin in inputs:
        if any(t.discriminant in (packet_type, PacketType.ANY) for t in pin.accepts):
            return pin.name
    return None


def _churn() -> None:
    """Allocate and free what the host would between the call and its copy (reuses freed heap chunks)."""
    churn = [bytearray(4096) for _ in range(500)] + [bytearray(64) for _ in range(2000)]
    del churn
    gc.collect()


def _still_there(ctx: ScenarioContext, result: CallResult, field_name: str) -> bool:
    """Re-read a borrowed string after heap churn, before any other call into the plugin."""
    if field_name == "json_schema":
        address, first, problem = result.schema_address, result.schema, result.schema_problem
    else:
        address, first, problem = result.message_address, result.message, result.message_problem
    if address == 0:
        return False
    if first is None:
        ctx.expect(
            False,
            f"{result.entry}'s {field_name} is readable when the host copies it, right after the call",
            problem or "unreadable",
        )
        return True
    _churn()
    second, problem = _copy_string(ffi().cast("const char *", address))
    ctx.expect(
        problem is None and second == first,
        f"{result.entry}'s {field_name} stays valid until the next call into the plugin on this thread",
        f"read {first!r} right after the call, {second!r} once the host had allocated memory {problem or ''}".strip(),
    )
    return True


def _failing_calls(ctx: ScenarioContext, instance: Instance) -> list[Callable[[], CallResult | None]]:
    """Every call the harness can make fail, one thunk each, in the order they are made on one instance.

    A thunk answers None when it has nothing to call (a source that is done ticking).
    """
    calls: list[Callable[[], CallResult | None]] = []
    if instance.plugin.has_entry("get_runtime_param_schema"):
        calls.append(instance.runtime_schema)
    calls.append(partial(instance.update_params, "{broken"))
    calls.append(partial(instance.update_params, b'{"label":"\xc3\x28"}'))
    if node_kind(ctx) == "source":
        ended: list[bool] = []

        def tick(number: int) -> CallResult | None:
            if ended:
                return None
            result = instance.tick(detail=f"tick {number}")
            if result.done or not result.success:
                ended.append(True)
            return result

        calls += [partial(tick, number) for number in (1, 2, 3)]
        if instance.plugin.has_entry("on_upstream_hint"):
            calls.append(partial(instance.hint, "{not json"))
        return calls
    for packet_type, raw in _REFUSED:
        pin = _accepting_pin(ctx, packet_type)
        if pin is not None:
            calls.append(partial(instance.process, pin, encode_raw(raw), detail=raw.label))
    for pin, packet in samples(ctx):
        encoded = encode_packet(packet, host_version=ctx.host_version, plugin_version=instance.plugin.version)
        calls.append(partial(instance.process, pin, encoded, detail=f"{type(packet).__name__} on pin {pin!r}"))
    calls.append(instance.flush)
    return calls


def _message_lifetime(ctx: ScenarioContext) -> None:
    """ABI.md 4.1, 6.2: every borrowed string, on every entry point that failed, outlives the call.

    Each failing call is followed at once by the probe (heap churn, then a
    second read), before the next call into the plugin. A string inside the
    returned stack frame is caught by the host's monitor (``errors.message-stack``).
    """
    require_processor(ctx)
    instance = with_instance(ctx)
    if instance is None:
        return
    inspected: list[str] = []
    not_run: set[str] = set()

    def probe(result: CallResult | None) -> None:
        if result is None:
            return
        if not result.success and _still_there(ctx, result, "error_message"):
            inspected.append(f"{result.entry} (error)")
        if result.entry == "get_runtime_param_schema" and result.success and _still_there(ctx, result, "json_schema"):
            inspected.append(f"{result.entry} (schema)")

    try:
        for step in _failing_calls(ctx, instance):
            try:
                probe(step())
            except ScenarioSkip as skipped:  # an entry point triage saw wedge or crash: the others still count
                not_run.add(str(skipped))
    finally:
        instance.destroy()
    if not_run:
        ctx.observe("not_run", sorted(not_run))
    ctx.observe("inspected", inspected)
    if not inspected:
        ctx.skip("no call returned an error message (or a schema) to inspect")


def _null_on_success(ctx: ScenarioContext) -> None:
    """ABI.md 3.3: error_message is NULL on success; the host's monitor reports any other value."""
    require_processor(ctx)
    instance = with_instance(ctx)
    if instance is None:
        return
    results: list[CallResult] = []
    steps: list[Callable[[], Any]] = [
        lambda: results.extend(drive(ctx, instance).results),
        lambda: results.append(instance.update_params(json.dumps(valid_params(ctx), separators=(",", ":")))),
    ]
    if instance.plugin.has_entry("get_runtime_param_schema"):
        steps.append(lambda: results.append(instance.runtime_schema()))
    if node_kind(ctx) == "source" and instance.plugin.has_entry("on_upstream_hint"):
        steps.append(lambda: results.append(instance.hint('{"type":"preferred_size","width":640,"height":480}')))
    try:
        for step in steps:
            try:
                step()
            except ScenarioSkip as skipped:  # a triaged entry point: the other calls still count
                ctx.observe("not_run", str(skipped))
    finally:
        instance.destroy()
    succeeded = [r.entry for r in results if r.success]
    ctx.observe("successful_calls", succeeded)
    if not succeeded:
        ctx.skip("no call succeeded")


def _null_argument(which: str) -> Any:
    def scenario(ctx: ScenarioContext) -> None:
        plugin = require_processor(ctx)
        instance = with_instance(ctx)
        if instance is None:
            return
        f = ffi()
        try:
            if which in ("handle", "pin", "packet", "callbacks"):
                pairs = samples(ctx)
                pin, packet = pairs[0] if pairs else (pin_for(ctx, 2), TextPacket("x"))
                encoded = encode_packet(packet, host_version=ctx.host_version, plugin_version=plugin.version)
                result = instance.process(
                    None if which == "pin" else pin,
                    None if which == "packet" else encoded,
                    null_handle=which == "handle",
                    null_callbacks=which == "callbacks",
                    detail=f"NULL {which}",
                )
            elif which == "flush-callbacks":
                result = instance.flush(null_callbacks=True)
            elif which == "tick-callbacks":
                result = instance.tick(null_callbacks=True, detail="NULL callbacks")
            elif which == "update-handle":
                value = ctx.call(
                    "update_params", plugin.api.update_params, f.NULL, f.new("char[]", b"{}"), detail="NULL handle"
                )
                result = CallResult("update_params", int(f.cast("uint8_t *", f.addressof(value, "success"))[0]), None)
            else:
                raise ValueError(which)
        finally:
            instance.destroy()
        ctx.expect(result.bool_ok, "CResult.success is 0 or 1", f"byte {result.success_byte}")
        ctx.expect(not result.success, f"a NULL {which.split('-')[-1]} gives an error", "it returned success")

    return scenario


def _null_handle_queries(ctx: ScenarioContext) -> None:
    plugin = require_processor(ctx)
    f = ffi()
    if plugin.has_entry("get_runtime_param_schema"):
        value = ctx.call(
            "get_runtime_param_schema", plugin.entry("get_runtime_param_schema"), f.NULL, detail="NULL handle"
        )
        ctx.expect(
            int(f.cast("uint8_t *", f.addressof(value, "success"))[0]) in (0, 1),
            "get_runtime_param_schema(NULL) returns a well-formed result",
        )
    if plugin.has_entry("get_source_config"):
        config = ctx.call("get_source_config", plugin.entry("get_source_config"), f.NULL, detail="NULL handle")
        byte = int(f.cast("uint8_t *", f.addressof(config, "is_source"))[0])
        ctx.expect(byte == 0, "get_source_config(NULL) answers is_source false", f"is_source byte {byte}")
    if plugin.has_setter:
        enabled = log_bridge(ctx.emit).enabled_callback
        ctx.call("set_log_enabled_callback", plugin.setter, f.NULL, enabled, f.NULL, detail="NULL handle")
        ctx.expect(True, "the log-enabled setter with a NULL handle is a no-op")


check(
    "errors.result-bytes",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 3.1, 8.4",
    rationale="Every bool in a result is read as a Rust bool by the host; a byte other than 0 or 1 is undefined "
    "behaviour there.",
)(_result_bytes)
check(
    "errors.message-utf8",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.1, 8.4",
    rationale="An error message must be NULL or a NUL-terminated UTF-8 string; the host copies it as UTF-8 "
    "(invalid text becomes a generic error and the detail is lost).",
)(_messages)
check(
    "errors.message-lifetime",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.1, 4.7, 6.2; HOST.md 6.9",
    rationale="Error strings (and a runtime schema) are borrowed: on every entry point that fails they must stay "
    "valid and unchanged until the next call into the plugin on that thread (a stack buffer or an "
    "immediately freed string fails).",
    owns_violations=("errors.message-stack",),
)(_message_lifetime)
check(
    "errors.message-null-on-success",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 3.3 (CResult, CSchemaResult, CTickResult), 4.1",
    rationale="A successful result carries error_message NULL: the field only has a meaning on failure, and a "
    "receiver that logs or frees it on success misbehaves.",
    owns_violations=("errors.message-on-success",),
)(_null_on_success)
check(
    "errors.null-handle",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 6.1, 8.4",
    rationale="process_packet with a NULL handle must return an error, not crash.",
    applies=PROCESSORS,
)(_null_argument("handle"))
check(
    "errors.null-pin",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 6.1, 8.4",
    rationale="process_packet with a NULL input pin must return an error, not crash.",
    applies=PROCESSORS,
)(_null_argument("pin"))
check(
    "errors.null-packet",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 5.0 C1, 6.1, 8.4",
    rationale="process_packet with a NULL packet must return an error, not crash.",
    applies=PROCESSORS,
)(_null_argument("packet"))
check(
    "errors.null-callbacks",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 6.1, 8.4",
    rationale="process_packet with a NULL callbacks bundle must return an error, not crash.",
    applies=PROCESSORS,
)(_null_argument("callbacks"))
check(
    "errors.flush-null-callbacks",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 6.1, 8.4",
    rationale="flush with NULL callbacks must return 'Invalid handle or callbacks (null)', not crash.",
    applies=PROCESSORS,
)(_null_argument("flush-callbacks"))
check(
    "errors.tick-null-callbacks",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 6.1, 8.4",
    rationale="tick with NULL callbacks must return 'Invalid handle or callbacks (null)', not crash.",
    applies=SOURCES,
)(_null_argument("tick-callbacks"))
check(
    "errors.update-null-handle",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 4.6, 6.1",
    rationale="update_params with a NULL handle must return 'Invalid handle (null)', not crash.",
)(_null_argument("update-handle"))
check(
    "errors.null-handle-queries",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 6.1",
    rationale="get_runtime_param_schema, get_source_config and the log-enabled setter with a NULL handle must not "
    "crash (no schema; not a source; no-op).",
)(_null_handle_queries)
