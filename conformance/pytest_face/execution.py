"""How this pytest process runs battery items: its fork servers, the prefetcher, the monitors' ledger.

The fork servers start in ``pytest_configure`` on a thread of their own, which
also calibrates the machine and probes the plugins while pytest starts the
session and collects; collection waits for it only where it needs the facts.
Without xdist: one pool for the whole run. In an xdist worker: the controller's
facts and a pool of its own. (The controller itself runs nothing: see
``XdistController.probed``.) Once the items are selected they are handed to the
prefetcher, and each item's ``runtest`` only collects its result.

When the command line cannot deselect a battery item (no ``-k``, ``-m``,
``--deselect``, ``--lf``, ``--sw``, ``--collect-only`` or test paths), a
plugin's items go to the prefetcher as soon as that plugin is probed, while
other plugins are still probed and pytest collects: over a corpus the probes
mostly wait out the budgets of wedged entry points, and the cores sat idle
meanwhile. Whatever a conftest deselects all the same is cancelled and
forgotten when the selection is known (``Prefetcher.keep_only``), so the
results are those of the selected items alone.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any, Protocol

import pytest

from conformance.battery.runner import BatteryItem, battery_for, import_facts, probe, probe_many, run_item
from conformance.checks.model import Check, PluginFacts
from conformance.checks.monitors import MonitorLedger
from conformance.checks.result import CheckResult
from conformance.pytest_face.prefetch import (
    Prefetcher,
    default_workers,
    prefetch_enabled,
    probe_parallelism,
    worker_pool_size,
)
from conformance.pytest_face.xdist import PLUGIN_SCOPED_MODES, is_worker, worker_count, worker_facts
from conformance.sandbox.calibration import calibrate_once
from conformance.sandbox.client import SandboxClient, close_shared_client, shared_client
from conformance.settings import RunSettings


class ItemRunner:
    """Runs the battery items of this process, ahead on a pool of fork servers where it started one."""

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        #: The fork servers beside the shared client; None when this process runs items one at a time.
        self._spare: list[SandboxClient] | None = None
        self._prefetcher: Prefetcher | None = None
        self._selected: dict[str, list[BatteryItem]] = {}
        self._monitors = MonitorLedger()
        #: Prefetched results already recorded in the ledger while an owning check waited for them.
        self._consulted: set[Future[CheckResult]] = set()
        #: Done once the servers run, the machine is calibrated and (with a pool) every plugin is probed.
        self._started: Future[None] | None = None
        self._calibrated = threading.Event()
        #: The start's thread lives until the servers are stopped: a process it started (a booted server,
        #: ``CONFORMANCE_ZYGOTE=0``, or the zygote) dies with it, since PR_SET_PDEATHSIG watches a thread.
        self._stopped = threading.Event()
        #: Whether each plugin's items start once it is probed, before pytest has selected them.
        self._early = False

    def start(self, config: pytest.Config, mode: str) -> None:
        """Start the fork servers of a process that runs items (not the xdist controller's), in the background.

        The servers, the calibration and the probes mostly wait (on the zygote's boot, on the
        sandbox), so they run on a thread of their own while pytest starts the session and collects.
        """
        if is_worker(config):
            facts = worker_facts(config)
            if facts is not None:
                import_facts(facts, self.settings.budget_scale)
            if not prefetch_enabled() or mode not in PLUGIN_SCOPED_MODES:
                return  # calibrated by the controller; items run one at a time on the shared server
            size = worker_pool_size(len(self.settings.plugins), worker_count(config))
        else:
            size = default_workers() if prefetch_enabled() else 0
            self._early = size > 0 and selects_whole_battery(config)
        self._started = Future()
        threading.Thread(target=self._start_servers, args=(size,), name="conformance-start", daemon=True).start()

    def _start_servers(self, size: int) -> None:
        """Calibrate on the shared server; with a pool (``size`` servers), start the rest and probe every plugin."""
        assert self._started is not None
        try:
            if size:
                shared_client().start()
            calibrate_once(shared_client().run)
            self._calibrated.set()
            if size:
                spare = [SandboxClient() for _ in range(size - 1)]
                for client in spare:
                    client.start()
                self._spare = spare
                pool = [shared_client(), *spare]
                plugins = list(self.settings.plugins)
                if self._early:
                    # The pool runs items from the first plugin probed on; probes get servers of their own.
                    self._prefetcher = Prefetcher(pool)
                    probe_many(plugins, self.settings.budget_scale, [], probe_parallelism(), self._start_plugin)
                else:
                    probe_many(plugins, self.settings.budget_scale, pool, probe_parallelism())
        except BaseException as error:  # noqa: BLE001 - raised where the run waits for the start
            self._started.set_exception(error)
        else:
            self._started.set_result(None)
        finally:
            self._calibrated.set()
        self._stopped.wait()

    def wait_calibrated(self) -> None:
        """Until the machine is calibrated, if this process calibrates (or the start failed: ``wait_started``
        says so)."""
        if self._started is not None:
            self._calibrated.wait()

    def wait_started(self) -> None:
        """Until the start is done (with a pool: every plugin probed), raising what made it fail."""
        if self._started is not None:
            self._started.result()

    def schedule(self, selected: dict[Path, list[BatteryItem]], submit_now: bool) -> None:
        """Hand the selected items to the prefetcher: all now, or (in an xdist worker) per plugin when
        its first item runs, since a worker gets every item of a plugin once it gets one."""
        self.wait_started()
        if self._prefetcher is not None:  # every plugin's battery started when it was probed
            for path in self.settings.plugins:
                self._prefetcher.keep_only(path, {item.name for item in selected.get(path, [])})
            return
        if self._spare is None or sum(len(items) for items in selected.values()) < 2:
            return
        self._prefetcher = Prefetcher([shared_client(), *self._spare])
        self._selected = {str(path): items for path, items in selected.items()}
        if submit_now:
            for path in selected:
                self._submit(path)

    def _start_plugin(self, path: Path) -> None:
        """Submit a just-probed plugin's whole battery (on a probe thread): see the module's docstring."""
        self._submit(path, whole_battery=True)

    def _submit(self, path: Path, whole_battery: bool = False) -> None:
        """Submit a plugin's selected items (or, before the selection is known, all of them) to the pool, once."""
        if self._prefetcher is None or not self._prefetcher.claim(path):
            return
        facts = probe(path, self.settings.budget_scale)
        items = battery_for(facts) if whole_battery else self._selected.get(str(path), [])
        self._prefetcher.submit_battery(path, items, facts, self.settings.budget_scale, self.settings.reruns)

    def run(self, path: Path, item: BatteryItem) -> tuple[PluginFacts, CheckResult]:
        """The plugin's facts and the item's result: prefetched if it was, heavy modes and monitors applied."""
        settings = self.settings
        self.wait_started()
        facts = probe(path, settings.budget_scale)
        self._submit(path)
        future = self._prefetcher.take(path, item.name) if self._prefetcher is not None else None
        if future is not None:
            result = future.result()
        else:
            result = run_item(path, item, facts, settings.budget_scale, settings.reruns)
        if settings.race or settings.memcheck:
            # Imported here: valgrind's runner and its XML parsing serve only --race and --memcheck runs.
            from conformance.heavy.modes import apply_heavy_modes

            result = apply_heavy_modes(path, item, facts, result, settings)
        return facts, self._monitored(path, item.check, result)

    def _monitored(self, path: Path, check: Check, result: CheckResult) -> CheckResult:
        """Record this item's sightings of other checks' rules; credit an owning check with every item's.

        See ``conformance.checks.monitors``: with the prefetcher, the items still to come are waited
        for, so the credit does not depend on the order items run in.
        """
        plugin = str(path)
        self._monitors.record(plugin, result)
        if not check.owns_violations:
            return result
        if self._prefetcher is not None:
            for future in self._prefetcher.outstanding(path):
                if future in self._consulted:
                    continue  # recorded for an earlier owning check (the ledger keeps one entry per item)
                try:
                    self._monitors.record(plugin, future.result())
                except Exception:  # noqa: BLE001 - that item reports its own error when it runs
                    continue
                self._consulted.add(future)
        return self._monitors.credit(plugin, check, result)

    def close(self) -> None:
        """Stop every fork server of this process (the pool's and the shared one) and reap them.

        A start still under way is waited for (it cannot be cut short), whether or not it failed.
        """
        if self._started is not None:
            wait((self._started,))
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None
        for client in self._spare or []:
            client.close()
        close_shared_client()
        self._stopped.set()


#: Options that deselect items (or run none): with any of them, items wait for pytest's selection.
DESELECTING_OPTIONS = ("keyword", "markexpr", "deselect", "lf", "stepwise", "collectonly")


class CommandLine(Protocol):
    """What ``selects_whole_battery`` reads of a ``pytest.Config``."""

    args_source: pytest.Config.ArgsSource

    def getoption(self, name: str, default: Any = None) -> Any: ...


def selects_whole_battery(config: CommandLine) -> bool:
    """Whether the command line keeps every battery item, so a plugin's items may start once it is probed.

    Test paths on the command line select too. A conftest may still deselect: those items are
    cancelled when the selection is known.
    """
    if any(config.getoption(name, None) for name in DESELECTING_OPTIONS):
        return False
    return config.args_source != pytest.Config.ArgsSource.ARGS
