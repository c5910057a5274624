"""A byte-code cache for this package when the interpreter is told to write none.

CI environments often set ``PYTHONDONTWRITEBYTECODE=1``. The tool starts many
interpreters (a fork server per core and per xdist worker, a subprocess per
``conformance`` command), and without ``.pyc`` files each of them compiles the
package's ~20k lines again: that doubled the test suite's time on a fresh clone.
Setting ``sys.pycache_prefix`` would fix it for us but also move the cache of
every third-party package, so this finder handles ``conformance.*`` only and
keeps its files in the user cache directory, never in the source tree.

The cache is an optimisation: any error reading or writing it falls back to
compiling from source, exactly as Python does without it.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, ModuleType

_PACKAGE = "conformance"
#: Loaded as pytest plugin modules, which pytest's assertion rewriter owns.
_LEFT_TO_PYTEST = frozenset({"conformance.pytest_plugin"})
_HEADER_BYTES = 16


def cache_root() -> Path:
    """This checkout's directory of the caches the tool keeps for itself (byte code, dataclass methods)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    package_dir = os.path.dirname(os.path.abspath(__file__))
    # One tree per checkout and interpreter version: two clones never share stale code objects.
    digest = hashlib.sha256(package_dir.encode()).hexdigest()[:16]
    tag = sys.implementation.cache_tag or "python"
    return Path(base) / "streamkit-conformance" / "pycache" / f"{tag}-{digest}"


def _header(source: os.stat_result) -> bytes:
    """The standard timestamp-based .pyc header: magic, flags 0, source mtime and size."""
    return (
        importlib.util.MAGIC_NUMBER
        + (0).to_bytes(4, "little")
        + (int(source.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        + (source.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    )


class _CachedSourceLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose byte code lives in our cache directory, written even when Python writes none."""

    def __init__(self, fullname: str, path: str, cache_file: Path) -> None:
        super().__init__(fullname, path)
        self.cache_file = cache_file

    def get_code(self, fullname: str) -> CodeType:
        source_path = self.get_filename(fullname)
        stat = os.stat(source_path)
        header = _header(stat)
        try:
            data = self.cache_file.read_bytes()
            if data[:_HEADER_BYTES] == header:
                code = marshal.loads(data[_HEADER_BYTES:])
                if isinstance(code, CodeType):
                    return code
        except (OSError, ValueError, EOFError, TypeError):
            pass
        code = compile(self.get_data(source_path), source_path, "exec", dont_inherit=True)
        self._store(header + marshal.dumps(code))
        return code

    def _store(self, data: bytes) -> None:
        """Atomic write: concurrent interpreters (xdist workers, fork servers) may compile the same module."""
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.cache_file.parent, prefix=".tmp-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, self.cache_file)
        except OSError:
            return


class _PackageBytecodeFinder:
    """Finds ``conformance.*`` submodules as usual and gives them the caching loader."""

    def __init__(self, root: Path, package_dir: str) -> None:
        self.root = root
        self.package_dir = package_dir

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_PACKAGE + ".") or fullname in _LEFT_TO_PYTEST:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.origin is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        relative = os.path.relpath(spec.origin, self.package_dir)
        if relative.startswith(".."):
            return spec
        cache_file = self.root / (relative[:-3] + ".pyc" if relative.endswith(".py") else relative + ".pyc")
        loader = _CachedSourceLoader(fullname, spec.origin, cache_file)
        cached_spec = importlib.util.spec_from_file_location(
            fullname, spec.origin, loader=loader, submodule_search_locations=spec.submodule_search_locations
        )
        if cached_spec is not None:
            cached_spec.cached = str(cache_file)
        return cached_spec


def caches_enabled() -> bool:
    """``CONFORMANCE_BYTECODE_CACHE=0`` turns off every cache of compiled code the tool keeps."""
    return os.environ.get("CONFORMANCE_BYTECODE_CACHE") != "0"


def install() -> None:
    """Install the finder once, only when Python itself will not cache byte code.

    ``CONFORMANCE_BYTECODE_CACHE=0`` turns it off.
    """
    if not sys.dont_write_bytecode or not caches_enabled():
        return
    if any(isinstance(finder, _PackageBytecodeFinder) for finder in sys.meta_path):
        return
    package_dir = os.path.dirname(os.path.abspath(__file__))
    sys.meta_path.insert(0, _PackageBytecodeFinder(cache_root(), package_dir))
