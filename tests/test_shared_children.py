"""Several scenarios in one sandbox child: boundaries, budgets, stopping rules and identical verdicts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.battery.runner import BatteryItem, battery_for, probe, request_for, run_item, run_shared
from conformance.checks.applicability import not_applicable
from conformance.checks.isolation import (
    FRESH_PROCESS_CHECKS,
    GROUP_SIZE,
    SOLO_CHECKS,
    leads_shared_child,
    plugin_may_share,
    shares_child,
)
from conformance.checks.judge import judge
from conformance.checks.model import PluginFacts, Status
from conformance.checks.registry import catalogue, checks_by_id
from conformance.pytest_face.prefetch import shared_chunks
from conformance.sandbox.client import SandboxClient
from conformance.scenario.events import Observed, ScenarioBoundary, ScenarioDone
from conformance.scenario.protocol import GroupRequest, Outcome, ScenarioRequest

NO_PLUGIN = "/nonexistent/plugin.so"


@pytest.fixture(scope="module")
def client() -> Iterator[SandboxClient]:
    sandbox = SandboxClient()
    yield sandbox
    sandbox.close()


def group(*requests: tuple[str, dict[str, Any]]) -> GroupRequest:
    return GroupRequest(tuple(ScenarioRequest(name, NO_PLUGIN, **kwargs) for name, kwargs in requests))


def shareable_at_v9(facts: PluginFacts) -> list[BatteryItem]:
    """The plugin's applicable items that may share a child, at host version 9."""
    return [
        item
        for item in battery_for(facts)
        if shares_child(item.check) and not_applicable(item.check, facts) is None and item.host_version == 9
    ]


def lone_runs(client: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The scenarios ``client`` will run in children of their own from now on, in order (filled as they run)."""
    names: list[str] = []
    run_alone = client.run

    def counted(request: ScenarioRequest, *args: Any, **kwargs: Any) -> Any:
        names.append(request.scenario)
        return run_alone(request, *args, **kwargs)

    monkeypatch.setattr(client, "run", counted)
    return names


def observed(result: Any, key: str) -> Any:
    return next(event.value for event in result.events if isinstance(event, Observed) and event.key == key)


def test_each_scenario_gets_its_own_result_events_and_output(client: SandboxClient) -> None:
    words = ["alpha", "beta", "gamma"]
    reply = client.run_group(group(*[("selftest.print-option", {"options": {"word": w}}) for w in words]))
    assert not reply.stopped and len(reply.results) == 3
    assert len({result.pid for result in reply.results}) == 1
    for word, result in zip(words, reply.results, strict=True):
        # The first is a run of its own (nothing ran before it in the child); the later ones shared it.
        assert result.outcome is Outcome.COMPLETED and result.shared_child == (word != "alpha")
        assert isinstance(result.events[-1], ScenarioDone)
        assert not any(isinstance(event, ScenarioBoundary) for event in result.events)
        assert result.stderr_tail.strip() == f"scenario says {word}"


def test_each_scenario_gets_fresh_host_callbacks_and_log_bridge(client: SandboxClient) -> None:
    reply = client.run_group(group(("selftest.host-state", {}), ("selftest.host-state", {})))
    first, second = reply.results
    assert observed(first, "pid") == observed(second, "pid")
    assert observed(first, "callbacks") != observed(second, "callbacks")
    assert observed(first, "bridge") != observed(second, "bridge")


def test_a_crash_ends_the_group_and_only_earlier_scenarios_have_results(client: SandboxClient) -> None:
    reply = client.run_group(group(("selftest.events", {}), ("selftest.segfault-in-call", {}), ("selftest.events", {})))
    assert len(reply.results) == 1 and reply.results[0].outcome is Outcome.COMPLETED
    assert "selftest.segfault-in-call" in reply.stopped and "SIGSEGV" in reply.stopped
    assert not reply.threads_outlived


def test_a_hang_ends_the_group_at_that_scenarios_budget(client: SandboxClient) -> None:
    reply = client.run_group(
        group(("selftest.events", {}), ("selftest.sleep-in-call", {"budget_scale": 0.2}), ("selftest.events", {}))
    )
    assert len(reply.results) == 1
    assert reply.stopped == "selftest.sleep-in-call ran past its budget"
    assert client.run(ScenarioRequest("selftest.events", NO_PLUGIN)).outcome is Outcome.COMPLETED


def test_a_corrupt_event_stream_ends_the_group_so_the_scenario_runs_alone(client: SandboxClient) -> None:
    reply = client.run_group(
        group(
            ("selftest.events", {}),
            ("selftest.forge-channel", {"options": {"forgery": "junk"}}),
            ("selftest.events", {}),
        )
    )
    assert len(reply.results) == 1 and reply.results[0].outcome is Outcome.COMPLETED
    assert reply.stopped == "selftest.forge-channel corrupted the event stream"


@pytest.mark.parametrize(
    ("scenario", "kwargs"),
    [
        ("selftest.segfault-in-call", {}),
        ("selftest.sleep-in-call", {"budget_scale": 0.2}),
        ("selftest.forge-channel", {"options": {"forgery": "junk"}}),
        ("selftest.exit", {}),
        ("selftest.abort", {}),
    ],
)
def test_a_child_ended_in_its_first_scenario_reports_it_as_a_lone_child_would(
    client: SandboxClient, scenario: str, kwargs: dict[str, Any]
) -> None:
    """The crash, hang, broken stream or exit of a child's first scenario is that scenario's run of its own:
    same outcome, signal, exit code, call in flight, events and stacks as the same request in a lone child."""
    reply = client.run_group(group((scenario, kwargs), ("selftest.events", {})))
    assert reply.first_ended_child and len(reply.results) == 1, reply
    first = reply.results[0]
    lone = client.run(ScenarioRequest(scenario, NO_PLUGIN, **kwargs))
    assert first.outcome is lone.outcome and first.outcome is not Outcome.COMPLETED
    assert not first.shared_child and not lone.shared_child
    assert (first.signal_name, first.exit_code, first.resource) == (lone.signal_name, lone.exit_code, lone.resource)
    assert (first.in_flight is None) == (lone.in_flight is None)
    if lone.in_flight is not None and first.in_flight is not None:
        assert first.in_flight.entry == lone.in_flight.entry
    assert [type(event).__name__ for event in first.events] == [type(event).__name__ for event in lone.events]
    assert bool(first.stacks) == bool(lone.stacks)


def test_a_child_that_outlives_its_first_scenario_with_threads_reports_its_exit_for_that_scenario(
    client: SandboxClient,
) -> None:
    reply = client.run_group(group(("selftest.leave-thread", {}), ("selftest.events", {})))
    lone = client.run(ScenarioRequest("selftest.leave-thread", NO_PLUGIN))
    assert reply.threads_outlived and not reply.first_ended_child
    assert (reply.results[0].outcome, reply.results[0].exit_code) == (lone.outcome, lone.exit_code)


def test_a_scenario_that_leaves_a_thread_ends_the_group_after_it(client: SandboxClient) -> None:
    reply = client.run_group(group(("selftest.leave-thread", {}), ("selftest.events", {})))
    assert len(reply.results) == 1 and reply.results[0].outcome is Outcome.COMPLETED
    assert reply.threads_outlived and "left 1 thread(s) running" in reply.stopped


def test_a_scenario_bug_is_a_harness_error_and_the_group_goes_on(client: SandboxClient) -> None:
    reply = client.run_group(group(("selftest.raise", {}), ("selftest.events", {})))
    assert [result.outcome for result in reply.results] == [Outcome.HARNESS_ERROR, Outcome.COMPLETED]


def test_checks_that_probe_crashes_hangs_or_the_whole_process_never_share() -> None:
    by_category: dict[str, set[bool]] = {}
    for check in catalogue():
        by_category.setdefault(check.category, set()).add(shares_child(check))
    for category in ("load", "lifecycle", "panics", "timeouts", "threading", "logging", "leaks"):
        assert by_category[category] == {False}, category
    assert by_category["wire-in"] == {True}
    assert set(SOLO_CHECKS) <= set(checks_by_id())


def test_plugins_that_crashed_or_hung_in_triage_share_children_too(fixture_so: Callable[[str], Path]) -> None:
    crashing = probe(fixture_so("c_null_content_type"))
    assert crashing.crashed and plugin_may_share(crashing)
    assert max(len(chunk) for chunk in shared_chunks(battery_for(crashing), crashing)) > 1
    wedging = probe(fixture_so("wedging"))
    assert wedging.wedged and plugin_may_share(wedging)
    assert max(len(chunk) for chunk in shared_chunks(battery_for(wedging), wedging)) > 1
    assert not any(
        leads_shared_child(chunk[0].check, wedging) for chunk in shared_chunks(battery_for(wedging), wedging)
    )
    conforming = probe(fixture_so("conforming_processor"))
    items = battery_for(conforming)
    chunks = shared_chunks(items, conforming)
    assert sorted(item.name for chunk in chunks for item in chunk) == sorted(item.name for item in items)
    sharing: dict[int, int] = {}
    leading: dict[int, int] = {}
    for item in items:
        if not_applicable(item.check, conforming) is None:
            if shares_child(item.check):
                sharing[item.host_version] = sharing.get(item.host_version, 0) + 1
            elif leads_shared_child(item.check, conforming):
                leading[item.host_version] = leading.get(item.host_version, 0) + 1
    assert leading, "no check that needs a fresh process applies to the conforming fixture"
    runs = [chunk for chunk in chunks if len(chunk) > 1]
    # As few children as GROUP_SIZE allows, or one for each check that needs a fresh process (each heads a run
    # as it would head a child of its own), per host version, in runs of near-equal length.
    assert len(runs) == sum(
        min(count, max(-(-count // GROUP_SIZE), leading.get(host, 0))) for host, count in sharing.items()
    )
    for chunk in runs:
        members = chunk[1:] if leads_shared_child(chunk[0].check, conforming) else chunk
        assert len(members) <= GROUP_SIZE and all(shares_child(item.check) for item in members)
        assert len({item.host_version for item in chunk}) == 1
        same_host = [
            len(run) - leads_shared_child(run[0].check, conforming)
            for run in runs
            if run[0].host_version == chunk[0].host_version
        ]
        assert max(same_host) - min(same_host) <= 1


def test_checks_that_need_a_fresh_process_lead_a_shared_child_never_follow() -> None:
    """They are lifecycle checks (which otherwise run alone), real, and never one of the sharing kind."""
    checks = checks_by_id()
    assert all(check_id in checks and not shares_child(checks[check_id]) for check_id in FRESH_PROCESS_CHECKS)


@pytest.mark.parametrize(
    "fixture",
    [
        "c_lazy_params",  # the defect shows only in a process where nothing was created before
        "conforming_processor",
        "params_unwrap",  # crashes on invalid params: the leader's crash ends the shared child
        pytest.param("c_params_lenient", marks=pytest.mark.slow),
        pytest.param("create_fails_null", marks=pytest.mark.slow),
        pytest.param("c_shared_handle", marks=pytest.mark.slow),
    ],
)
def test_a_check_leading_a_shared_child_gets_the_verdict_of_a_child_of_its_own(
    fixture: str, fixture_so: Callable[[str], Path], client: SandboxClient
) -> None:
    path = fixture_so(fixture)
    facts = probe(path)
    led = [
        chunk
        for chunk in shared_chunks(battery_for(facts), facts)
        if len(chunk) > 1 and leads_shared_child(chunk[0].check, facts)
    ]
    assert led
    shared = [run_shared(path, chunk, facts, client=client)[0] for chunk in led]
    alone = [run_item(path, chunk[0], facts, client=client) for chunk in led]
    assert [(r.id, r.status, r.message) for r in shared] == [(r.id, r.status, r.message) for r in alone]


def test_after_another_scenario_a_fresh_process_defect_is_not_seen(
    fixture_so: Callable[[str], Path], client: SandboxClient
) -> None:
    """Why a check that needs a fresh process only ever leads: c_lazy_params crashes on NULL params only at its
    first create. First in a shared child the check sees that crash; after a check that created a node it
    would pass."""
    path = fixture_so("c_lazy_params")
    facts = probe(path)
    items = {item.check.id: item for item in battery_for(facts) if item.host_version == 9}
    leader, other = items["lifecycle.create-null-params"], items["params.update-valid"]
    assert leads_shared_child(leader.check, facts) and shares_child(other.check)
    first = client.run_group(
        GroupRequest((request_for(path, leader, 1.0, facts), request_for(path, other, 1.0, facts)))
    )
    # The leader crashed the child before its boundary: its result is the crash, as in a child of its own.
    assert first.first_ended_child and first.results[0].outcome is Outcome.CRASHED, first
    lone = client.run(request_for(path, leader, 1.0, facts))
    assert judge(leader.check, first.results[0]).status is judge(leader.check, lone).status is Status.CRASH
    second = client.run_group(
        GroupRequest((request_for(path, other, 1.0, facts), request_for(path, leader, 1.0, facts)))
    )
    assert judge(leader.check, second.results[1]).status is Status.PASS


#: The developer loop compares a conforming and a failing fixture; the full run adds two more (a child per
#: item alone costs 2-4 s of CPU per fixture).
@pytest.mark.parametrize(
    "fixture",
    [
        "conforming_processor",
        "c_bad_errors",
        "wedge_update_params",  # hung in triage: its checks share a child, refused the wedged entry point
        "c_null_content_type",  # crashed in triage: a crash ends a shared child, the rest go on in another
        pytest.param("params_unwrap", marks=pytest.mark.slow),
        pytest.param("accepts_anything", marks=pytest.mark.slow),
    ],
)
def test_shared_and_lone_runs_give_the_same_verdicts(
    fixture: str, fixture_so: Callable[[str], Path], client: SandboxClient
) -> None:
    path = fixture_so(fixture)
    facts = probe(path)
    items = shareable_at_v9(facts)
    assert len(items) > GROUP_SIZE
    shared = run_shared(path, items, facts, client=client)
    alone = [run_item(path, item, facts, client=client) for item in items]
    assert [(r.id, r.status, r.message) for r in shared] == [(r.id, r.status, r.message) for r in alone]


def test_a_crash_in_a_childs_first_scenario_is_its_run_and_not_run_again(
    fixture_so: Callable[[str], Path], client: SandboxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """c_null_content_type crashed in triage and shares children: a check that crashes first in a child keeps
    that crash, with no run of its own after it; one that crashes later runs again alone."""
    path = fixture_so("c_null_content_type")
    facts = probe(path)
    items = shareable_at_v9(facts)
    results = run_shared(path, items, facts, client=client)
    crashing = [item for item, result in zip(items, results, strict=True) if result.status is Status.CRASH]
    passing = [item for item, result in zip(items, results, strict=True) if result.status is Status.PASS]
    assert len(crashing) > 1 and passing
    alone = lone_runs(client, monkeypatch)
    first, later = run_shared(path, [crashing[0], passing[0], crashing[-1]], facts, client=client)[::2]
    assert first.status is later.status is Status.CRASH
    assert alone == [crashing[-1].check.id]  # the later crash only (the passing one went on in a new child)


def test_a_skip_nothing_before_could_cause_stands_in_a_shared_child(
    fixture_so: Callable[[str], Path], client: SandboxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wedged entry point refused (a static skip) is not run again alone; every other non-pass is."""
    path = fixture_so("wedging")
    facts = probe(path)
    items = shareable_at_v9(facts)
    alone = lone_runs(client, monkeypatch)
    results = run_shared(path, items, facts, client=client)
    refused = [r for r in results if r.status is Status.SKIP and "did not return during triage" in r.message]
    assert refused, [(r.id, r.status, r.message) for r in results]
    assert not {r.check_id for r in refused} & set(alone)
    others = [r for r in results if r.status is not Status.PASS and r not in refused]
    assert {r.check_id for r in others} <= set(alone)
