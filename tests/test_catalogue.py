"""The catalogue as data: ids are stable, every check is documented and exercised."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.abi.constants import PacketType
from conformance.checks import registry
from conformance.checks.model import CATEGORIES, Needs, PluginFacts
from conformance.checks.registry import catalogue, check
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
    for item in catalogue():
        assert item.category in CATEGORIES, item.id
        assert item.abi_ref and ("ABI.md" in item.abi_ref or "HOST.md" in item.abi_ref), item.id
        assert len(item.rationale) > 40, item.id
        assert item.budget_s > 0, item.id


def test_every_check_is_exercised_by_the_corpus() -> None:
    ran: set[str] = set()
    for info in list_fixtures():
        for item, expected in load_expected(info.name).items():
            if expected.status != "skip":
                ran.add(item.split("[", 1)[0])
    never = [c.id for c in catalogue() if c.id not in ran]
    assert not never, f"checks that no fixture runs: {never}"


def test_the_catalogue_follows_the_category_order() -> None:
    ranks = [CATEGORIES.index(c.category) for c in catalogue()]
    assert ranks == sorted(ranks)
    assert set(CATEGORIES) == {c.category for c in catalogue()}, "a declared category without checks"


def test_a_declaration_names_a_known_category() -> None:
    with pytest.raises(ValueError, match="does not start with a category"):
        check("memory.heap", abi_ref="ABI.md 4.9", rationale="a category nobody declared")
    with pytest.raises(ValueError, match="does not start with a category"):
        check("leaks", abi_ref="ABI.md 4.9", rationale="a category without a name")


def test_needs_are_checked_when_declared() -> None:
    with pytest.raises(ValueError, match="optional entry"):
        Needs(entry="tik")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="PacketType"):
        Needs(accepts=10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="language"):
        Needs(language="go")  # type: ignore[arg-type]


def test_needs_list_as_names_and_skip_on_the_first_missing() -> None:
    needs = Needs(accepts=PacketType.BINARY_WITH_META, language="c")
    assert list(needs) == ["accepts:10", "c"]
    text_only = PluginFacts(loadable=True, input_pins=(("in", (int(PacketType.TEXT),)),), language="rust")
    assert needs.missing(text_only) == "no input pin accepts BinaryWithMeta (type 10) packets"
    binary = PluginFacts(loadable=True, input_pins=(("in", (int(PacketType.BINARY),)),), language="rust")
    assert needs.missing(binary) == "a Rust plugin (zero-copy handles are Rust objects there)"
    assert needs.missing(PluginFacts(loadable=True, input_pins=(("in", (int(PacketType.ANY),)),))) is None
    assert Needs(entry="tick").missing(PluginFacts(loadable=True)) == "the table has no tick"
    assert Needs().missing(PluginFacts(loadable=True)) is None


def test_a_module_imported_again_after_an_interrupted_import_replaces_its_checks() -> None:
    """An import cut short (a signal mid-way) leaves its first checks registered and Python forgets the module;
    the retry declares them again and must replace them, while two modules declaring one id stay an error."""

    def scenario(_ctx: object) -> None:
        return None

    check_id = "metadata.zz-registry-self-test"
    before = list(registry._registered)
    try:
        registry.check(check_id, abi_ref="-", rationale="-")(scenario)
        registry.check(check_id, abi_ref="-", rationale="again")(scenario)
        mine = [entry for entry in registry._registered if entry.id == check_id]
        assert [entry.rationale for entry in mine] == ["again"]

        def elsewhere(_ctx: object) -> None:
            return None

        elsewhere.__module__ = "conformance.checks.some_other_module"
        with pytest.raises(ValueError, match="duplicate check id"):
            registry.check(check_id, abi_ref="-", rationale="-")(elsewhere)
    finally:
        registry._registered[:] = before
        registry._registered_ids.pop(check_id, None)
