"""Structured events a scenario child streams to the sandbox server.

Events cross a process boundary as JSON checked against these declarations
(``sandbox.event_codec``), so they are frozen dataclasses of plain data (str,
int, float, bool, None, tuples, and JSON values: a tuple inside a JSON value
arrives as a list). The child writes
each one as soon as it happens: when the plugin kills the child, everything
sent before the fatal call survives and the in-flight ``CallStarted`` names the
entry point that did it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSONValue = Any


@dataclass(frozen=True)
class CallStarted:
    """The child is about to call into the plugin; ``budget_s`` bounds the call."""

    entry: str
    budget_s: float
    detail: str = ""
    thread: str = ""
    tid: int = 0  # the calling thread's kernel id: the server reads its scheduler state when the budget ends


@dataclass(frozen=True)
class CallFinished:
    """The call named ``entry`` returned after ``duration_s`` seconds with ``result``."""

    entry: str
    duration_s: float
    result: str = ""
    thread: str = ""


@dataclass(frozen=True)
class LogSeen:
    """One invocation of the host log callback (or, with ``enabled_query``, the enabled callback)."""

    level: int
    target: str | None
    message: str | None
    thread: str
    during: str | None
    after_destroy: bool = False
    enabled_query: bool = False
    answer: bool | None = None


@dataclass(frozen=True)
class Violation:
    """A breach of the calling contract seen by a host callback (late output, double free...)."""

    rule: str
    detail: str
    during: str | None = None


@dataclass(frozen=True)
class Expect:
    """The result of one assertion a scenario made about the plugin's behaviour."""

    ok: bool
    what: str
    detail: str = ""
    warn_only: bool = False


@dataclass(frozen=True)
class Observed:
    """A named measurement or fact, kept as evidence and read by judges."""

    key: str
    value: JSONValue = None


@dataclass(frozen=True)
class GuardRegion:
    """A host buffer (``alloc``, ``input``) or struct handed to the plugin, announced before the plugin can
    touch it: where its body lies and where the inaccessible page after it begins and ends.

    Only a fault is explained with it (``checks.judge.explain_fault``): the server leaves a child's regions out
    of the result of a scenario that completed (a traffic-heavy check announces hundreds), unless the request
    asks for the whole trace (``ScenarioRequest.trace``).
    """

    kind: str
    label: str
    body_start: int
    body_end: int
    guard_start: int
    guard_end: int
    writable: bool


@dataclass(frozen=True)
class Skipped:
    """The scenario does not apply to this plugin (missing capability), with the reason.

    ``static``: see ``ScenarioSkip``.
    """

    reason: str
    static: bool = False


@dataclass(frozen=True)
class LoadFailed:
    """The reference host refused the library; ``stage`` is the load step (symbol, version, ...)."""

    stage: str
    message: str


@dataclass(frozen=True)
class StreamCorrupted:
    """The server refused the child's event stream: bytes that are no frame, a frame without the channel's
    token or out of sequence, or one the child would never send there (a completion inside a call). Our
    child writes whole, well-formed frames only, so this is the plugin writing to a descriptor it
    inherited: a verdict on the plugin."""

    detail: str


@dataclass(frozen=True)
class HarnessError:
    """A bug in the validator (an unexpected Python exception in the scenario)."""

    message: str
    traceback: str = ""


@dataclass(frozen=True)
class ScenarioDone:
    """The scenario ran to its end; a child that exits without this died early.

    ``frames`` is the child's own count of the frames it sent for the scenario before this one: the
    server accepts the completion only when it received exactly as many (``sandbox.event_codec``).
    """

    index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    frames: int = 0


@dataclass(frozen=True)
class ScenarioBoundary:
    """In a shared child: scenario ``index`` of the group has ended; its output ends at ``output_end``.

    Not part of any scenario's events; the server cuts the stream at it.
    """

    index: int
    output_end: int
    threads_left: int = 1


Event = (
    CallStarted
    | CallFinished
    | LogSeen
    | Violation
    | Expect
    | Observed
    | GuardRegion
    | Skipped
    | LoadFailed
    | HarnessError
    | StreamCorrupted
    | ScenarioDone
    | ScenarioBoundary
)
