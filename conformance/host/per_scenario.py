"""One object per scenario of a sandbox child, kept alive after it is retired.

The host callbacks and the log bridge hand cffi callback pointers to the plugin. A
shared child gives each scenario fresh ones, but a plugin may still hold the old
pointers (a thread it left running, a stored bundle), so a retired object is never
freed: calling it must stay safe for the life of the process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from conformance.scenario.events import Event

_Held = TypeVar("_Held")


class PerScenario(Generic[_Held]):
    """The current object, built from ``emit`` on first use, and every retired one."""

    def __init__(self, build: Callable[[Callable[[Event], None]], _Held]) -> None:
        self._build = build
        self._current: _Held | None = None
        self._retired: list[_Held] = []

    def get(self, emit: Callable[[Event], None]) -> _Held:
        if self._current is None:
            self._current = self._build(emit)
        return self._current

    def retire(self) -> None:
        """The next ``get`` builds a fresh object; this one stays referenced."""
        if self._current is not None:
            self._retired.append(self._current)
            self._current = None
