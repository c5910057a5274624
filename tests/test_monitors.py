"""Issue 15, classes 2 and 3: the native callback guard and always-on contract monitors.

The guard runs in real sandbox children on the C fixtures that call host
callbacks from two threads at once; the crediting is checked both as a pure
function and through ``pytest --plugin``, where a violation seen during one
check must fail the check that owns its rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.battery.runner import battery_for, probe, request_for
from conformance.checks.judge import judge
from conformance.checks.model import Status
from conformance.checks.monitors import EVIDENCE_KEY, MonitorLedger, Sighting, credit
from conformance.checks.registry import lookup_check
from conformance.checks.result import CheckResult
from conformance.sandbox.client import SandboxClient
from conformance.scenario.events import Violation


@pytest.fixture(scope="module")
def client() -> Iterator[SandboxClient]:
    sandbox = SandboxClient()
    yield sandbox
    sandbox.close()


def _run(client: SandboxClient, plugin: Path, name: str) -> tuple[Any, Any]:
    facts = probe(plugin, 1.0, client)
    item = next(item for item in battery_for(facts) if item.name == name)
    result = client.run(request_for(plugin, item, 1.0, facts))
    return item, result


def _concurrent(result: Any) -> list[Violation]:
    return [v for v in result.events_of(Violation) if v.rule == "callbacks.concurrent"]


def test_two_threads_in_output_callback_are_seen_by_the_native_guard(
    client: SandboxClient, fixture_so: Callable[[str], Path]
) -> None:
    item, result = _run(client, fixture_so("c_parallel_chunks"), "wire-in.text.long")
    found = _concurrent(result)
    assert found, result.events
    assert "output_callback entered on thread" in found[0].detail and found[0].during == "process_packet"
    # The text check itself is not the owner: it passes, and lists the sighting for the monitors.
    judgement = judge(item.check, result)
    assert judgement.status.value == "pass", judgement.message
    assert judgement.evidence[EVIDENCE_KEY][0]["rule"] == "callbacks.concurrent"


def test_alloc_and_telemetry_on_two_threads_fail_not_concurrent(
    client: SandboxClient, fixture_so: Callable[[str], Path]
) -> None:
    item, result = _run(client, fixture_so("c_progress_thread"), "callbacks.not-concurrent")
    judgement = judge(item.check, result)
    assert judgement.status.value == "fail"
    assert "alloc_video" in judgement.message and "telemetry_callback" in judgement.message


@pytest.mark.parametrize("fixture", ["conforming_c", "conforming_processor"])
def test_conforming_plugins_show_no_overlap_under_ordinary_traffic(
    client: SandboxClient, fixture_so: Callable[[str], Path], fixture: str
) -> None:
    _, result = _run(client, fixture_so(fixture), "callbacks.not-concurrent")
    assert not _concurrent(result)


def _result(item: str, status: Status = Status.PASS, sightings: list[dict[str, Any]] | None = None) -> CheckResult:
    check = lookup_check(item.split("[", 1)[0])
    evidence = {EVIDENCE_KEY: sightings} if sightings else {}
    return CheckResult(item, check.id, None, check.category, check.severity, status, "ok", evidence)


CONCURRENT = {"rule": "callbacks.concurrent", "detail": "two threads", "during": "process_packet"}


def test_a_sighting_elsewhere_fails_the_owning_check_with_the_scenario_as_evidence() -> None:
    ledger = MonitorLedger()
    ledger.record("p.so", _result("wire-in.text.long", sightings=[CONCURRENT]))
    owner = lookup_check("callbacks.not-concurrent")
    credited = ledger.credit("p.so", owner, _result("callbacks.not-concurrent"))
    assert credited.status == "fail"
    assert credited.message == "two threads (during process_packet), seen during wire-in.text.long"
    assert credited.evidence["seen_elsewhere"][0]["seen_during"] == "wire-in.text.long"
    assert credited.repro == "conformance repro p.so wire-in.text.long"


def test_checks_that_do_not_own_the_rule_and_other_plugins_are_untouched() -> None:
    ledger = MonitorLedger()
    ledger.record("p.so", _result("wire-in.text.long", sightings=[CONCURRENT]))
    other = ledger.credit("p.so", lookup_check("callbacks.within-call"), _result("callbacks.within-call"))
    assert other.status == "pass"
    elsewhere = ledger.credit("q.so", lookup_check("callbacks.not-concurrent"), _result("callbacks.not-concurrent"))
    assert elsewhere.status == "pass" and "seen_elsewhere" not in elsewhere.evidence


def test_a_crash_keeps_its_status_and_a_skip_becomes_a_failure() -> None:
    sightings = [Sighting("callbacks.concurrent", "two threads", "process_packet", "wire-in.text.long")]
    owner = lookup_check("callbacks.not-concurrent")
    crashed = credit(owner, _result("callbacks.not-concurrent", Status.CRASH), sightings, "p.so", 1)
    assert crashed.status == "crash" and crashed.evidence["seen_elsewhere"]
    skipped = credit(owner, _result("callbacks.not-concurrent", Status.SKIP), sightings, "p.so", 1)
    assert skipped.status == "fail"


def test_the_credit_does_not_depend_on_the_order_items_finished() -> None:
    owner = lookup_check("wire-out.decodes")
    convert = {"rule": "wire-out.convert", "detail": "Null packet data pointer", "during": "process_packet"}
    first = _result("wire-in.binary.empty[v9]", sightings=[convert])
    second = _result("wire-in.binary-with-meta.handle-empty", sightings=[convert])
    messages = set()
    for order in ((first, second), (second, first)):  # noqa: B007 - the order is what varies
        ledger = MonitorLedger()
        for result in order:
            ledger.record("p.so", result)
        messages.add(ledger.credit("p.so", owner, _result("wire-out.decodes")).message)
    assert len(messages) == 1


@pytest.mark.slow
@pytest.mark.parametrize("prefetch", ["1", "0"])
def test_pytest_face_credits_the_owning_check(
    run_battery: Callable[..., Any], fixture_so: Callable[[str], Path], prefetch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFORMANCE_PREFETCH", prefetch)
    run = run_battery(fixture_so("c_null_empty_binary"), args=("-k", "decodes or binary.empty or runtime-types"))
    assert run.returncode == 1, run.stdout[-2000:]
    checks = run.checks("c_null_empty_binary")
    decodes = checks["wire-out.decodes"]
    assert decodes["status"] == "fail"
    assert (
        "Null packet data pointer (during process_packet), seen during wire-in.binary.empty[v9]" in decodes["message"]
    )
    assert checks["wire-out.runtime-types"]["status"] == "pass"
    assert "c_null_empty_binary::wire-out.decodes" in run.stdout.split("short test summary")[-1]


_KEEP_ALIVE: list[Any] = []  # callbacks the guard may still point at after a test


def _two_threads(call: Callable[[], None], together: bool) -> None:
    import threading

    if not together:
        call()
        call()
        return
    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.parametrize("together", [True, False])
def test_the_guard_counts_overlaps_before_the_interpreter_lock(together: bool) -> None:
    """Two Python threads calling the trampolines (cffi drops the GIL around the C call) overlap in the guard
    exactly when they run together; one after the other they never do."""
    import threading
    import time

    from conformance.abi import ffi
    from conformance.host.native_guard import native_guard

    guard = native_guard()
    if guard is None:
        pytest.skip("no C compiler for the native guard")
    f = ffi()

    def slow_output(pin: Any, packet: Any, user_data: Any) -> Any:
        time.sleep(0.02)  # releases the GIL: the other thread gets into the trampoline meanwhile
        return f.new("CResult *")[0]

    def slow_log(level: int, target: Any, message: Any, user_data: Any) -> None:
        time.sleep(0.02)

    output = f.callback("COutputCallback", slow_output)
    log = f.callback("CLogCallback", slow_log)
    _KEEP_ALIVE.extend([output, log])
    address = int(f.cast("uintptr_t", output))
    guard.set_bundle_targets(address, address, address, address)
    guard.set_log_targets(*(int(f.cast("uintptr_t", log)),) * 3)
    trampoline = f.cast("COutputCallback", guard.address("skg_output"))
    log_trampoline = f.cast("CLogCallback", guard.address("skg_log"))
    token = 0x5C0F_7E57_0000 + (1 if together else 2)
    guard.open(token, threading.get_native_id())
    before = guard.log_overlaps()
    _two_threads(lambda: trampoline(b"out", f.NULL, f.cast("void *", token)), together)
    _two_threads(lambda: log_trampoline(2, b"t", b"m", f.NULL), together)
    overlap = guard.close(token)
    if together:
        assert overlap is not None and overlap.entered == "output_callback" and overlap.busy == "output_callback"
        assert guard.log_overlaps() > before
    else:
        assert overlap is None
        assert guard.log_overlaps() == before


def test_repro_of_the_scenario_a_violation_was_seen_in_fails_and_names_the_owner(
    fixture_so: Callable[[str], Path],
) -> None:
    """The credited failure's repro command runs the other check: it must reproduce the failure, not say PASS."""
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance.cli",
            "repro",
            str(fixture_so("c_null_empty_binary")),
            "wire-in.binary.empty[v9]",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "seen here, fails wire-out.decodes: emitted on pin 'out': Failed to convert packet: Null packet data pointer"
        in done.stdout
    )
