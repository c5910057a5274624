"""SIGTERM and SIGHUP as an interruption, so a cancelled CI job still leaves the report of what finished.

CI services stop a job with SIGTERM (then SIGKILL after a grace period); a
closed terminal sends SIGHUP; a plugin may signal the tool's process group.
Python's default for both ends the process at once: no
``pytest_sessionfinish``, no report. ``install`` turns the first of them into
``KeyboardInterrupt`` in the main thread, which pytest already handles like
Ctrl-C (the session ends with "interrupted", its finish hooks run and the
report says incomplete, which never passes). A second one of the same signal
gets the default action until the fork servers are being stopped; from then on
(``hold``) they are only noted, so that a plugin signalling the tool's group
cannot cut the stopping or the writing short (Ctrl-C still ends a stopping
that takes too long, never the writing).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

#: The signals that interrupt a run (SIGINT is already KeyboardInterrupt).
SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_previous: dict[int, Any] = {}
_installed = False
_held = False
_received: list[int] = []


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    signal.signal(signum, signal.SIG_DFL)
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


def _note(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)


def install() -> bool:
    """Install the handler (main thread only; returns whether it was installed)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return False
    for signum in SIGNALS:
        _previous[signum] = signal.signal(signum, _interrupt)
    _installed = True
    _received.clear()
    return True


def hold(ctrl_c: bool = False) -> None:
    """From now on SIGTERM and SIGHUP (and with ``ctrl_c`` SIGINT too) are only recorded: the fork servers
    are stopping, or the reports are being written.

    A plugin that signals the tool's process group cannot end the stopping early; a person's Ctrl-C can,
    until the writing starts. One noted before the reports are written makes them incomplete; one noted
    while they are written is too late to change them, so it changes nothing (reports and exit status agree).
    """
    global _held
    if not _installed or threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        signal.signal(signum, _note)
    if ctrl_c and not _held:
        _previous[signal.SIGINT] = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, _note)
        _held = True


def received() -> bool:
    return bool(_received)


def uninstall() -> None:
    """Give the signals back their previous handlers."""
    global _installed, _held
    if _installed and threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            previous = _previous.pop(signum, None)
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        if signal.SIGINT in _previous:
            signal.signal(signal.SIGINT, _previous.pop(signal.SIGINT))
    _installed = _held = False
