"""A plugin that kills or freezes its fork server: reported once, then its other checks are not run.

Where the sandbox has no namespaces, a plugin can signal its parent, the fork server. The
client replaces the server (``sandbox.watchdog``), but a plugin that did it once does it in
every check: 165 checks times a server start (or a budget, for a freeze) is minutes, and
165 copies of one finding. So the first loss is the plugin's finding, a crash or a timeout
of the scenario that was running, and every later check of that plugin is skipped with it as
the reason. Per plugin: the other plugins of a corpus run go on as usual.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from conformance.checks.model import Judgement, Severity, Status
from conformance.sandbox.client import ServerLost
from conformance.sandbox.watchdog import Fate

#: The evidence key of a judgement about a lost server (the report's ``checks[].evidence``).
EVIDENCE_KEY = "sandbox_server"
#: What the plugin is taken to have done, per fate of the server.
_DEED = {
    Fate.KILLED: "killed its parent process, the sandbox's fork server",
    Fate.EXITED: "made its parent process, the sandbox's fork server, exit",
    Fate.STOPPED: "froze its parent process, the sandbox's fork server",
    Fate.SILENT: "left its parent process, the sandbox's fork server, unable to answer",
    Fate.GARBLED: "broke the reply channel of its parent process, the sandbox's fork server",
}
#: What each scenario the tool runs on its own does, for a loss outside any check.
_TOOL_SCENARIOS = {
    "probe": "the probe (loading the plugin, then one ordinary session: every entry point it exports, "
    "process_packet with ordinary traffic for a processor)",
}


@dataclass(frozen=True)
class ServerLossFinding:
    """The first server a plugin cost the run: where, and what became of the server."""

    scenario: str
    sentence: str
    fate: Fate


def describe(result: ServerLost) -> str:
    """The finding in one sentence: what the plugin did, in which scenario, what the server said."""
    where = _TOOL_SCENARIOS.get(result.scenario, f"the scenario of {result.scenario}")
    how = result.loss.detail
    return (
        f"the plugin {_DEED[result.loss.fate]}, during {where}: the server was {how}; the call in flight is "
        "unknown (the server's record of it went with the server); it was replaced"
    )


class ServerLosses:
    """The first server loss of each plugin in this process (thread-safe: the prefetcher runs several)."""

    def __init__(self) -> None:
        self._first: dict[str, ServerLossFinding] = {}
        self._lock = threading.Lock()

    def skip_reason(self, plugin: str) -> str | None:
        """Why the plugin's checks are not run any more, or None."""
        with self._lock:
            finding = self._first.get(plugin)
        if finding is None:
            return None
        return f"not run: {finding.sentence}; every check would do it again"

    def record(self, plugin: str, result: ServerLost) -> Judgement:
        """The judgement of the check whose scenario lost the server: the finding if it is the first,
        a skip naming the first otherwise (a check that was running beside it)."""
        finding = ServerLossFinding(result.scenario, describe(result), result.loss.fate)
        with self._lock:
            first = self._first.setdefault(plugin, finding)
        judgement = finding_judgement(result)
        if first is not finding:
            return Judgement(Status.SKIP, f"not run: {first.sentence}", judgement.evidence)
        return judgement

    def clear(self) -> None:
        with self._lock:
            self._first.clear()


def finding_judgement(result: ServerLost) -> Judgement:
    """The plugin's finding: a crash (killed, exited), a timeout (stopped, silent) or a failure (garbled reply)."""
    evidence = {
        "outcome": result.outcome.value,
        "signal": result.signal_name,
        EVIDENCE_KEY: {
            "fate": result.loss.fate.value,
            "detail": result.loss.detail,
            "scenario": result.scenario,
            "waited_s": round(result.loss.waited_s, 3),
        },
    }
    return Judgement(_status(result.loss.fate), describe(result), evidence)


def severity_of(judgement: Judgement, severity: Severity) -> Severity | None:
    """A plugin that cost the run a server fails whatever the check's ``severity``: None when it did not."""
    if EVIDENCE_KEY not in judgement.evidence:
        return None
    return Severity.REQUIRED if judgement.status is not Status.SKIP else severity


def _status(fate: Fate) -> Status:
    if fate in (Fate.STOPPED, Fate.SILENT):
        return Status.TIMEOUT
    if fate is Fate.GARBLED:
        return Status.FAIL
    return Status.CRASH


#: This process's record (one per pytest process or xdist worker, like the probed facts).
SERVER_LOSSES = ServerLosses()
