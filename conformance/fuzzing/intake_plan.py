"""What one plugin-intake input means: create params and a few calls.

Plain data without Hypothesis: a plan travels in the sandbox request, so the
fork server unpickles it.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.fuzzing.findings import short
from conformance.host.packets import Packet
from conformance.host.wire import RawWire


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
    """Create the instance with ``params``, make the calls, destroy."""

    params: bytes | None
    ops: tuple[IntakeOp, ...]
    host_version: int = 9

    def describe(self) -> str:
        lines = [f"create_instance({short(self.params, 120)})"]
        lines += [f"  {index}: {op.describe()}" for index, op in enumerate(self.ops)]
        return "\n".join(lines)
