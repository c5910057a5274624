"""pytest entry point: ``pytest --plugin=path/to/libplugin.so`` runs the battery.

Registered through the ``pytest11`` entry point. Importing this module costs
little: the catalogue, cffi and the sandbox load only when a ``--plugin`` is
given. The plugin under test never runs in this process: every check, and the
probe that decides which checks apply, runs in a sandbox child.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import pytest

from conformance.pytest_startup import drop_idle_hypothesis_plugin, keep_installed_plugins_compiled
from conformance.settings import OPTIONS, RunSettings, SettingsError, check_report_dir, resolve_settings

keep_installed_plugins_compiled()

SETTINGS_KEY = pytest.StashKey[RunSettings]()
RESULTS_KEY = pytest.StashKey[dict[str, list[dict[str, Any]]]]()
PREFETCH_KEY = pytest.StashKey[Any]()
SPARE_CLIENTS_KEY = pytest.StashKey[list[Any]]()
BATTERY_BY_PLUGIN_KEY = pytest.StashKey[dict[str, list[Any]]]()
# --- reporting layer (issue 5): baseline and run bookkeeping ---
BASELINE_KEY = pytest.StashKey[Any]()
RUN_STARTED_KEY = pytest.StashKey[Any]()
EXPIRED_KEY = pytest.StashKey[list[str]]()
# --- end reporting layer ---
# --- front-end honesty (issue 16) ---
WRITTEN_KEY = pytest.StashKey[Any]()  # the WrittenRun of this session, for `conformance check`
NO_SELECTION_KEY = pytest.StashKey[str]()  # why no battery item was selected (a usage error)
BATTERY_SIZE_KEY = pytest.StashKey[int]()  # battery items before -k/-m deselection
XDIST_SELECTED_KEY = pytest.StashKey[dict[str, int]]()  # items per plugin label, as the xdist workers collected
WRITE_ERROR_KEY = pytest.StashKey[str]()  # why the reports could not be written
# --- end front-end honesty ---
MONITOR_KEY = pytest.StashKey[Any]()  # always-on contract monitors (issue 15): checks.monitors.MonitorLedger
PROPERTY = "conformance"


PLUGIN_DEST = "conformance_plugin"
PLUGIN_FLAG = "--plugin"
FALLBACK_FLAG = "--conformance-plugin"
_CONFLICT_HANDLER = "conformance_yields"
_parser_seen: list[pytest.Parser] = []
_yielded_plugin_flag: list[str] = []  # the notice, once another plugin or a conftest.py owns --plugin


def pytest_addoption(parser: pytest.Parser) -> None:
    _parser_seen[:] = [parser]
    _yielded_plugin_flag.clear()
    group = parser.getgroup("conformance", "StreamKit native plugin conformance")
    for option in OPTIONS:
        kwargs: dict[str, Any] = {"dest": "conformance_" + option.name.replace("-", "_"), "help": option.help}
        if option.name == "plugin":
            kwargs["action"] = "append"
            kwargs["default"] = []
            # Always available, so a suite that owns --plugin can still run the battery.
            group.addoption(FALLBACK_FLAG, **{**kwargs, "help": option.help + " (same as --plugin)"})
            if _foreign_flag(parser):
                _note_yield()
                continue
        elif option.name == "race":
            kwargs.update(nargs="?", const="helgrind", default=None)
        elif option.name == "memcheck":
            kwargs.update(action="store_const", const="yes", default=None)
        group.addoption(f"--{option.name}", **kwargs)
    for option in OPTIONS:
        if option.name == "plugin":
            parser.addini(option.ini, option.help, type="linelist")
        else:
            parser.addini(option.ini, option.help, type="string")
    _install_conflict_handler(parser)


def _arguments(parser: pytest.Parser) -> list[tuple[Any, Any]]:
    return [(group, argument) for group in [parser._anonymous, *parser._groups] for argument in group.options]


def _foreign_flag(parser: pytest.Parser) -> bool:
    return any(PLUGIN_FLAG in arg.names() and arg.dest != PLUGIN_DEST for _, arg in _arguments(parser))


def _note_yield() -> None:
    if not _yielded_plugin_flag:
        _yielded_plugin_flag.append(
            f"conformance: {PLUGIN_FLAG} belongs to this project's own pytest options; "
            f"check a plugin with {FALLBACK_FLAG}=PATH"
        )


def _drop_our_flag(parser: pytest.Parser) -> None:
    """Forget our ``--plugin`` in pytest's option lists (argparse itself is handled by the caller)."""
    for group, argument in _arguments(parser):
        if argument.dest == PLUGIN_DEST and PLUGIN_FLAG in argument.names():
            group.options.remove(argument)
    _note_yield()


def _install_conflict_handler(parser: pytest.Parser) -> None:
    """pytest 9 adds options to argparse at once: a later ``--plugin`` takes the name from us.

    This module is loaded through its entry point into every pytest run of the
    venv; a generic ``--plugin`` must never make argparse refuse a suite that
    already owns that name. Only a conflict with our own ``--plugin`` is
    resolved; any other conflict is argparse's usual error.
    """
    optparser = getattr(parser, "optparser", None)
    if optparser is None:  # pytest 8 builds argparse lazily: pytest_plugin_registered below handles it
        return

    def handle(container: Any, action: argparse.Action, conflicting: list[tuple[str, argparse.Action]]) -> None:
        if not all(other.dest == PLUGIN_DEST for _, other in conflicting):
            container._handle_conflict_error(action, conflicting)
            return
        ours = [other for _, other in conflicting]
        container._handle_conflict_resolve(action, conflicting)
        for group, argument in _arguments(parser):
            if argument._action in ours and not argument.names():
                group.options.remove(argument)
        _note_yield()

    setattr(argparse._ActionsContainer, f"_handle_conflict_{_CONFLICT_HANDLER}", handle)
    for container in [optparser, *optparser._action_groups]:
        container.conflict_handler = _CONFLICT_HANDLER


def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    """pytest 8: a conftest.py registered after us may add its own ``--plugin``; yield the name to it."""
    if _parser_seen and getattr(_parser_seen[0], "optparser", None) is None:
        parser = _parser_seen[0]
        if _foreign_flag(parser) and any(
            PLUGIN_FLAG in arg.names() and arg.dest == PLUGIN_DEST for _, arg in _arguments(parser)
        ):
            _drop_our_flag(parser)


def _settings(config: pytest.Config) -> RunSettings:
    def cli(name: str) -> Any:
        return config.getoption("conformance_" + name.replace("-", "_"))

    def ini(name: str) -> Any:
        return config.getini(name)

    try:
        return resolve_settings(cli, ini)
    except SettingsError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance(category, severity): a check of the plugin battery")
    from conformance.checks.model import CATEGORIES, Severity

    for category in CATEGORIES:
        config.addinivalue_line("markers", f"{category.replace('-', '_')}: checks of the {category} category")
    for severity in Severity:
        config.addinivalue_line("markers", f"{severity.value}: checks of {severity.value} severity")
    settings = _settings(config)
    config.stash[SETTINGS_KEY] = settings
    config.stash[RESULTS_KEY] = {}
    if not settings.plugins:
        return
    # --- reporting layer (issue 5): --baseline ---
    if settings.baseline is not None:
        from conformance.baseline import BaselineError, load_baseline

        try:
            config.stash[BASELINE_KEY] = load_baseline(settings.baseline)
        except BaselineError as error:
            raise pytest.UsageError(str(error)) from None
    # --- end reporting layer ---
    from conformance.host.elfcheck import elf_facts
    from conformance.report.writer import write_unloadable_report

    if not hasattr(config, "workerinput"):
        try:
            check_report_dir(settings.report_dir)
        except SettingsError as error:
            raise pytest.UsageError(str(error)) from None
    problems = []
    for path in settings.plugins:
        facts = elf_facts(path)
        if not facts.loadable:
            if not hasattr(config, "workerinput"):
                write_unloadable_report(settings.report_dir, path, f"not loadable: {facts.problem}")
            problems.append(f"{path}: not loadable: {facts.problem}")
    if problems:
        raise pytest.UsageError("\n".join(problems))
    _start_sandboxes(config, settings)


def _prefetch_enabled() -> bool:
    return os.environ.get("CONFORMANCE_PREFETCH", "1") != "0"


def _start_sandboxes(config: pytest.Config, settings: RunSettings) -> None:
    """Start the fork servers now, so they warm up while pytest collects.

    Without xdist: one pool for the whole run. In the xdist controller: a pool
    that probes every plugin once and hands the facts to the workers, then
    closes. In a worker: the controller's facts and a pool of its own.
    """
    from conformance.prefetch import default_workers, worker_pool_size
    from conformance.runner import import_facts
    from conformance.sandbox.calibration import calibrate_once
    from conformance.sandbox.client import SandboxClient, shared_client
    from conformance.xdist_support import PLUGIN_SCOPED_MODES, worker_count, worker_facts, xdist_mode

    mode = xdist_mode(config)
    if hasattr(config, "workerinput"):
        facts = worker_facts(config)
        if facts is not None:
            import_facts(facts, settings.budget_scale)
        if not _prefetch_enabled() or mode not in PLUGIN_SCOPED_MODES:
            return
        size = worker_pool_size(len(settings.plugins), worker_count(config))
    elif mode == "no":
        if not _prefetch_enabled():
            calibrate_once(shared_client().run)
            return
        size = default_workers()
    else:
        _probe_for_workers(config, settings)
        return
    shared_client().start()
    calibrate_once(shared_client().run)
    extra = [SandboxClient() for _ in range(size - 1)]
    for client in extra:
        client.start()
    config.stash[SPARE_CLIENTS_KEY] = extra


def _probe_for_workers(config: pytest.Config, settings: RunSettings) -> None:
    """In the xdist controller: probe each plugin once, in parallel, for every worker to share."""
    from conformance.prefetch import probe_parallelism
    from conformance.runner import export_facts, probe_many
    from conformance.sandbox.calibration import calibrate_once
    from conformance.sandbox.client import shared_client
    from conformance.xdist_support import XdistController

    # Measured once here; the workers inherit the factor through the environment (sandbox/calibration.py).
    calibrate_once(shared_client().run)
    pool = [shared_client()]
    probe_many(list(settings.plugins), settings.budget_scale, pool, probe_parallelism() if _prefetch_enabled() else 1)
    facts = json.dumps(export_facts(list(settings.plugins), settings.budget_scale))
    config.pluginmanager.register(XdistController(facts), "conformance-xdist-controller")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With --plugin and no test paths on the command line, collect only the battery."""
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings and settings.plugins and not _explicit_paths(config):
        return True
    return None


def _explicit_paths(config: pytest.Config) -> bool:
    """Whether the user named test paths on the command line (then they run beside the battery)."""
    return bool(config.args_source == pytest.Config.ArgsSource.ARGS)


class PluginBattery(pytest.Collector):
    """The battery for one plugin: one item per check (per host version where that matters)."""

    def __init__(self, *, plugin_path: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin_path = plugin_path

    def collect(self) -> list[pytest.Item]:
        from conformance.runner import battery_for, probe

        settings = self.config.stash[SETTINGS_KEY]
        facts = probe(self.plugin_path, settings.budget_scale)
        return [
            CheckItem.from_parent(self, name=item.name, battery_item=item, plugin_path=self.plugin_path)
            for item in battery_for(facts)
        ]


class CheckFailed(Exception):
    """A required check did not pass; the message is the judgement, the evidence follows."""


class CheckItem(pytest.Item):
    def __init__(self, *, battery_item: Any, plugin_path: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.battery_item = battery_item
        self.plugin_path = plugin_path
        check = battery_item.check
        self.add_marker(pytest.mark.conformance(check.category, check.severity.value))
        self.add_marker(check.category.replace("-", "_"))
        self.add_marker(check.severity.value)

    def runtest(self) -> None:
        from conformance.runner import probe, run_item
        from conformance.settings import plugin_label

        settings = self.config.stash[SETTINGS_KEY]
        facts = probe(self.plugin_path, settings.budget_scale)
        prefetcher = self.config.stash.get(PREFETCH_KEY, None)
        if prefetcher is not None:
            _submit_plugin(self.config, settings, self.plugin_path)
        future = prefetcher.take(self.plugin_path, self.battery_item.name) if prefetcher else None
        if future is not None:
            result = future.result()
        else:
            result = run_item(self.plugin_path, self.battery_item, facts, settings.budget_scale, settings.reruns)
        if settings.race or settings.memcheck:
            from conformance.heavy import apply_heavy_modes

            result = apply_heavy_modes(self.plugin_path, self.battery_item, facts, result, settings)
        result = _monitored(self.config, self.plugin_path, self.battery_item.check, result)
        payload = {
            "plugin": str(self.plugin_path),
            "label": plugin_label(self.plugin_path),
            "facts": {
                "loadable": facts.loadable,
                "load_problem": facts.load_problem,
                "version": facts.version,
                "node_kind": facts.node_kind,
                "kind": facts.kind,
                "language": facts.language,
                "has_setter": facts.has_setter,
                "entries": list(facts.entries),
            },
            "result": result.to_json(),
        }
        # --- reporting layer (issue 5): --baseline ---
        baseline = self.config.stash.get(BASELINE_KEY, None)
        classification = (
            baseline.classify(payload["label"], result.id, result.status, result.severity) if baseline else None
        )
        payload["baseline"] = classification
        # --- end reporting layer ---
        self.user_properties.append((PROPERTY, json.dumps(payload)))
        if result.status == "skip":
            pytest.skip(result.message)
        if result.blocking and classification != "known":
            raise CheckFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            from conformance.report.text import failure_text

            return failure_text(excinfo.value.args[0])
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.plugin_path, None, f"{self.battery_item.name} [{self.battery_item.check.severity.value}]"


def _monitored(config: pytest.Config, path: Path, check: Any, result: Any) -> Any:
    """Record this item's sightings of other checks' rules; credit an owning check with every item's.

    See ``conformance.checks.monitors``: with the prefetcher, the items still to come are waited
    for, so the credit does not depend on the order items run in.
    """
    from conformance.checks.monitors import MonitorLedger

    ledger = config.stash.setdefault(MONITOR_KEY, MonitorLedger())
    plugin = str(path)
    ledger.record(plugin, result)
    if not check.owns_violations:
        return result
    prefetcher = config.stash.get(PREFETCH_KEY, None)
    if prefetcher is not None:
        for future in prefetcher.outstanding(path):
            try:
                ledger.record(plugin, future.result())
            except Exception:  # noqa: BLE001 - that item reports its own error when it runs
                continue
    return ledger.credit(plugin, check, result)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash.get(SETTINGS_KEY, None)
    if not settings or not settings.plugins:
        return
    from conformance.settings import plugin_label

    if SPARE_CLIENTS_KEY in config.stash:
        from conformance.prefetch import probe_parallelism
        from conformance.runner import probe_many
        from conformance.sandbox.client import shared_client

        pool = [shared_client(), *config.stash[SPARE_CLIENTS_KEY]]
        probe_many(list(settings.plugins), settings.budget_scale, pool, probe_parallelism())
    battery: list[pytest.Item] = []
    for path in settings.plugins:
        label = plugin_label(path)
        collector = PluginBattery.from_parent(session, name=label, nodeid=label, plugin_path=path)
        collected = collector.collect()
        # Reported like any collector's result, so pytest's "collected N items" counts the battery.
        config.hook.pytest_collectreport(report=pytest.CollectReport(collector.nodeid, "passed", None, list(collected)))
        battery.extend(collected)
    config.stash[BATTERY_SIZE_KEY] = len(battery)
    items[:0] = battery


def _driven_by_cli(config: pytest.Config) -> bool:
    """``conformance check`` passes a plugin object marked ``conformance_cli``; it reports usage errors itself."""
    return any(getattr(plugin, "conformance_cli", False) for plugin in config.pluginmanager.get_plugins())


def _no_selection_message(config: pytest.Config, total: int) -> str:
    selection = []
    if config.getoption("keyword", None):
        selection.append(f"-k {config.getoption('keyword')!r}")
    if config.getoption("markexpr", None):
        selection.append(f"-m {config.getoption('markexpr')!r}")
    what = " and ".join(selection) or "the selection"
    of = f"none of the {total} battery items" if total else "no battery item"  # xdist: the controller has no count
    return (
        f"no check selected: {what} matches {of}; nothing was checked (see `conformance list-checks` for the ids)"
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """The xdist controller does not collect: count the battery items a worker selected, per plugin."""
    config = node.config
    if XDIST_SELECTED_KEY in config.stash:
        return  # every worker collects the same items
    counts: dict[str, int] = {}
    for nodeid in ids:
        label = nodeid.split("::", 1)[0]
        counts[label] = counts.get(label, 0) + 1
    config.stash[XDIST_SELECTED_KEY] = counts


def pytest_collection_finish(session: pytest.Session) -> None:
    """Run the selected battery items ahead on the pool: all at once without xdist, per plugin in a worker."""
    config = session.config
    settings = config.stash.get(SETTINGS_KEY, None)
    if not settings or not settings.plugins or config.getoption("collectonly"):
        return
    drop_idle_hypothesis_plugin(config)
    if (
        xdist_off(config)
        and not _explicit_paths(config)
        and not any(isinstance(item, CheckItem) for item in session.items)
    ):
        message = _no_selection_message(config, config.stash.get(BATTERY_SIZE_KEY, 0))
        config.stash[NO_SELECTION_KEY] = message
        if not _driven_by_cli(config):
            raise pytest.UsageError(message)
        return
    if SPARE_CLIENTS_KEY not in config.stash:
        return
    battery = [item for item in session.items if isinstance(item, CheckItem)]
    if len(battery) < 2:
        return
    from conformance.prefetch import Prefetcher
    from conformance.sandbox.client import shared_client

    prefetcher = Prefetcher([shared_client(), *config.stash.get(SPARE_CLIENTS_KEY, [])])
    config.stash[PREFETCH_KEY] = prefetcher
    by_plugin: dict[str, list[CheckItem]] = {}
    for item in battery:
        by_plugin.setdefault(str(item.plugin_path), []).append(item)
    config.stash[BATTERY_BY_PLUGIN_KEY] = by_plugin
    if not hasattr(config, "workerinput"):
        for path in by_plugin:
            _submit_plugin(config, settings, Path(path))


def xdist_off(config: pytest.Config) -> bool:
    return config.getoption("dist", "no") in ("no", None) and not hasattr(config, "workerinput")


def _submit_plugin(config: pytest.Config, settings: RunSettings, path: Path) -> None:
    """Submit a plugin's selected items to the pool, once. An xdist worker gets all items of a
    plugin once it gets one (one scope per plugin), so it can run them all ahead."""
    from conformance.runner import probe

    prefetcher = config.stash.get(PREFETCH_KEY, None)
    if prefetcher is None or not prefetcher.claim(path):
        return
    facts = probe(path, settings.budget_scale)
    items = [item.battery_item for item in config.stash[BATTERY_BY_PLUGIN_KEY].get(str(path), [])]
    prefetcher.submit_battery(path, items, facts, settings.budget_scale, settings.reruns)


def pytest_unconfigure(config: pytest.Config) -> None:
    prefetcher = config.stash.get(PREFETCH_KEY, None)
    if prefetcher is not None:
        prefetcher.close()
    for client in config.stash.get(SPARE_CLIENTS_KEY, []):
        client.close()


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    if report.when != "call" or not report.passed:
        return None
    for name, value in report.user_properties:
        if name == PROPERTY:
            payload = json.loads(str(value))
            status = payload["result"]["status"]
            # --- reporting layer (issue 5): --baseline ---
            if payload.get("baseline") == "known":
                return "known", "K", f"KNOWN ({status}, accepted by the baseline)"
            if payload.get("baseline") == "improved":
                return "improved", "I", "IMPROVED (passes; its baseline entry can go)"
            # --- end reporting layer ---
            if status == "warn":
                return "warned", "W", "WARN"
            if status in ("fail", "crash", "timeout", "flaky", "error"):
                return "non-blocking", "N", f"{status.upper()} (not required)"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        _summarise_property(report)
        return
    if report.when != "call" and not (report.when == "setup" and report.skipped):
        return
    for name, value in report.user_properties:
        if name == PROPERTY:
            _collected_payloads.append(json.loads(str(value)))


_collected_payloads: list[dict[str, Any]] = []
JUNIT_MESSAGE_LIMIT = 300


def _summarise_property(report: pytest.TestReport) -> None:
    """Keep the JUnit file small: a non-pass gets a short property, the full evidence stays in report.json.

    pytest's junitxml writes every user property of the teardown report into
    the file; the whole payload (calls, logs, native stacks) of 79 plugins x
    165 checks made a 33 MB junit.xml. Runs before junitxml (tryfirst); the
    call report, from which the reports are built, keeps the full payload.
    """
    properties = []
    for name, value in report.user_properties:
        if name == PROPERTY:
            payload = json.loads(str(value))
            if "result" not in payload:  # already summarised (by the xdist worker that ran it)
                properties.append((name, value))
                continue
            result = payload["result"]
            if result["status"] in ("pass", "skip") and not payload.get("baseline"):
                continue  # the test case says it all: passed, or skipped with the reason
            message = str(result.get("message", ""))
            value = json.dumps(
                {
                    "plugin": payload["label"],
                    "id": result["id"],
                    "status": result["status"],
                    "severity": result["severity"],
                    "baseline": payload.get("baseline"),
                    "message": message[:JUNIT_MESSAGE_LIMIT] + ("\u2026" if len(message) > JUNIT_MESSAGE_LIMIT else ""),
                    "repro": result.get("repro"),
                    "evidence": f"{payload['label']}/report.json",
                },
                separators=(",", ":"),
            )
        properties.append((name, value))
    report.user_properties = properties


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    settings = config.stash.get(SETTINGS_KEY, None)
    if not settings or not settings.plugins:
        return list(_yielded_plugin_flag) or None
    lines = [
        *_yielded_plugin_flag,
        f"conformance: budget scale {settings.budget_scale}, reports in {settings.report_dir}",
    ]
    from conformance.sandbox.calibration import current as current_calibration

    calibration = current_calibration()
    if calibration is not None:
        lines.append(f"conformance: {calibration.headline()}")
    lines.extend(f"conformance: plugin {path}" for path in settings.plugins)
    lines.extend(f"conformance: {note}" for note in settings.notes)
    # --- reporting layer (issue 5): --baseline ---
    baseline = config.stash.get(BASELINE_KEY, None)
    if baseline is not None:
        lines.append(f"conformance: baseline {baseline.path} ({len(baseline.entries)} accepted entries)")
    # --- end reporting layer ---
    return lines


# --- reporting layer (issue 5): durable reports ---
def pytest_sessionstart(session: pytest.Session) -> None:
    """Note the start time and turn SIGTERM into an interruption, so a cancelled run still reports."""
    config = session.config
    settings = config.stash.get(SETTINGS_KEY, None)
    if not settings or not settings.plugins or hasattr(config, "workerinput"):
        return
    import datetime as dt

    from conformance.report import interrupt

    config.stash[RUN_STARTED_KEY] = dt.datetime.now(dt.UTC)
    interrupt.install()


def _selected_counts(session: pytest.Session, settings: RunSettings) -> dict[str, int] | None:
    """Items selected per plugin path; under xdist as the workers collected them (None before they did)."""
    if session.config.getoption("dist", "no") not in ("no", None):
        by_label = session.config.stash.get(XDIST_SELECTED_KEY, None)
        if by_label is None:
            return None
        from conformance.settings import plugin_label

        return {str(path): by_label.get(plugin_label(path), 0) for path in settings.plugins}
    counts: dict[str, int] = {str(path): 0 for path in settings.plugins}
    for item in session.items:
        if isinstance(item, CheckItem):
            counts[str(item.plugin_path)] = counts.get(str(item.plugin_path), 0) + 1
    return counts


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    settings = config.stash.get(SETTINGS_KEY, None)
    if not settings or not settings.plugins or hasattr(config, "workerinput"):
        return
    if config.getoption("collectonly", False):
        return  # nothing ran: keep the reports of the last real run
    from conformance.report import interrupt
    from conformance.report.rundir import RunInfo
    from conformance.report.writer import replaced_reports, write_reports

    interrupt.hold()
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or interrupt.received()
    selected = _selected_counts(session, settings)
    if (
        not interrupted
        and NO_SELECTION_KEY not in config.stash
        and selected is not None
        and not _explicit_paths(config)
        and not sum(selected.values())
    ):
        config.stash[NO_SELECTION_KEY] = _no_selection_message(config, config.stash.get(BATTERY_SIZE_KEY, 0))
    no_selection = config.stash.get(NO_SELECTION_KEY, None)
    run = RunInfo(
        started_at=config.stash.get(RUN_STARTED_KEY, None),
        interrupted=interrupted,
        keyword=config.getoption("keyword", None) or None,
        markexpr=config.getoption("markexpr", None) or None,
    )
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter._tw.width_of_current_line:
        reporter.write_line("")  # the progress line ("[100%]") is still open at this point
    try:
        written = write_reports(
            settings,
            list(_collected_payloads),
            complete=not interrupted,
            run=run,
            selected=selected,
            baseline=config.stash.get(BASELINE_KEY, None),
            nothing_selected=no_selection is not None,
        )
    except OSError as error:
        message = f"conformance: cannot write the reports in {settings.report_dir}: {error.strerror or error}"
        config.stash[WRITE_ERROR_KEY] = message.removeprefix("conformance: ")
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        interrupt.uninstall()
        return
    finally:
        _collected_payloads.clear()
    config.stash[WRITTEN_KEY] = written
    if no_selection is not None:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    if reporter is not None:
        if no_selection is not None and not xdist_off(config):
            reporter.write_line(f"conformance: {no_selection}", red=True)  # without xdist pytest said it
        replaced = replaced_reports(written)
        if replaced:
            reporter.write_line(f"conformance: {replaced}")
        for report in written.reports:
            state = "" if report.complete else " (incomplete)"
            reporter.write_line(f"conformance: {report.verdict.upper()}{state} - report written to {report.json_path}")
            if report.baseline is not None:
                section = report.baseline
                reporter.write_line(
                    f"conformance: baseline for {report.label}: {len(section['new'])} new, "
                    f"{len(section['known'])} known, {len(section['improved'])} improved"
                )
        index = f", index {written.index}" if written.index else ""
        reporter.write_line(f"conformance: summary {written.summary}{index}")
    config.stash[EXPIRED_KEY] = list(written.expired)
    if written.expired and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    _exit_status_follows_the_reports(session, written.reports, reporter)
    if interrupt.received():
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    interrupt.uninstall()


def _exit_status_follows_the_reports(session: pytest.Session, reports: list[Any], reporter: Any) -> None:
    """Never exit 0 beside a report that says fail.

    Items can all pass or skip while a report fails: a plugin that could not be probed (for example one
    that killed the sandbox server) has every check skipped as not loadable. A CI step reads the exit status.
    """
    failing = [report for report in reports if report.fails_the_run]
    if not failing or session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if reporter is not None:
        for report in failing:
            reporter.write_line(f"conformance: {report.label} fails (see its report): exit status 1", red=True)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Expired baseline entries fail the run with no failed item: say so right above the final line."""
    expired = config.stash.get(EXPIRED_KEY, [])
    if expired:
        terminalreporter.section("conformance baseline", sep="-", red=True)
        for message in expired:
            terminalreporter.write_line(f"conformance: {message}", red=True)


# --- end reporting layer ---
