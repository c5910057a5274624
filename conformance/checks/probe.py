"""The probe: load the plugin once as the host does and report the facts checks select on.

Runs in the sandbox like any scenario, so a constructor that aborts or an
entry point that hangs is an outcome, not a crash of the tool.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from conformance.abi.constants import OPTIONAL_ENTRIES, REQUIRED_ENTRIES
from conformance.checks.common import valid_params
from conformance.checks.entries import PREFERRED_SIZE_HINT
from conformance.checks.model import PluginFacts
from conformance.checks.traffic import detect_node_kind, drive, with_instance
from conformance.host.errors import LoadError
from conformance.host.instance import Instance
from conformance.sandbox.classify import describe_call, undefined_symbol_text, unresolved_symbol
from conformance.scenario.context import ScenarioContext
from conformance.scenario.events import Observed
from conformance.scenario.protocol import Outcome, SandboxResult
from conformance.scenario.tools import tool_scenario

PROBE = "probe"
TRIAGE_MARK = "triage"
_ENTRIES = REQUIRED_ENTRIES + tuple(OPTIONAL_ENTRIES)


#: Longest string of the metadata the probe hands to the parent; the checks read the whole string themselves.
FACT_STRING_LIMIT = 64 * 1024


def _bounded(value: Any) -> Any:
    """The metadata as facts, each string cut to ``FACT_STRING_LIMIT``: the ABI sets no length limit, and an
    80 MiB description is valid, but the facts travel through the event channel into every worker."""
    if isinstance(value, str) and len(value) > FACT_STRING_LIMIT:
        return f"{value[:FACT_STRING_LIMIT]}... ({len(value)} characters in all)"
    if isinstance(value, dict):
        return {key: _bounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_bounded(item) for item in value]
    return value


@tool_scenario(PROBE)
def probe(ctx: ScenarioContext) -> None:
    try:
        plugin = ctx.plugin
    except LoadError as error:
        ctx.observe("facts", {"loadable": False, "load_problem": error.message})
        return
    reading = plugin.metadata
    metadata = reading.metadata
    facts: dict[str, Any] = {
        "loadable": True,
        "version": plugin.version,
        "has_setter": plugin.has_setter,
        "entries": [name for name in _ENTRIES if plugin.has_entry(name)],
    }
    if metadata is not None:
        facts["kind"] = metadata.kind
        facts["input_pins"] = [[pin.name, [t.discriminant for t in pin.accepts]] for pin in metadata.inputs]
        facts["output_pins"] = [[pin.name, pin.produces.discriminant] for pin in metadata.outputs]
        facts["metadata"] = _bounded(metadata.as_json())
    if reading.fatal_issues and metadata is None:
        facts["load_problem"] = reading.fatal_issues[0].message
    ctx.observe("facts", facts)
    missing = plugin.missing_required()
    if not missing:
        facts["node_kind"] = detect_node_kind(ctx)
    ctx.observe("facts", facts)
    if not missing and metadata is not None:
        _triage(ctx, str(facts["node_kind"]))


def _triage(ctx: ScenarioContext, node_kind: str) -> None:
    """Ordinary traffic once: an entry point that wedges here is not called again by other checks.

    Deterministic per plugin (every xdist worker triages for itself), and
    honest: checks that would need the wedged entry are skipped with the
    reason, while the timeouts.* checks still call it and report the stacks.
    """
    ctx.request.options["node_kind"] = node_kind
    ctx.observe(TRIAGE_MARK, True)
    instance = with_instance(ctx)
    if instance is not None:
        ordinary_session(ctx, node_kind, instance)


def ordinary_session(ctx: ScenarioContext, node_kind: str, instance: Instance) -> None:
    """What triage does to a plugin's new instance: every entry it has, ordinary traffic, then destroy.

    ``panics.first-process-crash`` runs it again, so that a crash triage saw is reproduced or, when it
    does not come back, reported as intermittent: never lost.
    """
    plugin = ctx.plugin
    try:
        if plugin.has_entry("get_runtime_param_schema"):
            instance.runtime_schema()
        if plugin.has_entry("get_source_config"):
            instance.source_config()
        instance.update_params(valid_params(ctx))
        if node_kind == "source" and plugin.has_entry("on_upstream_hint"):
            instance.hint(PREFERRED_SIZE_HINT)
        drive(ctx, instance)
    finally:
        instance.destroy()


def facts_from_result(result: SandboxResult, language: str) -> PluginFacts:
    """Build facts from the probe's last ``facts`` observation, or explain why there are none."""
    observed = [event.value for event in result.events if isinstance(event, Observed) and event.key == "facts"]
    in_triage = any(isinstance(event, Observed) and event.key == TRIAGE_MARK for event in result.events)
    if in_triage and observed:
        facts = _facts(observed[-1], language)
        if result.in_flight is not None and result.outcome is not Outcome.COMPLETED:
            detail = result.in_flight.detail or "ordinary traffic"
            if result.outcome is Outcome.TIMED_OUT:
                # The measured times and the thread's state go with the skip reasons of other checks.
                return replace(facts, wedged=((result.in_flight.entry, f"{detail}: {result.detail}"),))
            what = result.signal_name or result.outcome.value
            return replace(facts, crashed=((result.in_flight.entry, f"{what}, {detail}"),))
        return facts
    if result.outcome is not Outcome.COMPLETED:
        where = describe_call(result.in_flight)
        if result.outcome is Outcome.TIMED_OUT and result.in_flight is not None and result.in_flight.entry == "dlopen":
            budget = f"{result.in_flight.budget_s:g} s"
            problem = f"dlopen exceeded its budget of {budget}: a library constructor did not return (load.dlopen)"
        elif result.outcome is Outcome.TIMED_OUT:
            problem = f"the probe timed out {where}"
        elif result.signal_name:
            problem = f"crashed with {result.signal_name} {where}"
        else:
            problem = f"{result.outcome.value} {where}: {result.detail}".strip()
        unresolved = unresolved_symbol(result.stderr_tail)
        if unresolved is not None:
            problem += f": {undefined_symbol_text(unresolved[0])}"
        if result.panic_message:
            problem += f": {result.panic_message}"
        wedged: tuple[tuple[str, str], ...] = ()
        if result.outcome is Outcome.TIMED_OUT and result.in_flight is not None:
            during = result.in_flight.detail or "loading"
            wedged = ((result.in_flight.entry, f"{during}: {result.detail}" if result.detail else during),)
        base = observed[-1] if observed else {}
        if (
            base.get("loadable")
            and result.in_flight is not None
            and result.in_flight.entry
            in (
                "create_instance",
                "get_source_config",
                "destroy_instance",
            )
        ):
            # Loads fine; only the source probe misbehaved. Checks will show it.
            return replace(_facts(base, language), wedged=wedged)
        failed = result.in_flight.entry if result.in_flight is not None else None
        return PluginFacts(False, problem, language=language, wedged=wedged, failed_entry=failed)
    if not observed:
        return PluginFacts(False, "the probe produced no facts", language=language)
    return _facts(observed[-1], language)


def _facts(values: dict[str, Any], language: str) -> PluginFacts:
    return PluginFacts(
        loadable=bool(values.get("loadable")),
        load_problem=str(values.get("load_problem", "")),
        version=values.get("version"),
        node_kind=str(values.get("node_kind", "processor")),
        kind=values.get("kind"),
        input_pins=tuple((str(name), tuple(types)) for name, types in values.get("input_pins", [])),
        output_pins=tuple((str(name), int(t)) for name, t in values.get("output_pins", [])),
        has_setter=bool(values.get("has_setter")),
        entries=tuple(values.get("entries", [])),
        language=language,
        metadata=dict(values.get("metadata", {})),
    )


def confirm_triage(first: PluginFacts, second: PluginFacts) -> PluginFacts:
    """Combine two probes of one plugin, so that one late or unlucky run cannot skip checks on its own.

    A hang is kept only when both runs saw it (and becomes a crash if the other run crashed there: a death
    is never reported as a hang); a crash seen by either run is kept. A load problem seen once only is
    dropped in favour of the run that loaded.
    """
    if first.loadable != second.loadable:
        return first if first.loadable else second
    crashed = dict(first.crashed)
    for entry, detail in second.crashed:
        crashed.setdefault(entry, detail)
    second_wedged = dict(second.wedged)
    wedged = tuple(
        (entry, f"{detail}; again in a second triage run")
        for entry, detail in first.wedged
        if entry in second_wedged and entry not in crashed
    )
    return replace(first, wedged=wedged, crashed=tuple(crashed.items()))


def needs_confirmation(facts: PluginFacts) -> bool:
    """Triage or the probe itself saw a hang: worth a second run before checks are skipped for it."""
    return bool(facts.wedged)
