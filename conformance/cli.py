"""The ``conformance`` command line.

Exit codes (documented in the README): 0 every required check passed; 1 a
required check failed; 2 usage error or plugin not loadable; 3 internal error
of the tool. Bad input gets one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from conformance import __version__
from conformance.abi.constants import SUPPORTED_VERSIONS

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


EXIT_INTERRUPTED = 130


class UsageProblem(Exception):
    """A one-line complaint about the command's input."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line on stderr (``conformance: ...``) and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageProblem(f"{message} (see `{self.prog} --help`)")


def _jobs(value: str) -> str:
    if value == "auto":
        return value
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a number of workers nor 'auto'") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count}: the number of workers must be at least 1")
    return str(count)


def _say(text: str) -> None:
    """Print to stdout; a reader that went away (``| head``) only silences the rest, never the exit status."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - swallow the remaining output and the flush at exit


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="conformance", description="StreamKit native plugin ABI conformance")
    parser.add_argument(
        "--version",
        action="version",
        version=f"streamkit-conformance {__version__} (plugin ABI v{SUPPORTED_VERSIONS[0]}-v{SUPPORTED_VERSIONS[-1]})",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser(
        "check",
        help="run the battery on one or more plugins",
        description="Options left out come from CONFORMANCE_* environment variables, then from the conformance_* "
        "settings of the pytest ini file (pytest.ini, pyproject.toml, tox.ini, setup.cfg), as with pytest --plugin.",
    )
    check.add_argument(
        "plugins", nargs="*", type=Path, metavar="PATH", help="plugin shared objects (or CONFORMANCE_PLUGIN)"
    )
    check.add_argument("--report-dir", help="where reports go (default: reports)")
    check.add_argument("--baseline", help="TOML file of accepted failures")
    check.add_argument("--budget-scale", help="multiply every time budget (slow CI: 2 or 3)")
    check.add_argument("--reruns", help="re-run a failed check this many times (default 1)")
    check.add_argument(
        "--race", nargs="?", const="helgrind", help="run the threading scenario under helgrind (default) or drd"
    )
    check.add_argument("--memcheck", action="store_true", help="re-run failing leak and memory checks under memcheck")
    check.add_argument("--shard", help="check only shard I of N (e.g. 2/3) of the plugins (CI matrices)")
    check.add_argument("--shard-durations", help="report directory of an earlier run: balance shards by its times")
    check.add_argument("-j", "--jobs", type=_jobs, default="1", help="parallel workers (pytest-xdist), or 'auto'")
    check.add_argument("-k", dest="keyword", help="only checks matching this pytest -k expression")
    check.add_argument("-m", dest="markexpr", help="only checks matching this pytest -m expression (e.g. required)")

    repro = commands.add_parser("repro", help="re-run one check on one plugin and print the result")
    repro.add_argument("plugin", type=Path)
    repro.add_argument(
        "check_id", help="check id (a host-sensitive check runs at every host version), or an item id with [vN]"
    )
    repro.add_argument(
        "--in-process", action="store_true", help="run in this process (for a debugger; a crash ends it)"
    )
    repro.add_argument("--trace", action="store_true", help="print every call and callback event")
    repro.add_argument(
        "--memcheck",
        action="store_true",
        help="run the check under valgrind memcheck and print its findings inside the plugin",
    )
    repro.add_argument("--budget-scale", type=float, default=1.0)

    listing = commands.add_parser("list-checks", help="print the check catalogue")
    listing.add_argument("--json", action="store_true")

    commands.add_parser("build-fixtures", help="build the bundled fixture plugins (source checkout only)")

    explain = commands.add_parser("explain", help="explain a check: what, why, typical causes, how to fix")
    explain.add_argument("check_id")

    merge = commands.add_parser(
        "merge",
        help="combine the report directories of shards (--shard I/N) into one: index, summary, JUnit, gate verdict",
    )
    merge.add_argument("shards", nargs="+", type=Path, metavar="DIR", help="a shard's report directory")
    merge.add_argument("--out", type=Path, required=True, help="the merged report directory (new or empty)")

    diff = commands.add_parser(
        "diff", help="compare two report.json files: exit 1 when a check got worse or a new check fails"
    )
    diff.add_argument("old", type=Path, metavar="OLD.json")
    diff.add_argument("new", type=Path, metavar="NEW.json")
    return parser


def _warn(text: str) -> None:
    print(f"conformance: {text}", file=sys.stderr, flush=True)


def _check(args: argparse.Namespace) -> int:
    import pytest

    from conformance.pytest_face.progress import ProgressPlugin
    from conformance.pytest_face.session import battery_session

    settings = _check_settings(args)
    for note in settings.notes:
        _warn(note)
    if settings.baseline is not None:
        from conformance.report.baseline import BaselineError, load_baseline

        try:
            load_baseline(settings.baseline)  # one line now, before any plugin runs
        except BaselineError as error:
            raise UsageProblem(str(error)) from None
    _refuse_unloadable(settings)
    progress = ProgressPlugin()
    code = int(pytest.main(_pytest_argv(args, settings), plugins=[progress]))
    progress.close_line()
    battery = battery_session(progress.config) if progress.config is not None else None
    if battery is not None and battery.no_selection is not None:
        raise UsageProblem(battery.no_selection)
    if battery is not None and battery.write_error is not None:
        _warn(battery.write_error)
    status = _exit_status(code)
    if battery is not None and battery.written is not None:
        _print_run(battery.written)
    return status


def _exit_status(pytest_code: int) -> int:
    """pytest's exit status as the documented one; an interrupted run is never a pass."""
    import pytest

    if pytest_code == pytest.ExitCode.OK:
        return EXIT_OK
    if pytest_code == pytest.ExitCode.TESTS_FAILED:
        return EXIT_CHECK_FAILED
    if pytest_code == pytest.ExitCode.INTERRUPTED:
        return EXIT_INTERRUPTED
    if pytest_code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        return EXIT_USAGE
    return EXIT_INTERNAL


def _print_run(written: Any) -> None:
    """The summary of this run's reports only (never files an earlier run left in the directory)."""
    from conformance.report.terminal import render_plugin, render_totals
    from conformance.report.writer import replaced_reports

    replaced = replaced_reports(written)
    if replaced:
        _warn(replaced)
    reports = []
    for report in written.reports:
        data = json.loads(report.json_path.read_text(encoding="utf-8"))
        if (data.get("run") or {}).get("id") != written.run_id:
            continue  # replaced meanwhile by another run: not ours to show
        reports.append(data)
        _say(render_plugin(data, str(report.json_path)))
    if len(reports) > 1:
        _say(render_totals(reports))


def _check_settings(args: argparse.Namespace) -> Any:
    """The same resolver as ``pytest --plugin``: command line, then CONFORMANCE_*, then the ini file."""
    from conformance.settings import SettingsError, check_report_dir, find_ini, ini_reader, resolve_settings

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


def _refuse_unloadable(settings: Any) -> None:
    """A plugin the tool cannot inspect or the host refuses to load gets its report and one line; no battery.

    The battery of such a plugin would be 165 skips saying the same thing.
    A plugin that loads but dies inside an entry point during the probe is not
    refused: that death is what its checks report.
    """
    from conformance.battery.runner import probe, probe_many
    from conformance.host.elfcheck import elf_facts
    from conformance.pytest_face.prefetch import probe_parallelism
    from conformance.report.writer import declared_version, write_unloadable_report

    problems = []
    for path in settings.plugins:
        elf = elf_facts(path)
        if not elf.loadable:
            write_unloadable_report(settings.report_dir, path, f"not loadable: {elf.problem}")
            problems.append(f"{path}: not loadable: {elf.problem}")
    if problems:
        raise UsageProblem("\n".join(problems))
    probe_many(list(settings.plugins), settings.budget_scale, [], probe_parallelism())
    for path in settings.plugins:
        facts = probe(path, settings.budget_scale)
        if facts.loadable or facts.failed_entry not in (None, "dlopen", "streamkit_native_plugin_api"):
            continue
        known = {"version": facts.version, "language": facts.language, "load_problem": facts.load_problem}
        write_unloadable_report(settings.report_dir, path, f"not loadable: {facts.load_problem}", known)
        version = declared_version(known)
        declared = f" (declares API v{version})" if version is not None else ""
        problems.append(f"{path}{declared}: not loadable: {facts.load_problem}")
    if problems:
        raise UsageProblem("\n".join(problems))


def _pytest_argv(args: argparse.Namespace, settings: Any) -> list[str]:
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


def _find_items(plugin: Path, name: str, budget_scale: float) -> tuple[list[Any], Any]:
    """The battery items ``name`` denotes: an item id, or a check id (every host version it runs at)."""
    from conformance.battery.runner import battery_for, probe

    facts = probe(plugin, budget_scale)
    battery = battery_for(facts)
    exact = [item for item in battery if item.name == name]
    items = exact or [item for item in battery if item.check.id == name]
    if items:
        return items, facts
    raise UsageProblem(f"no check {name!r} for this plugin (see `conformance list-checks`)")


def _repro(args: argparse.Namespace) -> int:
    from conformance.battery.runner import request_for, result_of
    from conformance.checks.judge import judge
    from conformance.checks.model import Status
    from conformance.host.elfcheck import elf_facts
    from conformance.report.text import failure_text
    from conformance.sandbox.client import run_in_process, shared_client

    elf = elf_facts(args.plugin)
    if not elf.loadable:
        raise UsageProblem(f"{args.plugin}: not loadable: {elf.problem}")
    items, facts = _find_items(args.plugin, args.check_id, args.budget_scale)
    if len(items) > 1:
        _say(f"{args.check_id}: runs at host versions {', '.join(f'v{item.host_version}' for item in items)}")
    if args.memcheck and len(items) > 1:
        raise UsageProblem(f"--memcheck runs one item: pick one of {', '.join(item.name for item in items)}")
    status = EXIT_OK
    for item in items:
        request = request_for(args.plugin, item, args.budget_scale, facts)
        if args.memcheck:
            return _repro_memcheck(args, request)
        result = run_in_process(request) if args.in_process else shared_client().run(request)
        if args.trace:
            for event in result.events:
                _say(f"  {type(event).__name__}: {event}")
        outcome = result_of(args.plugin, item, judge(item.check, result), result.duration_s)
        _say(failure_text(outcome) if outcome.status is not Status.PASS else f"{outcome.id}: PASS")
        credited = _credited_elsewhere(outcome.evidence)
        if outcome.blocking or credited:
            status = EXIT_CHECK_FAILED
    return status


def _credited_elsewhere(evidence: dict[str, Any]) -> bool:
    """Print the violations this scenario saw of rules other checks own (the monitors credit them there,
    so a `seen during` failure reproduces here); True when one of them fails a required check."""
    from conformance.checks.model import Severity
    from conformance.checks.monitors import EVIDENCE_KEY, owns
    from conformance.checks.registry import catalogue

    blocking = False
    for violation in evidence.get(EVIDENCE_KEY) or []:
        owners = [check for check in catalogue() if owns(check, violation["rule"])]
        if not owners:
            continue
        blocking = blocking or any(check.severity is Severity.REQUIRED for check in owners)
        during = f" (during {violation['during']})" if violation.get("during") else ""
        names = ", ".join(check.id for check in owners)
        _say(f"  seen here, fails {names}: {violation['detail']}{during}")
    return blocking


def _repro_memcheck(args: argparse.Namespace, request: Any) -> int:
    """The same scenario in a process of its own under memcheck; prints the findings with plugin frames."""
    from dataclasses import replace

    from conformance.heavy.valgrind import ValgrindMissing, run_under

    try:
        run = run_under("memcheck", replace(request, budget_scale=request.budget_scale * 20, overall_budget_s=600.0))
    except ValgrindMissing as error:
        raise UsageProblem(str(error)) from None
    outcome = run.result.outcome.value if run.result is not None else "unknown"
    _say(
        f"{args.check_id}: memcheck ran for {run.duration_s:.1f} s; scenario {outcome}; "
        f"{len(run.findings)} finding(s) inside the plugin"
    )
    for finding in run.findings:
        frames = " <- ".join(frame.function for frame in finding.plugin_frames(request.plugin_path)[:4])
        _say(f"  {finding.kind}: {finding.what}\n    at {frames}")
    if run.error:
        _say(f"  note: {run.error}")
    return EXIT_CHECK_FAILED if run.findings else EXIT_OK


def _list_checks(args: argparse.Namespace) -> int:
    from conformance.checks.registry import catalogue

    checks = catalogue()
    if args.json:
        rows = [
            {
                "id": c.id,
                "category": c.category,
                "severity": c.severity.value,
                "abi_ref": c.abi_ref,
                "rationale": c.rationale,
                "node_kinds": sorted(c.applies.node_kinds),
                "plugin_versions": [c.applies.min_version, c.applies.max_version],
                "host_sensitive": c.applies.host_sensitive,
                "needs": list(c.applies.needs),
                "budget_s": c.budget_s,
            }
            for c in checks
        ]
        _say(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(c.id) for c in checks)
    for c in checks:
        _say(f"{c.id:<{width}}  {c.severity.value:<11}  {c.abi_ref}")
    _say(f"{len(checks)} checks")
    return EXIT_OK


def _build_fixtures(args: argparse.Namespace) -> int:
    from conformance.fixtures import FIXTURE_ROOT, FixtureBuildError, build_fixtures

    if not (FIXTURE_ROOT / "Cargo.toml").is_file():
        raise UsageProblem(
            "no fixture corpus here: it ships with the source checkout, not with the installed package "
            "(clone the repository and run this command there)"
        )
    try:
        built = build_fixtures()
    except FixtureBuildError as error:
        raise UsageProblem(str(error).splitlines()[0]) from None
    for name, path in sorted(built.items()):
        _say(f"{name:28s} {path}")
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from conformance.report.diff import ReportReadError, compare_reports, load_report, render_diff

    try:
        old, new = load_report(args.old), load_report(args.new)
    except ReportReadError as error:
        raise UsageProblem(str(error)) from None
    difference = compare_reports(old, new)
    _say(render_diff(difference))
    return EXIT_CHECK_FAILED if difference.regressions else EXIT_OK


def _merge(args: argparse.Namespace) -> int:
    from conformance.report.merge import MergeError, merge_runs

    try:
        merged = merge_runs(list(args.shards), args.out)
    except MergeError as error:
        raise UsageProblem(str(error)) from None
    failing = [report["plugin"]["name"] for report in merged.reports if report.get("verdict") == "fail"]
    verdict = f"; gate {merged.gate.state}" if merged.gate is not None else ""
    _say(
        f"merged {len(args.shards)} shards: {len(merged.reports)} plugins, {len(failing)} failing{verdict}; "
        f"{args.out / 'index.html'}"
    )
    if merged.gate is not None:
        for line in merged.gate.problems[:50]:
            _say(f"  {line}")
    return EXIT_CHECK_FAILED if merged.failed else EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    from conformance.abi_reference import render_cited
    from conformance.explain import explanation, render_text

    try:
        found = explanation(args.check_id)
    except KeyError as error:
        raise UsageProblem(str(error.args[0]) if error.args else f"no check {args.check_id!r}") from None
    _say(render_text(found))
    rule = "-" * 78
    _say(f"\n{rule}\nThe cited sections (ABI reference shipped with the tool; docs/abi-reference.md)\n{rule}\n")
    _say(render_cited(found.abi_ref))
    return EXIT_OK


_COMMANDS = {
    "explain": _explain,
    "merge": _merge,
    "check": _check,
    "repro": _repro,
    "list-checks": _list_checks,
    "build-fixtures": _build_fixtures,
    "diff": _diff,
}


def main(argv: list[str] | None = None) -> int:
    command = ""
    try:
        args = _parser().parse_args(argv)
        command = args.command
        return _COMMANDS[command](args)
    except UsageProblem as problem:
        print(f"conformance: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # `check` gets here only before its battery started (pytest handles Ctrl-C during the run).
        print(f"conformance: interrupted{'; no report was written' if command == 'check' else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # only from a write outside _say; the command's own status is unknown here
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - swallow the flush at exit
        return EXIT_OK
    except Exception as error:  # noqa: BLE001 - the documented "internal error" exit
        print(
            f"conformance: internal error: {type(error).__name__}: {error} "
            "(please report this with the command you ran)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
