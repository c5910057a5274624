"""source: the probe, live config, ticks up to max_ticks, hints (ABI.md 4.10, 4.11, 8.7; HOST.md 4)."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.checks.common import metadata_of, require_processor
from conformance.checks.entries import PREFERRED_SIZE_HINT
from conformance.checks.model import Applicability, Needs, Severity
from conformance.checks.registry import FamilyRow, check, declare_family
from conformance.checks.traffic import with_instance
from conformance.host.instance import Instance
from conformance.host.packets import TextPacket
from conformance.host.wire import encode_packet
from conformance.scenario.context import Scenario, ScenarioContext

MAX_TICKS_DRIVEN = 50
#: Ticks driven when max_ticks is 0 (no limit) or above MAX_TICKS_DRIVEN.
UNLIMITED_TICKS_DRIVEN = 5
ON_SOURCES = Applicability(node_kinds=frozenset({"source"}))
HINTED_SOURCES = Applicability(node_kinds=frozenset({"source"}), needs=Needs(entry="on_upstream_hint"))


def _instance(ctx: ScenarioContext) -> Instance | None:
    require_processor(ctx)
    return with_instance(ctx)


@check(
    "source.live-config",
    abi_ref="ABI.md 4.10; HOST.md 4",
    rationale="At Start the host re-queries get_source_config on the live instance and uses its interval and "
    "max_ticks.",
    applies=ON_SOURCES,
)
def _live_config(ctx: ScenarioContext) -> None:
    instance = _instance(ctx)
    if instance is None:
        return
    config = instance.source_config_then_destroy()
    ctx.observe(
        "config",
        {
            "is_source": config.is_source_byte,
            "tick_interval_us": config.tick_interval_us,
            "max_ticks": config.max_ticks,
        },
    )
    ctx.expect(config.is_source_byte in (0, 1), "is_source is 0 or 1", f"byte {config.is_source_byte}")
    ctx.expect(config.is_source, "the live instance (created with params) still says it is a source")
    ctx.expect(
        config.tick_interval_us > 0,
        "tick_interval_us is positive",
        "0: the host clamps it to 1 us, a busy loop",
        warn_only=True,
    )


@check(
    "source.ticks-until-done",
    abi_ref="ABI.md 4.10, 8.7",
    rationale="Each tick emits on declared pins; done must come exactly at max_ticks (the host stops there "
    "anyway); an error tick fails the node.",
    applies=ON_SOURCES,
)
def _ticks(ctx: ScenarioContext) -> None:
    instance = _instance(ctx)
    if instance is None:
        return
    declared = {pin.name for pin in metadata_of(ctx).outputs}
    try:
        config = instance.source_config()
        limit = config.max_ticks if 0 < config.max_ticks <= MAX_TICKS_DRIVEN else UNLIMITED_TICKS_DRIVEN
        done_at = None
        for number in range(1, limit + 1):
            result = instance.tick(detail=f"tick {number} of max_ticks {config.max_ticks}")
            ctx.expect(result.bool_ok, f"tick {number}: result bytes are 0 or 1", result.describe())
            ctx.expect(result.success, f"tick {number} succeeds", result.describe())
            bad = [o.error for o in result.outputs if o.error] + [
                f"undeclared pin {o.pin!r}" for o in result.outputs if o.pin not in declared and not o.error
            ]
            ctx.expect(not bad, f"tick {number}: outputs convert and go to declared pins", "; ".join(bad[:3]))
            if not result.success:
                return
            if result.done:
                done_at = number
                break
    finally:
        instance.destroy()
    if 0 < config.max_ticks <= MAX_TICKS_DRIVEN:
        ctx.expect(
            done_at == config.max_ticks,
            f"done is reported on tick {config.max_ticks} (max_ticks)",
            f"done on tick {done_at}" if done_at else f"not done after {config.max_ticks} ticks",
        )


@check(
    "source.process-and-flush",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 4.10, 6.1, 8.7",
    rationale="The host never calls process_packet or flush on a source, but a demoted source gets them: "
    "process must fail cleanly and flush succeed.",
    applies=ON_SOURCES,
)
def _process_on_source(ctx: ScenarioContext) -> None:
    instance = _instance(ctx)
    if instance is None:
        return
    try:
        encoded = encode_packet(TextPacket("not for a source"), plugin_version=ctx.plugin.version)
        result = instance.process("in", encoded, detail="Text on a source")
        flushed = instance.flush()
    finally:
        instance.destroy()
    ctx.expect(
        not result.success,
        "process_packet on a source returns an error",
        "it returned success; the SDK answers 'process_packet called on source plugin (not supported)'",
    )
    ctx.expect(flushed.success, "flush on a source succeeds (a no-op)", flushed.describe())


@dataclass(frozen=True, kw_only=True)
class HintCase(FamilyRow):
    """One on_upstream_hint check: the hint, whether it must be accepted (None: either way), then a tick or not."""

    hint: str | None
    expect: bool | None
    then_tick: bool = False


HINT_CASES: tuple[HintCase, ...] = (
    HintCase(
        suffix="hint-preferred-size",
        hint=PREFERRED_SIZE_HINT,
        expect=True,
        rationale='The compositor sends {"type":"preferred_size",...}; a source must accept it.',
        abi_ref="ABI.md 4.11, 8.7",
    ),
    HintCase(
        suffix="hint-malformed",
        hint="{not json",
        expect=False,
        rationale="A malformed hint must be refused with an error, never a crash.",
        abi_ref="ABI.md 4.11, 8.7",
    ),
    HintCase(
        suffix="hint-unknown-type",
        hint='{"type":"future_hint","x":1}',
        expect=None,
        rationale="Unknown hint types will be added; a source must ignore or refuse them, never crash.",
        abi_ref="ABI.md 4.11, 8.7",
    ),
    HintCase(
        suffix="hint-null",
        hint=None,
        expect=False,
        rationale="A NULL hint reads as '' and must be refused, not crash.",
        abi_ref="ABI.md 4.11",
        severity=Severity.RECOMMENDED,
    ),
    HintCase(
        suffix="hint-then-tick",
        hint=PREFERRED_SIZE_HINT,
        expect=None,
        then_tick=True,
        rationale="Hints are delivered on the worker right before the next tick; ticking must go on.",
        abi_ref="ABI.md 4.11; HOST.md 4",
    ),
)


def _hint(case: HintCase) -> Scenario:
    hint, expect, then_tick = case.hint, case.expect, case.then_tick

    def scenario(ctx: ScenarioContext) -> None:
        instance = _instance(ctx)
        if instance is None:
            return
        try:
            result = instance.hint(hint)
            ticked = instance.tick(detail="tick after a hint") if then_tick else None
        finally:
            instance.destroy()
        ctx.expect(result.bool_ok, "the hint result is well formed", result.describe())
        if expect is True:
            ctx.expect(result.success, "the hint is accepted", result.describe())
        elif expect is False:
            ctx.expect(not result.success, "the hint is refused with an error", "it returned success")
        if ticked is not None:
            ctx.expect(ticked.success, "the next tick still works", ticked.describe())

    return scenario


declare_family("source.", HINT_CASES, _hint, HINTED_SOURCES)
