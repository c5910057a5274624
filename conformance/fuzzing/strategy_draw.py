"""Values of the shared Hypothesis strategies driven by fuzzer bytes.

Imports Hypothesis: only the intake planner and the targets that draw load
this, never the sandbox's fork server.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy

T = TypeVar("T")

#: Zero bytes appended to a Hypothesis draw's buffer: zeros make Hypothesis choose its simplest
#: values, so a short input completes instead of being rejected as an overrun.
DRAW_PADDING = 1024
#: Draws remembered per strategy. A Hypothesis draw costs 1-12 ms (most of a plan's cost); a fuzzer
#: mutates one place of an input at a time, so the other chunks of a plan are ones it drew before.
CACHE_ENTRIES = 8192


class StrategyDraw(Generic[T]):
    """One value of a Hypothesis strategy per byte string, via the public ``fuzz_one_input``.

    The strategies are the one shared definition of malformed packets, params
    and hints; this is the sanctioned way to drive them from raw bytes. The
    mapping depends on the Hypothesis version (as its docs say), which only
    matters for saved inputs: regressions store the *decoded* case in their
    failure message, and corpora are only seeds.
    """

    def __init__(self, strategy: SearchStrategy[T]) -> None:
        self._box: list[T] = []

        @settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
        @given(strategy)
        def capture(value: T) -> None:
            self._box.append(value)

        self._fuzz = capture.hypothesis.fuzz_one_input  # type: ignore[attr-defined]
        self._seen: dict[bytes, T | None] = {}

    def __call__(self, data: bytes) -> T | None:
        """The value ``data`` selects, or None when the strategy rejects it (filters).

        The same bytes always select the same value, so a value is drawn once and remembered (the values
        are immutable: frozen dataclasses and bytes)."""
        key = bytes(data)
        if key in self._seen:
            return self._seen[key]
        self._box.clear()
        self._fuzz(key + bytes(DRAW_PADDING))
        value = self._box[0] if self._box else None
        if len(self._seen) >= CACHE_ENTRIES:
            self._seen.clear()
        self._seen[key] = value
        return value
