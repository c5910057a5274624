"""callbacks: the per-call bundle is used only inside its call, as declared (ABI.md 4.1, 4.12-4.14, 8.4, 8.6)."""

from __future__ import annotations

import time
from typing import Any

from conformance.checks.common import require_processor
from conformance.checks.model import Severity
from conformance.checks.registry import check
from conformance.checks.traffic import drive, traffic_once, with_instance
from conformance.host.callbacks import host_callbacks
from conformance.host.logs import log_bridge
from conformance.scenario.context import ScenarioContext

LATE_WINDOW_S = 0.08
#: After destroy, a last wait for callbacks still in flight.
LATE_DRAIN_S = LATE_WINDOW_S / 3


def _traffic_then_linger(linger: bool = False, may_fail: bool = False, **frame_options: Any) -> Any:
    """Ordinary traffic (then, with ``linger``, keep the instance alive so late callbacks show), then destroy."""

    def scenario(ctx: ScenarioContext) -> None:
        require_processor(ctx)
        instance = with_instance(ctx)
        if instance is None:
            return
        try:
            run = drive(ctx, instance, **frame_options)
            ctx.observe("calls", len(run.results))
            if linger:
                time.sleep(LATE_WINDOW_S)
        finally:
            instance.destroy()
        if linger:
            time.sleep(LATE_DRAIN_S)
        failed = [r for r in run.results if not r.success]
        ctx.expect(all(r.bool_ok for r in run.results), "results stay well formed with this bundle")
        if frame_options and not may_fail:
            ctx.expect(
                not failed,
                "the plugin keeps working with this bundle",
                "; ".join(f"{r.entry}: {r.describe()}" for r in failed[:3]),
            )

    return scenario


def _not_concurrent(ctx: ScenarioContext) -> None:
    """Ordinary traffic; the native guard reports overlaps as ``callbacks.concurrent`` (owned below).

    The evidence says whether the native guard was on (without a C compiler only the Python lock
    watches, and the GIL hides most overlaps) and how many log calls overlapped, which ABI.md 7
    allows: the log callbacks are thread-safe.
    """
    _traffic_then_linger()(ctx)
    problem = host_callbacks(ctx.emit).guard_problem
    ctx.observe("native_guard", "on" if not problem else f"off: {problem}")
    overlaps = log_bridge(ctx.emit).overlapping_calls()
    if overlaps is not None:
        ctx.observe("overlapping_log_calls", overlaps)


def _foreign_threads(ctx: ScenarioContext) -> None:
    require_processor(ctx)
    run = traffic_once(ctx)
    if run is None:
        return
    foreign = sorted({thread for r in run.results if r.frame is not None for thread in r.frame.foreign_threads})
    ctx.expect(
        not foreign,
        "callbacks arrive on the thread that made the call",
        f"from {', '.join(foreign)}: legal only for a helper thread joined before the call returns",
        warn_only=True,
    )


def _output_fails(ctx: ScenarioContext) -> None:
    require_processor(ctx)
    instance = with_instance(ctx)
    if instance is None:
        return
    try:
        run = drive(ctx, instance, fail_outputs=True)
        emitted = sum(len(r.outputs) for r in run.results)
        ctx.observe("outputs_refused", emitted)
        after = drive(ctx, instance)
    finally:
        instance.destroy()
    ctx.expect(all(r.bool_ok for r in run.results), "results stay well formed when the host refuses outputs")
    broken = [r for r in after.results if not r.success]
    ctx.expect(
        not broken,
        "the instance keeps working once outputs are accepted again",
        "; ".join(f"{r.entry}: {r.describe()}" for r in broken[:3]),
    )


check(
    "callbacks.within-call",
    abi_ref="ABI.md 4.1, 8.4",
    rationale="The bundle, its user data and the input packet live only during the call; a callback after the "
    "call returned is a use-after-free in the real host.",
    owns_violations=("callbacks.late",),
)(_traffic_then_linger(linger=True))
check(
    "callbacks.user-data",
    abi_ref="ABI.md 3.3 (CNodeCallbacks), 4.12",
    rationale="Callbacks must pass back the exact user_data of the bundle.",
    owns_violations=("callbacks.user-data",),
)(_traffic_then_linger())
check(
    "callbacks.not-concurrent",
    abi_ref="ABI.md 4.1, 7",
    rationale="The host's callbacks write a per-call context without locking: never call them from two threads at once.",
    owns_violations=("callbacks.concurrent",),
)(_not_concurrent)
check(
    "callbacks.calling-thread",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 4.1, 8.4",
    rationale="Callbacks from another thread are legal only from a helper thread joined before the call returns.",
)(_foreign_threads)
check(
    "callbacks.struct-size-24",
    abi_ref="ABI.md 2.3, 3.3, 8.4",
    rationale="A bundle of 24 bytes has no telemetry or alloc fields: the plugin must not call them (and keeps working).",
    owns_violations=("callbacks.struct-size",),
)(_traffic_then_linger(struct_size=24))
check(
    "callbacks.struct-size-32",
    abi_ref="ABI.md 2.3, 8.4",
    rationale="With struct_size 32 telemetry is present but the alloc functions are not.",
    owns_violations=("callbacks.struct-size",),
)(_traffic_then_linger(struct_size=32))
check(
    "callbacks.struct-size-48",
    abi_ref="ABI.md 2.3, 8.4",
    rationale="With struct_size 48 alloc_video is present, alloc_audio is not.",
    owns_violations=("callbacks.struct-size",),
)(_traffic_then_linger(struct_size=48))
check(
    "callbacks.struct-size-56",
    abi_ref="ABI.md 2.3, 8.4",
    rationale="With struct_size 56 both alloc functions are present, alloc_user_data is not.",
    owns_violations=("callbacks.struct-size",),
)(_traffic_then_linger(struct_size=56))
check(
    "callbacks.null-telemetry",
    abi_ref="ABI.md 3.4, 8.4",
    rationale="telemetry_callback is nullable: a plugin must check before calling it.",
)(_traffic_then_linger(telemetry=False))
check(
    "callbacks.null-alloc",
    abi_ref="ABI.md 3.3, 4.14, 8.4",
    rationale="alloc_video and alloc_audio are nullable ('no pool'): a plugin must fall back to copying.",
)(_traffic_then_linger(alloc=False))
check(
    "callbacks.alloc-null-result",
    abi_ref="ABI.md 4.14, 8.6",
    rationale="The alloc functions return a null result when there is no pool: the plugin must fall back or fail "
    "cleanly, never write through the NULL pointer.",
)(_traffic_then_linger(may_fail=True, alloc_null=True))
check(
    "callbacks.output-refused",
    abi_ref="ABI.md 4.12, 8.6",
    rationale="The output callback may refuse a packet ({false, NULL}); the plugin must propagate or continue, "
    "not crash, and keep working.",
)(_output_fails)
check(
    "callbacks.pool-returned-once",
    abi_ref="ABI.md 4.14, 8.6",
    rationale="Every pool buffer from alloc_video/alloc_audio must come back exactly once: in one emitted frame or "
    "through one free_fn call, by the end of the call or at the latest by destroy.",
    owns_violations=("pool.",),
)(_traffic_then_linger())
