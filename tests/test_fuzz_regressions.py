"""Replays every minimised fuzz finding in fuzz/regressions/ (no atheris needed).

Why: a finding that was fixed must stay fixed. Wire and metadata inputs go
through their target's ``test_one_input`` in this process. Plugin-intake
inputs (``fuzz/regressions/plugin_intake/<fixture>/``) replay in the sandbox
against the fixture they were found on -- expected to fail (strict xfail)
while that fixture is the defective one it is meant to be -- and against
every conforming fixture, which must pass them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.fixtures import list_fixtures
from conformance.fuzzing.findings import FuzzFinding
from conformance.fuzzing.intake_runner import IntakeRunner
from conformance.fuzzing.regressions import Regression, regressions
from conformance.fuzzing.targets import load_target

IN_PROCESS = [case for case in regressions() if case.target != "plugin_intake"]
INTAKE = regressions("plugin_intake")
CONFORMING = [info.name for info in list_fixtures() if info.conforming and info.kind != "none"]
DEFECTIVE = {info.name for info in list_fixtures() if not info.conforming}


@pytest.fixture(scope="module")
def runners() -> Iterator[dict[str, IntakeRunner]]:
    """One profiled runner (and warm sandbox) per fixture, shared by the module's tests."""
    cache: dict[str, IntakeRunner] = {}
    yield cache
    for runner in cache.values():
        runner.close()


def _runner(cache: dict[str, IntakeRunner], fixture: str) -> IntakeRunner:
    if fixture not in cache:
        cache[fixture] = IntakeRunner(fixture)
    return cache[fixture]


def test_regressions_exist() -> None:
    assert INTAKE, "the fuzz_crasher finding must be kept in fuzz/regressions/plugin_intake/"
    assert all(case.fixture for case in INTAKE), "plugin_intake regressions live in a directory named after the fixture"


def test_in_process_regressions() -> None:
    """wire_decode, wire_roundtrip and metadata_decode findings (none has been found in the real code yet)."""
    failures = []
    for case in IN_PROCESS:
        try:
            load_target(case.target).test_one_input(case.path.read_bytes())
        except FuzzFinding as finding:
            failures.append(f"{case.id}: {finding.signature}")
    assert not failures, "\n".join(failures)


def _intake_params() -> list[object]:
    params: list[object] = []
    for case in INTAKE:
        assert case.fixture is not None
        marks = []
        if case.fixture in DEFECTIVE:
            marks.append(
                pytest.mark.xfail(
                    raises=FuzzFinding, strict=True, reason=f"{case.fixture} still has the defect this input finds"
                )
            )
        params.append(pytest.param(case, case.fixture, marks=marks, id=f"{case.id}@{case.fixture}"))
        for fixture in CONFORMING:
            params.append(pytest.param(case, fixture, id=f"{case.id}@{fixture}"))
    return params


@pytest.mark.parametrize(("case", "fixture"), _intake_params())
def test_intake_regression(case: Regression, fixture: str, runners: dict[str, IntakeRunner]) -> None:
    _runner(runners, fixture).check(case.path.read_bytes())


def test_crasher_regression_names_the_crash(runners: dict[str, IntakeRunner]) -> None:
    """The xfail above must fail for the right reason: the fixture's SIGSEGV, not any finding."""
    case = next(case for case in INTAKE if case.fixture == "fuzz_crasher")
    with pytest.raises(FuzzFinding) as caught:
        _runner(runners, "fuzz_crasher").check(case.path.read_bytes())
    assert caught.value.signature == "fuzz_crasher: crashed with SIGSEGV in process_packet"
    assert "TextPacket" in caught.value.detail
