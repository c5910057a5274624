"""Drive one entry point with ordinary traffic: the shared body of the panics and timeouts checks.

Both checks of an entry point judge the same calls (``driven``), so they form a joint family
(``checks.joint``): for a plugin whose triage saw nothing crash or wedge, one child drives the entry
point once and both are judged from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.checks.common import require_processor, valid_params
from conformance.checks.joint import declare_joint
from conformance.checks.model import Applicability, Needs
from conformance.checks.traffic import samples, traffic_detail, with_instance
from conformance.host.instance import CallResult, Instance
from conformance.host.wire import encode_packet
from conformance.sandbox.deadlines import waiting_so_far_s
from conformance.scenario.context import ScenarioContext

PREFERRED_SIZE_HINT = '{"type":"preferred_size","width":640,"height":480}'


@dataclass(frozen=True)
class EntryPoint:
    name: str  # the table / symbol name, as in CallStarted events
    slug: str  # the check id suffix
    applies: Applicability
    drive: Callable[[ScenarioContext], list[CallResult]]


def _with(ctx: ScenarioContext, body: Callable[[Instance], list[CallResult]], **create: object) -> list[CallResult]:
    require_processor(ctx)
    instance = with_instance(ctx, **create)
    if instance is None:
        return []
    try:
        return body(instance)
    finally:
        instance.destroy()


def _process(ctx: ScenarioContext) -> list[CallResult]:
    def body(instance: Instance) -> list[CallResult]:
        results = []
        for pin, packet in samples(ctx):
            encoded = encode_packet(packet, host_version=ctx.host_version, plugin_version=ctx.plugin.version)
            results.append(instance.process(pin, encoded, detail=traffic_detail(pin, packet)))
        return results

    return _with(ctx, body)


def _create(ctx: ScenarioContext) -> list[CallResult]:
    require_processor(ctx)
    instance = Instance.create(ctx.plugin, valid_params(ctx))
    ctx.expect(instance is not None, "create_instance with valid params returns a handle")
    if instance is not None:
        instance.destroy()
    return []


def _get_metadata(ctx: ScenarioContext) -> list[CallResult]:
    ctx.plugin.metadata_pointer()
    return []


PROCESSOR = frozenset({"processor"})
SOURCE = frozenset({"source"})

ENTRY_POINTS: tuple[EntryPoint, ...] = (
    EntryPoint("get_metadata", "get-metadata", Applicability(needs_loadable=False), _get_metadata),
    EntryPoint("create_instance", "create-instance", Applicability(needs_loadable=False), _create),
    EntryPoint(
        "set_log_enabled_callback",
        "set-log-enabled-callback",
        Applicability(min_version=9, needs=Needs(setter=True)),
        lambda ctx: _with(ctx, lambda i: []),
    ),
    EntryPoint(
        "process_packet", "process-packet", Applicability(node_kinds=PROCESSOR, needs=Needs(inputs=True)), _process
    ),
    EntryPoint("flush", "flush", Applicability(node_kinds=PROCESSOR), lambda ctx: _with(ctx, lambda i: [i.flush()])),
    EntryPoint(
        "update_params",
        "update-params",
        Applicability(),
        lambda ctx: _with(ctx, lambda i: [i.update_params(valid_params(ctx))]),
    ),
    EntryPoint(
        "get_runtime_param_schema",
        "get-runtime-param-schema",
        Applicability(needs=Needs(entry="get_runtime_param_schema")),
        lambda ctx: _with(ctx, lambda i: [i.runtime_schema()]),
    ),
    EntryPoint(
        "get_source_config",
        "get-source-config",
        Applicability(needs=Needs(entry="get_source_config")),
        lambda ctx: _with(ctx, lambda i: (i.source_config(), [])[1]),
    ),
    EntryPoint(
        "tick", "tick", Applicability(node_kinds=SOURCE), lambda ctx: _with(ctx, lambda i: [i.tick(detail="tick 1")])
    ),
    EntryPoint(
        "on_upstream_hint",
        "on-upstream-hint",
        Applicability(node_kinds=SOURCE, needs=Needs(entry="on_upstream_hint")),
        lambda ctx: _with(ctx, lambda i: [i.hint(PREFERRED_SIZE_HINT)]),
    ),
    EntryPoint("destroy_instance", "destroy-instance", Applicability(), lambda ctx: _with(ctx, lambda i: [])),
)


@dataclass(frozen=True)
class Driven:
    """What driving an entry point gave: the calls' results, and the plugin's own time in each call to it."""

    results: list[CallResult]
    durations: list[float]


class _Timer:
    """Stands in for ``ctx.call`` while an entry point is driven, timing each call to that entry point."""

    def __init__(self, ctx: ScenarioContext, entry: str) -> None:
        self.entry = entry
        self.durations: list[float] = []
        self._call = ctx.call

    def __call__(self, entry: str, fn: Any, *args: Any, detail: str = "") -> Any:
        started, waited = time.perf_counter(), waiting_so_far_s()
        try:
            return self._call(entry, fn, *args, detail=detail)
        finally:
            if entry == self.entry:
                # The plugin's own time: wall time less the time this thread waited for a CPU.
                starved = waiting_so_far_s() - waited
                self.durations.append(max(0.0, time.perf_counter() - started - starved))


def driven(ctx: ScenarioContext, entry: EntryPoint) -> Driven:
    """Drive ``entry`` once per process (``ScenarioContext.once``): the panics and timeouts checks judge it."""

    def drive() -> Driven:
        timer = _Timer(ctx, entry.name)
        previous = ctx.call
        ctx.call = timer  # type: ignore[method-assign]
        try:
            results = entry.drive(ctx)
        finally:
            ctx.call = previous  # type: ignore[method-assign]
        return Driven(results, timer.durations)

    return ctx.once(f"drive:{entry.name}", drive)


def _prime(entry: EntryPoint) -> Callable[[ScenarioContext], None]:
    def prime(ctx: ScenarioContext) -> None:
        driven(ctx, entry)

    return prime


for _entry in ENTRY_POINTS:
    declare_joint(f"entry:{_entry.name}", _prime(_entry), (f"panics.{_entry.slug}", f"timeouts.{_entry.slug}"))
