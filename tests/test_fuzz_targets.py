"""The fuzz targets in fuzz/ and their machinery.

Why each test exists: targets must import without side effects (the
regression replay and the nightly job import them), the committed seeds and
dictionaries must be what ``python -m conformance.fuzzing seed`` writes, the
byte formats must be total, the intake oracles must catch the corpus's
defective fixtures and stay quiet on the conforming ones, and -- with
atheris -- the fuzzers must actually find a planted encoder bug and the
``fuzz_crasher`` fixture's crash, with a printed command that reproduces it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.abi.constants import PacketType
from conformance.fuzzing.dictionaries import dictionary_tokens
from conformance.fuzzing.driver import outer_only
from conformance.fuzzing.findings import FINDING_MARK, REPRO_MARK, FuzzFinding
from conformance.fuzzing.intake_planner import MAX_OPS, intake_segments, plan_intake
from conformance.fuzzing.intake_profile import PluginProfile
from conformance.fuzzing.intake_runner import IntakeRunner
from conformance.fuzzing.minimise import minimise
from conformance.fuzzing.packet_bytes import bytes_for_packet
from conformance.fuzzing.paths import CORPUS_DIR, DICTIONARY_DIR, FUZZ_DIR, REPO_ROOT
from conformance.fuzzing.planted_bug import PLANT_CODEC_BUG_ENV
from conformance.fuzzing.targets import TARGETS, load_target
from conformance.host.packets import TextPacket
from conformance.host.wire import expected_receiver_error, to_raw_wire
from conformance.strategies import packet_from_bytes
from conformance.strategies.input_bytes import ByteSink

IN_PROCESS_TARGETS = ("wire_decode", "wire_roundtrip", "metadata_decode")
#: A minimised wire_roundtrip finding of the planted bug (kept here, not in fuzz/regressions/: the bug is not real).
PLANTED_INPUT = bytes.fromhex("00fd61fd03feff3d733232")


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != PLANT_CODEC_BUG_ENV}
    env.update(extra)
    return env


def _run(
    args: list[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env or _env(), cwd=cwd, check=False
    )


def _lines(output: str, mark: str) -> list[str]:
    return [line[len(mark) :].strip() for line in output.splitlines() if line.startswith(mark)]


# -- without atheris ---------------------------------------------------------------------


def test_targets_import_without_side_effects() -> None:
    code = (
        "import sys\n"
        "from conformance.fuzzing.targets import TARGETS, load_target\n"
        "modules = [load_target(name) for name in TARGETS]\n"
        "assert 'atheris' not in sys.modules, 'atheris imported at import time'\n"
        "assert modules[-1]._RUNNER is None, 'plugin_intake configured at import time'\n"
        "for module in modules:\n"
        "    assert callable(module.test_one_input) and callable(module.main) and callable(module.seed_inputs)\n"
        "print('ok')\n"
    )
    done = _run([sys.executable, "-c", code], timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert not list((FUZZ_DIR / "artifacts").glob("corpus/__never__"))  # importing writes nothing


@pytest.mark.parametrize("target", TARGETS)
def test_corpus_is_what_the_seed_script_writes(target: str) -> None:
    module = load_target(target)
    expected = {data for _, data in module.seed_inputs()}
    committed = {path.read_bytes() for path in (CORPUS_DIR / target).iterdir()}
    assert committed == expected, f"fuzz/corpus/{target} is stale: run python -m conformance.fuzzing seed"
    assert 10 <= len(committed) <= 80, "keep the seed corpus small (tens of files)"


@pytest.mark.parametrize("target", TARGETS)
def test_dictionaries_are_current_and_parse(target: str) -> None:
    lines = [
        line
        for line in (DICTIONARY_DIR / f"{target}.dict").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert all(re.fullmatch(r'"(?:[^"\\]|\\x[0-9a-f]{2})*"', line) for line in lines), "not libFuzzer dictionary syntax"
    assert len(lines) == len(dictionary_tokens(target))
    for token in ("opus", "aac", "vp9", "h264", "av1", "audio/aac", "preferred_size", "segments", "in", "out"):
        assert f'"{token}"' in lines or any(token in line for line in lines)


@pytest.mark.parametrize("target", IN_PROCESS_TARGETS)
def test_seeds_and_random_inputs_pass(target: str) -> None:
    """The code under test is correct today: seeds and random bytes must not trip any oracle."""
    module = load_target(target)
    for _, data in module.seed_inputs():
        module.test_one_input(data)
    rng = random.Random(target)
    for _ in range(1500):
        module.test_one_input(rng.randbytes(rng.randrange(0, 200)))


def test_bytes_for_packet_inverts_the_generator() -> None:
    rng = random.Random(7)
    for _ in range(500):
        once = packet_from_bytes(bytes_for_packet(packet_from_bytes(rng.randbytes(rng.randrange(0, 300)))))
        assert packet_from_bytes(bytes_for_packet(once)) == once
    assert packet_from_bytes(bytes_for_packet(TextPacket("hello"))) == TextPacket("hello")


def test_planted_codec_bug_regression(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_target("wire_roundtrip")
    data = PLANTED_INPUT
    module.test_one_input(data)
    monkeypatch.setenv(PLANT_CODEC_BUG_ENV, "1")
    with pytest.raises(FuzzFinding, match="TEXT packet"):
        module.test_one_input(data)


PROFILES = (
    PluginProfile("echo-any", 9, "processor", (("in", (6,)),), (("out", 7),), False, "{}"),
    PluginProfile("text", 9, "processor", (("in", (2,)),), (("out", 2),), False, "{}"),
    PluginProfile("media", 8, "processor", (("a", (0,)), ("v", (8, 5))), (("out", 5),), True, '{"x":1}'),
    PluginProfile("v6-binary", 6, "processor", (("in", (5,)),), (("out", 5),), False, "{}"),
    PluginProfile("source", 9, "source", (), (("out", 2),), True, "{}"),
)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda profile: profile.name)
def test_intake_plans_are_total_deterministic_and_legal(profile: PluginProfile) -> None:
    rng = random.Random(profile.name)
    inputs = [b"", b"\x00", b"\x07\xff"] + [rng.randbytes(rng.randrange(0, 300)) for _ in range(150)]
    for data in inputs:
        plan = plan_intake(data, profile)
        assert plan == plan_intake(data, profile)
        assert len(plan.ops) <= MAX_OPS
        for op in plan.ops:
            if op.action == "packet":
                assert op.packet is not None and op.pin in profile.pins_for(
                    to_raw_wire(op.packet, plugin_version=profile.version).packet_type
                )
                assert expected_receiver_error(to_raw_wire(op.packet, plugin_version=profile.version)) is None
            elif op.action == "wire":
                assert (
                    op.raw is not None
                    and expected_receiver_error(op.raw) is None
                    and op.pin in profile.pins_for(op.raw.kind)
                )
            elif op.action == "malformed":
                assert op.raw is not None and expected_receiver_error(op.raw) is not None
            elif op.action == "hint":
                assert profile.has_hint
            elif op.action == "tick":
                assert profile.node_kind == "source"
            if profile.node_kind == "source" and not profile.inputs:
                assert op.action in ("params", "hint", "tick")


def test_intake_plans_use_every_generator() -> None:
    rng = random.Random(3)
    actions = {op.action for _ in range(300) for op in plan_intake(rng.randbytes(120), PROFILES[0]).ops}
    assert actions == {"packet", "wire", "malformed", "params", "flush"}
    kinds = {op.raw.kind for _ in range(400) for op in plan_intake(rng.randbytes(120), PROFILES[0]).ops if op.raw}
    assert {PacketType.OPUS_AUDIO, PacketType.ENCODED_AUDIO, PacketType.BINARY_WITH_META} <= kinds


@pytest.fixture(scope="module")
def intake_runners() -> Iterator[dict[str, IntakeRunner]]:
    cache: dict[str, IntakeRunner] = {}
    yield cache
    for runner in cache.values():
        runner.close()


def _intake(cache: dict[str, IntakeRunner], fixture: str) -> IntakeRunner:
    if fixture not in cache:
        cache[fixture] = IntakeRunner(fixture)
    return cache[fixture]


@pytest.mark.parametrize("fixture", ["conforming_processor", "conforming_c", "conforming_source"])
def test_intake_seeds_pass_on_conforming_fixtures(fixture: str, intake_runners: dict[str, IntakeRunner]) -> None:
    """No false positives: the reference plugins pass every seed intake."""
    runner = _intake(intake_runners, fixture)
    for _, data in load_target("plugin_intake").seed_inputs():
        runner.check(data)


def test_plugin_intake_takes_verdicts_later_only_when_it_fuzzes_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verdict in a later call is lost when no later call comes (given files, -runs, merging), and libFuzzer's
    artifact of the input in flight would reach the nightly triage (fork mode) or ClusterFuzzLite's
    reproduction (the frozen build): synchronous there."""
    module = load_target("plugin_intake")
    monkeypatch.setenv(module.SYNCHRONOUS_ENV, "0")  # restored after the test (fork mode sets it)
    given = tmp_path / "input"
    given.write_bytes(b"x")
    assert module.pipelines([]) and module.pipelines([str(tmp_path), "-max_total_time=5", "-seed=1"])
    for args in ([str(given)], [str(tmp_path), "-runs=100"], [str(tmp_path), "-merge=1"]):
        assert not module.pipelines(args), args
    assert not module.pipelines([str(tmp_path), "-fork=2"])
    assert not module.pipelines([str(tmp_path)])  # a job of that fork mode, started with its environment
    monkeypatch.setenv(module.SYNCHRONOUS_ENV, "0")
    monkeypatch.setattr(module, "is_frozen", lambda: True)
    assert not module.pipelines([str(tmp_path)])  # ClusterFuzzLite reproduces the file libFuzzer names


def test_only_processes_that_run_inputs_instrument_python() -> None:
    """The outer process of fork, jobs and merge modes runs no input: it skips the seconds of instrumenting."""
    for args in (["-fork=2"], ["-jobs=4", "-workers=2"], ["-merge=1", "a", "b"], ["-set_cover_merge=1"]):
        assert outer_only(args), args
    for args in ([], ["-fork=0"], ["-runs=10"], ["-merge_inner=1", "-merge_control_file=f"], ["-minimize_crash=1"]):
        assert not outer_only(args), args


def test_nightly_merges_a_seed_once_and_no_input_that_crashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A seed copied into the work corpus is not given to libFuzzer again (a crashing one would cost the merge
    a restart of the target per copy); a seed the corpus does not hold is; an input saved as a crash is not
    merged at all."""
    spec = importlib.util.spec_from_file_location("nightly_fuzz", REPO_ROOT / "ci" / "nightly_fuzz.py")
    assert spec is not None and spec.loader is not None
    nightly = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "nightly_fuzz", nightly)  # its dataclasses look their module up there
    spec.loader.exec_module(nightly)
    work, seeds = tmp_path / "corpus" / "run", tmp_path / "seeds"
    work.mkdir(parents=True)
    seeds.mkdir()
    (seeds / "held").write_bytes(b"held")
    (work / "renamed-by-a-merge").write_bytes(b"held")
    (seeds / "new").write_bytes(b"new")
    unseen = nightly.unseen_seeds(work, seeds)
    assert unseen.parent == work.parent and sorted(path.name for path in unseen.iterdir()) == ["new"]
    # An input the run saved as a crash is not merged (the merge would restart the target for it).
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / f"crash-{hashlib.sha1(b'held').hexdigest()}").write_bytes(b"held")
    nightly.drop_crashing_inputs(artifacts, [work, unseen])
    assert not any(work.iterdir()) and [path.name for path in unseen.iterdir()] == ["new"]


TEXT_INTAKE = ByteSink().byte(0).byte(0).sized(bytes_for_packet(TextPacket("hello"))).byte(7).byte(0).getvalue()


@pytest.mark.parametrize(
    ("fixture", "signature"),
    [
        ("undeclared_pin", "undeclared_pin: packets go only to declared output pins"),
        ("writes_input", "writes_input: crashed with SIGSEGV in process_packet"),
        ("panicking_unguarded", "panicking_unguarded: crashed with SIGABRT in process_packet"),
        ("overflow_alloc", "overflow_alloc: crashed with SIGSEGV in process_packet"),
        ("double_free", "double_free: pool.double-release"),
        ("pool_leak", "pool_leak: pool.leak"),
    ],
)
def test_intake_oracles_catch_defective_fixtures(
    fixture: str, signature: str, intake_runners: dict[str, IntakeRunner]
) -> None:
    with pytest.raises(FuzzFinding) as caught:
        _intake(intake_runners, fixture).check(TEXT_INTAKE)
    assert caught.value.signature == signature
    assert "plan:" in caught.value.detail


def test_echo_oracle_compares_with_the_normalised_packet(intake_runners: dict[str, IntakeRunner]) -> None:
    """The crasher echoes texts it survives: its 12- and 14-byte neighbours pass, 13 bytes crash."""
    runner = _intake(intake_runners, "fuzz_crasher")
    for text in ("x" * 12, "x" * 14, "h\u00e9llo"):
        runner.check(ByteSink().byte(0).byte(0).sized(bytes_for_packet(TextPacket(text))).getvalue())
    with pytest.raises(FuzzFinding, match="SIGSEGV"):
        runner.check(ByteSink().byte(0).byte(0).sized(bytes_for_packet(TextPacket("x" * 13))).getvalue())


def test_minimize_keeps_the_signature_and_drops_irrelevant_ops(intake_runners: dict[str, IntakeRunner]) -> None:
    runner = _intake(intake_runners, "fuzz_crasher")
    crash = ByteSink().byte(0).byte(0).sized(bytes_for_packet(TextPacket("x" * 13))).getvalue()
    noisy = ByteSink().byte(0).byte(7).byte(0).byte(5).byte(0).raw(crash[1:]).byte(7).byte(0).getvalue()
    assert len(intake_segments(noisy)) == 4
    smaller, signature = minimise(runner.check, noisy, segments=intake_segments)
    assert signature == "fuzz_crasher: crashed with SIGSEGV in process_packet"
    assert len(smaller) <= len(crash) < len(noisy)


def test_in_process_intake_runs_the_plugin_here() -> None:
    runner = IntakeRunner("conforming_processor", in_process=True)
    runner.check(TEXT_INTAKE)
    assert runner._client is None


# -- with atheris: the fuzzers find what they must ------------------------------------------

needs_atheris = pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None, reason="atheris is not installed (pip install -e '.[fuzz]')"
)


@needs_atheris
@pytest.mark.slow
def test_planted_codec_bug_is_found_and_reproduced(tmp_path: Path) -> None:
    """From an empty corpus: the planted off-by-one must be found in seconds, and its repro command must
    reproduce it with the bug planted and pass without it."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    planted = _env(**{PLANT_CODEC_BUG_ENV: "1"})
    done = _run(
        [
            sys.executable,
            str(FUZZ_DIR / "wire_roundtrip.py"),
            "-seed=1",
            "-max_total_time=60",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        timeout=180,
        env=planted,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    findings = _lines(output, FINDING_MARK)
    assert findings and "TEXT packet" in findings[0], output[-3000:]
    repro = shlex.split(_lines(output, REPRO_MARK)[0])
    assert Path(REPO_ROOT, repro[-1]).exists() or Path(repro[-1]).exists()
    again = _run(repro, timeout=120, env=planted)
    assert again.returncode != 0 and _lines(again.stdout + again.stderr, FINDING_MARK) == findings[:1]
    clean = _run(repro, timeout=120)
    assert clean.returncode == 0, clean.stderr[-2000:]


@needs_atheris
@pytest.mark.slow
@pytest.mark.parametrize("target", IN_PROCESS_TARGETS)
def test_targets_run_under_libfuzzer_without_findings(target: str, tmp_path: Path) -> None:
    done = _run(
        [
            sys.executable,
            str(FUZZ_DIR / f"{target}.py"),
            "-runs=3000",
            "-seed=1",
            f"-artifact_prefix={tmp_path}/",
            str(tmp_path),
            str(CORPUS_DIR / target),
        ],
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert re.search(r"Done \d+ runs", done.stderr)


@needs_atheris
@pytest.mark.slow
def test_plugin_intake_finds_the_crasher_and_its_repro_command_reproduces_it(tmp_path: Path) -> None:
    from conformance.fixtures import fixture_path

    plugin = fixture_path("fuzz_crasher")
    work = tmp_path / "work"
    work.mkdir()
    done = _run(
        [
            sys.executable,
            str(FUZZ_DIR / "plugin_intake.py"),
            "--plugin",
            str(plugin),
            "-seed=1",
            "-max_total_time=120",
            f"-artifact_prefix={tmp_path}/",
            str(work),
            str(CORPUS_DIR / "plugin_intake"),
        ],
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert _lines(output, FINDING_MARK)[0] == "plugin_intake: fuzz_crasher: crashed with SIGSEGV in process_packet"
    repro = _lines(output, REPRO_MARK)[0]
    assert "--plugin" in repro and str(tmp_path) in repro
    again = _run(shlex.split(repro), timeout=120)
    assert again.returncode != 0
    assert _lines(again.stdout + again.stderr, FINDING_MARK)[0].endswith("crashed with SIGSEGV in process_packet")


@needs_atheris
@pytest.mark.slow
def test_nightly_smoke_writes_a_summary_and_fails_only_on_new_findings(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    known = _run(
        [
            sys.executable,
            str(REPO_ROOT / "ci" / "nightly-fuzz"),
            "3",
            "--jobs",
            "1",
            "--out",
            str(out),
            "--targets",
            "wire_roundtrip,plugin_intake",
            "--plugins",
            "fuzz_crasher",
        ],
        timeout=600,
    )
    assert known.returncode == 0, (known.stdout + known.stderr)[-3000:]
    day = next(path for path in out.iterdir() if path.name != "corpus")
    summary = json.loads((day / "summary.json").read_text())
    assert summary["new_findings"] == 0
    for run in summary["runs"]:
        assert run["executions"] > 0 and run["exec_per_s"] > 0 and run["corpus_size"] > 0, run
        assert all(not finding["new"] for finding in run["findings"])
    assert "| run | seconds | executions | exec/s |" in (day / "summary.md").read_text()
    # A work corpus of its own, seeded from fuzz/corpus only: the first run adds inputs to its corpus
    # that hit the planted bug, and -merge=1 restarts its child once per crashing input (3 s of CPU each:
    # instrumenting at start-up).
    planted = _run(
        [
            sys.executable,
            str(REPO_ROOT / "ci" / "nightly-fuzz"),
            "--smoke",
            "--out",
            str(tmp_path / "planted"),
            "--targets",
            "wire_roundtrip",
        ],
        timeout=600,
        env=_env(**{PLANT_CODEC_BUG_ENV: "1"}),
    )
    assert planted.returncode == 1, (planted.stdout + planted.stderr)[-3000:]
    new = [line for line in planted.stdout.splitlines() if line.startswith("NEW FINDING wire_roundtrip: ")]
    assert new and "TEXT packet" in new[0], planted.stdout
    assert "python" in planted.stdout and "fuzz/wire_roundtrip.py" in planted.stdout
