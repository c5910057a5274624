"""How a child's end becomes an outcome (``sandbox.classify``), from wait statuses made by hand."""

from __future__ import annotations

import signal

from conformance.sandbox.classify import classify_exit, describe_call, panic_message, signal_name
from conformance.scenario.events import CallStarted
from conformance.scenario.protocol import Outcome


def _killed(number: int) -> int:
    return number  # a wait status: the signal in the low seven bits


def _exited(code: int) -> int:
    return code << 8


def test_a_clean_exit_after_the_scenario_completed() -> None:
    assert classify_exit(_exited(0), "", completed=True) == (Outcome.COMPLETED, None, 0, None)


def test_exit_zero_before_the_scenario_ended_is_an_exit() -> None:
    assert classify_exit(_exited(0), "", completed=False) == (Outcome.EXITED, None, 0, None)
    assert classify_exit(_exited(3), "", completed=True) == (Outcome.EXITED, None, 3, None)


def test_a_signal_is_a_crash() -> None:
    assert classify_exit(_killed(signal.SIGSEGV), "", completed=False) == (Outcome.CRASHED, signal.SIGSEGV, None, None)


def test_limits_are_resource_limits_not_crashes() -> None:
    assert classify_exit(_killed(signal.SIGXFSZ), "", completed=False)[0::3] == (
        Outcome.RESOURCE_LIMIT,
        "output volume",
    )
    rust_oom = "memory allocation of 1073741824 bytes failed\n"
    assert classify_exit(_killed(signal.SIGABRT), rust_oom, completed=False)[0] is Outcome.RESOURCE_LIMIT
    assert classify_exit(_exited(1), "MemoryError\n", completed=False) == (
        Outcome.RESOURCE_LIMIT,
        None,
        1,
        "memory (address-space limit)",
    )


def test_signal_names() -> None:
    assert signal_name(signal.SIGSEGV) == "SIGSEGV"
    assert signal_name(200) == "signal 200"


def test_panic_messages_name_the_plugins_own_panic_first() -> None:
    output = (
        "thread '<unnamed>' panicked at src/lib.rs:10:5:\nintentional panic in process_packet\n"
        "thread '<unnamed>' panicked at core/src/panicking.rs:1:1:\npanic in a function that cannot unwind\n"
    )
    assert panic_message(output) == "intentional panic in process_packet (then: panic in a function that cannot unwind)"
    assert panic_message("panicked at a.rs:1:1:\nonly mine\n") == "only mine"
    assert panic_message("panic in a function that cannot unwind") == "panic in a function that cannot unwind"
    assert panic_message("nothing to see") is None


def test_describe_call() -> None:
    assert describe_call(None) == "outside any plugin call"
    assert describe_call(CallStarted("flush", 1.0)) == "in flush"
    assert describe_call(CallStarted("flush", 1.0, "after EOF")) == "in flush (after EOF)"
