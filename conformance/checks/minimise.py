"""Differential minimisation of the ordinary packet that crashed triage (issue 15, class 1).

A crash on the first ordinary packet says *that* the plugin broke, not *which
rule*. This module answers "which field made the difference": starting from
the packet that crashed in triage, it changes one field at a time (NULL
content type vs set, metadata NULL vs present, empty vs non-empty data,
packet type) and delivers each variant alone, to a fresh instance, in a
sandbox child of its own. The variants that pass name the field, e.g.
"crashes when content_type is NULL; passes with content_type set".

The number of probes is bounded (``MAX_PROBES``); every probe is one
create/process/destroy, so a crash costs a child, never the tool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from conformance.abi.constants import PacketType
from conformance.checks.common import valid_params
from conformance.checks.traffic import SAMPLE_META, samples, traffic_detail
from conformance.host.instance import Instance
from conformance.host.packets import Packet
from conformance.host.wire import (
    RawAudio,
    RawBinaryMeta,
    RawBytes,
    RawCustom,
    RawMetadata,
    RawText,
    RawVideo,
    RawWire,
    encode_raw,
    to_raw_wire,
)
from conformance.scenario.context import ScenarioContext
from conformance.scenario.events import Observed
from conformance.scenario.protocol import Outcome, SandboxResult, ScenarioRequest
from conformance.scenario.tools import tool_scenario

MINIMISE = "minimise"
PLAN_KEY = "minimise-plan"
PACKET_KEY = "minimise-packet"
#: Probes per crashing plugin, the original packet included: a few children, whatever the plugin.
MAX_PROBES = 8
PROBE_BUDGET_S = 10.0
_CONTENT_TYPE = b"application/octet-stream"
_SAMPLE_RAW_META = RawMetadata.of(SAMPLE_META)


@dataclass(frozen=True)
class Variant:
    """One change to the crashing packet: how to describe each side, and the changed wire."""

    name: str
    crashing: str  # the original packet's side: "content_type is NULL"
    passing: str  # the variant's side: "content_type set"
    wire: RawWire


def _pointer_flip(wire: RawWire, field: str, what: str, present: Any) -> Variant:
    payload: Any = wire.payload
    if getattr(payload, field) is None:
        changed = replace(payload, **{field: present})
        return Variant(f"{field}-set", f"{what} is NULL", f"{what} set", replace(wire, payload=changed))
    changed = replace(payload, **{field: None})
    return Variant(f"{field}-null", f"{what} is set", f"{what} NULL", replace(wire, payload=changed))


def _data_flip(wire: RawWire, field: str, what: str, empty: Any, filled: Any, count_field: str | None) -> Variant:
    payload: Any = wire.payload
    current = getattr(payload, field)
    extra = {count_field: None} if count_field else {}
    if current:
        changed = replace(payload, **{field: empty}, **extra)
        return Variant(f"{field}-empty", f"{what} is non-empty", f"empty {what}", replace(wire, payload=changed))
    changed = replace(payload, **{field: filled}, **extra)
    return Variant(f"{field}-filled", f"{what} is empty", f"non-empty {what}", replace(wire, payload=changed))


def field_variants(wire: RawWire, plugin_version: int) -> list[Variant]:
    """Single-field changes of ``wire`` that stay legal for a ``plugin_version`` plugin, most telling first."""
    payload = wire.payload
    variants: list[Variant] = []
    if isinstance(payload, RawBinaryMeta):
        variants.append(_pointer_flip(wire, "content_type", "content_type", _CONTENT_TYPE))
        variants.append(_pointer_flip(wire, "metadata", "metadata", _SAMPLE_RAW_META))
        variants.append(_data_flip(wire, "data", "data", b"", b"\x00binary", "data_len"))
        if plugin_version in (7, 8) and payload.content_type is None and payload.metadata is None:
            plain = RawWire(PacketType.BINARY, RawBytes(payload.data or b""))
            variants.append(Variant("as-binary", "it is a BinaryWithMeta (10)", "a plain Binary (5)", plain))
    elif isinstance(payload, RawBytes) and wire.kind is PacketType.BINARY:
        variants.append(_data_flip(wire, "data", "data", b"", b"\x00binary", None))
        if plugin_version >= 7:
            meta = RawBinaryMeta(payload.data, None, _CONTENT_TYPE, None)
            variants.append(
                Variant("as-binary-with-meta", "it is a plain Binary (5)", "a BinaryWithMeta (10)", RawWire(10, meta))
            )
    elif isinstance(payload, RawText):
        variants.append(_data_flip(wire, "data", "text", b"", b"hello", None))
    elif isinstance(payload, RawCustom):
        variants.append(_pointer_flip(wire, "metadata", "metadata", _SAMPLE_RAW_META))
    elif isinstance(payload, RawAudio):
        variants.append(_pointer_flip(wire, "metadata", "metadata", _SAMPLE_RAW_META))
        variants.append(_data_flip(wire, "samples", "samples", (), (0.0, 0.0), "sample_count"))
    elif isinstance(payload, RawVideo):
        variants.append(_pointer_flip(wire, "metadata", "metadata", _SAMPLE_RAW_META))
    return variants


def _type_name(wire: RawWire) -> str:
    return f"{wire.kind.name.title().replace('_', '')} ({int(wire.kind)})"


def plan(ctx: ScenarioContext, detail: str) -> tuple[str, Packet, list[Variant]] | None:
    """The crashing (pin, packet) of the ordinary traffic and its variants; None when ``detail`` names none."""
    plugin = ctx.plugin
    version = plugin.version or 9
    traffic = samples(ctx)
    for pin, packet in traffic:
        if traffic_detail(pin, packet) != detail:
            continue
        wire = to_raw_wire(packet, host_version=ctx.host_version, plugin_version=version)
        variants = field_variants(wire, version)
        for other_pin, other in traffic:
            other_wire = to_raw_wire(other, host_version=ctx.host_version, plugin_version=version)
            if other_wire.kind is not wire.kind and other_pin == pin:
                name = f"type-{int(other_wire.kind)}"
                variants.append(
                    Variant(
                        name, f"it is a {_type_name(wire)} packet", f"a {_type_name(other_wire)} packet", other_wire
                    )
                )
        return pin, packet, variants
    return None


@tool_scenario(MINIMISE)
def minimise_scenario(ctx: ScenarioContext) -> None:
    """Plan (``variant`` absent): observe the variants. Probe: deliver one variant (or the original) alone."""
    found = plan(ctx, str(ctx.option("detail", "")))
    if found is None:
        ctx.observe(PLAN_KEY, [])
        return
    pin, packet, variants = found
    name = ctx.option("variant")
    if name is None:
        wire = to_raw_wire(packet, host_version=ctx.host_version, plugin_version=ctx.plugin.version or 9)
        ctx.observe(PACKET_KEY, f"the ordinary {type(packet).__name__} on pin {pin!r}, sent as {_type_name(wire)}")
        ctx.observe(PLAN_KEY, [[v.name, v.crashing, v.passing] for v in variants])
        return
    wires = {v.name: v.wire for v in variants}
    version = ctx.plugin.version or 9
    wire = wires.get(name) or to_raw_wire(packet, host_version=ctx.host_version, plugin_version=version)
    instance = Instance.create(ctx.plugin, valid_params(ctx))
    if instance is None:
        ctx.observe("create-failed", True)
        return
    try:
        instance.process(pin, encode_raw(wire), detail=f"minimise {name} on pin {pin!r}")
    finally:
        instance.destroy()


Runner = Callable[[ScenarioRequest], SandboxResult]


def _crashed(result: SandboxResult) -> bool | None:
    """True: the plugin killed the child; False: the call came back; None: inconclusive (hang, tool error)."""
    if result.outcome in (Outcome.CRASHED, Outcome.EXITED):
        return True
    if result.outcome is Outcome.COMPLETED and not any(
        isinstance(event, Observed) and event.key == "create-failed" for event in result.events
    ):
        return False
    return None


def find_difference(path: str, detail: str, budget_scale: float, run: Runner) -> dict[str, Any] | None:
    """Which field of the packet ``detail`` names flips crash vs pass; None when nothing could be learned."""

    def request(**options: Any) -> ScenarioRequest:
        return ScenarioRequest(
            MINIMISE,
            path,
            budget_scale=budget_scale,
            overall_budget_s=PROBE_BUDGET_S,
            options={"detail": detail, **options},
            capture_stacks=False,
        )

    planned = run(request())
    observed = {e.key: e.value for e in planned.events if isinstance(e, Observed)}
    rows = observed.get(PLAN_KEY)
    if not rows:
        return None
    what = str(observed.get(PACKET_KEY, detail))
    alone = _crashed(run(request(variant="original")))
    probes = 1
    if alone is None:
        return None
    if not alone:
        sentence = (
            f"{what}: crashes only after the earlier packets of the ordinary traffic; "
            "alone, on a fresh instance, the same packet passes"
        )
        return {"packet": detail, "sentence": sentence, "passes_with": [], "probes": probes}
    passing: list[tuple[str, str]] = []
    crashing: list[str] = []
    for name, crash_side, pass_side in rows:
        if probes >= MAX_PROBES or (passing and name.startswith("type-")):
            break
        outcome = _crashed(run(request(variant=name)))
        probes += 1
        if outcome is False:
            passing.append((crash_side, pass_side))
        elif outcome is True:
            crashing.append(pass_side)
    if passing:
        sentence = f"{what}: " + "; ".join(f"crashes when {c}; passes with {p}" for c, p in passing)
    else:
        tried = ", ".join(crashing) or "none"
        sentence = (
            f"{what}: crashes whatever field is changed (also with {tried}): the packet's content is not the cause"
        )
    return {
        "packet": detail,
        "sentence": sentence,
        "passes_with": [p for _, p in passing],
        "still_crashes_with": crashing,
        "probes": probes,
    }
