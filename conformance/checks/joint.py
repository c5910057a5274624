"""Joint runs: checks that make the same calls into the plugin, judged from one sandbox child.

Some checks that run alone (``checks.isolation``) differ in what they conclude, not in what they do:
the ``panics`` and ``timeouts`` checks of an entry point drive it with the same ordinary traffic (one
watches the process survive it, the other the clock); four ``logging`` checks read the records of the
same traffic; six ``load`` checks load the library and read what it exports. Each of them gets those
calls through ``ScenarioContext.once`` under its family's key, so in a child of its own it makes them
once, and in a joint run the family's ``prime`` makes them once for every member before each member's
own scenario runs and finds them made.

Why a member's verdict is the one a child of its own gives:

* the plugin meets the same calls, in a fresh process, as in the member's own child: the prime's,
  then scenario code that only reads their results (the one member that calls the plugin again,
  ``load.entry-symbol``, is declared last, so no other member is judged after it);
* the member is judged on everything its own child could show it: the events before the first
  member, the events of its own part, and whatever the plugin caused at any point (logs, breaches of
  the host's rules, processes left running, how the child ended). A joint run shows a member more
  than its own child would, never less;
* only a pass, or a skip decided before any plugin code ran (``ScenarioSkip.static``), is taken from a
  joint run; any other result is run again alone (``battery.runner.run_joint``) and that run is what
  the report says, exactly as for shared children;
* only for plugins that may share a child at all and whose triage saw nothing wedge
  (``joint_eligible``), so no member waits out a budget for the others. Those that crashed in triage
  run jointly too: a crash ends the run, and the members it did not complete run alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from conformance.checks.isolation import plugin_may_share
from conformance.checks.model import PluginFacts
from conformance.sandbox.child import run_translated
from conformance.scenario.context import Scenario, ScenarioContext
from conformance.scenario.events import (
    CallFinished,
    CallStarted,
    Event,
    Expect,
    HarnessError,
    LoadFailed,
    Observed,
    Skipped,
)
from conformance.scenario.protocol import SandboxResult

#: Scenario names of joint runs: this prefix, then the members' check ids joined by ``,``.
JOINT_PREFIX = "joint:"
#: The observation that opens a member's part of a joint run's events; its value is the member's index.
PART_KEY = "joint-part"
#: Events that belong to the part they arrive in: what scenario code emits, and the calls it makes.
#: Everything else (logs, breaches the host saw, the end of the child) is shown to every member.
_PART_EVENTS = (Expect, Observed, Skipped, HarnessError, LoadFailed, CallStarted, CallFinished)


@dataclass(frozen=True)
class JointFamily:
    """Checks whose scenarios make the calls ``prime`` makes, then only read what those calls returned."""

    key: str
    prime: Scenario
    members: tuple[str, ...]  # check ids, in the order a joint run judges them


_families: dict[str, JointFamily] = {}
_family_of: dict[str, str] = {}


def declare_joint(key: str, prime: Scenario, members: Sequence[str]) -> None:
    """Declare a family (at import, beside its checks); a check belongs to one family at most."""
    assert key not in _families, f"joint family {key!r} declared twice"
    for member in members:
        assert member not in _family_of, f"{member} is in joint families {_family_of[member]!r} and {key!r}"
        _family_of[member] = key
    _families[key] = JointFamily(key, prime, tuple(members))


def family_of(check_id: str) -> JointFamily | None:
    key = _family_of.get(check_id)
    return _families[key] if key is not None else None


def joint_eligible(facts: PluginFacts) -> bool:
    """Plugins whose checks may run jointly: those that may share a child, and nothing wedged in triage."""
    return plugin_may_share(facts) and not facts.wedged


def joint_name(check_ids: Sequence[str]) -> str:
    return JOINT_PREFIX + ",".join(check_ids)


def joint_scenario(name: str, scenario_of: Callable[[str], Scenario]) -> Scenario:
    """The scenario of a joint run named by ``joint_name``: the family's prime, then each member in a part.

    Raises ``KeyError`` for members that are not one family's, or not in the family's order.
    """
    members = name.removeprefix(JOINT_PREFIX).split(",")
    family = family_of(members[0])
    if family is None or len(members) < 2 or any(family_of(member) is not family for member in members):
        raise KeyError(f"{name!r} names no joint run of one family")
    order = [family.members.index(member) for member in members]
    if order != sorted(set(order)):
        raise KeyError(f"{name!r} does not name its members in the family's order {family.members}")
    scenarios = [scenario_of(member) for member in members]

    def joint(ctx: ScenarioContext) -> None:
        family.prime(ctx)
        for index, scenario in enumerate(scenarios):
            ctx.observe(PART_KEY, index)
            run_translated(scenario, ctx)  # its ending sent as events, as a child of its own sends them

    return joint


def split_joint(result: SandboxResult, count: int) -> list[SandboxResult | None]:
    """Each member's result: the common events, its own part's, the child's end. None where there is no
    part (the child ended before it), and for every member when the parts are out of order (something
    else wrote on the channel)."""
    events: list[Event] = []
    owners: list[int | None] = []  # the part an event belongs to; None: every member's
    opened = 0
    for event in result.events:
        if isinstance(event, Observed) and event.key == PART_KEY:
            if type(event.value) is not int or event.value != opened or opened >= count:
                return [None] * count
            opened += 1
            continue
        events.append(event)
        owners.append(opened - 1 if opened and isinstance(event, _PART_EVENTS) else None)
    return [
        replace(result, events=tuple(e for e, owner in zip(events, owners, strict=True) if owner in (None, index)))
        if index < opened
        else None
        for index in range(count)
    ]
