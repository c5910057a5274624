"""Native coverage for plugin_intake: the plugin's own branches guide libFuzzer.

Why: without it, a branch deep inside a plugin is invisible to atheris. The
proof here is deterministic (no timing): libFuzzer replays fixed inputs that
reach zero, one and two of ``fuzz_nested``'s three nested header tests; with
``--native-coverage`` each deeper input is new coverage, without it all three
look the same. The input that passes all three crashes the plugin, and the
fuzzer reports it as a finding.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.fixtures import fixture_path
from conformance.fuzzing.native_coverage import (
    NativeCoverageUnavailable,
    instrumented_fixture,
    is_instrumented,
    libfuzzer_runtime,
    mutator_hook_library,
    preload_env,
    preloaded,
    without_preload,
)
from conformance.fuzzing.packet_bytes import bytes_for_packet
from conformance.fuzzing.paths import FUZZ_DIR
from conformance.host.packets import TextPacket
from conformance.strategies.input_bytes import ByteSink

#: Builds instrumented fixtures and runs libFuzzer campaigns.
pytestmark = pytest.mark.slow

HEADERS = ("hello, world", "SK!Zhello", "SK!ZFUZZhello")
CRASHING = "SK!ZFUZZDEEP and more"


@pytest.fixture(scope="module")
def runtime() -> Path:
    try:
        return libfuzzer_runtime()
    except NativeCoverageUnavailable as error:
        pytest.skip(f"native coverage unavailable here: {error}")


def intake_input(text: str) -> bytes:
    """One intake: a fresh instance, then one Text packet on the first pin."""
    return ByteSink().byte(0).byte(0).sized(bytes_for_packet(TextPacket(text))).getvalue()


def replay(corpus: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}
    command = [sys.executable, str(FUZZ_DIR / "plugin_intake.py"), "--plugin", "fuzz_nested", *flags, "-runs=0"]
    return subprocess.run(
        [*command, f"-artifact_prefix={corpus.parent}/", str(corpus)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def coverage(output: str) -> int:
    match = re.search(r"INITED cov: (\d+)", output)
    assert match, output[-3000:]
    return int(match.group(1))


def corpus_of(tmp_path: Path, name: str, texts: tuple[str, ...]) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    for number, text in enumerate(texts):
        (directory / f"input-{number}").write_bytes(intake_input(text))
    return directory


def test_the_instrumented_build_imports_the_coverage_hooks(runtime: Path) -> None:
    assert is_instrumented(instrumented_fixture("fuzz_nested"))
    assert not is_instrumented(fixture_path("fuzz_nested"))


def test_deeper_branches_in_the_plugin_are_new_coverage_only_with_native_coverage(
    runtime: Path, tmp_path: Path
) -> None:
    shallow = corpus_of(tmp_path, "shallow", HEADERS[:1])
    deep = corpus_of(tmp_path, "deep", HEADERS)
    native_shallow = replay(shallow, "--native-coverage")
    assert "Using preloaded libfuzzer" in native_shallow.stderr, native_shallow.stderr[-3000:]
    assert re.search(r"Loaded 1 modules +\(\d+ inline 8-bit counters\)", native_shallow.stderr)
    # The preloaded runtime found the intake mutator's hook (conformance.fuzzing.intake_mutator).
    assert "INFO: found LLVMFuzzerCustomMutator" in native_shallow.stderr, native_shallow.stderr[-3000:]
    native_deep = replay(deep, "--native-coverage")
    assert coverage(native_deep.stderr) > coverage(native_shallow.stderr)
    # Python-only coverage, one child per input: the pipelined intake has a branch that depends on whether a
    # verdict has arrived yet, which moves its count by an edge either way from run to run.
    blind_shallow = replay(shallow, "--one-child-per-input")
    blind_deep = replay(deep, "--one-child-per-input")
    assert coverage(blind_deep.stderr) == coverage(blind_shallow.stderr)


def test_the_input_that_passes_every_header_test_crashes_the_plugin(runtime: Path, tmp_path: Path) -> None:
    crash = corpus_of(tmp_path, "crash", (CRASHING,))
    done = replay(crash, "--native-coverage")
    assert done.returncode != 0
    assert "deadly signal" in done.stderr, done.stderr[-3000:]


def test_the_mutator_hook_is_preloaded_for_the_fuzzer_only() -> None:
    hook = mutator_hook_library()
    assert hook is not None and hook.exists()
    runtime = Path("/opt/libfuzzer-rt.so")
    env = preload_env([runtime, hook], {"LD_PRELOAD": f"{hook} /other.so"})
    assert env["LD_PRELOAD"].split() == [str(runtime), str(hook), "/other.so"]
    assert preloaded(hook, env) and preloaded(runtime, env)
    assert without_preload(hook, env)["LD_PRELOAD"].split() == [str(runtime), "/other.so"]


def test_a_plugin_path_without_instrumentation_is_refused_in_one_line(runtime: Path, tmp_path: Path) -> None:
    plain = str(fixture_path("fuzz_nested"))
    done = subprocess.run(
        [sys.executable, str(FUZZ_DIR / "plugin_intake.py"), "--plugin", plain, "--native-coverage", "-runs=0"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "not built with SanitizerCoverage" in done.stderr and "Traceback" not in done.stderr
