"""Static pre-check of a plugin file, before any of its code runs.

Runs in the pytest process itself: pyelftools only parses the file, so a
library whose constructor aborts cannot hurt us here. It turns "not a file",
"not ELF", "wrong architecture" and "an executable, not a library" into one
clear line, and tells the battery which symbols the library exports and
whether it was built by rustc.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from conformance.abi.constants import API_SYMBOL, SET_LOG_ENABLED_SYMBOL

_MACHINES = {"x86_64": "EM_X86_64", "aarch64": "EM_AARCH64", "arm64": "EM_AARCH64"}
_DF_1_PIE = 0x08000000


@dataclass(frozen=True)
class ElfFacts:
    """What the file is, read without loading it."""

    path: str
    problem: str | None = None
    machine: str = ""
    exported: tuple[str, ...] = field(default_factory=tuple)
    language: str = "unknown"

    @property
    def loadable(self) -> bool:
        return self.problem is None

    @property
    def exports_entry(self) -> bool:
        return API_SYMBOL in self.exported

    @property
    def exports_log_setter(self) -> bool:
        return SET_LOG_ENABLED_SYMBOL in self.exported


def host_machine() -> str:
    return _MACHINES.get(platform.machine(), platform.machine())


@cache
def elf_facts(path: Path) -> ElfFacts:
    """``inspect_plugin_file``, once per path and process: the probe, the reports and the CLI all ask."""
    return inspect_plugin_file(path)


def inspect_plugin_file(path: str | os.PathLike[str]) -> ElfFacts:
    """Check that ``path`` is a shared object this machine can load; never raises for bad input."""
    # pyelftools on first use: about 70 ms of imports (measured) that every pytest process would otherwise pay.
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    text = str(path)
    file = Path(path)
    if not file.exists():
        return ElfFacts(text, "no such file")
    if file.is_dir():
        return ElfFacts(text, "is a directory, not a shared object")
    try:
        handle = file.open("rb")
    except OSError as error:
        return ElfFacts(text, f"cannot be read: {error.strerror}")
    with handle:
        if handle.read(4) != b"\x7fELF":
            return ElfFacts(text, "not an ELF file (is it a text file or an archive?)")
        handle.seek(0)
        try:
            elf = ELFFile(handle)
            machine = str(elf["e_machine"])
            if machine != host_machine():
                return ElfFacts(text, f"built for {machine}, but this machine is {host_machine()}", machine)
            if elf.elfclass != 64:
                return ElfFacts(text, f"a {elf.elfclass}-bit ELF; the ABI is 64-bit", machine)
            if elf["e_type"] != "ET_DYN":
                return ElfFacts(text, f"an executable ({elf['e_type']}), not a shared object", machine)
            is_pie = False
            exported: set[str] = set()
            for section in elf.iter_sections():
                if isinstance(section, DynamicSection):
                    for tag in section.iter_tags():
                        if tag.entry.d_tag == "DT_FLAGS_1" and tag.entry.d_val & _DF_1_PIE:
                            is_pie = True
                if isinstance(section, SymbolTableSection) and section.name == ".dynsym":
                    for symbol in section.iter_symbols():
                        if (
                            symbol["st_shndx"] != "SHN_UNDEF"
                            and symbol["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK")
                            and symbol.name
                        ):
                            exported.add(symbol.name)
            if is_pie:
                return ElfFacts(text, "a position-independent executable, not a shared object", machine)
            language = _language(elf)
        except (ELFError, ValueError, KeyError, OSError) as error:
            return ElfFacts(text, f"malformed ELF: {error}")
    return ElfFacts(text, None, machine, tuple(sorted(exported)), language)


def _language(elf: Any) -> str:
    """'rust' when rustc left its mark in .comment or the panic machinery, else 'c'."""
    get_section = elf.get_section_by_name
    comment = get_section(".comment")
    if comment is not None and b"rustc" in comment.data():
        return "rust"
    dynstr = get_section(".dynstr")
    if dynstr is not None and b"rust_" in dynstr.data():
        return "rust"
    return "c"
