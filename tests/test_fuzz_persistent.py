"""Persistent plugin intake: many inputs per sandbox child, findings as the one-child runner names them.

Why each test exists: the persistent child is only worth its speed if a finding found there is the
finding a child of its own would give (crash, hang, failed oracle), if a crash in a child that ran
many inputs is pinned on the right one, if a plugin writing into the reply channel is a finding and
not a broken fuzzer, and if the child is really replaced (after N inputs, after a thread is left).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_hostile import build

from conformance.fuzzing.findings import FuzzFinding
from conformance.fuzzing.intake_runner import PIPELINE_DEPTH, IntakeRunner
from conformance.fuzzing.packet_bytes import bytes_for_packet
from conformance.fuzzing.persistent_intake import MAX_REPLAYS, attribute, parse_failures
from conformance.host.packets import TextPacket
from conformance.sandbox.persistent import WORKDIR_PREFIX, Exchange, PersistentChild, Reply, remove_stale_workdirs
from conformance.scenario.protocol import ScenarioRequest
from conformance.strategies.input_bytes import ByteSink

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the hostile plugins")


def text_intake(text: str) -> bytes:
    """One Text packet into the plugin, then a flush."""
    return ByteSink().byte(0).byte(0).sized(bytes_for_packet(TextPacket(text))).byte(7).byte(0).getvalue()


HARMLESS = [text_intake("x" * length) for length in (1, 5, 12, 14, 20, 31)]
CRASH = text_intake("x" * 13)  # fuzz_crasher dies on a 13-byte text

WRITES_TO_THE_CHANNEL = """
#include "c_common/skfix_c.h"
#include <unistd.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "channel_writer", "Text echo that writes into descriptor 3")
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static CResult process_packet(CPluginHandle handle, const char *pin, const CPacket *packet, const CNodeCallbacks *cb) {
    (void)!write(3, "{\\"not\\": \\"yours\\"}", 17);
    return skfix_text_echo_process(handle, pin, packet, cb);
}
SKFIX_PROCESSOR_API(API, get_metadata, process_packet)
SKFIX_EXPORT_API(API)
"""

LEAVES_A_THREAD = """
#include "c_common/skfix_c.h"
#include <pthread.h>
#include <unistd.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "thread_leaver", "Text echo that starts a thread it never joins")
static void *sleeper(void *arg) { (void)arg; for (;;) pause(); return NULL; }
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static CResult process_packet(CPluginHandle handle, const char *pin, const CPacket *packet, const CNodeCallbacks *cb) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, sleeper, NULL) == 0) pthread_detach(thread);
    return skfix_text_echo_process(handle, pin, packet, cb);
}
SKFIX_PROCESSOR_API(API, get_metadata, process_packet)
SKFIX_EXPORT_API(API)
"""


@pytest.fixture
def runners() -> Iterator[list[IntakeRunner]]:
    made: list[IntakeRunner] = []
    yield made
    for runner in made:
        runner.close()


def _runner(made: list[IntakeRunner], plugin: str | Path, **options: object) -> IntakeRunner:
    runner = IntakeRunner(plugin, **options)  # type: ignore[arg-type]
    made.append(runner)
    return runner


def _finding(runner: IntakeRunner, data: bytes) -> FuzzFinding:
    with pytest.raises(FuzzFinding) as caught:
        runner.check(data)
    return caught.value


def test_a_crash_among_harmless_inputs_is_the_one_child_runners_finding(runners: list[IntakeRunner]) -> None:
    """The crasher runs in the middle of a batch in one persistent child: the finding names the
    13-byte input exactly as the one-child-per-input runner does, and the batch goes on in a new child."""
    persistent = _runner(runners, "fuzz_crasher")
    for data in HARMLESS[:3]:
        persistent.check(data)
    assert persistent.pool.children_started == 1
    found = _finding(persistent, CRASH)
    for data in HARMLESS[3:]:
        persistent.check(data)
    assert persistent.pool.children_started == 2

    alone = _finding(_runner(runners, "fuzz_crasher", persistent=False), CRASH)
    assert found.signature == alone.signature == "fuzz_crasher: crashed with SIGSEGV in process_packet"
    assert found.data is None  # the input in flight is the one that fails alone
    assert found.detail.split("plan:")[1] == alone.detail.split("plan:")[1]


def test_fed_inputs_are_judged_later_and_a_finding_names_its_own_input(runners: list[IntakeRunner]) -> None:
    """``feed`` posts inputs before the verdicts on the ones before them: the crasher's finding comes during a
    later call, carries the crasher's bytes, and reads as the one-child runner's; the input posted
    behind it runs again in a fresh child, and ``settle`` judges the last one."""
    assert PIPELINE_DEPTH >= 2
    pipelined = _runner(runners, "fuzz_crasher")
    pipelined.feed(HARMLESS[0])
    pipelined.feed(CRASH)  # its verdict is not in yet
    fed: list[bytes] = []
    with pytest.raises(FuzzFinding) as caught:
        for data in HARMLESS * PIPELINE_DEPTH:
            fed.append(data)
            pipelined.feed(data)
    found = caught.value
    assert len(fed) == PIPELINE_DEPTH - 1  # raised once more than PIPELINE_DEPTH were in flight
    alone = _finding(_runner(runners, "fuzz_crasher", persistent=False), CRASH)
    assert found.signature == alone.signature == "fuzz_crasher: crashed with SIGSEGV in process_packet"
    assert found.data == CRASH
    assert found.detail.split("plan:")[1] == alone.detail.split("plan:")[1]
    assert pipelined.pool.children_started == 2
    pipelined.settle()  # the inputs posted behind the crasher pass in the fresh child
    pipelined.feed(CRASH)
    with pytest.raises(FuzzFinding) as caught:
        pipelined.settle()
    assert caught.value.data == CRASH


def test_an_input_posted_behind_a_crash_runs_again_in_a_fresh_child(runners: list[IntakeRunner]) -> None:
    """The pool's own account: the crash's history ends with the crasher (not the input queued behind it),
    and that input's outcome comes from the next child."""
    pool = _runner(runners, "fuzz_crasher").pool
    for data in (HARMLESS[0], CRASH, HARMLESS[1]):
        pool.post(data, IntakeRunner.plan(runners[0], data))
    first, crashed, after = pool.outcomes()
    assert first.exchange.reply is Reply.RESULT and first.data == HARMLESS[0]
    assert crashed.exchange.reply is Reply.DIED and crashed.history == (HARMLESS[0], CRASH)
    assert after.exchange.reply is Reply.RESULT and after.data == HARMLESS[1]
    assert pool.children_started == 2 and pool.history == [HARMLESS[1]]


@pytest.mark.slow  # the hang's budget is waited out in the pipelined child, then again alone
def test_a_hang_among_fed_inputs_is_its_own_finding(runners: list[IntakeRunner]) -> None:
    pipelined = _runner(runners, "wedging")
    pipelined.feed(ByteSink().byte(0).byte(7).byte(0).getvalue())  # flush only: the plugin is loaded
    pipelined.feed(HARMLESS[0])
    with pytest.raises(FuzzFinding) as caught:
        pipelined.feed(HARMLESS[1])
        pipelined.settle()
    assert caught.value.signature == "wedging: process_packet did not return (hang)"
    assert caught.value.data == HARMLESS[0]


def test_a_failed_oracle_is_judged_alone(runners: list[IntakeRunner]) -> None:
    persistent = _runner(runners, "undeclared_pin")
    found = _finding(persistent, HARMLESS[0])
    assert found.signature == "undeclared_pin: packets go only to declared output pins"
    assert "plan:" in found.detail
    assert "op 0: process_packet('in'" in found.detail  # the op is described although the child labels no call


def test_in_process_keeps_the_plugin_and_judges_a_failure_afresh(runners: list[IntakeRunner]) -> None:
    """In process (native coverage) the plugin stays loaded as in the persistent child, and a failure is
    the finding a fresh load gives."""
    kept = _runner(runners, "undeclared_pin", in_process=True)
    found = _finding(kept, HARMLESS[0])
    alone = _finding(_runner(runners, "undeclared_pin", persistent=False), HARMLESS[0])
    assert found.signature == alone.signature == "undeclared_pin: packets go only to declared output pins"
    assert found.detail.split("plan:")[0] == alone.detail.split("plan:")[0]
    assert kept._kept is not None and kept._kept.plugin is not None


def test_callback_violations_reach_the_intake_that_runs(runners: list[IntakeRunner]) -> None:
    """The host callbacks report to the emitter that built them: after intakes in this process, a persistent
    child forked from it, and an in-process intake after a judge's run, must still see a violation only the
    callbacks detect."""
    _runner(runners, "conforming_processor", in_process=True).check(HARMLESS[0])
    signature = "double_free: pool.double-release"
    assert _finding(_runner(runners, "double_free"), text_intake("hello")).signature == signature
    kept = _runner(runners, "double_free", in_process=True)
    for _ in range(2):
        found = _finding(kept, text_intake("hello"))
        assert found.signature == signature
        assert "seen only after earlier inputs" not in found.detail  # the judge saw it too


def test_replay_pins_a_delayed_crash_on_the_earlier_input_that_fails_alone() -> None:
    """A child that dies on input 5 although input 5 passes alone: its inputs are replayed one per child,
    newest first, and the finding carries the bytes of the one that fails alone."""
    history = [bytes([number]) for number in range(6)]
    replayed: list[bytes] = []

    def judge_alone(data: bytes) -> FuzzFinding | None:
        replayed.append(data)
        return FuzzFinding("plugin: crashed with SIGSEGV in process_packet") if data == history[2] else None

    def describe(data: bytes, how: str, detail: str) -> FuzzFinding:
        raise AssertionError(f"{how}: {detail}")

    died = Exchange(Reply.DIED, status=signal.SIGSEGV, detail="the child died")
    found = attribute(died, history[-1], history, judge_alone, describe)
    assert found.data == history[2]
    assert replayed == [history[5], history[4], history[3], history[2]]

    nobody = attribute(died, history[-1], history, lambda data: None, lambda data, how, detail: FuzzFinding(how))
    assert nobody.signature == "crashed with SIGSEGV in a persistent child"
    long_history = [number.to_bytes(2, "big") for number in range(500)]
    replayed.clear()
    attribute(died, long_history[-1], long_history, judge_alone, lambda data, how, detail: FuzzFinding(how))
    assert replayed == long_history[::-1][: 1 + MAX_REPLAYS]  # bounded: it must fit in libFuzzer's -timeout
    hung = Exchange(Reply.HUNG, status=signal.SIGKILL, detail="no reply within 6.00 s")
    replayed.clear()
    attribute(hung, history[-1], history, judge_alone, lambda data, how, detail: FuzzFinding(how))
    assert replayed == [history[5]]  # a hang replays only the input in flight


def test_a_hang_kills_the_persistent_child_and_is_reported_as_alone(runners: list[IntakeRunner]) -> None:
    persistent = _runner(runners, "wedging")
    persistent.check(ByteSink().byte(0).byte(7).byte(0).getvalue())  # flush only: the plugin is loaded
    found = _finding(persistent, HARMLESS[0])
    assert found.signature == "wedging: process_packet did not return (hang)"
    assert persistent.pool.child is None


@needs_gcc
def test_a_plugin_writing_into_the_reply_channel_is_a_finding(tmp_path: Path, runners: list[IntakeRunner]) -> None:
    persistent = _runner(runners, build(tmp_path, "channel_writer", WRITES_TO_THE_CHANNEL))
    found = _finding(persistent, HARMLESS[0])
    assert found.signature == "channel_writer: the plugin wrote to the host's event channel"
    assert '"yours"' in found.detail and "plan:" in found.detail


@needs_gcc
def test_a_thread_left_running_replaces_the_child(tmp_path: Path, runners: list[IntakeRunner]) -> None:
    persistent = _runner(runners, build(tmp_path, "thread_leaver", LEAVES_A_THREAD))
    for data in HARMLESS[:3]:
        persistent.check(data)
    assert persistent.pool.children_started == 3


def test_the_child_is_replaced_after_n_inputs(runners: list[IntakeRunner]) -> None:
    persistent = _runner(runners, "conforming_processor", inputs_per_child=3)
    pids = set()
    for data in HARMLESS + HARMLESS[:1]:
        persistent.check(data)
        assert persistent.pool.child is not None
        pids.add(persistent.pool.child.pid)
    assert persistent.pool.children_started == len(pids) == 3


def test_replies_are_parsed_strictly() -> None:
    good = {"seq": 1, "threads": 1, "failures": [["expect", "what", "detail"]]}
    assert parse_failures(good) == [("expect", "what", "detail")]
    for bad in (
        {**good, "extra": 1},
        {"seq": 1, "threads": 1},
        {**good, "failures": "none"},
        {**good, "failures": [["expect", "what"]]},
        {**good, "failures": [["expect", "what", 3]]},
        {**good, "failures": [["pickle", "what", "detail"]]},
        {**good, "failures": [["expect", "w", "d"]] * 100},
    ):
        with pytest.raises(ValueError):
            parse_failures(bad)


def _request() -> ScenarioRequest:
    return ScenarioRequest("persistent-test", "/nonexistent")


def test_the_persistent_child_reports_death_hang_and_junk() -> None:
    """The generic loop, with handlers in Python: an answer, a death (and its signal), a hang, junk."""

    def handler(data: bytes) -> dict[str, object]:
        if data == b"die":
            os.kill(os.getpid(), signal.SIGSEGV)
        if data == b"hang":
            time.sleep(60)
        if data == b"junk":
            os.write(3, b"junk\n")
        if data == b"deep":
            os.write(3, b"[" * 100_000 + b"\n")
        return {"echo": data.decode()}

    child = PersistentChild(_request(), handler)
    try:
        answered = child.send(b"hello", 10.0)
        assert answered.reply is Reply.RESULT and answered.value["echo"] == "hello" and answered.threads_left == 1
        died = child.send(b"die", 10.0)
        assert died.reply is Reply.DIED and os.WIFSIGNALED(died.status or 0)
        assert os.WTERMSIG(died.status or 0) == signal.SIGSEGV
        assert not child.alive
    finally:
        child.close()
    for data, expected in ((b"hang", Reply.HUNG), (b"junk", Reply.MALFORMED), (b"deep", Reply.MALFORMED)):
        child = PersistentChild(_request(), handler)
        try:
            assert child.send(data, 0.5).reply is expected
            assert not child.alive
        finally:
            child.close()


def test_posted_inputs_are_answered_in_order_and_a_death_ends_the_queue() -> None:
    """Several inputs posted before any reply: the replies come in order, and the input after a death
    is reported as the death (the caller posts it again elsewhere)."""

    def handler(data: bytes) -> dict[str, object]:
        if data == b"die":
            os.kill(os.getpid(), signal.SIGSEGV)
        return {"echo": data.decode()}

    child = PersistentChild(_request(), handler)
    try:
        for data in (b"one", b"two", b"die", b"after"):
            child.post(data)
        assert child.in_flight == 4
        assert [child.receive(10.0).value["echo"] for _ in range(2)] == ["one", "two"]
        died = child.receive(10.0)
        assert died.reply is Reply.DIED and os.WTERMSIG(died.status or 0) == signal.SIGSEGV
    finally:
        child.close()


def test_workdirs_of_gone_fuzzers_are_removed(tmp_path: Path) -> None:
    """libFuzzer ends a fuzzer without Python's cleanup: the next one removes what a gone process left."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / f"{WORKDIR_PREFIX}{gone.pid}-abc").mkdir()
    (tmp_path / f"{WORKDIR_PREFIX}{os.getpid()}-def").mkdir()
    (tmp_path / "unrelated").mkdir()
    assert remove_stale_workdirs(str(tmp_path)) == [f"{WORKDIR_PREFIX}{gone.pid}-abc"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{WORKDIR_PREFIX}{os.getpid()}-def", "unrelated"]
