"""The compiled methods of this package's dataclasses, kept between runs in the user cache directory.

Before 3.13, ``dataclasses`` writes each generated method (``__init__``, ``__repr__``, ``__eq__``, the
frozen ``__setattr__``...) as source text and compiles it when the class is defined. The tool defines
about a hundred dataclasses, and compiling their methods was 40 % of a fork server's start-up and a
sixth of the pytest process's: every process the tool starts (the zygote, each pytest or xdist
worker, each ``conformance`` command) paid it again.

The compiled code depends only on the text and the interpreter, so the cache is keyed by the text
itself: a changed class makes a new text and a miss, never a stale hit. One file per module holds the
texts that module used last time. Only ``exec`` calls that ``dataclasses`` makes for classes of
``conformance.*`` modules go through the cache; every other package's dataclasses compile as usual.
Any error reading or writing the cache falls back to compiling, exactly as Python does without it.
"""

from __future__ import annotations

import atexit
import builtins
import dataclasses
import importlib.util
import marshal
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType
from typing import Any

_PREFIX = "conformance."
_HEADER = importlib.util.MAGIC_NUMBER
#: compile() honours -O as exec() does: code compiled under one level is kept apart from the others'.
_OPTIMIZED = f".opt-{sys.flags.optimize}" if sys.flags.optimize else ""


class _ModuleCodes:
    """The texts one module compiled (or found in its file) in this process; saved when one was new."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.known: dict[str, CodeType] = _read(file)
        self.used: dict[str, CodeType] = {}
        self.missed = False

    def code_for(self, text: str) -> CodeType:
        code = self.known.get(text)
        if code is None:
            # As dataclasses' own exec of the text compiles it: no __future__ flags of this module.
            code = compile(text, "<string>", "exec", dont_inherit=True)
            self.known[text] = code
            self.missed = True
        self.used[text] = code
        return code


def _read(file: Path) -> dict[str, CodeType]:
    try:
        data = file.read_bytes()
        if data[: len(_HEADER)] != _HEADER:
            return {}
        codes = marshal.loads(data[len(_HEADER) :])
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(codes, dict):
        return {}
    return {text: code for text, code in codes.items() if isinstance(text, str) and isinstance(code, CodeType)}


class _Cache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.modules: dict[str, _ModuleCodes] = {}
        self.owner = os.getpid()  # forked children never write: their imports are their parent's

    def exec(self, source: Any, namespace: Any = None, local_namespace: Any = None, /) -> None:
        """``exec`` as ``dataclasses`` sees it: a cached compile of the method text of our own classes."""
        module = namespace.get("__name__") if isinstance(namespace, dict) else None
        if type(source) is not str or not isinstance(module, str) or not module.startswith(_PREFIX):
            builtins.exec(source, namespace, local_namespace)
            return
        codes = self.modules.get(module)
        if codes is None:
            codes = self.modules[module] = _ModuleCodes(self.directory / f"{module}{_OPTIMIZED}.marshal")
        builtins.exec(codes.code_for(source), namespace, local_namespace)

    def save(self) -> None:
        """Write the modules that compiled a text this run, each with exactly the texts it used (old ones go)."""
        if os.getpid() != self.owner:
            return
        for codes in self.modules.values():
            if not codes.missed:
                continue
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
                with os.fdopen(handle, "wb") as out:
                    out.write(_HEADER + marshal.dumps(codes.used))
                os.replace(temporary, codes.file)
            except (OSError, ValueError):
                continue
            codes.missed = False


_installed: list[_Cache] = []


def install(directory: Path) -> None:
    """Route dataclasses' compiles of our classes through the cache in ``directory`` (once per process)."""
    if _installed:
        return
    cache = _Cache(directory)
    _installed.append(cache)
    # A module global named exec shadows the builtin for dataclasses' code only.
    dataclasses.exec = cache.exec  # type: ignore[attr-defined]
    atexit.register(cache.save)


def save() -> None:
    """Write what this process compiled now, for a process that ends with ``os._exit`` (the zygote)."""
    for cache in _installed:
        cache.save()
