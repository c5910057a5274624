"""The cached out-of-line declarations: the same types as a parse, regenerated when they change,
and a parse in-line whenever the cache cannot serve."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.abi import CDEFS, LAYOUTS
from conformance.abi.compiled import CACHE_ENV, cache_file, declared_ffi

SMALL = "typedef struct Pair { int32_t a; const char *b; } Pair; typedef int (*PairFn)(Pair *);"


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(CACHE_ENV, raising=False)
    return tmp_path


def test_the_cached_abi_lays_out_every_struct_as_the_parse_does(cache_home: Path) -> None:
    declared_ffi("abi_test", CDEFS)
    cached = declared_ffi("abi_test", CDEFS)
    assert cache_file("abi_test", CDEFS).is_file()
    parsed = _parsed(CDEFS)
    for layout in LAYOUTS:
        assert cached.sizeof(layout.name) == parsed.sizeof(layout.name), layout.name
        assert cached.alignof(layout.name) == parsed.alignof(layout.name), layout.name
        cached_fields = [
            (name, field.offset, cached.sizeof(field.type)) for name, field in cached.typeof(layout.name).fields
        ]
        parsed_fields = [
            (name, field.offset, parsed.sizeof(field.type)) for name, field in parsed.typeof(layout.name).fields
        ]
        assert cached_fields == parsed_fields, layout.name


def test_changed_declarations_get_their_own_module(cache_home: Path) -> None:
    changed = SMALL.replace("int32_t a", "int64_t a")
    assert cache_file("pair", SMALL) != cache_file("pair", changed)
    assert declared_ffi("pair", SMALL).sizeof("Pair") == 16
    assert declared_ffi("pair", changed).sizeof("Pair") == 16
    assert declared_ffi("pair", changed).offsetof("Pair", "b") == 8
    assert declared_ffi("pair", "typedef struct { int32_t a; int32_t b; } Pair;").sizeof("Pair") == 8


def test_a_damaged_module_is_generated_again(cache_home: Path) -> None:
    path = cache_file("pair", SMALL)
    path.parent.mkdir(parents=True)
    path.write_text("ffi = None\n", encoding="utf-8")
    assert declared_ffi("pair", SMALL).sizeof("Pair") == 16
    assert "_cffi_backend.FFI(" in path.read_text(encoding="utf-8")


def test_an_unwritable_cache_still_declares_the_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_directory))
    ffi = declared_ffi("pair", SMALL)
    assert ffi.sizeof("Pair") == 16
    assert ffi.typeof("PairFn").kind == "function"


def test_the_cache_can_be_turned_off(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, "0")
    assert declared_ffi("pair", SMALL).sizeof("Pair") == 16
    assert not cache_file("pair", SMALL).exists()


def test_a_process_with_a_warm_cache_never_imports_the_parser(cache_home: Path) -> None:
    """The point of the cache: a fork server loads the declarations without pycparser."""
    code = (
        "import sys; from conformance.abi import warm_up; warm_up(); "
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('pycparser', 'cffi')))"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    warm = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert warm.stdout.strip() == "[]"


def _parsed(cdefs: str) -> Any:
    import cffi  # the reference: the in-line parse the cache replaces

    ffi = cffi.FFI()
    ffi.cdef(cdefs)
    return ffi
