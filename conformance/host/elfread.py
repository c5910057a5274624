"""The few facts of an ELF file the pre-check needs, read with ``struct`` from a read-only mapping.

pyelftools answered the same questions in about 80 ms of imports and 8 ms of parsing per plugin, in
the pytest process, on the thread that starts the sandbox while pytest collects: on the critical path
of every run. This reads the identification, the header and the section headers, then only the
sections asked for (``.dynamic``, ``.dynsym`` and its strings, ``.comment``). Every offset and size
is checked against the file; a file that breaks one raises ``MalformedElf`` and is reported as
malformed, never read past its end. The sandbox child reads data symbols and load addresses here too
(``extents``): pyelftools cost each child that judged a C plugin's metadata counts ~35 ms of imports and
parsing. pyelftools stays for native coverage.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

#: e_machine names as pyelftools spells them (the values this tool can meet in practice).
MACHINES = {
    0: "EM_NONE", 2: "EM_SPARC", 3: "EM_386", 8: "EM_MIPS", 20: "EM_PPC", 21: "EM_PPC64", 22: "EM_S390",
    40: "EM_ARM", 42: "EM_SH", 43: "EM_SPARCV9", 50: "EM_IA_64", 62: "EM_X86_64", 183: "EM_AARCH64",
    243: "EM_RISCV", 247: "EM_BPF", 258: "EM_LOONGARCH",
}  # fmt: skip
TYPES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}

SHT_SYMTAB = 2
SHT_DYNAMIC = 6
SHT_NOBITS = 8
SHT_DYNSYM = 11
PT_LOAD = 1
STT_OBJECT = 1
DT_NULL = 0
DT_FLAGS_1 = 0x6FFFFFFB
STB_GLOBAL = 1
STB_WEAK = 2
SHN_UNDEF = 0
#: Section indices that place a symbol in no section of the file: undefined, absolute, common.
SHN_NOWHERE = frozenset({SHN_UNDEF, 0xFFF1, 0xFFF2})


class MalformedElf(ValueError):
    """An offset, size or field of the file that cannot be right."""


class Section(NamedTuple):  # a tuple: a file has dozens, and each fork server reads those of 36 files
    name: str
    kind: int
    offset: int
    size: int
    link: int
    entry_size: int


class ElfImage:
    """An ELF file mapped read-only; 64-bit files get their sections, 32-bit ones only their header."""

    def __init__(self, handle: BinaryIO) -> None:
        try:
            self.data: bytes | mmap.mmap = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):  # an empty file, or one that cannot be mapped: read it instead
            handle.seek(0)
            self.data = handle.read()
        ident = self._bytes(0, 16)
        if ident[:4] != b"\x7fELF":
            raise MalformedElf("no ELF magic")
        if ident[4] not in (1, 2):
            raise MalformedElf(f"invalid EI_CLASS {ident[4]}")
        if ident[5] not in (1, 2):
            raise MalformedElf(f"invalid EI_DATA {ident[5]}")
        self.elfclass = 32 if ident[4] == 1 else 64
        self.order = "<" if ident[5] == 1 else ">"
        e_type, e_machine = self._unpack("HH", 16)
        self.type = TYPES.get(e_type, f"ET_{e_type:#x}")
        self.machine = MACHINES.get(e_machine, f"EM_{e_machine}")

    def close(self) -> None:
        if isinstance(self.data, mmap.mmap):
            self.data.close()

    def _bytes(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise MalformedElf(f"{size} bytes at offset {offset} lie beyond the file's {len(self.data)} bytes")
        return bytes(self.data[offset : offset + size])

    def _unpack(self, layout: str, offset: int) -> tuple[int, ...]:
        shape = struct.Struct(self.order + layout)
        return shape.unpack(self._bytes(offset, shape.size))

    def sections(self) -> list[Section]:
        """The section headers of a 64-bit file, with names from the section-name string table."""
        if self.elfclass != 64:
            raise MalformedElf("sections are read only from 64-bit files")
        (shoff,) = self._unpack("Q", 0x28)
        shentsize, shnum, shstrndx = self._unpack("HHH", 0x3A)
        if shnum == 0 or shoff == 0:
            return []  # no section header table (stripped of it)
        if shentsize < 64:
            raise MalformedElf(f"section header entries of {shentsize} bytes")
        table = self._bytes(shoff, shnum * shentsize)
        header = struct.Struct(self.order + "IIQQQQIIQQ")
        raw = [header.unpack_from(table, index * shentsize) for index in range(shnum)]
        if shstrndx >= shnum:
            raise MalformedElf(f"section-name table index {shstrndx} of {shnum} sections")
        names = self._bytes(raw[shstrndx][4], raw[shstrndx][5])
        return [Section(_string(names, entry[0]), entry[1], entry[4], entry[5], entry[6], entry[9]) for entry in raw]

    def content(self, section: Section) -> bytes:
        return b"" if section.kind == SHT_NOBITS else self._bytes(section.offset, section.size)

    def dynamic_tags(self, section: Section) -> Iterator[tuple[int, int]]:
        """(d_tag, d_val) of a dynamic section, up to its DT_NULL."""
        entries = struct.Struct(self.order + "qQ")
        body = self.content(section)
        for offset in range(0, len(body) - entries.size + 1, entries.size):
            tag, value = entries.unpack_from(body, offset)
            if tag == DT_NULL:
                return
            yield tag, value

    def exported_symbols(self, table: Section, sections: list[Section]) -> set[str]:
        """Names of the defined global and weak symbols of a symbol table."""
        strings, rows = self._symbol_rows(table, sections)
        names: set[str] = set()
        for name, info, _other, shndx, _value, _size in rows:
            if shndx != SHN_UNDEF and info >> 4 in (STB_GLOBAL, STB_WEAK) and name:
                names.add(_string(strings, name))
        names.discard("")
        return names

    def _symbol_rows(self, table: Section, sections: list[Section]) -> tuple[bytes, Iterator[tuple[int, ...]]]:
        """A symbol table's string table, and its entries unpacked: (name, info, other, shndx, value, size)."""
        if not 0 <= table.link < len(sections):
            raise MalformedElf(f"symbol table linked to section {table.link} of {len(sections)}")
        strings = self.content(sections[table.link])
        entries = struct.Struct(self.order + "IBBHQQ")
        body = self.content(table)
        return strings, entries.iter_unpack(body[: len(body) - len(body) % entries.size])

    def load_addresses(self) -> list[int]:
        """The virtual addresses of a 64-bit file's loadable segments (``PT_LOAD``), in header order."""
        if self.elfclass != 64:
            raise MalformedElf("segments are read only from 64-bit files")
        (phoff,) = self._unpack("Q", 0x20)
        phentsize, phnum = self._unpack("HH", 0x36)
        if phnum == 0 or phoff == 0:
            return []
        if phentsize < 56:
            raise MalformedElf(f"program header entries of {phentsize} bytes")
        table = self._bytes(phoff, phnum * phentsize)
        header = struct.Struct(self.order + "IIQQ")  # p_type, p_flags, p_offset, p_vaddr
        rows = (header.unpack_from(table, index * phentsize) for index in range(phnum))
        return [vaddr for kind, _flags, _offset, vaddr in rows if kind == PT_LOAD]

    def data_objects(self, table: Section, sections: list[Section]) -> Iterator[tuple[int, int, str]]:
        """(value, size, name) of the sized data objects (``STT_OBJECT``) a symbol table places in a section."""
        strings, rows = self._symbol_rows(table, sections)
        for name, info, _other, shndx, value, size in rows:
            if info & 0xF == STT_OBJECT and size > 0 and shndx not in SHN_NOWHERE:
                yield value, size, _string(strings, name) if name else ""


def _string(table: bytes, index: int) -> str:
    """The NUL-terminated string at ``index`` of a string table."""
    if index >= len(table):
        raise MalformedElf(f"string index {index} beyond its table of {len(table)} bytes")
    end = table.find(b"\0", index)
    return table[index : end if end >= 0 else len(table)].decode("utf-8", "replace")
