"""Whether a check applies to a plugin, from the probe's facts: the reason a check is skipped unrun."""

from __future__ import annotations

from conformance.checks.model import Check, PluginFacts

#: Where the probe dies when the library itself cannot be opened (load's finding, no entry point ran).
_BEFORE_ANY_ENTRY = (None, "dlopen", "streamkit_native_plugin_api")


def not_applicable(check: Check, facts: PluginFacts) -> str | None:
    """Why ``check`` does not apply to this plugin, or None when it does."""
    applies = check.applies
    if not facts.loadable:
        # Entry-point checks still run when the probe died inside a plugin entry point (get_metadata,
        # create_instance...): that death is their finding. A library that cannot even be opened is load's.
        died_in_entry = facts.failed_entry not in _BEFORE_ANY_ENTRY
        if applies.needs_loadable or (check.category != "load" and not died_in_entry):
            return f"not loadable: {facts.load_problem}"
        return None
    if facts.node_kind not in applies.node_kinds:
        return f"applies to {' and '.join(sorted(applies.node_kinds))} plugins; this one is a {facts.node_kind}"
    version = facts.version or 0
    if not applies.min_version <= version <= applies.max_version:
        return f"applies to plugin versions {applies.min_version}..{applies.max_version}; this one is v{version}"
    return applies.needs.missing(facts)
