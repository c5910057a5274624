"""What every command shares: the documented exit codes, the one-line usage complaint and terminal output.

Kept apart from ``conformance.cli`` because ``python -m conformance.cli`` runs
that module as ``__main__``: a command importing ``conformance.cli`` would get a
second copy whose ``UsageProblem`` the dispatcher would not catch.
"""

from __future__ import annotations

import os
import sys

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class UsageProblem(Exception):
    """A one-line complaint about the command's input."""


def say(text: str) -> None:
    """Print to stdout; a reader that went away (``| head``) only silences the rest, never the exit status."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - swallow the remaining output and the flush at exit


def warn(text: str) -> None:
    print(f"conformance: {text}", file=sys.stderr, flush=True)
