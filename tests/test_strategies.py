"""Property tests of the public strategies against the real encoder and receiver.

The number of examples comes from the Hypothesis profile (``dev``/``ci``/
``nightly``, see ``conformance.strategies.profiles``); nothing here pins it.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from conformance import strategies as S
from conformance.abi import ffi
from conformance.abi.constants import PacketType, PixelFormat
from conformance.host.packets import (
    MODEL_PACKET_TYPES,
    BinaryPacket,
    Packet,
    RawAudioPacket,
    RawVideoPacket,
    TextPacket,
    normalise,
    packet_type_of,
)
from conformance.host.video import packed_frame_size
from conformance.host.wire import (
    HARNESS_RULES,
    RUNTIME_PACKET_TYPES,
    RawBinaryMeta,
    RawVideo,
    RawWire,
    Rule,
    WireError,
    decode_packet,
    decode_packet_with_handles,
    encode_packet,
    encode_raw,
    expected_receiver_error,
    receiver_error_matches,
    rust_utf8_error,
)
from conformance.strategies.profiles import PROFILE_EXAMPLES, load_selected_profile, selected_profile

load_selected_profile()

DELIVERIES = [(9, 9), (9, 8), (9, 6), (8, 8), (8, 7), (7, 6), (6, 6)]
#: Budget for ``find`` searches that prove a strategy reaches a case (independent of the profile).
#: Generation only: reaching a case needs one example, not the smallest, and shrinking was half the file's CPU.
SEARCH = settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])


def _decode_error(raw: RawWire) -> WireError:
    with pytest.raises(WireError) as caught:
        decode_packet(encode_raw(raw).ptr)
    return caught.value


# -- legal packets --------------------------------------------------------------------


@given(S.packets())
def test_every_packet_round_trips_for_every_delivery(packet: Packet) -> None:
    for host, plugin in DELIVERIES:
        encoded = encode_packet(packet, host_version=host, plugin_version=plugin)
        assert decode_packet(encoded.ptr) == normalise(packet, host_version=host, plugin_version=plugin)


@given(S.packets())
def test_normalise_is_idempotent_and_packets_are_hashable(packet: Packet) -> None:
    once = normalise(packet)
    assert normalise(once) == once
    assert hash(once) == hash(normalise(once))


@pytest.mark.parametrize("kind", sorted(MODEL_PACKET_TYPES), ids=lambda kind: kind.name)
@given(data=st.data())
def test_packets_of_a_kind_have_that_discriminant(kind: PacketType, data: st.DataObject) -> None:
    packet = data.draw(S.packets([kind]))
    assert packet_type_of(packet) == kind


@given(S.raw_video_packets(max_side=4))
def test_video_packets_carry_at_least_the_packed_size(packet: RawVideoPacket) -> None:
    assert len(packet.data) >= packed_frame_size(packet.width, packet.height, packet.pixel_format)
    decoded = decode_packet(encode_packet(packet).ptr)
    assert isinstance(decoded, RawVideoPacket) and len(decoded.data) == packet.packed_size


@given(S.raw_audio_packets(allow_nan=True))
def test_audio_round_trip_is_bit_exact_even_with_nan(packet: RawAudioPacket) -> None:
    decoded = decode_packet(encode_packet(packet).ptr)
    assert isinstance(decoded, RawAudioPacket)
    assert decoded.samples_f32_bytes == packet.samples_f32_bytes


def test_packets_refuses_kinds_no_host_emits() -> None:
    with pytest.raises(ValueError, match="wire_packets"):
        S.packets([PacketType.ENCODED_VIDEO])
    with pytest.raises(ValueError):
        S.wire_packets([PacketType.OPUS_AUDIO])


# -- legal wire shapes ------------------------------------------------------------------


@given(S.wire_packets())
def test_every_legal_wire_packet_is_accepted(raw: RawWire) -> None:
    assert expected_receiver_error(raw) is None
    decoded = decode_packet(encode_raw(raw).ptr)
    if isinstance(raw.payload, RawVideo):
        assert isinstance(decoded, RawVideoPacket)
        assert len(decoded.data) == packed_frame_size(raw.payload.width, raw.payload.height, raw.payload.pixel_format)


@pytest.mark.parametrize("kind", sorted(RUNTIME_PACKET_TYPES), ids=lambda kind: kind.name)
@given(data=st.data())
def test_wire_packets_cover_every_runtime_type(kind: PacketType, data: st.DataObject) -> None:
    raw = data.draw(S.wire_packets([kind]))
    assert raw.kind == kind


# -- malformed packets ------------------------------------------------------------------


@given(S.malformed_packets())
def test_every_malformed_packet_is_rejected_with_the_expected_error(raw: RawWire) -> None:
    expected = expected_receiver_error(raw)
    assert expected is not None, raw
    error = _decode_error(raw)
    assert receiver_error_matches(expected, error.message), (expected, error.message)
    assert error.from_real_host, error.rule


HANDLE = 0x5CB1_0000_0042


@given(S.malformed_packets([PacketType.BINARY_WITH_META], binary_handle=(HANDLE, 0)))
def test_handles_in_rejected_binary_packets_are_reported_and_nulled(raw: RawWire) -> None:
    assert isinstance(raw.payload, RawBinaryMeta)
    encoded = encode_raw(raw)
    with pytest.raises(WireError) as caught:
        decode_packet_with_handles(encoded.ptr)
    consumed = raw.payload.buffer_handle if not raw.null_packet_data else 0
    assert caught.value.binary_handle == (consumed or None)
    if encoded.binary is not None:
        assert encoded.binary.buffer_handle == ffi().NULL


def test_malformed_binary_packets_do_carry_the_offered_handle() -> None:
    found = find(
        S.malformed_packets([PacketType.BINARY_WITH_META], binary_handle=(HANDLE, 0)),
        lambda raw: getattr(raw.payload, "buffer_handle", 0) == HANDLE,
        settings=SEARCH,
    )
    assert isinstance(found.payload, RawBinaryMeta)
    assert found.payload.data is None or found.payload.effective_data_len == 0  # never a payload to take over


HOST_RULES = sorted(set(Rule) - HARNESS_RULES - {Rule.NULL_PACKET})


@pytest.mark.parametrize("rule", HOST_RULES, ids=lambda rule: f"{rule.value}-{rule.name}")
def test_malformed_packets_reach_every_host_rule(rule: Rule) -> None:
    def hits(raw: RawWire) -> bool:
        return _decode_error(raw).rule == rule

    found = find(
        S.malformed_packets(),
        hits,
        settings=SEARCH,
    )
    assert expected_receiver_error(found) is not None


# -- params, hints -------------------------------------------------------------------------


@given(S.params_json())
def test_params_texts_are_c_strings_and_classifiable(text: bytes) -> None:
    assert b"\0" not in text
    kind = S.classify_params(text)
    assert kind is not S.ParamsKind.NONE
    assert (kind is S.ParamsKind.INVALID_UTF8) == (rust_utf8_error(text) is not None)


@given(S.hints())
def test_hint_texts_are_c_strings_and_classifiable(text: bytes) -> None:
    assert b"\0" not in text
    assert isinstance(S.classify_hint(text), S.HintKind)


@pytest.mark.parametrize("kind", [kind for kind in S.ParamsKind if kind is not S.ParamsKind.NONE])
def test_params_strategy_reaches_every_kind(kind: S.ParamsKind) -> None:
    find(S.params_json(), lambda text: S.classify_params(text) is kind, settings=SEARCH)


@pytest.mark.parametrize("kind", list(S.HintKind))
def test_hints_strategy_reaches_every_kind(kind: S.HintKind) -> None:
    find(S.hints(), lambda text: S.classify_hint(text) is kind, settings=SEARCH)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (b'{"type":"preferred_size","width":640,"height":480}', S.HintKind.VALID),
        (b'{"height":1,"type":"preferred_size","width":4294967295,"x":0}', S.HintKind.VALID),
        (b'{"type":"preferred_size","width":4294967296,"height":1}', S.HintKind.BAD_FIELDS),
        (b'{"type":"preferred_size","width":640}', S.HintKind.BAD_FIELDS),
        (b'{"type":"zoom"}', S.HintKind.UNKNOWN_TYPE),
        (b"[]", S.HintKind.NOT_A_HINT),
        (b"{", S.HintKind.MALFORMED),
    ],
)
def test_classify_hint(text: bytes, kind: S.HintKind) -> None:
    assert S.classify_hint(text) is kind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (None, S.ParamsKind.NONE),
        (b"", S.ParamsKind.EMPTY),
        (b'{"gain":2.0}', S.ParamsKind.OBJECT),
        (b"null", S.ParamsKind.NON_OBJECT),
        (b"{gain}", S.ParamsKind.NOT_JSON),
        (b'{"a":"\xff"}', S.ParamsKind.INVALID_UTF8),
    ],
)
def test_classify_params(text: bytes | None, kind: S.ParamsKind) -> None:
    assert S.classify_params(text) is kind


# -- byte-driven packets ---------------------------------------------------------------------


@given(st.binary(max_size=600))
def test_packet_from_bytes_is_total_deterministic_and_legal(data: bytes) -> None:
    packet = S.packet_from_bytes(data)
    assert S.packet_from_bytes(data) == packet
    assert decode_packet(encode_packet(packet).ptr) == normalise(packet)


def test_packet_from_bytes_on_random_inputs_covers_every_model_kind() -> None:
    generator = random.Random(20240601)
    kinds = set()
    for size in range(400):
        packet = S.packet_from_bytes(generator.randbytes(size % 257))
        kinds.add(packet_type_of(packet))
    assert kinds == set(MODEL_PACKET_TYPES)
    assert S.packet_from_bytes(b"") == S.packet_from_bytes(b"\0")


def test_packet_from_bytes_is_stable_across_releases() -> None:
    """Saved fuzz corpora depend on this mapping; change it only on purpose."""
    assert S.packet_from_bytes(b"\x01\x05hello") == TextPacket("hello")
    assert S.packet_from_bytes(b"\x04\x03abc") == BinaryPacket(b"abc")
    video = RawVideoPacket(1, 1, PixelFormat.RGBA8, b"rgba")
    assert S.packet_from_bytes(b"\x06\x01\x01\x00\x00rgba\x00") == video


# -- profiles -------------------------------------------------------------------------------


def test_profiles_are_registered_with_the_documented_sizes() -> None:
    assert PROFILE_EXAMPLES == {"dev": 50, "ci": 100, "nightly": 2000}
    for name, examples in PROFILE_EXAMPLES.items():
        profile = settings.get_profile(name)
        assert profile.max_examples == examples and profile.deadline is None
    assert selected_profile() in PROFILE_EXAMPLES


def test_selected_profile_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    monkeypatch.setenv("CONFORMANCE_HYPOTHESIS_PROFILE", "nightly")
    assert selected_profile() == "nightly"
    monkeypatch.setenv("CONFORMANCE_HYPOTHESIS_PROFILE", "bogus")
    with pytest.raises(ValueError):
        selected_profile()
    monkeypatch.delenv("CONFORMANCE_HYPOTHESIS_PROFILE")
    monkeypatch.setenv("CI", "true")
    assert selected_profile() == "ci"


def test_strategies_module_exports_what_it_documents() -> None:
    assert [name for name in S.__all__ if not hasattr(S, name)] == []
