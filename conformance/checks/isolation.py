"""Which checks may share a sandbox child with other checks, and for which plugins.

Forking a child, loading the plugin into it and tearing it down costs a few
milliseconds; most checks spend less than that in the plugin. So the
checks that only create instances, call them and destroy them run one after
another in one child. The rules that keep every verdict the verdict of a
child of its own:

* A child's first scenario meets the plugin as a child of its own would, and
  the server makes its result as a lone child's (stacks of a stuck call, the
  exit status when the child ends in it or right after it): that result is
  the check's run of its own, whatever it says. So a plugin whose triage (the
  probe) saw an entry point crash shares too: a crash in a child's first
  scenario costs no more than in a child of its own, one in a later scenario
  ends the child, that check runs again alone, and the checks after it go on
  in a new shared child. One that hung in triage shares: every check but that
  entry point's own ``timeouts`` and ``lifecycle`` checks (which run alone) is
  refused the entry point before calling it (``ScenarioContext._refuse_triaged``),
  so a shared child never waits out that budget; the refusal is a skip, which is
  run again alone like any other non-pass.
* Never the checks that observe the process as a whole or provoke crashes
  and hangs on purpose: loading and unloading, lifecycle, panics, timeouts,
  threads, logging (the log callbacks are per process), leaks, and the few
  checks below that compare calls across time or wait for late callbacks.
* Only checks at the same host version, for the same plugin and environment.
* A scenario that leaves a thread running ends the shared child.
* After the first scenario, only a pass is taken from a shared child, and a
  skip that nothing before it could cause (``ScenarioSkip.static``: the wedged
  entry point refused, a NULL required entry). Anything else (a failure, a
  warning, another skip, a crash, a hang) is run again alone and the lone run
  is what the report says, so a finding never depends on what ran before it.

Some of the checks that run alone make the very same calls into the plugin and differ only in what they
conclude; those are judged from one child, each on its own part of it (``checks.joint``).

Some others run alone only because what they judge is the plugin in a process where nothing ran before
(``FRESH_PROCESS_CHECKS``: the host creates a node right after loading, and a plugin that reads its params
lazily, once, meets NULL or invalid params first only there). A shared child is exactly that until its
first scenario ends, so one of them may lead a shared child (``leads_shared_child``): it runs first, meets
the plugin as in a child of its own, and its result is that run's, as any first scenario's is. Never for a
plugin that wedged in triage: a leader that calls the wedged entry would wait out its budget twice.
"""

from __future__ import annotations

from conformance.checks.model import Check, PluginFacts

#: Categories whose checks always run in a child of their own.
SOLO_CATEGORIES: frozenset[str] = frozenset(
    {"load", "lifecycle", "panics", "timeouts", "threading", "logging", "leaks"}
)

#: Checks of other categories that run alone too, and why.
SOLO_CHECKS: dict[str, str] = {
    "metadata.stable-pointer": "compares get_metadata results across the life of the process",
    "metadata.stable-content": "compares get_metadata results across the life of the process",
    "metadata.threads": "calls get_metadata from several threads at once",
    "callbacks.within-call": "waits for callbacks that arrive after the call returned",
}

#: Checks that wait by design, whatever the plugin does, and why: they run on servers of their own beside the
#: cores' (``pytest_face.prefetch``), so a core is not left idle while two of them wait at once.
LINGERING_CHECKS: dict[str, str] = {
    "callbacks.within-call": SOLO_CHECKS["callbacks.within-call"],
    "logging.no-late-logs": "waits for log records after the last instance was destroyed",
    "lifecycle.threads-stopped": "waits for plugin threads to stop after destroy and after dlclose",
}

#: Checks that need a process where nothing ran before them, and may have one as a shared child's first scenario.
FRESH_PROCESS_CHECKS: frozenset[str] = frozenset(
    {
        "lifecycle.create-null-params",
        "lifecycle.create-empty-string",
        "lifecycle.create-empty-object",
        "lifecycle.create-invalid-json",
        "lifecycle.create-invalid-utf8",
        "lifecycle.create-non-object-json",
        "lifecycle.create-valid-params",
        "lifecycle.create-destroy",
        "lifecycle.destroy-null",
        "lifecycle.instances-coexist",
    }
)

#: Scenarios per shared child: large enough to amortise the fork, small enough to keep cores busy.
GROUP_SIZE = 12


def shares_child(check: Check) -> bool:
    """Whether ``check`` may run in a child after other checks of the same plugin."""
    return check.category not in SOLO_CATEGORIES and check.id not in SOLO_CHECKS


def leads_shared_child(check: Check, facts: PluginFacts) -> bool:
    """Whether ``check`` may run as the first scenario of a shared child of this plugin (never after another)."""
    return check.id in FRESH_PROCESS_CHECKS and plugin_may_share(facts) and not facts.wedged


def plugin_may_share(facts: PluginFacts) -> bool:
    """Plugins whose checks may share children: every plugin the battery loads, those that crashed on
    ordinary traffic in triage too.

    Crashes are not refused like hangs. One in a child's first scenario is that check's run of its own
    (the server makes its result as a lone child's); one in a later scenario ends the child, that check
    runs again alone, and the checks after it go on in a new shared child, led by the next one.
    """
    return facts.loadable and facts.failed_entry is None
