"""The structure-aware mutator of plugin_intake (``conformance.fuzzing.intake_mutator``): it finds the sized
fields of an input as the planner reads them, and a mutation of one field keeps every other operation and
every length byte right. libFuzzer's own mutation is stood in for by plain functions: ``atheris.Mutate``
works only inside a running fuzzer (the slow libFuzzer runs of plugin_intake in test_fuzz_targets.py use the
real one)."""

from __future__ import annotations

import random

import pytest

from conformance.fuzzing.intake_mutator import (
    CHUNK_LIMIT,
    ByteMutation,
    mutate_intake,
    replace_field,
    sized_fields,
)
from conformance.fuzzing.intake_planner import plan_intake
from conformance.fuzzing.intake_profile import PluginProfile
from conformance.fuzzing.paths import CORPUS_DIR
from conformance.host.packets import BinaryPacket, TextPacket
from conformance.strategies.input_bytes import ByteSink

TEXT_PLUGIN = PluginProfile("text", 9, "processor", (("in", (2,)),), (("out", 2),), False, "{}")
ANY_PLUGIN = PluginProfile("echo-any", 9, "processor", (("in", (6,)),), (("out", 7),), False, "{}")
TEXT_KIND, BINARY_KIND = 1, 4  # packet_from_bytes's kind bytes
MARK = b"\xabMARK"


def _text_op(text: bytes, *, code: int = 0) -> ByteSink:
    return ByteSink().byte(code).sized(bytes([TEXT_KIND]) + ByteSink().sized(text).getvalue())


def _seeds() -> list[bytes]:
    return [path.read_bytes() for path in sorted((CORPUS_DIR / "plugin_intake").iterdir())]


def test_fields_of_a_text_op_are_its_chunk_then_its_text() -> None:
    data = ByteSink().byte(0).raw(_text_op(b"hello").getvalue()).byte(7).byte(0).getvalue()
    chunk, text, flush = sized_fields(data, TEXT_PLUGIN)
    assert (chunk.length_at, chunk.start, chunk.size, chunk.limit, chunk.parent) == (2, 3, 7, CHUNK_LIMIT, None)
    assert (text.length_at, text.start, text.size, text.limit, text.parent) == (4, 5, 5, 24, chunk)
    assert data[text.start : text.end] == b"hello"
    assert (flush.start, flush.size) == (len(data), 0)


def test_a_text_cut_short_by_the_input_covers_only_the_bytes_there() -> None:
    data = bytes([0, 0, 40, TEXT_KIND, 20]) + b"SK"  # the text says 20 bytes, the input has 2
    text = sized_fields(data, TEXT_PLUGIN)[1]
    assert (text.start, text.size) == (5, 2)
    longer = replace_field(data, text, b"SK" + b"x" * 14)
    (op,) = plan_intake(longer, TEXT_PLUGIN).ops
    assert op.packet == TextPacket("SK" + "x" * 14)  # no zero padding: the length byte says 16 now


def test_replacing_a_text_resizes_both_length_bytes_and_keeps_the_ops_after_it() -> None:
    data = ByteSink().byte(6).raw(_text_op(b"abc").getvalue()).raw(_text_op(b"after").getvalue()).getvalue()
    text = sized_fields(data, TEXT_PLUGIN)[1]
    grown = replace_field(data, text, b"a much longer text")
    assert [op.packet for op in plan_intake(grown, TEXT_PLUGIN).ops] == [
        TextPacket("a much longer text"),
        TextPacket("after"),
    ]
    assert plan_intake(grown, TEXT_PLUGIN).params is None  # the header byte is untouched


def test_binary_data_and_params_chunks_are_fields_too() -> None:
    binary = ByteSink().byte(0).sized(bytes([BINARY_KIND]) + ByteSink().sized(b"\x01\x02").getvalue()).getvalue()
    data = ByteSink().byte(7).sized(b"params bytes").raw(binary).getvalue()
    params, chunk, payload = sized_fields(data, ANY_PLUGIN)
    assert data[params.start : params.end] == b"params bytes" and params.parent is None
    assert data[payload.start : payload.end] == b"\x01\x02" and payload.parent == chunk
    (op,) = plan_intake(replace_field(data, payload, b"\xff" * 9), ANY_PLUGIN).ops
    assert op.packet == BinaryPacket(b"\xff" * 9)


def _marking(calls: list[bytes], room: list[int] | None = None) -> ByteMutation:
    """A stand-in for libFuzzer's mutation: inserts ``MARK`` somewhere inside what it is given (cut to the
    size it may grow to, noted in ``room``)."""
    rng = random.Random(7)

    def mutate(data: bytes, max_size: int) -> bytes:
        calls.append(data)
        if room is not None:
            room.append(max_size)
        cut = rng.randrange(len(data) + 1)
        return (data[:cut] + MARK + data[cut:])[:max_size]

    return mutate


@pytest.mark.parametrize("profile", [TEXT_PLUGIN, ANY_PLUGIN], ids=lambda profile: profile.name)
def test_a_field_mutation_changes_one_op_and_lands_inside_its_payload(profile: PluginProfile) -> None:
    changed_texts = 0
    for number, data in enumerate(_seeds()):
        for seed in range(12):
            calls: list[bytes] = []
            room: list[int] = []
            mutated = mutate_intake(data, 4096, number * 100 + seed, profile, _marking(calls, room))
            assert len(calls) == 1 and (MARK in mutated or room[0] < len(calls[0]) + len(MARK))
            if calls[0] == data:
                continue  # a whole-input mutation: any layout goes
            before, after = plan_intake(data, profile), plan_intake(mutated, profile)
            assert len(after.ops) == len(before.ops)
            changed = [new for old, new in zip(before.ops, after.ops, strict=True) if old != new]
            assert len(changed) + (after.params != before.params) <= 1  # the params chunk is a field too
            texts = [op.packet.text for op in changed if isinstance(op.packet, TextPacket)]
            changed_texts += any(MARK.decode("utf-8", "replace") in text for text in texts)
    assert changed_texts > 20  # the mark lands inside texts the plugin gets, not only in op bytes


def test_whole_input_mutations_and_inputs_without_room_go_to_libfuzzer_whole() -> None:
    data = ByteSink().byte(0).raw(_text_op(b"hello").getvalue()).getvalue()
    seen: list[bytes] = []
    for seed in range(40):
        mutate_intake(data, 4096, seed, TEXT_PLUGIN, _marking(seen))
    assert data in seen and any(call == b"hello" for call in seen)
    full: list[bytes] = []
    for seed in range(10):
        assert len(mutate_intake(data, len(data) - 1, seed, TEXT_PLUGIN, _marking(full))) <= len(data) - 1
    assert full == [data] * 10  # no field fits in max_size: libFuzzer gets the whole input


def test_mutations_stay_within_max_size_and_the_length_limits() -> None:
    rng = random.Random(11)

    def grow(data: bytes, max_size: int) -> bytes:
        return (data + b"\x80" * 300)[:max_size]

    for data in _seeds() + [rng.randbytes(rng.randrange(300)) for _ in range(100)]:
        for seed in range(5):
            mutated = mutate_intake(data, 300, seed, ANY_PLUGIN, grow)
            assert len(mutated) <= max(300, len(data))
            for field in sized_fields(mutated, ANY_PLUGIN):
                assert field.size <= field.limit
            plan_intake(mutated, ANY_PLUGIN)  # every byte string is a plan; this one too


def test_the_seed_corpus_is_read_with_a_field_per_op() -> None:
    for data in _seeds():
        fields = sized_fields(data, ANY_PLUGIN)
        outer = [field for field in fields if field.parent is None]
        ops = plan_intake(data, ANY_PLUGIN).ops
        assert len(outer) >= len(ops)


def test_compared_words_are_written_into_fields_mostly_at_multiples_of_their_size() -> None:
    data = ByteSink().byte(0).raw(_text_op(b"0123456789").getvalue()).getvalue()
    offsets: dict[bytes, list[int]] = {b"WORD": [], b"DROW": []}
    for seed in range(600):
        calls: list[bytes] = []
        mutated = mutate_intake(data, 4096, seed, TEXT_PLUGIN, _marking(calls), words=(b"WORD",))
        if calls:
            continue  # one of libFuzzer's own mutations
        (op,) = plan_intake(mutated, TEXT_PLUGIN).ops
        assert isinstance(op.packet, TextPacket)
        text = op.packet.text.encode()
        word, offset = next((word, text.find(word)) for word in offsets if word in text)
        offsets[word].append(offset)
        assert text[:offset] + text[offset + 4 :] == b"0123456789"[:offset] + b"0123456789"[offset + 4 :]
    # Both byte orders; over the text at 0, 4 and 8, and past its end (the text grows to 12 bytes) ...
    for placed in offsets.values():
        assert {0, 4, 8} <= set(placed) <= set(range(11))
        # ... and now and then at any other offset.
        aligned = sum(offset % 4 == 0 for offset in placed)
        assert len(placed) > aligned > 2 * (len(placed) - aligned)


def test_without_words_no_mutation_bypasses_libfuzzer() -> None:
    data = ByteSink().byte(0).raw(_text_op(b"0123456789").getvalue()).getvalue()
    for seed in range(100):
        calls: list[bytes] = []
        mutate_intake(data, 4096, seed, TEXT_PLUGIN, _marking(calls))
        assert len(calls) == 1
