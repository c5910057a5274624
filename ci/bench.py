"""The benchmark: how fast the battery, the sandbox and the corpus run on this machine.

Writes BENCHMARKS.md (figures against the targets of issue 8) and prints it.
Run from the repository root after `pip install -e .`:  python ci/bench [--runs N]
Timings are medians of N runs (default 5) with min and max. Python bytecode
caching is left on (PYTHONDONTWRITEBYTECODE is removed from the environment)
because that is how plugin authors run the tool.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's package, whichever interpreter runs this

# ruff: noqa: E402 - the imports below need the sys.path line above
from conformance.battery.runner import BatteryItem, battery_for, probe, run_item, run_shared
from conformance.budgets import budget_for
from conformance.checks.applicability import not_applicable
from conformance.checks.isolation import shares_child
from conformance.checks.registry import catalogue, lookup_check
from conformance.fixtures import build_fixtures, fixture_path
from conformance.fuzzing.intake_runner import IntakeRunner
from conformance.fuzzing.intake_scenarios import INTAKE_SCENARIO
from conformance.fuzzing.paths import CORPUS_DIR
from conformance.fuzzing.persistent_intake import IntakeInChild
from conformance.host.packets import TextPacket
from conformance.sandbox.client import SandboxClient
from conformance.sandbox.containment import CONTAINMENT_ENV, Containment
from conformance.scenario.protocol import ScenarioRequest

#: BENCHMARKS.md below this line holds figures measured with other commands (named there); bench keeps it.
KEPT_MARKER = "<!-- kept by ci/bench: figures measured with the commands named in each section -->"
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=env or ENV, cwd=tempfile.gettempdir(),
                               check=False)
    return time.perf_counter() - started, completed


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ms(entry: object) -> str:
    assert isinstance(entry, dict)
    return f"{entry['median'] * 1000:.1f} ms (min {entry['min'] * 1000:.1f}, max {entry['max'] * 1000:.1f})"


def fmt(entry: dict[str, float], unit: str = "s") -> str:
    return f"{entry['median']:.2f} {unit} (min {entry['min']:.2f}, max {entry['max']:.2f})"


def battery(plugins: list[Path], runs: int, extra: list[str] | None = None, env: dict[str, str] | None = None
            ) -> tuple[dict[str, float], int]:
    walls, _, items = battery_runs(plugins, runs, extra, env)
    return stats(walls), items


def battery_runs(plugins: list[Path], runs: int, extra: list[str] | None = None, env: dict[str, str] | None = None,
                 before_each: Callable[[], None] | None = None) -> tuple[list[float], list[float], int]:
    """Wall and CPU (every process of the run, reaped) of each run, and the items of the last one."""
    walls: list[float] = []
    cpus: list[float] = []
    items = 0
    for _ in range(runs):
        if before_each is not None:
            before_each()
        with tempfile.TemporaryDirectory() as reports:
            command = [sys.executable, "-m", "pytest", "-q", "--tb=no", "-p", "no:cacheprovider", "--report-dir", reports,
                       *[f"--plugin={p}" for p in plugins], *(extra or [])]
            before = os.times()
            elapsed, completed = timed(command, env)
            after = os.times()
            if completed.returncode not in (0, 1):
                raise SystemExit(f"battery failed to run: {completed.stdout[-2000:]}{completed.stderr[-2000:]}")
            walls.append(elapsed)
            cpus.append(after.children_user + after.children_system - before.children_user - before.children_system)
            items = sum(len(json.loads(p.read_text())["checks"]) for p in Path(reports).glob("*/report.json"))
    return walls, cpus, items


#: A fixed piece of pure-Python work: its CPU time says how fast the machine is in the hour of a run. The
#: same code's corpus figure moved from 27 to 37 s within an hour on the reference machine.
REFERENCE_LOOP = "sum(i * i for i in range(4_000_000))"
#: A fixed piece of the kernel's work: 300 children of an interpreter with a 12 MB heap, each writing to a
#: third of its pages, then exiting. Over half a corpus run's CPU is the kernel forking, copying pages on
#: write and tearing children down, and that speed moved on its own: one night the pure-Python loop above
#: stayed at 0.21-0.23 s while the same code's corpus went from 27 to 35 s.
REFERENCE_FORKS = (
    "import os\n"
    "heap = [bytearray(4096) for _ in range(3000)]\n"
    "for _ in range(300):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        for page in heap[::3]:\n"
    "            page[0] = 1\n"
    "        os._exit(0)\n"
    "    os.waitpid(pid, 0)\n"
)


def reference_cpu(code: str, copies: int = 1) -> float:
    """CPU seconds of ``copies`` fresh interpreters running ``code`` at once, their children included (start-up
    included, ~0.02 s each). One copy per core is how a corpus run uses the machine: in some hours two cores
    busy at once were each slower than one (the same night, the one-server corpus row did not move while the
    default row's CPU grew 9 %)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    running = [subprocess.Popen([sys.executable, "-c", code], env=ENV) for _ in range(copies)]
    for process in running:
        if process.wait() != 0:
            raise subprocess.CalledProcessError(process.returncode, process.args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def corpus_with_reference(corpus: list[Path], runs: int) -> dict[str, dict[str, float]]:
    """The default corpus run, each turn preceded by both references, so each figure has its hour's speed."""
    loops: list[float] = []
    forks: list[float] = []

    def references() -> None:
        loops.append(reference_cpu(REFERENCE_LOOP))
        forks.append(reference_cpu(REFERENCE_FORKS, os.cpu_count() or 1))

    walls, cpus, _ = battery_runs(corpus, runs, before_each=references)
    return {"wall": stats(walls), "cpu": stats(cpus), "reference": stats(loops), "reference_forks": stats(forks)}


def whole_process(runs: int, plugin: Path) -> dict[str, dict[str, float]]:
    """The battery as a user waits for it: ``pytest -q --plugin=...`` from start to exit, with the environment CI
    has (PYTHONDONTWRITEBYTECODE=1), beside ``python -c pass`` and beside servers booted one by one (the design
    before the zygote, ``CONFORMANCE_ZYGOTE=0``), taking turns. CPU counts every process of the run."""
    ci_env = {**ENV, "PYTHONDONTWRITEBYTECODE": "1"}
    variants = {
        "python_pass": ([sys.executable, "-c", "pass"], ci_env),
        "zygote": ([], ci_env),
        "booted": ([], {**ci_env, "CONFORMANCE_ZYGOTE": "0"}),
    }
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, (command, env) in variants.items():
            with tempfile.TemporaryDirectory() as reports:
                argv = command or [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--report-dir",
                                   reports, f"--plugin={plugin}"]
                before = os.times()
                elapsed, completed = timed(argv, env)
                after = os.times()
                if completed.returncode != 0:
                    raise SystemExit(f"{name} failed: {completed.stdout[-2000:]}{completed.stderr[-2000:]}")
            walls[name].append(elapsed)
            cpus[name].append(after.children_user + after.children_system - before.children_user
                              - before.children_system)
    return {**{f"{name}_wall": stats(values) for name, values in walls.items()},
            **{f"{name}_cpu": stats(values) for name, values in cpus.items()}}


def containment_cost(runs: int, plugin: Path) -> dict[str, dict[str, float]]:
    """The battery with the fork server in its namespaces (the default) and with the fallback, run alternately
    so that a change of load on the machine weighs on both alike. Wall time and the CPU of every process of
    the run: the per-run difference is a few per cent, below the spread of wall times on a busy machine, so
    the CPU figure is the steadier of the two."""
    walls: dict[str, list[float]] = {"namespaces": [], "subreaper": []}
    cpus: dict[str, list[float]] = {"namespaces": [], "subreaper": []}
    envs = {"namespaces": ENV, "subreaper": {**ENV, CONTAINMENT_ENV: Containment.SUBREAPER.value}}
    for _ in range(runs):
        for name, env in envs.items():
            before = os.times()
            walls[name].append(battery([plugin], 1, env=env)[0]["median"])
            after = os.times()
            cpus[name].append(after.children_user + after.children_system - before.children_user
                              - before.children_system)
    return {**{name: stats(values) for name, values in walls.items()},
            **{f"{name}_cpu": stats(values) for name, values in cpus.items()}}


def scenario_overhead(runs: int) -> dict[str, dict[str, float]]:
    """The empty scenario through the fork server vs a fresh interpreter per scenario (the naive design)."""

    request = ScenarioRequest("selftest.empty", "/nonexistent.so")
    client = SandboxClient()
    client.run(request)
    fork: list[float] = []
    fresh: list[float] = []
    with tempfile.TemporaryDirectory() as work:

        request_file = Path(work) / "request.pickle"
        request_file.write_bytes(pickle.dumps(request))
        for _ in range(runs):
            started = time.perf_counter()
            for _ in range(50):
                client.run(request)
            fork.append((time.perf_counter() - started) / 50)
            started = time.perf_counter()
            for _ in range(5):
                subprocess.run([sys.executable, "-m", "conformance.sandbox.solo", str(request_file),
                                str(Path(work) / "result.pickle")], check=True, env=ENV)
            fresh.append((time.perf_counter() - started) / 5)
    client.close()
    return {"fork_server": stats(fork), "fresh_interpreter": stats(fresh)}


def shared_child_cost(runs: int, plugin: Path) -> dict[str, dict[str, float] | int]:
    """Per check, the battery's shareable checks on ``plugin``: each in its own child vs in shared children."""

    facts = probe(plugin)
    items = [i for i in battery_for(facts) if shares_child(i.check) and not_applicable(i.check, facts) is None]
    client = SandboxClient()
    run_shared(plugin, items[:2], facts, client=client)
    alone: list[float] = []
    shared: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        for item in items:
            run_item(plugin, item, facts, client=client)
        alone.append((time.perf_counter() - started) / len(items))
        started = time.perf_counter()
        run_shared(plugin, items, facts, client=client)
        shared.append((time.perf_counter() - started) / len(items))
    client.close()
    return {"alone": stats(alone), "shared": stats(shared), "checks": len(items)}


def wedge_cost(runs: int, wedging: Path) -> dict[str, float]:
    """How long past its budget a wedged call holds the run: timeouts.process-packet on the wedging fixture."""

    facts = probe(wedging)
    item = BatteryItem(lookup_check("timeouts.process-packet"), 9, False)
    client = SandboxClient()
    over = []
    for _ in range(runs):
        started = time.perf_counter()
        result = run_item(wedging, item, facts, reruns=0, client=client)
        assert result.status == "timeout", result.message
        over.append(time.perf_counter() - started - budget_for("process_packet"))
    client.close()
    return stats(over)


def fuzz_rates(seconds: int) -> dict[str, float]:
    """Executions per second of every fuzz target: one nightly-fuzz run of ``seconds`` each, no fork."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "ci" / "nightly_fuzz.py"), str(seconds), "--jobs", "0",
                   "--plugins", "conforming_processor", "--out", out]
        completed = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT, check=False)
        summaries = list(Path(out).glob("*/summary.json"))
        if not summaries:
            raise SystemExit(f"nightly-fuzz wrote no summary: {completed.stdout[-1500:]}{completed.stderr[-1500:]}")
        data = json.loads(summaries[0].read_text())
    return {run["key"]: float(run["exec_per_s"]) for run in data["runs"]}


def intake_inputs(count: int) -> list[bytes]:
    """The committed plugin_intake seeds, then seeded random inputs up to ``count``: what every loop runs."""
    inputs = [path.read_bytes() for path in sorted((CORPUS_DIR / "plugin_intake").iterdir())]
    rng = random.Random(0xBE4C)
    while len(inputs) < count:
        inputs.append(rng.randbytes(rng.randrange(2, 120)))
    return inputs[:count]


def intake_rates(rounds: int, count: int, alone: int) -> dict[str, dict[str, float]]:
    """Executions per second of plugin intake on conforming_processor, the same inputs in one process,
    the three ways taking turns (the machine is shared): a bare loop that plans and runs each intake in
    this process with the plugin loaded once, the persistent sandbox child as libFuzzer drives it
    (``feed``: inputs posted before the verdicts on earlier ones, every verdict taken within the turn),
    and one sandbox child per input (the first ``alone`` inputs only: it is slow). Plans are made once before timing (Hypothesis
    draws are remembered), so the figures compare running inputs, not drawing them."""
    plugin = fixture_path("conforming_processor")
    inputs = intake_inputs(count)
    persistent = IntakeRunner(plugin)
    one_child = IntakeRunner(plugin, persistent=False)
    bare = IntakeInChild(ScenarioRequest(INTAKE_SCENARIO, str(plugin)))
    bare.warm()

    def run_bare(data: bytes) -> None:
        bare.run_plan(persistent.plan(data))

    loops = {"bare": (run_bare, inputs), "persistent": (persistent.feed, inputs),
             "one_child": (one_child.check, inputs[:alone])}
    rates: dict[str, list[float]] = {name: [] for name in loops}
    try:
        for data in inputs:  # warm: plans drawn, the plugin loaded, the children started
            run_bare(data)
            persistent.check(data)
        one_child.check(inputs[0])
        for turn in range(rounds):
            order = list(loops) if turn % 2 == 0 else list(reversed(loops))
            for name in order:
                check, chosen = loops[name]
                started = time.perf_counter()
                for data in chosen:
                    check(data)
                persistent.settle()  # the last input's verdict is part of the turn
                rates[name].append(len(chosen) / (time.perf_counter() - started))
    finally:
        persistent.close()
        one_child.close()
    return {name: stats(values) for name, values in rates.items()}


def libfuzzer_intake_rates(seconds: int, rounds: int) -> dict[str, dict[str, float]]:
    """plugin_intake under libFuzzer on conforming_processor from the committed seeds, persistent child
    (the default) and ``--one-child-per-input`` taking turns, no fork: executions per second of each run."""
    rates: dict[str, list[float]] = {"persistent": [], "one_child": []}
    for turn in range(rounds):
        modes = [("persistent", []), ("one_child", ["--one-child-per-input"])]
        for mode, flags in modes if turn % 2 == 0 else reversed(modes):
            with tempfile.TemporaryDirectory() as work:
                command = [sys.executable, str(ROOT / "fuzz" / "plugin_intake.py"), "--plugin", "conforming_processor",
                           *flags, "-seed=1", f"-max_total_time={seconds}", f"-artifact_prefix={work}/", work,
                           str(CORPUS_DIR / "plugin_intake")]
                completed = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT, check=False)
            done = re.search(r"Done (\d+) runs in (\d+) second", completed.stderr)
            if done is None:
                raise SystemExit(f"plugin_intake did not finish: {completed.stderr[-1500:]}")
            rates[mode].append(int(done.group(1)) / max(1, int(done.group(2))))
    return {mode: stats(values) for mode, values in rates.items()}


NESTED_HEADER = (b"SK!Z", b"FUZZ", b"DEEP")


def header_depth(corpus: Path, plugin: Path) -> int:
    """The deepest of fuzz_nested's nested header tests any Text in ``corpus`` passes (3 = the crash)."""

    intake = IntakeRunner(plugin)
    deepest = 0
    try:
        for path in corpus.iterdir():
            for op in intake.plan(path.read_bytes()).ops:
                if isinstance(op.packet, TextPacket):
                    text = op.packet.text.encode("utf-8", "surrogatepass")
                    depth = 0
                    while depth < 3 and text[depth * 4 : depth * 4 + 4] == NESTED_HEADER[depth]:
                        depth += 1
                    deepest = max(deepest, depth)
    finally:
        intake.close()
    return deepest


def native_coverage_gain(python_seconds: int, native_seconds: int) -> dict[str, dict[str, object]]:
    """plugin_intake on fuzz_nested from the committed seeds, without native coverage for ``python_seconds``
    and with it for ``native_seconds`` (issue 18: found within 10 minutes)."""

    plain = fixture_path("fuzz_nested")
    results: dict[str, dict[str, object]] = {}
    # Both in process, so the two runs differ only in what coverage libFuzzer sees (not in speed).
    for mode, flags, seconds in (
        ("python", ["--in-process"], python_seconds),
        ("native", ["--native-coverage"], native_seconds),
    ):
        with tempfile.TemporaryDirectory() as work:
            corpus = Path(work) / "corpus"
            corpus.mkdir()
            command = [sys.executable, str(ROOT / "fuzz" / "plugin_intake.py"), "--plugin", "fuzz_nested", *flags,
                       f"-max_total_time={seconds}", f"-artifact_prefix={work}/", str(corpus),
                       str(CORPUS_DIR / "plugin_intake")]
            env = {key: value for key, value in ENV.items() if key != "LD_PRELOAD"}
            started = time.perf_counter()
            completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
            elapsed = time.perf_counter() - started
            crashed = any(Path(work).glob("crash-*"))
            lines = [line for line in completed.stderr.splitlines() if " cov: " in line]
            if not lines and not crashed:  # libFuzzer never ran: a figure of 0 would hide why
                raise SystemExit(f"plugin_intake --{mode} did not fuzz: {completed.stderr[-1500:]}")
            cov = re.search(r"cov: (\d+) ft: (\d+)", lines[-1]) if lines else None
            results[mode] = {
                "seconds": seconds,
                "depth": 3 if crashed else header_depth(corpus, plain),
                "crash_after": round(elapsed, 1) if crashed else None,
                "cov": int(cov.group(1)) if cov else 0,
                "ft": int(cov.group(2)) if cov else 0,
            }
    return results


def rate(entry: dict[str, float]) -> str:
    return f"{entry['median']:,.0f} /s (min {entry['min']:,.0f}, max {entry['max']:,.0f})"


def intake_rows(rounds: int, seconds: int) -> str:
    """The plugin-intake rows: the three loops over the same inputs, then libFuzzer before and after."""
    count, alone = 400, 40
    loops = intake_rates(rounds, count, alone)
    share = loops["persistent"]["median"] / loops["bare"]["median"]
    fuzzing = libfuzzer_intake_rates(seconds, max(1, rounds // 2))
    same = f"the same {count} inputs (the committed seeds, then seeded random ones), {rounds} turns"
    return (
        f"| `plugin_intake` on `conforming_processor`, bare loop in this process (plugin loaded once), {same} "
        f"| {rate(loops['bare'])} | - |\n"
        f"| the same inputs in the persistent sandbox child (the default), inputs posted before the verdicts "
        f"on the ones before (`feed`, as libFuzzer drives it), every verdict taken within the turn "
        f"| {rate(loops['persistent'])} "
        f"| at least 2,000 /s |\n"
        f"| the same, first {alone} inputs, one sandbox child per input (before) | {rate(loops['one_child'])} | - |\n"
        f"| persistent child / bare loop, medians | {share * 100:.0f} % | at least 50 % |\n"
        f"| `plugin_intake` under libFuzzer from the seeds, {seconds} s runs, persistent child "
        f"| {rate(fuzzing['persistent'])} | - |\n"
        f"| the same, `--one-child-per-input` (before), taking turns with the row above "
        f"| {rate(fuzzing['one_child'])} | - |\n"
    )


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()} {platform.machine()}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--corpus-runs", type=int, default=1, help="runs of each whole-corpus measurement")
    parser.add_argument("--fuzz-seconds", type=int, default=15)
    parser.add_argument("--python-seconds", type=int, default=120, help="plugin_intake on fuzz_nested, Python coverage")
    parser.add_argument("--native-seconds", type=int, default=600, help="the same with native coverage (target: 10 min)")
    parser.add_argument("--intake-rounds", type=int, default=5, help="turns of each plugin-intake loop")
    args = parser.parse_args()
    built = build_fixtures()
    results: dict[str, dict[str, float]] = {}
    results["processor"], items_processor = battery([built["conforming_processor"]], args.runs)
    results["source"], items_source = battery([built["conforming_source"]], args.runs)
    overhead = scenario_overhead(args.runs)
    whole = whole_process(max(args.runs, 7), built["conforming_processor"])
    containment = containment_cost(max(args.runs, 9), built["conforming_processor"])
    namespace_cost = containment["namespaces"]["median"] / containment["subreaper"]["median"] - 1
    namespace_cpu_cost = containment["namespaces_cpu"]["median"] / containment["subreaper_cpu"]["median"] - 1
    sharing = shared_child_cost(args.runs, built["conforming_processor"])
    corpus = sorted(built.values())
    corpus_runs = max(1, args.corpus_runs)
    results["corpus_serial"], corpus_items = battery(corpus, corpus_runs, env={**ENV, "CONFORMANCE_PREFETCH": "0"})
    default_corpus = corpus_with_reference(corpus, corpus_runs)
    results["corpus_default"] = default_corpus["wall"]
    results["corpus_xdist"], _ = battery(corpus, corpus_runs, ["-n", "2"])
    wedge = wedge_cost(args.runs, built["wedging"])

    checks = len(catalogue())
    ratio = overhead["fresh_interpreter"]["median"] / overhead["fork_server"]["median"]
    gain = native_coverage_gain(args.python_seconds, args.native_seconds)
    native_rows = ""
    for mode, label in (("python", "`--in-process`, Python coverage only"), ("native", "`--native-coverage`")):
        entry = gain[mode]
        found = f"crash found after {entry['crash_after']} s" if entry["crash_after"] is not None else "no crash"
        target = "found within 600 s" if mode == "native" else "-"
        native_rows += (f"| `plugin_intake` on `fuzz_nested` for {entry['seconds']} s, {label}: nested header "
                        f"tests passed (of 3), libFuzzer cov/ft | {entry['depth']} of 3, {found}, cov {entry['cov']}, "
                        f"ft {entry['ft']} | {target} |\n")
    fuzz_rows = ""
    for key, rate in fuzz_rates(args.fuzz_seconds).items():
        fuzz_rows += f"| fuzz target `{key}`: executions per second ({args.fuzz_seconds} s run) | {rate:,.0f} | - |\n"
    fuzz_rows += intake_rows(args.intake_rounds, args.fuzz_seconds)
    text = f"""# Benchmarks

Produced by `python ci/bench --runs {args.runs} --corpus-runs {corpus_runs}` on {time.strftime('%Y-%m-%d')}.
Machine: {machine()}. Figures are medians of {args.runs} runs (corpus: {corpus_runs}) with min and max.
Bytecode caching on (the default for users).

| measure | figure | target |
|---|---|---|
| full battery on `conforming_processor` ({items_processor} items, {checks} checks in the catalogue) | {fmt(results['processor'])} | at most 2 s |
| full battery on `conforming_source` ({items_source} items) | {fmt(results['source'])} | - |
| full battery on `conforming_processor` as a whole process, as the user runs it (`pytest -q --plugin=…`, PYTHONDONTWRITEBYTECODE=1), fork servers forked from one zygote (the default) | {fmt(whole['zygote_wall'])}, CPU {fmt(whole['zygote_cpu'])} | at most 1.5 s |
| the same, each fork server booted (`CONFORMANCE_ZYGOTE=0`, the design before), taking turns with the row above | {fmt(whole['booted_wall'])}, CPU {fmt(whole['booted_cpu'])} | - |
| `python -c pass` in the same turns | {fmt(whole['python_pass_wall'])} | - |
| full battery on `conforming_processor`, sandbox in namespaces (the default), taking turns with the next row | {fmt(containment['namespaces'])}, CPU {fmt(containment['namespaces_cpu'])} | - |
| the same, fallback containment (`CONFORMANCE_CONTAINMENT=subreaper`: no namespaces, no seccomp filter) | {fmt(containment['subreaper'])}, CPU {fmt(containment['subreaper_cpu'])} | - |
| what namespaces cost, medians of the two rows above | wall {namespace_cost * 100:+.1f} %, CPU {namespace_cpu_cost * 100:+.1f} % | at most 10 % |
| empty scenario through the fork server | {overhead['fork_server']['median'] * 1000:.1f} ms (min {overhead['fork_server']['min'] * 1000:.1f}, max {overhead['fork_server']['max'] * 1000:.1f}) | - |
| empty scenario in a fresh interpreter (the naive design) | {overhead['fresh_interpreter']['median'] * 1000:.0f} ms (min {overhead['fresh_interpreter']['min'] * 1000:.0f}, max {overhead['fresh_interpreter']['max'] * 1000:.0f}) | - |
| per-scenario overhead ratio, fresh interpreter / fork server | {ratio:.0f}x | at least 10x |
| per check, the {sharing['checks']} checks of `conforming_processor` that may share a child, each in a child of its own | {ms(sharing['alone'])} | - |
| the same checks, up to 12 per shared child | {ms(sharing['shared'])} | - |
| whole corpus ({len(corpus)} fixtures, {corpus_items} items), one fork server, one child per scenario, no prefetch (`CONFORMANCE_PREFETCH=0`) | {fmt(results['corpus_serial'])} | - |
| whole corpus, default (probes in parallel, each plugin's checks started once it is probed, fork servers: cores + 1, shared children) | {fmt(results['corpus_default'])}, CPU {fmt(default_corpus['cpu'])} | at most 30 s |
| the machine's speed in the hour of those runs: CPU of `python -c "{REFERENCE_LOOP}"`, run right before each of them | {fmt(default_corpus['reference'])} | - |
| the kernel's speed in that hour, both cores busy: CPU of one copy per core at once of 300 forks of an interpreter with a 12 MB heap, each child writing to 1,000 of its pages (`REFERENCE_FORKS` in `ci/bench.py`), run right before each of them | {fmt(default_corpus['reference_forks'])} | - |
| whole corpus, `-n 2` (pytest-xdist: probed once, whole plugins per worker, 2 fork servers each) | {fmt(results['corpus_xdist'])} | - |
| a wedged `process_packet`: time past its 1 s budget | {fmt(wedge)} | at most 0.5 s |
{fuzz_rows}{native_rows}
How the corpus gets there: the probes (which mostly wait out the budgets of triaged entry points that hang)
run in parallel on servers of their own, and a plugin's checks start as soon as it is probed; the checks that
call an entry point triage saw hang wait out its budget on two more servers, and so do the checks that wait by
design (late callbacks, late logs, threads stopping), so they never hold the cores' servers; each fork server is
warmed once and forks its children without the interpreter's at-fork protocol (`conformance/sandbox/bare_fork.py`),
which prepare themselves in one native call (`faults.prepare_child_natively`); the pool's threads hand the
interpreter lock over every millisecond (`prefetch.SWITCH_INTERVAL_S`), so a server's next request is not held up;
the checks that only create, call and destroy instances run up to 12 per sandbox child, per host version, and a
lifecycle check that needs a process where nothing ran before may head such a child (`conformance/checks/isolation.py`:
a child's first scenario is judged as a child of its own, its result made by the server as a lone child's, a crash
included, so plugins that crashed in triage share children too; of the later ones only passes are kept, anything
else is run again alone);
the checks that make the same calls into the plugin (an entry point's `panics` and `timeouts` checks, four `logging`
checks, six `load` checks) are judged from one child, each on its own part of it (`conformance/checks/joint.py`,
same rule); under pytest-xdist the controller probes once and hands the facts to the
workers, and each worker gets whole plugins, which it runs ahead on its own fork servers. Crashes and hangs
are always judged in a child of their own, or as a child's first scenario. In the `fuzz_nested` rows, cov and ft of the native run count
the plugin's own edges too, so they are not comparable across the two rows; the nested header tests passed
are. Run it yourself with `ci/bench` (about 24 minutes with `--corpus-runs 3`, 10 of them the native-coverage
run). No test asserts a duration; what load does to verdicts is measured by `ci/corpus-stability --stress` (below).
"""
    output = Path(args.output)
    kept = output.read_text().partition(KEPT_MARKER)[2] if output.exists() else ""
    if kept:
        text += "\n" + KEPT_MARKER + kept
    output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
