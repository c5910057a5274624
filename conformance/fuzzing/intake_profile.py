"""What the intake planner knows about a plugin: its pins, version, node kind and valid params."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.abi.constants import PacketType
from conformance.host.wire import RUNTIME_PACKET_TYPES

BINARY_LIKE = frozenset(
    {PacketType.BINARY, PacketType.ENCODED_VIDEO, PacketType.BINARY_WITH_META, PacketType.ENCODED_AUDIO}
)
#: Discriminants a real host never delivers at runtime (C3): sent only as malformed packets.
UNSUPPORTED_AT_RUNTIME = (PacketType.OPUS_AUDIO, PacketType.ANY, PacketType.PASSTHROUGH)
#: First plugin version that can receive a raw discriminant (ABI.md 2.1).
_MIN_VERSION = {PacketType.BINARY_WITH_META: 7, PacketType.ENCODED_AUDIO: 8}


@dataclass(frozen=True)
class PluginProfile:
    """Learnt once per fuzzing session in the sandbox (``fuzz.profile``), then used to plan every input."""

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

    def wire_kinds(self) -> tuple[PacketType, ...]:
        """Runtime discriminants some pin takes and this plugin's version can receive."""
        return tuple(
            kind
            for kind in sorted(RUNTIME_PACKET_TYPES)
            if self.pins_for(kind) and self.version >= _MIN_VERSION.get(kind, 6)
        )

    def malformed_kinds(self) -> tuple[PacketType, ...]:
        return tuple(sorted({*self.wire_kinds(), *UNSUPPORTED_AT_RUNTIME}))
