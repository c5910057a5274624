"""The parent side of plugin intake: profile a plugin once, then run inputs in a persistent sandbox child
(or one sandbox child per input) and turn the answer into a ``FuzzFinding``."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any

from conformance.fixtures import fixture_path
from conformance.fuzzing.findings import FuzzFinding
from conformance.fuzzing.intake_plan import IntakePlan
from conformance.fuzzing.intake_planner import plan_intake
from conformance.fuzzing.intake_profile import PluginProfile
from conformance.fuzzing.intake_scenarios import INTAKE_SCENARIO, PROFILE_SCENARIO
from conformance.fuzzing.persistent_intake import (
    INPUTS_PER_CHILD,
    Failure,
    IntakeInChild,
    IntakeOutcome,
    PersistentIntake,
    attribute,
    fresh_host_objects,
    parse_failures,
)
from conformance.sandbox.client import SandboxClient, run_in_process
from conformance.sandbox.persistent import Exchange, Reply
from conformance.scenario.events import Expect, HarnessError, LoadFailed, Observed, Skipped, Violation
from conformance.scenario.protocol import Outcome, SandboxResult, ScenarioRequest

#: Inputs ``feed`` may leave in the persistent child unjudged. Past that it waits for all but the newest, so
#: the fuzzer sleeps once per that many inputs rather than once per input (each sleep costs a wait for a CPU
#: on a loaded machine), and the child still finds its next input waiting.
PIPELINE_DEPTH = 4


def resolve_plugin(spec: str) -> Path:
    """A plugin path, or the name of a bundled fixture (built on demand)."""
    path = Path(spec)
    if path.exists() or spec.endswith(".so") or os.sep in spec:
        return path.resolve()
    return Path(fixture_path(spec))


class IntakeRunner:
    """Drives intakes against one plugin: profile once, then many inputs per persistent sandbox child.

    ``check`` runs an input in the persistent child (``persistent_intake``) and judges anything it
    reports by running that input alone (``run``: one sandbox child through the fork server), so a
    finding is the same either way. ``feed`` does the same but returns once the input is posted, judging
    earlier inputs only when more than ``PIPELINE_DEPTH`` are in flight, so this process works on the next
    inputs while the child runs this one (a finding then carries the bytes of the input it belongs to in
    ``data``); ``settle`` judges what is still in flight. ``persistent=False`` runs every input alone.
    ``in_process=True`` runs the scenario in this very process (for native
    coverage or a debugger): a plugin crash then kills the fuzzer, which
    libFuzzer records as a crash artifact. There too the plugin stays loaded
    from one input to the next (unless ``persistent=False``), and an input that
    fails is judged again with the plugin loaded afresh, as in the child.
    """

    def __init__(
        self,
        plugin: str | Path,
        *,
        in_process: bool = False,
        persistent: bool = True,
        inputs_per_child: int = INPUTS_PER_CHILD,
        budget_scale: float = 1.0,
    ) -> None:
        self.plugin_path = resolve_plugin(str(plugin))
        self.in_process = in_process
        self.persistent = persistent and not in_process
        self.kept_in_process = persistent and in_process
        self.inputs_per_child = inputs_per_child
        self.budget_scale = budget_scale
        self._client: SandboxClient | None = None
        self._pool: PersistentIntake | None = None
        self._kept: IntakeInChild | None = None
        self._outcomes: deque[IntakeOutcome] = deque()  # taken from the pool, not judged yet (after a finding)
        self.profile = self._read_profile()

    @property
    def name(self) -> str:
        return self.profile.name

    def _run(self, scenario: str, options: dict[str, Any]) -> SandboxResult:
        request = ScenarioRequest(
            scenario, str(self.plugin_path), budget_scale=self.budget_scale, options=options, capture_stacks=False
        )
        if self.in_process:
            fresh_host_objects()  # callbacks built for an earlier run would report to its events
            return run_in_process(request)
        if self._client is None:
            self._client = SandboxClient()
        return self._client.run(request)

    def _read_profile(self) -> PluginProfile:
        result = self._run(PROFILE_SCENARIO, {})
        for event in result.events:
            if isinstance(event, Observed) and event.key == "profile":
                value = dict(event.value)
                value["inputs"] = tuple((name, tuple(kinds)) for name, kinds in value["inputs"])
                value["outputs"] = tuple((name, produces) for name, produces in value["outputs"])
                return PluginProfile(**value)
        reasons = [
            getattr(event, "reason", "") or getattr(event, "message", "")
            for event in result.events
            if isinstance(event, (Skipped, LoadFailed, HarnessError))
        ]
        raise RuntimeError(
            f"cannot fuzz {self.plugin_path}: {result.outcome.value} {result.detail} {'; '.join(reasons)}".strip()
        )

    def plan(self, data: bytes) -> IntakePlan:
        return plan_intake(data, self.profile)

    def run(self, data: bytes) -> SandboxResult:
        """One intake of ``data``; the plan is made here and travels with the bytes (the child need not
        import Hypothesis), and the child would make the same plan from ``input`` alone."""
        return self._run(
            INTAKE_SCENARIO, {"input": bytes(data), "plan": self.plan(data), "node_kind": self.profile.node_kind}
        )

    def check(self, data: bytes) -> None:
        """Run one intake and raise ``FuzzFinding`` when an oracle fails or the plugin crashed or hung."""
        if self.persistent:
            self.pool.post(data, self.plan(data))
            self._judge_outcomes(self.pool.outcomes(), data)
            return
        finding = self._check_kept(data) if self.kept_in_process else self.judge_alone(data)
        if finding is not None:
            raise finding

    def feed(self, data: bytes) -> None:
        """``check`` without waiting for ``data``'s own verdict in the persistent child: post it, and past
        ``PIPELINE_DEPTH`` inputs in flight judge all but the newest. A finding raised here may belong to an
        earlier input: its ``data`` says which."""
        if not self.persistent:
            self.check(data)
            return
        pool = self.pool
        pool.post(data, self.plan(data))
        in_flight = len(pool.in_flight)
        self._judge_outcomes(pool.outcomes(keep=1 if in_flight > PIPELINE_DEPTH else in_flight), data)

    def settle(self) -> None:
        """Judge every input ``feed`` left in flight (raises the first finding, as ``feed`` does)."""
        if self.persistent:
            self._judge_outcomes(self.pool.outcomes(), None)

    def _judge_outcomes(self, outcomes: list[IntakeOutcome], current: bytes | None) -> None:
        self._outcomes.extend(outcomes)
        while self._outcomes:
            outcome = self._outcomes.popleft()
            finding = self._persistent_outcome(outcome)
            if finding is not None:
                if finding.data is None and outcome.data != current:
                    finding.data = outcome.data
                raise finding

    def judge_alone(self, data: bytes) -> FuzzFinding | None:
        """The finding of ``data`` run in a child of its own (None when it passes)."""
        return self.judge(self.run(data), data)

    @property
    def pool(self) -> PersistentIntake:
        """The persistent child's keeper, made on first use (a fork of this process)."""
        if self._pool is None:
            request = ScenarioRequest(
                INTAKE_SCENARIO, str(self.plugin_path), budget_scale=self.budget_scale, capture_stacks=False
            )
            self._pool = PersistentIntake(
                request, inputs_per_child=self.inputs_per_child, budget_scale=self.budget_scale
            )
        return self._pool

    def _check_kept(self, data: bytes) -> FuzzFinding | None:
        """The persistent child's filter without the child: the plugin kept loaded in this process."""
        if self._kept is None:
            request = ScenarioRequest(
                INTAKE_SCENARIO, str(self.plugin_path), budget_scale=self.budget_scale, capture_stacks=False
            )
            self._kept = IntakeInChild(request)
            self._kept.warm()
        failures = self._kept.run_plan(self.plan(data))
        if not failures:
            return None
        try:
            return self.judge_alone(data) or self._state_finding(data, failures[0])
        finally:
            self._kept.warm()  # the judge's run built host objects and a region sink for its own events

    def _persistent_outcome(self, outcome: IntakeOutcome) -> FuzzFinding | None:
        """The finding of one input the persistent child ran (judged alone when the child saw anything)."""
        data, exchange = outcome.data, outcome.exchange
        if exchange.reply is Reply.RESULT:
            try:
                failures = parse_failures(exchange.value)
            except ValueError as error:
                self.pool.restart()  # whatever the plugin wrote, the channel is out of step now
                return self._channel_finding(data, str(error), exchange)
            if not failures:
                return None
            return self.judge_alone(data) or self._state_finding(data, failures[0])
        if exchange.reply is Reply.MALFORMED:
            return self._channel_finding(data, exchange.detail, exchange)
        return attribute(exchange, data, outcome.history, self.judge_alone, self._persistent_finding)

    def _persistent_evidence(self, data: bytes, extra: str, output: str = "") -> str:
        parts = [extra, f"plan:\n{self.plan(data).describe()}"]
        if output:
            parts.append(f"plugin output (tail):\n{output[-1500:]}")
        return "\n".join(part for part in parts if part)

    def _channel_finding(self, data: bytes, detail: str, exchange: Exchange) -> FuzzFinding:
        """Junk where the child's reply should be: the plugin wrote to a descriptor it inherited."""
        return FuzzFinding(
            f"{self.name}: the plugin wrote to the host's event channel",
            self._persistent_evidence(data, f"corrupt reply from the persistent child: {detail}", exchange.output),
        )

    def _state_finding(self, data: bytes, failure: Failure) -> FuzzFinding:
        """A failure the persistent child saw that the input alone does not reproduce: named as judge would,
        with the note that it needed the earlier inputs of the child."""
        kind, what, detail = failure
        note = "seen only after earlier inputs in the same persistent child (the input alone passes)"
        if kind == "harness":
            return FuzzFinding(f"harness error: {what.splitlines()[0][:120]}", self._persistent_evidence(data, note))
        return FuzzFinding(f"{self.name}: {what}", self._persistent_evidence(data, f"{detail}\n{note}"))

    def _persistent_finding(self, data: bytes, how: str, detail: str) -> FuzzFinding:
        """A death or hang no input reproduces alone (it needed the state earlier inputs left)."""
        return FuzzFinding(f"{self.name}: {how}", self._persistent_evidence(data, detail))

    def judge(self, result: SandboxResult, data: bytes) -> FuzzFinding | None:
        name = self.name
        where = result.in_flight.entry if result.in_flight is not None else "no call"
        call = result.in_flight.detail if result.in_flight is not None else ""

        def evidence(extra: str = "") -> str:
            parts = [extra, f"call in flight: {where} {call}".rstrip(), f"plan:\n{self.plan(data).describe()}"]
            if result.panic_message:
                parts.append(f"panic: {result.panic_message}")
            if result.stderr_tail:
                parts.append(f"plugin output (tail):\n{result.stderr_tail[-1500:]}")
            return "\n".join(part for part in parts if part)

        if result.outcome is Outcome.CRASHED:
            return FuzzFinding(f"{name}: crashed with {result.signal_name} in {where}", evidence(result.detail))
        if result.outcome is Outcome.TIMED_OUT:
            return FuzzFinding(f"{name}: {where} did not return (hang)", evidence(result.detail))
        if result.outcome is Outcome.EXITED:
            return FuzzFinding(f"{name}: the process exited ({result.exit_code}) in {where}", evidence(result.detail))
        if result.outcome is Outcome.RESOURCE_LIMIT:
            return FuzzFinding(f"{name}: resource limit ({result.resource}) in {where}", evidence(result.detail))
        if result.outcome is Outcome.HARNESS_ERROR:
            return FuzzFinding(
                f"harness error: {result.detail.splitlines()[0] if result.detail else 'unknown'}", evidence()
            )
        for event in result.events:
            if isinstance(event, HarnessError):
                return FuzzFinding(f"harness error: {event.message.splitlines()[0][:120]}", evidence(event.traceback))
            if isinstance(event, Expect) and not event.ok:
                return FuzzFinding(f"{name}: {event.what}", evidence(event.detail))
            if isinstance(event, Violation):
                return FuzzFinding(f"{name}: {event.rule}", evidence(f"{event.detail} (during {event.during})"))
        return None

    def close(self) -> None:
        self._outcomes.clear()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
