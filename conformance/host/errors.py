"""Exceptions of the reference host."""

from __future__ import annotations


class LoadError(Exception):
    """The host refused the library at ``stage``; ``message`` is the host's own text."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message


class HarnessMisuse(Exception):
    """The harness itself called the plugin out of order (a bug in a scenario, not the plugin)."""
