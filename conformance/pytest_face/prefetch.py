"""Running a plugin's battery items ahead of pytest, on one fork server per core.

pytest runs items one at a time; the sandbox children they wait for use one
core. The plugin runs the selected items through a small pool (one thread and
one fork server each) in catalogue order, and each item's ``runtest`` only
collects its result. Without xdist everything is submitted once collected.
Under xdist the controller hands each worker whole plugins (see
``pytest_face.xdist``), and a worker submits a plugin's items when it meets the
first of them.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from conformance.battery.runner import BatteryItem, run_item, run_joint, run_shared
from conformance.checks.applicability import not_applicable
from conformance.checks.isolation import (
    GROUP_SIZE,
    LINGERING_CHECKS,
    leads_shared_child,
    plugin_may_share,
    shares_child,
)
from conformance.checks.joint import JointFamily, family_of, joint_eligible
from conformance.checks.model import PluginFacts
from conformance.checks.result import CheckResult
from conformance.sandbox.client import SandboxClient

#: How a chunk of several items runs: ``run_shared`` (checks that may share a child) or ``run_joint``.
ChunkRunner = Callable[..., list[CheckResult]]
#: Fork servers, beside the pool's, for the checks that call an entry point triage saw wedge and those that wait
#: by design (``checks.isolation.LINGERING_CHECKS``).
WAITING_WORKERS = 2
#: The interpreter's thread switch interval while the pool runs (5 ms by default). A pool thread whose server
#: answered must take the interpreter lock to read the answer and send the next request; while pytest's own
#: thread holds the lock (an item's hooks and report), it waits up to a whole interval, and so does the
#: server. Over a corpus run (2-core machine, 2026-12-05) the cores' servers waited for their next request 11 %
#: of the run, about 2 ms per request; at 1 ms the run had 0.1-1.0 core-seconds less idle and was shorter in
#: each of 6 turns taking turns with 5 ms. 0.3 ms cost more CPU than it saved. Restored when the pool closes.
SWITCH_INTERVAL_S = 0.001


class Prefetcher:
    """Submits (plugin, item) runs to a pool of sandbox clients and hands out futures.

    The checks that call an entry point triage saw wedge (its own ``timeouts`` and ``lifecycle``
    checks) wait out its whole budget, and again when re-run. On the pool they held servers while
    the cores sat idle (over a corpus, the wedged plugins are probed last, so their waits ended the
    run); they get servers of their own (``WAITING_WORKERS``), started when the first one comes. So do the
    checks that wait by design (``checks.isolation.LINGERING_CHECKS``): two of them asleep at once on the
    pool's servers left a core idle.
    """

    def __init__(self, clients: list[SandboxClient]) -> None:
        """One worker thread per client; clients may be warm already (the probe's, pre-started ones)."""
        self._local = threading.local()
        self._spare = list(clients)
        self._clients: list[SandboxClient] = []
        self._lock = threading.Lock()
        workers = len(clients)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conformance-prefetch")
        self._waiting: ThreadPoolExecutor | None = None
        # Per plugin, per item name: a plugin's outstanding futures are read once per item.
        self._futures: dict[str, dict[str, Future[CheckResult]]] = {}
        self._claimed: set[str] = set()
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL_S))

    def _client(self) -> SandboxClient:
        client: SandboxClient | None = getattr(self._local, "client", None)
        if client is None:
            with self._lock:
                client = self._spare.pop() if self._spare else SandboxClient()
                self._clients.append(client)
            self._local.client = client
        return client

    def submit(self, path: Path, item: BatteryItem, facts: PluginFacts, budget_scale: float, reruns: int) -> None:
        """Submit an item that runs in the sandbox; one that does not apply is judged where it is taken
        (``run_item`` needs no server for it), which costs less than a future and a trip through the pool."""
        if not_applicable(item.check, facts) is not None:
            return
        futures = self._futures.setdefault(str(path), {})
        if item.name not in futures:
            futures[item.name] = self._pool_for(item, facts).submit(self._run, path, item, facts, budget_scale, reruns)

    def _pool_for(self, item: BatteryItem, facts: PluginFacts) -> ThreadPoolExecutor:
        if not waits(item, facts):
            return self._pool
        with self._lock:
            if self._waiting is None:
                self._waiting = ThreadPoolExecutor(WAITING_WORKERS, thread_name_prefix="conformance-waiting")
            return self._waiting

    def _run(self, path: Path, item: BatteryItem, facts: PluginFacts, budget_scale: float, reruns: int) -> CheckResult:
        return run_item(path, item, facts, budget_scale, reruns, client=self._client())

    def submit_battery(
        self, path: Path, items: list[BatteryItem], facts: PluginFacts, budget_scale: float, reruns: int
    ) -> None:
        """Submit a plugin's items, those that may share a child in a few tasks (``shared_chunks``), longest first.

        The pool works through the tasks in the order given; the few checks with long budgets (leak cycles,
        parallel instances) also take longest, and started last they ran alone at the end while the other
        workers sat idle. Results are still collected in catalogue order.
        """
        shared = shared_chunks(items, facts)
        singles = [chunk[0] for chunk in shared if len(chunk) == 1]
        joint = joint_chunks(singles, facts)
        jointly = {item.name for chunk in joint for item in chunk}
        chunks: list[tuple[list[BatteryItem], ChunkRunner | None]] = [
            (chunk, run_shared) for chunk in shared if len(chunk) > 1
        ]
        chunks += [(chunk, run_joint) for chunk in joint]
        chunks += [([item], None) for item in singles if item.name not in jointly]
        for chunk, runner in sorted(chunks, key=lambda pair: _longest_budget(pair[0]), reverse=True):
            if runner is None:
                self.submit(path, chunk[0], facts, budget_scale, reruns)
                continue
            futures: list[Future[CheckResult]] = []
            for item in chunk:
                future: Future[CheckResult] = Future()
                self._futures.setdefault(str(path), {})[item.name] = future
                futures.append(future)
            self._pool.submit(self._run_chunk, runner, path, chunk, futures, facts, budget_scale, reruns)

    def _run_chunk(
        self,
        runner: ChunkRunner,
        path: Path,
        chunk: list[BatteryItem],
        futures: list[Future[CheckResult]],
        facts: PluginFacts,
        budget_scale: float,
        reruns: int,
    ) -> None:
        if all(future.cancelled() for future in futures):
            return
        try:
            results = runner(path, chunk, facts, budget_scale, reruns, client=self._client())
        except BaseException as error:  # noqa: BLE001 - handed to every waiting item
            for future in futures:
                if not future.done():
                    future.set_exception(error)
            return
        for future, result in zip(futures, results, strict=True):
            if not future.done():
                future.set_result(result)

    def claim(self, path: Path) -> bool:
        """True the first time a plugin is claimed: its caller submits the plugin's items."""
        with self._lock:
            if str(path) in self._claimed:
                return False
            self._claimed.add(str(path))
            return True

    def keep_only(self, path: Path, names: set[str]) -> None:
        """Cancel and forget ``path``'s items not in ``names`` (submitted before the selection was known).

        Forgotten, since a check that owns other checks' rules waits for the plugin's outstanding
        items (``outstanding``): an item pytest deselected must not count. One already running
        finishes and its result is dropped.
        """
        futures = self._futures.get(str(path), {})
        for name in [name for name in futures if name not in names]:
            futures.pop(name).cancel()

    def take(self, path: Path, name: str) -> Future[CheckResult] | None:
        return self._futures.get(str(path), {}).pop(name, None)

    def outstanding(self, path: Path) -> list[Future[CheckResult]]:
        """Futures of ``path``'s items not taken yet (their pytest items come later); left in place.

        The monitors (``checks.monitors``) wait for them so that an owning check is credited with
        what every item of the plugin observed, whatever the item order.
        """
        return list(self._futures.get(str(path), {}).values())

    def close(self) -> None:
        """Stop the pool and close every client it was given or made (their servers stop together)."""
        for futures in self._futures.values():
            for future in futures.values():
                future.cancel()
        for pool in (self._pool, self._waiting):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for client in self._clients + self._spare:
                client.request_stop()
            for client in self._clients + self._spare:
                client.close()
            self._clients.clear()
            self._spare.clear()
        sys.setswitchinterval(self._switch_interval)


def shared_chunks(items: list[BatteryItem], facts: PluginFacts) -> list[list[BatteryItem]]:
    """Split items into runs that may share a child, as few as ``GROUP_SIZE`` allows, and single items.

    The items that may share are gathered per host version over the whole battery, whatever solo checks
    lie between them in the catalogue (only a pass is taken from a shared child, so the order they run
    in decides no verdict), and each host version's are dealt into runs of near-equal length. A check that
    needs a fresh process (``isolation.leads_shared_child``) heads one run each, first in it; there are as
    many runs as that takes (a run is a child, as that check alone would be), and those left over run alone.
    """
    sharing = plugin_may_share(facts)
    singles: list[list[BatteryItem]] = []
    by_host: dict[int, list[BatteryItem]] = {}
    leaders: dict[int, list[BatteryItem]] = {}
    for item in items:
        applicable = not_applicable(item.check, facts) is None
        if sharing and applicable and shares_child(item.check):
            by_host.setdefault(item.host_version, []).append(item)
        elif applicable and leads_shared_child(item.check, facts):
            leaders.setdefault(item.host_version, []).append(item)
        else:
            singles.append([item])
    chunks: list[list[BatteryItem]] = []
    for host, group in by_host.items():
        heads = leaders.pop(host, [])
        count = min(len(group), max(-(-len(group) // GROUP_SIZE), len(heads)))
        size, extra = divmod(len(group), count)
        start = 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            chunks.append(heads[index : index + 1] + group[start:end])
            start = end
        singles.extend([item] for item in heads[count:])
    singles.extend([item] for heads in leaders.values() for item in heads)
    return chunks + singles


def joint_chunks(singles: list[BatteryItem], facts: PluginFacts) -> list[list[BatteryItem]]:
    """The items that run alone which a joint run can judge together (``checks.joint``): per family and host
    version, two or more applicable members whose options agree, in the family's order."""
    if not joint_eligible(facts):
        return []
    families: dict[tuple[JointFamily, int], list[BatteryItem]] = {}
    for item in singles:
        family = family_of(item.check.id)
        if family is not None and not_applicable(item.check, facts) is None:
            families.setdefault((family, item.host_version), []).append(item)
    chunks = []
    for (family, _), members in families.items():
        members.sort(key=lambda item: family.members.index(item.check.id))
        if len(members) > 1 and _options_agree(members):
            chunks.append(members)
    return chunks


def _options_agree(items: list[BatteryItem]) -> bool:
    merged: dict[str, object] = {}
    for item in items:
        for key, value in item.check.option_dict().items():
            if merged.setdefault(key, value) != value:
                return False
    return True


def waits(item: BatteryItem, facts: PluginFacts) -> bool:
    """Whether the item spends most of its time waiting, not computing: on the waiting servers, it leaves
    the cores' servers to the items that compute."""
    return calls_wedged_entry(item, facts) or item.check.id in LINGERING_CHECKS


def calls_wedged_entry(item: BatteryItem, facts: PluginFacts) -> bool:
    """Whether the item calls an entry point triage saw wedge (its own ``timeouts`` or ``lifecycle`` check),
    so that it mostly waits out that entry point's budget."""
    exempt = item.check.option_dict().get("triage_exempt") or ()
    return any(f"wedged:{entry}" in exempt for entry, _ in facts.wedged)


def _longest_budget(chunk: list[BatteryItem]) -> float:
    return max(item.check.budget_s for item in chunk)


def prefetch_enabled() -> bool:
    """``CONFORMANCE_PREFETCH=0`` runs each item when pytest reaches it, on one fork server."""
    return os.environ.get("CONFORMANCE_PREFETCH", "1") != "0"


def worker_pool_size(plugins: int, xdist_workers: int) -> int:
    """Fork servers per xdist worker: the default split between the workers, but at least two.

    With a single plugin one worker gets the whole battery (it is one scope), so it takes the full pool.
    """
    if plugins <= 1 or xdist_workers <= 1:
        return default_workers()
    return max(2, -(-default_workers() // xdist_workers))


def probe_parallelism() -> int:
    """Probes at once when collecting a corpus: twice the pool, since a probe mostly waits on a budget."""
    return 2 * default_workers()


def default_workers() -> int:
    """Fork servers to run: one per core plus one, because a scenario often waits (a budget running out
    on a wedged call, a late-callback window) rather than computes. CONFORMANCE_WORKERS overrides it."""
    configured = os.environ.get("CONFORMANCE_WORKERS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, min((os.cpu_count() or 1) + 1, 8))
