"""wire-in: every packet type the host can deliver, with boundary values (ABI.md 2.2, 5, 8.5).

Each case is a packet (legal, from the packet model) or a raw wire
description (malformed). Legal packets must be accepted; an echo plugin
(Passthrough output) must give back exactly what a conforming receiver
reconstructs. Malformed packets must be refused with an error, never a crash;
the rule is a refusal with a non-empty, valid UTF-8 message. The exact ABI.md 5
text is the Rust SDK's converter's: a warning for Rust plugins, only observed
(info) for C plugins, whose wording is their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from conformance.abi import ffi
from conformance.abi.constants import PacketType, PixelFormat
from conformance.checks.delivery import binary_handle_state, deliver, expected_echo, is_echo
from conformance.checks.model import Applicability, Needs, Severity
from conformance.checks.registry import FamilyRow, check, declare_family
from conformance.host.callbacks import host_callbacks
from conformance.host.instance import CallResult
from conformance.host.packets import (
    BinaryPacket,
    CustomPacket,
    Packet,
    PacketMetadata,
    RawAudioPacket,
    RawVideoPacket,
    TextPacket,
    TranscriptionPacket,
    TranscriptionSegment,
    packet_type_of,
)
from conformance.host.video import packed_frame_size
from conformance.host.wire import (
    RawAudio,
    RawBinaryMeta,
    RawBytes,
    RawCustom,
    RawMetadata,
    RawText,
    RawVideo,
    RawWire,
    decode_packet,
    encode_raw,
    expected_receiver_error,
    receiver_error_matches,
)
from conformance.scenario.context import ScenarioContext

PROCESSORS = frozenset({"processor"})
META = PacketMetadata(timestamp_us=1_000_000, duration_us=20_000, sequence=7)


def _frame(width: int, height: int, fmt: PixelFormat, extra: int = 0) -> RawVideoPacket:
    size = packed_frame_size(width, height, fmt)
    return RawVideoPacket(width, height, fmt, bytes((i * 7) % 251 for i in range(size + extra)), META)


def _samples(count: int) -> tuple[float, ...]:
    return tuple(math.sin(i / 5.0) * 0.5 for i in range(count))


PacketSpec = Packet | RawWire | Callable[[int], Packet | RawWire]


def _by_host(build: Callable[[bool], RawBinaryMeta]) -> Callable[[int], RawWire]:
    """A BinaryWithMeta as a host of each version sends it: 48 bytes from v9, the 32-byte struct from v7/v8."""
    return lambda host: RawWire(PacketType.BINARY_WITH_META, build(host < 9))


@dataclass(frozen=True, kw_only=True)
class Case(FamilyRow):
    """One packet delivered to process_packet: a legal one to accept, or a malformed one to refuse."""

    packet: PacketSpec
    host_sensitive: bool = False
    min_version: int = 6


LEGAL: tuple[Case, ...] = (
    Case(
        suffix="text.ascii",
        packet=TextPacket("hello"),
        rationale="Plain NUL-terminated text must be accepted (and echoed unchanged by an echo plugin).",
        abi_ref="ABI.md 5.1",
    ),
    Case(
        suffix="text.utf8",
        packet=TextPacket("h\u00e9llo \u2014 \u65e5\u672c \U0001f600"),
        rationale="Multi-byte UTF-8 (accents, CJK, emoji) must survive: the receiver reads bytes up to the NUL.",
        abi_ref="ABI.md 5.1, 8.5",
    ),
    Case(
        suffix="text.empty",
        packet=TextPacket(""),
        rationale="An empty text is a valid packet (one NUL byte).",
        abi_ref="ABI.md 5.1",
    ),
    Case(
        suffix="text.interior-nul",
        packet=TextPacket("a\0b"),
        rationale="The host truncates text at the first NUL; the plugin sees 'a'.",
        abi_ref="ABI.md 5.1, 5.12",
    ),
    Case(
        suffix="text.long",
        packet=TextPacket("x" * 65536),
        rationale="A 64 KiB text must be read to its NUL, not to a fixed buffer.",
        abi_ref="ABI.md 5.1",
    ),
    Case(
        suffix="transcription.minimal",
        packet=TranscriptionPacket("hi", ()),
        rationale="A transcription with no segments is valid JSON with every key present.",
        abi_ref="ABI.md 5.2",
    ),
    Case(
        suffix="transcription.full",
        packet=TranscriptionPacket(
            "hello world",
            (TranscriptionSegment("hello", 0, 500, 0.9), TranscriptionSegment("world", 500, 900, None)),
            "en",
            PacketMetadata(timestamp_us=5, duration_us=900_000, sequence=1, keyframe=True),
        ),
        rationale="Segments, language and metadata (nulls explicit) must be accepted.",
        abi_ref="ABI.md 5.2",
    ),
    Case(
        suffix="custom.object",
        packet=CustomPacket("demo/event@1", {"a": 1, "b": [True, None]}, META),
        rationale="A Custom packet with a JSON object payload and metadata must be accepted.",
        abi_ref="ABI.md 5.3",
    ),
    Case(
        suffix="custom.scalar",
        packet=CustomPacket("demo/n", 42, None),
        rationale="Any JSON value is a valid payload, not only objects.",
        abi_ref="ABI.md 5.3",
    ),
    Case(
        suffix="custom.empty-type-id",
        packet=CustomPacket("", {"k": "v"}, None),
        rationale="An empty type_id is accepted by the host.",
        abi_ref="ABI.md 5.3",
    ),
    Case(
        suffix="custom.metadata-flags-off",
        packet=RawWire(
            PacketType.CUSTOM,
            RawCustom(b"demo/x", b'{"v":1}', None, RawMetadata(123, False, 456, False, 789, False)),
        ),
        rationale="Values whose has_* flag is false must be ignored (they arrive as absent).",
        abi_ref="ABI.md 5.10, 8.5",
    ),
    Case(
        suffix="binary.plain",
        packet=BinaryPacket(bytes(range(256))),
        rationale="Binary bytes; a v9 host upgrades them to BinaryWithMeta for v9 plugins.",
        abi_ref="ABI.md 2.2, 5.4",
        host_sensitive=True,
    ),
    Case(
        suffix="binary.empty",
        packet=BinaryPacket(b""),
        rationale="Empty binary (data non-NULL, len 0) is a valid packet and must be accepted.",
        abi_ref="ABI.md 5.4, 5.0 C2",
        host_sensitive=True,
    ),
    Case(
        suffix="binary.nul-bytes",
        packet=BinaryPacket(b"\0\0a\0"),
        rationale="Binary is length-delimited: NUL bytes are data.",
        abi_ref="ABI.md 5.4",
        host_sensitive=True,
    ),
    Case(
        suffix="binary.with-meta",
        packet=BinaryPacket(b"\x01\x02\x03", "audio/aac", META),
        rationale="Binary with a content type and metadata travels as BinaryWithMeta (v7+) or is downgraded (v6).",
        abi_ref="ABI.md 2.2, 5.5",
        host_sensitive=True,
    ),
    Case(
        suffix="binary-with-meta.null-meta",
        packet=_by_host(lambda legacy: RawBinaryMeta(b"payload", legacy_size=legacy)),
        rationale="BinaryWithMeta with NULL content_type and metadata (48 bytes): what a v9 host makes of every plain "
        "Binary for a v9 plugin, which must therefore handle type 10 with NULL fields.",
        abi_ref="ABI.md 2.2, 8.5",
        host_sensitive=False,
        min_version=9,
    ),
    Case(
        suffix="binary-with-meta.v8-layout",
        packet=RawWire(
            PacketType.BINARY_WITH_META, RawBinaryMeta(b"legacy", legacy_size=True, tail_poison=0xDEADBEEFDEADBEEF)
        ),
        rationale="A 32-byte (v7/v8) BinaryWithMeta: the receiver must gate on len >= 48 and never read the tail.",
        abi_ref="ABI.md 2.3, 8.5",
        min_version=7,
    ),
    Case(
        suffix="raw-audio.stereo",
        packet=RawAudioPacket(48000, 2, _samples(64), META),
        rationale="Interleaved f32 stereo samples with metadata must be accepted.",
        abi_ref="ABI.md 5.7",
    ),
    Case(
        suffix="raw-audio.empty",
        packet=RawAudioPacket(48000, 1, (), None),
        rationale="An audio frame with zero samples is valid and must be accepted.",
        abi_ref="ABI.md 5.7",
    ),
    Case(
        suffix="raw-audio.odd-count",
        packet=RawAudioPacket(44100, 2, _samples(5), None),
        rationale="sample_count need not be a multiple of channels.",
        abi_ref="ABI.md 5.7",
    ),
    Case(
        suffix="raw-video.rgba8",
        packet=_frame(8, 4, PixelFormat.RGBA8),
        rationale="A packed RGBA8 frame (4 bytes per pixel, rows back to back) must be accepted.",
        abi_ref="ABI.md 5.6",
    ),
    Case(
        suffix="raw-video.i420",
        packet=_frame(8, 4, PixelFormat.I420),
        rationale="A packed I420 frame (Y plane, then U and V at half resolution) must be accepted.",
        abi_ref="ABI.md 5.6",
    ),
    Case(
        suffix="raw-video.nv12",
        packet=_frame(8, 4, PixelFormat.NV12),
        rationale="A packed NV12 frame (Y plane, then interleaved UV at half resolution) must be accepted.",
        abi_ref="ABI.md 5.6",
    ),
    Case(
        suffix="raw-video.odd-size",
        packet=_frame(3, 3, PixelFormat.I420),
        rationale="Odd sizes round chroma up: 3x3 I420 is 17 bytes.",
        abi_ref="ABI.md 5.6",
    ),
    Case(
        suffix="raw-video.zero-size",
        packet=RawVideoPacket(0, 0, PixelFormat.RGBA8, b"", None),
        rationale="A frame of zero width and height needs 0 bytes and must be accepted.",
        abi_ref="ABI.md 5.6",
    ),
    Case(
        suffix="raw-video.oversized",
        packet=_frame(4, 2, PixelFormat.RGBA8, extra=5),
        rationale="Extra bytes are truncated to the packed size.",
        abi_ref="ABI.md 5.6, 8.5",
    ),
    Case(
        suffix="encoded-video.runtime",
        packet=RawWire(PacketType.ENCODED_VIDEO, RawBytes(b"\x00\x00\x01vp9")),
        rationale="EncodedVideo at runtime is opaque bytes (it becomes Binary); the host never sends it, so this applies only "
        "to plugins that declare they take it.",
        abi_ref="ABI.md 5.8",
        min_version=6,
        severity=Severity.RECOMMENDED,
    ),
    Case(
        suffix="encoded-audio.runtime",
        packet=RawWire(PacketType.ENCODED_AUDIO, RawBytes(b"OpusHead")),
        rationale="EncodedAudio at runtime is opaque bytes (it becomes Binary); the host never sends it, so this applies only "
        "to plugins that declare they take it.",
        abi_ref="ABI.md 5.8",
        min_version=8,
        severity=Severity.RECOMMENDED,
    ),
)

MALFORMED: tuple[Case, ...] = (
    Case(
        suffix="text.invalid-utf8",
        packet=RawWire(PacketType.TEXT, RawText(b"ab\xff\xfe")),
        rationale="Text that is not UTF-8 must be refused with an error, never a crash.",
        abi_ref="ABI.md 5.1, 8.5",
    ),
    Case(
        suffix="text.null-data",
        packet=RawWire(PacketType.TEXT, RawText(b"x"), null_packet_data=True),
        rationale="CPacket.data NULL is refused for every type.",
        abi_ref="ABI.md 5.0 C2",
    ),
    Case(
        suffix="transcription.missing-segments",
        packet=RawWire(PacketType.TRANSCRIPTION, RawBytes(b'{"text":"x"}')),
        rationale="A transcription without its required segments is invalid.",
        abi_ref="ABI.md 5.2, 8.5",
    ),
    Case(
        suffix="transcription.not-json",
        packet=RawWire(PacketType.TRANSCRIPTION, RawBytes(b"{nope")),
        rationale="Transcription bytes that are not JSON are invalid and must be refused.",
        abi_ref="ABI.md 5.2",
    ),
    Case(
        suffix="custom.null-type-id",
        packet=RawWire(PacketType.CUSTOM, RawCustom(None, b"{}")),
        rationale="A Custom packet with a NULL type_id must be refused, not dereferenced.",
        abi_ref="ABI.md 5.3, 8.5",
    ),
    Case(
        suffix="custom.null-data",
        packet=RawWire(PacketType.CUSTOM, RawCustom(b"t", None)),
        rationale="A NULL data_json is refused even with len 0.",
        abi_ref="ABI.md 5.3, 8.5",
    ),
    Case(
        suffix="custom.bad-json",
        packet=RawWire(PacketType.CUSTOM, RawCustom(b"t", b"{oops")),
        rationale="A Custom packet whose data_json is not JSON must be refused.",
        abi_ref="ABI.md 5.3, 8.5",
    ),
    Case(
        suffix="custom.empty-json",
        packet=RawWire(PacketType.CUSTOM, RawCustom(b"t", b"")),
        rationale="A Custom packet with data_len 0 has no JSON value and must be refused.",
        abi_ref="ABI.md 5.3, 8.5",
    ),
    Case(
        suffix="binary.null-data",
        packet=RawWire(PacketType.BINARY, RawBytes(b""), null_packet_data=True),
        rationale="Even empty Binary needs a non-NULL data pointer.",
        abi_ref="ABI.md 5.0 C2, 8.5",
    ),
    Case(
        suffix="binary-with-meta.null-data",
        packet=_by_host(lambda legacy: RawBinaryMeta(None, 4, legacy_size=legacy)),
        rationale="BinaryWithMeta with data NULL and data_len > 0 is refused.",
        abi_ref="ABI.md 5.5",
        host_sensitive=True,
        min_version=7,
    ),
    Case(
        suffix="binary-with-meta.bad-content-type",
        packet=_by_host(lambda legacy: RawBinaryMeta(b"x", None, b"audio/\xff", legacy_size=legacy)),
        rationale="A content_type that is not UTF-8 is refused.",
        abi_ref="ABI.md 5.5",
        host_sensitive=True,
        min_version=7,
    ),
    Case(
        suffix="raw-audio.null-samples",
        packet=RawWire(PacketType.RAW_AUDIO, RawAudio(48000, 1, None, 0)),
        rationale="An audio frame with a NULL samples pointer must be refused, not dereferenced.",
        abi_ref="ABI.md 5.7, 8.5",
    ),
    Case(
        suffix="raw-video.undersized",
        packet=RawWire(PacketType.RAW_VIDEO, RawVideo(4, 4, PixelFormat.RGBA8, bytes(63))),
        rationale="A frame shorter than its packed size is refused ('VideoFrame data buffer too small').",
        abi_ref="ABI.md 5.6, 8.5",
    ),
    Case(
        suffix="raw-video.null-data",
        packet=RawWire(PacketType.RAW_VIDEO, RawVideo(2, 2, PixelFormat.RGBA8, None, 0)),
        rationale="A video frame with a NULL data pointer must be refused, not dereferenced.",
        abi_ref="ABI.md 5.6",
    ),
    Case(
        suffix="unsupported.opus",
        packet=RawWire(PacketType.OPUS_AUDIO, RawBytes(b"x")),
        rationale="OpusAudio is a pin-type tag; at runtime it is refused.",
        abi_ref="ABI.md 5.0 C3, 5.9",
    ),
    Case(
        suffix="unsupported.any",
        packet=RawWire(PacketType.ANY, RawBytes(b"x")),
        rationale="Any is a pin-type tag; at runtime it is refused.",
        abi_ref="ABI.md 5.0 C3, 5.9",
    ),
    Case(
        suffix="unsupported.passthrough",
        packet=RawWire(PacketType.PASSTHROUGH, RawBytes(b"x")),
        rationale="Passthrough is a pin-type tag; at runtime it is refused.",
        abi_ref="ABI.md 5.0 C3, 5.9",
    ),
)


def _resolve(spec: PacketSpec, host_version: int) -> Packet | RawWire:
    return spec(host_version) if callable(spec) else spec


def _type_of(case: Case) -> int:
    packet = _resolve(case.packet, 9)
    return packet.packet_type if isinstance(packet, RawWire) else int(packet_type_of(packet))


def _needs_type(case: Case) -> Needs:
    kind = PacketType(_type_of(case))
    if kind in (PacketType.OPUS_AUDIO, PacketType.ANY, PacketType.PASSTHROUGH):
        return Needs(inputs=True)  # what matters is that the plugin refuses it, whatever it accepts
    # Encoded types too: the host never delivers them at runtime (ABI.md 5.8); only plugins that say they take them.
    return Needs(accepts=kind)


def _legal_scenario(case: Case) -> Any:
    def scenario(ctx: ScenarioContext) -> None:
        packet = _resolve(case.packet, ctx.host_version)
        delivery = deliver(ctx, packet, detail=case.suffix)
        if delivery is None:
            return
        result = delivery.result
        ctx.expect(result.bool_ok, "CResult.success is 0 or 1", f"byte {result.success_byte}")
        ctx.expect(result.success, f"process_packet accepts a valid {case.suffix} packet", result.describe())
        if not result.success or not is_echo(ctx):
            return
        good = [out for out in result.outputs if out.error is None]
        expected = _expected(ctx, packet)
        if expected is None:
            return
        ctx.expect(len(good) == 1, "the echo plugin emits exactly one packet", f"{len(good)} packets")
        if len(good) == 1:
            ctx.expect(
                good[0].packet == expected,
                "the echoed packet equals what a conforming receiver reads",
                f"sent {_short(expected)}, got back {_short(good[0].packet)}",
            )

    return scenario


def _expected(ctx: ScenarioContext, packet: Packet | RawWire) -> Packet | None:
    if isinstance(packet, RawWire):
        encoded = encode_raw(packet)
        decoded = decode_packet(encoded.ptr)
        if packet.packet_type in (PacketType.ENCODED_AUDIO, PacketType.ENCODED_VIDEO):
            return decoded
        return expected_echo(ctx, decoded)
    return expected_echo(ctx, packet)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _malformed_scenario(case: Case) -> Any:
    def scenario(ctx: ScenarioContext) -> None:
        raw = _resolve(case.packet, ctx.host_version)
        assert isinstance(raw, RawWire)
        expected_error = expected_receiver_error(raw)
        delivery = deliver(ctx, raw, detail=case.suffix, packet_type=raw.packet_type)
        if delivery is None:
            return
        result = delivery.result
        ctx.expect(result.bool_ok, "CResult.success is 0 or 1", f"byte {result.success_byte}")
        ctx.expect(
            not result.success, f"process_packet refuses the malformed {case.suffix} packet", "it returned success"
        )
        if not result.success:
            _judge_refusal(ctx, result, expected_error)

    return scenario


def _judge_refusal(ctx: ScenarioContext, result: CallResult, expected_error: str | None) -> None:
    """The rule is "refuses with a non-empty, valid UTF-8 message" (ABI.md 4.1, 8.4); the wording is not.

    A message that is not UTF-8 (or not readable) fails. A NULL or empty message
    is a warning (the host then reports only "Unknown plugin error"). The exact text
    of ABI.md 5 is what the Rust SDK's converter says: a Rust plugin whose text
    differs gets a warning (its receiver is not the SDK's); for any other plugin
    the text is only observed.
    """
    if result.message_problem is not None:
        ctx.expect(False, "the refusal message is a readable, valid UTF-8 string", result.message_problem)
        return
    ctx.expect(
        bool(result.message),
        "the refusal carries a non-empty message",
        "NULL or empty message: the host reports only 'Unknown plugin error'",
        warn_only=True,
    )
    if expected_error is None or not result.message:
        return
    message = result.message
    for prefix in ("Invalid packet: ", "Failed to convert packet: "):
        message = message.removeprefix(prefix)
    same = _error_matches(expected_error, message)
    if ctx.option("language") == "rust":
        ctx.expect(
            same,
            f"the error names the problem as the Rust SDK's converter does ({expected_error!r})",
            f"got {message!r}",
            warn_only=True,
        )
    else:
        ctx.observe("sdk_wording", {"sdk": expected_error, "plugin": message, "same": same})


_RUST_UTF8_DETAILS = (": invalid utf-8", ": incomplete utf-8")


def _error_matches(expected: str, actual: str) -> bool:
    """ABI.md 5's text, except that Rust's own UTF-8 error detail is not asked of other implementations."""
    for detail in _RUST_UTF8_DETAILS:
        if detail in expected:
            return actual.startswith(expected[: expected.index(detail)])
    return receiver_error_matches(expected, actual)


def _zero_copy_scenario(data: bytes | None, data_len: int, expect_success: bool) -> Any:
    """ABI.md 4.16, 8.5: the plugin releases a v9 handle once and clears the field, or leaves it to the host."""

    def scenario(ctx: ScenarioContext) -> None:
        callbacks = host_callbacks(ctx.emit)
        handle, free_fn = callbacks.new_binary_handle("delivered")
        raw = RawWire(
            PacketType.BINARY_WITH_META,
            RawBinaryMeta(
                data, data_len, None, None, int(ffi().cast("uintptr_t", handle)), int(ffi().cast("uintptr_t", free_fn))
            ),
        )
        encoded = encode_raw(raw)
        encoded.keepalive.extend([handle, free_fn])
        delivery = deliver(
            ctx,
            raw,
            detail=f"BinaryWithMeta with a handle, data_len {data_len}",
            packet_type=int(PacketType.BINARY_WITH_META),
            encoded=encoded,
        )
        if delivery is None:
            return
        result = delivery.result
        if expect_success:
            ctx.expect(result.success, "process_packet accepts the packet", result.describe())
        else:
            ctx.expect(not result.success, "process_packet refuses data NULL with data_len > 0", "it returned success")
        state = binary_handle_state(ctx, handle)
        ctx.observe("handle_state", state)
        ctx.expect(state in ("freed-by-plugin", "freed-by-host"), "the handle is released exactly once", state)

    return scenario


def _applies(case: Case) -> Applicability:
    return Applicability(
        node_kinds=PROCESSORS, min_version=case.min_version, host_sensitive=case.host_sensitive, needs=_needs_type(case)
    )


declare_family("wire-in.", LEGAL, _legal_scenario, _applies)
declare_family("wire-in.", MALFORMED, _malformed_scenario, _applies)

_ZERO_COPY = Applicability(node_kinds=PROCESSORS, min_version=9, needs=Needs(accepts=PacketType.BINARY_WITH_META))

check(
    "wire-in.binary-with-meta.handle-empty",
    abi_ref="ABI.md 4.16 rules 1, 2, 6; 5.5 step 3; 8.5",
    rationale="An empty v9 BinaryWithMeta may carry a handle: the plugin releases it once and clears the field, "
    "or leaves it for the host; releasing without clearing is a double free.",
    applies=_ZERO_COPY,
    owns_violations=("binary.",),
)(_zero_copy_scenario(b"", 0, True))
check(
    "wire-in.binary-with-meta.handle-null-data",
    abi_ref="ABI.md 5.5 step 2, 8.5",
    rationale="data NULL with data_len > 0 and a handle: the receiver releases the handle once, clears the field and "
    "refuses the packet ('BinaryWithMeta packet has null data pointer').",
    applies=_ZERO_COPY,
    owns_violations=("binary.",),
)(_zero_copy_scenario(None, 4, False))
check(
    "wire-in.binary-with-meta.handle-payload",
    abi_ref="ABI.md 4.16 rules 1-3, 8.5; HOST.md 6.11",
    rationale="A C plugin given a v9 handle with a payload must leave it (the host frees it) or release it and clear "
    "the field; never release it twice. Not run on Rust plugins: there the handle is a Rust object.",
    applies=replace(_ZERO_COPY, needs=Needs(accepts=PacketType.BINARY_WITH_META, language="c")),
    owns_violations=("binary.",),
)(_zero_copy_scenario(b"zero-copy payload", 17, True))
