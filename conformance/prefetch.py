"""Running a plugin's battery items ahead of pytest, on one fork server per core.

pytest runs items one at a time; the sandbox children they wait for use one
core. Without pytest-xdist the plugin runs the selected items through a small
pool (one thread and one fork server per core) in catalogue order, and each
item's ``runtest`` only collects its result. Under xdist each worker already
has its own server and runs items as scheduled, so there is no prefetch.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from conformance.checks.model import PluginFacts
from conformance.report.model import CheckResult
from conformance.runner import BatteryItem, run_item
from conformance.sandbox.client import SandboxClient


class Prefetcher:
    """Submits (plugin, item) runs to a pool of sandbox clients and hands out futures."""

    def __init__(self, clients: list[SandboxClient]) -> None:
        """One worker thread per client; clients may be warm already (the probe's, pre-started ones)."""
        self._local = threading.local()
        self._spare = list(clients)
        self._clients: list[SandboxClient] = []
        self._lock = threading.Lock()
        workers = len(clients)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conformance-prefetch")
        self._futures: dict[tuple[str, str], Future[CheckResult]] = {}

    def _client(self) -> SandboxClient:
        client: SandboxClient | None = getattr(self._local, "client", None)
        if client is None:
            with self._lock:
                client = self._spare.pop() if self._spare else SandboxClient()
                self._clients.append(client)
            self._local.client = client
        return client

    def submit(self, path: Path, item: BatteryItem, facts: PluginFacts, budget_scale: float, reruns: int) -> None:
        key = (str(path), item.name)
        if key not in self._futures:
            self._futures[key] = self._pool.submit(self._run, path, item, facts, budget_scale, reruns)

    def _run(self, path: Path, item: BatteryItem, facts: PluginFacts, budget_scale: float, reruns: int) -> CheckResult:
        return run_item(path, item, facts, budget_scale, reruns, client=self._client())

    def take(self, path: Path, name: str) -> Future[CheckResult] | None:
        return self._futures.pop((str(path), name), None)

    def close(self) -> None:
        """Stop the pool; clients it was given stay open for their owner (the shared one) or are closed."""
        for future in self._futures.values():
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for client in self._clients + self._spare:
                client.close()
            self._clients.clear()
            self._spare.clear()


def default_workers() -> int:
    """Fork servers to run: one per core plus one, because a scenario often waits (a budget running out
    on a wedged call, a late-callback window) rather than computes. CONFORMANCE_WORKERS overrides it."""
    configured = os.environ.get("CONFORMANCE_WORKERS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, min((os.cpu_count() or 1) + 1, 8))
