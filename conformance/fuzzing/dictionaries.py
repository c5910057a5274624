"""libFuzzer dictionaries: the tokens the ABI's JSON texts, pin names and content types are made of."""

from __future__ import annotations

from pathlib import Path

from conformance.abi.constants import AUDIO_CODECS, VIDEO_CODECS
from conformance.fuzzing.paths import DICTIONARY_DIR
from conformance.fuzzing.targets import TARGETS

#: Tokens every dictionary carries: JSON syntax and the keys and values the ABI's JSON texts use.
JSON_TOKENS: tuple[str, ...] = (
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"',
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "false",
    "-0",
    "1e308",
    "0.5",
    "18446744073709551615",
    "-9223372036854775808",
    '"type"',
    '"preferred_size"',
    '"width"',
    '"height"',
    '"text"',
    '"segments"',
    '"start_time_ms"',
    '"end_time_ms"',
    '"confidence"',
    '"language"',
    '"metadata"',
    '"timestamp_us"',
    '"duration_us"',
    '"sequence"',
    '"keyframe"',
    '"label"',
    '"mode"',
    '"properties"',
    '"default"',
    '"object"',
)
PIN_TOKENS: tuple[str, ...] = ("in", "out", "audio", "video", "bogus", "plugin::native::", "core::")
CONTENT_TYPES: tuple[str, ...] = ("audio/aac", "audio/opus", "video/vp9", "application/octet-stream", "text/plain")


def dictionary_tokens(target: str) -> list[bytes]:
    tokens = [token.encode() for token in JSON_TOKENS + PIN_TOKENS + CONTENT_TYPES]
    tokens += [codec.encode() for codec in sorted(AUDIO_CODECS | VIDEO_CODECS)]
    tokens += [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00"]
    if target in ("wire_decode", "metadata_decode"):
        tokens += [bytes([value]) for value in (0xF0, 0xFF)]  # the "arbitrary value" escapes of their formats
    return list(dict.fromkeys(tokens))


def _dict_line(token: bytes) -> str:
    escaped = "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in token)
    return f'"{escaped}"'


def write_dictionaries() -> list[Path]:
    DICTIONARY_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for target in TARGETS:
        path = DICTIONARY_DIR / f"{target}.dict"
        lines = [f"# libFuzzer dictionary for fuzz/{target}.py (written by python -m conformance.fuzzing seed)"]
        lines += [_dict_line(token) for token in dictionary_tokens(target)]
        path.write_text("\n".join(lines) + "\n")
        written.append(path)
    return written
