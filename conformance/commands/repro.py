"""``conformance repro``: re-run one check on one plugin and print its result (or its memcheck findings)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from conformance.battery.runner import BatteryItem, battery_for, probe, request_for, result_of
from conformance.battery.server_losses import finding_judgement
from conformance.checks.judge import judge
from conformance.checks.model import PluginFacts, Severity, Status
from conformance.checks.monitors import EVIDENCE_KEY, owns
from conformance.checks.registry import catalogue
from conformance.commands.console import EXIT_CHECK_FAILED, EXIT_OK, UsageProblem, say
from conformance.heavy.valgrind import ValgrindMissing, run_under
from conformance.host.elfcheck import elf_facts
from conformance.report.text import failure_text
from conformance.sandbox.client import ServerLost, run_in_process, shared_client
from conformance.scenario.protocol import ScenarioRequest


def run(args: argparse.Namespace) -> int:
    elf = elf_facts(args.plugin)
    if not elf.loadable:
        raise UsageProblem(f"{args.plugin}: not loadable: {elf.problem}")
    items, facts = _find_items(args.plugin, args.check_id, args.budget_scale)
    if len(items) > 1:
        say(f"{args.check_id}: runs at host versions {', '.join(f'v{item.host_version}' for item in items)}")
    if args.memcheck and len(items) > 1:
        raise UsageProblem(f"--memcheck runs one item: pick one of {', '.join(item.name for item in items)}")
    status = EXIT_OK
    for item in items:
        request = replace(request_for(args.plugin, item, args.budget_scale, facts), trace=args.trace)
        if args.memcheck:
            return _repro_memcheck(args, request)
        result = run_in_process(request) if args.in_process else shared_client().run(request)
        if args.trace:
            for event in result.events:
                say(f"  {type(event).__name__}: {event}")
        if isinstance(result, ServerLost):  # the plugin killed or froze the server: failed whatever the check
            judgement, severity = finding_judgement(result), Severity.REQUIRED
        else:
            judgement, severity = judge(item.check, result), None
        outcome = result_of(args.plugin, item, judgement, result.duration_s, severity=severity)
        say(failure_text(outcome) if outcome.status is not Status.PASS else f"{outcome.id}: PASS")
        credited = _credited_elsewhere(outcome.evidence)
        if outcome.blocking or credited:
            status = EXIT_CHECK_FAILED
    return status


def _find_items(plugin: Path, name: str, budget_scale: float) -> tuple[list[BatteryItem], PluginFacts]:
    """The battery items ``name`` denotes: an item id, or a check id (every host version it runs at)."""
    facts = probe(plugin, budget_scale)
    battery = battery_for(facts)
    exact = [item for item in battery if item.name == name]
    items = exact or [item for item in battery if item.check.id == name]
    if items:
        return items, facts
    raise UsageProblem(f"no check {name!r} for this plugin (see `conformance list-checks`)")


def _credited_elsewhere(evidence: dict[str, Any]) -> bool:
    """Print the violations this scenario saw of rules other checks own (the monitors credit them there,
    so a `seen during` failure reproduces here); True when one of them fails a required check."""
    blocking = False
    for violation in evidence.get(EVIDENCE_KEY) or []:
        owners = [check for check in catalogue() if owns(check, violation["rule"])]
        if not owners:
            continue
        blocking = blocking or any(check.severity is Severity.REQUIRED for check in owners)
        during = f" (during {violation['during']})" if violation.get("during") else ""
        names = ", ".join(check.id for check in owners)
        say(f"  seen here, fails {names}: {violation['detail']}{during}")
    return blocking


def _repro_memcheck(args: argparse.Namespace, request: ScenarioRequest) -> int:
    """The same scenario in a process of its own under memcheck; prints the findings with plugin frames."""
    try:
        memcheck = run_under(
            "memcheck", replace(request, budget_scale=request.budget_scale * 20, overall_budget_s=600.0)
        )
    except ValgrindMissing as error:
        raise UsageProblem(str(error)) from None
    outcome = memcheck.result.outcome.value if memcheck.result is not None else "unknown"
    say(
        f"{args.check_id}: memcheck ran for {memcheck.duration_s:.1f} s; scenario {outcome}; "
        f"{len(memcheck.findings)} finding(s) inside the plugin"
    )
    for finding in memcheck.findings:
        frames = " <- ".join(frame.function for frame in finding.plugin_frames(request.plugin_path)[:4])
        say(f"  {finding.kind}: {finding.what}\n    at {frames}")
    if memcheck.error:
        say(f"  note: {memcheck.error}")
    return EXIT_CHECK_FAILED if memcheck.findings else EXIT_OK
