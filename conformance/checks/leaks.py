"""leaks: heap, descriptors and threads do not grow with create/destroy or load/unload cycles (ABI.md 4.9).

Measured inside the child with glibc's ``mallinfo2`` (bytes in use), the
entries of /proc/self/fd and of /proc/self/task, after a warm-up, so that
one-time initialisation (caches, thread pools) is not counted.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

from conformance.checks import tasks
from conformance.checks.common import require_processor, valid_params
from conformance.checks.registry import check
from conformance.checks.traffic import drive
from conformance.host.instance import Instance
from conformance.host.libc import RTLD_LAZY, RTLD_LOCAL, libc
from conformance.scenario.context import ScenarioContext

WARMUP = 10
CYCLES = 100
TRAFFIC_CYCLES = 20
LOAD_UNLOAD_CYCLES = 50
HEAP_BYTES_PER_CYCLE = 1024
LEAKS_REF = "ABI.md 4.9; HOST.md 1.9, 6.3"
LEAKS_BUDGET_S = 30.0


def _usage() -> tuple[int, int]:
    gc.collect()
    info = libc().lib.mallinfo2()
    return int(info.uordblks), len(os.listdir("/proc/self/fd"))


def _measure(ctx: ScenarioContext, cycle: Callable[[], None], cycles: int, what: str) -> None:
    for _ in range(WARMUP):
        cycle()
    before, threads_before = _usage(), tasks.threads()
    for _ in range(cycles):
        cycle()
    after, threads_after = _usage(), tasks.threads()
    heap, fds = (a - b for a, b in zip(after, before, strict=True))
    grown = len(threads_after) - len(threads_before)
    new_threads = {tid: name for tid, name in threads_after.items() if tid not in threads_before}
    ctx.observe(
        "figures",
        {
            "cycles": cycles,
            "heap_bytes_growth": heap,
            "heap_bytes_per_cycle": heap // cycles,
            "fd_growth": fds,
            "thread_growth": grown,
            "new_threads": sorted(set(new_threads.values())),
        },
    )
    ctx.expect(
        heap <= HEAP_BYTES_PER_CYCLE * cycles,
        f"heap in use does not grow with {what} (limit {HEAP_BYTES_PER_CYCLE} B per cycle)",
        f"grew {heap} bytes over {cycles} cycles ({heap // cycles} B per cycle)",
    )
    ctx.expect(fds <= 0, f"open descriptors do not grow with {what}", f"{fds} more after {cycles} cycles")
    ctx.expect(
        grown <= 0,
        f"threads do not grow with {what}",
        f"{grown} more after {cycles} cycles; started and still running: {tasks.describe(new_threads)}",
    )


def _instance_cycle(ctx: ScenarioContext, body: Callable[[Instance], object]) -> Callable[[], None]:
    """One measured cycle: create an instance with valid params, run ``body`` on it, destroy it."""
    plugin = require_processor(ctx)
    params = valid_params(ctx)

    def cycle() -> None:
        instance = Instance.create(plugin, params)
        if instance is not None:
            try:
                body(instance)
            finally:
                instance.destroy()

    return cycle


@check(
    "leaks.create-destroy",
    abi_ref=LEAKS_REF,
    rationale="destroy_instance must free everything the instance owns: one leak per node creation adds up in a "
    "long-running server.",
    budget_s=LEAKS_BUDGET_S,
)
def _create_destroy(ctx: ScenarioContext) -> None:
    _measure(ctx, _instance_cycle(ctx, lambda _instance: None), CYCLES, "create/destroy cycles")


@check(
    "leaks.traffic",
    abi_ref=LEAKS_REF,
    rationale="Processing and flushing must not leak per call or per instance.",
    budget_s=LEAKS_BUDGET_S,
)
def _traffic(ctx: ScenarioContext) -> None:
    _measure(
        ctx,
        _instance_cycle(ctx, lambda instance: drive(ctx, instance)),
        TRAFFIC_CYCLES,
        "create/traffic/destroy cycles",
    )


@check(
    "leaks.load-unload",
    abi_ref=LEAKS_REF,
    rationale="The host loads plugins twice per upload and reloads them: dlopen/dlclose must not leak "
    "memory, descriptors or threads.",
    budget_s=LEAKS_BUDGET_S,
)
def _load_unload(ctx: ScenarioContext) -> None:
    plugin = require_processor(ctx)
    c = libc()
    path = plugin.path.encode()
    # Drop the scenario's own reference first, so each cycle really maps the library, runs its
    # constructors and (where the library allows it) unmaps it again.
    plugin.dlclose()

    def cycle() -> None:
        handle = ctx.call("dlopen", c.lib.dlopen, path, RTLD_LAZY | RTLD_LOCAL, detail="reload")
        if handle != c.ffi.NULL:
            ctx.call("dlclose", c.lib.dlclose, handle)

    _measure(ctx, cycle, LOAD_UNLOAD_CYCLES, "dlopen/dlclose cycles")
