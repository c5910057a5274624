"""Plugin intake in a persistent sandbox child: the plugin stays loaded from one input to the next.

The child runs each plan as the ``fuzz.intake`` scenario does (create, the planned calls with their
oracles, destroy) and answers with the failures it saw, as JSON. It is only a fast filter: whatever it
reports (a failed oracle, a crash, a hang) is judged again by running the input alone in a child of its
own (``IntakeRunner.run``), so a finding is the very ``FuzzFinding`` the one-child-per-input runner
raises for that input, messages included. Only what a lone child cannot show (a crash that needs the
state earlier inputs left behind, junk on the result channel) is named from the persistent child.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from conformance.budgets import budget_for
from conformance.fuzzing.findings import FuzzFinding
from conformance.fuzzing.intake_plan import IntakePlan
from conformance.fuzzing.intake_scenarios import IntakeTarget, intake_target, run_intake
from conformance.host.callbacks import retire_host_callbacks
from conformance.host.errors import LoadError
from conformance.host.guarded import set_region_sink
from conformance.host.loader import LoadedPlugin
from conformance.host.logs import retire_log_bridge
from conformance.sandbox.calibration import machine_factor
from conformance.sandbox.classify import signal_name
from conformance.sandbox.persistent import Exchange, PersistentChild, Reply
from conformance.scenario.context import Emitter, PluginLoader, ScenarioContext, ScenarioSkip
from conformance.scenario.events import Event, Expect, HarnessError, Violation
from conformance.scenario.protocol import ScenarioRequest

#: Inputs one child runs before it is replaced (bounds what a slow leak in the plugin can build up).
INPUTS_PER_CHILD = 1000
#: Failures one reply may carry; the first is the finding, the rest are evidence.
MAX_FAILURES = 16
_FAILURE_KINDS = frozenset({"harness", "expect", "violation"})
_ENTRY_OF_ACTION = {
    "packet": "process_packet",
    "wire": "process_packet",
    "malformed": "process_packet",
    "params": "update_params",
    "hint": "on_upstream_hint",
    "tick": "tick",
    "flush": "flush",
}
#: Earlier inputs replayed alone after a death the input in flight does not explain, newest first: each
#: costs a child of the fork server, and all of them must fit in libFuzzer's -timeout of one input.
MAX_REPLAYS = 32
#: Margin for the host's own Python work around the calls of one input, on a loaded machine.
HOST_MARGIN_S = 1.0

#: Modules only the persistent child runs. Coverage counted there stays in the child's copy of the
#: counters and never guides libFuzzer, so the fuzzer leaves them uninstrumented (the child runs faster).
CHILD_SIDE_MODULES = (
    "conformance.checks",
    "conformance.fuzzing.intake_scenarios",
    "conformance.host.callbacks",
    "conformance.host.guarded",
    "conformance.host.instance",
    "conformance.host.loader",
    "conformance.host.logs",
    "conformance.host.memory",
    "conformance.host.metadata",
    "conformance.scenario",
)

T = TypeVar("T")

#: A failure as it travels: (kind, what, detail).
Failure = tuple[str, str, str]


class QuietContext(ScenarioContext):
    """A context that announces no calls: in the persistent loop no server reads CallStarted/CallFinished
    (a death or hang is attributed by running inputs alone, where calls are announced), and building them
    costs a tenth of an intake. Without triage results in the request no entry point is refused, so the
    look-up per call is skipped."""

    def __init__(self, request: ScenarioRequest, emit: Callable[[Event], None], load_plugin: PluginLoader) -> None:
        super().__init__(request, emit, load_plugin)
        self._triaged = bool(request.options.get("wedged"))

    def call(self, entry: str, fn: Callable[..., T], *args: Any, detail: str = "") -> T:
        if self._triaged:
            self.ensure_callable(entry)
        return fn(*args)


class IntakeInChild:
    """The child's side: the plugin loaded by the first input and kept, one plan per input.

    All inputs share one emitter, so the host callbacks and the log bridge (built once per process from
    the first emitter they see) report to whichever input is running.
    """

    def __init__(self, request: ScenarioRequest) -> None:
        self.request = request
        self.events: list[Event] = []
        self.emit = Emitter(self._record)
        self.plugin: LoadedPlugin | None = None
        #: What every intake of the kept plugin judges against, read by its first intake that got that far.
        self.target: IntakeTarget | None = None

    def _record(self, event: Event) -> None:
        self.events.append(event)

    def warm(self) -> None:
        """Host callbacks and log bridge of this intake's own (the process may have built them for another
        emitter: a caller that ran scenarios in process before forking, or a judge run in process), and no
        guarded region announced: only a server explaining a fault reads them, and a fault here is explained
        by running the input alone."""
        fresh_host_objects()
        set_region_sink(None)

    def _load(self, path: str, ctx: ScenarioContext) -> LoadedPlugin:
        if self.plugin is None:
            self.plugin = LoadedPlugin.load(path, ctx)
        self.plugin.ctx = ctx  # the kept plugin's budgeted calls go through this input's context
        return self.plugin

    def __call__(self, data: bytes) -> dict[str, Any]:
        plan: IntakePlan = pickle.loads(data)  # noqa: S301 - written by the parent, never by the plugin
        return {"failures": [list(failure) for failure in self.run_plan(plan)[:MAX_FAILURES]]}

    def run_plan(self, plan: IntakePlan) -> list[Failure]:
        """One intake of ``plan`` with the kept plugin; the failures ``IntakeRunner.judge`` would name."""
        self.events = []
        ctx = QuietContext(self.request, self.emit, self._load)  # the plan goes straight to run_intake
        try:
            if self.target is None:
                self.target = intake_target(ctx)
            else:
                self._load(self.request.plugin_path, ctx)  # the kept plugin's calls report to this context
            run_intake(ctx, plan, label_calls=False, target=self.target)
        except (ScenarioSkip, LoadError):
            pass  # not findings for the one-child runner either
        except MemoryError:
            raise  # the address-space limit: the child dies and the input is judged alone
        except Exception as error:  # noqa: BLE001 - a harness bug is reported, as the lone child does
            self.events.append(HarnessError(f"{type(error).__name__}: {error}", traceback.format_exc()))
        return failures_of(self.events)


def fresh_host_objects() -> None:
    """The next host callbacks and log bridge are built for the next emitter that asks (the process-wide
    ones report to the emitter that built them; the retired ones stay alive for plugins holding them)."""
    retire_host_callbacks()
    retire_log_bridge()


def failures_of(events: list[Event]) -> list[Failure]:
    """What ``IntakeRunner.judge`` would call a finding, in the order it looks at them."""
    found: list[Failure] = []
    for event in events:
        if isinstance(event, HarnessError):
            found.append(("harness", event.message, event.traceback))
        elif isinstance(event, Expect) and not event.ok:
            found.append(("expect", event.what, event.detail))
        elif isinstance(event, Violation):
            found.append(("violation", event.rule, f"{event.detail} (during {event.during})"))
    return found


def parse_failures(value: dict[str, Any]) -> list[Failure]:
    """The failures of a reply, or ValueError when it is not exactly what ``IntakeInChild`` writes."""
    if set(value) != {"seq", "threads", "failures"}:
        raise ValueError(f"unexpected keys {sorted(value)[:8]}")
    raw = value["failures"]
    if not isinstance(raw, list) or len(raw) > MAX_FAILURES:
        raise ValueError("failures is not a short list")
    failures: list[Failure] = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 3 and all(isinstance(part, str) for part in item)):
            raise ValueError(f"a failure is not three strings: {str(item)[:120]}")
        if item[0] not in _FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {item[0][:40]!r}")
        failures.append((item[0], item[1], item[2]))
    return failures


class InputBudgets:
    """The budgets of the calls a plan makes, added up: past them the input is hung. Each entry point's
    budget is looked up once per scale, not once per call."""

    def __init__(self, scale: float) -> None:
        self.base = budget_for("create_instance", scale) + budget_for("destroy_instance", scale)
        self.base += HOST_MARGIN_S * scale
        self.of_action = {action: budget_for(entry, scale) for action, entry in _ENTRY_OF_ACTION.items()}

    def __call__(self, plan: IntakePlan) -> float:
        of_action = self.of_action
        return self.base + sum(of_action[op.action] for op in plan.ops)


@dataclass(frozen=True)
class Pending:
    """An input posted to the persistent child and not answered yet."""

    data: bytes
    plan: IntakePlan
    budget_s: float


@dataclass(frozen=True)
class IntakeOutcome:
    """How one input ended; ``history`` is the child's inputs up to and including it (for attribution)."""

    data: bytes
    plan: IntakePlan
    exchange: Exchange
    history: tuple[bytes, ...] = ()


class PersistentIntake:
    """The parent's side: one persistent child at a time, replaced after a death, a hang, a thread left
    running or ``inputs_per_child`` inputs.

    ``post`` queues an input and ``outcomes`` takes the oldest ones', so a caller may post the next input
    before taking the previous one's outcome (the child never waits for the parent). When a child ends
    badly, the inputs posted after the one it ended on are posted again to a fresh child: each input's
    outcome comes from a child that ran exactly the inputs before it since its start.
    """

    def __init__(
        self, request: ScenarioRequest, *, inputs_per_child: int = INPUTS_PER_CHILD, budget_scale: float = 1.0
    ) -> None:
        self.request = request
        self.inputs_per_child = inputs_per_child
        self.scale = budget_scale * machine_factor()
        self.budgets = InputBudgets(self.scale)
        self.child: PersistentChild | None = None
        self.children_started = 0
        #: Inputs the current child was given since its start (its checkpoint), oldest first.
        self.history: list[bytes] = []
        self.in_flight: deque[Pending] = deque()
        self.done: deque[IntakeOutcome] = deque()
        atexit.register(self.close)  # libFuzzer exits without closing the target: no child or workdir left

    def _child(self) -> PersistentChild:
        if self.child is not None and self.child.alive and self.child.sent >= self.inputs_per_child:
            self.settle()  # what the child has queued is answered before it is replaced
        if self.child is None or not self.child.alive or self.child.sent >= self.inputs_per_child:
            self._replace()
        assert self.child is not None
        return self.child

    def _replace(self) -> None:
        self.close()
        handler = IntakeInChild(self.request)
        self.child = PersistentChild(self.request, handler, warm=handler.warm)
        self.children_started += 1
        self.history = []

    def post(self, data: bytes, plan: IntakePlan) -> None:
        """Queue one input; the first input of a child also loads the plugin (the overall budget)."""
        child = self._child()
        first = child.sent == 0
        budget = self.request.overall_budget_s * self.scale if first else self.budgets(plan)
        child.post(pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
        self.history.append(data)
        self.in_flight.append(Pending(data, plan, budget))

    def outcomes(self, keep: int = 0) -> list[IntakeOutcome]:
        """The outcomes of the oldest inputs, in posting order, until at most ``keep`` are left in flight."""
        while len(self.in_flight) > keep:
            self.done.append(self._collect())
        ready = list(self.done)
        self.done.clear()
        return ready

    def settle(self) -> None:
        """Wait for everything in flight (its outcomes come out of the next ``outcomes``)."""
        while self.in_flight:
            self.done.append(self._collect())

    def _collect(self) -> IntakeOutcome:
        pending = self.in_flight.popleft()
        assert self.child is not None
        exchange = self.child.receive(pending.budget_s)
        if exchange.reply is Reply.RESULT and exchange.threads_left <= 1:
            return IntakeOutcome(pending.data, pending.plan, exchange)
        # Dead, or a plugin thread still running could act during the next input.
        history = tuple(self.history[: len(self.history) - len(self.in_flight)])
        self.restart()
        return IntakeOutcome(pending.data, pending.plan, exchange, history)

    def restart(self) -> None:
        """A fresh child for whatever is in flight: the old one is out of step or may have been harmed."""
        later = list(self.in_flight)
        self.in_flight.clear()
        self.close()
        for pending in later:
            self.post(pending.data, pending.plan)

    def close(self) -> None:
        if self.child is not None:
            self.child.close()
            self.child = None


def attribute(
    exchange: Exchange,
    data: bytes,
    history: Sequence[bytes],
    judge_alone: Callable[[bytes], FuzzFinding | None],
    describe: Callable[[bytes, str, str], FuzzFinding],
) -> FuzzFinding:
    """The finding for a persistent child that died or hung on ``data``.

    The input in flight is run alone first; when it passes alone (the plugin needed what earlier inputs
    left behind), the child's earlier inputs are (the newest ``MAX_REPLAYS``), newest first: the first
    that fails alone is the finding, carrying its own bytes. A hang replays only the input in flight (each replay costs a budget).
    """
    finding = judge_alone(data)
    if finding is not None:
        return finding
    if exchange.reply is Reply.DIED:
        for earlier in reversed(history[-1 - MAX_REPLAYS : -1]):
            finding = judge_alone(earlier)
            if finding is not None:
                finding.data = earlier
                return finding
    how = _ending(exchange)
    return describe(data, how, f"{how} after {len(history)} inputs ({exchange.detail}); no input fails alone")


def _ending(exchange: Exchange) -> str:
    """How the child ended, in the words ``IntakeRunner.judge`` uses for a lone child."""
    status = exchange.status or 0
    if exchange.reply is Reply.HUNG:
        return "did not return (hang) in a persistent child"
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) != signal.SIGKILL:
        return f"crashed with {signal_name(os.WTERMSIG(status))} in a persistent child"
    return f"the process exited ({os.WEXITSTATUS(status) if os.WIFEXITED(status) else status}) in a persistent child"
