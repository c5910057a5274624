"""cffi declarations loaded from a cached out-of-line module instead of parsed at every start.

Parsing C declarations costs each process that calls a plugin (every fork
server, every ``conformance`` command) the import of pycparser and the parse:
about 0.1 s of CPU for the ABI. cffi's out-of-line ABI mode turns a parse into a
small Python module holding cffi's own type tables, which loads in a few
milliseconds without pycparser. That module is generated on first use into the
user cache directory (never the source tree, so a wheel install, a fresh clone
and a frozen fuzzer behave alike), under a name carrying a digest of the
declarations and of the cffi version: a changed declaration gets a new module.

The cache is an optimisation: if the module cannot be generated or loaded, the
declarations are parsed in-line as before; a cache that cannot be written only
means the next process generates the module again. Sizes, offsets, fields and
conversions are cffi's own either way; only a ctype's printed name differs
(``struct CPacket *`` for a declared ``typedef struct CPacket {...} CPacket``),
and no check or report prints one.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import _cffi_backend

#: The environment variable that turns the cache off (``0``), as for the byte-code cache.
CACHE_ENV = "CONFORMANCE_CFFI_CACHE"


def declared_ffi(name: str, cdefs: str) -> Any:
    """An FFI with ``cdefs`` declared, loaded from the cache when it holds them (typed Any: no stubs).

    ``name`` (an identifier) tells the cached modules apart; the digest in the file name
    keys them on the declarations themselves.
    """
    if os.environ.get(CACHE_ENV) == "0":
        return _parsed(cdefs)
    path = cache_file(name, cdefs)
    try:
        return _load(path.read_text(encoding="utf-8"), path)
    except Exception:  # noqa: BLE001, S110 - not generated yet, or damaged: generated again below
        pass
    try:
        return _load(_generate(name, cdefs, path), path)
    except Exception:  # noqa: BLE001 - no cache directory, or no recompiler in a frozen build: parse in-line
        return _parsed(cdefs)


def cache_file(name: str, cdefs: str) -> Path:
    """Where the module for ``cdefs`` lives: one file per name, declarations and cffi version."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = f"{_cffi_backend.__version__}\0{name}\0{cdefs}".encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    return Path(base) / "streamkit-conformance" / "cffi" / f"{name}-{digest}.py"


def _parsed(cdefs: str) -> Any:
    # cffi's parser (and pycparser) only on this path: the cached module needs neither.
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(cdefs)
    return ffi


def _load(source: str, path: Path) -> Any:
    """Run the generated module's text (``ffi = _cffi_backend.FFI(...)``) and return its ``ffi``."""
    namespace: dict[str, Any] = {}
    exec(compile(source, str(path), "exec", dont_inherit=True), namespace)
    ffi = namespace.get("ffi")
    if not isinstance(ffi, _cffi_backend.FFI):
        raise TypeError(f"{path} defines no cffi FFI")
    return ffi


def _generate(name: str, cdefs: str, path: Path) -> str:
    """The out-of-line module's text for ``cdefs``, also written to ``path`` if the cache can be written.

    Concurrent processes (fork servers, xdist workers) may generate the same file;
    each writes its own temporary file and renames it, so a reader never sees half of one.
    """
    builder = _parsed(cdefs)
    builder.set_source(name, None, compiler_verbose=0)  # verbose would print "generating" on our stdout
    text = io.StringIO()
    builder.emit_python_code(text)
    source = text.getvalue()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    except OSError:
        return source  # a read-only cache: this process uses the text, the next one generates it again
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(source)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
    return source
