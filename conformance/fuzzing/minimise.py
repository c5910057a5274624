"""Shrinking a finding to a smaller input that fails the same way."""

from __future__ import annotations

from collections.abc import Callable

from conformance.fuzzing.findings import finding_of


def minimise(
    check: Callable[[bytes], None],
    data: bytes,
    *,
    segments: Callable[[bytes], list[tuple[int, int]]] | None = None,
    max_runs: int = 2000,
) -> tuple[bytes, str]:
    """A smaller input that fails the same way (same signature).

    Steps: drop whole ``segments`` (an intake's operations), drop ever
    smaller slices (ddmin), cut the tail (missing bytes read as zero, so a
    prefix is always a complete input), then zero single bytes. libFuzzer's
    ``-minimize_crash`` mutates at random instead and rarely keeps a
    structured input failing.
    """
    signature = finding_of(check, data)
    if signature is None:
        raise ValueError("the input does not fail: nothing to minimise")
    runs = 0

    def same(candidate: bytes) -> bool:
        nonlocal runs
        runs += 1
        return runs <= max_runs and finding_of(check, candidate) == signature

    current = bytes(data)
    if segments is not None:
        for start, end in reversed(segments(current)):
            if same(current[:start] + current[end:]):
                current = current[:start] + current[end:]
    parts = 2
    while len(current) > 1 and runs < max_runs:
        size = -(-len(current) // parts)
        for start in range(0, len(current), size):
            if same(current[:start] + current[start + size :]):
                current, parts = current[:start] + current[start + size :], max(parts - 1, 2)
                break
        else:
            if parts >= len(current):
                break
            parts = min(parts * 2, len(current))
    while current and same(current[:-1]):
        current = current[:-1]
    for index in range(len(current)):
        if current[index] and same(current[:index] + b"\0" + current[index + 1 :]):
            current = current[:index] + b"\0" + current[index + 1 :]
    return current, signature
