"""A structure-aware libFuzzer mutator for ``plugin_intake``: byte mutations inside one sized field.

libFuzzer mutates an intake input as a flat byte string, but the bytes form
nested length-prefixed fields (``plan_intake``: each operation's chunk after a
length byte; inside a legal packet's chunk, ``packet_from_bytes`` reads texts,
binary data and names the same way, a length byte then the bytes). A flat
insertion or deletion inside a field shifts everything after it and leaves
the length bytes stale: the plugin then sees a field cut short, padded with
zeros or ending in bytes that belonged elsewhere. That is why a nested magic
value in a plugin's input (``if word0 == A { if word1 == B { if word2 == C``)
is hard to finish: the bytes libFuzzer copies from a traced compare (its table
of recent compares) or the dictionary must land at the right offset of a
field whose length byte already covers them, and the compare of the last word
runs only when the field is long enough.

This mutator finds the sized fields of an input by reading it the way the
target does (``plan_intake``'s layout, then ``packet_from_source`` through a
``ByteSource`` that notes every length byte and the bytes it sizes), picks one
and hands only that field's bytes to libFuzzer's own mutation
(``atheris.Mutate``: bit flips, inserts, the dictionary, the table of recent
compares), then writes the result back with its length byte, and the length
byte of the operation around it, set to the new size. Some mutations still go
to the whole input (``WHOLE_INPUT_SHARE``), so operations, op bytes and the
header keep being explored and crossed over. With native coverage, the
constants the plugin's code compares against (``compare_constants``) are also
written straight into an innermost field (``WORD_SHARE``), mostly at an
offset that is a multiple of the word's size, in either byte order.
libFuzzer would insert them from its dictionary at any byte of the whole
input, where a word that must follow two others in a payload rarely lands;
these placements are what took ``fuzz_nested``'s time to crash from minutes
to seconds (the field mutations alone changed it little, see BENCHMARKS.md). Nothing here knows any
plugin: the fields are the harness's own input layout, the words come from
the plugin's code.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from conformance.fuzzing.intake_planner import intake_segments, model_packet_bytes
from conformance.fuzzing.intake_profile import PluginProfile
from conformance.strategies import packet_from_source
from conformance.strategies.input_bytes import ByteSource

#: The most bytes an operation's chunk (or the params chunk) can hold: its length byte's range.
CHUNK_LIMIT = 255
#: The share of mutations given to libFuzzer over the whole input (op bytes, header, crossover, layout).
WHOLE_INPUT_SHARE = 0.25
#: The share that writes a constant the plugin compares against into a field (``ALIGNED_SHARE``).
WORD_SHARE = 0.15
#: Of those, the share at a multiple of the word's size (the rest go to any offset): a binary header is a
#: run of aligned fields; a text protocol puts its keywords anywhere.
ALIGNED_SHARE = 0.75

#: libFuzzer's mutation of a byte string into at most ``max_size`` bytes (``atheris.Mutate``).
ByteMutation = Callable[[bytes, int], bytes]


@dataclass(frozen=True)
class SizedField:
    """A length byte at ``length_at`` and the ``size`` bytes from ``start`` it covers in the input.

    ``size`` can be less than the length byte says when the input ends first
    (the reader pads with zeros or stops there). ``limit`` is the largest
    length the byte can express; ``parent`` is the operation chunk around an
    inner field, whose length byte must grow and shrink with it.
    """

    length_at: int
    start: int
    size: int
    limit: int
    parent: SizedField | None = None

    @property
    def end(self) -> int:
        return self.start + self.size


class _FieldRecorder(ByteSource):
    """A ``ByteSource`` that notes each ``below`` read (a length byte) followed at once by a ``chunk`` of that
    many bytes: a sized field, as ``ByteSource.text`` and the generators' byte strings read them."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.fields: list[tuple[int, int, int]] = []  # (length byte position, start, limit)
        self._last_below: tuple[int, int, int] | None = None  # (position, value, bound)

    def below(self, bound: int) -> int:
        position = self.position
        value = super().below(bound)
        self._last_below = (position, value, bound)
        return value

    def chunk(self, size: int) -> bytes:
        last = self._last_below
        if last is not None and last[0] == self.position - 1 and last[1] == size and last[2] > 1:
            self.fields.append((last[0], self.position, last[2] - 1))
        self._last_below = None
        return super().chunk(size)

    def byte(self) -> int:
        self._last_below = None
        return super().byte()


def _packet_fields(chunk: bytes, profile: PluginProfile) -> list[tuple[int, int, int]]:
    """The sized fields of a legal packet's chunk (positions within the chunk), read as the planner reads it
    (``model_packet_bytes``)."""
    data = model_packet_bytes(chunk, profile) if chunk else None
    if data is None:
        return []
    recorder = _FieldRecorder(data)
    packet_from_source(recorder)
    return recorder.fields


def sized_fields(data: bytes, profile: PluginProfile) -> list[SizedField]:
    """Every sized field of an intake input whose length byte is in the input: the params chunk (header mode
    7), each operation's chunk, and the fields inside a legal packet's chunk (after their operation's)."""
    fields: list[SizedField] = []
    if len(data) > 1 and data[0] % 8 == 7:
        fields.append(SizedField(1, 2, min(data[1], len(data) - 2), CHUNK_LIMIT))
    for position, end in intake_segments(data):
        if position + 1 >= len(data):
            break
        start = position + 2
        outer = SizedField(position + 1, start, end - start, CHUNK_LIMIT)
        fields.append(outer)
        if data[position] % 8 <= 2:
            chunk = data[start:end]
            for length_at, inner_start, limit in _packet_fields(chunk, profile):
                if length_at < len(chunk):
                    size = max(0, min(inner_start + chunk[length_at] % (limit + 1), len(chunk)) - inner_start)
                    fields.append(SizedField(start + length_at, start + inner_start, size, limit, outer))
    return fields


def replace_field(data: bytes, field: SizedField, content: bytes) -> bytes:
    """``data`` with ``field``'s bytes replaced by ``content`` and the length bytes (its own, and its
    operation's) set to what they now cover; ``content`` must fit both limits."""
    delta = len(content) - field.size
    result = bytearray(data[: field.start] + content + data[field.end :])
    result[field.length_at] = len(content)
    if field.parent is not None:
        declared = data[field.parent.length_at]
        # A chunk cut short by the input's end stays "everything to the end"; a whole one keeps its exact size.
        result[field.parent.length_at] = min(CHUNK_LIMIT, max(declared + delta, field.parent.size + delta))
    return bytes(result)


def place_word(data: bytes, field: SizedField, word: bytes, offset: int, room: int) -> bytes | None:
    """``data`` with ``word`` written over ``field`` at ``offset`` (past the field's end it extends the field);
    None when the field would outgrow ``room``."""
    content = data[field.start : field.end]
    content = content[:offset] + bytes(max(0, offset - len(content))) + word + content[offset + len(word) :]
    return replace_field(data, field, content) if len(content) <= room else None


def _room(data: bytes, field: SizedField, max_size: int) -> int:
    """The most bytes ``field`` may hold after a mutation: its length byte's limit, its operation's, and
    libFuzzer's ``max_size`` for the whole input."""
    room = field.limit
    if field.parent is not None:
        room = min(room, CHUNK_LIMIT - (field.parent.size - field.size))
    return min(room, max_size - (len(data) - field.size))


def mutate_intake(
    data: bytes, max_size: int, seed: int, profile: PluginProfile, mutate: ByteMutation, words: Sequence[bytes] = ()
) -> bytes:
    """One mutation of an intake input: libFuzzer's own on one sized field (chosen uniformly), or, for
    ``WORD_SHARE`` of the calls when ``words`` are given, one of them placed in an innermost field at a
    multiple of its size, or, for ``WHOLE_INPUT_SHARE`` of them or when no field has room, libFuzzer's own on the whole input.
    """
    rng = random.Random(seed)
    draw = rng.random()
    fields = sized_fields(data, profile) if draw >= WHOLE_INPUT_SHARE else []
    placing = bool(words) and draw < WHOLE_INPUT_SHARE + WORD_SHARE
    if placing:  # into the innermost fields: an offset in an operation's chunk is not one in its packet's text
        parents = {field.parent for field in fields}
        fields = [field for field in fields if field not in parents]
    while fields:
        field = fields.pop(rng.randrange(len(fields)))
        room = _room(data, field, max_size)
        if room < max(1, field.size):
            continue
        if placing:
            word = rng.choice(words)
            word = word if rng.random() < 0.5 else word[::-1]  # the plugin may read it either byte order
            if rng.random() < ALIGNED_SHARE:
                offset = len(word) * rng.randrange(field.size // len(word) + 1)
            else:
                offset = rng.randrange(field.size + 1)
            placed = place_word(data, field, word, offset, room)
            if placed is not None:
                return placed
            continue
        content = mutate(data[field.start : field.end], room)[:room]
        return replace_field(data, field, content)
    return mutate(data, max_size)


def intake_mutator(profile: PluginProfile, words: Sequence[bytes] = ()) -> Callable[[bytes, int, int], bytes]:
    """``atheris.Setup``'s ``custom_mutator`` for intake inputs of a plugin with ``profile``; ``words`` are
    the constants the plugin compares against (``compare_constants``), when known."""
    import atheris  # type: ignore[import-untyped,unused-ignore]  # optional extra, only when fuzzing

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        return mutate_intake(data, max_size, seed, profile, atheris.Mutate, words)

    return custom_mutator
