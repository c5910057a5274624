"""pytest-xdist integration: probe once in the controller, give each worker whole plugins.

Without this, ``-n 2`` probed every plugin twice (once per worker, during
collection) and split a plugin's battery item by item between the workers, so
neither worker could run the battery ahead through its own pool of fork
servers. ``XdistController`` is registered in the xdist controller only.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.battery.runner import export_facts, probe_many
from conformance.pytest_face.prefetch import probe_parallelism
from conformance.sandbox.calibration import calibrate_once
from conformance.sandbox.client import shared_client
from conformance.settings import RunSettings, plugin_label

FACTS_INPUT = "conformance_facts"
MODE_INPUT = "conformance_dist"  # workers see --dist as "no"; the controller tells them the real mode
CONTROLLER_NAME = "conformance-xdist-controller"

#: xdist modes that hand out battery items by the load each worker has: here they hand out whole plugins
#: (``XdistController.pytest_xdist_make_scheduler``). Stealing single items split a battery between the
#: workers, so none could run it ahead: 27 s against 20 s for 24 fixtures on 2 workers.
PLUGIN_BALANCED_MODES = ("load", "worksteal")
#: xdist modes under which a worker receives every item of a plugin it gets one item of: the two above, and
#: the two whose scope of a node id ``label::check`` is its plugin's label by xdist's own rule.
PLUGIN_SCOPED_MODES = (*PLUGIN_BALANCED_MODES, "loadscope", "loadfile")


class XdistController:
    """Hooks of the controller process (it never collects or runs items itself)."""

    def __init__(self, facts_json: str) -> None:
        self._facts_json = facts_json
        #: Battery items per plugin label, as the first worker collected them; None before it did.
        self.selected_by_label: dict[str, int] | None = None

    @classmethod
    def probed(cls, settings: RunSettings, parallel: bool) -> XdistController:
        """Probe each plugin once, in parallel unless told not to, for every worker to share."""
        # Measured once here; the workers inherit the factor through the environment (sandbox/calibration.py).
        calibrate_once(shared_client().run)
        plugins = list(settings.plugins)
        probe_many(plugins, settings.budget_scale, [shared_client()], probe_parallelism() if parallel else 1)
        return cls(json.dumps(export_facts(plugins, settings.budget_scale)))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[FACTS_INPUT] = self._facts_json
        node.workerinput[MODE_INPUT] = xdist_mode(node.config)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """For ``load`` (the default with ``-n``) and ``worksteal``: one scope per plugin (the node id
        ``label::check``), balanced between the workers as plugins.

        A plugin's items then run on one worker, which runs them ahead on its own fork
        servers; two plugins run side by side on two workers. Other modes keep xdist's scheduler.
        """
        if config.getoption("dist", "no") not in PLUGIN_BALANCED_MODES:
            return None
        # Imported here: only the xdist controller schedules, and this module loads in every battery run.
        from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

        return LoadScopeScheduling(config, log)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """The controller does not collect: count the battery items a worker selected, per plugin."""
        if self.selected_by_label is not None:
            return  # every worker collects the same items
        counts: dict[str, int] = {}
        for nodeid in ids:
            label = nodeid.split("::", 1)[0]
            counts[label] = counts.get(label, 0) + 1
        self.selected_by_label = counts

    def selected(self, settings: RunSettings) -> dict[str, int] | None:
        """Items selected per plugin path (None before a worker collected)."""
        if self.selected_by_label is None:
            return None
        return {str(path): self.selected_by_label.get(plugin_label(path), 0) for path in settings.plugins}


def worker_facts(config: pytest.Config) -> dict[str, dict[str, Any]] | None:
    """The facts the controller probed, in a worker; None elsewhere."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or FACTS_INPUT not in workerinput:
        return None
    data: dict[str, dict[str, Any]] = json.loads(workerinput[FACTS_INPUT])
    return data


def xdist_mode(config: pytest.Config) -> str:
    """The xdist distribution mode, "no" without xdist (in a worker: the controller's mode).

    As xdist decides: ``--dist`` names a mode, but tests are distributed only when there are workers to
    send them to (``-n`` or ``--tx``). ``--dist worksteal`` alone runs everything in this process, which
    must then judge its selection as a lone process does (an empty one was reported as a pass).
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput.get(MODE_INPUT, "no"))
    try:
        mode = str(config.getoption("dist") or "no")
        workers = config.getoption("tx")
    except ValueError:
        return "no"
    return mode if workers else "no"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def worker_count(config: pytest.Config) -> int:
    workerinput = getattr(config, "workerinput", None)
    return int(workerinput.get("workercount", 1)) if workerinput else 1
