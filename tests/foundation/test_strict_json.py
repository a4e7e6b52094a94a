"""foundation.strict_json: the one strict JSON reader and compact writer, with the caller's error type."""

from __future__ import annotations

import math
from typing import Any

import pytest

from foundation.errors import XidError
from foundation.strict_json import MAX_JSON_DEPTH, InvalidJsonError, compact_json, strict_json, strict_json_value


class _OwnError(XidError):
    """A caller's own error type."""

    code = "testOwnError"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"a": 1, "a": 2}', "duplicate JSON member 'a'"),
        ('{"a": {"b": 1, "b": 1}}', "duplicate JSON member 'b'"),
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": 1e400}', "out of range"),
        ('{"a": 1', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"a": ' + "1" * 5000 + "}", "number too long"),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "nested too deeply"),
    ],
)
def test_refused_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(InvalidJsonError, match=fragment) as raised:
        strict_json(text, "the input")
    assert raised.value.code == "invalidJson"
    assert "the input" in raised.value.message


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(InvalidJsonError, match="invalid UTF-8"):
        strict_json(b'{"a": "\xff"}', "the input")


def test_depth_limit_is_exact() -> None:
    deepest = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    assert strict_json('{"a": ' + deepest + "}", "x")["a"] is not None
    with pytest.raises(InvalidJsonError, match="nested too deeply"):
        strict_json('{"a": [' + deepest + "]}", "x")


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = '{"a": "' + "[" * (MAX_JSON_DEPTH * 2) + '"}'
    assert strict_json(text, "x") == {"a": "[" * (MAX_JSON_DEPTH * 2)}


def test_the_callers_error_type_is_raised() -> None:
    with pytest.raises(_OwnError, match="duplicate"):
        strict_json('{"a": 1, "a": 1}', "x", error=_OwnError)
    with pytest.raises(_OwnError):
        compact_json({"a": math.nan}, error=_OwnError)


def test_any_value_reader_keeps_the_checks() -> None:
    assert strict_json_value("[1, 2.5]", "x") == [1, 2.5]
    with pytest.raises(InvalidJsonError, match="duplicate"):
        strict_json_value('[{"a": 1, "a": 1}]', "x")


@pytest.mark.parametrize(
    "value",
    [{"a": 1, "b": [True, None, "ü"]}, {"big": 2**80}, {"neg": -(2**70)}, {"f": 0.5}, {}],
)
def test_compact_round_trip(value: dict[str, Any]) -> None:
    encoded = compact_json(value)
    assert b" " not in encoded
    assert strict_json(encoded, "x") == value


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_compact_refuses_non_json_numbers(bad: float) -> None:
    with pytest.raises(InvalidJsonError, match="cannot be written as JSON"):
        compact_json({"a": [1, bad]})


def test_compact_keeps_a_real_null() -> None:
    assert compact_json({"a": None}) == b'{"a":null}'
