"""What a finding is and how it is named: the signature dedups findings across runs and minimisation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conformance.fuzzing.paths import REPO_ROOT

#: Printed before the repro command of every finding; the nightly job and the tests grep for it.
REPRO_MARK = "REPRO:"
FINDING_MARK = "FINDING:"


class FuzzFinding(AssertionError):
    """An oracle failed. ``signature`` is short and stable (it names the bug, not the input) for dedup.

    An AssertionError because that is what it is: a property of the code under
    test did not hold. Any other exception escaping a target is a finding too.
    """

    def __init__(self, signature: str, detail: str = "") -> None:
        super().__init__(f"{signature}\n{detail}" if detail else signature)
        self.signature = signature
        self.detail = detail
        #: The input that triggers it, when not the one being run (a persistent child's earlier input).
        self.data: bytes | None = None


def signature_of(error: BaseException) -> str:
    """A stable one-line name for a finding: the oracle's signature, or type and place of a crash."""
    if isinstance(error, FuzzFinding):
        return error.signature
    place = ""
    trace = error.__traceback__
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        if str(REPO_ROOT) in filename:
            place = f" at {Path(filename).name}:{trace.tb_lineno}"
        trace = trace.tb_next
    return f"{type(error).__name__}{place}"


def finding_of(check: Callable[[bytes], None], data: bytes) -> str | None:
    """The signature of the finding ``data`` triggers, None when it passes.

    This is the oracle around the oracles: any exception is the finding
    (that is what libFuzzer would have reported), so it catches them all.
    """
    try:
        check(data)
    except Exception as error:  # noqa: BLE001 - classifying any failure is the point
        return signature_of(error)
    return None


def short(value: object, limit: int = 300) -> str:
    """repr() bounded for messages: findings carry evidence, not megabytes."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
