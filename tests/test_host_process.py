"""A sandbox child has loaded what the real host's process has loaded before it opens a plugin.

The host is a Rust binary (linux-gnu), so libgcc_s.so.1 is in its global scope from the start. A plugin that
uses an unwinder symbol without declaring libgcc_s as a dependency loads there; the interpreter that runs the
sandbox does not link libgcc_s, so before ``host.loader.load_host_process_libraries`` such a plugin failed to
load here only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.sandbox.client import SandboxClient
from conformance.scenario.events import Expect
from conformance.scenario.protocol import Outcome, ScenarioRequest

_SOURCE = """
extern void *_Unwind_FindEnclosingFunction(void *pc);
void *enclosing(void) { return _Unwind_FindEnclosingFunction((void *)enclosing); }
"""
_UNDEFINED = "undefined symbol: _Unwind_FindEnclosingFunction"


def _library(directory: Path, name: str, source: str) -> Path:
    """``lib<name>.so`` built from ``source`` with no dependency at all (``-nostdlib``)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    source_file = directory / f"{name}.c"
    source_file.write_text(source)
    library = directory / f"lib{name}.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-nostdlib", "-o", str(library), str(source_file)], check=True)
    return library


@pytest.fixture(scope="module")
def uses_unwinder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library that references an unwinder symbol and declares no dependency."""
    return _library(tmp_path_factory.mktemp("host-process"), "uses_unwinder", _SOURCE)


@pytest.fixture(scope="module")
def client() -> Iterator[SandboxClient]:
    sandbox = SandboxClient()
    yield sandbox
    sandbox.close()


def _binds_in_a_bare_interpreter(library: Path) -> bool:
    code = (
        "import ctypes\n"
        f"try:\n    ctypes.CDLL({str(library)!r}, mode=2)\n"  # RTLD_NOW
        "except OSError as error:\n    print(error)\n"
    )
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return _UNDEFINED not in printed


def test_a_child_binds_it_as_the_host_would(client: SandboxClient, uses_unwinder: Path) -> None:
    if _binds_in_a_bare_interpreter(uses_unwinder):
        pytest.skip("this interpreter has libgcc_s loaded already: a pass would not show the preload")
    result = client.run(ScenarioRequest("load.symbols-resolve", str(uses_unwinder)))
    assert result.outcome is Outcome.COMPLETED, result
    expectations = [event for event in result.events if isinstance(event, Expect)]
    assert expectations and all(event.ok for event in expectations), expectations


def test_the_check_still_names_a_symbol_nothing_defines(client: SandboxClient, tmp_path: Path) -> None:
    """The preload adds the host's libraries, not a way around a reference that the host cannot bind either."""
    library = _library(
        tmp_path, "dangling", "extern int nowhere_defined(void);\nint call(void) { return nowhere_defined(); }\n"
    )
    result = client.run(ScenarioRequest("load.symbols-resolve", str(library)))
    failed = [event for event in result.events if isinstance(event, Expect) and not event.ok]
    assert failed and "nowhere_defined" in failed[0].detail, result.events
