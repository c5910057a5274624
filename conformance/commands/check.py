"""``conformance check``: the battery through pytest, with the same settings resolver as ``pytest --plugin``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import pytest

from conformance.battery.runner import probe, probe_many
from conformance.commands.console import (
    EXIT_CHECK_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageProblem,
    say,
    warn,
)
from conformance.host.elfcheck import elf_facts
from conformance.pytest_face.prefetch import probe_parallelism
from conformance.pytest_face.progress import ProgressPlugin
from conformance.pytest_face.session import battery_session
from conformance.report import interrupt
from conformance.report.baseline import BaselineError, load_baseline
from conformance.report.terminal import render_plugin, render_totals
from conformance.report.writer import WrittenRun, declared_version, replaced_reports, write_unloadable_report
from conformance.sandbox.client import close_shared_client
from conformance.settings import (
    RunSettings,
    SettingsError,
    check_report_dir,
    find_ini,
    ini_reader,
    resolve_settings,
)


def run(args: argparse.Namespace) -> int:
    settings = _check_settings(args)
    for note in settings.notes:
        warn(note)
    if settings.baseline is not None:
        try:
            load_baseline(settings.baseline)  # one line now, before any plugin runs
        except BaselineError as error:
            raise UsageProblem(str(error)) from None
    interrupt.install()  # a SIGTERM or SIGHUP while probing ends the command as interrupted, never killed
    try:
        _refuse_unloadable(settings)
    finally:
        interrupt.uninstall()
    progress = ProgressPlugin()
    code = int(pytest.main(_pytest_argv(args, settings), plugins=[progress]))
    progress.close_line()
    battery = battery_session(progress.config) if progress.config is not None else None
    if battery is not None and battery.no_selection is not None:
        raise UsageProblem(battery.no_selection)
    if battery is not None and battery.write_error is not None:
        warn(battery.write_error)
    status = _exit_status(code)
    if battery is not None and battery.written is not None:
        _print_run(battery.written)
    return _agreeing(status, battery.written if battery is not None else None)


def _exit_status(pytest_code: int) -> int:
    """pytest's exit status as the documented one; an interrupted run is never a pass."""
    if pytest_code == pytest.ExitCode.OK:
        return EXIT_OK
    if pytest_code == pytest.ExitCode.TESTS_FAILED:
        return EXIT_CHECK_FAILED
    if pytest_code == pytest.ExitCode.INTERRUPTED:
        return EXIT_INTERRUPTED
    if pytest_code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        return EXIT_USAGE
    return EXIT_INTERNAL


def _agreeing(status: int, written: WrittenRun | None) -> int:
    """The exit status, never 0 beside a report that fails or did not finish, nor without any report."""
    if status != EXIT_OK:
        return status
    if written is None:
        warn("the battery ended without writing its reports")
        return EXIT_INTERNAL
    if any(report.fails_the_run or not report.complete for report in written.reports):
        return EXIT_CHECK_FAILED
    return status


def _print_run(written: WrittenRun) -> None:
    """The summary of this run's reports only (never files an earlier run left in the directory)."""
    replaced = replaced_reports(written)
    if replaced:
        warn(replaced)
    reports = []
    for report in written.reports:
        data = json.loads(report.json_path.read_text(encoding="utf-8"))
        if (data.get("run") or {}).get("id") != written.run_id:
            continue  # replaced meanwhile by another run: not ours to show
        reports.append(data)
        say(render_plugin(data, str(report.json_path)))
    if len(reports) > 1:
        say(render_totals(reports))


def _check_settings(args: argparse.Namespace) -> RunSettings:
    """The same resolver as ``pytest --plugin``: command line, then CONFORMANCE_*, then the ini file."""
    given: dict[str, Any] = {
        "plugin": [str(path) for path in args.plugins],
        "report-dir": args.report_dir,
        "budget-scale": args.budget_scale,
        "baseline": args.baseline,
        "reruns": args.reruns,
        "race": args.race,
        "memcheck": "yes" if args.memcheck else None,
        "shard": args.shard,
        "shard-durations": args.shard_durations,
    }
    try:
        _, ini_values = find_ini(Path.cwd())
        settings = resolve_settings(given.get, ini_reader(ini_values))
        if not settings.plugins:
            raise UsageProblem("no plugin to check: give PATH.so (or set CONFORMANCE_PLUGIN)")
        check_report_dir(settings.report_dir)
    except SettingsError as error:
        raise UsageProblem(str(error)) from None
    return settings


def _refuse_unloadable(settings: RunSettings) -> None:
    """A plugin the tool cannot inspect or the host refuses to load gets its report and one line; no battery.

    The battery of such a plugin would be 165 skips saying the same thing.
    A plugin that loads but dies inside an entry point during the probe is not
    refused: that death is what its checks report.
    """
    problems = []
    for path in settings.plugins:
        elf = elf_facts(path)
        if not elf.loadable:
            write_unloadable_report(settings.report_dir, path, f"not loadable: {elf.problem}")
            problems.append(f"{path}: not loadable: {elf.problem}")
    if problems:
        raise UsageProblem("\n".join(problems))
    probe_many(list(settings.plugins), settings.budget_scale, [], probe_parallelism())
    refused = []
    for path in settings.plugins:
        facts = probe(path, settings.budget_scale)
        if not facts.loadable and facts.failed_entry in (None, "dlopen", "streamkit_native_plugin_api"):
            refused.append((path, facts))
    if refused:
        close_shared_client()  # reports are written once no fork server (nor anything it started) is left
    for path, facts in refused:
        known = {"version": facts.version, "language": facts.language, "load_problem": facts.load_problem}
        write_unloadable_report(settings.report_dir, path, f"not loadable: {facts.load_problem}", known)
        version = declared_version(known)
        declared = f" (declares API v{version})" if version is not None else ""
        problems.append(f"{path}{declared}: not loadable: {facts.load_problem}")
    if problems:
        raise UsageProblem("\n".join(problems))


def _pytest_argv(args: argparse.Namespace, settings: RunSettings) -> list[str]:
    """pytest, isolated from the project it runs in (no ini, no conftest), with every setting explicit."""
    argv = ["-c", os.devnull, "--rootdir", str(Path.cwd()), "--noconftest"]
    argv += ["-p", "no:cacheprovider", "-p", "no:terminal"]
    for path in settings.plugins:
        argv += ["--conformance-plugin", str(path)]
    argv += ["--report-dir", str(settings.report_dir), "--budget-scale", str(settings.budget_scale)]
    argv += ["--reruns", str(settings.reruns)]
    argv += ["--shard", "1/1"]  # settings.plugins is this shard already: the environment must not split it again
    if settings.baseline is not None:
        argv += ["--baseline", str(settings.baseline)]
    if settings.race:
        argv += [f"--race={settings.race}"]
    if settings.memcheck:
        argv += ["--memcheck"]
    if args.jobs != "1":
        argv += ["-n", str(args.jobs)]
    if args.keyword:
        argv += ["-k", args.keyword]
    if args.markexpr:
        argv += ["-m", args.markexpr]
    return argv
