"""JSON in and out without the json module: same results and same errors as json."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest

from lambdakit.runtime import marshal
from lambdakit.runtime.errors import FaultError

DOCUMENTS = [
    b"{}",
    b'  \n{"a": [1, 2.5, -3e10, true, false, null]}\t\r\n',
    b'"just a string"',
    b"42",
    '{"ünï": "cödé ✓", "esc": "\\u00e9\\n"}'.encode(),
    b"[" * 50 + b"]" * 50,
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_loads_agrees_with_json(document: bytes) -> None:
    assert marshal.loads(document) == json.loads(document)


def test_loads_accepts_nan_and_infinity_like_awslambdaric() -> None:
    value = marshal.loads(b"[NaN, Infinity, -Infinity]")
    assert isinstance(value, list) and math.isnan(value[0]) and value[1:] == [math.inf, -math.inf]


@pytest.mark.parametrize("document", [b"", b"{", b"[1,]", b'{"a" 1}', b"1 2", b'"\x01"'])
def test_loads_errors_are_jsons_errors(document: bytes) -> None:
    with pytest.raises(Exception) as ours:
        marshal.loads(document)
    with pytest.raises(Exception) as theirs:
        json.loads(document)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


def test_invalid_utf8_is_reported_as_such() -> None:
    with pytest.raises(UnicodeDecodeError, match="'utf-8' codec can't decode byte 0xff"):
        marshal.loads(b"\x00\x01binary\xff")


VALUES = [
    ({"a": 1, "b": [None, True, 1.5]}, '{"a":1,"b":[null,true,1.5]}'),
    ("héllo ✓", '"héllo ✓"'),
    ("quote\" and \\ and \n and \x01", '"quote\\" and \\\\ and \\n and \\u0001"'),
    ((1, 2), "[1,2]"),
    ({1: "int key"}, '{"1":"int key"}'),
    (float("nan"), "NaN"),
    (Decimal("1.10"), "1.10"),
    ({"raw": b"caf\xc3\xa9"}, '{"raw":"café"}'),
    ({"d": [Decimal("-0.000001"), Decimal("1E+3"), Decimal("sNaN"), Decimal("-Infinity")]},
     '{"d":[-0.000001,1E+3,NaN,-Infinity]}'),
]  # fmt: skip


@pytest.mark.parametrize(("value", "expected"), VALUES)
def test_dumps(value: object, expected: str) -> None:
    assert marshal.dumps(value) == expected


def test_dumps_spaced_separators_for_error_bodies() -> None:
    assert marshal.dumps({"a": [1, 2]}, compact=False) == '{"a": [1, 2]}'


def test_dumps_default_and_its_absence() -> None:
    assert marshal.dumps({"x": {1}}, default=str) == '{"x":"{1}"}'
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        marshal.dumps({1})


def test_circular_structures_are_marshal_errors() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(FaultError) as error:
        marshal.marshal_result(loop)
    assert error.value.error_type == "Runtime.MarshalError"
    assert "Circular reference detected" in error.value.message


def test_marshal_result_content_types() -> None:
    assert marshal.marshal_result(b"raw") == (b"raw", "application/unknown")
    assert marshal.marshal_result(bytearray(b"ba")) == (b"ba", "application/unknown")
    assert marshal.marshal_result(None) == (b"null", "application/json")
    assert marshal.marshal_result("s") == (b'"s"', "application/json")


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [("application/json", True), ("Application/JSON; charset=utf-8", True),
     ("application/jsonx", False), ("text/plain", False), (None, False)],
)  # fmt: skip
def test_is_json(content_type: str | None, expected: bool) -> None:
    assert marshal.is_json(content_type) is expected


@pytest.mark.parametrize(
    "text",
    ["x" * 5000, 'a"b' * 2000, "a\\b" * 2000, "a\nb" * 2000, "\x7f" * 5000, "a\x1fb" * 3000],
)
def test_large_text_results_are_the_bytes_json_writes(text: str) -> None:
    assert marshal.marshal_result(text) == (json.dumps(text).encode(), "application/json")


@pytest.mark.parametrize(
    "document",
    [
        b'"' + b"x" * 5000 + b'"',
        b'"' + "é".encode() * 3000 + b'"',
        b'"' + b"\x7f" * 5000 + b'"',
        b'"a\\nb' + b"x" * 5000 + b'"',
        b'"' + b"x" * 5000 + b'\x01"',
        b'"' + b"x" * 5000 + b'" ',
        b'"' + b"\xff" * 5000 + b'"',
        b'"x' + b"x" * 5000 + b'"x"',
    ],
)
def test_large_string_documents_parse_as_json_parses_them(document: bytes) -> None:
    def outcome(parse: object) -> tuple[str, object]:
        try:
            return "value", parse(document)  # type: ignore[operator]
        except Exception as error:
            return "error", type(error).__name__

    assert outcome(marshal.loads) == outcome(lambda d: json.loads(d.decode("utf-8")))
