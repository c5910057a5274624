"""Nightly fuzzing: every target for a time budget, corpora merged, findings triaged, a dated summary.

    ci/nightly-fuzz BUDGET_SECONDS [--targets a,b] [--plugins x,y] [--native-plugins x,y] [--jobs N] [--out DIR]
    ci/nightly-fuzz --smoke            (or FUZZ_SMOKE=1): every target for a few seconds

Each run (a target; plugin_intake once per plugin) is libFuzzer in fork mode
(``-fork=N`` over the cores, ``-ignore_crashes=1``: it keeps fuzzing after a
finding) on a persistent work corpus (``reports/fuzz/corpus/<run>``, seeded
from ``fuzz/corpus/<target>``), merged (``-merge=1``) afterwards so it only
keeps inputs that add coverage. Every artifact is replayed in a subprocess to
get its signature; a signature that no input of ``fuzz/regressions/`` already
produces is a *new* finding. Writes ``reports/fuzz/<date>/summary.json`` and
``summary.md`` (executions, executions per second, coverage, corpus size,
findings with their repro commands) and exits 1 when there is a new finding
(2 when a run could not be started at all).

Why a script and not a workflow file: the same command runs on a developer's
machine, in the lead's ``.ci/run`` smoke step and in a nightly job.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from conformance.fuzzing.driver import python_command  # noqa: E402 - the repository must be importable first
from conformance.fuzzing.findings import FINDING_MARK, finding_of  # noqa: E402
from conformance.fuzzing.native_coverage import libfuzzer_runtime, preload_env  # noqa: E402
from conformance.fuzzing.paths import CORPUS_DIR, FUZZ_DIR, REGRESSION_DIR, display_path  # noqa: E402
from conformance.fuzzing.regressions import regressions  # noqa: E402
from conformance.fuzzing.targets import TARGETS, load_target  # noqa: E402

DEFAULT_PLUGINS = ("conforming_processor", "conforming_c", "conforming_source", "fuzz_crasher")
SMOKE_PLUGINS = ("conforming_processor",)
SMOKE_SECONDS = 5
MAX_REPLAYS = 20
REPLAY_TIMEOUT_S = 120
#: Status lines of libFuzzer: fork mode ("#N: cov: ... exec/s E ...") and in-process mode ("#N DONE cov: ...").
_STATUS = re.compile(
    r"^#(?P<execs>\d+):?\s+(?:\w+\s+)?cov: (?P<cov>\d+) ft: (?P<ft>\d+) corp: (?P<corp>\d+)\S*"
    r"(?:.*?exec/s:? (?P<eps>\d+))?(?:.*?oom/timeout/crash: (?P<oom>\d+)/(?P<timeout>\d+)/(?P<crash>\d+))?",
    re.M,
)
_MERGE = re.compile(r"MERGE-OUTER: (\d+) new files with (\d+) new features added; (\d+) new coverage edges")
_LIBFUZZER_ERROR = re.compile(r"ERROR: libFuzzer: ([^\n]+)")
_DEADLY = re.compile(r"==\d+== ERROR: libFuzzer: (deadly signal|timeout[^\n]*|out-of-memory[^\n]*)")


@dataclass
class Finding:
    signature: str
    new: bool
    count: int
    artifact: str
    repro: str


@dataclass
class Run:
    target: str
    plugin: str | None
    key: str
    native: bool = False  # plugin_intake --native-coverage (SanitizerCoverage build, in process)
    seconds: float = 0.0
    executions: int = 0
    exec_per_s: float = 0.0
    coverage: int = 0
    features: int = 0
    corpus_size: int = 0
    corpus_new_files: int = 0
    artifacts: int = 0
    findings: list[Finding] = field(default_factory=list)
    error: str = ""


def target_command(target: str, plugin: str | None, native: bool = False) -> list[str]:
    command = [sys.executable, str(FUZZ_DIR / f"{target}.py")]
    return command + (["--plugin", plugin] if plugin else []) + (["--native-coverage"] if native else [])


def repro_line(target: str, plugin: str | None, artifact: Path, native: bool = False) -> str:
    parts = [python_command(), display_path(FUZZ_DIR / f"{target}.py")]
    parts += ["--plugin", plugin] if plugin else []
    parts += ["--native-coverage"] if native else []
    return " ".join(parts + [display_path(artifact)])


def replay_env(native: bool) -> dict[str, str] | None:
    """Native-coverage findings replay in the sandbox too (comparable signatures); an instrumented plugin
    given by path needs the libFuzzer runtime preloaded to load there."""
    if not native:
        return None
    return preload_env(libfuzzer_runtime())


def parse_status(log: str, run: Run) -> None:
    """The last libFuzzer status line gives executions, coverage, features and corpus size."""
    matches = list(_STATUS.finditer(log))
    if not matches:
        return
    last = matches[-1]
    run.executions = int(last["execs"])
    run.coverage, run.features, run.corpus_size = int(last["cov"]), int(last["ft"]), int(last["corp"])


def known_signatures(target: str, plugin: str | None) -> set[str]:
    """Signatures the committed regressions produce now: a finding among them is known, not new."""
    module = load_target(target)
    known: set[str] = set()
    cases = [case for case in regressions(target) if target != "plugin_intake" or case.fixture == plugin]
    if not cases:
        return known
    if target == "plugin_intake":
        assert plugin is not None
        module.configure(plugin)
    for case in cases:
        signature = finding_of(module.test_one_input, case.path.read_bytes())
        if signature is not None:
            known.add(signature)
    return known


def replay(target: str, plugin: str | None, artifact: Path, native: bool = False) -> str | None:
    """The signature an artifact reproduces with (in a subprocess: it may kill the process)."""
    try:
        done = subprocess.run(
            [*target_command(target, plugin), str(artifact)],
            capture_output=True,
            text=True,
            timeout=REPLAY_TIMEOUT_S,
            check=False,
            cwd=REPO,
            env=replay_env(native),
        )
    except subprocess.TimeoutExpired:
        return "replay: timed out"
    output = done.stdout + done.stderr
    for line in output.splitlines():
        if line.startswith(FINDING_MARK):
            return line[len(FINDING_MARK) :].strip().split(": ", 1)[-1]
    if done.returncode == 0:
        return None
    deadly = _DEADLY.search(output) or _LIBFUZZER_ERROR.search(output)
    return f"libFuzzer: {deadly.group(1) if deadly else f'exit {done.returncode}'}"


def unseen_seeds(work: Path, seeds: Path) -> Path:
    """A directory with the seeds whose bytes the work corpus does not hold already (it was seeded from
    them, and merging keeps the seeds that add coverage): given both, libFuzzer would run such a seed twice,
    and in a merge every run of an input that crashes costs a restart of the target (seconds of start-up)."""
    held = {hashlib.sha1(path.read_bytes()).digest() for path in work.iterdir() if path.is_file()}
    unseen = work.with_name(work.name + ".seeds")
    shutil.rmtree(unseen, ignore_errors=True)
    unseen.mkdir()
    for seed in seeds.iterdir():
        if seed.is_file() and hashlib.sha1(seed.read_bytes()).digest() not in held:
            shutil.copy2(seed, unseen / seed.name)
    return unseen


def fuzz_run(run: Run, budget: int, jobs: int, day_dir: Path, corpus_root: Path) -> None:
    work = corpus_root / run.key
    work.mkdir(parents=True, exist_ok=True)
    if not any(work.iterdir()):
        for seed in (CORPUS_DIR / run.target).iterdir():
            shutil.copy2(seed, work / seed.name)
    seeds = unseen_seeds(work, CORPUS_DIR / run.target)
    artifacts = day_dir / "artifacts" / run.key
    artifacts.mkdir(parents=True, exist_ok=True)
    timeout = 60 if run.target == "plugin_intake" else 20
    # -fork=N keeps fuzzing after a finding; without it (--jobs 0, the smoke default) the first finding ends the run.
    forking = [f"-fork={jobs}", "-ignore_crashes=1", "-ignore_timeouts=1", "-ignore_ooms=1"] if jobs > 0 else []
    command = [
        *target_command(run.target, run.plugin, run.native),
        *forking,
        f"-max_total_time={budget}",
        f"-timeout={timeout}",
        f"-artifact_prefix={artifacts}{os.sep}",
        str(work),
        str(seeds),
    ]
    log_path = day_dir / "logs" / f"{run.key}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=budget + 600, check=False, cwd=REPO)
        log = done.stdout + done.stderr
    except subprocess.TimeoutExpired as error:
        partial = [
            part.decode(errors="replace") if isinstance(part, bytes) else part or ""
            for part in (error.stdout, error.stderr)
        ]
        log = "".join(partial) + "\nnightly-fuzz: the run overran its budget by 600 s"
        run.error = "overran its budget"
    run.seconds = round(time.monotonic() - started, 1)
    log_path.write_text(log)
    parse_status(log, run)
    run.exec_per_s = round(run.executions / run.seconds, 1) if run.seconds else 0.0
    drop_crashing_inputs(artifacts, [work, seeds])
    merge(run, work, seeds, day_dir)
    shutil.rmtree(seeds, ignore_errors=True)
    triage(run, artifacts)
    if run.executions == 0 and not run.artifacts and not run.error:
        run.error = f"no executions (see {display_path(log_path)}): {log.strip().splitlines()[-1:] or ['no output']}"


def drop_crashing_inputs(artifacts: Path, corpora: list[Path]) -> None:
    """Remove the inputs the run saved as crashes from ``corpora`` before merging: the merge would run each,
    crash, restart the target (seconds of start-up) and drop it anyway."""
    crashing = {path.name.removeprefix("crash-") for path in artifacts.glob("crash-*")}
    for corpus in corpora if crashing else []:
        for path in list(corpus.iterdir()):
            if path.is_file() and hashlib.sha1(path.read_bytes()).hexdigest() in crashing:
                path.unlink()


def merge(run: Run, work: Path, seeds: Path, day_dir: Path) -> None:
    """Keep only inputs that add coverage: ``-merge=1`` into a fresh directory that replaces the work corpus."""
    merged = work.with_name(work.name + ".merged")
    shutil.rmtree(merged, ignore_errors=True)
    merged.mkdir()
    command = [*target_command(run.target, run.plugin, run.native), "-merge=1", str(merged), str(work), str(seeds)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False, cwd=REPO)
    (day_dir / "logs" / f"{run.key}.merge.log").write_text(done.stdout + done.stderr)
    found = _MERGE.search(done.stdout + done.stderr)
    if done.returncode != 0 or found is None:
        shutil.rmtree(merged, ignore_errors=True)  # keep the unmerged corpus rather than lose it
        run.corpus_size = sum(1 for _ in work.iterdir())
        return
    shutil.rmtree(work)
    merged.rename(work)
    run.corpus_size = sum(1 for _ in work.iterdir())
    run.corpus_new_files = int(found.group(1))


def triage(run: Run, artifacts: Path) -> None:
    """Name every artifact by the signature it reproduces with, then dedupe; new = no regression gives it.

    Intake artifacts replay here (the plugin runs in the sandbox anyway, ~10 ms
    each); the in-process targets replay in a subprocess, since a decoder crash
    would take this process down.
    """
    files = sorted(
        path for path in artifacts.iterdir() if path.name.split("-", 1)[0] in ("crash", "timeout", "oom", "leak")
    )
    run.artifacts = len(files)
    if not files:
        return
    known = known_signatures(run.target, run.plugin)
    module = load_target(run.target)
    if run.target == "plugin_intake":
        module.configure(run.plugin)
    by_signature: dict[str, Finding] = {}
    for index, artifact in enumerate(files):
        if run.target == "plugin_intake":
            signature = finding_of(module.test_one_input, artifact.read_bytes())
        elif index < MAX_REPLAYS:
            signature = replay(run.target, run.plugin, artifact, run.native)
        else:
            signature = "not replayed (too many artifacts)"
        signature = signature or "not reproducible on replay"
        if signature in by_signature:
            by_signature[signature].count += 1
            continue
        by_signature[signature] = Finding(
            signature,
            signature not in known,
            1,
            display_path(artifact),
            repro_line(run.target, run.plugin, artifact, run.native),
        )
    if run.target == "plugin_intake":
        module.runner().close()
    run.findings = list(by_signature.values())


def write_summary(day_dir: Path, runs: list[Run], meta: dict[str, object]) -> tuple[Path, Path]:
    new = [finding for run in runs for finding in run.findings if finding.new]
    data = {**meta, "new_findings": len(new), "runs": [asdict(run) for run in runs]}
    json_path = day_dir / "summary.json"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        f"# Nightly fuzz {meta['date']}",
        "",
        f"Budget {meta['budget_seconds']} s per run, -fork={meta['jobs'] or 'off'}, {meta['cores']} cores; "
        f"**{len(new)} new finding(s)**.",
        "",
        "| run | seconds | executions | exec/s | coverage | features | corpus | artifacts | findings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        findings = ", ".join(f"{'NEW ' if f.new else ''}{f.signature} (x{f.count})" for f in run.findings) or "-"
        if run.error:
            findings = f"ERROR: {run.error}; {findings}"
        lines.append(
            f"| {run.key} | {run.seconds} | {run.executions} | {run.exec_per_s} | {run.coverage} | {run.features} "
            f"| {run.corpus_size} | {run.artifacts} | {findings} |"
        )
    lines += ["", "## Findings", ""]
    for run in runs:
        for finding in run.findings:
            status = "NEW" if finding.new else "known (a regression input reproduces it)"
            lines += [
                f"* **{run.key}**: {finding.signature} ({status}, {finding.count} artifact(s))",
                f"  `{finding.repro}`",
            ]
    if not any(run.findings for run in runs):
        lines.append("None.")
    md_path = day_dir / "summary.md"
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("budget", nargs="?", type=int, help="seconds per run")
    parser.add_argument(
        "--smoke", action="store_true", help=f"{SMOKE_SECONDS} s per run, plugin_intake on the reference only"
    )
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--plugins", default=None, help="plugin_intake plugins (paths or fixture names)")
    parser.add_argument(
        "--native-plugins",
        default="",
        help="plugin_intake --native-coverage runs: Rust fixture names or SanitizerCoverage builds (e.g. fuzz_nested)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="libFuzzer -fork=N (default: the cores; 0: no fork, the smoke default)"
    )
    parser.add_argument("--out", default=str(REPO / "reports" / "fuzz"))
    args = parser.parse_args(argv)
    smoke = args.smoke or os.environ.get("FUZZ_SMOKE", "") not in ("", "0")
    budget = args.budget if args.budget is not None else (SMOKE_SECONDS if smoke else None)
    if budget is None:
        parser.error("give BUDGET_SECONDS, or --smoke")
    jobs = args.jobs if args.jobs is not None else (0 if smoke else os.cpu_count() or 1)
    plugins = args.plugins.split(",") if args.plugins else list(SMOKE_PLUGINS if smoke else DEFAULT_PLUGINS)
    out = Path(args.out)
    date = datetime.date.today().isoformat()
    day_dir = out / date
    shutil.rmtree(day_dir, ignore_errors=True)
    day_dir.mkdir(parents=True)
    runs = []
    planned: list[Run] = []
    for target in args.targets.split(","):
        if target not in TARGETS:
            parser.error(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
        for plugin in plugins if target == "plugin_intake" else [None]:
            key = target if plugin is None else f"{target}-{Path(plugin).stem.removeprefix('lib')}"
            planned.append(Run(target, plugin, key))
    for plugin in filter(None, args.native_plugins.split(",")):
        name = Path(plugin).stem.removeprefix("lib")
        planned.append(Run("plugin_intake", plugin, f"plugin_intake-native-{name}", native=True))
    for run in planned:
        print(f"nightly-fuzz: {run.key} for {budget} s", flush=True)
        fuzz_run(run, budget, jobs, day_dir, out / "corpus")
        print(
            f"  {run.executions} execs, {run.exec_per_s}/s, cov {run.coverage}, ft {run.features}, "
            f"corpus {run.corpus_size}, findings {[f.signature for f in run.findings]}"
            + (f", ERROR {run.error}" if run.error else ""),
            flush=True,
        )
        runs.append(run)
    meta = {
        "date": date,
        "budget_seconds": budget,
        "smoke": smoke,
        "jobs": jobs,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "regressions": display_path(REGRESSION_DIR),
    }
    json_path, md_path = write_summary(day_dir, runs, meta)
    new = [f"{run.key}: {f.signature}\n    {f.repro}" for run in runs for f in run.findings if f.new]
    print(f"nightly-fuzz: wrote {display_path(json_path)} and {display_path(md_path)}")
    for line in new:
        print(f"NEW FINDING {line}")
    if any(run.error for run in runs):
        return 2
    return 1 if new else 0


if __name__ == "__main__":
    raise SystemExit(main())
