"""How many bytes a static array in a loaded library really holds.

A metadata count is trusted by the host (ABI.md 4.2, Appendix A.5): a count
one too large makes it read the next object in the data section as one more
element. When that object happens to hold readable pointers the reading
"works", so readability alone cannot tell. The symbol table can: a C plugin's
static arrays are data objects with a size (``st_size``), and an array
pointer that starts inside one can hold at most what is left of it. Arrays
in the heap (the Rust SDK builds its metadata there) have no symbol and are
not judged here.

Runs in the sandbox child: ``/proc/self/maps`` maps the address to the
library file and its load base; ``elfread`` reads the file's symbols (cached
per file).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import lru_cache

from conformance.host.elfread import SHT_DYNSYM, SHT_SYMTAB, ElfImage, MalformedElf


@dataclass(frozen=True)
class DataObject:
    """A sized data symbol of a loaded library, at its runtime address."""

    name: str
    start: int
    size: int
    library: str

    def room_after(self, address: int) -> int:
        """Bytes from ``address`` to the end of this object."""
        return self.start + self.size - address


def _mapping_of(address: int) -> tuple[str, int] | None:
    """(library path, load base) of the library mapping that contains ``address``.

    A library's ``.bss`` past the end of its file is an anonymous mapping right
    after its last file mapping; it belongs to that library.
    """
    starts: dict[str, int] = {}
    found: str | None = None
    previous: tuple[int, str] | None = None  # (end, path) of the last library mapping
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split(maxsplit=5)
                low, high = (int(value, 16) for value in parts[0].split("-"))
                path = parts[5].strip() if len(parts) == 6 else ""
                if path.startswith("/"):
                    if int(parts[2], 16) == 0:
                        starts.setdefault(path, low)
                elif not path and previous is not None and previous[0] == low:
                    path = previous[1]  # the .bss of the library just before
                else:
                    path = ""
                if low <= address < high and path:
                    found = path
                previous = (high, path) if path else None
    except OSError:
        return None
    if found is None or found not in starts:
        return None
    return found, starts[found]


@lru_cache(maxsize=8)
def _symbols(path: str) -> tuple[tuple[int, ...], tuple[tuple[int, int, str], ...], int]:
    """Sorted (start, size, name) of the sized data objects of ``path``, and its first load address.

    Both symbol tables (``.symtab`` when not stripped, ``.dynsym``), in section order; the first symbol at
    an address names it.
    """
    objects: dict[int, tuple[int, int, str]] = {}
    try:
        with open(path, "rb") as handle:
            elf = ElfImage(handle)
            try:
                loads = elf.load_addresses()
                sections = elf.sections()
                for table in sections:
                    if table.kind in (SHT_SYMTAB, SHT_DYNSYM):
                        for start, size, name in elf.data_objects(table, sections):
                            objects.setdefault(start, (start, size, name or "?"))
            finally:
                elf.close()
    except (OSError, MalformedElf):
        return (), (), 0
    first_load = min(loads) & ~0xFFF if loads else 0
    ordered = tuple(sorted(objects.values()))
    return tuple(entry[0] for entry in ordered), ordered, first_load


def data_object_at(address: int) -> DataObject | None:
    """The sized data symbol containing ``address``, or None (heap, stripped library, no symbol)."""
    mapping = _mapping_of(address)
    if mapping is None:
        return None
    path, base = mapping
    starts, objects, first_load = _symbols(path)
    relative = address - base + first_load
    index = bisect.bisect_right(starts, relative) - 1
    if index < 0:
        return None
    start, size, name = objects[index]
    if not start <= relative < start + size:
        return None
    return DataObject(name, start - first_load + base, size, path)
