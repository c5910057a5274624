"""Drive one entry point with ordinary traffic: the shared body of the panics and timeouts checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conformance.checks.common import require_processor, valid_params
from conformance.checks.model import Applicability, Needs
from conformance.checks.traffic import samples, traffic_detail, with_instance
from conformance.host.instance import CallResult, Instance
from conformance.host.wire import encode_packet
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
