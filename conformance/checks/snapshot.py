"""The catalogue snapshot: ids, categories and severities as committed data.

Check ids are public API (baselines, expected matrices, CI filters use them):
``tests/test_catalogue.py`` fails when the catalogue and the snapshot differ,
so adding, removing or renaming a check is always a visible, reviewed change.
Regenerate with ``python -m conformance.checks.snapshot > tests/data/catalogue.json``.
"""

from __future__ import annotations

import json
from typing import Any

from conformance.checks.registry import catalogue


def snapshot() -> list[dict[str, Any]]:
    return [{"id": c.id, "category": c.category, "severity": c.severity.value} for c in catalogue()]


if __name__ == "__main__":
    print(json.dumps(snapshot(), indent=1))
