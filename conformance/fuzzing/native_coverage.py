"""Coverage from inside the plugin for ``plugin_intake``: SanitizerCoverage and a preloaded libFuzzer.

Atheris measures Python coverage; a plugin is a black box to it, so a branch
deep inside ``process_packet`` is found only by luck. With the plugin built
with SanitizerCoverage (inline 8-bit counters, a PC table and traced
comparisons: flags stable rustc accepts) its edges count as coverage and its
comparisons feed libFuzzer's table of recent compares.

The instrumented library needs the ``__sanitizer_cov_*`` hooks from a libFuzzer
runtime in the global symbol scope before it is loaded. Preloading atheris's
own ``core_with_libfuzzer`` registers the counters but breaks ``atheris.Setup``;
instead a shared runtime is linked once from the ``fuzzer_no_main`` archive of
Debian's ``libclang-rt-14-dev`` (any LLVM's will do) and preloaded, and atheris,
finding a libFuzzer already loaded, uses it ("INFO: Using preloaded libfuzzer").
The plugin then runs in the fuzzer's process (``--in-process``): the counters
live there.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from conformance.fixtures import FixtureBuildError, build_rust_variant
from conformance.host.native_build import cache_dir

#: rustc flags of a SanitizerCoverage build (stable rustc: the pass by name, its options through LLVM).
SANCOV_RUSTFLAGS: tuple[str, ...] = (
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=3",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
)

#: Where Debian's libclang-rt-NN-dev puts the libFuzzer archive without a main().
RUNTIME_ARCHIVE_GLOB = "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a"
INSTALL_HINT = "apt-get install libclang-rt-14-dev"

#: The hook an instrumented library imports; its absence means "not built with SanitizerCoverage".
COUNTERS_HOOK = "__sanitizer_cov_8bit_counters_init"


class NativeCoverageUnavailable(Exception):
    """Native coverage cannot be set up here; the message says what to install or build."""


def runtime_archive() -> Path | None:
    """The newest libFuzzer ``fuzzer_no_main`` archive on this machine, or None."""
    found = sorted(glob.glob(RUNTIME_ARCHIVE_GLOB))
    return Path(found[-1]) if found else None


def libfuzzer_runtime() -> Path:
    """A shared libFuzzer runtime linked from the archive, cached per archive version."""
    archive = runtime_archive()
    if archive is None:
        raise NativeCoverageUnavailable(f"no libFuzzer runtime archive found ({INSTALL_HINT})")
    stat = archive.stat()
    digest = hashlib.sha256(f"{archive}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_dir() / f"libfuzzer-rt-{digest}.so"
    if target.exists():
        return target
    linker = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")
    if linker is None:
        raise NativeCoverageUnavailable("no C++ compiler to link the libFuzzer runtime (apt-get install g++)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        built = Path(work) / target.name
        command = [
            linker,
            "-shared",
            "-o",
            str(built),
            "-Wl,--whole-archive",
            str(archive),
            "-Wl,--no-whole-archive",
            "-lpthread",
            "-ldl",
            "-lm",
        ]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if completed.returncode != 0:
            raise NativeCoverageUnavailable(f"linking the libFuzzer runtime failed: {completed.stderr.strip()[:300]}")
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        shutil.copy(built, temporary)
        os.replace(temporary, target)
    return target


def instrumented_fixture(name: str) -> Path:
    """The bundled Rust fixture ``name`` built with SanitizerCoverage (under fixture_plugins/target/sancov)."""
    try:
        return build_rust_variant(name, "sancov", SANCOV_RUSTFLAGS)
    except FixtureBuildError as error:
        raise NativeCoverageUnavailable(str(error).splitlines()[0]) from error


def is_instrumented(library: Path) -> bool:
    """Whether ``library`` imports the SanitizerCoverage counter hook."""
    with open(library, "rb") as handle:
        section = ELFFile(handle).get_section_by_name(".dynsym")
        if not isinstance(section, SymbolTableSection):
            return False
        return any(
            symbol.name == COUNTERS_HOOK and symbol["st_shndx"] == "SHN_UNDEF" for symbol in section.iter_symbols()
        )


def preloaded(library: Path, environ: dict[str, str] | None = None) -> bool:
    environ = dict(os.environ) if environ is None else environ
    return str(library) in environ.get("LD_PRELOAD", "").split()


def preload_env(libraries: Path | Sequence[Path], environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` with ``libraries`` (the runtime first) first in LD_PRELOAD (children of libFuzzer's fork
    mode inherit it)."""
    wanted = [str(libraries)] if isinstance(libraries, Path) else [str(library) for library in libraries]
    env = dict(os.environ) if environ is None else dict(environ)
    rest = [entry for entry in env.get("LD_PRELOAD", "").split() if entry not in wanted]
    env["LD_PRELOAD"] = " ".join([*wanted, *rest])
    return env


def without_preload(library: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` with ``library`` taken out of LD_PRELOAD."""
    env = dict(os.environ) if environ is None else dict(environ)
    env["LD_PRELOAD"] = " ".join(entry for entry in env.get("LD_PRELOAD", "").split() if entry != str(library))
    return env


def mutator_hook_library() -> Path | None:
    """atheris's extension that defines ``LLVMFuzzerCustomMutator`` (None without atheris).

    libFuzzer looks that hook up as a weak symbol, bound once when its
    runtime is loaded: atheris's own build links libFuzzer into a module it
    loads after this one, but the preloaded runtime is bound at process start,
    when the extension is not loaded yet, and would never call a custom
    mutator. Preloaded beside the runtime, it is in the global scope by then
    (and ``import atheris`` later finds it already loaded).
    """
    try:
        spec = importlib.util.find_spec("atheris.custom_mutator")
    except ImportError:
        return None
    return Path(spec.origin) if spec is not None and spec.origin else None
