"""Turn a child's exit status and stderr into an outcome with a precise reason."""

from __future__ import annotations

import os
import re
import signal

from conformance.scenario.events import CallStarted
from conformance.scenario.protocol import Outcome

_PANIC_LINE = re.compile(r"panicked at [^\n]*\n([^\n]*)")
_NO_UNWIND = "panic in a function that cannot unwind"
_ALLOC_FAILED = re.compile(r"memory allocation of \d+ bytes failed")
#: The dynamic linker's message when a lazily bound function is first called and nothing defines it; it
#: then exits the process with status 127.
_SYMBOL_LOOKUP = re.compile(r"symbol lookup error: (?P<library>[^:\n]+): undefined symbol: (?P<symbol>[^\s,]+)")


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def panic_message(output: str) -> str | None:
    """The Rust panic text from the child's output, e.g. "panicking: intentional panic in process_packet".

    A panic unwinding out of ``extern "C"`` prints two panics: the plugin's own
    message, then "panic in a function that cannot unwind"; both are named.
    """
    messages = [match.group(1).strip() for match in _PANIC_LINE.finditer(output)]
    own = [text for text in messages if text and text != _NO_UNWIND]
    if not own:
        return _NO_UNWIND if _NO_UNWIND in output else None
    if _NO_UNWIND in output:
        return f"{own[0]} (then: {_NO_UNWIND})"
    return own[0]


def unresolved_symbol(output: str) -> tuple[str, str] | None:
    """(symbol, library) from the dynamic linker's "symbol lookup error" in the child's output, if any.

    The host binds a plugin's functions lazily (RTLD_LAZY): a function nothing defines is only missed at
    its first call, and ld.so then ends the whole process with exit status 127, not with a signal.
    """
    match = _SYMBOL_LOOKUP.search(output)
    return (match.group("symbol"), match.group("library").strip()) if match else None


def undefined_symbol_text(symbol: str) -> str:
    """How a verdict names a function the plugin calls that nothing defines, at load or at the call."""
    return (
        f"undefined symbol {symbol}: no loaded library defines this function the plugin calls; the host binds "
        "functions at their first call (RTLD_LAZY) and its whole process exits with status 127 there"
    )


def describe_call(call: CallStarted | None) -> str:
    if call is None:
        return "outside any plugin call"
    where = f"in {call.entry}"
    return f"{where} ({call.detail})" if call.detail else where


def classify_exit(status: int, stderr_tail: str, completed: bool) -> tuple[Outcome, int | None, int | None, str | None]:
    """Map a ``waitpid`` status to (outcome, signal, exit code, resource).

    A child that ran its scenario to the end and exited 0 completed; a
    SIGXFSZ means it hit the output bound; an allocation failure (Rust's
    "memory allocation of N bytes failed" abort, or a MemoryError exit) means
    the address-space limit.
    """
    if hasattr(signal, "SIGXFSZ") and _signalled(status) == signal.SIGXFSZ:
        return Outcome.RESOURCE_LIMIT, signal.SIGXFSZ, None, "output volume"
    sig = _signalled(status)
    if sig is not None:
        if _ALLOC_FAILED.search(stderr_tail):
            return Outcome.RESOURCE_LIMIT, sig, None, "memory (address-space limit)"
        return Outcome.CRASHED, sig, None, None
    code = status >> 8 & 0xFF
    if code == 0 and completed:
        return Outcome.COMPLETED, None, 0, None
    if "MemoryError" in stderr_tail or _ALLOC_FAILED.search(stderr_tail):
        return Outcome.RESOURCE_LIMIT, None, code, "memory (address-space limit)"
    return Outcome.EXITED, None, code, None


def _signalled(status: int) -> int | None:
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status)
    return None
