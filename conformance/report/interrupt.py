"""SIGTERM and SIGHUP as an interruption, so a cancelled CI job still leaves the report of what finished.

CI services stop a job with SIGTERM (then SIGKILL after a grace period); a
closed terminal sends SIGHUP; a plugin may signal the tool's process group.
Python's default for both ends the process at once: no
``pytest_sessionfinish``, no report. ``install`` turns the first of them into
``KeyboardInterrupt`` in the main thread, which pytest already handles like
Ctrl-C (the session ends with "interrupted", its finish hooks run and the
report says incomplete, which never passes). A second one of the same signal
gets the default action, so a stuck shutdown can still be ended. While the
reports are being written (``hold``), the signals are only noted, so that an
impatient second signal cannot cut the writing short.
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


def hold() -> None:
    """From now on the signals are only recorded: the fork servers are stopping, the reports being written."""
    if _installed and threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, _note)


def received() -> bool:
    return bool(_received)


def uninstall() -> None:
    """Give the signals back their previous handlers."""
    global _installed
    if _installed and threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            previous = _previous.pop(signum, None)
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
    _installed = False
