"""The planted codec bug (``CONFORMANCE_PLANT_CODEC_BUG=1``) that proves ``wire_roundtrip`` finds encoder slips.

A wrapper around the host encoder rather than a patch of
``conformance.host.wire``: the bug exists only for the target that asks for
it, so no other code path can be poisoned by a stray environment variable.
"""

from __future__ import annotations

import os
from dataclasses import replace

from conformance.host.packets import Packet, TextPacket, truncate_at_nul
from conformance.host.wire import EncodedPacket, RawText, encode_packet, encode_raw, to_raw_wire

PLANT_CODEC_BUG_ENV = "CONFORMANCE_PLANT_CODEC_BUG"
#: Texts longer than this (in characters) lose their last byte when the bug is planted.
PLANTED_BUG_MIN_CHARS = 8


def codec_bug_planted() -> bool:
    """Read at each call so a test can flip it per subprocess without re-importing."""
    return os.environ.get(PLANT_CODEC_BUG_ENV, "") not in ("", "0")


def encode_for_roundtrip(packet: Packet, *, host_version: int = 9, plugin_version: int = 9) -> EncodedPacket:
    """``encode_packet``, or with ``CONFORMANCE_PLANT_CODEC_BUG=1`` an encoder that drops the last
    byte of every text longer than 7 characters (an off-by-one a real encoder could have)."""
    if not codec_bug_planted():
        return encode_packet(packet, host_version=host_version, plugin_version=plugin_version)
    raw = to_raw_wire(packet, host_version=host_version, plugin_version=plugin_version)
    text = truncate_at_nul(packet.text) if isinstance(packet, TextPacket) else ""
    if isinstance(raw.payload, RawText) and len(text) >= PLANTED_BUG_MIN_CHARS:
        raw = replace(raw, payload=RawText(raw.payload.data[:-1]))
    return encode_raw(raw)
