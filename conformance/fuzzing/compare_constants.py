"""A libFuzzer dictionary from the constants a SanitizerCoverage-built plugin compares its input against.

A nested magic value (``if word == A { if next == B { ... } }``) is found by
libFuzzer only a few bits at a time from traced compares and value profiles.
The instrumented library names those constants itself: each compare against a
compile-time constant calls ``__sanitizer_cov_trace_const_cmpN`` with the
constant as its first argument, which the compiler loads as an immediate just
before the call. Offering them as dictionary words (as AFL++'s
auto-dictionaries do from the compiler) lets the fuzzer insert a whole word in
one mutation. Nothing here knows any plugin: the words come from its code.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

#: The hooks whose first argument is the compile-time constant, by operand size in bytes.
CONSTANT_HOOKS = {
    "__sanitizer_cov_trace_const_cmp2": 2,
    "__sanitizer_cov_trace_const_cmp4": 4,
    "__sanitizer_cov_trace_const_cmp8": 8,
}
#: Words kept at most: a dictionary libFuzzer draws from uniformly stops helping when it is mostly noise.
MAX_WORDS = 512
#: The most times one plugin word is listed (see ``dictionary_with_constants``).
MAX_REPEATS = 16
#: How many instructions before the call the constant may be loaded (argument set-up is a few moves).
LOOKBACK = 8

_IMMEDIATE = re.compile(r"\bmov(?:abs|l|q)?\s+\$0x([0-9a-f]+),%(\w+)$")
_REGISTER_MOVE = re.compile(r"\bmov[lq]?\s+%(\w+),%(\w+)$")
_HOOK_CALL = re.compile(r"\bcall\s+[0-9a-f]+\s+<(__sanitizer_cov_trace_const_cmp[248])(?:@plt)?>")
_FIRST_ARGUMENT = "rdi"


def compared_constants(library: Path) -> list[bytes]:
    """The constants ``library`` compares against (x86-64, as objdump shows them), as the bytes they are in
    memory; empty when objdump is missing. Words with fewer than two non-zero bytes or one repeated byte
    (flags, small counts, masks) are left out: mutations find those without help."""
    objdump = shutil.which("objdump")
    if objdump is None:
        return []
    listing = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True, timeout=300, check=False
    ).stdout
    words: dict[bytes, None] = {}
    loaded: dict[str, tuple[int, int]] = {}  # register: (immediate, line it was loaded at)
    for number, line in enumerate(listing.splitlines()):
        line = line.rstrip()
        if (immediate := _IMMEDIATE.search(line)) is not None:
            loaded[_full_register(immediate.group(2))] = (int(immediate.group(1), 16), number)
        elif (move := _REGISTER_MOVE.search(line)) is not None:
            source = loaded.get(_full_register(move.group(1)))
            if source is not None:
                loaded[_full_register(move.group(2))] = source
        elif (call := _HOOK_CALL.search(line)) is not None:
            argument = loaded.get(_FIRST_ARGUMENT)
            if argument is not None and number - argument[1] <= LOOKBACK:
                size = CONSTANT_HOOKS[call.group(1)]
                word = (argument[0] & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
                if _worth_offering(word):
                    words[word] = None
            loaded.clear()  # a call clobbers the argument registers
    return list(words)[:MAX_WORDS]


def _full_register(name: str) -> str:
    """The 64-bit register a 32-bit name is part of (``edi`` -> ``rdi``, ``r8d`` -> ``r8``)."""
    if name.startswith("e") and len(name) == 3:
        return "r" + name[1:]
    return name.removesuffix("d") if name.startswith("r") and name[1:2].isdigit() else name


def _worth_offering(word: bytes) -> bool:
    return sum(1 for byte in word if byte) >= 2 and len(set(word)) > 1


def dictionary_entry(word: bytes) -> str:
    """One libFuzzer dictionary line's value: the word in quotes, every byte escaped."""
    return '"' + "".join(f"\\x{byte:02x}" for byte in word) + '"'


def dictionary_with_constants(library: Path, base: Path | None, directory: Path) -> Path | None:
    """``base`` (the target's dictionary) followed by ``library``'s compared constants, written once per
    library content under ``directory``; None when the library offers no word.

    libFuzzer draws dictionary entries uniformly, so a handful of plugin words among the target's dozens of
    generic tokens would be drawn rarely; each plugin word is listed ``repeats`` times so that, together, they
    weigh about as much as the target's tokens (at most ``MAX_REPEATS`` times each).
    """
    words = compared_constants(library)
    if not words:
        return None
    digest = hashlib.sha256(library.read_bytes()).hexdigest()[:16]
    target = directory / f"{library.stem}-{digest}.dict"
    if target.exists():
        return target
    lines = base.read_text().splitlines() if base is not None and base.exists() else []
    tokens = sum(1 for line in lines if line.strip() and not line.lstrip().startswith("#"))
    repeats = max(1, min(MAX_REPEATS, tokens // len(words)))
    lines.append(
        f"# constants {library.name} compares against, each {repeats} times (conformance.fuzzing.compare_constants)"
    )
    lines += [
        f"plugin_cmp_{number}_{copy}={dictionary_entry(word)}"
        for number, word in enumerate(words)
        for copy in range(repeats)
    ]
    directory.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, target)
    return target
