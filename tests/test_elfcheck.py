"""The static pre-check: bad input is named in one line before any plugin code runs."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path

from conformance.host.elfcheck import inspect_plugin_file
from conformance.host.extents import _symbols


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


def _facts_by_pyelftools(path: Path) -> tuple[str, str, tuple[str, ...], str]:
    """The reference: what the pre-check found when it parsed with pyelftools (machine, type, exports, language)."""
    from elftools.elf.elffile import ELFFile  # noqa: PLC0415 - the reference only this test needs
    from elftools.elf.sections import SymbolTableSection  # noqa: PLC0415

    with path.open("rb") as handle:
        elf = ELFFile(handle)
        exported: set[str] = set()
        for section in elf.iter_sections():
            if isinstance(section, SymbolTableSection) and section.name == ".dynsym":
                for symbol in section.iter_symbols():
                    if (
                        symbol["st_shndx"] != "SHN_UNDEF"
                        and symbol["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK")
                        and symbol.name
                    ):
                        exported.add(symbol.name)
        comment = elf.get_section_by_name(".comment")
        dynstr = elf.get_section_by_name(".dynstr")
        rust = (comment is not None and b"rustc" in comment.data()) or (
            dynstr is not None and b"rust_" in dynstr.data()
        )
        return str(elf["e_machine"]), str(elf["e_type"]), tuple(sorted(exported)), "rust" if rust else "c"


def _shared_objects() -> list[Path]:
    fixtures = sorted((Path(__file__).resolve().parent.parent / "fixture_plugins" / "target" / "release").glob("*.so"))
    # C libraries of other toolchains' making, small enough for pyelftools' pure-Python symbol walk
    system = [
        path for path in sorted(Path("/usr/lib/x86_64-linux-gnu").glob("lib*.so.*")) if path.stat().st_size < 400_000
    ]
    system = [path for path in system if not path.is_symlink()][:12]
    return [*fixtures, *system]


def test_the_reader_agrees_with_pyelftools_on_every_fixture_and_system_library() -> None:
    """The struct reader replaced pyelftools in the pre-check; both must see the same exports and language."""
    checked = 0
    for path in _shared_objects():
        if not path.is_file():
            continue
        machine, kind, exported, language = _facts_by_pyelftools(path)
        facts = inspect_plugin_file(path)
        assert facts.machine == machine, path
        if kind == "ET_DYN" and facts.loadable:
            assert facts.exported == exported, path
            assert facts.language == language, path
        checked += 1
    assert checked > 10


def _data_objects_by_pyelftools(path: Path) -> tuple[tuple[tuple[int, int, str], ...], int]:
    """The reference: the sized data objects and first load address ``extents`` read with pyelftools."""
    from elftools.elf.elffile import ELFFile  # noqa: PLC0415 - the reference only this test needs
    from elftools.elf.sections import SymbolTableSection  # noqa: PLC0415

    objects: dict[int, tuple[int, int, str]] = {}
    with path.open("rb") as handle:
        elf = ELFFile(handle)
        loads = [segment["p_vaddr"] for segment in elf.iter_segments() if segment["p_type"] == "PT_LOAD"]
        for section in elf.iter_sections():
            if isinstance(section, SymbolTableSection):
                for symbol in section.iter_symbols():
                    if symbol["st_info"]["type"] != "STT_OBJECT" or symbol["st_size"] <= 0:
                        continue
                    if symbol["st_shndx"] in ("SHN_UNDEF", "SHN_ABS", "SHN_COMMON"):
                        continue
                    start = int(symbol["st_value"])
                    objects.setdefault(start, (start, int(symbol["st_size"]), symbol.name or "?"))
    return tuple(sorted(objects.values())), min(loads) & ~0xFFF if loads else 0


def test_the_data_symbols_agree_with_pyelftools_on_every_fixture_and_system_library() -> None:
    """The struct reader replaced pyelftools in the sandbox child's array extents (``metadata.counts-plausible``)."""
    checked = sized = 0
    for path in _shared_objects():
        if not path.is_file() or not inspect_plugin_file(path).loadable:
            continue
        objects, first_load = _data_objects_by_pyelftools(path)
        starts, found, found_first_load = _symbols(str(path))
        assert (found, found_first_load) == (objects, first_load), path
        assert starts == tuple(start for start, _, _ in objects)
        checked += 1
        sized += bool(objects)
    assert checked > 10 and sized > 10


def test_a_file_whose_symbols_cannot_be_read_has_no_data_objects(
    tmp_path: Path, fixture_so: Callable[[str], Path]
) -> None:
    good = fixture_so("c_count_overrun").read_bytes()
    for name, data in {"truncated": good[: len(good) // 2], "not elf": b"hello", "empty": b""}.items():
        path = tmp_path / f"{name}.so"
        path.write_bytes(data)
        assert _symbols(str(path)) == ((), (), 0), name


def test_malformed_files_are_named_and_never_raise(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    good = fixture_so("conforming_processor").read_bytes()
    cases = {
        "header only": good[:20],
        "bad class": good[:4] + b"\x07" + good[5:],
        "bad data encoding": good[:5] + b"\x09" + good[6:],
        "section table past the end": good[:0x28] + struct.pack("<Q", len(good) * 4) + good[0x30:],
        "truncated before its sections": good[: len(good) // 3],
        "name table index out of range": good[:0x3E] + struct.pack("<H", 0xFFF0) + good[0x40:],
    }
    for name, data in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.so"
        path.write_bytes(data)
        facts = inspect_plugin_file(path)
        assert not facts.loadable, name
        assert (facts.problem or "").startswith("malformed ELF: "), (name, facts.problem)


def test_a_32_bit_and_a_big_endian_file_are_told_apart(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    data = bytearray(fixture_so("conforming_processor").read_bytes())
    data[4] = 1  # ELFCLASS32, same machine
    thirty_two = tmp_path / "lib32.so"
    thirty_two.write_bytes(bytes(data))
    assert inspect_plugin_file(thirty_two).problem == "a 32-bit ELF; the ABI is 64-bit"
    data = bytearray(fixture_so("conforming_processor").read_bytes())
    data[5] = 2  # big-endian: e_machine 62 reads as 0x3e00
    big = tmp_path / "libbig.so"
    big.write_bytes(bytes(data))
    assert "built for EM_15872" in (inspect_plugin_file(big).problem or "")
