"""The fixture-corpus self-test: the battery over every fixture, compared with its expected.toml.

One battery run over the whole corpus feeds every test here: the release
gate's, in shards merged into one report directory (``corpus_gate_run`` in
conftest.py), which the gate's own tests read too. Deviations in either
direction fail, naming the fixture, the item, the expected and the actual status.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import GateRun

from conformance.checks.registry import catalogue
from conformance.corpus import (
    Expected,
    actual_statuses,
    compare,
    coverage,
    load_expected,
    load_header,
    matrix_markdown,
)
from conformance.fixtures import FIXTURE_ROOT, list_fixtures

BLOCKING = ("fail", "crash", "timeout", "error", "flaky")


@pytest.fixture(scope="module")
def corpus_reports(corpus_gate_run: GateRun) -> dict[str, dict[str, Any]]:
    """report.json per fixture, from the release gate's battery run over every fixture."""
    run = corpus_gate_run
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    reports = {}
    for info in list_fixtures():
        path = run.report_dir / info.name / "report.json"
        assert path.exists(), f"no report for {info.name}: {run.stdout[-2000:]}"
        reports[info.name] = json.loads(path.read_text())
    return reports


def test_every_fixture_has_expectations() -> None:
    missing = [info.name for info in list_fixtures() if not load_expected(info.name)]
    assert not missing, f"fixtures without expected.toml: {missing}"


@pytest.mark.slow
def test_matrix_matches_expectations(corpus_reports: dict[str, dict[str, Any]]) -> None:
    deviations = []
    for name, report in sorted(corpus_reports.items()):
        deviations += compare(name, load_expected(name), actual_statuses(report))
    assert not deviations, "the battery deviates from the expected matrix:\n" + "\n".join(map(str, deviations))


@pytest.mark.slow
def test_conforming_fixtures_pass_every_check(corpus_reports: dict[str, dict[str, Any]]) -> None:
    for info in list_fixtures():
        if not info.conforming:
            continue
        report = corpus_reports[info.name]
        not_passed = {e["id"]: e["status"] for e in report["checks"] if e["status"] not in ("pass", "skip")}
        assert report["verdict"] == "pass" and not not_passed, f"{info.name}: {not_passed}"


def _mentions(entry: dict[str, Any], text: str) -> bool:
    return text in entry["message"] or text in json.dumps(entry["evidence"])


@pytest.mark.slow
def test_each_defective_fixture_fails_for_its_own_reason(corpus_reports: dict[str, dict[str, Any]]) -> None:
    problems = []
    for info in list_fixtures():
        if info.conforming:
            continue
        header = load_header(info.name)
        if header.fuzz_only:
            continue  # found by plugin_intake (tests/test_fuzz_*), not by the battery's traffic
        assert header.evidence, f"{info.name}: expected.toml names no evidence for its defect"
        report = corpus_reports[info.name]
        if header.advisory:
            ok = report["verdict"] == "pass" and any(
                e["status"] == "warn" and _mentions(e, header.evidence) for e in report["checks"]
            )
        else:
            ok = report["verdict"] == "fail" and any(
                e["severity"] == "required" and e["status"] in BLOCKING and _mentions(e, header.evidence)
                for e in report["checks"]
            )
        if not ok:
            problems.append(
                f"{info.name}: no {'warning' if header.advisory else 'required failure'} mentions {header.evidence!r}"
            )
    assert not problems, "\n".join(problems)


def test_removing_any_detecting_check_fails_the_self_test() -> None:
    """For each check that some fixture fails: drop it from the battery and the comparison must object."""
    checks = [check.id for check in catalogue()]
    expectations = [(info, load_expected(info.name)) for info in list_fixtures()]
    undetected = []
    for check_id in checks:
        for info, expected in expectations:
            failing = {
                item: want
                for item, want in expected.items()
                if item.split("[", 1)[0] == check_id and want.status in BLOCKING
            }
            if not failing:
                continue
            # The actual run of a battery without this check: every other item as expected.
            actual = {item: (want.status, "") for item, want in expected.items() if item.split("[", 1)[0] != check_id}
            if not compare(info.name, expected, actual):
                undetected.append(f"{check_id} on {info.name}")
            break
    assert not undetected, f"removing these checks goes unnoticed: {undetected}"


def test_detection_coverage_of_required_checks() -> None:
    """Every required check has a fixture that fails it and one that passes it, or a written reason."""
    table = coverage({})
    lacking = []
    for check in catalogue():
        if check.severity.value != "required":
            continue
        entry = table.get(check.id, {"failing": [], "passing": []})
        if not entry["passing"]:
            lacking.append(f"{check.id}: no passing fixture")
        if not entry["failing"] and not check.no_failing_fixture:
            lacking.append(f"{check.id}: no failing fixture and no written reason")
    print(
        "\n".join(
            ["required checks without a failing fixture:"]
            + [
                f"  {c.id}: {c.no_failing_fixture}"
                for c in catalogue()
                if c.severity.value == "required" and not table.get(c.id, {}).get("failing")
            ]
        )
    )
    assert not lacking, "\n".join(lacking)


def test_fixture_readme_matrix_is_current() -> None:
    readme = (FIXTURE_ROOT / "README.md").read_text()
    marker = "## Expected-verdict matrix"
    assert marker in readme
    current = readme.split(marker, 1)[1].split("\n## ", 1)[0]
    generated = "\n\n" + matrix_markdown([c.id for c in catalogue()])
    assert current.strip() == generated.strip(), (
        "fixture_plugins/README.md is stale: run `python -m conformance.corpus readme` to regenerate it"
    )


def test_expected_statuses_are_known_words() -> None:
    allowed = {"pass", "fail", "warn", "skip", "crash", "timeout", "error", "flaky"}
    for info in list_fixtures():
        for item, want in load_expected(info.name).items():
            assert isinstance(want, Expected) and want.status in allowed, f"{info.name}: {item}: {want.status}"
            if want.status != "pass":
                assert want.reason, f"{info.name}: {item} is {want.status} without a reason"
