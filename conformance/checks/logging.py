"""logging: what reaches the host's log callbacks (ABI.md 4.4, 4.15, 8.3; HOST.md 2, 6.1, 6.11)."""

from __future__ import annotations

import time
from typing import Any

from conformance.checks.common import metadata_of, require_processor
from conformance.checks.joint import declare_joint
from conformance.checks.model import Applicability, Needs, Severity
from conformance.checks.registry import check
from conformance.checks.traffic import drive, with_instance
from conformance.host.logs import log_bridge
from conformance.scenario.context import ScenarioContext
from conformance.scenario.events import LogSeen

LATE_WINDOW_S = 0.06


class _Recorder:
    """Collects the LogSeen events the scenario emits, by wrapping the context's emitter."""

    def __init__(self, ctx: ScenarioContext) -> None:
        self.logs: list[LogSeen] = []
        self._emit = ctx.emit

        def emit(event: Any) -> None:
            if isinstance(event, LogSeen):
                self.logs.append(event)
            self._emit(event)

        ctx.emit = emit


def _traffic(ctx: ScenarioContext) -> _Recorder:
    """Ordinary traffic once per process (``ScenarioContext.once``): four checks read its records, so they
    form a joint family (``checks.joint``); ``logging.no-late-logs`` lingers after it and runs alone."""
    return ctx.once("logging-traffic", lambda: _with_traffic(ctx))


def _prime(ctx: ScenarioContext) -> None:
    _traffic(ctx)


def _with_traffic(ctx: ScenarioContext, *, linger: bool = False) -> _Recorder:
    """Ordinary traffic; with ``linger``, wait after destroy so that late records can arrive."""
    recorder = _Recorder(ctx)
    require_processor(ctx)
    instance = with_instance(ctx)
    if instance is not None:
        try:
            drive(ctx, instance)
        finally:
            instance.destroy()
        if linger:
            time.sleep(LATE_WINDOW_S)
    return recorder


def _violations(ctx: ScenarioContext) -> None:
    recorder = _traffic(ctx)
    ctx.observe("log_records", len([log for log in recorder.logs if not log.enabled_query]))


def _target_is_kind(ctx: ScenarioContext) -> None:
    kind = metadata_of(ctx).kind
    recorder = _traffic(ctx)
    targets = sorted({log.target or "" for log in recorder.logs if not log.enabled_query})
    if not targets:
        ctx.skip("the plugin logged nothing under ordinary traffic")
    wrong = [target for target in targets if target != kind]
    ctx.expect(
        not wrong,
        f"every log target is the plugin kind {kind!r} (so RUST_LOG={kind}=debug applies)",
        f"targets seen: {wrong}",
    )


def _enabled_honoured(ctx: ScenarioContext) -> None:
    recorder = _traffic(ctx)
    threshold = log_bridge(ctx.emit).state.enabled_threshold
    queries = [log for log in recorder.logs if log.enabled_query]
    # Records logged inside create_instance come before the host can install the callback.
    below = [
        log
        for log in recorder.logs
        if not log.enabled_query and log.level < threshold and log.during != "create_instance"
    ]
    ctx.observe("enabled_queries", len(queries))
    ctx.observe("records_below_threshold", len(below))
    ctx.expect(
        not below,
        "no log below the level the enabled callback allows",
        f"{len(below)} records at levels the host said it would drop (first: level {below[0].level} "
        f"{below[0].message!r}); formatting them is wasted work"
        if below
        else "",
    )


def _no_late_logs(ctx: ScenarioContext) -> None:
    recorder = _with_traffic(ctx, linger=True)
    late = [log for log in recorder.logs if log.after_destroy]
    ctx.expect(
        not late,
        "no log callback after every instance was destroyed",
        f"{len(late)} late records (first: {late[0].message!r} on {late[0].thread})" if late else "",
    )


check(
    "logging.levels",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 3.2, 4.15; HOST.md 2.1",
    rationale="Log levels are read as a Rust enum: values outside 0..4 are undefined behaviour in the host.",
    owns_violations=("logging.level",),
)(_violations)
check(
    "logging.strings",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 4.15",
    rationale="Targets and messages should be UTF-8: the host logs invalid ones as 'unknown' / '[invalid UTF-8]'.",
    owns_violations=("logging.target", "logging.message"),
)(_violations)
check(
    "logging.target-is-kind",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 4.15, 6.3; HOST.md 2.1",
    rationale="Since v9 the log target is the plugin kind, so per-plugin filters (RUST_LOG=<kind>=debug) work.",
    applies=Applicability(min_version=9),
)(_target_is_kind)
check(
    "logging.enabled-honoured",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 4.4, 8.3; HOST.md 6.11",
    rationale="A v9 plugin that installs the enabled callback should not format or send records the host "
    "said it would drop (the point of the v9 short-circuit).",
    applies=Applicability(min_version=9, needs=Needs(setter=True)),
)(_enabled_honoured)
check(
    "logging.no-late-logs",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 8.3; HOST.md 6.1",
    rationale="After destroy_instance returns, nothing of that instance may log: the library may be unloaded next.",
)(_no_late_logs)

declare_joint(
    "logging-traffic",
    _prime,
    ("logging.levels", "logging.strings", "logging.target-is-kind", "logging.enabled-honoured"),
)
