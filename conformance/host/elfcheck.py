"""Static pre-check of a plugin file, before any of its code runs.

Runs in the pytest process itself: the file is only parsed (``elfread``), so a
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

from conformance.abi.constants import API_SYMBOL, SET_LOG_ENABLED_SYMBOL
from conformance.host.elfread import DT_FLAGS_1, SHT_DYNAMIC, SHT_DYNSYM, SHT_SYMTAB, ElfImage, MalformedElf, Section

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
        try:
            elf = ElfImage(handle)
        except (MalformedElf, OSError) as error:
            return ElfFacts(text, f"malformed ELF: {error}")
        try:
            return _facts(text, elf)
        except (MalformedElf, OSError) as error:
            return ElfFacts(text, f"malformed ELF: {error}", elf.machine)
        finally:
            elf.close()


def _facts(text: str, elf: ElfImage) -> ElfFacts:
    machine = elf.machine
    if machine != host_machine():
        return ElfFacts(text, f"built for {machine}, but this machine is {host_machine()}", machine)
    if elf.elfclass != 64:
        return ElfFacts(text, f"a {elf.elfclass}-bit ELF; the ABI is 64-bit", machine)
    if elf.type != "ET_DYN":
        return ElfFacts(text, f"an executable ({elf.type}), not a shared object", machine)
    sections = elf.sections()
    is_pie = any(
        tag == DT_FLAGS_1 and value & _DF_1_PIE
        for section in sections
        if section.kind == SHT_DYNAMIC
        for tag, value in elf.dynamic_tags(section)
    )
    exported: set[str] = set()
    for section in sections:
        if section.name == ".dynsym" and section.kind in (SHT_DYNSYM, SHT_SYMTAB):
            exported |= elf.exported_symbols(section, sections)
    if is_pie:
        return ElfFacts(text, "a position-independent executable, not a shared object", machine)
    return ElfFacts(text, None, machine, tuple(sorted(exported)), _language(elf, sections))


def _language(elf: ElfImage, sections: list[Section]) -> str:
    """'rust' when rustc left its mark in .comment or the panic machinery, else 'c'."""
    by_name: dict[str, Section] = {}
    for section in sections:
        by_name.setdefault(section.name, section)
    comment = by_name.get(".comment")
    if comment is not None and b"rustc" in elf.content(comment):
        return "rust"
    dynstr = by_name.get(".dynstr")
    if dynstr is not None and b"rust_" in elf.content(dynstr):
        return "rust"
    return "c"
