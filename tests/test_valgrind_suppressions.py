"""The valgrind suppressions fit an interpreter linked into its executable as well as a shared libpython."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.heavy.valgrind import interpreter_suppressions, parse_xml, shipped_suppressions

needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("gcc") is None, reason="needs valgrind and gcc"
)

#: Two threads write one global with no lock: helgrind reports the race in the executable's own frame.
RACY_PROGRAM = r"""
#include <pthread.h>
long shared;
static void *bump(void *unused) { for (int i = 0; i < 1000; i++) shared++; return unused; }
int main(void) {
    pthread_t a, b;
    pthread_create(&a, 0, bump, 0);
    pthread_create(&b, 0, bump, 0);
    pthread_join(a, 0);
    pthread_join(b, 0);
    return 0;
}
"""


def test_each_libpython_entry_is_copied_for_the_executable() -> None:
    shipped = shipped_suppressions()
    copies = interpreter_suppressions(shipped, "/usr/bin/python3.11")
    assert copies.count("{") == shipped.count("obj:*libpython3*") > 0
    assert "libpython" not in copies and copies.count("obj:/usr/bin/python3.11") == copies.count("{")
    names = [line.strip() for line in copies.splitlines() if line.strip().endswith("-executable")]
    assert len(names) == len(set(names)) == copies.count("{")
    assert "_cffi_backend" not in copies  # only the interpreter's entries are copied


def _helgrind_races(program: Path, work: Path, suppressions: list[Path]) -> int:
    xml = work / f"helgrind-{len(suppressions)}.xml"
    options = [f"--suppressions={path}" for path in suppressions]
    subprocess.run(
        ["valgrind", "--tool=helgrind", "--xml=yes", f"--xml-file={xml}", *options, str(program)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return sum(1 for finding in parse_xml(xml.read_text()) if finding.kind == "Race")


@needs_valgrind
def test_copies_silence_an_executable_that_holds_the_interpreter(tmp_path: Path) -> None:
    """valgrind accepts the generated file, and its entries match frames of the executable they name."""
    source = tmp_path / "racy.c"
    source.write_text(RACY_PROGRAM)
    program = tmp_path / "racy"
    subprocess.run(["gcc", "-O0", "-pthread", "-o", str(program), str(source)], check=True)
    shipped = tmp_path / "python.supp"
    shipped.write_text(shipped_suppressions())
    copies = tmp_path / "interpreter.supp"
    copies.write_text(interpreter_suppressions(shipped.read_text(), str(program.resolve())))

    assert _helgrind_races(program, tmp_path, [shipped]) > 0
    assert _helgrind_races(program, tmp_path, [shipped, copies]) == 0
