"""The indented JSON encoder of the reports writes what ``json.dumps(value, indent=2)`` writes, byte for byte."""

from __future__ import annotations

import enum
import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.report.jsontext import dumps_indented


class Word(enum.StrEnum):
    PASS = "pass"


class Number(enum.IntEnum):
    THREE = 3


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.sampled_from([Word.PASS, Number.THREE]),
)
_KEYS = st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none(), st.just(Word.PASS))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=5),
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_VALUES, st.booleans())
def test_the_text_is_json_dumps_indented(value: Any, ensure_ascii: bool) -> None:
    assert dumps_indented(value, ensure_ascii=ensure_ascii) == json.dumps(value, indent=2, ensure_ascii=ensure_ascii)


def test_default_converts_what_json_cannot_write_as_json_dumps_does() -> None:
    value = {"set": {3}, "nested": [{"bytes": b"\x00"}], "specials": [math.nan, -math.inf, -0.0, 1e-05, 10**30]}
    assert dumps_indented(value, ensure_ascii=False, default=str) == json.dumps(
        value, indent=2, ensure_ascii=False, default=str
    )
    assert dumps_indented({"set": {2, 1}}, default=sorted) == json.dumps({"set": {2, 1}}, indent=2, default=sorted)


@pytest.mark.parametrize("value", [{"set": {1}}, {(1,): 1}, [object()]])
def test_what_json_refuses_is_refused_with_the_same_error(value: Any) -> None:
    with pytest.raises(TypeError) as expected:
        json.dumps(value, indent=2)
    with pytest.raises(TypeError, match=re.escape(str(expected.value))):
        dumps_indented(value)
