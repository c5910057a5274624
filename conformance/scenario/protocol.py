"""Requests to the fork server and the results it returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from conformance.scenario.events import CallStarted, Event


@dataclass(frozen=True)
class ScenarioRequest:
    """Run one scenario (a catalogue check, or a named tool scenario) against one plugin.

    ``options`` carries plain data the scenario reads (params, env overrides,
    seeds). ``host_version`` is the host the child emulates.
    """

    scenario: str
    plugin_path: str
    host_version: int = 9
    budget_scale: float = 1.0
    overall_budget_s: float = 20.0
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    memory_limit_mb: int = 4096
    output_limit_bytes: int = 8 * 1024 * 1024
    capture_stacks: bool = True
    #: The child's whole event stream in the result (``conformance repro --trace``). Without it, the result of
    #: a scenario that completed leaves out what no judgement reads: the announcement of each call (the
    #: server follows calls by them; the result keeps ``CallFinished``) and the guard regions (read only to
    #: explain a crash). They were half the events a traffic-heavy check sent on to the pytest process.
    trace: bool = False


@dataclass(frozen=True)
class GroupRequest:
    """Run several scenarios against one plugin in one child, one after another.

    Only for scenarios that may share a process (``checks.isolation.shares_child``), all
    with the same plugin, environment and limits. The child stops early when a
    scenario leaves plugin threads behind; the server stops at the first one
    that does not complete. Results come back for the completed prefix only:
    the caller runs the rest alone, so a crash or a hang is always judged in a
    child of its own.
    """

    requests: tuple[ScenarioRequest, ...]


class Outcome(enum.Enum):
    """What happened to the child process, independent of any judgement."""

    COMPLETED = "completed"
    CRASHED = "crashed"
    EXITED = "exited"
    TIMED_OUT = "timed_out"
    RESOURCE_LIMIT = "resource_limit"
    HARNESS_ERROR = "harness_error"


@dataclass(frozen=True)
class SandboxResult:
    """Everything the parent learns about one scenario run."""

    outcome: Outcome
    events: tuple[Event, ...]
    duration_s: float
    detail: str = ""
    signal_number: int | None = None
    signal_name: str | None = None
    exit_code: int | None = None
    in_flight: CallStarted | None = None
    stacks: str | None = None
    stack_tool: str = ""
    stderr_tail: str = ""
    panic_message: str | None = None
    resource: str | None = None
    pid: int | None = None

    shared_child: bool = False  # ran in a child with other scenarios (GroupRequest)
    #: Deadline extensions granted because a call was runnable but not scheduled (sandbox/deadlines.py).
    budget_extensions: tuple[float, ...] = ()
    #: How the server kept the plugin's processes in (``sandbox.containment.Containment``), and the processes
    #: the scenario left running that the server killed after it ("pid command").
    containment: str = ""
    stray_processes: tuple[str, ...] = ()

    def events_of(self, kind: type) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


@dataclass(frozen=True)
class GroupResult:
    """Results of the completed prefix of a ``GroupRequest``, and why the child stopped short, if it did."""

    results: tuple[SandboxResult, ...]
    stopped: str = ""
    threads_outlived: bool = False  # the child stopped because a scenario left plugin threads running
    #: How the shared child died in the scenario it stopped in ("killed by SIGSEGV", "exit status 3"); "" otherwise.
    died: str = ""
    #: The child ended in its first scenario, whose result (the only one) is then a lone child's, death included.
    first_ended_child: bool = False
    containment: str = ""
    stray_processes: tuple[str, ...] = ()
