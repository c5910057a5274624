"""threading: the host's thread schedule and parallel instances (ABI.md 7, 8.9; HOST.md 1.4, 6.5).

The real host creates an instance on one thread, runs every call on a
dedicated worker named ``skp-<node>`` and may destroy it on a third. A plugin
whose state only works on the creating thread, or that shares unsynchronised
state between instances, passes single-threaded tests and fails here every
time: outputs are compared with a serial run of the same inputs.
"""

from __future__ import annotations

import threading
from typing import Any

from conformance.abi import ffi
from conformance.checks.common import require_processor, valid_params
from conformance.checks.model import Severity
from conformance.checks.registry import check
from conformance.checks.traffic import difference, drive, fingerprint, samples
from conformance.host.instance import Instance, run_on_thread
from conformance.host.wire import encode_packet
from conformance.sandbox.faults import load_reporter, native_output_callback
from conformance.scenario.context import ScenarioContext
from conformance.scenario.tools import tool_scenario

PARALLEL_INSTANCES = 4
ROUNDS = 3
CONCURRENT_CREATES = 8


def _create(ctx: ScenarioContext, params: Any = None) -> Instance | None:
    """Create with valid params (computed by the caller when on another thread: a skip there would be lost)."""
    return Instance.create(ctx.plugin, valid_params(ctx) if params is None else params)


def _serial(ctx: ScenarioContext, rounds: int) -> list[Any] | None:
    instance = _create(ctx)
    if instance is None:
        ctx.expect(False, "create_instance with valid params returns a handle")
        return None
    try:
        return [fingerprint(drive(ctx, instance)) for _ in range(rounds)]
    finally:
        instance.destroy()


def _host_schedule(ctx: ScenarioContext) -> None:
    """Create on 'engine-create', every call on 'skp-node-1', destroy on 'engine-drop'."""
    require_processor(ctx)
    reference = _serial(ctx, 1)
    if reference is None:
        return
    instance = run_on_thread("engine-create", _create, ctx)
    if instance is None:
        ctx.expect(False, "create_instance on the engine thread returns a handle")
        return
    try:
        observed = run_on_thread("skp-node-1", lambda: fingerprint(drive(ctx, instance)))
    finally:
        run_on_thread("engine-drop", instance.destroy)
    ctx.expect(
        observed == reference[0],
        "create on thread A, calls on worker B, destroy on thread C give the same results as one thread",
        difference(reference[0], observed),
    )


def _destroy_elsewhere(ctx: ScenarioContext) -> None:
    require_processor(ctx)
    instance = _create(ctx)
    if instance is None:
        ctx.expect(False, "create_instance with valid params returns a handle")
        return
    run_on_thread("engine-drop", instance.destroy)
    ctx.expect(True, "destroy_instance on another thread than create returned")


def _parallel(ctx: ScenarioContext) -> None:
    require_processor(ctx)
    reference = _serial(ctx, ROUNDS)
    if reference is None:
        return
    barrier = threading.Barrier(PARALLEL_INSTANCES)
    outcomes: dict[int, Any] = {}
    params = valid_params(ctx)
    for entry in ("create_instance", "process_packet", "flush", "tick", "destroy_instance"):
        ctx.ensure_callable(entry)

    def worker(index: int) -> None:
        instance = _create(ctx, params)
        barrier.wait(timeout=30)  # every worker reaches it, created or not, so none waits in vain
        if instance is None:
            outcomes[index] = "create returned NULL"
            return
        try:
            outcomes[index] = [fingerprint(drive(ctx, instance)) for _ in range(ROUNDS)]
        finally:
            instance.destroy()

    threads = [threading.Thread(target=worker, args=(n,), name=f"skp-node-{n + 1}") for n in range(PARALLEL_INSTANCES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index in range(PARALLEL_INSTANCES):
        ctx.expect(
            outcomes.get(index) == reference,
            f"instance {index + 1} of {PARALLEL_INSTANCES}, run concurrently, produces what a serial run produces",
            difference(reference, outcomes.get(index)),
        )


def _concurrent_create(ctx: ScenarioContext) -> None:
    require_processor(ctx)
    barrier = threading.Barrier(CONCURRENT_CREATES)
    created: dict[int, Instance | None] = {}
    params = valid_params(ctx)
    for entry in ("create_instance", "set_log_enabled_callback", "destroy_instance"):
        ctx.ensure_callable(entry)

    def worker(index: int) -> None:
        barrier.wait(timeout=30)
        created[index] = _create(ctx, params)

    threads = [threading.Thread(target=worker, args=(n,), name=f"engine-create-{n}") for n in range(CONCURRENT_CREATES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    live = [instance for instance in created.values() if instance is not None]
    addresses = {int(ffi().cast("uintptr_t", instance.handle)) for instance in live}
    ctx.expect(
        len(live) == CONCURRENT_CREATES,
        f"{CONCURRENT_CREATES} concurrent create_instance calls all return a handle",
        f"{CONCURRENT_CREATES - len(live)} NULL",
    )
    ctx.expect(len(addresses) == len(live), "the handles are distinct", f"{len(addresses)} distinct", warn_only=True)
    for index, instance in created.items():
        if instance is not None:
            run_on_thread(f"engine-create-{index}", instance.destroy)


check(
    "threading.host-schedule",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 7; HOST.md 1.4, 6.5",
    rationale="Create, calls and destroy happen on three different threads in the real host: per-instance state "
    "must be Send (no thread-locals, no thread-affine handles).",
)(_host_schedule)
check(
    "threading.destroy-elsewhere",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.9, 7; HOST.md 1.8",
    rationale="destroy_instance runs on whichever thread drops the node, not the creating one.",
)(_destroy_elsewhere)
check(
    "threading.parallel-instances",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 7, 8.9",
    rationale="Different instances run in parallel on their own workers; each must produce exactly what it "
    "produces alone (no shared unsynchronised state).",
    budget_s=20.0,
)(_parallel)
check(
    "threading.concurrent-create",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.3, 7; HOST.md 1.3",
    rationale="The engine creates nodes in spawn_blocking, concurrently: create_instance must be thread-safe.",
)(_concurrent_create)


RACE_SCENARIO = "race.parallel-instances"


@tool_scenario(RACE_SCENARIO)
def race_parallel_instances(ctx: ScenarioContext) -> None:
    """For --race: instances driven from threads through native no-op callbacks.

    The interpreter lock orders everything that passes through Python, which
    would hide the plugin's own races from helgrind/DRD; with native
    callbacks, two process_packet calls on two threads share nothing the tool
    could mistake for synchronisation but the plugin's own.
    """
    require_processor(ctx)
    if not native_output_callback() and load_reporter():
        ctx.skip("race mode needs the native helper (a C compiler)")
    pairs = samples(ctx)
    if not pairs:
        ctx.skip("no input the plugin accepts")
    f = ffi()
    plugin = ctx.plugin
    instances = [_create(ctx) for _ in range(PARALLEL_INSTANCES)]
    live = [instance for instance in instances if instance is not None]
    bundle = f.new("CNodeCallbacks *")
    bundle.struct_size = 64
    bundle.output_callback = f.cast("COutputCallback", native_output_callback())
    encoded = [
        encode_packet(packet, host_version=ctx.host_version, plugin_version=plugin.version) for _, packet in pairs
    ]
    pins = [f.new("char[]", pin.encode()) for pin, _ in pairs]

    def worker(instance: Instance) -> None:
        for _ in range(ROUNDS * 4):
            for pin, packet in zip(pins, encoded, strict=True):
                plugin.api.process_packet(instance.handle, pin, packet.ptr, bundle)

    threads = [threading.Thread(target=worker, args=(i,), name=f"skp-race-{n}") for n, i in enumerate(live)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for instance in live:
        instance.destroy()
    ctx.expect(True, f"{len(live)} instances driven concurrently")
