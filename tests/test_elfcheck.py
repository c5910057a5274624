"""The static pre-check: bad input is named in one line before any plugin code runs."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path

from conformance.host.elfcheck import inspect_plugin_file


def test_missing_file(tmp_path: Path) -> None:
    assert inspect_plugin_file(tmp_path / "nope.so").problem == "no such file"


def test_directory(tmp_path: Path) -> None:
    assert "directory" in (inspect_plugin_file(tmp_path).problem or "")


def test_text_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.so"
    text.write_text("hello\n")
    assert "not an ELF file" in (inspect_plugin_file(text).problem or "")


def test_executable_is_not_a_shared_object() -> None:
    executable = shutil.which("true")
    assert executable is not None
    problem = inspect_plugin_file(executable).problem or ""
    assert "executable" in problem


def test_other_architecture(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    foreign = tmp_path / "libforeign.so"
    data = bytearray(fixture_so("conforming_processor").read_bytes())
    struct.pack_into("<H", data, 18, 183)  # e_machine = EM_AARCH64
    foreign.write_bytes(bytes(data))
    problem = inspect_plugin_file(foreign).problem or ""
    assert "built for EM_AARCH64" in problem and "EM_X86_64" in problem


def test_conforming_plugin_exports_and_language(fixture_so: Callable[[str], Path]) -> None:
    facts = inspect_plugin_file(fixture_so("conforming_processor"))
    assert facts.loadable and facts.exports_entry and facts.exports_log_setter
    assert facts.language == "rust"
    c_facts = inspect_plugin_file(fixture_so("conforming_c"))
    assert c_facts.loadable and c_facts.language == "c"


def test_missing_symbol_is_seen_statically(fixture_so: Callable[[str], Path]) -> None:
    facts = inspect_plugin_file(fixture_so("no_entry_symbol"))
    assert facts.loadable and not facts.exports_entry
