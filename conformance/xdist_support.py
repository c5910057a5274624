"""pytest-xdist integration: probe once in the controller, give each worker whole plugins.

Without this, ``-n 2`` probed every plugin twice (once per worker, during
collection) and split a plugin's battery item by item between the workers, so
neither worker could run the battery ahead through its own pool of fork
servers. Registered by the pytest plugin in the xdist controller only.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

FACTS_INPUT = "conformance_facts"
MODE_INPUT = "conformance_dist"  # workers see --dist as "no"; the controller tells them the real mode

#: xdist modes under which a worker receives every item of a plugin it gets one item of.
PLUGIN_SCOPED_MODES = ("load", "loadscope")


class XdistController:
    """Hooks of the controller process (it never collects or runs items itself)."""

    def __init__(self, facts_json: str) -> None:
        self._facts_json = facts_json

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[FACTS_INPUT] = self._facts_json
        node.workerinput[MODE_INPUT] = xdist_mode(node.config)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """For the default ``load`` mode: one scope per plugin (the node id ``label::check``).

        A plugin's items then run on one worker, which runs them ahead on its own fork
        servers; two plugins run side by side on two workers.
        """
        if config.getoption("dist", "no") != "load":
            return None
        from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

        return LoadScopeScheduling(config, log)


def worker_facts(config: pytest.Config) -> dict[str, dict[str, Any]] | None:
    """The facts the controller probed, in a worker; None elsewhere."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or FACTS_INPUT not in workerinput:
        return None
    data: dict[str, dict[str, Any]] = json.loads(workerinput[FACTS_INPUT])
    return data


def xdist_mode(config: pytest.Config) -> str:
    """The xdist distribution mode, "no" without xdist (in a worker: the controller's mode)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput.get(MODE_INPUT, "no"))
    try:
        return str(config.getoption("dist") or "no")
    except ValueError:
        return "no"


def worker_count(config: pytest.Config) -> int:
    workerinput = getattr(config, "workerinput", None)
    return int(workerinput.get("workercount", 1)) if workerinput else 1
