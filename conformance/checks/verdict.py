"""The rules that turn a judgement into a final status, shared by every layer that has a word on one.

The judge decides what a scenario run means; these decide everything after
it, here so that no caller compares status strings or re-derives fail-or-warn
from a severity: the status of a broken rule (the judge, the heavy modes and
the monitors), which judgements are run again and what differing runs mean,
and where a result stands against a team's baseline.
"""

from __future__ import annotations

from typing import Literal

from conformance.checks.model import Check, Judgement, PluginFacts, Severity, Status

#: Option of the check that replays triage's ordinary session (``panics.first-process-crash``).
REPLAYS_TRIAGE = "replays_triage"


def failure_status(severity: Severity) -> Status:
    """A broken rule fails a required check; a recommended or informational one only warns."""
    return Status.FAIL if severity is Severity.REQUIRED else Status.WARN


def worth_rerunning(judgement: Judgement) -> bool:
    """Only failed expectations are run again to tell flaky from failing: a crash or a timeout is a hard
    outcome, and re-running one costs a crash (a forced Rust backtrace) or a whole budget again."""
    return judgement.status is Status.FAIL


def settle_reruns(first: Judgement, again: list[Status]) -> Judgement:
    """The judgement of a check run once more per ``again`` status: ``first`` if every run agreed, else flaky."""
    statuses = [first.status, *again]
    if len(set(statuses)) == 1:
        return first
    return Judgement(
        Status.FLAKY,
        f"flaky: outcomes differ between runs ({', '.join(status.value for status in statuses)}); "
        f"first: {first.message}",
        {**first.evidence, "flaky": True},
    )


def with_triage_crash(check: Check, judgement: Judgement, facts: PluginFacts) -> Judgement:
    """A crash triage saw never vanishes: replayed without crashing, it is an intermittent crash (flaky).

    Triage is the first process that drives the plugin; a crash there that later runs do not repeat is
    the deterministic face of a crash that strikes first (or at random). Every other check may pass; the
    one that replays triage's session carries it, with what triage saw.
    """
    if not facts.crashed or not check.option_dict().get(REPLAYS_TRIAGE):
        return judgement
    entry, detail = facts.crashed[0]
    evidence = {**judgement.evidence, "triage_crash": {"entry": entry, "detail": detail}}
    if judgement.status is not Status.PASS:
        return Judgement(judgement.status, judgement.message, evidence)
    return Judgement(
        Status.FLAKY,
        f"crashed in the plugin's first process (triage: {detail} in {entry}) but not when the same session "
        "ran again: an intermittent crash, which a host meets as a crash",
        {**evidence, "flaky": True},
    )


def with_shared_child_death(judgement: Judgement, died: str, before: int) -> Judgement:
    """A check whose scenario ended a shared child and then passed alone is intermittent, never a pass.

    The shared child ran ``before`` other scenarios of the plugin first; what it did then is what a host
    does too (calls, instances, traffic in one process), so the death is the plugin's, and the solo pass
    shows only that it does not strike every time.
    """
    if judgement.status is not Status.PASS:
        return judgement
    return Judgement(
        Status.FLAKY,
        f"the process died ({died}) during this check in a process that had run {before} other check(s) "
        "of the plugin, but the check passed when run again alone: an intermittent crash, which a host "
        "meets as a crash",
        {**judgement.evidence, "flaky": True, "shared_child_death": {"died": died, "checks_before": before}},
    )


Classification = Literal["known", "new", "improved"]


def baseline_class(status: Status, severity: Severity, *, listed: bool, accepted: bool) -> Classification | None:
    """Where a result stands against a baseline (see ``conformance.report.baseline``).

    ``listed``: some entry names the item, expired or not; ``accepted``: an
    unexpired one does. A pass that is listed has improved; any other result
    that ran and is accepted is known; a required failure (not a warning)
    that is not accepted is new; everything else needs no word.
    """
    if status is Status.PASS:
        return "improved" if listed else None
    if status is Status.SKIP:
        return None
    if accepted:
        return "known"
    if severity is Severity.REQUIRED and status is not Status.WARN:
        return "new"
    return None
