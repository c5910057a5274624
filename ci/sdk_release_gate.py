"""The SDK release gate (run it as ``ci/sdk-release-gate``: the wrapper finds the project's interpreter)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.checks.registry import checks_by_id
from conformance.corpus import actual_statuses, compare, expected_path, load_expected
from conformance.fixtures import list_fixtures
from conformance.report.baseline import BaselineError, load_baseline
from conformance.report.gate import GateVerdict, publish_gate
from conformance.scaleout.shard import Shard, ShardError, durations_from_reports
from conformance.settings import plugin_label

USAGE = """SDK release gate: the whole battery over the fixture corpus and the SDK's own plugins, in one run.

    ci/sdk-release-gate [--report-dir reports] [--baseline FILE] [--fixtures a,b | --no-corpus]
                        [--no-build] [--jobs N] [--budget-scale F]
                        [--shard I/N [--shard-durations EARLIER_REPORT_DIR]] [PLUGIN ...]

PLUGIN is a built shared object, or a cargo project directory that is built
here (``cargo build --release``; every cdylib it produces is checked).

What fails the gate (exit 1):

* a corpus fixture deviates from ``fixture_plugins/<name>/expected.toml`` in
  either direction (a defect no longer detected, or a new failure); a fixture
  without expected.toml is held to "passes everything" when it is a conforming
  fixture and only reported otherwise;
* an extra plugin has a required check failing that the baseline does not
  accept, or an expired baseline entry (without ``--baseline``: any required
  failure);
* any report is incomplete, or missing.

An extra plugin whose library name equals a fixture's replaces that fixture
in the run and is held to the fixture's expectation: that is how a rebuilt
fixture (or an SDK change that affects one) is gated.

Split over CI runners: each runs ``--shard I/N`` into its own report directory
(the plugins are split the same way on every runner, by name, or balanced by
an earlier run's times), then ``conformance merge DIR... --out reports`` gives
the combined index.html, summary.md, junit.xml and gate verdict.

Exit codes: 0 pass, 1 regression or deviation, 2 usage error, 3 the tool or a
build failed. ``reports/`` gets report.json/report.html per plugin,
index.html, summary.md (with the gate's verdict on top), junit.xml and
gate.json; with ``$GITHUB_STEP_SUMMARY`` set, summary.md is appended to it.
"""

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
MAX_PRINTED = 50


class GateError(Exception):
    """One line for the user; ``code`` is the exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdk-release-gate", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("plugins", nargs="*", type=Path, metavar="PLUGIN", help="extra plugin (.so or cargo dir)")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    parser.add_argument("--baseline", type=Path, help="TOML file of accepted failures of the extra plugins")
    corpus = parser.add_mutually_exclusive_group()
    corpus.add_argument("--fixtures", help="comma-separated fixture names (default: the whole corpus)")
    corpus.add_argument("--no-corpus", action="store_true", help="check only the extra plugins")
    parser.add_argument("--no-build", action="store_true", help="do not build the fixture corpus first")
    parser.add_argument("--jobs", default="1", help="pytest-xdist workers (default: the plugin's own parallelism)")
    parser.add_argument("--budget-scale", default="1.0")
    parser.add_argument("--shard", help="check only shard I of N (e.g. 2/3) of the plugins; merge with conformance merge")
    parser.add_argument(
        "--shard-durations", type=Path, help="report directory of an earlier gate run: balance shards by its times"
    )
    return parser


def _run(command: Sequence[str], what: str) -> subprocess.CompletedProcess[str]:
    print(f"sdk-release-gate: {what}: {' '.join(command)}", flush=True)
    try:
        return subprocess.run(list(command), text=True, capture_output=True, check=False)
    except OSError as error:
        raise GateError(f"{what}: cannot run {command[0]}: {error.strerror}", EXIT_INTERNAL) from None


def build_corpus() -> None:
    done = _run([sys.executable, "-m", "conformance.cli", "build-fixtures"], "building the fixture corpus")
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise GateError("building the fixture corpus failed (see above)", EXIT_INTERNAL)


def build_cargo(directory: Path) -> list[Path]:
    """Build a cargo project in release mode; its cdylib artifacts are the plugins."""
    command = ["cargo", "build", "--release", "--manifest-path", str(directory / "Cargo.toml"),
               "--message-format=json-render-diagnostics"]
    done = _run(command, f"building {directory}")
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise GateError(f"cargo build of {directory} failed (see above)", EXIT_INTERNAL)
    found: list[Path] = []
    for line in done.stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        kinds = message.get("target", {}).get("crate_types", [])
        if message.get("reason") == "compiler-artifact" and "cdylib" in kinds:
            found.extend(Path(name) for name in message.get("filenames", []) if name.endswith(".so"))
    if not found:
        raise GateError(f"{directory}: the cargo build produced no cdylib (.so)", EXIT_USAGE)
    return found


def resolve_plugins(arguments: list[Path]) -> list[Path]:
    plugins: list[Path] = []
    for argument in arguments:
        if argument.is_dir() and (argument / "Cargo.toml").is_file():
            plugins.extend(build_cargo(argument))
        elif argument.is_file():
            plugins.append(argument.resolve())
        else:
            raise GateError(f"{argument}: neither a plugin file nor a cargo project directory", EXIT_USAGE)
    return plugins


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def merged_baseline(user: Path | None, fixtures: list[Any], report_dir: Path) -> Path | None:
    """The user's baseline plus every expected non-pass of the fixtures, so their reports read "known".

    This only shapes how the reports present the fixtures; the gate still holds
    each fixture to its expected.toml exactly (``judge_fixture``).
    """

    lines: list[str] = []
    taken: set[tuple[str, str]] = set()
    if user is not None:
        try:
            baseline = load_baseline(user)
        except BaselineError as error:
            raise GateError(str(error), EXIT_USAGE) from None
        lines.append(user.read_text(encoding="utf-8"))
        taken = {(entry.plugin, entry.check) for entry in baseline.entries}
    known = checks_by_id()
    for info in fixtures:
        for item, want in sorted(load_expected(info.name).items()):
            if want.status in ("pass", "skip") or item.split("[", 1)[0] not in known or (info.name, item) in taken:
                continue
            reason = want.reason or f"expected {want.status} by fixture_plugins/{info.name}/expected.toml"
            lines += ["", "[[accepted]]", f"plugin = {_toml_string(info.name)}", f"check = {_toml_string(item)}",
                      f"reason = {_toml_string(reason)}"]
    if not lines:
        return None
    target = report_dir / "gate-baseline.toml"
    report_dir.mkdir(parents=True, exist_ok=True)
    target.write_text("# Written by ci/sdk-release-gate: the --baseline file plus the corpus expectations.\n"
                      + "\n".join(lines) + "\n", encoding="utf-8")
    return target


def run_battery(plugins: list[Path], report_dir: Path, baseline: Path | None, args: argparse.Namespace) -> int:
    # "=" forms only: a bare option value that names an existing path would read as a test path.
    command = [sys.executable, "-m", "pytest", f"--config-file={os.devnull}", f"--rootdir={Path.cwd()}", "-q",
               "--tb=no", "-p", "no:cacheprovider", f"--report-dir={report_dir}",
               f"--junitxml={report_dir / 'junit.xml'}", f"--budget-scale={args.budget_scale}", "-o",
               "junit_family=xunit2"]
    command += [f"--plugin={plugin}" for plugin in plugins]
    command.append("--shard=1/1")  # already this shard's plugins: CONFORMANCE_SHARD must not split them again
    if baseline is not None:
        command.append(f"--baseline={baseline}")
    if args.jobs != "1":
        command += ["-n", str(args.jobs)]
    print(f"sdk-release-gate: running the battery over {len(plugins)} plugins", flush=True)
    done = subprocess.run(command, text=True, capture_output=True, check=False)
    tail = [line for line in done.stdout.splitlines() if line.startswith("conformance:") or " in " in line][-3:]
    for line in tail:
        print(f"  {line}")
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        code = EXIT_USAGE if done.returncode == 4 else EXIT_INTERNAL
        raise GateError(f"the battery run ended with pytest exit status {done.returncode}", code)
    return done.returncode


def this_shard(plugins: list[Path], spec: str, durations_dir: Path | None) -> list[Path]:
    """The plugins of ``--shard I/N``: the same split ``pytest --plugin --shard`` makes."""

    try:
        shard = Shard.parse(spec)
        durations = durations_from_reports(durations_dir) if durations_dir is not None else {}
    except ShardError as error:
        raise GateError(str(error), EXIT_USAGE) from None
    chosen = shard.pick(plugins, plugin_label, durations)
    if not chosen:
        raise GateError(f"shard {shard} holds no plugin: {len(plugins)} plugins over {shard.count} shards", EXIT_USAGE)
    print(f"sdk-release-gate: shard {shard}: {len(chosen)} of {len(plugins)} plugins", flush=True)
    return chosen


def _load(report_dir: Path, label: str, verdict: Any) -> dict[str, Any] | None:
    path = report_dir / label / "report.json"
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        verdict.problems.append(f"{label}: no readable report ({error})")
        return None
    if not report.get("complete", False):
        verdict.problems.append(f"{label}: the report is incomplete")
    return report


def judge_fixture(info: Any, report: dict[str, Any], verdict: Any) -> None:

    actual = actual_statuses(report)
    if expected_path(info.name).exists():
        verdict.problems.extend(str(deviation) for deviation in compare(info.name, load_expected(info.name), actual))
    elif info.conforming:
        for item, (status, message) in actual.items():
            if status not in ("pass", "skip"):
                verdict.problems.append(f"{info.name}: {item}: conforming fixture got {status} ({message[:160]})")
    else:
        verdict.notes.append(f"{info.name}: no expected.toml, not compared")


def judge_extra(label: str, report: dict[str, Any], verdict: Any) -> None:
    section = report.get("baseline")
    if section is not None:
        verdict.problems.extend(f"{label}: {item}: new failure (not in the baseline)" for item in section["new"])
        verdict.problems.extend(
            f"{label}: baseline entry for {entry['check']} expired on {entry['expires']}"
            for entry in section["expired"]
        )
        verdict.notes.extend(f"{label}: {item}: improved, its baseline entry can go" for item in section["improved"])
        return
    for check in report["checks"]:
        if check["severity"] == "required" and check["status"] not in ("pass", "warn", "skip"):
            verdict.problems.append(f"{label}: {check['id']}: {check['status']} ({check['message'][:160]})")


def gate(args: argparse.Namespace) -> int:

    if not args.no_build and not args.no_corpus:
        build_corpus()
    extras = resolve_plugins(args.plugins)
    corpus = {info.name: info for info in list_fixtures()}
    if args.no_corpus:
        chosen = []
    elif args.fixtures is not None:
        chosen = [name.strip() for name in args.fixtures.split(",") if name.strip()]
        unknown = [name for name in chosen if name not in corpus]
        if unknown:
            raise GateError(f"no fixture named {unknown[0]!r} in fixture_plugins/", EXIT_USAGE)
    else:
        chosen = sorted(corpus)
    extra_labels = {plugin_label(path): path for path in extras}
    if len(extra_labels) != len(extras):
        raise GateError("two extra plugins have the same library name; rename one of them", EXIT_USAGE)
    swapped = sorted(set(extra_labels) & set(corpus))
    fixtures = sorted(set(chosen) | set(swapped))
    plugins = [extra_labels.get(name, corpus[name].artifact) for name in fixtures]
    plugins += [path for label, path in extra_labels.items() if label not in corpus]
    if not plugins:
        raise GateError("nothing to check: no fixtures selected and no extra plugins", EXIT_USAGE)
    if args.shard:
        plugins = this_shard(plugins, args.shard, args.shard_durations)
        kept = {plugin_label(path) for path in plugins}
        fixtures = [name for name in fixtures if name in kept]
        extra_labels = {label: path for label, path in extra_labels.items() if label in kept}
    for name in swapped:
        print(f"sdk-release-gate: {extra_labels[name]} replaces the fixture {name} and is held to its expectation")
    baseline = merged_baseline(args.baseline, [corpus[name] for name in fixtures], args.report_dir)
    run_battery(plugins, args.report_dir, baseline, args)
    others = [label for label in extra_labels if label not in corpus]
    verdict = GateVerdict(fixtures, others, shard=args.shard or "")
    for name in fixtures:
        report = _load(args.report_dir, name, verdict)
        if report is not None:
            judge_fixture(corpus[name], report, verdict)
    for label in others:
        report = _load(args.report_dir, label, verdict)
        if report is not None:
            judge_extra(label, report, verdict)
    publish_gate(args.report_dir, verdict)
    for line in verdict.problems[:MAX_PRINTED]:
        print(f"  {line}")
    if len(verdict.problems) > MAX_PRINTED:
        print(f"  ... {len(verdict.problems) - MAX_PRINTED} more in {args.report_dir / 'gate.json'}")
    state = "FAIL" if verdict.problems else "PASS"
    print(f"sdk-release-gate: {state}: {len(fixtures)} fixtures, {len(others)} extra plugins, "
          f"{len(verdict.problems)} problems; reports in {args.report_dir}")
    return EXIT_REGRESSION if verdict.problems else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return gate(args)
    except GateError as error:
        print(f"sdk-release-gate: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
