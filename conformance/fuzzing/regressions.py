"""Saved inputs that once failed, replayed by the tests forever."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conformance.fuzzing.paths import REGRESSION_DIR
from conformance.fuzzing.targets import TARGETS


@dataclass(frozen=True)
class Regression:
    """A saved input: ``fuzz/regressions/<target>/[<fixture>/]<name>``; intake inputs name their fixture."""

    target: str
    path: Path
    fixture: str | None = None

    @property
    def id(self) -> str:
        parts = [self.target] + ([self.fixture] if self.fixture else []) + [self.path.name]
        return "/".join(parts)


def regressions(target: str | None = None) -> list[Regression]:
    found = []
    for name in TARGETS if target is None else (target,):
        root = REGRESSION_DIR / name
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith(".") and path.suffix != ".md":
                fixture = path.parent.name if path.parent != root else None
                found.append(Regression(name, path, fixture))
    return found
