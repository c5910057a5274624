"""The fixture plugin corpus: discovery, building and caching.

The conformance checks need real shared objects to load: conforming plugins
(the reference that must pass everything) and plugins with one deliberate
defect each (the evidence that a check actually detects what it claims).
They live in ``fixture_plugins/`` next to this package, one directory per
fixture, each described by a ``fixture.toml``. This module reads those
descriptions and builds the libraries on demand, so a test only has to ask
for ``fixture_path("panicking")``.

Building is cached: a digest of every source file of the corpus plus the
toolchain versions is stored in ``fixture_plugins/target/``; when it matches
and the artifacts exist nothing is run. Several pytest-xdist workers may ask
at once, so the check-and-build runs under an exclusive ``flock``.

Three build kinds exist (``build`` in ``fixture.toml``):

* ``workspace``: a member of the main cargo workspace, built by one
  ``cargo build --release --offline``;
* ``standalone``: its own workspace root (e.g. a ``panic = "abort"`` profile),
  built by its own cargo invocation into ``<fixture>/target`` and copied into
  the shared output directory;
* ``c``: a single ``plugin.c`` compiled by gcc against
  ``fixture_plugins/include``.

Every artifact ends up as ``fixture_plugins/target/release/lib<name>.so``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType

__all__ = [
    "FIXTURE_ROOT",
    "FixtureBuildError",
    "FixtureInfo",
    "build_fixtures",
    "build_rust_variant",
    "fixture_path",
    "list_fixtures",
]

#: Root of the corpus: ``<repo>/fixture_plugins`` (this file is ``<repo>/conformance/fixtures.py``).
FIXTURE_ROOT: Path = Path(__file__).resolve().parent.parent / "fixture_plugins"

#: Where every built library is placed (cargo's release dir of the main workspace).
OUTPUT_DIR: Path = FIXTURE_ROOT / "target" / "release"

_STAMP_FILE = FIXTURE_ROOT / "target" / ".fixture-stamps.json"
_LOCK_FILE = FIXTURE_ROOT / "target" / ".build.lock"
_LANGUAGES = frozenset({"rust", "c"})
_KINDS = frozenset({"processor", "source", "none"})
_BUILDS = frozenset({"workspace", "standalone", "c"})
_SOURCE_NAMES = frozenset({"Cargo.toml", "Cargo.lock", "fixture.toml"})
_SOURCE_SUFFIXES = frozenset({".rs", ".c", ".h"})
_TAIL_LINES = 40
_BUILD_TIMEOUT_S = 1800.0
_GCC_FLAGS = ("-shared", "-fPIC", "-O1", "-Wall", "-Werror")
# Variables that would move cargo's output away from where we look for it.
_CARGO_ENV_DROP = ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "CARGO_BUILD_TARGET_DIR")


class FixtureBuildError(Exception):
    """A fixture could not be built: one clear line, then the tail of the tool output."""


@dataclass(frozen=True)
class FixtureInfo:
    """One fixture as described by its ``fixture.toml``.

    ``api_version`` is what the plugin's table declares (None when the
    library exports no table at all). ``defect`` is one line, ``"none"`` for
    the conforming fixtures. ``modes`` maps each variant name to how it is
    selected and what it does (``default`` is the behaviour under ordinary
    traffic).
    """

    name: str
    language: str
    api_version: int | None
    kind: str
    build: str
    defect: str
    modes: Mapping[str, str] = field(hash=False)
    directory: Path

    @property
    def conforming(self) -> bool:
        """True for the reference fixtures that must pass every check."""
        return self.defect == "none"

    @property
    def library_name(self) -> str:
        """File name of the built shared object."""
        return f"lib{self.name}.so"

    @property
    def artifact(self) -> Path:
        """Where the built library is (or will be) placed."""
        return OUTPUT_DIR / self.library_name


def _require_str(data: Mapping[str, object], key: str, path: Path) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{path}: `{key}` must be a non-empty string")
    return value


def _parse_fixture(path: Path) -> FixtureInfo:
    """Parse and validate one ``fixture.toml`` (a typo there should fail loudly, not skip a fixture)."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    name = _require_str(data, "name", path)
    if name != path.parent.name:
        raise ValueError(f"{path}: name {name!r} does not match its directory {path.parent.name!r}")
    language = _require_str(data, "language", path)
    kind = _require_str(data, "kind", path)
    build = _require_str(data, "build", path)
    defect = _require_str(data, "defect", path)
    if language not in _LANGUAGES:
        raise ValueError(f"{path}: unknown language {language!r}")
    if kind not in _KINDS:
        raise ValueError(f"{path}: unknown kind {kind!r}")
    if build not in _BUILDS:
        raise ValueError(f"{path}: unknown build {build!r}")
    if (build == "c") != (language == "c"):
        raise ValueError(f"{path}: build {build!r} does not fit language {language!r}")
    api_version = data.get("api_version")
    if api_version is not None and (not isinstance(api_version, int) or isinstance(api_version, bool)):
        raise ValueError(f"{path}: `api_version` must be an integer")
    raw_modes = data.get("modes")
    if not isinstance(raw_modes, dict) or "default" not in raw_modes:
        raise ValueError(f"{path}: a [modes] table with at least `default` is required")
    modes: dict[str, str] = {}
    for key, value in raw_modes.items():
        if not isinstance(value, str):
            raise ValueError(f"{path}: mode {key!r} must be a one-line string")
        modes[key] = value
    return FixtureInfo(
        name=name,
        language=language,
        api_version=api_version,
        kind=kind,
        build=build,
        defect=defect,
        modes=MappingProxyType(modes),
        directory=path.parent,
    )


def list_fixtures() -> list[FixtureInfo]:
    """Every fixture of the corpus, sorted by name."""
    fixtures = [_parse_fixture(p) for p in FIXTURE_ROOT.glob("*/fixture.toml")]
    return sorted(fixtures, key=lambda f: f.name)


# ----------------------------------------------------------------- caching


def _source_files() -> Iterator[Path]:
    """Every file whose change can change an artifact (target dirs skipped)."""
    for dirpath, dirnames, filenames in os.walk(FIXTURE_ROOT):
        dirnames[:] = sorted(d for d in dirnames if d != "target" and not d.startswith("."))
        for fname in sorted(filenames):
            if fname in _SOURCE_NAMES or Path(fname).suffix in _SOURCE_SUFFIXES:
                yield Path(dirpath) / fname


@cache
def _tool_version(tool: str) -> str:
    """First line of ``<tool> --version`` (cached: asked on every build_fixtures call)."""
    exe = shutil.which(tool)
    if exe is None:
        return f"{tool}: missing"
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{tool}: {exc}"
    first = out.stdout.splitlines()[0] if out.stdout else ""
    return f"{tool}: {first}"


def _corpus_digest() -> str:
    """Hash of sources, toolchain versions and the flags that reach the compilers."""
    h = hashlib.sha256()
    for path in _source_files():
        h.update(path.relative_to(FIXTURE_ROOT).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    for tool in ("rustc", "cargo", "gcc"):
        h.update(_tool_version(tool).encode())
        h.update(b"\0")
    h.update(os.environ.get("RUSTFLAGS", "").encode())
    return h.hexdigest()


def _read_stamps() -> dict[str, str]:
    try:
        data = json.loads(_STAMP_FILE.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _write_stamps(stamps: Mapping[str, str]) -> None:
    tmp = _STAMP_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(sorted(stamps.items())), indent=1))
    os.replace(tmp, _STAMP_FILE)


# ----------------------------------------------------------------- building


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()
    return "\n".join(lines[-_TAIL_LINES:])


def _run(what: str, cmd: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> None:
    """Run one build command; failures become FixtureBuildError with the output tail."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=_BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output if isinstance(exc.output, str) else ""
        raise FixtureBuildError(
            f"{what} timed out after {_BUILD_TIMEOUT_S:.0f}s: {' '.join(cmd)}\n{_tail(out)}"
        ) from exc
    except OSError as exc:
        raise FixtureBuildError(f"{what} could not start ({exc}): {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise FixtureBuildError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{_tail(proc.stdout)}")


def _require_tool(tool: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        hint = "a Rust toolchain (cargo, rustc)" if tool == "cargo" else "gcc"
        raise FixtureBuildError(f"{tool} not found on PATH: install {hint} to build the fixture corpus")
    return exe


def _cargo_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in _CARGO_ENV_DROP:
        env.pop(key, None)
    return env


def _install(src: Path, dest: Path) -> None:
    """Copy atomically, so a concurrent reader never dlopens a half-written file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cargo_build(what: str, directory: Path, target: Path) -> None:
    """The one cargo invocation for the workspace and for each standalone fixture crate in ``directory``."""
    cmd = [
        _require_tool("cargo"),
        "build",
        "--release",
        "--offline",
        "--quiet",
        "--manifest-path",
        str(directory / "Cargo.toml"),
        "--target-dir",
        str(target),
    ]
    _run(what, cmd, directory, _cargo_env())


def _build_workspace() -> None:
    _cargo_build("cargo build of the fixture workspace", FIXTURE_ROOT, FIXTURE_ROOT / "target")


def _build_standalone(info: FixtureInfo) -> None:
    target = info.directory / "target"
    _cargo_build(f"cargo build of standalone fixture {info.name}", info.directory, target)
    built = target / "release" / info.library_name
    if not built.is_file():
        raise FixtureBuildError(f"cargo build of {info.name} did not produce {built}")
    _install(built, info.artifact)


def _build_c(info: FixtureInfo) -> None:
    gcc = _require_tool("gcc")
    info.artifact.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=info.artifact.parent, prefix=f".{info.library_name}.", suffix=".so")
    os.close(fd)
    try:
        cmd = [
            gcc,
            *_GCC_FLAGS,
            "-I",
            str(FIXTURE_ROOT / "include"),
            "-o",
            tmp,
            str(info.directory / "plugin.c"),
        ]
        _run(f"gcc build of C fixture {info.name}", cmd, info.directory)
        os.replace(tmp, info.artifact)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _group(info: FixtureInfo) -> str:
    """Build unit a fixture belongs to (the whole workspace is one unit)."""
    return "workspace" if info.build == "workspace" else f"{info.build}:{info.name}"


def build_fixtures(names: Iterable[str] | None = None) -> dict[str, Path]:
    """Build (if needed) the named fixtures, or all of them; return name -> library path.

    Only the build units the requested fixtures belong to are (re)built, each
    when its stamp does not match the current corpus digest or one of its
    artifacts is missing.
    """
    catalogue = {f.name: f for f in list_fixtures()}
    if names is None:
        wanted = list(catalogue.values())
    else:
        wanted = []
        for name in names:
            if name not in catalogue:
                raise ValueError(f"unknown fixture {name!r}; known: {', '.join(sorted(catalogue))}")
            wanted.append(catalogue[name])

    groups: dict[str, list[FixtureInfo]] = {}
    for info in wanted:
        groups.setdefault(_group(info), []).append(info)
    if "workspace" in groups:
        # Cargo builds every member at once: check all their artifacts.
        groups["workspace"] = [f for f in catalogue.values() if f.build == "workspace"]

    _LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK_FILE.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            digest = _corpus_digest()
            stamps = _read_stamps()
            built_any = False
            for group, members in sorted(groups.items()):
                fresh = stamps.get(group) == digest and all(m.artifact.is_file() for m in members)
                if fresh:
                    continue
                if group == "workspace":
                    _build_workspace()
                elif group.startswith("standalone:"):
                    _build_standalone(members[0])
                else:
                    _build_c(members[0])
                missing = [str(m.artifact) for m in members if not m.artifact.is_file()]
                if missing:
                    raise FixtureBuildError(f"build unit {group} did not produce: {', '.join(missing)}")
                stamps[group] = ""  # filled in below with the post-build digest
                built_any = True
            if built_any:
                # Cargo may have written a missing Cargo.lock: hash again after building.
                after = _corpus_digest()
                for group in groups:
                    if stamps.get(group) in ("", digest):
                        stamps[group] = after
                _write_stamps(stamps)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return {info.name: info.artifact for info in wanted}


def fixture_path(name: str) -> Path:
    """Path of one built fixture library, building it first if needed."""
    return build_fixtures([name])[name]


def build_rust_variant(name: str, variant: str, rustflags: Sequence[str]) -> Path:
    """Build a Rust fixture again with extra ``rustflags`` (for example SanitizerCoverage) into
    ``target/<variant>``, apart from the corpus build; returns the library. Cargo's own
    fingerprints make a rebuild with unchanged sources and flags a no-op."""
    infos = {info.name: info for info in list_fixtures()}
    if name not in infos:
        raise FixtureBuildError(f"no fixture named {name!r}")
    info = infos[name]
    if info.language != "rust":
        raise FixtureBuildError(f"{name} is a {info.language} fixture; only Rust fixtures have {variant} builds")
    cargo = _require_tool("cargo")
    standalone = info.build == "standalone"
    manifest = info.directory / "Cargo.toml" if standalone else FIXTURE_ROOT / "Cargo.toml"
    target = FIXTURE_ROOT / "target" / variant / ("standalone-" + name if standalone else "workspace")
    cmd = [cargo, "build", "--release", "--offline", "--quiet", "--manifest-path", str(manifest)]
    if not standalone:
        cmd += ["-p", name]
    cmd += ["--target-dir", str(target)]
    env = _cargo_env()
    env["RUSTFLAGS"] = " ".join(rustflags)
    env.pop("CARGO_ENCODED_RUSTFLAGS", None)
    _run(f"cargo build of {name} ({variant})", cmd, manifest.parent, env)
    built = target / "release" / info.library_name
    if not built.is_file():
        raise FixtureBuildError(f"cargo build of {name} ({variant}) did not produce {built}")
    return built
