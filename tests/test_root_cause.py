"""Issue 15, class 1: a crash in triage no longer hides the checks that name the broken rule.

Triage that saw process_packet crash used to skip every other check calling
it. Now they run (each in a child of its own), the crashing ordinary packet
is minimised field by field against variants that pass, and the report names
the narrowest failing checks as the likely root cause.

The sandbox tests here are in the developer loop (not ``slow``): together about
2 s of CPU, and the only proof of the root-cause analysis.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.abi.constants import PacketType
from conformance.battery.runner import battery_for, probe, run_item
from conformance.checks.isolation import plugin_may_share
from conformance.checks.minimise import MAX_PROBES, field_variants
from conformance.checks.registry import checks_by_id
from conformance.host.wire import RawAudio, RawBinaryMeta, RawBytes, RawText, RawWire
from conformance.report.rootcause import root_cause
from conformance.report.schema import report_schema
from conformance.sandbox.client import SandboxClient


@pytest.fixture(scope="module")
def client() -> Iterator[SandboxClient]:
    sandbox = SandboxClient()
    yield sandbox
    sandbox.close()


# -- the variants (pure) -------------------------------------------------------


def test_a_null_content_type_is_flipped_to_set_first() -> None:
    wire = RawWire(PacketType.BINARY_WITH_META, RawBinaryMeta(b"bytes"))
    variants = field_variants(wire, 9)
    assert variants[0].crashing == "content_type is NULL" and variants[0].passing == "content_type set"
    changed = variants[0].wire.payload
    assert isinstance(changed, RawBinaryMeta) and changed.content_type and changed.data == b"bytes"
    assert [v.name for v in variants] == ["content_type-set", "metadata-set", "data-empty"]


def test_variants_stay_legal_for_the_plugin_version() -> None:
    plain = RawWire(PacketType.BINARY, RawBytes(b"abc"))
    assert "as-binary-with-meta" not in [v.name for v in field_variants(plain, 6)]  # v6 never gets type 10
    assert "as-binary-with-meta" in [v.name for v in field_variants(plain, 8)]
    meta = RawWire(PacketType.BINARY_WITH_META, RawBinaryMeta(b"abc"))
    assert "as-binary" not in [v.name for v in field_variants(meta, 9)]  # v9 never gets type 5
    audio = field_variants(RawWire(PacketType.RAW_AUDIO, RawAudio(samples=(0.5,))), 9)
    assert {v.name for v in audio} == {"metadata-set", "samples-empty"}
    assert [v.passing for v in field_variants(RawWire(PacketType.TEXT, RawText(b"")), 9)] == ["non-empty text"]


# -- the root cause (pure) -----------------------------------------------------


def _check(check_id: str, status: str, detail: str = "", **evidence: Any) -> dict[str, Any]:
    return {
        "id": check_id,
        "check_id": check_id,
        "category": check_id.split(".", 1)[0],
        "status": status,
        "evidence": {"in_flight": {"entry": "process_packet", "detail": detail}, **evidence},
    }


def test_root_cause_prefers_the_narrow_check_that_names_the_field() -> None:
    difference = {
        "packet": "BinaryPacket on pin 'in'",
        "sentence": "crashes when content_type is NULL; passes with content_type set",
        "passes_with": ["content_type set"],
    }
    checks = [
        _check("wire-in.binary.plain", "crash", "binary.plain on pin 'in'"),
        _check("wire-in.binary-with-meta.null-meta", "crash", "binary-with-meta.null-meta on pin 'in'"),
        _check("wire-out.decodes", "crash", "BinaryPacket on pin 'in'"),
        _check("panics.process-packet", "crash", "BinaryPacket on pin 'in'", crash_difference=difference),
        _check("wire-in.text.ascii", "pass"),
    ]
    rationales = {check_id: check.rationale for check_id, check in checks_by_id().items()}
    cause = root_cause(checks, rationales)
    assert cause is not None
    assert cause["checks"] == ["wire-in.binary-with-meta.null-meta", "wire-in.binary.plain", "panics.process-packet"]
    assert cause["difference"] == difference["sentence"]
    assert cause["failing"] == 4 and difference["sentence"] in cause["summary"]


def test_when_no_field_matters_the_entry_points_panics_check_comes_first() -> None:
    difference = {
        "packet": "TextPacket on pin 'in'",
        "sentence": "crashes whatever field is changed",
        "passes_with": [],
        "still_crashes_with": ["empty text"],
    }
    checks = [
        _check("wire-in.text.ascii", "crash", "text.ascii on pin 'in'"),
        _check("panics.process-packet", "crash", "TextPacket on pin 'in'", crash_difference=difference),
    ]
    cause = root_cause(checks, {})
    assert cause is not None and cause["checks"] == ["panics.process-packet", "wire-in.text.ascii"]


def test_a_crash_while_getting_started_is_not_narrow() -> None:
    """Every check creates an instance: when create_instance crashes, the lifecycle checks say it best."""
    checks = [
        {**_check("wire-in.text.ascii", "crash"), "evidence": {"in_flight": {"entry": "create_instance"}}},
        {**_check("lifecycle.create-null-params", "crash"), "evidence": {"in_flight": {"entry": "create_instance"}}},
        {**_check("panics.create-instance", "crash"), "evidence": {"in_flight": {"entry": "create_instance"}}},
    ]
    cause = root_cause(checks, {})
    assert cause is not None
    assert cause["checks"] == ["lifecycle.create-null-params", "panics.create-instance", "wire-in.text.ascii"]


def test_the_root_cause_matches_the_report_schema() -> None:
    jsonschema = importlib.import_module("jsonschema")  # no type stubs
    schema = report_schema()
    checks = [
        _check("wire-in.text.ascii", "crash", "text.ascii on pin 'in'", fault={"explanation": "wrote into x"}),
        _check("panics.process-packet", "crash", "TextPacket on pin 'in'"),
    ]
    cause = root_cause(checks, {})
    assert cause is not None and cause["fault"] == "wrote into x" and cause["difference"] is None
    root = {"$defs": schema["$defs"], **schema["$defs"]["root_cause"]}
    jsonschema.Draft202012Validator(root).validate(cause)


def test_no_root_cause_for_a_single_crash() -> None:
    checks = [_check("callbacks.alloc-null-result", "crash"), _check("wire-in.text.ascii", "fail")]
    assert root_cause(checks, {}) is None


# -- in the sandbox, on the class-1 fixtures -----------------------------------


def test_crashed_entry_points_are_still_checked_alone(fixture_so: Callable[[str], Path], client: SandboxClient) -> None:
    path = fixture_so("c_null_content_type")
    facts = probe(path, client=client)
    assert dict(facts.crashed).get("process_packet", "").endswith("BinaryPacket on pin 'in'")
    assert plugin_may_share(facts)  # its checks share children; a crash in one is still that check's own
    items = {item.name: item for item in battery_for(facts)}
    narrow = run_item(path, items["wire-in.binary-with-meta.null-meta"], facts, client=client)
    assert narrow.status == "crash" and "not run" not in narrow.message
    text = run_item(path, items["wire-in.text.ascii"], facts, client=client)
    assert text.status == "pass"
    # Wedges still skip: each would cost a whole budget.
    wedging = probe(fixture_so("wedge_flush"), client=client)
    flush_items = {item.name: item for item in battery_for(wedging)}
    skipped = run_item(fixture_so("wedge_flush"), flush_items["panics.flush"], wedging, client=client)
    assert skipped.status == "skip" and "did not return during triage" in skipped.message


def test_the_crashing_packet_is_minimised_to_the_field(
    fixture_so: Callable[[str], Path], client: SandboxClient
) -> None:
    path = fixture_so("c_null_content_type")
    facts = probe(path, client=client)
    difference = facts.crash_difference
    assert "crashes when content_type is NULL; passes with content_type set" in difference["sentence"]
    assert difference["passes_with"] == ["content_type set"] and difference["probes"] <= MAX_PROBES
    items = {item.name: item for item in battery_for(facts)}
    result = run_item(path, items["panics.process-packet"], facts, client=client)
    assert result.status == "crash" and "crashes when content_type is NULL" in result.message
    assert result.evidence["crash_difference"] == difference


def test_a_pre_v6_signature_is_named_from_the_fault(fixture_so: Callable[[str], Path], client: SandboxClient) -> None:
    path = fixture_so("c_v6_positional")
    facts = probe(path, client=client)
    assert "the packet's content is not the cause" in facts.crash_difference["sentence"]
    items = {item.name: item for item in battery_for(facts)}
    result = run_item(path, items["panics.process-packet"], facts, client=client)
    assert result.status == "crash"
    assert "called the CNodeCallbacks pointer as a function" in result.message
    assert result.evidence["fault"]["access"] == "exec"


def test_a_null_alloc_result_written_through_is_named(fixture_so: Callable[[str], Path], client: SandboxClient) -> None:
    path = fixture_so("c_alloc_null_deref")
    facts = probe(path, client=client)
    assert not facts.crashed  # with a pool, ordinary traffic works
    items = {item.name: item for item in battery_for(facts)}
    result = run_item(path, items["callbacks.alloc-null-result"], facts, client=client)
    assert result.status == "crash" and "wrote through a NULL pointer" in result.message
    assert run_item(path, items["callbacks.pool-returned-once"], facts, client=client).status == "pass"
