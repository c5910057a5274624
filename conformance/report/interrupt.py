"""SIGTERM as an interruption, so a cancelled CI job still leaves the report of what finished.

CI services stop a job with SIGTERM (then SIGKILL after a grace period).
Python's default for SIGTERM ends the process at once: no
``pytest_sessionfinish``, no report. ``install`` turns the first SIGTERM into
``KeyboardInterrupt`` in the main thread, which pytest already handles like
Ctrl-C (the session ends with "interrupted" and its finish hooks run).
A second SIGTERM gets the default action, so a stuck shutdown can still be
ended. While the reports are being written (``hold``), SIGTERM is only
noted, so that an impatient second signal cannot cut the writing short.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

_previous: Any = None
_installed = False
_received: list[int] = []


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


def _note(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)


def install() -> bool:
    """Install the handler (main thread only; returns whether it was installed)."""
    global _previous, _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return False
    _previous = signal.signal(signal.SIGTERM, _interrupt)
    _installed = True
    _received.clear()
    return True


def hold() -> None:
    """From now on SIGTERM is only recorded: the reports are being written."""
    if _installed and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _note)


def received() -> bool:
    return bool(_received)


def uninstall() -> None:
    """Give SIGTERM back its previous handler."""
    global _installed
    if _installed and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _previous if _previous is not None else signal.SIG_DFL)
    _installed = False
