"""The libFuzzer (atheris) driver every target calls: default corpus, dictionary and artifact directory,
coverage instrumentation of our own code, and a one-line repro command printed for every finding."""

from __future__ import annotations

import faulthandler
import gc
import hashlib
import os
import shlex
import shutil
import signal
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path

from conformance.fuzzing.findings import FINDING_MARK, REPRO_MARK, signature_of
from conformance.fuzzing.paths import ARTIFACT_DIR, CORPUS_DIR, DICTIONARY_DIR, FUZZ_DIR, display_path
from conformance.sandbox.frozen import is_frozen

#: libFuzzer modes that re-run the command line in child processes (argv[0] must be executable).
_SUBPROCESS_FLAGS = ("-fork=", "-jobs=", "-workers=", "-merge=", "-set_cover_merge=", "-minimize_crash=")
#: Of those, the modes whose outer process runs no input itself: it only starts the inner processes (which
#: get the flag removed) and reads what they write, so it needs no coverage counters of its own.
_OUTER_ONLY_FLAGS = ("-fork=", "-jobs=", "-merge=", "-set_cover_merge=")


#: Modules whose functions get atheris coverage: ours and the target's.
INSTRUMENTED = ("conformance", "fuzz_", "__main__")


def instrument_python(prefixes: tuple[str, ...] = INSTRUMENTED, skipped: tuple[str, ...] = ()) -> int:
    """Add atheris coverage to every loaded function of this package and the target, except modules
    starting with one of ``skipped``; returns how many.

    ``atheris.instrument_all`` would also instrument Hypothesis, cffi and the
    standard library (slow to start, noisy feedback); the code under test is
    ours, so only ours is instrumented.
    """
    import atheris  # type: ignore[import-untyped,unused-ignore]  # optional extra, only when fuzzing

    count = 0
    for obj in gc.get_objects():
        module = str(getattr(obj, "__module__", "") or "")
        if isinstance(obj, types.FunctionType) and module.startswith(prefixes) and not module.startswith(skipped):
            try:
                atheris.instrument_func(obj)
            except (TypeError, ValueError, AttributeError):  # a function atheris cannot rewrite: skip it
                continue
            count += 1
    return count


def _has_flag(args: Sequence[str], flag: str) -> bool:
    return any(arg.startswith(f"-{flag}=") for arg in args)


def libfuzzer_args(target: str, args: Sequence[str], *, artifact_dir: Path, work_key: str) -> list[str]:
    """The user's libFuzzer flags plus defaults: artifact prefix, the target's dictionary, and -- when no
    corpus or input is named -- a work corpus under fuzz/artifacts/ with the committed seeds read-only."""
    result = list(args)
    positional = [arg for arg in args if not arg.startswith("-")]
    if not _has_flag(args, "artifact_prefix"):
        artifact_dir.mkdir(parents=True, exist_ok=True)
        result.insert(0, f"-artifact_prefix={artifact_dir}{os.sep}")
    dictionary = DICTIONARY_DIR / f"{target}.dict"
    if not _has_flag(args, "dict") and dictionary.exists():
        result.insert(0, f"-dict={dictionary}")
    if not positional:
        work = ARTIFACT_DIR / "corpus" / work_key
        work.mkdir(parents=True, exist_ok=True)
        result += [str(work), str(CORPUS_DIR / target)]
    return result


def artifact_prefix(args: Sequence[str]) -> str:
    for arg in args:
        if arg.startswith("-artifact_prefix="):
            return arg.split("=", 1)[1]
    return ""


def python_command() -> str:
    """``python`` when that is this interpreter, else its full path (a venv not on PATH)."""
    found = shutil.which("python")
    if found and Path(found).resolve() == Path(sys.executable).resolve():
        return "python"
    return sys.executable


def target_command(target: str) -> list[str]:
    """How to start this target again: the interpreter and the script, or, in a fuzzer frozen by
    PyInstaller (ClusterFuzzLite), the executable itself."""
    if is_frozen():
        # compile_python_fuzzer's wrapper $OUT/<target> beside the bundle $OUT/<target>.pkg, when it is there
        wrapper = Path(sys.executable).with_suffix("")
        return [str(wrapper) if wrapper != Path(sys.executable) and wrapper.is_file() else sys.executable]
    return [python_command(), display_path(FUZZ_DIR / f"{target}.py")]


def repro_command(target: str, own_flags: Sequence[str], path: str) -> str:
    command = [shlex.quote(part) for part in target_command(target)]
    return " ".join([*command, *map(shlex.quote, own_flags), shlex.quote(display_path(path))])


def reporting(
    target: str, test_one_input: Callable[[bytes], None], own_flags: Sequence[str], prefix: str
) -> Callable[[bytes], None]:
    """Wrap a target so every finding prints its signature and a one-line repro command before libFuzzer
    saves the input as ``<prefix>crash-<sha1>`` (the name libFuzzer gives it)."""

    def run(data: bytes) -> None:
        try:
            test_one_input(data)
        except Exception as error:
            culprit = getattr(error, "data", None)
            note = ""
            if isinstance(culprit, bytes) and culprit != data:
                # An earlier input of a persistent child: libFuzzer saves the one in flight, we save this one.
                note = f"(the finding of an earlier input; crash-{hashlib.sha1(data).hexdigest()} passes alone)"
                data = culprit
                Path(f"{prefix}crash-{hashlib.sha1(data).hexdigest()}").write_bytes(data)
            path = f"{prefix}crash-{hashlib.sha1(data).hexdigest()}"
            print(f"\n{FINDING_MARK} {target}: {signature_of(error)}", file=sys.stderr)
            if note:
                print(note, file=sys.stderr)
            print(f"{REPRO_MARK} {repro_command(target, own_flags, path)}", file=sys.stderr, flush=True)
            raise

    return run


def outer_only(args: Sequence[str]) -> bool:
    """Whether libFuzzer, given ``args``, runs no input in this process (fork, jobs or merge: the outer side)."""
    for arg in args:
        value = arg.partition("=")[2]
        if arg.startswith(_OUTER_ONLY_FLAGS) and value not in ("", "0"):
            return True
    return False


def _launcher(target: str, own_flags: Sequence[str]) -> str:
    """An executable that re-runs this target with our own flags: libFuzzer's fork, merge and
    minimise modes start ``argv[0]`` directly, and a .py script with its flags stripped is not that."""
    command = [sys.executable] if is_frozen() else [sys.executable, str(FUZZ_DIR / f"{target}.py")]
    body = "#!/bin/sh\nexec " + " ".join(shlex.quote(part) for part in (*command, *own_flags)) + ' "$@"\n'
    directory = ARTIFACT_DIR / ".launchers"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{target}-{hashlib.sha1(body.encode()).hexdigest()[:12]}.sh"
    if not path.exists():
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(body)
        temporary.chmod(0o755)
        os.replace(temporary, path)
    return str(path)


def fuzz_main(
    target: str,
    test_one_input: Callable[[bytes], None],
    args: Sequence[str],
    *,
    own_flags: Sequence[str] = (),
    artifact_dir: Path | None = None,
    work_key: str | None = None,
    default_timeout: int | None = None,
    uninstrumented: tuple[str, ...] = (),
    custom_mutator: Callable[[bytes, int, int], bytes] | None = None,
) -> None:
    """Run ``test_one_input`` under libFuzzer (atheris) with ``args`` (libFuzzer flags, corpus dirs or
    input files); modules starting with one of ``uninstrumented`` get no coverage counters; libFuzzer
    mutates through ``custom_mutator`` when given. Never returns: libFuzzer exits the process."""
    try:
        import atheris  # type: ignore[import-untyped,unused-ignore]  # optional extra, only when fuzzing
    except ImportError:
        raise SystemExit("atheris is not installed: pip install -e '.[fuzz]'") from None
    artifacts = artifact_dir or ARTIFACT_DIR / target
    lib_args = libfuzzer_args(target, args, artifact_dir=artifacts, work_key=work_key or target)
    if default_timeout is not None and not _has_flag(lib_args, "timeout"):
        lib_args.insert(0, f"-timeout={default_timeout}")  # a stuck input becomes a timeout artifact
    # `kill -USR1 <pid>` prints where a fuzzer that seems stuck is, in Python terms.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    argv0 = sys.argv[0]
    if any(arg.startswith(_SUBPROCESS_FLAGS) for arg in lib_args):
        argv0 = _launcher(target, own_flags)
    if not outer_only(lib_args):
        instrument_python(skipped=uninstrumented)  # seconds of CPU at every start: only where inputs run
    runner = reporting(target, test_one_input, own_flags, artifact_prefix(lib_args))
    if custom_mutator is None:
        atheris.Setup([argv0, *lib_args], runner)
    else:
        atheris.Setup([argv0, *lib_args], runner, custom_mutator=custom_mutator)
    atheris.Fuzz()
