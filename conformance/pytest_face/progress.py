"""Live progress of `conformance check`, on stderr: per plugin, checks done out of total,
the current category and the failures so far.

On a terminal one line per plugin is redrawn in place (coloured unless
NO_COLOR is set: NO_COLOR turns off colour, never the live line); otherwise a
plain line is printed per category and per plugin, so CI logs stay readable.

The same object is how `conformance check` learns what pytest did: it is
marked ``conformance_cli`` (the pytest plugin then leaves usage errors to the
command) and keeps the session's config, whose battery session holds the run's reports.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import pytest

from conformance.pytest_face.reporting import payloads
from conformance.report.present import blocking


@dataclass
class PluginProgress:
    total: int = 0
    done: int = 0
    failures: int = 0
    category: str = ""


@dataclass(eq=False)  # pytest keeps plugins in sets: identity hashing
class ProgressPlugin:
    """A pytest plugin object (passed to pytest.main) that reports progress."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)
    plugins: dict[str, PluginProgress] = field(default_factory=dict)
    config: pytest.Config | None = None
    conformance_cli: bool = True

    @property
    def interactive(self) -> bool:
        return self.stream.isatty()

    @property
    def colour(self) -> bool:
        return self.interactive and not os.environ.get("NO_COLOR")

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            label = item.nodeid.split("::", 1)[0]
            self.plugins.setdefault(label, PluginProgress()).total += 1

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under xdist the controller does not collect; every worker reports the same ids, count them once."""
        if any(state.total for state in self.plugins.values()):
            return
        for nodeid in ids:
            self.plugins.setdefault(nodeid.split("::", 1)[0], PluginProgress()).total += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and report.skipped):
            return
        label = report.nodeid.split("::", 1)[0]
        state = self.plugins.setdefault(label, PluginProgress())
        state.done += 1
        category = ""
        for payload in payloads(report):  # parsed once for every hook that reads it
            result = payload["result"]
            category = result["category"]
            if blocking(result):
                state.failures += 1
        changed = category != state.category
        state.category = category or state.category
        self._show(label, state, changed or state.done == state.total)

    def _show(self, label: str, state: PluginProgress, milestone: bool) -> None:
        failures = f"{state.failures} failure{'s' if state.failures != 1 else ''}"
        line = f"{label}: {state.done}/{state.total} checks, {state.category or '-'}, {failures}"
        if self.interactive:
            colour = ("\x1b[31m" if state.failures else "\x1b[32m") if self.colour else ""
            self.stream.write("\r\x1b[2K" + colour + line + ("\x1b[0m" if self.colour else ""))
            if state.done == state.total:
                self.stream.write("\n")
            self.stream.flush()
        elif milestone:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close_line(self) -> None:
        """End a live line left open (an interrupted run stops mid-line)."""
        if self.interactive and any(state.done < state.total for state in self.plugins.values()):
            self.stream.write("\n")
            self.stream.flush()

    def summary_lines(self) -> list[str]:
        return [f"{label}: {state.done}/{state.total}" for label, state in self.plugins.items()]
