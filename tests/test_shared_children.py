"""Several scenarios in one sandbox child: boundaries, budgets, stopping rules and identical verdicts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.battery.runner import battery_for, probe, run_item, run_shared
from conformance.checks.applicability import not_applicable
from conformance.checks.isolation import GROUP_SIZE, SOLO_CHECKS, plugin_may_share, shares_child
from conformance.checks.model import Status
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


def observed(result: Any, key: str) -> Any:
    return next(event.value for event in result.events if isinstance(event, Observed) and event.key == key)


def test_each_scenario_gets_its_own_result_events_and_output(client: SandboxClient) -> None:
    words = ["alpha", "beta", "gamma"]
    reply = client.run_group(group(*[("selftest.print-option", {"options": {"word": w}}) for w in words]))
    assert not reply.stopped and len(reply.results) == 3
    assert len({result.pid for result in reply.results}) == 1
    for word, result in zip(words, reply.results, strict=True):
        assert result.outcome is Outcome.COMPLETED and result.shared_child
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


def test_plugins_that_crashed_in_triage_get_a_child_per_check(fixture_so: Callable[[str], Path]) -> None:
    crashing = probe(fixture_so("c_null_content_type"))
    assert crashing.crashed and not plugin_may_share(crashing)
    assert all(len(chunk) == 1 for chunk in shared_chunks(battery_for(crashing), crashing))
    wedging = probe(fixture_so("wedging"))
    assert wedging.wedged and plugin_may_share(wedging)
    assert max(len(chunk) for chunk in shared_chunks(battery_for(wedging), wedging)) > 1
    conforming = probe(fixture_so("conforming_processor"))
    items = battery_for(conforming)
    chunks = shared_chunks(items, conforming)
    assert sorted(item.name for chunk in chunks for item in chunk) == sorted(item.name for item in items)
    sharing: dict[int, int] = {}
    for item in items:
        if shares_child(item.check) and not_applicable(item.check, conforming) is None:
            sharing[item.host_version] = sharing.get(item.host_version, 0) + 1
    runs = [chunk for chunk in chunks if len(chunk) > 1]
    # As few children as GROUP_SIZE allows, per host version, in runs of near-equal length.
    assert len(runs) == sum(-(-count // GROUP_SIZE) for count in sharing.values())
    for chunk in runs:
        assert len(chunk) <= GROUP_SIZE and all(shares_child(item.check) for item in chunk)
        assert len({item.host_version for item in chunk}) == 1
        same_host = [len(run) for run in runs if run[0].host_version == chunk[0].host_version]
        assert max(same_host) - min(same_host) <= 1


#: The developer loop compares a conforming and a failing fixture; the full run adds two more (a child per
#: item alone costs 2-4 s of CPU per fixture).
@pytest.mark.parametrize(
    "fixture",
    [
        "conforming_processor",
        "c_bad_errors",
        "wedge_update_params",  # hung in triage: its checks share a child, refused the wedged entry point
        pytest.param("params_unwrap", marks=pytest.mark.slow),
        pytest.param("accepts_anything", marks=pytest.mark.slow),
    ],
)
def test_shared_and_lone_runs_give_the_same_verdicts(
    fixture: str, fixture_so: Callable[[str], Path], client: SandboxClient
) -> None:
    path = fixture_so(fixture)
    facts = probe(path)
    items = [
        item
        for item in battery_for(facts)
        if shares_child(item.check) and not_applicable(item.check, facts) is None and item.host_version == 9
    ]
    assert len(items) > GROUP_SIZE
    shared = run_shared(path, items, facts, client=client)
    alone = [run_item(path, item, facts, client=client) for item in items]
    assert [(r.id, r.status, r.message) for r in shared] == [(r.id, r.status, r.message) for r in alone]


def test_a_skip_nothing_before_could_cause_stands_in_a_shared_child(
    fixture_so: Callable[[str], Path], client: SandboxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wedged entry point refused (a static skip) is not run again alone; every other non-pass is."""
    path = fixture_so("wedging")
    facts = probe(path)
    items = [
        item
        for item in battery_for(facts)
        if shares_child(item.check) and not_applicable(item.check, facts) is None and item.host_version == 9
    ]
    alone: list[str] = []
    run_alone = client.run

    def counted(request: ScenarioRequest, *args: Any, **kwargs: Any) -> Any:
        alone.append(request.scenario)
        return run_alone(request, *args, **kwargs)

    monkeypatch.setattr(client, "run", counted)
    results = run_shared(path, items, facts, client=client)
    refused = [r for r in results if r.status is Status.SKIP and "did not return during triage" in r.message]
    assert refused, [(r.id, r.status, r.message) for r in results]
    assert not {r.check_id for r in refused} & set(alone)
    others = [r for r in results if r.status is not Status.PASS and r not in refused]
    assert {r.check_id for r in others} <= set(alone)
