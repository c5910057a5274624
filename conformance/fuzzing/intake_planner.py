"""Fuzzer bytes to an ``IntakePlan`` for a plugin's profile: legal packets, wire shapes, malformed
packets, params and hints, drawn from the shared strategies."""

from __future__ import annotations

from collections.abc import Sequence

from conformance import strategies
from conformance.fuzzing.intake_plan import IntakeOp, IntakePlan
from conformance.fuzzing.intake_profile import PluginProfile
from conformance.fuzzing.packet_bytes import model_kind_order
from conformance.fuzzing.strategy_draw import StrategyDraw
from conformance.host.wire import RawWire, to_raw_wire
from conformance.strategies.input_bytes import ByteSource

MAX_OPS = 8


class _Draws:
    """The Hypothesis draws a profile needs, built once (building a ``@given`` function is not free)."""

    def __init__(self, profile: PluginProfile) -> None:
        wire_kinds = profile.wire_kinds()
        self.wire: StrategyDraw[RawWire] | None = (
            StrategyDraw(strategies.wire_packets(wire_kinds)) if wire_kinds else None
        )
        self.malformed: StrategyDraw[RawWire] = StrategyDraw(strategies.malformed_packets(profile.malformed_kinds()))
        self.params: StrategyDraw[bytes] = StrategyDraw(strategies.params_json())
        self.hints: StrategyDraw[bytes] = StrategyDraw(strategies.hints())


_DRAWS: dict[PluginProfile, _Draws] = {}


def _draws(profile: PluginProfile) -> _Draws:
    if profile not in _DRAWS:
        _DRAWS[profile] = _Draws(profile)
    return _DRAWS[profile]


def plan_intake(data: bytes, profile: PluginProfile) -> IntakePlan:
    """The plan ``data`` selects for ``profile`` (total: every byte string is a plan).

    Layout: a header byte (``% 8``: 0-5 valid params, 6 NULL, 7 params drawn
    from the next length-prefixed chunk), then up to ``MAX_OPS`` operations,
    each an op byte and a length-prefixed chunk. ``op % 8``: 0-2 a legal
    packet (``packet_from_bytes``), 3 a legal wire shape (``wire_packets``),
    4 a malformed packet (``malformed_packets``), 5 update_params
    (``params_json``; an empty chunk is NULL), 6 a hint (``hints``; flush
    when the plugin has no hint entry), 7 flush (tick for a source).
    ``op // 8`` picks among the pins that take the packet.
    """
    source = ByteSource(data)
    mode = source.byte() % 8
    valid = profile.valid_params.encode()
    params: bytes | None = valid
    if mode == 6:
        params = None
    elif mode == 7:
        drawn = _draws(profile).params(source.take(source.byte()))
        params = valid if drawn is None else drawn
    ops: list[IntakeOp] = []
    while not source.exhausted and len(ops) < MAX_OPS:
        code = source.byte()
        chunk = source.take(source.byte())
        op = _plan_op(code, chunk, profile)
        if op is not None:
            ops.append(op)
    return IntakePlan(params, tuple(ops))


def intake_segments(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of the operations of an intake input (``plan_intake``'s layout), for the minimiser."""
    segments: list[tuple[int, int]] = []
    position = 1 + (1 + data[1] if len(data) > 1 and data[0] % 8 == 7 else 0)
    while position < len(data) and len(segments) < MAX_OPS:
        end = min(len(data), position + 2 + (data[position + 1] if position + 1 < len(data) else 0))
        segments.append((position, end))
        position = end
    return segments


def model_indices(profile: PluginProfile) -> tuple[int, ...]:
    """``packet_from_bytes`` kind bytes whose packets some input pin takes (after the version's mapping)."""
    return tuple(index for index, kind in enumerate(model_kind_order()) if profile.pins_for(kind))


def _idle_op(profile: PluginProfile) -> IntakeOp:
    return IntakeOp("tick" if profile.node_kind == "source" else "flush")


def _pick(pins: Sequence[str], selector: int) -> str:
    return pins[selector % len(pins)]


def _plan_op(code: int, chunk: bytes, profile: PluginProfile) -> IntakeOp | None:
    action, selector = code % 8, code // 8
    if action <= 2:
        return _plan_model_packet(chunk, selector, profile)
    if action == 3:
        draw = _draws(profile).wire
        raw = None if draw is None else draw(chunk)
        if raw is None:
            return _idle_op(profile)
        return IntakeOp("wire", _pick(profile.pins_for(raw.kind), selector), raw=raw)
    if action == 4:
        raw = _draws(profile).malformed(chunk)
        pins = profile.pins_for(raw.kind) if raw is not None else ()
        pins = pins or tuple(name for name, _ in profile.inputs)
        if raw is None or not pins:
            return _idle_op(profile)
        return IntakeOp("malformed", _pick(pins, selector), raw=raw)
    if action == 5:
        return IntakeOp("params", text=_draws(profile).params(chunk) if chunk else None)
    if action == 6 and profile.has_hint:
        hint = _draws(profile).hints(chunk)
        return IntakeOp("hint", text=hint) if hint is not None else None
    return _idle_op(profile)


def model_packet_bytes(chunk: bytes, profile: PluginProfile) -> bytes | None:
    """What ``packet_from_bytes`` reads for a legal-packet operation's chunk: its kind byte kept when an input
    pin takes that kind, else remapped onto one that does; None when no pin takes any."""
    indices = model_indices(profile)
    if not indices:
        return None
    first = chunk[0] if chunk else 0
    index = first % 7
    if index not in indices:
        index = indices[first % len(indices)]
    return bytes([index]) + chunk[1:]


def _plan_model_packet(chunk: bytes, selector: int, profile: PluginProfile) -> IntakeOp:
    """A legal packet of a kind the plugin takes (``model_packet_bytes``)."""
    data = model_packet_bytes(chunk, profile)
    if data is None:
        return _idle_op(profile)
    packet = strategies.packet_from_bytes(data)
    wire_type = to_raw_wire(packet, plugin_version=profile.version).packet_type
    pins = profile.pins_for(wire_type)
    if not pins:  # a model kind the version maps onto a discriminant no pin takes
        return _idle_op(profile)
    return IntakeOp("packet", _pick(pins, selector), packet=packet)
