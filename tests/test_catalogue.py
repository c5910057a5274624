"""The catalogue as data: ids are stable, every check is documented and exercised."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conformance.checks.model import CATEGORIES
from conformance.checks.registry import catalogue
from conformance.checks.snapshot import snapshot
from conformance.corpus import load_expected
from conformance.fixtures import list_fixtures

SNAPSHOT = Path(__file__).parent / "data" / "catalogue.json"
ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$")


def test_catalogue_matches_the_committed_snapshot() -> None:
    committed = json.loads(SNAPSHOT.read_text())
    current = snapshot()
    added = sorted({c["id"] for c in current} - {c["id"] for c in committed})
    removed = sorted({c["id"] for c in committed} - {c["id"] for c in current})
    assert current == committed, (
        f"the check catalogue changed (added {added}, removed {removed}, or a category/severity/order moved); "
        "check ids are public API: if intended, run `python -m conformance.checks.snapshot > tests/data/catalogue.json`"
    )


def test_at_least_120_checks_with_unique_well_formed_ids() -> None:
    checks = catalogue()
    ids = [c.id for c in checks]
    assert len(ids) >= 120
    assert len(set(ids)) == len(ids)
    bad = [i for i in ids if not ID_PATTERN.match(i)]
    assert not bad, bad


def test_every_check_is_documented() -> None:
    for check in catalogue():
        assert check.category in CATEGORIES, check.id
        assert check.abi_ref and ("ABI.md" in check.abi_ref or "HOST.md" in check.abi_ref), check.id
        assert len(check.rationale) > 40, check.id
        assert check.budget_s > 0, check.id


def test_every_check_is_exercised_by_the_corpus() -> None:
    ran: set[str] = set()
    for info in list_fixtures():
        for item, expected in load_expected(info.name).items():
            if expected.status != "skip":
                ran.add(item.split("[", 1)[0])
    never = [c.id for c in catalogue() if c.id not in ran]
    assert not never, f"checks that no fixture runs: {never}"
