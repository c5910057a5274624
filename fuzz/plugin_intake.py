#!/usr/bin/env python3
"""Fuzz target: legal and illegal packets, params and hints into a real plugin, in the sandbox.

Why: the battery sends each plugin a fixed set of packets; a plugin that
crashes on the 13-byte text nobody sent still passes it. This target feeds a
plugin sequences of calls built from the shared generators (legal packets
from ``packet_from_bytes``, legal wire shapes, ``malformed_packets``,
``params_json``, ``hints``) and judges every call as the battery would:
a well-formed ``CResult`` (success byte 0 or 1), outputs that decode and go
to declared pins with declared types, an echo plugin (Passthrough output)
giving back exactly what it got, malformed packets refused, no contract
violation seen by the host callbacks; a crash or a hang is a finding.

Inputs run in a persistent sandbox child forked from this process, many per
child with the plugin loaded once (``conformance.fuzzing.persistent_intake``);
whatever it reports is judged again with the input alone in a child of the
battery's fork server, so findings read as they do with
``--one-child-per-input`` (every input in a fresh child, the old way, slower).
While libFuzzer fuzzes, inputs are posted to the child before the verdicts
on the ones before them are taken (``IntakeRunner.feed``, up to
``PIPELINE_DEPTH`` in flight): both cores work at once, and the fuzzer
sleeps once per few inputs. A finding is then raised a few calls late; the
driver saves the
input it belongs to as the crash artifact (libFuzzer saves the one in flight
too, which passes alone), and the input in flight when libFuzzer stops on
``-max_total_time`` is not judged. Given files, ``-runs``, merging, fork
mode (``-fork``/``-jobs``, whose artifacts the nightly job replays one by
one) or the ClusterFuzzLite build (which reproduces the file libFuzzer
names), each call judges its own input.
The plugin never runs in this process unless ``--in-process`` is given
(then a plugin crash is a libFuzzer crash, for gdb).

``--native-coverage`` lets coverage inside the plugin guide the fuzzer
(``conformance.fuzzing.native_coverage``): a bundled Rust fixture is rebuilt with
SanitizerCoverage, a plugin given by path must have been built that way
(RUSTFLAGS from ``SANCOV_RUSTFLAGS``), the script re-executes itself with a
shared libFuzzer runtime preloaded, and runs the plugin in process, kept loaded
from one input to the next as in the persistent child. There the plugin's
edges and compares guide the fuzzer: the host's own Python gets no counters
(``ALL_PYTHON``), and ``-use_value_profile=1`` (unless given)
turns each traced compare's distance into progress, and the dictionary gains
the constants the plugin's code compares against
(``conformance.fuzzing.compare_constants``): how nested magic values in an
unseen plugin are found.

In every mode libFuzzer mutates through ``conformance.fuzzing.intake_mutator``:
its own mutations go to one sized field of the input (an operation's chunk, a
packet's text or bytes) with the length bytes rewritten, so they land inside
a payload instead of breaking the layout; with native coverage the plugin's
compared constants are also written into fields at word-aligned offsets.

    python fuzz/plugin_intake.py --plugin path/to/libplugin.so [--in-process | --native-coverage | --one-child-per-input] [libFuzzer flags] [corpus | inputs]

``--plugin`` also takes the name of a bundled fixture (``--plugin fuzz_crasher``); without it the plugin is
``$CONFORMANCE_FUZZ_PLUGIN``, or, in the ClusterFuzzLite build (a PyInstaller executable),
``libconforming_processor.so`` beside the executable.
The input layout is ``conformance.fuzzing.intake_planner.plan_intake``'s.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from conformance.fuzzing.compare_constants import compared_constants, dictionary_with_constants
from conformance.fuzzing.driver import INSTRUMENTED, fuzz_main
from conformance.fuzzing.intake_mutator import intake_mutator
from conformance.fuzzing.intake_plan import IntakePlan
from conformance.fuzzing.intake_runner import IntakeRunner, resolve_plugin
from conformance.fuzzing.native_coverage import (
    SANCOV_RUSTFLAGS,
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
from conformance.fuzzing.paths import ARTIFACT_DIR, DICTIONARY_DIR, display_path
from conformance.fuzzing.persistent_intake import CHILD_SIDE_MODULES
from conformance.fuzzing.seeds import battery_packets
from conformance.host.packets import Packet, TextPacket
from conformance.host.wire import RawWire
from conformance.sandbox.frozen import is_frozen
from conformance.strategies.input_bytes import ByteSink

TARGET = "plugin_intake"
_RUNNER: IntakeRunner | None = None
#: The plugin to fuzz when ``--plugin`` is not given (a path or a bundled fixture's name).
PLUGIN_ENV = "CONFORMANCE_FUZZ_PLUGIN"
#: What a frozen build fuzzes by default: the library ``.clusterfuzzlite/build.sh`` puts beside the executable.
FROZEN_PLUGIN = "libconforming_processor.so"

USAGE = (
    "usage: python fuzz/plugin_intake.py --plugin PLUGIN.so|FIXTURE [--in-process | --native-coverage"
    " | --one-child-per-input]"
    " [libFuzzer flags] [corpus | inputs]\n       (or name the plugin in $CONFORMANCE_FUZZ_PLUGIN)"
)


def configure(plugin: str, *, in_process: bool = False, persistent: bool = True) -> IntakeRunner:
    """Point the target at a plugin (profiles it in the sandbox); ``test_one_input`` then drives it."""
    global _RUNNER
    if _RUNNER is not None:
        _RUNNER.close()
    _RUNNER = IntakeRunner(plugin, in_process=in_process, persistent=persistent)
    return _RUNNER


def runner() -> IntakeRunner:
    if _RUNNER is None:
        raise RuntimeError("plugin_intake is not configured: call configure(plugin) (or pass --plugin)")
    return _RUNNER


def test_one_input(data: bytes) -> None:
    """One intake of ``data`` against the configured plugin; raises ``FuzzFinding`` on any finding."""
    runner().check(data)


def fuzz_one_input(data: bytes) -> None:
    """``test_one_input`` for a fuzzing loop: the input is posted to the persistent child and earlier ones are
    judged a few calls later, so this process mutates and plans while the child runs (a finding may name an
    input before ``data``: the driver saves that one)."""
    runner().feed(data)


#: libFuzzer modes that run given inputs and stop: each input's verdict must come within its own call.
_EACH_INPUT_JUDGED = ("-runs=", "-merge=", "-set_cover_merge=", "-minimize_crash=", "-merge_inner=")
#: libFuzzer modes whose jobs are processes of their own (they inherit ``SYNCHRONOUS_ENV``).
_JOBS = ("-fork=", "-jobs=", "-workers=")
#: Set (to 1) for the jobs of fork mode: every input's verdict comes within its own call there.
SYNCHRONOUS_ENV = "CONFORMANCE_INTAKE_SYNCHRONOUS"


def pipelines(args: Sequence[str]) -> bool:
    """Whether this process fuzzes alone (corpus directories only, no -runs, not a job of fork mode, not the
    ClusterFuzzLite build): only then may an input's verdict come in a later call. Given files, -runs or
    merging, the last input's verdict would be lost; in fork mode libFuzzer's own artifact of the input in
    flight (which passes alone) would reach the nightly triage, which replays every artifact, and
    ClusterFuzzLite reproduces a crash from the file libFuzzer names."""
    positional = [arg for arg in args if not arg.startswith("-")]
    if is_frozen():
        return False
    if any(arg.startswith(_JOBS) for arg in args):
        os.environ[SYNCHRONOUS_ENV] = "1"  # the jobs are started with this environment
        return False
    return (
        os.environ.get(SYNCHRONOUS_ENV) != "1"
        and all(Path(arg).is_dir() for arg in positional)
        and not any(arg.startswith(_EACH_INPUT_JUDGED) for arg in args)
    )


def plan(data: bytes) -> IntakePlan:
    """What an input means for the configured plugin (for reading artifacts and regressions)."""
    return runner().plan(data)


def seed_inputs() -> Iterator[tuple[str, bytes]]:
    """The battery's legal packets one per intake, then a few multi-call intakes with generator draws.

    Chunks for the Hypothesis-driven calls are random bytes (any bytes are a
    complete draw); the random generator is seeded so the corpus is stable.
    """
    rng = random.Random(0x5EED)
    for label, packet in battery_packets():
        if isinstance(packet, RawWire):
            continue
        yield f"packet.{label}", ByteSink().byte(0).byte(0).sized(bytes_for_packet(packet)).getvalue()
    text = bytes_for_packet(battery_text())
    for code, label in ((3, "wire"), (4, "malformed"), (5, "params"), (6, "hint")):
        for number in range(3):
            sink = ByteSink().byte(0).byte(code).sized(rng.randbytes(24))
            yield f"{label}.{number}", sink.byte(0).sized(text).getvalue()
    yield "params-null-then-packet", ByteSink().byte(0).byte(5).byte(0).byte(0).sized(text).byte(7).byte(0).getvalue()
    yield "create-null-params", ByteSink().byte(6).byte(0).sized(text).getvalue()
    yield "create-drawn-params", ByteSink().byte(7).sized(rng.randbytes(16)).byte(0).sized(text).getvalue()
    yield "flush-only", ByteSink().byte(0).byte(7).byte(0).getvalue()


def battery_text() -> Packet:
    """The battery's ordinary Text (traffic.py): what most seeds append after their first call."""
    return TextPacket("hello from the conformance host")


def default_plugin() -> str | None:
    """The plugin when ``--plugin`` is not given: ``$CONFORMANCE_FUZZ_PLUGIN``, else, in a fuzzer frozen by
    PyInstaller, ``FROZEN_PLUGIN`` beside the executable (ClusterFuzzLite runs a fuzzer with libFuzzer's
    flags only, so it must find its plugin without being told)."""
    configured = os.environ.get(PLUGIN_ENV)
    if configured:
        return configured
    if is_frozen():
        return str(Path(sys.executable).resolve().parent / FROZEN_PLUGIN)
    return None


ONE_CHILD_FLAG = "--one-child-per-input"
#: With native coverage no Python module is instrumented: Python's counters would fill the corpus with
#: inputs that differ only in the host's paths, and atheris traces Python's compares into the same small
#: tables of recent compares from which libFuzzer copies a plugin's magic values into the input.
ALL_PYTHON = INSTRUMENTED


def parse_args(args: Sequence[str]) -> tuple[str | None, bool, bool, list[str]]:
    """Our own flags (``--plugin P``, ``--plugin=P``, ``--in-process``, ``--native-coverage``) apart from
    libFuzzer's; ``--one-child-per-input`` stays in the rest (``main`` takes it out)."""
    plugin: str | None = None
    in_process = False
    native = False
    rest: list[str] = []
    items = list(args)
    while items:
        arg = items.pop(0)
        if arg == "--plugin" and items:
            plugin = items.pop(0)
        elif arg.startswith("--plugin="):
            plugin = arg.split("=", 1)[1]
        elif arg == "--in-process":
            in_process = True
        elif arg == "--native-coverage":
            native = True
        else:
            rest.append(arg)
    return plugin, in_process, native, rest


def native_plugin(plugin: str) -> str:
    """The SanitizerCoverage build of ``plugin``, with the libFuzzer runtime preloaded in this process.

    Re-executes the script with LD_PRELOAD when the runtime (and atheris's custom-mutator hook) is not loaded
    yet (the hooks must be in the global scope before the plugin is opened).
    """
    runtime = libfuzzer_runtime()
    hooks = mutator_hook_library()  # else libFuzzer would never call the custom mutator (see there)
    libraries = [runtime, *([hooks] if hooks is not None else [])]
    if not all(preloaded(library) for library in libraries):
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.argv], preload_env(libraries))
    if hooks is not None:  # loaded now; what this process starts (objdump, gdb, fork mode's jobs) does without it
        os.environ.update(without_preload(hooks))
    path = resolve_plugin(plugin) if plugin.endswith(".so") or os.sep in plugin else instrumented_fixture(plugin)
    if not is_instrumented(path):
        raise SystemExit(
            f'{path}: not built with SanitizerCoverage; rebuild it with RUSTFLAGS="{" ".join(SANCOV_RUSTFLAGS)}"'
        )
    return str(path)


def native_flags(plugin: Path, args: list[str]) -> list[str]:
    """libFuzzer's flags for native coverage, unless given: value profiles (a traced compare's distance is
    progress) and the target's dictionary with the constants the plugin compares against."""
    extra: list[str] = []
    if not any(arg.startswith("-use_value_profile=") for arg in args):
        extra.append("-use_value_profile=1")
    if not any(arg.startswith("-dict=") for arg in args):
        merged = dictionary_with_constants(plugin, DICTIONARY_DIR / f"{TARGET}.dict", ARTIFACT_DIR / ".dictionaries")
        extra += [f"-dict={merged}"] if merged is not None else []
    return [*extra, *args]


def main(argv: list[str] | None = None) -> None:
    plugin, in_process, native, rest = parse_args(sys.argv[1:] if argv is None else argv)
    one_child = ONE_CHILD_FLAG in rest
    rest = [arg for arg in rest if arg != ONE_CHILD_FLAG]
    plugin = plugin or default_plugin()
    if plugin is None:
        raise SystemExit(USAGE)
    if native:
        try:
            plugin = native_plugin(plugin)
        except NativeCoverageUnavailable as error:
            raise SystemExit(f"native coverage unavailable: {error}") from None
        in_process = True
    intake = configure(plugin, in_process=in_process, persistent=not one_child)
    mode = ["--native-coverage"] if native else (["--in-process"] if in_process else [])
    mode += [ONE_CHILD_FLAG] if one_child and not in_process else []
    own_flags = ["--plugin", display_path(intake.plugin_path), *mode]
    if native:
        rest = native_flags(intake.plugin_path, rest)
    fuzz_main(
        TARGET,
        fuzz_one_input if intake.persistent and pipelines(rest) else test_one_input,
        rest,
        own_flags=own_flags,
        artifact_dir=ARTIFACT_DIR / TARGET / intake.name,
        work_key=f"{TARGET}-{intake.name}" + ("-native" if native else ""),
        default_timeout=60,  # the sandbox bounds plugin calls; this bounds everything else
        uninstrumented=ALL_PYTHON if native else CHILD_SIDE_MODULES if intake.persistent else (),
        custom_mutator=intake_mutator(intake.profile, compared_constants(intake.plugin_path) if native else ()),
    )


if __name__ == "__main__":
    main()
