"""The ClusterFuzzLite / OSS-Fuzz build (``.clusterfuzzlite/build.sh``), run outside Docker.

Why: ClusterFuzzLite builds the targets in an image this machine cannot run, and a
broken build is only seen there, at night. This test runs the real ``build.sh``
in the layout the image gives it (``$SRC`` holding the checkout, ``$OUT``,
``$WORK``), with the image's tools replaced by stand-ins on ``PATH``:
``ci/clusterfuzzlite/compile_python_fuzzer`` (PyInstaller, as the image's script)
and a ``pip3`` that installs into a throwaway directory. Then it runs every
produced fuzzer as ClusterFuzz would (libFuzzer flags only, the seed corpus
unzipped, the dictionary and options beside it) and checks the files it ships.

Building four PyInstaller bundles costs about two CPU minutes, so the module
runs only with ``--run-clusterfuzzlite`` (``.ci/run`` passes it).
"""

from __future__ import annotations

import configparser
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.fuzzing.targets import TARGETS

pytestmark = [pytest.mark.clusterfuzzlite, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
PROJECT = "streamkit-conformance"
#: What the checkout copy leaves out: virtual environments, build output, caches, reports.
_NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", ".tox", ".ci-cache", "__pycache__", "*.pyc",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "target", "artifacts", "reports",
)  # fmt: skip
#: A libFuzzer dictionary line: an optional name, then a quoted token (escapes: \\, \", \xNN).
_DICT_LINE = re.compile(r'^(?:[A-Za-z0-9_]+=)?"(?:[^"\\]|\\\\|\\"|\\x[0-9A-Fa-f]{2})*"$')


@dataclass(frozen=True)
class Build:
    src: Path
    out: Path
    work: Path
    pip_log: Path
    output: str
    cpu_s: float
    wall_s: float


def _pip_stand_in(bin_dir: Path, log: Path) -> None:
    """``pip3`` of the image: here this interpreter's pip, installing without dependencies (they are in this
    environment already) into ``$WORK/site-packages``, never into the environment running the tests."""
    script = bin_dir / "pip3"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        f'exec "{sys.executable}" -m pip "$@" --quiet --no-deps --target "$WORK/site-packages"\n'
    )
    script.chmod(0o755)


@pytest.fixture(scope="module")
def cfl_build(tmp_path_factory: pytest.TempPathFactory, fixture_so: Callable[[str], Path]) -> Iterator[Build]:
    """Run ``.clusterfuzzlite/build.sh`` once in a simulated ``$SRC``/``$OUT``/``$WORK`` layout; removed
    afterwards (the bundles weigh 40 MB each, and pytest keeps its last three temporary trees)."""
    if (
        shutil.which("pyinstaller", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
        is None
    ):
        pytest.fail("pyinstaller is not installed: .venv/bin/pip install pyinstaller (.ci/run does)")
    for name in ("conforming_processor", "fuzz_crasher"):
        fixture_so(name)  # built in the checkout; the copy below shares its target directory
    root = tmp_path_factory.mktemp("cfl")
    src, out, work, bin_dir = root / "src", root / "out", root / "work", root / "bin"
    for directory in (src, out, work, bin_dir):
        directory.mkdir()
    # A copy, not a link: pip builds in the source tree, and the checkout must stay as it was.
    checkout = src / PROJECT
    shutil.copytree(REPO, checkout, ignore=_NOT_COPIED, symlinks=True)
    (checkout / "fixture_plugins" / "target").symlink_to(REPO / "fixture_plugins" / "target")
    pip_log = root / "pip3.log"
    _pip_stand_in(bin_dir, pip_log)
    env = dict(os.environ)
    env.update(
        SRC=str(src),
        OUT=str(out),
        WORK=str(work),
        PATH=os.pathsep.join(
            [str(bin_dir), str(REPO / "ci" / "clusterfuzzlite"), str(Path(sys.executable).parent), env["PATH"]]
        ),
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    completed = subprocess.run(
        ["bash", "-eu", str(checkout / ".clusterfuzzlite" / "build.sh")],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"build.sh failed ({completed.returncode}):\n{output[-6000:]}"
    print(f"\nbuild.sh: {wall:.0f} s wall, {cpu:.0f} s CPU for {len(TARGETS)} fuzzers")
    yield Build(src, out, work, pip_log, output, cpu, wall)
    shutil.rmtree(root, ignore_errors=True)


def test_build_installs_the_project_with_the_fuzz_extra(cfl_build: Build) -> None:
    assert cfl_build.pip_log.read_text().split() == ["install", ".[fuzz]"]
    installed = cfl_build.work / "site-packages" / "conformance" / "sandbox" / "frozen.py"
    assert installed.is_file(), "pip3 install '.[fuzz]' did not install the package"


@pytest.mark.parametrize("target", TARGETS)
def test_build_ships_each_target_by_the_oss_fuzz_convention(cfl_build: Build, target: str) -> None:
    out = cfl_build.out
    wrapper = out / target
    assert wrapper.stat().st_mode & stat.S_IXUSR, f"{wrapper} is not executable"
    # ClusterFuzz takes a file in $OUT for a fuzz target when it names this symbol.
    assert "LLVMFuzzerTestOneInput" in wrapper.read_text()
    assert (out / f"{target}.pkg").stat().st_mode & stat.S_IXUSR

    seeds = out / f"{target}_seed_corpus.zip"
    with zipfile.ZipFile(seeds) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        corpus = REPO / "fuzz" / "corpus" / target
        assert sorted(names) == sorted(path.name for path in corpus.iterdir()), "the zip must be flat"
        for name in names:
            assert archive.read(name) == (corpus / name).read_bytes()

    dictionary = out / f"{target}.dict"
    entries = [line for line in dictionary.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert entries, f"{dictionary} is empty"
    malformed = [line for line in entries if not _DICT_LINE.match(line.strip())]
    assert not malformed, f"{dictionary}: not libFuzzer dictionary lines: {malformed[:3]}"


def test_plugin_intake_ships_its_plugin_and_options(cfl_build: Build) -> None:
    assert (cfl_build.out / "libconforming_processor.so").is_file()
    options = configparser.ConfigParser()
    options.read(cfl_build.out / "plugin_intake.options")
    assert options.getint("libfuzzer", "timeout") == 60


def _libfuzzer_options(out: Path, target: str) -> list[str]:
    """The flags ClusterFuzz derives from ``<target>.options`` (its ``[libfuzzer]`` section)."""
    path = out / f"{target}.options"
    if not path.exists():
        return []
    options = configparser.ConfigParser()
    options.read(path)
    return [f"-{key}={value}" for key, value in options.items("libfuzzer")] if options.has_section("libfuzzer") else []


def _run_fuzzer(
    build: Build,
    target: str,
    tmp_path: Path,
    flags: Sequence[str] = (),
    inputs: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> tuple[int, str, list[Path]]:
    """Run ``$OUT/<target>`` on ``inputs`` (default: its seed corpus unzipped into a work corpus), with the
    dictionary and options beside it; returns the exit status, the output and the saved artifacts."""
    corpus, artifacts = tmp_path / "corpus", tmp_path / "artifacts"
    corpus.mkdir()
    artifacts.mkdir()
    with zipfile.ZipFile(build.out / f"{target}_seed_corpus.zip") as archive:
        archive.extractall(corpus)
    command = [
        str(build.out / target),
        *_libfuzzer_options(build.out, target),
        f"-dict={build.out / f'{target}.dict'}",
        f"-artifact_prefix={artifacts}{os.sep}",
        *flags,
        *(inputs or [str(corpus)]),
    ]
    run_env = {key: value for key, value in os.environ.items() if key != "CONFORMANCE_FUZZ_PLUGIN"}
    run_env.update(env or {})
    completed = subprocess.run(
        command, cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300, check=False
    )
    return completed.returncode, completed.stdout + completed.stderr, sorted(artifacts.iterdir())


@pytest.mark.parametrize("target", TARGETS)
def test_each_built_fuzzer_runs_its_seeds_without_a_finding(cfl_build: Build, target: str, tmp_path: Path) -> None:
    """As ClusterFuzz starts it: the wrapper, libFuzzer flags only, the unzipped seeds as the corpus."""
    returncode, output, artifacts = _run_fuzzer(cfl_build, target, tmp_path, ["-runs=200"])
    assert returncode == 0, f"{target} exited {returncode}:\n{output[-4000:]}"
    assert not artifacts, f"{target} saved findings: {artifacts}"
    assert "FINDING:" not in output
    assert re.search(r"Done \d+ runs", output), output[-2000:]


def test_frozen_plugin_intake_keeps_the_plugin_in_the_sandbox(cfl_build: Build, tmp_path: Path) -> None:
    """The frozen fuzzer starts itself as the fork server: a plugin's SIGSEGV is a finding named by the
    sandbox (signal and call), not the death of the fuzzer."""
    crasher = REPO / "fixture_plugins" / "target" / "release" / "libfuzz_crasher.so"
    crash = REPO / "fuzz" / "regressions" / "plugin_intake" / "fuzz_crasher" / "text-13-bytes-sigsegv"
    returncode, output, _ = _run_fuzzer(
        cfl_build, "plugin_intake", tmp_path, inputs=[str(crash)], env={"CONFORMANCE_FUZZ_PLUGIN": str(crasher)}
    )
    assert returncode != 0, output[-3000:]
    assert "FINDING: plugin_intake: fuzz_crasher: crashed with SIGSEGV in process_packet" in output, output[-3000:]
    assert "deadly signal" not in output
    # The repro line names the wrapper ClusterFuzz runs, not the bundle behind it.
    assert f"REPRO: {cfl_build.out / 'plugin_intake'} --plugin" in output
