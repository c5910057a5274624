"""Running the battery on one plugin: probe, expand, run each check in the sandbox, judge.

Shared by the pytest plugin and the command line so both give identical results.
"""

from __future__ import annotations

import queue
import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from conformance.abi.constants import CURRENT_API_VERSION, MIN_SUPPORTED_API_VERSION
from conformance.battery.server_losses import SERVER_LOSSES, describe, severity_of
from conformance.checks.applicability import not_applicable
from conformance.checks.joint import joint_name, split_joint
from conformance.checks.judge import judge
from conformance.checks.minimise import find_difference
from conformance.checks.model import Check, Judgement, PluginFacts, Severity, Status
from conformance.checks.probe import PROBE, confirm_triage, facts_from_result, needs_confirmation
from conformance.checks.registry import catalogue
from conformance.checks.result import CheckResult
from conformance.checks.verdict import settle_reruns, with_shared_child_death, with_triage_crash, worth_rerunning
from conformance.host.elfcheck import elf_facts
from conformance.sandbox.client import SandboxClient, ServerLost, shared_client
from conformance.scenario.events import Skipped
from conformance.scenario.protocol import GroupRequest, Outcome, SandboxResult, ScenarioRequest

PROBE_BUDGET_S = 15.0


@dataclass(frozen=True)
class BatteryItem:
    """One check at one host version: the unit pytest runs and the report lists."""

    check: Check
    host_version: int
    host_sensitive: bool

    @property
    def name(self) -> str:
        return f"{self.check.id}[v{self.host_version}]" if self.host_sensitive else self.check.id


def host_versions_for(facts: PluginFacts) -> list[int]:
    """Hosts that load this plugin: from its own version (at least 6) up to 9."""
    if facts.version is None or not MIN_SUPPORTED_API_VERSION <= facts.version <= CURRENT_API_VERSION:
        return [CURRENT_API_VERSION]
    return list(range(max(MIN_SUPPORTED_API_VERSION, facts.version), CURRENT_API_VERSION + 1))


def battery_for(facts: PluginFacts) -> list[BatteryItem]:
    items: list[BatteryItem] = []
    hosts = host_versions_for(facts)
    for check in catalogue():
        if check.applies.host_sensitive:
            items.extend(BatteryItem(check, host, True) for host in hosts)
        else:
            items.append(BatteryItem(check, CURRENT_API_VERSION, False))
    return items


_facts_cache: dict[tuple[str, float], PluginFacts] = {}


def _facts_key(path: Path, budget_scale: float) -> tuple[str, float]:
    return (_resolved(path), budget_scale)


@cache
def _resolved(path: Path) -> str:
    """Resolving walks every path component; items ask for their plugin's facts thousands of times."""
    return str(path.resolve())


def probe(path: Path, budget_scale: float = 1.0, client: SandboxClient | None = None) -> PluginFacts:
    """The plugin's facts, probed once per process in the sandbox."""
    key = _facts_key(path, budget_scale)
    if key not in _facts_cache:
        elf = elf_facts(path)
        if not elf.loadable:
            _facts_cache[key] = PluginFacts(False, elf.problem or "", language=elf.language)
        else:
            request = ScenarioRequest(
                PROBE,
                str(path.resolve()),
                budget_scale=budget_scale,
                overall_budget_s=PROBE_BUDGET_S,
                capture_stacks=False,
            )
            sandbox = client or shared_client()
            result = sandbox.run(request)
            if isinstance(result, ServerLost):
                _facts_cache[key] = _server_lost_in_probe(path, result, elf.language)
                return _facts_cache[key]
            facts = facts_from_result(result, elf.language)
            if needs_confirmation(facts):
                again = sandbox.run(request)
                if isinstance(again, ServerLost):
                    _facts_cache[key] = _server_lost_in_probe(path, again, elf.language)
                    return _facts_cache[key]
                facts = confirm_triage(facts, facts_from_result(again, elf.language))
            _facts_cache[key] = _with_crash_difference(path, facts, budget_scale, sandbox)
    return _facts_cache[key]


#: ``PluginFacts.failed_entry`` of a plugin that lost the probe its server: no entry point is known to have failed.
SERVER_LOST_IN_PROBE = "probe"


def _server_lost_in_probe(path: Path, result: ServerLost, language: str) -> PluginFacts:
    """Facts of a plugin that killed or froze the server during the probe: nothing is known of it but that.

    Not loadable, so the report fails whatever checks are selected; the checks that would run anyway
    (``load``'s) are skipped with the finding (``SERVER_LOSSES``), since each would do it again.
    """
    SERVER_LOSSES.record(_resolved(path), result)
    return PluginFacts(False, describe(result), language=language, failed_entry=SERVER_LOST_IN_PROBE)


def _with_crash_difference(path: Path, facts: PluginFacts, budget_scale: float, client: SandboxClient) -> PluginFacts:
    """When triage crashed in process_packet, learn which field of that packet made the difference."""
    detail = dict(facts.crashed).get("process_packet")
    if detail is None or ", " not in detail:
        return facts
    packet = detail.split(", ", 1)[1]  # "SIGSEGV, BinaryPacket on pin 'in'" (see probe.facts_from_result)
    difference = find_difference(_resolved(path), packet, budget_scale, client.run)
    return replace(facts, crash_difference=difference) if difference else facts


def probe_many(
    paths: list[Path],
    budget_scale: float,
    clients: list[SandboxClient],
    parallelism: int = 0,
    on_probed: Callable[[Path], None] | None = None,
) -> None:
    """Probe several plugins at once: on ``clients``, plus temporary ones up to ``parallelism``.

    A probe mostly waits (a triaged entry point that wedges holds it for a
    whole budget), so probing a corpus one plugin after another left the cores
    idle for seconds before the first check could start. ``on_probed`` is
    called with each plugin's path as soon as its facts are known (on a probe
    thread), so its checks can start while other plugins are still probed.
    """
    unique = list(dict.fromkeys(paths))
    pending = [path for path in unique if _facts_key(path, budget_scale) not in _facts_cache]
    if on_probed is not None:
        for path in unique:
            if path not in pending:
                on_probed(path)
    width = min(len(pending), max(parallelism, len(clients)))
    if width < 2:
        for path in pending:
            probe(path, budget_scale, clients[0] if clients else None)
            if on_probed is not None:
                on_probed(path)
        return
    temporary = [SandboxClient() for _ in range(width - len(clients))]
    idle: queue.SimpleQueue[SandboxClient] = queue.SimpleQueue()
    for client in [*clients, *temporary][:width]:
        idle.put(client)

    def probe_one(path: Path) -> None:
        client = idle.get()
        try:
            probe(path, budget_scale, client)
        finally:
            idle.put(client)
        if on_probed is not None:
            on_probed(path)

    try:
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="conformance-probe") as pool:
            for future in [pool.submit(probe_one, path) for path in pending]:
                future.result()
    finally:
        for client in temporary:
            client.close()


def export_facts(paths: list[Path], budget_scale: float) -> dict[str, dict[str, Any]]:
    """Probed facts as plain data keyed by resolved path (for xdist workers)."""
    exported = {}
    for path in paths:
        key = _facts_key(path, budget_scale)
        if key in _facts_cache:
            exported[key[0]] = _facts_cache[key].to_json()
    return exported


def import_facts(data: dict[str, dict[str, Any]], budget_scale: float) -> None:
    """Adopt facts the xdist controller probed, so every worker judges against the same facts."""
    for resolved, values in data.items():
        _facts_cache[(resolved, budget_scale)] = PluginFacts.from_json(values)


def repro_command(path: Path, item: BatteryItem) -> str:
    return f"conformance repro {shlex.quote(str(path))} {shlex.quote(item.name)}"


def run_item(
    path: Path,
    item: BatteryItem,
    facts: PluginFacts,
    budget_scale: float = 1.0,
    reruns: int = 1,
    client: SandboxClient | None = None,
) -> CheckResult:
    """Run one battery item (re-running a failure ``reruns`` times to tell flaky from failing)."""
    reason = _server_lost(path, facts) or not_applicable(item.check, facts)
    if reason is not None:
        return result_of(path, item, Judgement(Status.SKIP, reason), 0.0)
    client = client or shared_client()
    judgement, duration = _run_once(path, item, budget_scale, facts, client)
    return _settled(path, item, facts, judgement, duration, budget_scale, reruns, client)


def _settled(
    path: Path,
    item: BatteryItem,
    facts: PluginFacts,
    judgement: Judgement,
    duration: float,
    budget_scale: float,
    reruns: int,
    client: SandboxClient,
) -> CheckResult:
    """The result of an item from its first run in a child of its own (or as a child's first scenario):
    a failure is run again ``reruns`` times to tell flaky from failing."""
    severity = severity_of(judgement, item.check.severity)
    if severity is not None:  # the plugin killed or froze the server: never re-run
        return result_of(path, item, judgement, duration, severity=severity)
    judgement = with_triage_crash(item.check, with_crash_difference(judgement, facts), facts)
    if not worth_rerunning(judgement):
        return result_of(path, item, judgement, duration)
    again: list[Status] = []
    for _ in range(reruns):
        rerun, extra = _run_once(path, item, budget_scale, facts, client)
        duration += extra
        severity = severity_of(rerun, item.check.severity)
        if severity is not None:
            return result_of(path, item, rerun, duration, severity=severity)
        again.append(rerun.status)
    attempts = [status.value for status in (judgement.status, *again)]
    return result_of(path, item, settle_reruns(judgement, again), duration, attempts)


def run_shared(
    path: Path,
    items: list[BatteryItem],
    facts: PluginFacts,
    budget_scale: float = 1.0,
    reruns: int = 1,
    client: SandboxClient | None = None,
) -> list[CheckResult]:
    """Run applicable items that may share a child (see ``checks.isolation``) in as few children as it takes.

    The child's first scenario ran as in a child of its own, and the server made its result as a lone
    child's (``sandbox.server._GroupFollower``): it is taken as that item's run, whatever it says, a death
    included. For the later ones, a pass stands, and so does a skip that no earlier scenario could have
    caused (``ScenarioSkip.static``: an entry point triage saw wedge, a NULL required entry); every other
    outcome is run again alone through ``run_item`` and that run is the result. When the shared child
    stops short in a later scenario, that one runs alone; the rest go on in a new shared child, where the
    first is again a run of its own (or alone, when plugin threads outlived a scenario: they would do so
    again).
    """
    client = client or shared_client()
    results: dict[int, CheckResult] = {}
    pending = list(range(len(items)))
    while pending:
        if _server_lost(path, facts) is not None:
            for index in pending:
                results[index] = run_item(path, items[index], facts, budget_scale, reruns, client)
            break
        if len(pending) == 1:
            index = pending.pop()
            results[index] = run_item(path, items[index], facts, budget_scale, reruns, client)
            break
        group = GroupRequest(tuple(request_for(path, items[i], budget_scale, facts) for i in pending))
        reply = client.run_group(group)
        for position, (index, result) in enumerate(zip(pending, reply.results, strict=False)):
            if position == 0 and not result.shared_child:  # the child's first: a run of its own
                judgement = judge(items[index].check, result)
                results[index] = _settled(
                    path, items[index], facts, judgement, result.duration_s, budget_scale, reruns, client
                )
            else:
                results[index] = _kept_or_alone(path, items[index], result, facts, budget_scale, reruns, client)
        pending = pending[len(reply.results) :]
        if reply.threads_outlived:
            for index in pending:
                results[index] = run_item(path, items[index], facts, budget_scale, reruns, client)
            break
        if pending and not reply.first_ended_child:
            index = pending.pop(0)
            alone = run_item(path, items[index], facts, budget_scale, reruns, client)
            results[index] = _kept_death(alone, reply.died, len(reply.results)) if reply.died else alone
    return [results[index] for index in range(len(items))]


def run_joint(
    path: Path,
    items: list[BatteryItem],
    facts: PluginFacts,
    budget_scale: float = 1.0,
    reruns: int = 1,
    client: SandboxClient | None = None,
) -> list[CheckResult]:
    """Run the items of one joint family (``checks.joint``) in one child, each judged on its part.

    A pass stands, and so does a skip decided before any plugin code ran; any other result, and a
    member the child did not reach, is run again alone through ``run_item``, and that run is the result.
    """
    client = client or shared_client()
    parts: list[SandboxResult | None] = [None] * len(items)
    if _server_lost(path, facts) is None:
        result = client.run(joint_request(path, items, budget_scale, facts))
        if not isinstance(result, ServerLost):  # run alone, the member that does it again is the one named
            parts = split_joint(result, len(items))
    return [
        run_item(path, item, facts, budget_scale, reruns, client)
        if part is None
        else _kept_or_alone(path, item, part, facts, budget_scale, reruns, client)
        for item, part in zip(items, parts, strict=True)
    ]


def _kept_or_alone(
    path: Path,
    item: BatteryItem,
    result: SandboxResult,
    facts: PluginFacts,
    budget_scale: float,
    reruns: int,
    client: SandboxClient,
) -> CheckResult:
    """The item's result from a child that ran other scenarios too, where that result is one a child of its own
    gives: a pass, or a skip nothing run before could cause (``ScenarioSkip.static``); else a run of its own."""
    judgement = with_triage_crash(item.check, judge(item.check, result), facts)
    if judgement.status is Status.PASS or (judgement.status is Status.SKIP and _static_skip(result)):
        return result_of(path, item, judgement, result.duration_s)
    return run_item(path, item, facts, budget_scale, reruns, client)


def joint_request(path: Path, items: list[BatteryItem], budget_scale: float, facts: PluginFacts) -> ScenarioRequest:
    """One request for a joint run: the members' options (which agree where they overlap, ``joint_chunks``)
    and the longest of their budgets."""
    requests = [request_for(path, item, budget_scale, facts) for item in items]
    options: dict[str, Any] = {}
    for request in requests:
        options.update(request.options)
    return replace(
        requests[0],
        scenario=joint_name([item.check.id for item in items]),
        overall_budget_s=max(request.overall_budget_s for request in requests),
        options=options,
    )


def _static_skip(result: SandboxResult) -> bool:
    """A skip decided by what no earlier scenario can change (``ScenarioSkip.static``), in a completed run."""
    skipped = result.events_of(Skipped)
    return result.outcome is Outcome.COMPLETED and bool(skipped) and all(event.static for event in skipped)


def _kept_death(result: CheckResult, died: str, before: int) -> CheckResult:
    """The solo result of a check whose scenario killed a shared child: a pass there does not erase the death."""
    judgement = with_shared_child_death(Judgement(result.status, result.message, result.evidence), died, before)
    if judgement.status is result.status:
        return result
    return replace(result, status=judgement.status, message=judgement.message, evidence=judgement.evidence)


def request_for(path: Path, item: BatteryItem, budget_scale: float, facts: PluginFacts) -> ScenarioRequest:
    return ScenarioRequest(
        item.check.id,
        _resolved(path),
        host_version=item.host_version,
        budget_scale=budget_scale,
        overall_budget_s=item.check.budget_s,
        options={
            "node_kind": facts.node_kind,
            "language": facts.language,
            "wedged": dict(facts.wedged),
            **item.check.option_dict(),
        },
    )


def _server_lost(path: Path, facts: PluginFacts) -> str | None:
    """Why the plugin's checks are not run: it cost the run a fork server (here, or in the controller's probe)."""
    if not facts.loadable and facts.failed_entry == SERVER_LOST_IN_PROBE:
        return f"not run: {facts.load_problem}; every check would do it again"
    return SERVER_LOSSES.skip_reason(_resolved(path))


def with_crash_difference(judgement: Judgement, facts: PluginFacts) -> Judgement:
    """A crash on the very ordinary packet triage minimised carries the sentence that names the field."""
    difference = facts.crash_difference
    in_flight = judgement.evidence.get("in_flight") or {}
    if (
        judgement.status is not Status.CRASH
        or not difference
        or in_flight.get("entry") != "process_packet"
        or in_flight.get("detail") != difference.get("packet")
    ):
        return judgement
    evidence = {**judgement.evidence, "crash_difference": difference}
    return Judgement(judgement.status, f"{judgement.message}; {difference['sentence']}", evidence)


def _run_once(
    path: Path, item: BatteryItem, budget_scale: float, facts: PluginFacts, client: SandboxClient
) -> tuple[Judgement, float]:
    request = request_for(path, item, budget_scale, facts)
    result = client.run(request)
    if isinstance(result, ServerLost):
        return SERVER_LOSSES.record(_resolved(path), result), result.duration_s
    return judge(item.check, result), result.duration_s


def result_of(
    path: Path,
    item: BatteryItem,
    judgement: Judgement,
    duration: float,
    attempts: list[str] | None = None,
    severity: Severity | None = None,
) -> CheckResult:
    """The judgement of ``item`` as the reports keep it, with the command that reproduces it.

    ``severity`` overrides the check's own (a plugin that kills the harness fails whatever the check).
    """
    check = item.check
    return CheckResult(
        id=item.name,
        check_id=check.id,
        host_version=item.host_version if item.host_sensitive else None,
        category=check.category,
        severity=severity or check.severity,
        status=judgement.status,
        message=judgement.message,
        evidence=judgement.evidence,
        duration_s=round(duration, 4),
        repro="" if judgement.status is Status.PASS else repro_command(path, item),
        abi_ref=check.abi_ref,
        attempts=attempts or [],
    )
