"""Shared machinery of the fuzz targets in ``fuzz/`` and of their regression replay.

Why one module: the four targets, the regression tests and the nightly job
must agree on what an input means, where findings go and how they are
named, or a saved crash stops reproducing. It holds:

* ``ByteSource``: total, deterministic reading of fuzzer bytes (missing
  bytes read as 0), so any byte string is a complete input and a saved
  input means the same thing forever.
* ``StrategyDraw``: values from the shared Hypothesis strategies
  (``conformance.strategies``) driven by fuzzer bytes, for the generators
  that only exist as strategies (malformed packets, params, hints).
* The planted codec bug (``CONFORMANCE_PLANT_CODEC_BUG=1``): a wrapper around
  the host encoder that the ``wire_roundtrip`` target uses, so the test
  suite can prove the target finds a real encoder slip within seconds.
* Plugin intake: an input's bytes become an ``IntakePlan`` (create params
  and a few calls), which the ``fuzz.intake`` sandbox scenario runs against
  a real plugin and judges; ``IntakeRunner`` turns the sandbox's answer into
  a ``FuzzFinding``. The plugin never runs in the fuzzer's process unless
  asked (``in_process=True``).
* ``fuzz_main``: the libFuzzer/atheris driver every target calls (default
  corpus, dictionary and artifact directory, coverage instrumentation of
  this package, a one-line repro command printed for every finding).
* ``python -m conformance.fuzzing seed``: writes the seed corpora and the
  dictionaries from what the battery sends.

Nothing here imports Hypothesis or atheris at module level: the sandbox's
fork server imports this module (to know ``fuzz.intake``) and must stay
quick to start.
"""

from __future__ import annotations

import faulthandler
import gc
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import struct
import sys
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from conformance.abi.constants import AUDIO_CODECS, VIDEO_CODECS, PacketType
from conformance.host.packets import Packet, TextPacket, normalise, packet_type_of, truncate_at_nul
from conformance.host.wire import (
    RUNTIME_PACKET_TYPES,
    EncodedPacket,
    RawText,
    RawWire,
    WireError,
    decode_packet,
    encode_packet,
    encode_raw,
    to_raw_wire,
)
from conformance.scenario.context import ScenarioContext
from conformance.scenario.events import Expect, HarnessError, LoadFailed, Observed, Skipped, Violation
from conformance.scenario.protocol import Outcome, SandboxResult, ScenarioRequest
from conformance.scenario.tools import tool_scenario

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from conformance.host.instance import CallResult, Instance
    from conformance.sandbox.client import SandboxClient

T = TypeVar("T")

# -- where things live ------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent
FUZZ_DIR = REPO_ROOT / "fuzz"
CORPUS_DIR = FUZZ_DIR / "corpus"
DICTIONARY_DIR = FUZZ_DIR / "dictionaries"
REGRESSION_DIR = FUZZ_DIR / "regressions"
ARTIFACT_DIR = FUZZ_DIR / "artifacts"

#: Every target, in the order the nightly job runs them.
TARGETS: tuple[str, ...] = ("wire_decode", "wire_roundtrip", "metadata_decode", "plugin_intake")

#: Printed before the repro command of every finding; the nightly job and the tests grep for it.
REPRO_MARK = "REPRO:"
FINDING_MARK = "FINDING:"


class FuzzFinding(AssertionError):
    """An oracle failed. ``signature`` is short and stable (it names the bug, not the input) for dedup.

    An AssertionError because that is what it is: a property of the code under
    test did not hold. Any other exception escaping a target is a finding too.
    """

    def __init__(self, signature: str, detail: str = "") -> None:
        super().__init__(f"{signature}\n{detail}" if detail else signature)
        self.signature = signature
        self.detail = detail


def signature_of(error: BaseException) -> str:
    """A stable one-line name for a finding: the oracle's signature, or type and place of a crash."""
    if isinstance(error, FuzzFinding):
        return error.signature
    place = ""
    trace = error.__traceback__
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        if str(REPO_ROOT) in filename:
            place = f" at {Path(filename).name}:{trace.tb_lineno}"
        trace = trace.tb_next
    return f"{type(error).__name__}{place}"


def short(value: object, limit: int = 300) -> str:
    """repr() bounded for messages: findings carry evidence, not megabytes."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# -- reading fuzzer bytes -----------------------------------------------------------


class ByteSource:
    """Reads fields from fuzzer bytes; past the end every byte is 0, so every input is complete.

    Total and deterministic on purpose: libFuzzer mutates bytes, and a saved
    input (corpus, artifact, regression) must keep meaning the same thing.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.data)

    def byte(self) -> int:
        value = self.data[self.position] if self.position < len(self.data) else 0
        self.position += 1
        return value

    def flag(self) -> bool:
        return bool(self.byte() & 1)

    def below(self, bound: int) -> int:
        return self.byte() % bound if bound > 0 else 0

    def uint(self, bits: int) -> int:
        return int.from_bytes(self.chunk(bits // 8), "little")

    def sint(self, bits: int) -> int:
        return int.from_bytes(self.chunk(bits // 8), "little", signed=True)

    def chunk(self, size: int) -> bytes:
        """Exactly ``size`` bytes, zero-padded past the end."""
        piece = self.data[self.position : self.position + size]
        self.position += size
        return piece + bytes(size - len(piece))

    def take(self, size: int) -> bytes:
        """Up to ``size`` bytes, not padded: for sub-inputs that pad themselves."""
        piece = self.data[self.position : self.position + size]
        self.position += size
        return piece

    def rest(self) -> bytes:
        piece = self.data[self.position :]
        self.position = len(self.data)
        return piece


class ByteSink:
    """The writer twin of ``ByteSource``: seeds are written with the calls the targets read them with."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def byte(self, value: int) -> ByteSink:
        self.parts.append(bytes([value & 0xFF]))
        return self

    def uint(self, value: int, bits: int) -> ByteSink:
        self.parts.append((value % (1 << bits)).to_bytes(bits // 8, "little"))
        return self

    def sint(self, value: int, bits: int) -> ByteSink:
        self.parts.append(value.to_bytes(bits // 8, "little", signed=True))
        return self

    def raw(self, data: bytes) -> ByteSink:
        self.parts.append(data)
        return self

    def sized(self, data: bytes) -> ByteSink:
        """A length byte then the bytes (at most 255: longer data is cut)."""
        data = data[:255]
        return self.byte(len(data)).raw(data)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


#: Zero bytes appended to a Hypothesis draw's buffer: zeros make Hypothesis choose its simplest
#: values, so a short input completes instead of being rejected as an overrun.
DRAW_PADDING = 1024


class StrategyDraw(Generic[T]):
    """One value of a Hypothesis strategy per byte string, via the public ``fuzz_one_input``.

    The strategies are the one shared definition of malformed packets, params
    and hints; this is the sanctioned way to drive them from raw bytes. The
    mapping depends on the Hypothesis version (as its docs say), which only
    matters for saved inputs: regressions store the *decoded* case in their
    failure message, and corpora are only seeds.
    """

    def __init__(self, strategy: SearchStrategy[T]) -> None:
        from hypothesis import HealthCheck, given, settings

        self._box: list[T] = []

        @settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
        @given(strategy)
        def capture(value: T) -> None:
            self._box.append(value)

        self._fuzz = capture.hypothesis.fuzz_one_input  # type: ignore[attr-defined]

    def __call__(self, data: bytes) -> T | None:
        """The value ``data`` selects, or None when the strategy rejects it (filters)."""
        self._box.clear()
        self._fuzz(bytes(data) + bytes(DRAW_PADDING))
        return self._box[0] if self._box else None

    def canonical(self, data: bytes) -> bytes | None:
        """The pruned buffer Hypothesis gives back for ``data``: a compact seed for this value."""
        self._box.clear()
        result = self._fuzz(bytes(data) + bytes(DRAW_PADDING))
        return None if result is None else bytes(result)


# -- versions and the shared packet generator ------------------------------------------

#: (host, plugin) version pairs a host delivers on: a host loads plugins from v6 up to its own version.
VERSION_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (host, plugin) for host in range(6, 10) for plugin in range(6, host + 1)
)


@lru_cache(maxsize=1)
def model_kind_order() -> tuple[PacketType, ...]:
    """The kind ``packet_from_bytes`` builds for each first byte 0..6 (asked, not assumed)."""
    from conformance.strategies import packet_from_bytes

    return tuple(packet_type_of(packet_from_bytes(bytes([index]))) for index in range(7))


def packet_from_bytes(data: bytes) -> Packet:
    """``conformance.strategies.packet_from_bytes``, imported on first use (Hypothesis is slow to import)."""
    from conformance.strategies import packet_from_bytes as build

    return build(data)


def _sink_text(sink: ByteSink, text: str, max_bytes: int) -> None:
    """``_ByteReader.text``: a length byte (``% (max+1)``) then the UTF-8, cut at a character boundary."""
    data = text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore").encode("utf-8")
    sink.byte(len(data)).raw(data)


def _sink_metadata(sink: ByteSink, metadata: Any, *, with_keyframe: bool = False) -> None:
    if metadata is None:
        sink.byte(0)
        return
    values = (metadata.timestamp_us, metadata.duration_us, metadata.sequence)
    flags = 1 | sum(2 << index for index, value in enumerate(values) if value is not None)
    keyframe = getattr(metadata, "keyframe", None)
    if with_keyframe and keyframe is not None:
        flags |= 16 | (32 if keyframe else 0)
    sink.byte(flags)
    for value in values:
        if value is not None:
            sink.uint(value, 64)


def _sink_json(sink: ByteSink, value: Any, depth: int = 3) -> None:
    """``_ByteReader.json``: a tag byte then the value; what the format cannot hold becomes null."""
    if isinstance(value, bool):
        sink.byte(1).byte(int(value))
    elif isinstance(value, int) and -(1 << 63) <= value < (1 << 63):
        sink.byte(2).sint(value, 64)
    elif isinstance(value, float) and value * 64 == int(value * 64) and -(1 << 15) <= value * 64 < (1 << 15):
        sink.byte(3).sint(int(value * 64), 16)
    elif isinstance(value, str):
        sink.byte(4)
        _sink_text(sink, value, 12)
    elif isinstance(value, list) and depth > 0:
        sink.byte(5).byte(min(len(value), 3))
        for item in value[:3]:
            _sink_json(sink, item, depth - 1)
    elif isinstance(value, dict) and depth > 0:
        items = list(value.items())[:3]
        sink.byte(6).byte(len(items))
        for key, item in items:
            _sink_text(sink, key, 8)
            _sink_json(sink, item, depth - 1)
    else:
        sink.byte(0)


_AUDIO_RATES = (0, 8_000, 16_000, 44_100, 48_000, (1 << 32) - 1)


def bytes_for_packet(packet: Packet) -> bytes:
    """Bytes that ``packet_from_bytes`` turns back into ``packet`` (exactly, within its size limits).

    The inverse of the shared generator, so the seed corpora can start from
    the very packets the battery sends. Beyond the generator's limits (texts
    over 24 bytes, more than 64 samples, frames over 16x16) the result is the
    nearest packet the generator can make.
    """
    from conformance.host.packets import (
        BinaryPacket,
        CustomPacket,
        RawAudioPacket,
        RawVideoPacket,
        TranscriptionPacket,
    )
    from conformance.host.video import packed_frame_size

    sink = ByteSink().byte(model_kind_order().index(packet_type_of(packet)))
    if isinstance(packet, TextPacket):
        _sink_text(sink, packet.text, 24)
    elif isinstance(packet, TranscriptionPacket):
        _sink_text(sink, packet.text, 24)
        sink.byte(min(len(packet.segments), 3))
        for segment in packet.segments[:3]:
            if segment.confidence is None:
                sink.byte(0)
            else:
                sink.byte(1).raw(struct.pack("<f", segment.confidence))
            _sink_text(sink, segment.text, 12)
            sink.uint(segment.start_time_ms, 32).uint(segment.end_time_ms, 32)
        if packet.language is None:
            sink.byte(0)
        else:
            sink.byte(1)
            _sink_text(sink, packet.language, 8)
        _sink_metadata(sink, packet.metadata, with_keyframe=True)
    elif isinstance(packet, CustomPacket):
        _sink_text(sink, packet.type_id, 16)
        _sink_json(sink, json.loads(packet.data_json))
        _sink_metadata(sink, packet.metadata)
    elif isinstance(packet, BinaryPacket) and not packet.has_meta:
        sink.byte(min(len(packet.data), 64)).raw(packet.data[:64])
    elif isinstance(packet, BinaryPacket):
        sink.byte(min(len(packet.data), 64)).raw(packet.data[:64])
        if packet.content_type is None:
            sink.byte(0)
        else:
            sink.byte(1)
            _sink_text(sink, packet.content_type, 16)
        _sink_metadata(sink, packet.metadata)
    elif isinstance(packet, RawAudioPacket):
        if packet.sample_rate in _AUDIO_RATES:
            sink.byte(1).byte(_AUDIO_RATES.index(packet.sample_rate))
        else:
            sink.byte(0).uint(packet.sample_rate, 32)
        samples = packet.samples[:64]
        sink.byte(min(packet.channels, 8)).byte(len(samples))
        for sample in samples:
            sink.raw(struct.pack("<f", sample))
        _sink_metadata(sink, packet.metadata)
    elif isinstance(packet, RawVideoPacket):
        width, height = min(packet.width, 16), min(packet.height, 16)
        need = packed_frame_size(width, height, packet.pixel_format)
        extra = max(0, min(len(packet.data) - need, 8)) if (width, height) == (packet.width, packet.height) else 0
        sink.byte(width).byte(height).byte(int(packet.pixel_format)).byte(extra).raw(packet.data[: need + extra])
        _sink_metadata(sink, packet.metadata)
    return sink.getvalue()


# -- the planted codec bug ------------------------------------------------------------

PLANT_CODEC_BUG_ENV = "CONFORMANCE_PLANT_CODEC_BUG"
#: Texts longer than this (in characters) lose their last byte when the bug is planted.
PLANTED_BUG_MIN_CHARS = 8


def codec_bug_planted() -> bool:
    """Read at each call so a test can flip it per subprocess without re-importing."""
    return os.environ.get(PLANT_CODEC_BUG_ENV, "") not in ("", "0")


def encode_for_roundtrip(packet: Packet, *, host_version: int = 9, plugin_version: int = 9) -> EncodedPacket:
    """``encode_packet``, or with ``CONFORMANCE_PLANT_CODEC_BUG=1`` an encoder that drops the last
    byte of every text longer than 7 characters (an off-by-one a real encoder could have).

    A wrapper rather than a patch of ``conformance.host.wire``: the bug exists
    only for the target that asks for it, so no other code path can be
    poisoned by a stray environment variable.
    """
    if not codec_bug_planted():
        return encode_packet(packet, host_version=host_version, plugin_version=plugin_version)
    raw = to_raw_wire(packet, host_version=host_version, plugin_version=plugin_version)
    text = truncate_at_nul(packet.text) if isinstance(packet, TextPacket) else ""
    if isinstance(raw.payload, RawText) and len(text) >= PLANTED_BUG_MIN_CHARS:
        raw = replace(raw, payload=RawText(raw.payload.data[:-1]))
    return encode_raw(raw)


# -- plugin intake: what the plugin looks like -------------------------------------------

PROFILE_SCENARIO = "fuzz.profile"
INTAKE_SCENARIO = "fuzz.intake"
MAX_OPS = 8
BINARY_LIKE = frozenset(
    {PacketType.BINARY, PacketType.ENCODED_VIDEO, PacketType.BINARY_WITH_META, PacketType.ENCODED_AUDIO}
)
#: Discriminants a real host never delivers at runtime (C3): sent only as malformed packets.
UNSUPPORTED_AT_RUNTIME = (PacketType.OPUS_AUDIO, PacketType.ANY, PacketType.PASSTHROUGH)
#: First plugin version that can receive a raw discriminant (ABI.md 2.1).
_MIN_VERSION = {PacketType.BINARY_WITH_META: 7, PacketType.ENCODED_AUDIO: 8}


@dataclass(frozen=True)
class PluginProfile:
    """What the intake planner needs to know about a plugin: pins, version, node kind, valid params."""

    name: str
    version: int
    node_kind: str
    inputs: tuple[tuple[str, tuple[int, ...]], ...]
    outputs: tuple[tuple[str, int], ...]
    has_hint: bool
    valid_params: str

    @property
    def echo(self) -> bool:
        """A Passthrough output promises output == input (the battery's rule, ``PluginFacts.is_echo``)."""
        return any(produces == PacketType.PASSTHROUGH for _, produces in self.outputs)

    def pins_for(self, packet_type: int) -> tuple[str, ...]:
        """Input pins a host routes ``packet_type`` to: Any/Passthrough take all, binary kinds alias."""
        names = []
        for name, accepted in self.inputs:
            kinds = set(accepted)
            if (
                kinds & {PacketType.ANY, PacketType.PASSTHROUGH}
                or packet_type in kinds
                or (packet_type in BINARY_LIKE and kinds & BINARY_LIKE)
            ):
                names.append(name)
        return tuple(names)

    def model_indices(self) -> tuple[int, ...]:
        """``packet_from_bytes`` kind bytes whose packets some input pin takes (after the version's mapping)."""
        return tuple(index for index, kind in enumerate(model_kind_order()) if self.pins_for(kind))

    def wire_kinds(self) -> tuple[PacketType, ...]:
        """Runtime discriminants some pin takes and this plugin's version can receive."""
        return tuple(
            kind
            for kind in sorted(RUNTIME_PACKET_TYPES)
            if self.pins_for(kind) and self.version >= _MIN_VERSION.get(kind, 6)
        )

    def malformed_kinds(self) -> tuple[PacketType, ...]:
        return tuple(sorted({*self.wire_kinds(), *UNSUPPORTED_AT_RUNTIME}))


def profile_from_ctx(ctx: ScenarioContext) -> PluginProfile:
    """Read the profile inside a sandbox child (loads the plugin, reads its metadata, detects sources)."""
    from conformance.checks.common import metadata_of, require_processor, schema_defaults

    plugin = require_processor(ctx)
    metadata = metadata_of(ctx)
    node_kind = ctx.option("node_kind")
    if node_kind is None:
        from conformance.checks.probe import detect_node_kind

        node_kind = detect_node_kind(ctx)
    return PluginProfile(
        name=Path(ctx.request.plugin_path).stem.removeprefix("lib"),
        version=int(plugin.version),
        node_kind=str(node_kind),
        inputs=tuple((pin.name, tuple(t.discriminant for t in pin.accepts)) for pin in metadata.inputs),
        outputs=tuple((pin.name, pin.produces.discriminant) for pin in metadata.outputs),
        has_hint=plugin.has_entry("on_upstream_hint"),
        valid_params=json.dumps(schema_defaults(metadata) or {}, separators=(",", ":")),
    )


@tool_scenario(PROFILE_SCENARIO)
def profile_scenario(ctx: ScenarioContext) -> None:
    """Learn the profile once per fuzzing session, in the sandbox (constructors may crash)."""
    ctx.observe("profile", asdict(profile_from_ctx(ctx)))


# -- plugin intake: the plan ---------------------------------------------------------


@dataclass(frozen=True)
class IntakeOp:
    """One call into the instance. ``text`` is params or hint JSON (None = NULL)."""

    action: str  # packet | wire | malformed | params | hint | flush | tick
    pin: str | None = None
    packet: Packet | None = None
    raw: RawWire | None = None
    text: bytes | None = None

    def describe(self) -> str:
        if self.action == "packet":
            return f"process_packet({self.pin!r}, {short(self.packet, 160)})"
        if self.action in ("wire", "malformed"):
            assert self.raw is not None
            name = self.raw.label or self.raw.kind.name
            return f"process_packet({self.pin!r}, {self.action} {name}: {short(self.raw.payload, 140)})"
        if self.action == "params":
            return f"update_params({short(self.text, 120)})"
        if self.action == "hint":
            return f"on_upstream_hint({short(self.text, 120)})"
        return f"{self.action}()"


@dataclass(frozen=True)
class IntakePlan:
    """What one intake input means: create the instance with ``params``, make the calls, destroy."""

    params: bytes | None
    ops: tuple[IntakeOp, ...]
    host_version: int = 9

    def describe(self) -> str:
        lines = [f"create_instance({short(self.params, 120)})"]
        lines += [f"  {index}: {op.describe()}" for index, op in enumerate(self.ops)]
        return "\n".join(lines)


class _Draws:
    """The Hypothesis draws a profile needs, built once (building a ``@given`` function is not free)."""

    def __init__(self, profile: PluginProfile) -> None:
        from conformance import strategies

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


def _plan_model_packet(chunk: bytes, selector: int, profile: PluginProfile) -> IntakeOp:
    """A legal packet of a kind the plugin takes: the chunk's kind byte is kept when it fits, else remapped."""
    indices = profile.model_indices()
    if not indices:
        return _idle_op(profile)
    first = chunk[0] if chunk else 0
    index = first % 7
    if index not in indices:
        index = indices[first % len(indices)]
    packet = packet_from_bytes(bytes([index]) + chunk[1:])
    wire_type = to_raw_wire(packet, plugin_version=profile.version).packet_type
    pins = profile.pins_for(wire_type)
    if not pins:  # a model kind the version maps onto a discriminant no pin takes
        return _idle_op(profile)
    return IntakeOp("packet", _pick(pins, selector), packet=packet)


# -- plugin intake: running it in the child --------------------------------------------

_TYPE_ALLOWED_ANY = frozenset({PacketType.ANY, PacketType.PASSTHROUGH})


def _type_allowed(produced: int, emitted: int) -> bool:
    """The wire-out rule: Any/Passthrough carry anything; binary-like pins carry binary-like packets."""
    if produced in _TYPE_ALLOWED_ANY:
        return True
    if produced in BINARY_LIKE or produced == PacketType.OPUS_AUDIO:
        return emitted in BINARY_LIKE
    return produced == emitted


@tool_scenario(INTAKE_SCENARIO)
def intake_scenario(ctx: ScenarioContext) -> None:
    """One intake: options ``plan`` (an ``IntakePlan``) or ``input`` (its bytes, planned here)."""
    plan = ctx.option("plan")
    if plan is None:
        plan = plan_intake(bytes(ctx.option("input", b"")), profile_from_ctx(ctx))
    run_intake(ctx, plan)


def run_intake(ctx: ScenarioContext, plan: IntakePlan) -> None:
    """Create, run every op with its oracles, destroy. Failed oracles are ``Expect(ok=False)`` events."""
    from conformance.checks.common import metadata_of, require_processor
    from conformance.host.instance import Instance

    plugin = require_processor(ctx)
    metadata = metadata_of(ctx)
    declared = {pin.name: pin.produces.discriminant for pin in metadata.outputs}
    echo = any(produces == PacketType.PASSTHROUGH for produces in declared.values())
    instance = Instance.create(plugin, plan.params, label="fuzz")
    if instance is None:
        ctx.observe("create", "refused")  # legal for any params: nothing else to drive
        return
    try:
        for index, op in enumerate(plan.ops):
            _run_op(ctx, instance, op, f"op {index}: {op.describe()}", declared, echo)
    finally:
        instance.destroy()


def _fail(ctx: ScenarioContext, ok: bool, what: str, detail: str) -> bool:
    """Only failures become events: a passing intake streams nothing the parent must unpickle."""
    if not ok:
        ctx.expect(False, what, detail)
    return ok


def _run_op(
    ctx: ScenarioContext, instance: Instance, op: IntakeOp, label: str, declared: dict[str, int], echo: bool
) -> None:
    if op.action in ("packet", "wire", "malformed"):
        encoded, expected = _delivery(ctx, op, label)
        result = instance.process(op.pin, encoded, detail=label)
        _judge_call(ctx, result, label)
        _judge_outputs(ctx, result, declared, label)
        if op.action == "malformed":
            _fail(ctx, not result.success, "a malformed packet is refused (ABI.md 5)", f"{label}: it returned success")
        elif result.success and echo and expected is not None:
            _judge_echo(ctx, result, expected, label)
    elif op.action == "params":
        _judge_call(ctx, instance.update_params(op.text), label)
    elif op.action == "hint":
        _judge_call(ctx, instance.hint(op.text), label)
    elif op.action == "tick":
        result = instance.tick(detail=label)
        _judge_call(ctx, result, label)
        _judge_outputs(ctx, result, declared, label)
    else:
        result = instance.flush()
        _judge_call(ctx, result, label)
        _judge_outputs(ctx, result, declared, label)


def _delivery(ctx: ScenarioContext, op: IntakeOp, label: str) -> tuple[EncodedPacket, Packet | None]:
    """The packet as the host delivers it, and what an echo must give back (None: nothing to compare)."""
    version = ctx.plugin.version
    if op.packet is not None:
        encoded = encode_packet(op.packet, host_version=ctx.host_version, plugin_version=version)
        return encoded, normalise(op.packet, host_version=ctx.host_version, plugin_version=version)
    assert op.raw is not None
    if op.action == "malformed":
        return encode_raw(op.raw), None
    try:
        decoded = decode_packet(encode_raw(op.raw).ptr)  # a second copy: the delivered one is the plugin's
    except WireError as error:
        _fail(ctx, False, "the host receiver accepts a legal wire packet", f"{label}: {error.rule}: {error.message}")
        return encode_raw(op.raw), None
    if op.raw.kind in (PacketType.ENCODED_VIDEO, PacketType.ENCODED_AUDIO):
        return encode_raw(op.raw), decoded
    return encode_raw(op.raw), normalise(decoded, host_version=ctx.host_version, plugin_version=version)


def _judge_call(ctx: ScenarioContext, result: CallResult, label: str) -> None:
    _fail(ctx, result.bool_ok, "CResult.success is 0 or 1", f"{label}: {result.describe()}")
    if result.message_problem is not None:
        _fail(ctx, False, "the error message is a readable C string", f"{label}: {result.message_problem}")


def _judge_outputs(ctx: ScenarioContext, result: CallResult, declared: dict[str, int], label: str) -> None:
    for out in result.outputs:
        where = f"{label}: emitted on {out.pin!r}"
        if not _fail(
            ctx, out.error is None, "every emitted packet converts as the host converts it", f"{where}: {out.error}"
        ):
            continue
        if not _fail(
            ctx, out.pin in declared, "packets go only to declared output pins", f"{where}; declared {sorted(declared)}"
        ):
            continue
        emitted = out.packet_type
        _fail(
            ctx,
            emitted is None or _type_allowed(declared[out.pin], emitted),
            "each output pin carries the packet type it declares",
            f"{where}: declared {declared[out.pin]}, emitted {emitted}",
        )


def _judge_echo(ctx: ScenarioContext, result: CallResult, expected: Packet, label: str) -> None:
    good = [out.packet for out in result.outputs if out.error is None]
    if _fail(ctx, len(good) == 1, "the echo plugin emits exactly one packet", f"{label}: {len(good)} packets"):
        _fail(
            ctx,
            good[0] == expected,
            "the echoed packet equals what a conforming receiver reads",
            f"{label}: expected {short(expected)}, got {short(good[0])}",
        )


# -- plugin intake: the parent side ------------------------------------------------------


def resolve_plugin(spec: str) -> Path:
    """A plugin path, or the name of a bundled fixture (built on demand)."""
    path = Path(spec)
    if path.exists() or spec.endswith(".so") or os.sep in spec:
        return path.resolve()
    from conformance.fixtures import fixture_path

    return Path(fixture_path(spec))


class IntakeRunner:
    """Drives intakes against one plugin: profile once, then one sandbox child per input.

    ``in_process=True`` runs the scenario in this very process (for native
    coverage or a debugger): a plugin crash then kills the fuzzer, which
    libFuzzer records as a crash artifact.
    """

    def __init__(self, plugin: str | Path, *, in_process: bool = False, budget_scale: float = 1.0) -> None:
        self.plugin_path = resolve_plugin(str(plugin))
        self.in_process = in_process
        self.budget_scale = budget_scale
        self._client: SandboxClient | None = None
        self.profile = self._read_profile()

    @property
    def name(self) -> str:
        return self.profile.name

    def _run(self, scenario: str, options: dict[str, Any]) -> SandboxResult:
        request = ScenarioRequest(
            scenario, str(self.plugin_path), budget_scale=self.budget_scale, options=options, capture_stacks=False
        )
        if self.in_process:
            from conformance.sandbox.client import run_in_process

            return run_in_process(request)
        if self._client is None:
            from conformance.sandbox.client import SandboxClient

            self._client = SandboxClient()
        return self._client.run(request)

    def _read_profile(self) -> PluginProfile:
        result = self._run(PROFILE_SCENARIO, {})
        for event in result.events:
            if isinstance(event, Observed) and event.key == "profile":
                value = dict(event.value)
                value["inputs"] = tuple((name, tuple(kinds)) for name, kinds in value["inputs"])
                value["outputs"] = tuple((name, produces) for name, produces in value["outputs"])
                return PluginProfile(**value)
        reasons = [
            getattr(event, "reason", "") or getattr(event, "message", "")
            for event in result.events
            if isinstance(event, (Skipped, LoadFailed, HarnessError))
        ]
        raise RuntimeError(
            f"cannot fuzz {self.plugin_path}: {result.outcome.value} {result.detail} {'; '.join(reasons)}".strip()
        )

    def plan(self, data: bytes) -> IntakePlan:
        return plan_intake(data, self.profile)

    def run(self, data: bytes) -> SandboxResult:
        """One intake of ``data``; the plan is made here and travels with the bytes (the child need not
        import Hypothesis), and the child would make the same plan from ``input`` alone."""
        return self._run(
            INTAKE_SCENARIO, {"input": bytes(data), "plan": self.plan(data), "node_kind": self.profile.node_kind}
        )

    def check(self, data: bytes) -> None:
        """Run one intake and raise ``FuzzFinding`` when an oracle fails or the plugin crashed or hung."""
        finding = self.judge(self.run(data), data)
        if finding is not None:
            raise finding

    def judge(self, result: SandboxResult, data: bytes) -> FuzzFinding | None:
        name = self.name
        where = result.in_flight.entry if result.in_flight is not None else "no call"
        call = result.in_flight.detail if result.in_flight is not None else ""

        def evidence(extra: str = "") -> str:
            parts = [extra, f"call in flight: {where} {call}".rstrip(), f"plan:\n{self.plan(data).describe()}"]
            if result.panic_message:
                parts.append(f"panic: {result.panic_message}")
            if result.stderr_tail:
                parts.append(f"plugin output (tail):\n{result.stderr_tail[-1500:]}")
            return "\n".join(part for part in parts if part)

        if result.outcome is Outcome.CRASHED:
            return FuzzFinding(f"{name}: crashed with {result.signal_name} in {where}", evidence(result.detail))
        if result.outcome is Outcome.TIMED_OUT:
            return FuzzFinding(f"{name}: {where} did not return (hang)", evidence(result.detail))
        if result.outcome is Outcome.EXITED:
            return FuzzFinding(f"{name}: the process exited ({result.exit_code}) in {where}", evidence(result.detail))
        if result.outcome is Outcome.RESOURCE_LIMIT:
            return FuzzFinding(f"{name}: resource limit ({result.resource}) in {where}", evidence(result.detail))
        if result.outcome is Outcome.HARNESS_ERROR:
            return FuzzFinding(
                f"harness error: {result.detail.splitlines()[0] if result.detail else 'unknown'}", evidence()
            )
        for event in result.events:
            if isinstance(event, HarnessError):
                return FuzzFinding(f"harness error: {event.message.splitlines()[0][:120]}", evidence(event.traceback))
            if isinstance(event, Expect) and not event.ok:
                return FuzzFinding(f"{name}: {event.what}", evidence(event.detail))
            if isinstance(event, Violation):
                return FuzzFinding(f"{name}: {event.rule}", evidence(f"{event.detail} (during {event.during})"))
        return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


# -- atheris / libFuzzer driver ------------------------------------------------------------

#: libFuzzer modes that re-run the command line in child processes (argv[0] must be executable).
_SUBPROCESS_FLAGS = ("-fork=", "-jobs=", "-workers=", "-merge=", "-set_cover_merge=", "-minimize_crash=")


def load_target(name: str) -> types.ModuleType:
    """Import ``fuzz/<name>.py`` (not a package: the targets are scripts) as module ``fuzz_<name>``."""
    module_name = f"fuzz_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = FUZZ_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no fuzz target at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def instrument_python(prefixes: tuple[str, ...] = ("conformance", "fuzz_", "__main__")) -> int:
    """Add atheris coverage to every loaded function of this package and the target; returns how many.

    ``atheris.instrument_all`` would also instrument Hypothesis, cffi and the
    standard library (slow to start, noisy feedback); the code under test is
    ours, so only ours is instrumented.
    """
    import atheris  # type: ignore[import-untyped,unused-ignore]

    count = 0
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and str(getattr(obj, "__module__", "") or "").startswith(prefixes):
            try:
                atheris.instrument_func(obj)
            except (TypeError, ValueError, AttributeError):  # a function atheris cannot rewrite: skip it
                continue
            count += 1
    return count


def _has_flag(args: Sequence[str], flag: str) -> bool:
    return any(arg.startswith(f"-{flag}=") for arg in args)


def libfuzzer_args(target: str, args: Sequence[str], *, artifact_dir: Path, work_key: str) -> list[str]:
    """The user's libFuzzer flags plus defaults: artifact prefix, the target's dictionary, and -- when no
    corpus or input is named -- a work corpus under fuzz/artifacts/ with the committed seeds read-only."""
    result = list(args)
    positional = [arg for arg in args if not arg.startswith("-")]
    if not _has_flag(args, "artifact_prefix"):
        artifact_dir.mkdir(parents=True, exist_ok=True)
        result.insert(0, f"-artifact_prefix={artifact_dir}{os.sep}")
    dictionary = DICTIONARY_DIR / f"{target}.dict"
    if not _has_flag(args, "dict") and dictionary.exists():
        result.insert(0, f"-dict={dictionary}")
    if not positional:
        work = ARTIFACT_DIR / "corpus" / work_key
        work.mkdir(parents=True, exist_ok=True)
        result += [str(work), str(CORPUS_DIR / target)]
    return result


def artifact_prefix(args: Sequence[str]) -> str:
    for arg in args:
        if arg.startswith("-artifact_prefix="):
            return arg.split("=", 1)[1]
    return ""


def _display(path: str | Path) -> str:
    """A path relative to the working directory when it is below it (shorter repro lines)."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def python_command() -> str:
    """``python`` when that is this interpreter, else its full path (a venv not on PATH)."""
    found = shutil.which("python")
    if found and Path(found).resolve() == Path(sys.executable).resolve():
        return "python"
    return sys.executable


def repro_command(target: str, own_flags: Sequence[str], path: str) -> str:
    script = _display(FUZZ_DIR / f"{target}.py")
    return " ".join([python_command(), script, *map(shlex.quote, own_flags), shlex.quote(_display(path))])


def reporting(
    target: str, test_one_input: Callable[[bytes], None], own_flags: Sequence[str], prefix: str
) -> Callable[[bytes], None]:
    """Wrap a target so every finding prints its signature and a one-line repro command before libFuzzer
    saves the input as ``<prefix>crash-<sha1>`` (the name libFuzzer gives it)."""

    def run(data: bytes) -> None:
        try:
            test_one_input(data)
        except Exception as error:
            path = f"{prefix}crash-{hashlib.sha1(data).hexdigest()}"
            print(f"\n{FINDING_MARK} {target}: {signature_of(error)}", file=sys.stderr)
            print(f"{REPRO_MARK} {repro_command(target, own_flags, path)}", file=sys.stderr, flush=True)
            raise

    return run


def _launcher(target: str, own_flags: Sequence[str]) -> str:
    """An executable that re-runs this target with our own flags: libFuzzer's fork, merge and
    minimise modes start ``argv[0]`` directly, and a .py script with its flags stripped is not that."""
    script = FUZZ_DIR / f"{target}.py"
    body = (
        "#!/bin/sh\nexec "
        + " ".join(shlex.quote(part) for part in (sys.executable, str(script), *own_flags))
        + ' "$@"\n'
    )
    directory = ARTIFACT_DIR / ".launchers"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{target}-{hashlib.sha1(body.encode()).hexdigest()[:12]}.sh"
    if not path.exists():
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(body)
        temporary.chmod(0o755)
        os.replace(temporary, path)
    return str(path)


def fuzz_main(
    target: str,
    test_one_input: Callable[[bytes], None],
    args: Sequence[str],
    *,
    own_flags: Sequence[str] = (),
    artifact_dir: Path | None = None,
    work_key: str | None = None,
    default_timeout: int | None = None,
) -> None:
    """Run ``test_one_input`` under libFuzzer (atheris) with ``args`` (libFuzzer flags, corpus dirs or
    input files). Never returns: libFuzzer exits the process."""
    try:
        import atheris  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise SystemExit("atheris is not installed: pip install -e '.[fuzz]'") from None
    artifacts = artifact_dir or ARTIFACT_DIR / target
    lib_args = libfuzzer_args(target, args, artifact_dir=artifacts, work_key=work_key or target)
    if default_timeout is not None and not _has_flag(lib_args, "timeout"):
        lib_args.insert(0, f"-timeout={default_timeout}")  # a stuck input becomes a timeout artifact
    # `kill -USR1 <pid>` prints where a fuzzer that seems stuck is, in Python terms.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    argv0 = sys.argv[0]
    if any(arg.startswith(_SUBPROCESS_FLAGS) for arg in lib_args):
        argv0 = _launcher(target, own_flags)
    instrument_python()
    runner = reporting(target, test_one_input, own_flags, artifact_prefix(lib_args))
    atheris.Setup([argv0, *lib_args], runner)
    atheris.Fuzz()


# -- triage: signatures and minimisation ----------------------------------------------------


def finding_of(check: Callable[[bytes], None], data: bytes) -> str | None:
    """The signature of the finding ``data`` triggers, None when it passes.

    This is the oracle around the oracles: any exception is the finding
    (that is what libFuzzer would have reported), so it catches them all.
    """
    try:
        check(data)
    except Exception as error:  # noqa: BLE001 - classifying any failure is the point
        return signature_of(error)
    return None


def intake_segments(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of the operations of an intake input (``plan_intake``'s layout), for the minimiser."""
    segments: list[tuple[int, int]] = []
    position = 1 + (1 + data[1] if len(data) > 1 and data[0] % 8 == 7 else 0)
    while position < len(data) and len(segments) < MAX_OPS:
        end = min(len(data), position + 2 + (data[position + 1] if position + 1 < len(data) else 0))
        segments.append((position, end))
        position = end
    return segments


def minimize(
    check: Callable[[bytes], None],
    data: bytes,
    *,
    segments: Callable[[bytes], list[tuple[int, int]]] | None = None,
    max_runs: int = 2000,
) -> tuple[bytes, str]:
    """A smaller input that fails the same way (same signature).

    Steps: drop whole ``segments`` (an intake's operations), drop ever
    smaller slices (ddmin), cut the tail (missing bytes read as zero, so a
    prefix is always a complete input), then zero single bytes. libFuzzer's
    ``-minimize_crash`` mutates at random instead and rarely keeps a
    structured input failing.
    """
    signature = finding_of(check, data)
    if signature is None:
        raise ValueError("the input does not fail: nothing to minimise")
    runs = 0

    def same(candidate: bytes) -> bool:
        nonlocal runs
        runs += 1
        return runs <= max_runs and finding_of(check, candidate) == signature

    current = bytes(data)
    if segments is not None:
        for start, end in reversed(segments(current)):
            if same(current[:start] + current[end:]):
                current = current[:start] + current[end:]
    parts = 2
    while len(current) > 1 and runs < max_runs:
        size = -(-len(current) // parts)
        for start in range(0, len(current), size):
            if same(current[:start] + current[start + size :]):
                current, parts = current[:start] + current[start + size :], max(parts - 1, 2)
                break
        else:
            if parts >= len(current):
                break
            parts = min(parts * 2, len(current))
    while current and same(current[:-1]):
        current = current[:-1]
    for index in range(len(current)):
        if current[index] and same(current[:index] + b"\0" + current[index + 1 :]):
            current = current[:index] + b"\0" + current[index + 1 :]
    return current, signature


# -- regressions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Regression:
    """A saved input: ``fuzz/regressions/<target>/[<fixture>/]<name>``; intake inputs name their fixture."""

    target: str
    path: Path
    fixture: str | None = None

    @property
    def id(self) -> str:
        parts = [self.target] + ([self.fixture] if self.fixture else []) + [self.path.name]
        return "/".join(parts)


def regressions(target: str | None = None) -> list[Regression]:
    found = []
    for name in TARGETS if target is None else (target,):
        root = REGRESSION_DIR / name
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith(".") and path.suffix != ".md":
                fixture = path.parent.name if path.parent != root else None
                found.append(Regression(name, path, fixture))
    return found


# -- seeds and dictionaries ------------------------------------------------------------------

#: Tokens every dictionary carries: JSON syntax and the keys and values the ABI's JSON texts use.
JSON_TOKENS: tuple[str, ...] = (
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"',
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "false",
    "-0",
    "1e308",
    "0.5",
    "18446744073709551615",
    "-9223372036854775808",
    '"type"',
    '"preferred_size"',
    '"width"',
    '"height"',
    '"text"',
    '"segments"',
    '"start_time_ms"',
    '"end_time_ms"',
    '"confidence"',
    '"language"',
    '"metadata"',
    '"timestamp_us"',
    '"duration_us"',
    '"sequence"',
    '"keyframe"',
    '"label"',
    '"mode"',
    '"properties"',
    '"default"',
    '"object"',
)
PIN_TOKENS: tuple[str, ...] = ("in", "out", "audio", "video", "bogus", "plugin::native::", "core::")
CONTENT_TYPES: tuple[str, ...] = ("audio/aac", "audio/opus", "video/vp9", "application/octet-stream", "text/plain")


def dictionary_tokens(target: str) -> list[bytes]:
    tokens = [token.encode() for token in JSON_TOKENS + PIN_TOKENS + CONTENT_TYPES]
    tokens += [codec.encode() for codec in sorted(AUDIO_CODECS | VIDEO_CODECS)]
    tokens += [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00"]
    if target in ("wire_decode", "metadata_decode"):
        tokens += [bytes([value]) for value in (0xF0, 0xFF)]  # the "arbitrary value" escapes of their formats
    return list(dict.fromkeys(tokens))


def _dict_line(token: bytes) -> str:
    escaped = "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in token)
    return f'"{escaped}"'


def write_dictionaries() -> list[Path]:
    DICTIONARY_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for target in TARGETS:
        path = DICTIONARY_DIR / f"{target}.dict"
        lines = [f"# libFuzzer dictionary for fuzz/{target}.py (written by python -m conformance.fuzzing seed)"]
        lines += [_dict_line(token) for token in dictionary_tokens(target)]
        path.write_text("\n".join(lines) + "\n")
        written.append(path)
    return written


def battery_packets() -> list[tuple[str, Packet | RawWire]]:
    """What the battery sends: wire-in's legal and malformed cases (as a v9 host) and the traffic samples."""
    from conformance.checks import wire_in
    from conformance.checks.traffic import sample_for

    cases: list[tuple[str, Packet | RawWire]] = []
    for case in wire_in.LEGAL + wire_in.MALFORMED:
        packet = case.packet(9) if callable(case.packet) else case.packet
        cases.append((case.suffix, packet))
    for kind in sorted(RUNTIME_PACKET_TYPES):
        sample = sample_for(int(kind))
        if sample is not None:
            cases.append((f"traffic.{kind.name.lower()}", sample))
    return cases


def write_seeds(targets: Iterable[str] = TARGETS) -> dict[str, int]:
    """Replace each target's seed corpus with what its ``seed_inputs()`` returns (one file per distinct input)."""
    counts = {}
    for target in targets:
        module = load_target(target)
        seeds: dict[str, tuple[str, bytes]] = {}
        for label, data in module.seed_inputs():
            seeds.setdefault(hashlib.sha1(data).hexdigest()[:12], (label, data))
        directory = CORPUS_DIR / target
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():
            if old.is_file():
                old.unlink()
        for digest, (label, data) in seeds.items():
            slug = "".join(c if c.isalnum() or c in "-." else "-" for c in label)[:40]
            (directory / f"{slug}-{digest}").write_bytes(data)
        counts[target] = len(seeds)
    return counts


def _target_check(target: str, plugin: str | None) -> Callable[[bytes], None]:
    module = load_target(target)
    if target == "plugin_intake":
        if plugin is None:
            raise SystemExit("plugin_intake needs --plugin PLUGIN")
        module.configure(plugin)
    check: Callable[[bytes], None] = module.test_one_input
    return check


def main(argv: Sequence[str] | None = None) -> int:
    """``seed [TARGET...]``: rewrite corpora and dictionaries.
    ``minimize TARGET [--plugin P] INPUT [-o OUT]``: shrink a finding, keeping its signature."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["seed"]:
        for path in write_dictionaries():
            print(f"wrote {_display(path)}")
        for target, count in write_seeds(args[1:] or TARGETS).items():
            print(f"wrote {count} seeds to {_display(CORPUS_DIR / target)}")
        return 0
    if args[:1] == ["minimize"] and len(args) >= 3:
        rest = args[2:]
        plugin: str | None = None
        output: str | None = None
        inputs: list[str] = []
        while rest:
            arg = rest.pop(0)
            if arg == "--plugin" and rest:
                plugin = rest.pop(0)
            elif arg == "-o" and rest:
                output = rest.pop(0)
            else:
                inputs.append(arg)
        check = _target_check(args[1], plugin)
        structure = intake_segments if args[1] == "plugin_intake" else None
        for name in inputs:
            smaller, signature = minimize(check, Path(name).read_bytes(), segments=structure)
            destination = Path(output) if output else Path(f"{name}.min")
            destination.write_bytes(smaller)
            print(
                f"{_display(name)}: {len(Path(name).read_bytes())} -> {len(smaller)} bytes, still {signature!r}: "
                f"{_display(destination)}"
            )
        return 0
    print(
        "usage: python -m conformance.fuzzing seed [TARGET...]\n"
        "       python -m conformance.fuzzing minimize TARGET [--plugin P] INPUT [-o OUT]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: the targets import conformance.fuzzing,
    # and two copies of it would mean two FuzzFinding classes.
    from conformance.fuzzing import main as _main

    raise SystemExit(_main())
