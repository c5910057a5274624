"""Hiding the host's own debug information from a plugin's crash handler, inside the sandbox.

A Rust panic that reaches an ``extern "C"`` boundary aborts the process, and
the panic hook of a panic while panicking prints a full backtrace whatever
``RUST_BACKTRACE`` says. Symbolising it parses the DWARF of every object on the
stack: the interpreter's ``libpython`` (about 23 MB of it in a pyenv build) and,
where the system's separate debug files are installed (``libc6-dbg``), their
compressed sections. On the reference machine that was 0.1 s of CPU per crashed
child: a plugin that panics in every ``destroy_instance`` took 12 s of CPU for
its battery, 3 s without it. The verdict reads only the panic message, which
comes first.

So in the fork server's private mount namespace (containment level
``namespaces``), after the server has mapped everything it will ever map and
before any plugin is loaded, each object the server has mapped loses its debug
information as seen by path:

* an object with embedded DWARF gets a copy without its debug sections
  (``objcopy --strip-debug``, kept in the tool's cache) bind-mounted over it;
* a separate debug file of one of them (``/usr/lib/debug/.build-id/xx/….debug``)
  gets an empty file bind-mounted over it.

The code in memory is what it was (the mappings keep the original inodes, and the
copy has the same loadable segments). Only the host's objects are touched: a
plugin's frames keep their symbols and lines, in Rust backtraces and in gdb's
stacks of a wedged call (where the host's frames are then named by symbol, not
by source line). Best effort: an object that cannot be read, copied or mounted
over is left as it is, and the fallback containment changes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

from conformance.host.elfread import SHT_NOBITS, ElfImage, MalformedElf
from conformance.host.native_build import cache_dir
from conformance.sandbox.libc_calls import process_libc

_MS_BIND = 4096
#: Where distributions install separate debug files, by build id.
DEBUG_ROOT = "/usr/lib/debug/.build-id"
_ELF_MAGIC = b"\x7fELF"
_NT_GNU_BUILD_ID = 3


def mapped_objects(maps_text: str) -> list[str]:
    """Paths of the regular files this process has mapped executable (the interpreter and its libraries)."""
    paths: list[str] = []
    for line in maps_text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and "x" in fields[1] and fields[5].startswith("/") and fields[5] not in paths:
            paths.append(fields[5])
    return paths


def elf_debug_facts(path: str) -> tuple[bool, str | None]:
    """(whether the ELF object carries DWARF sections, its GNU build id in hex or None).

    Reads the section headers only; 64-bit little-endian objects, anything else says (False, None).
    """
    with open(path, "rb") as handle:
        if handle.read(4) != _ELF_MAGIC:
            return False, None
        try:
            elf = ElfImage(handle)
        except MalformedElf:
            return False, None
        try:
            if elf.elfclass != 64 or elf.order != "<":
                return False, None
            sections = elf.sections()
            has_dwarf = any(
                section.name in (".debug_info", ".zdebug_info") and section.kind != SHT_NOBITS for section in sections
            )
            build_id: str | None = None
            for section in sections:
                if section.name == ".note.gnu.build-id":
                    build_id = _build_id(elf.content(section)[:256])
            return has_dwarf, build_id
        except MalformedElf:
            return False, None
        finally:
            elf.close()


def _build_id(note: bytes) -> str | None:
    if len(note) < 12:
        return None
    name_size, desc_size, kind = struct.unpack_from("<III", note, 0)
    name_end = 12 + (name_size + 3) // 4 * 4
    if kind != _NT_GNU_BUILD_ID or note[12 : 12 + name_size] != b"GNU\0" or name_end + desc_size > len(note):
        return None
    return note[name_end : name_end + desc_size].hex()


def separate_debug_file(build_id: str) -> str:
    return f"{DEBUG_ROOT}/{build_id[:2]}/{build_id[2:]}.debug"


def debug_info_visible(path: str) -> bool:
    """Whether a symbolizer reading ``path`` would find DWARF: in the object, or in a non-empty separate debug file."""
    has_dwarf, build_id = elf_debug_facts(path)
    if has_dwarf:
        return True
    separate = separate_debug_file(build_id) if build_id else ""
    return bool(separate) and os.path.isfile(separate) and os.path.getsize(separate) > 0


def stripped_copy(path: str) -> Path | None:
    """A copy of ``path`` without debug sections, made once per version of the file and kept in the cache."""
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        return None
    status = os.stat(path)
    key = hashlib.sha256(f"{path}\0{status.st_size}\0{status.st_mtime_ns}\0{status.st_ino}".encode()).hexdigest()[:16]
    target = cache_dir() / "debugless" / f"{key}-{os.path.basename(path)}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        subprocess.run([objcopy, "--strip-debug", path, str(partial)], capture_output=True, timeout=60, check=True)
        os.replace(partial, target)
    except (OSError, subprocess.SubprocessError):
        with contextlib.suppress(OSError):
            partial.unlink()
        return None
    return target


def _empty_file() -> Path:
    target = cache_dir() / "debugless" / "empty"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    return target


def _bind(source: Path, target: str) -> bool:
    return bool(process_libc().mount(str(source).encode(), target.encode(), None, _MS_BIND, None) == 0)


#: What hides each object's debug information, by the object's path and identity (size, mtime, inode): worked
#: out once in the zygote (``plan_debug_masks``: the section headers of each object, the key of its stripped
#: copy, about 5 ms of CPU) for every fork server forked from it, which then only mounts.
_masks_of: dict[tuple[str, int, int, int], tuple[tuple[Path, str], ...]] = {}


def debug_masks(path: str) -> tuple[tuple[Path, str], ...]:
    """(source, target) bind mounts that hide ``path``'s debug information; raises OSError when unreadable."""
    status = os.stat(path)
    key = (path, status.st_size, status.st_mtime_ns, status.st_ino)
    masks = _masks_of.get(key)
    if masks is None:
        masks = _masks_of[key] = _find_masks(path)
    return masks


def _find_masks(path: str) -> tuple[tuple[Path, str], ...]:
    has_dwarf, build_id = elf_debug_facts(path)
    masks: list[tuple[Path, str]] = []
    if build_id is not None and os.path.isfile(separate_debug_file(build_id)):
        with contextlib.suppress(OSError):
            masks.append((_empty_file(), separate_debug_file(build_id)))
    if has_dwarf:
        with contextlib.suppress(OSError):
            copy = stripped_copy(path)
            if copy is not None:
                masks.append((copy, path))
    return tuple(masks)


def _mapped_objects() -> list[str]:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as handle:
            return mapped_objects(handle.read())
    except OSError:
        return []


def plan_debug_masks() -> None:
    """Work out the masks of every object mapped now (in the zygote: the servers forked from it map the same)."""
    for path in _mapped_objects():
        with contextlib.suppress(OSError):
            debug_masks(path)


def hide_host_debug_info() -> list[str]:
    """Mask the debug information of every object this process has mapped; returns the paths masked.

    Call only in a private mount namespace: the bind mounts are seen by every process in it.
    """
    masked: list[str] = []
    for path in _mapped_objects():
        try:
            masks = debug_masks(path)
        except OSError:
            continue
        for source, target in masks:
            with contextlib.suppress(OSError):
                if _bind(source, target):
                    masked.append(target)
    return masked
