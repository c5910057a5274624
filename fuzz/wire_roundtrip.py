#!/usr/bin/env python3
"""Fuzz target: legal packets survive the host encoder and the validating decoder unchanged.

Why: ``encode_packet`` and ``decode_packet`` are the two halves of every
check that compares an echo; if they disagree on any legal packet, every
wire check built on them is wrong. Packets come from the shared generator
(``conformance.strategies.packet_from_bytes``: total and stable, so saved
inputs keep their meaning), on every (host, plugin) version pair a host
delivers on. Oracles: the decoder accepts the packet, the result equals
``normalise(packet, host, plugin)``, and the receiver model
(``expected_receiver_error``) agrees that the encoder's wire form is legal.

With ``CONFORMANCE_PLANT_CODEC_BUG=1`` the encoder drops the last byte of
texts longer than 7 characters (see ``conformance.fuzzing.planted_bug``):
this target must find that within seconds.

    python fuzz/wire_roundtrip.py [libFuzzer flags] [corpus dirs | input files]
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from conformance.fuzzing.driver import fuzz_main
from conformance.fuzzing.findings import FuzzFinding, short
from conformance.fuzzing.packet_bytes import bytes_for_packet
from conformance.fuzzing.planted_bug import encode_for_roundtrip
from conformance.fuzzing.seeds import battery_packets
from conformance.host.packets import Packet, normalise, packet_type_of
from conformance.host.wire import RawWire, WireError, decode_packet, expected_receiver_error, to_raw_wire
from conformance.strategies import packet_from_bytes
from conformance.strategies.input_bytes import ByteSource

TARGET = "wire_roundtrip"
#: (host, plugin) version pairs a host delivers on: a host loads plugins from v6 up to its own version.
VERSION_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (host, plugin) for host in range(6, 10) for plugin in range(6, host + 1)
)


def test_one_input(data: bytes) -> None:
    """First byte: the version pair; the rest: ``packet_from_bytes``."""
    source = ByteSource(data)
    host, plugin = VERSION_PAIRS[source.below(len(VERSION_PAIRS))]
    packet = packet_from_bytes(source.rest())
    kind = packet_type_of(packet).name
    context = f"v{host} host -> v{plugin} plugin: {short(packet)}"
    model_error = expected_receiver_error(to_raw_wire(packet, host_version=host, plugin_version=plugin))
    if model_error is not None:
        raise FuzzFinding(f"the receiver model refuses the encoder's {kind} packet", f"{context}\n{model_error}")
    encoded = encode_for_roundtrip(packet, host_version=host, plugin_version=plugin)
    try:
        decoded = decode_packet(encoded.ptr)
    except WireError as error:
        raise FuzzFinding(
            f"a legal {kind} packet is refused ({error.rule.name})", f"{context}\n{error.message}"
        ) from None
    expected = normalise(packet, host_version=host, plugin_version=plugin)
    if decoded != expected:
        raise FuzzFinding(
            f"the round trip changes a {kind} packet",
            f"{context}\nexpected {short(expected)}\ndecoded  {short(decoded)}",
        )


def seed_inputs() -> Iterator[tuple[str, bytes]]:
    """The battery's legal model packets (wire-in and traffic), as a v9 host sends them to v9, v8 and v6."""
    pairs = {pair: index for index, pair in enumerate(VERSION_PAIRS)}
    for label, packet in battery_packets():
        if isinstance(packet, RawWire):
            continue
        versions = [(9, 9), (9, 8), (9, 6)] if packet_type_of(packet).name.startswith("BINARY") else [(9, 9)]
        for host, plugin in versions:
            yield f"{label}.v{host}-v{plugin}", bytes([pairs[(host, plugin)]]) + bytes_for_packet(packet)


def example(data: bytes) -> Packet:
    """The packet an input means (for reading regressions and artifacts)."""
    source = ByteSource(data)
    source.byte()
    return packet_from_bytes(source.rest())


def main(argv: list[str] | None = None) -> None:
    fuzz_main(TARGET, test_one_input, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
