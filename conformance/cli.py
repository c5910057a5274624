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
from typing import Any

from conformance import __version__
from conformance.abi.constants import SUPPORTED_VERSIONS

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class UsageProblem(Exception):
    """A one-line complaint about the command's input."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conformance", description="StreamKit native plugin ABI conformance")
    parser.add_argument(
        "--version",
        action="version",
        version=f"streamkit-conformance {__version__} (plugin ABI v{SUPPORTED_VERSIONS[0]}-v{SUPPORTED_VERSIONS[-1]})",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="run the battery on one or more plugins")
    check.add_argument("plugins", nargs="+", type=Path, metavar="PATH")
    check.add_argument("--report-dir", default="reports")
    check.add_argument("--baseline")
    check.add_argument("--budget-scale", default="1.0")
    check.add_argument("-j", "--jobs", default="1", help="parallel workers (pytest-xdist), or 'auto'")
    check.add_argument("-k", dest="keyword", help="only checks matching this pytest -k expression")

    repro = commands.add_parser("repro", help="re-run one check on one plugin and print the result")
    repro.add_argument("plugin", type=Path)
    repro.add_argument("check_id", help="check id, with [vN] for a host-version item")
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

    commands.add_parser("build-fixtures", help="build the bundled fixture plugins")

    explain = commands.add_parser("explain", help="explain a check: what, why, typical causes, how to fix")
    explain.add_argument("check_id")

    diff = commands.add_parser(
        "diff", help="compare two report.json files: exit 1 when a check got worse or a new check fails"
    )
    diff.add_argument("old", type=Path, metavar="OLD.json")
    diff.add_argument("new", type=Path, metavar="NEW.json")
    return parser


def _check(args: argparse.Namespace) -> int:
    import pytest

    from conformance.progress import ProgressPlugin, render_summary
    from conformance.runner import inspect, plugin_label

    for path in args.plugins:
        facts = inspect(path)
        if not facts.loadable:
            raise UsageProblem(f"{path}: not loadable: {facts.problem}")
    argv = ["-c", os.devnull, "--rootdir", str(Path.cwd()), "-p", "no:cacheprovider", "-p", "no:terminal"]
    for path in args.plugins:
        argv += ["--plugin", str(path)]
    argv += ["--report-dir", args.report_dir, "--budget-scale", str(args.budget_scale)]
    if args.baseline:
        from conformance.baseline import BaselineError, load_baseline

        try:
            load_baseline(Path(args.baseline))  # one line now, before any plugin runs
        except BaselineError as error:
            raise UsageProblem(str(error)) from None
        argv += ["--baseline", args.baseline]
    if args.jobs != "1":
        argv += ["-n", str(args.jobs)]
    if args.keyword:
        argv += ["-k", args.keyword]
    progress = ProgressPlugin()
    code = int(pytest.main(argv, plugins=[progress]))
    for path in args.plugins:
        report_path = Path(args.report_dir) / plugin_label(path) / "report.json"
        if report_path.exists():
            print(render_summary(json.loads(report_path.read_text()), str(report_path)))
    if code in (0, 5):
        return EXIT_OK
    if code == 1:
        return EXIT_CHECK_FAILED
    if code == 4:
        return EXIT_USAGE
    return EXIT_INTERNAL


def _find_item(plugin: Path, name: str, budget_scale: float) -> tuple[Any, Any]:
    from conformance.runner import battery_for, probe

    facts = probe(plugin, budget_scale)
    for item in battery_for(facts):
        if item.name == name or (item.check.id == name and not item.host_sensitive):
            return item, facts
    raise UsageProblem(f"no check {name!r} for this plugin (see `conformance list-checks`)")


def _repro(args: argparse.Namespace) -> int:
    from conformance.checks.judge import judge
    from conformance.report.text import failure_text
    from conformance.runner import _result, inspect, request_for
    from conformance.sandbox.client import run_in_process, shared_client

    elf = inspect(args.plugin)
    if not elf.loadable:
        raise UsageProblem(f"{args.plugin}: not loadable: {elf.problem}")
    item, facts = _find_item(args.plugin, args.check_id, args.budget_scale)
    request = request_for(args.plugin, item, args.budget_scale, facts)
    if args.memcheck:
        return _repro_memcheck(args, request)
    result = run_in_process(request) if args.in_process else shared_client().run(request)
    if args.trace:
        for event in result.events:
            print(f"  {type(event).__name__}: {event}")
    outcome = _result(args.plugin, item, judge(item.check, result), result.duration_s)
    print(failure_text(outcome) if outcome.status != "pass" else f"{outcome.id}: PASS")
    credited = _credited_elsewhere(outcome.evidence)
    return EXIT_CHECK_FAILED if outcome.blocking or credited else EXIT_OK


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
        print(f"  seen here, fails {names}: {violation['detail']}{during}")
    return blocking


def _repro_memcheck(args: argparse.Namespace, request: Any) -> int:
    """The same scenario in a process of its own under memcheck; prints the findings with plugin frames."""
    from dataclasses import replace

    from conformance.valgrind import ValgrindMissing, run_under

    try:
        run = run_under("memcheck", replace(request, budget_scale=request.budget_scale * 20, overall_budget_s=600.0))
    except ValgrindMissing as error:
        raise UsageProblem(str(error)) from None
    outcome = run.result.outcome.value if run.result is not None else "unknown"
    print(
        f"{args.check_id}: memcheck ran for {run.duration_s:.1f} s; scenario {outcome}; "
        f"{len(run.findings)} finding(s) inside the plugin"
    )
    for finding in run.findings:
        frames = " <- ".join(frame.function for frame in finding.plugin_frames(request.plugin_path)[:4])
        print(f"  {finding.kind}: {finding.what}\n    at {frames}")
    if run.error:
        print(f"  note: {run.error}")
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
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(c.id) for c in checks)
    for c in checks:
        print(f"{c.id:<{width}}  {c.severity.value:<11}  {c.abi_ref}")
    print(f"{len(checks)} checks")
    return EXIT_OK


def _build_fixtures(args: argparse.Namespace) -> int:
    from conformance.fixtures import FixtureBuildError, build_fixtures

    try:
        built = build_fixtures()
    except FixtureBuildError as error:
        raise UsageProblem(str(error).splitlines()[0]) from None
    for name, path in sorted(built.items()):
        print(f"{name:28s} {path}")
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from conformance.report.diff import ReportReadError, compare_reports, load_report, render_diff

    try:
        old, new = load_report(args.old), load_report(args.new)
    except ReportReadError as error:
        raise UsageProblem(str(error)) from None
    difference = compare_reports(old, new)
    print(render_diff(difference))
    return EXIT_CHECK_FAILED if difference.regressions else EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    from conformance.explain import explanation, render_text

    try:
        print(render_text(explanation(args.check_id)))
    except KeyError as error:
        raise UsageProblem(str(error.args[0]) if error.args else f"no check {args.check_id!r}") from None
    return EXIT_OK


_COMMANDS = {
    "explain": _explain,
    "check": _check,
    "repro": _repro,
    "list-checks": _list_checks,
    "build-fixtures": _build_fixtures,
    "diff": _diff,
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except UsageProblem as problem:
        print(f"conformance: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `conformance explain X | head`
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
