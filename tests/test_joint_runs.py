"""Joint runs: checks that make the same calls judged from one child, with the verdicts of lone runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.battery.runner import BatteryItem, battery_for, probe, run_item, run_joint
from conformance.checks.applicability import not_applicable
from conformance.checks.entries import ENTRY_POINTS
from conformance.checks.isolation import shares_child
from conformance.checks.joint import PART_KEY, _families, family_of, joint_eligible, split_joint
from conformance.checks.model import PluginFacts, Status
from conformance.checks.registry import checks_by_id, lookup_scenario
from conformance.pytest_face.prefetch import joint_chunks
from conformance.sandbox.client import SandboxClient
from conformance.scenario.events import (
    CallFinished,
    CallStarted,
    Event,
    Expect,
    LogSeen,
    Observed,
    ScenarioDone,
    Violation,
)
from conformance.scenario.protocol import Outcome, SandboxResult, ScenarioRequest


@pytest.fixture(scope="module")
def client() -> Iterator[SandboxClient]:
    sandbox = SandboxClient()
    yield sandbox
    sandbox.close()


def part(index: int) -> Observed:
    return Observed(PART_KEY, index)


def completed(*events: Event) -> SandboxResult:
    return SandboxResult(Outcome.COMPLETED, events, 0.01)


def solo_items(facts: PluginFacts) -> list[BatteryItem]:
    return [
        item
        for item in battery_for(facts)
        if not shares_child(item.check) and not_applicable(item.check, facts) is None
    ]


def test_families_are_checks_that_run_alone_and_an_entry_points_panics_and_timeouts() -> None:
    checks = checks_by_id()
    for family in _families.values():
        assert len(family.members) >= 2
        for member in family.members:
            assert member in checks, f"{family.key} names {member}, which is no check"
            assert not shares_child(checks[member]), f"{member} may share a child: it needs no joint run"
            assert family_of(member) is family
    for entry in ENTRY_POINTS:
        entry_family = family_of(f"panics.{entry.slug}")
        assert entry_family is not None and entry_family.members == (f"panics.{entry.slug}", f"timeouts.{entry.slug}")
    assert family_of("logging.no-late-logs") is None  # it waits after the traffic: not the same calls
    assert family_of("load.symbols-resolve") is None  # it opens the library its own way


def test_a_joint_scenario_names_members_of_one_family_in_its_order() -> None:
    assert callable(lookup_scenario("joint:panics.flush,timeouts.flush"))
    for name in (
        "joint:timeouts.flush,panics.flush",  # out of order
        "joint:panics.flush,timeouts.tick",  # two families
        "joint:panics.flush",  # one member
        "joint:lifecycle.create-destroy,panics.flush",  # not a family's
    ):
        with pytest.raises(KeyError):
            lookup_scenario(name)


def test_each_member_sees_the_common_events_its_own_part_and_what_the_plugin_caused() -> None:
    late_log = LogSeen(1, "t", "late", "plugin-thread#9", None)
    breach = Violation("logging.level", "level 7")
    result = completed(
        CallStarted("dlopen", 1.0, "", "MainThread#1", 1),
        CallFinished("dlopen", 0.001, "", "MainThread#1"),
        part(0),
        Expect(True, "first member"),
        Observed("slowest_s", 0.1),
        late_log,
        part(1),
        Expect(True, "second member"),
        CallStarted("streamkit_native_plugin_api", 1.0, "", "MainThread#1", 1),
        CallFinished("streamkit_native_plugin_api", 0.0, "", "MainThread#1"),
        breach,
        ScenarioDone(),
    )
    first, second, third = split_joint(result, 3)
    assert third is None  # the child ended before it
    assert first is not None and second is not None
    common = [result.events[0], result.events[1]]
    assert list(first.events) == [
        *common,
        Expect(True, "first member"),
        Observed("slowest_s", 0.1),
        late_log,
        breach,
        ScenarioDone(),
    ]
    assert list(second.events) == [
        *common,
        late_log,
        Expect(True, "second member"),
        result.events[8],
        result.events[9],
        breach,
        ScenarioDone(),
    ]
    assert first.outcome is second.outcome is Outcome.COMPLETED


@pytest.mark.parametrize(
    "markers",
    [(part(1),), (part(0), part(0)), (part(0), part(2)), (Observed(PART_KEY, True),), (part(0), part(1), part(2))],
)
def test_parts_out_of_order_leave_every_member_to_a_run_of_its_own(markers: tuple[Observed, ...]) -> None:
    result = completed(*markers, Expect(True, "x"), ScenarioDone())
    assert split_joint(result, 2) == [None, None]


#: Conforming plugins, and plugins where one member of a family fails, warns or skips while the others pass.
@pytest.mark.parametrize(
    "fixture",
    [
        "conforming_processor",
        "v9_setter_ignored",  # logging.enabled-honoured warns
        "v9_no_log_setter",  # load.log-setter warns
        pytest.param("conforming_source", marks=pytest.mark.slow),
        pytest.param("accepts_anything", marks=pytest.mark.slow),  # logs nothing: logging.target-is-kind skips
    ],
)
def test_joint_and_lone_runs_give_the_same_verdicts(
    fixture: str, fixture_so: Callable[[str], Path], client: SandboxClient
) -> None:
    path = fixture_so(fixture)
    facts = probe(path)
    chunks = joint_chunks(solo_items(facts), facts)
    keys = {family.key for chunk in chunks if (family := family_of(chunk[0].check.id)) is not None}
    assert "load" in keys and any(key.startswith("entry:") for key in keys), keys
    for chunk in chunks:
        joint = run_joint(path, chunk, facts, client=client)
        alone = [run_item(path, item, facts, client=client) for item in chunk]
        assert [(r.id, r.status, r.message) for r in joint] == [(r.id, r.status, r.message) for r in alone]
        # Each member is shown the calls its own child makes: the prime's once, and its own part's.
        calls = [[r.evidence.get("call_count"), [c["entry"] for c in r.evidence.get("calls", [])]] for r in joint]
        assert calls == [
            [r.evidence.get("call_count"), [c["entry"] for c in r.evidence.get("calls", [])]] for r in alone
        ]


def test_a_member_that_does_not_pass_is_judged_by_a_run_of_its_own(
    fixture_so: Callable[[str], Path], client: SandboxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fixture_so("v9_setter_ignored")
    facts = probe(path)
    (chunk,) = [c for c in joint_chunks(solo_items(facts), facts) if c[0].check.id.startswith("logging.")]
    requests: list[str] = []
    run = client.run

    def counted(request: ScenarioRequest, *args: Any, **kwargs: Any) -> Any:
        requests.append(request.scenario)
        return run(request, *args, **kwargs)

    monkeypatch.setattr(client, "run", counted)
    results = run_joint(path, chunk, facts, client=client)
    assert requests[0] == "joint:" + ",".join(item.check.id for item in chunk)
    failing = {r.check_id for r in results if r.status is not Status.PASS}
    assert "logging.enabled-honoured" in failing
    assert set(requests[1:]) == failing  # each non-pass ran alone (and again, to tell flaky from failing)
    assert {r.check_id for r in results if r.status is Status.PASS} == {i.check.id for i in chunk} - failing


@pytest.mark.parametrize("fixture", ["wedging", "wedge_flush", "version10"])
def test_no_joint_runs_for_plugins_triage_saw_wedge_or_refuse(fixture: str, fixture_so: Callable[[str], Path]) -> None:
    facts = probe(fixture_so(fixture))
    assert not joint_eligible(facts)
    assert joint_chunks(solo_items(facts), facts) == []


@pytest.mark.parametrize("fixture", ["panicking_unguarded", "panic_flush"])
def test_plugins_that_crashed_in_triage_run_jointly_and_keep_their_crashes(
    fixture: str, fixture_so: Callable[[str], Path], client: SandboxClient
) -> None:
    """A joint run the crash ends keeps the parts before it; the crashing member and those after it run alone,
    so each crash is its own check's, as in a child of its own."""
    path = fixture_so(fixture)
    facts = probe(path)
    assert facts.crashed and joint_eligible(facts)
    for chunk in joint_chunks(solo_items(facts), facts):
        jointly = run_joint(path, chunk, facts, client=client)
        alone = [run_item(path, item, facts, client=client) for item in chunk]
        assert [(r.id, r.status) for r in jointly] == [(r.id, r.status) for r in alone]
