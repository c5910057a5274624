"""The host's own debug information is out of a crashing plugin's reach inside the sandbox (sandbox/debuginfo.py)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.sandbox import debuginfo
from conformance.sandbox.client import SandboxClient
from conformance.sandbox.containment import Containment
from conformance.sandbox.debuginfo import (
    debug_info_visible,
    debug_masks,
    elf_debug_facts,
    mapped_objects,
    plan_debug_masks,
    separate_debug_file,
    stripped_copy,
)
from conformance.scenario.events import Observed
from conformance.scenario.protocol import ScenarioRequest

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("objcopy") is None, reason="gcc, objcopy")


@pytest.fixture(scope="module")
def client() -> Iterator[SandboxClient]:
    sandbox = SandboxClient()
    yield sandbox
    sandbox.close()


def _library(tmp_path: Path, *flags: str) -> Path:
    source = tmp_path / "lib.c"
    source.write_text("int answer(int x) { return x * 42; }\n")
    target = tmp_path / f"lib{len(flags)}.so"
    subprocess.run(["gcc", "-shared", "-fPIC", *flags, "-o", str(target), str(source)], check=True)
    return target


@needs_gcc
def test_dwarf_and_build_id_are_read_and_the_stripped_copy_keeps_the_id(tmp_path: Path) -> None:
    with_debug = _library(tmp_path, "-g", "-Wl,--build-id=sha1")
    has_dwarf, build_id = elf_debug_facts(str(with_debug))
    assert has_dwarf and build_id is not None and len(build_id) == 40
    assert separate_debug_file(build_id) == f"/usr/lib/debug/.build-id/{build_id[:2]}/{build_id[2:]}.debug"
    copy = stripped_copy(str(with_debug))
    assert copy is not None
    assert elf_debug_facts(str(copy)) == (False, build_id)
    assert stripped_copy(str(with_debug)) == copy  # made once, then taken from the cache
    assert elf_debug_facts(str(_library(tmp_path, "-Wl,--build-id=none"))) == (False, None)


@needs_gcc
def test_the_masks_are_worked_out_once_per_version_of_an_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The zygote plans them for every server it forks; a server re-reads only an object that changed."""
    library = _library(tmp_path, "-g", "-Wl,--build-id=sha1")
    masks = debug_masks(str(library))
    assert [target for _, target in masks] == [str(library)]  # its stripped copy goes over it
    reads: list[str] = []

    def read_facts(path: str) -> tuple[bool, str | None]:
        reads.append(path)
        return False, None

    monkeypatch.setattr(debuginfo, "elf_debug_facts", read_facts)
    assert debug_masks(str(library)) is masks and reads == []
    subprocess.run(["objcopy", "--strip-debug", str(library)], check=True)  # a new version of the file
    assert debug_masks(str(library)) == () and reads == [str(library)]


def test_the_plan_covers_every_object_this_process_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    plan_debug_masks()
    with open("/proc/self/maps", encoding="utf-8") as handle:
        objects = mapped_objects(handle.read())
    monkeypatch.setattr(debuginfo, "elf_debug_facts", lambda path: pytest.fail(f"{path} read again"))
    for path in objects:
        with contextlib.suppress(OSError):  # an object deleted since it was mapped
            debug_masks(path)


def test_non_elf_files_have_no_debug_facts(tmp_path: Path) -> None:
    text = tmp_path / "plain.txt"
    text.write_text("not an object\n" * 10)
    assert elf_debug_facts(str(text)) == (False, None)


def test_only_executable_file_mappings_count() -> None:
    maps = "\n".join(
        [
            "55d0-55e0 r--p 00000000 08:01 1 /usr/bin/python3.11",
            "55e0-55f0 r-xp 00001000 08:01 1 /usr/bin/python3.11",
            "7f00-7f10 r-xp 00000000 08:01 2 /lib/x86_64-linux-gnu/libc.so.6",
            "7f10-7f20 rw-p 00000000 00:00 0 ",
            "7f20-7f30 r-xp 00000000 00:00 0 [vdso]",
        ]
    )
    assert mapped_objects(maps) == ["/usr/bin/python3.11", "/lib/x86_64-linux-gnu/libc.so.6"]


def test_a_sandbox_child_sees_no_debug_information_of_the_host(client: SandboxClient) -> None:
    """What the host's objects show from outside (here) and what they show to a child inside the sandbox."""
    result = client.run(ScenarioRequest("selftest.host-debug-info", "/x"))
    observed = {e.key: e.value for e in result.events if isinstance(e, Observed)}
    if result.containment != Containment.NAMESPACES:
        pytest.skip("debug information is hidden only in the sandbox's own mount namespace")
    outside = [path for path in observed["objects"] if debug_info_visible(path)]
    print(f"host objects with debug information outside the sandbox: {outside}")
    assert observed["debug_visible"] == []
