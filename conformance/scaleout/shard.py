"""Which plugins one CI runner checks when a run is split ``--shard I/N`` over N runners.

The split is by plugin (a plugin's checks share a probe and fork servers, so
splitting inside one would probe it twice) and deterministic: every runner
computes the same assignment from the same plugin list, without talking to
the others. Without durations the plugins, sorted by label, are dealt out in
turn. With the report directory of an earlier run, each plugin's measured
time (the sum of its checks' durations) is known and the plugins are placed
longest first on the shard with the least work so far, which keeps the
slowest runner close to the mean when a few plugins wedge and take seconds
per check. A plugin the earlier run did not see counts as the mean.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ValueError):
    """A shard specification or durations source the tool cannot use; one line for the user."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``, counted from 1 as CI matrices number their jobs."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str, source: str = "--shard") -> Shard:
        match = _SPEC.match(text)
        if match is None:
            raise ShardError(f"shard {text!r} from {source} is not of the form I/N (for example 2/3)")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or not 1 <= index <= count:
            raise ShardError(f"shard {text!r} from {source}: I must be between 1 and N, and N at least 1")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def pick(
        self, plugins: Sequence[Path], label: Callable[[Path], str], durations: Mapping[str, float] | None = None
    ) -> list[Path]:
        """The plugins of this shard, in the order they were given; ``label`` names a plugin as reports do."""
        chosen = set(assign(plugins, self.count, label, durations or {})[self.index - 1])
        return [plugin for plugin in plugins if plugin in chosen]


def assign(
    plugins: Sequence[Path], count: int, label: Callable[[Path], str], durations: Mapping[str, float]
) -> list[list[Path]]:
    """All ``count`` shards at once: what ``Shard.pick`` chooses from, and what a test can compare."""
    ordered = sorted(plugins, key=lambda path: (label(path), str(path)))
    shards: list[list[Path]] = [[] for _ in range(count)]
    known = [durations[label(path)] for path in ordered if label(path) in durations]
    if not known:
        for position, plugin in enumerate(ordered):
            shards[position % count].append(plugin)
        return shards
    mean = sum(known) / len(known)
    cost = {path: durations.get(label(path), mean) for path in ordered}
    load = [0.0] * count
    # Longest first onto the least-loaded shard; ties go to the lower shard, so the result is deterministic.
    for plugin in sorted(ordered, key=lambda path: -cost[path]):
        target = min(range(count), key=lambda shard: (load[shard], shard))
        shards[target].append(plugin)
        load[target] += cost[plugin]
    return shards


def durations_from_reports(report_dir: Path) -> dict[str, float]:
    """Seconds per plugin label, from every ``<label>/report.json`` of an earlier (or merged) run."""
    if not report_dir.is_dir():
        raise ShardError(f"shard durations: {report_dir} is not a report directory of an earlier run")
    durations: dict[str, float] = {}
    for path in sorted(report_dir.glob("*/report.json")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            seconds = sum(float(check.get("duration_s") or 0.0) for check in report["checks"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged report only loses its plugin's weight; the split stays deterministic
        durations[path.parent.name] = seconds
    return durations
