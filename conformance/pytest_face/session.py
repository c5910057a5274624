"""One object behind the hooks of a battery run, as pytest-xdist puts its ``DSession`` behind its hooks.

``conformance.pytest_plugin`` registers a ``BatterySession`` in ``pytest_configure``
only when a plugin is given, so no hook here asks whether there is a battery, and
the run's state lives on the object, not in the config's stash or in module globals.
``conformance check`` reads the outcome (``written``, ``no_selection``,
``write_error``) from it after ``pytest.main`` returns: see ``battery_session``.
"""

from __future__ import annotations

import datetime as dt
import gc
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from conformance.battery.runner import BatteryItem
from conformance.checks.model import CATEGORIES, Severity
from conformance.checks.registry import catalogue
from conformance.host.elfcheck import elf_facts
from conformance.pytest_face.execution import ItemRunner
from conformance.pytest_face.items import CheckItem, PluginBattery
from conformance.pytest_face.junit import written_atomically
from conformance.pytest_face.prefetch import prefetch_enabled
from conformance.pytest_face.protocol import BatteryProtocol
from conformance.pytest_face.reporting import (
    announce,
    exit_status_follows_the_reports,
    item_status,
    no_selection_message,
    payloads,
    summarise_property,
)
from conformance.pytest_face.startup import SurvivorFreezer, drop_idle_hypothesis_plugin
from conformance.pytest_face.xdist import CONTROLLER_NAME, XdistController, is_worker, xdist_mode
from conformance.report import interrupt
from conformance.report.baseline import Baseline, BaselineError, load_baseline
from conformance.report.rundir import RunInfo
from conformance.report.writer import WrittenRun, write_reports, write_unloadable_report
from conformance.sandbox.calibration import current as current_calibration
from conformance.settings import RunSettings, SettingsError, check_report_dir, plugin_label

SESSION_NAME = "conformance-battery"


def start_session(config: pytest.Config, settings: RunSettings) -> BatterySession:
    """Refuse what cannot run (a bad baseline or report directory, an unloadable plugin), then start and register."""
    for category in CATEGORIES:
        config.addinivalue_line("markers", f"{category.replace('-', '_')}: checks of the {category} category")
    for severity in Severity:
        config.addinivalue_line("markers", f"{severity.value}: checks of {severity.value} severity")
    try:
        baseline = load_baseline(settings.baseline) if settings.baseline is not None else None
    except BaselineError as error:
        raise pytest.UsageError(str(error)) from None
    if not is_worker(config):
        try:
            check_report_dir(settings.report_dir)
        except SettingsError as error:
            raise pytest.UsageError(str(error)) from None
    _refuse_unloadable(config, settings)
    # The catalogue's modules load now, while the zygote boots: loaded by the collection, they came after the
    # probe, between it and the hand-over of the items to the pool. Not later either: from the session's start
    # a signal is an interruption, and one that cut a check module's import short left the catalogue half made.
    catalogue()
    session = BatterySession(config, settings, baseline)
    session.start()
    config.pluginmanager.register(session, SESSION_NAME)
    return session


def _refuse_unloadable(config: pytest.Config, settings: RunSettings) -> None:
    """A plugin that is not a loadable shared object gets its report (from the controller) and a usage error."""
    problems = []
    for path in settings.plugins:
        facts = elf_facts(path)
        if not facts.loadable:
            if not is_worker(config):
                write_unloadable_report(settings.report_dir, path, f"not loadable: {facts.problem}")
            problems.append(f"{path}: not loadable: {facts.problem}")
    if problems:
        raise pytest.UsageError("\n".join(problems))


def _interrupted_now() -> bool:
    """A signal (``report.interrupt``) or Ctrl-C is ending the run, possibly through the caller's ``finally``."""
    return interrupt.received() or isinstance(sys.exc_info()[1], KeyboardInterrupt)


def battery_session(config: pytest.Config) -> BatterySession | None:
    """The session of a run that had a plugin to check, None for any other run."""
    session = config.pluginmanager.get_plugin(SESSION_NAME)
    return session if isinstance(session, BatterySession) else None


class BatterySession:
    """The battery of one pytest process: its items, how they run, what the run wrote."""

    def __init__(self, config: pytest.Config, settings: RunSettings, baseline: Baseline | None) -> None:
        self.config = config
        self.settings = settings
        self.baseline = baseline
        self.mode = xdist_mode(config)
        self.worker = is_worker(config)
        self.runner = ItemRunner(settings)
        self.protocol = BatteryProtocol(config)
        self.controller: XdistController | None = None
        self.payloads: list[dict[str, Any]] = []
        self.battery_size = 0  # items before -k/-m deselection
        self.started_at: dt.datetime | None = None
        self.no_selection: str | None = None  # why no battery item was selected (a usage error)
        self.written: WrittenRun | None = None
        self.write_error: str | None = None  # why the reports could not be written
        self.expired: list[str] = []  # expired baseline entries, each a line
        self.survivors = SurvivorFreezer()

    @property
    def xdist_off(self) -> bool:
        return self.mode == "no" and not self.worker

    @property
    def explicit_paths(self) -> bool:
        """Whether the user named test paths on the command line (then they run beside the battery)."""
        return bool(self.config.args_source == pytest.Config.ArgsSource.ARGS)

    @property
    def driven_by_cli(self) -> bool:
        """``conformance check`` passes a plugin object marked ``conformance_cli``; it reports usage errors itself."""
        return any(getattr(plugin, "conformance_cli", False) for plugin in self.config.pluginmanager.get_plugins())

    def start(self) -> None:
        """Start the fork servers now, in the background, so they warm up while pytest collects.

        The xdist controller runs no item: it probes every plugin once and hands the facts to the workers.
        """
        if not self.explicit_paths:
            self.survivors.start()
        if self.worker or self.mode == "no":
            self.runner.start(self.config, self.mode)
            return
        self.controller = XdistController.probed(self.settings, parallel=prefetch_enabled())
        self.config.pluginmanager.register(self.controller, CONTROLLER_NAME)

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        """With no test paths on the command line, collect only the battery."""
        return None if self.explicit_paths else True

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        settings = self.settings
        lines = [f"conformance: budget scale {settings.budget_scale}, reports in {settings.report_dir}"]
        self.runner.wait_calibrated()
        calibration = current_calibration()
        if calibration is not None:
            lines.append(f"conformance: {calibration.headline()}")
        lines.extend(f"conformance: plugin {path}" for path in settings.plugins)
        lines.extend(f"conformance: {note}" for note in settings.notes)
        if self.baseline is not None:
            lines.append(f"conformance: baseline {self.baseline.path} ({len(self.baseline.entries)} accepted entries)")
        return lines

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Note the start time and turn SIGTERM into an interruption, so a cancelled run still reports."""
        if self.worker:
            return
        self.started_at = dt.datetime.now(dt.UTC)
        interrupt.install()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Put the battery first, once every plugin is probed (at once, on the pool if there is one)."""
        self.runner.wait_started()
        battery: list[pytest.Item] = []
        for path in self.settings.plugins:
            label = plugin_label(path)
            collector = PluginBattery.from_parent(
                session, name=label, nodeid=label, plugin_path=path, runner=self.runner, baseline=self.baseline
            )
            collected = collector.collect()
            # Reported like any collector's result, so pytest's "collected N items" counts the battery.
            config.hook.pytest_collectreport(
                report=pytest.CollectReport(collector.nodeid, "passed", None, list(collected))
            )
            battery.extend(collected)
        self.battery_size = len(battery)
        items[:0] = battery

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Run the selected battery items ahead on the pool: all at once without xdist, per plugin in a worker.

        pytest calls this even when collection was interrupted (from a ``finally``): then nothing is run,
        and an empty selection is the interruption's, not a usage error.
        """
        if self.config.getoption("collectonly") or _interrupted_now():
            return
        drop_idle_hypothesis_plugin(self.config)
        battery = [item for item in session.items if isinstance(item, CheckItem)]
        if self.xdist_off and not self.explicit_paths and not battery:
            self.no_selection = no_selection_message(self.config, self.battery_size)
            if not self.driven_by_cli:
                raise pytest.UsageError(self.no_selection)
            return
        selected: dict[Path, list[BatteryItem]] = {}
        for item in battery:
            selected.setdefault(item.plugin_path, []).append(item.battery_item)
        self.runner.schedule(selected, submit_now=not self.worker)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        """A battery item takes the short protocol (``protocol.py``) where it gives the same reports."""
        if not self.protocol.fits(item):
            return None
        assert isinstance(item, CheckItem)
        self.protocol.run(item)
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            summarise_property(report)
        elif report.when == "call" or (report.when == "setup" and report.skipped):
            self.payloads.extend(payloads(report))

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
        return item_status(report)

    @pytest.hookimpl(wrapper=True, tryfirst=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_stops_servers_first(self) -> Generator[None, None, None]:
        """Every file of the report directory is written after this process's fork servers are stopped and
        reaped with everything they started (``SandboxClient.close``): nothing a plugin started is left to
        rewrite them. pytest's JUnit file is made atomic here too.

        pytest registers no method as a hook, ``specname`` or not, unless its name starts with ``pytest_``.
        """
        interrupt.hold()  # SIGTERM or SIGHUP now is noted, never cuts the stopping short
        self.runner.close()
        with written_atomically(self.config):
            return (yield)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the reports, even of an interrupted run, and make the exit status agree with them."""
        if self.worker or self.config.getoption("collectonly", False):
            return  # a worker's items are reported by the controller; with --collect-only nothing ran
        interrupt.hold(ctrl_c=True)
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or interrupt.received()
        if interrupted:
            self.no_selection = None  # an interrupted collection selected nothing: not the user's selection
        selected = self._selected(session)
        if (
            not interrupted
            and self.no_selection is None
            and selected is not None
            and not self.explicit_paths
            and not sum(selected.values())
        ):
            self.no_selection = no_selection_message(self.config, self.battery_size)
        run = RunInfo(
            started_at=self.started_at,
            interrupted=interrupted,
            keyword=self.config.getoption("keyword", None) or None,
            markexpr=self.config.getoption("markexpr", None) or None,
        )
        reporter: pytest.TerminalReporter | None = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and reporter._tw.width_of_current_line:
            reporter.write_line("")  # the progress line ("[100%]") is still open at this point
        try:
            written = write_reports(
                self.settings,
                list(self.payloads),
                complete=not interrupted,
                run=run,
                selected=selected,
                baseline=self.baseline,
                nothing_selected=self.no_selection is not None,
            )
        except OSError as error:
            self.write_error = f"cannot write the reports in {self.settings.report_dir}: {error.strerror or error}"
            if reporter is not None:
                reporter.write_line(f"conformance: {self.write_error}", red=True)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            interrupt.uninstall()
            return
        finally:
            self.payloads.clear()
        self.written = written
        if self.no_selection is not None:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        if reporter is not None:
            if self.no_selection is not None and not self.xdist_off:
                reporter.write_line(f"conformance: {self.no_selection}", red=True)  # without xdist pytest said it
            announce(reporter, written)
        self.expired = list(written.expired)
        if written.expired and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        exit_status_follows_the_reports(session, written.reports, reporter)
        if interrupted:
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        interrupt.uninstall()

    def _selected(self, session: pytest.Session) -> dict[str, int] | None:
        """Items selected per plugin path; under xdist as the workers collected them (None before they did)."""
        if self.controller is not None:
            return self.controller.selected(self.settings)
        counts: dict[str, int] = {str(path): 0 for path in self.settings.plugins}
        for item in session.items:
            if isinstance(item, CheckItem):
                counts[str(item.plugin_path)] = counts.get(str(item.plugin_path), 0) + 1
        return counts

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
    ) -> None:
        """Expired baseline entries fail the run with no failed item: say so right above the final line."""
        if self.expired:
            terminalreporter.section("conformance baseline", sep="-", red=True)
            for message in self.expired:
                terminalreporter.write_line(f"conformance: {message}", red=True)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.survivors.stop()
        self.runner.close()

    @pytest.hookimpl(trylast=True, specname="pytest_unconfigure")
    def pytest_unconfigure_freezes_the_heap(self) -> None:
        """Python's exit collects garbage over every object the run built (items, payloads, reports: 0.5 s of
        a 40-plugin run's single-core tail). None of it can be garbage worth finding then, so it moves to the
        permanent generation, as start-up's objects did (``startup.collection_paused``). Finalisation still
        frees what it frees, and atexit handlers still run."""
        gc.freeze()
