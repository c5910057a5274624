"""The native-coverage dictionary: the constants an instrumented plugin compares against, read from its code.

Why: nested magic values are what coverage alone finds slowest; the dictionary must hold the plugin's own
constants (whatever they are: the library here is built by the test, with words of its choosing) and leave
out the small ones mutations find anyway.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.fuzzing.compare_constants import compared_constants, dictionary_with_constants

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("objdump") is None, reason="gcc and objdump build and read the library"
)

COMPARES = r"""
#include <stdint.h>
#include <string.h>
int check(const unsigned char *p) {
    uint32_t word; uint64_t wide;
    memcpy(&word, p, 4); memcpy(&wide, p + 4, 8);
    if (word == 0x6b636f6cu) {
        if (wide == 0x3130393837363534ull) return 3;
        return 1;
    }
    return word == 7u ? 2 : 0;
}
"""


def build(tmp_path: Path, flags: list[str]) -> Path:
    source = tmp_path / "compares.c"
    source.write_text(COMPARES)
    library = tmp_path / "libcompares.so"
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", *flags, "-o", str(library), str(source)], check=True)
    return library


def test_the_words_a_plugin_compares_against_are_read_from_its_code(tmp_path: Path) -> None:
    words = compared_constants(build(tmp_path, ["-fsanitize-coverage=trace-cmp"]))
    assert set(words) == {b"lock", b"45678901"}
    assert (7).to_bytes(4, "little") not in words  # one non-zero byte: mutations find it unaided


def test_an_uninstrumented_library_offers_no_word(tmp_path: Path) -> None:
    library = build(tmp_path, [])
    assert compared_constants(library) == []
    assert dictionary_with_constants(library, None, tmp_path / "dicts") is None


def test_the_dictionary_is_the_targets_then_the_plugins_words(tmp_path: Path) -> None:
    base = tmp_path / "target.dict"
    base.write_text('"{"\n"}"\n')
    library = build(tmp_path, ["-fsanitize-coverage=trace-cmp"])
    written = dictionary_with_constants(library, base, tmp_path / "dicts")
    assert written is not None
    lines = [line for line in written.read_text().splitlines() if line and not line.startswith("#")]
    assert lines[:2] == ['"{"', '"}"']
    values = {ast.literal_eval("b" + line.split("=", 1)[1]) for line in lines[2:]}
    assert values == {b"lock", b"45678901"}
    assert dictionary_with_constants(library, base, tmp_path / "dicts") == written  # once per library


def test_the_plugins_words_weigh_as_much_as_the_targets_tokens(tmp_path: Path) -> None:
    """libFuzzer draws entries uniformly: two plugin words among ten tokens are listed five times each."""
    base = tmp_path / "target.dict"
    base.write_text("# ten tokens\n" + "".join(f'"token{number}"\n' for number in range(10)))
    written = dictionary_with_constants(build(tmp_path, ["-fsanitize-coverage=trace-cmp"]), base, tmp_path / "dicts")
    assert written is not None
    values = [ast.literal_eval("b" + line.split("=", 1)[1]) for line in written.read_text().splitlines() if "=" in line]
    assert sorted(values) == sorted([b"lock"] * 5 + [b"45678901"] * 5)
