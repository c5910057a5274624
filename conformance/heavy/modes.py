"""The heavy modes: --race (helgrind/DRD over the threading scenario) and --memcheck.

They add a valgrind run to selected checks and fold its findings into the
check's result: a data race with a frame inside the plugin fails
``threading.parallel-instances``; memcheck's plugin frames are attached to a
failing leak or memory check as evidence. Both say which tool ran and how
long it took.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conformance.battery.runner import BatteryItem, request_for
from conformance.checks.model import PluginFacts, Status
from conformance.checks.result import CheckResult
from conformance.checks.threading_checks import RACE_SCENARIO
from conformance.checks.verdict import failure_status
from conformance.heavy.valgrind import run_under
from conformance.settings import RunSettings

RACE_CHECK = "threading.parallel-instances"
MEMCHECK_CATEGORIES = ("leaks", "callbacks", "wire-in", "wire-out")
#: Results memcheck is run for: its plugin frames explain a failure or a crash, and only those.
MEMCHECKED = frozenset({Status.FAIL, Status.CRASH})


def apply_heavy_modes(
    path: Path, item: BatteryItem, facts: PluginFacts, result: CheckResult, settings: RunSettings
) -> CheckResult:
    if settings.race and item.check.id == RACE_CHECK and result.status is not Status.SKIP:
        result = _race(path, item, facts, result, settings)
    if settings.memcheck and item.check.category in MEMCHECK_CATEGORIES and result.status in MEMCHECKED:
        result = _memcheck(path, item, facts, result, settings)
    return result


def _race(path: Path, item: BatteryItem, facts: PluginFacts, result: CheckResult, settings: RunSettings) -> CheckResult:
    assert settings.race is not None
    request = replace(
        request_for(path, item, settings.budget_scale * 20, facts), scenario=RACE_SCENARIO, overall_budget_s=600.0
    )
    run = run_under(settings.race, request)
    evidence = {**result.evidence, "race": run.as_evidence(str(path))}
    if not run.findings:
        return replace(result, evidence=evidence)
    first = run.findings[0]
    frames = ", ".join(f.function for f in first.plugin_frames(str(path))[:3])
    message = (
        f"{settings.race} found {len(run.findings)} data race(s) inside the plugin "
        f"({run.duration_s:.0f} s): {first.what} in {frames}"
    )
    return replace(result, status=failure_status(item.check.severity), message=message, evidence=evidence)


def _memcheck(
    path: Path, item: BatteryItem, facts: PluginFacts, result: CheckResult, settings: RunSettings
) -> CheckResult:
    request = replace(request_for(path, item, settings.budget_scale * 20, facts), overall_budget_s=600.0)
    run = run_under("memcheck", request)
    evidence = {**result.evidence, "memcheck": run.as_evidence(str(path))}
    if run.findings:
        first = run.findings[0]
        frames = ", ".join(f.function for f in first.plugin_frames(str(path))[:3])
        message = f"{result.message}; memcheck ({run.duration_s:.0f} s): {first.what} in {frames}"
    else:
        message = f"{result.message}; memcheck ({run.duration_s:.0f} s) found nothing inside the plugin"
    return replace(result, message=message, evidence=evidence)
