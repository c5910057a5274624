"""pytest entry point: ``pytest --plugin=path/to/libplugin.so`` runs the battery.

Registered through the ``pytest11`` entry point. Importing this module costs
little: the catalogue, cffi and the sandbox load only when a ``--plugin`` is
given. The plugin under test never runs in this process: every check, and the
probe that decides which checks apply, runs in a sandbox child.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.settings import OPTIONS, RunSettings, SettingsError, resolve_settings

SETTINGS_KEY = pytest.StashKey[RunSettings]()
RESULTS_KEY = pytest.StashKey[dict[str, list[dict[str, Any]]]]()
PREFETCH_KEY = pytest.StashKey[Any]()
SPARE_CLIENTS_KEY = pytest.StashKey[list[Any]]()
PROPERTY = "conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "StreamKit native plugin conformance")
    for option in OPTIONS:
        kwargs: dict[str, Any] = {"dest": "conformance_" + option.name.replace("-", "_"), "help": option.help}
        if option.name == "plugin":
            kwargs["action"] = "append"
            kwargs["default"] = []
        group.addoption(f"--{option.name}", **kwargs)
        parser.addini(option.ini, option.help, type="linelist" if option.name == "plugin" else "string")


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
    from conformance.report.writer import write_unloadable_report
    from conformance.runner import inspect, plugin_label

    problems = []
    for path in settings.plugins:
        facts = inspect(path)
        if not facts.loadable:
            if not hasattr(config, "workerinput"):
                write_unloadable_report(settings.report_dir, path, f"not loadable: {facts.problem}")
            problems.append(f"{path}: not loadable: {facts.problem}")
    if problems:
        raise pytest.UsageError("\n".join(problems))
    labels = [plugin_label(path) for path in settings.plugins]
    if len(set(labels)) != len(labels):
        raise pytest.UsageError("two --plugin paths have the same library name; rename one of them")
    if not hasattr(config, "workerinput") and config.getoption("dist", "no") in ("no", None):
        # Start the fork servers now: they warm up while pytest collects.
        from conformance.prefetch import default_workers
        from conformance.sandbox.client import SandboxClient, shared_client

        shared_client().start()
        extra = [SandboxClient() for _ in range(default_workers() - 1)]
        for client in extra:
            client.start()
        config.stash[SPARE_CLIENTS_KEY] = extra


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With --plugin and no test paths on the command line, collect only the battery."""
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings and settings.plugins and not _explicit_paths(config):
        return True
    return None


def _explicit_paths(config: pytest.Config) -> bool:
    return any(not str(arg).startswith("-") for arg in config.invocation_params.args if Path(str(arg).split("::")[0]).exists())


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
        from conformance.runner import plugin_label, probe, run_item

        settings = self.config.stash[SETTINGS_KEY]
        facts = probe(self.plugin_path, settings.budget_scale)
        prefetcher = self.config.stash.get(PREFETCH_KEY, None)
        future = prefetcher.take(self.plugin_path, self.battery_item.name) if prefetcher else None
        if future is not None:
            result = future.result()
        else:
            result = run_item(self.plugin_path, self.battery_item, facts, settings.budget_scale, settings.reruns)
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
        self.user_properties.append((PROPERTY, json.dumps(payload)))
        if result.status == "skip":
            pytest.skip(result.message)
        if result.blocking:
            raise CheckFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            from conformance.report.text import failure_text

            return failure_text(excinfo.value.args[0])
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.plugin_path, None, f"{self.battery_item.name} [{self.battery_item.check.severity.value}]"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash.get(SETTINGS_KEY, None)
    if not settings or not settings.plugins:
        return
    from conformance.runner import plugin_label

    battery: list[pytest.Item] = []
    for path in settings.plugins:
        label = plugin_label(path)
        collector = PluginBattery.from_parent(session, name=label, nodeid=label, plugin_path=path)
        battery.extend(collector.collect())
    items[:0] = battery


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without xdist, run the selected battery items ahead on one fork server per core."""
    config = session.config
    settings = config.stash.get(SETTINGS_KEY, None)
    if not settings or not settings.plugins or hasattr(config, "workerinput"):
        return
    if config.getoption("dist", "no") not in ("no", None) or config.getoption("collectonly"):
        return
    battery = [item for item in session.items if isinstance(item, CheckItem)]
    if len(battery) < 2:
        return
    from conformance.prefetch import Prefetcher
    from conformance.runner import probe
    from conformance.sandbox.client import shared_client

    prefetcher = Prefetcher([shared_client(), *config.stash.get(SPARE_CLIENTS_KEY, [])])
    config.stash[PREFETCH_KEY] = prefetcher
    for item in battery:
        facts = probe(item.plugin_path, settings.budget_scale)
        prefetcher.submit(item.plugin_path, item.battery_item, facts, settings.budget_scale, settings.reruns)


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
            status = json.loads(value)["result"]["status"]
            if status == "warn":
                return "warned", "W", "WARN"
            if status in ("fail", "crash", "timeout", "flaky", "error"):
                return "non-blocking", "N", f"{status.upper()} (not required)"
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.skipped):
        return
    for name, value in report.user_properties:
        if name == PROPERTY:
            _collected_payloads.append(json.loads(value))


_collected_payloads: list[dict[str, Any]] = []


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    settings = config.stash.get(SETTINGS_KEY, None)
    if not settings or not settings.plugins:
        return None
    lines = [f"conformance: budget scale {settings.budget_scale}, reports in {settings.report_dir}"]
    lines.extend(f"conformance: plugin {path}" for path in settings.plugins)
    return lines


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    settings = config.stash.get(SETTINGS_KEY, None)
    if not settings or not settings.plugins or hasattr(config, "workerinput"):
        return
    from conformance.report.writer import write_reports

    written = write_reports(settings, list(_collected_payloads), complete=exitstatus not in (2,))
    _collected_payloads.clear()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for path, verdict in written:
            reporter.write_line(f"conformance: {verdict.upper()} - report written to {path}")
