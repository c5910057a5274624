"""The judgement layer on its own: sandbox results in, statuses out, no sandbox and no plugin.

``judge`` (what a run means), ``checks.verdict`` (fail or warn, reruns,
baselines) and ``checks.applicability`` (not applicable) decide every status
a report shows; these tests pin each rule with hand-made results.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from conformance.abi.constants import PacketType
from conformance.checks.applicability import not_applicable
from conformance.checks.judge import explain_fault, judge
from conformance.checks.model import Applicability, Check, Judgement, Needs, PluginFacts, Severity, Status
from conformance.checks.monitors import EVIDENCE_KEY
from conformance.checks.registry import catalogue
from conformance.checks.result import CheckResult
from conformance.checks.verdict import baseline_class, failure_status, settle_reruns, worth_rerunning
from conformance.scenario.events import (
    CallFinished,
    CallStarted,
    Event,
    Expect,
    GuardRegion,
    HarnessError,
    LoadFailed,
    Observed,
    Skipped,
    StreamCorrupted,
    Violation,
)
from conformance.scenario.protocol import Outcome, SandboxResult


def _check(severity: Severity = Severity.REQUIRED, owns: tuple[str, ...] = ()) -> Check:
    model = next(check for check in catalogue() if check.severity is severity)
    return replace(model, owns_violations=owns)


def _result(*events: Event, outcome: Outcome = Outcome.COMPLETED, **fields: object) -> SandboxResult:
    return replace(SandboxResult(outcome, tuple(events), 0.01), **fields)  # type: ignore[arg-type]


IN_FLIGHT = CallStarted("process_packet", 1.0, "BinaryPacket on pin 'in'", "MainThread#1", 1)


def test_a_run_with_nothing_wrong_passes_with_its_evidence() -> None:
    judgement = judge(_check(), _result(CallFinished("create_instance", 0.001), Observed("answer", 42)))
    assert (judgement.status, judgement.message) == (Status.PASS, "ok")
    assert judgement.evidence["observations"] == {"answer": 42}
    assert judgement.evidence["call_count"] == 1


def test_a_failed_expectation_fails_a_required_check_and_warns_on_a_recommended_one() -> None:
    result = _result(Expect(False, "output is a copy", "byte 3 differs"))
    assert judge(_check(), result) == Judgement(
        Status.FAIL, "output is a copy: byte 3 differs", judge(_check(), result).evidence
    )
    assert judge(_check(Severity.RECOMMENDED), result).status is Status.WARN


def test_a_warn_only_expectation_warns_even_on_a_required_check() -> None:
    judgement = judge(_check(), _result(Expect(False, "slow", warn_only=True), Expect(True, "fine")))
    assert (judgement.status, judgement.message) == (Status.WARN, "slow")


def test_owned_violations_fail_the_check_and_foreign_ones_become_evidence() -> None:
    violations = (
        Violation("callbacks.late", "output after return", "process_packet"),
        Violation("pool.double", "freed twice"),
    )
    judgement = judge(_check(owns=("callbacks.",)), _result(*violations))
    assert judgement.status is Status.FAIL
    assert judgement.message == "output after return (during process_packet)"
    assert judgement.evidence[EVIDENCE_KEY] == [{"rule": "pool.double", "detail": "freed twice", "during": None}]


def test_process_outcomes_come_before_expectations() -> None:
    failing = Expect(False, "never judged")
    timed_out = judge(_check(), _result(failing, outcome=Outcome.TIMED_OUT, detail="1 s budget", in_flight=IN_FLIGHT))
    assert timed_out.status is Status.TIMEOUT
    assert timed_out.message == "timed out: 1 s budget (in process_packet (BinaryPacket on pin 'in'))"
    crashed = judge(_check(), _result(failing, outcome=Outcome.CRASHED, signal_name="SIGSEGV", panic_message="boom"))
    assert crashed.status is Status.CRASH
    assert crashed.message == "crashed with SIGSEGV outside any plugin call: panic crossed the FFI boundary: boom"
    exited = judge(_check(), _result(outcome=Outcome.EXITED, exit_code=3))
    assert (exited.status, exited.evidence["exit_code"]) == (Status.CRASH, 3)
    limited = judge(_check(), _result(outcome=Outcome.RESOURCE_LIMIT, resource="output volume"))
    assert (limited.status, limited.message) == (Status.CRASH, "hit the output volume limit outside any plugin call")


def test_a_corrupt_event_stream_is_the_plugins_failure_whatever_else_happened() -> None:
    judgement = judge(_check(), _result(StreamCorrupted("bad frame"), outcome=Outcome.CRASHED, signal_name="SIGSEGV"))
    assert judgement.status is Status.FAIL
    assert "wrote to the host's event channel" in judgement.message and "bad frame" in judgement.message


def test_validator_errors_skips_and_refused_loads() -> None:
    error = judge(_check(), _result(HarnessError("KeyError: x", "Traceback ...")))
    assert (error.status, error.evidence["traceback"]) == (Status.ERROR, "Traceback ...")
    assert judge(_check(), _result(outcome=Outcome.HARNESS_ERROR, detail="server died")).status is Status.ERROR
    assert judge(_check(), _result(Skipped("no input pin"), Expect(False, "x"))) == Judgement(
        Status.SKIP, "no input pin", judge(_check(), _result(Skipped("no input pin"), Expect(False, "x"))).evidence
    )
    refused = judge(_check(), _result(LoadFailed("version", "Plugin API version mismatch")))
    assert (refused.status, refused.message) == (Status.SKIP, "not loadable: Plugin API version mismatch")


def test_a_segfault_is_explained_by_the_region_it_hit() -> None:
    region = GuardRegion("alloc", "alloc_video buffer", 0x1000, 0x2000, 0x2000, 0x3000, True)
    result = _result(
        region,
        outcome=Outcome.CRASHED,
        signal_name="SIGSEGV",
        in_flight=IN_FLIGHT,
        stderr_tail="skc-fault: signal=11 code=2 addr=0x2010 access=write\n",
    )
    assert explain_fault(result) is not None
    judgement = judge(_check(), result)
    assert judgement.message.endswith("wrote past the end of an alloc_video buffer in process_packet")
    assert judgement.evidence["fault"]["address"] == "0x2010"
    null = replace(result, events=(), stderr_tail="skc-fault: signal=11 code=1 addr=0x8 access=read\n")
    assert judge(_check(), null).message.endswith("read through a NULL pointer (address 0x8) in process_packet")


def test_failure_status_follows_severity() -> None:
    assert failure_status(Severity.REQUIRED) is Status.FAIL
    assert failure_status(Severity.RECOMMENDED) is Status.WARN
    assert failure_status(Severity.INFO) is Status.WARN


def test_only_failed_expectations_are_run_again() -> None:
    assert worth_rerunning(Judgement(Status.FAIL, "x"))
    assert not any(worth_rerunning(Judgement(status, "x")) for status in Status if status is not Status.FAIL)


def test_runs_that_disagree_are_flaky_and_keep_the_first_evidence() -> None:
    first = Judgement(Status.FAIL, "late output", {"calls": []})
    assert settle_reruns(first, [Status.FAIL]) is first
    assert settle_reruns(first, []) is first
    flaky = settle_reruns(first, [Status.PASS, Status.FAIL])
    assert flaky.status is Status.FLAKY
    assert flaky.message == "flaky: outcomes differ between runs (fail, pass, fail); first: late output"
    assert flaky.evidence == {"calls": [], "flaky": True}


@pytest.mark.parametrize(
    ("status", "severity", "listed", "accepted", "expected"),
    [
        (Status.PASS, Severity.REQUIRED, True, False, "improved"),
        (Status.PASS, Severity.REQUIRED, False, False, None),
        (Status.SKIP, Severity.REQUIRED, True, True, None),
        (Status.CRASH, Severity.REQUIRED, True, True, "known"),
        (Status.WARN, Severity.RECOMMENDED, True, True, "known"),
        (Status.FAIL, Severity.REQUIRED, True, False, "new"),
        (Status.TIMEOUT, Severity.REQUIRED, False, False, "new"),
        (Status.FAIL, Severity.RECOMMENDED, False, False, None),
        (Status.WARN, Severity.REQUIRED, False, False, None),
    ],
)
def test_baseline_classes(
    status: Status, severity: Severity, listed: bool, accepted: bool, expected: str | None
) -> None:
    assert baseline_class(status, severity, listed=listed, accepted=accepted) == expected


FACTS = PluginFacts(
    True,
    version=9,
    input_pins=(("in", (5,)),),
    output_pins=(("out", 7),),
    entries=("tick",),
    language="rust",
)


def _applying(**applies: object) -> Check:
    return replace(_check(), applies=replace(Applicability(), **applies))  # type: ignore[arg-type]


def test_not_applicable_names_the_first_reason() -> None:
    assert not_applicable(_applying(), FACTS) is None
    assert not_applicable(_applying(node_kinds=frozenset({"source"})), FACTS) == (
        "applies to source plugins; this one is a processor"
    )
    assert not_applicable(_applying(min_version=6, max_version=8), FACTS) == (
        "applies to plugin versions 6..8; this one is v9"
    )
    assert not_applicable(_applying(needs=Needs(echo=True, setter=True)), FACTS) == (
        "the plugin does not export the log-enabled setter"
    )


def test_an_unloadable_plugin_skips_all_but_the_entry_point_checks_that_died() -> None:
    unloadable = PluginFacts(False, "no symbol", failed_entry=None)
    died_in_metadata = replace(unloadable, failed_entry="get_metadata")
    assert not_applicable(_applying(), unloadable) == "not loadable: no symbol"
    entry_check = replace(_applying(needs_loadable=False), id="metadata.entry-check")
    assert not_applicable(entry_check, unloadable) == "not loadable: no symbol"
    assert not_applicable(entry_check, died_in_metadata) is None
    assert not_applicable(replace(entry_check, id="load.entry-check"), unloadable) is None


def test_capabilities() -> None:
    assert Needs(accepts=PacketType(10)).missing(FACTS) is None  # BinaryWithMeta aliases Binary
    assert Needs(accepts=PacketType(3)).missing(FACTS) is not None
    assert Needs(entry="tick").missing(FACTS) is None
    assert Needs(entry="get_source_config").missing(FACTS) == "the table has no get_source_config"
    assert Needs(language="c").missing(FACTS) is not None and Needs(language="rust").missing(FACTS) is None
    with pytest.raises(ValueError, match="unknown language"):
        Needs(language="wings")  # type: ignore[arg-type]


def test_a_result_serialises_statuses_as_strings_and_reads_them_back_as_enums() -> None:
    result = CheckResult("x[v8]", "x", 8, "load", Severity.REQUIRED, Status.CRASH, "boom")
    data = result.to_json()
    assert (type(data["status"]), type(data["severity"])) == (str, str)
    assert CheckResult.from_json(data) == result
    assert result.blocking
    assert not replace(result, severity=Severity.RECOMMENDED).blocking
    assert not replace(result, status=Status.WARN).blocking
