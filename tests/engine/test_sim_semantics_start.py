"""The start block's output as Sim builds it (SIM-COMPAT §3.1, Sim's ``coerceValue``).

Every key of the run input is a start field, declared by the input format or not; an
input-format value is converted by its type when it converts and kept as it came when
it does not; a field missing from the run input takes its ``value`` as written.
"""

from __future__ import annotations

from typing import Any

import pytest

from stepweave.local.engine import LocalEngine
from tests.engine.helpers import run_text

FIELDS = """
version: 1
name: start-fields
blocks:
  - id: start
    type: start
    params:
      inputFormat:
        - {name: n, type: number}
        - {name: flag, type: boolean}
        - {name: tags, type: array}
        - {name: label, type: string}
"""


def _start_output(engine: LocalEngine, payload: dict[str, Any]) -> Any:
    result, _ = run_text(engine, FIELDS, payload)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output


@pytest.mark.parametrize(("given", "expected"), [
    ({"n": "42"}, 42), ({"n": " 2.5 "}, 2.5), ({"n": ".5"}, 0.5), ({"n": "7."}, 7),
    ({"n": "0x1F"}, 31), ({"n": 3}, 3), ({"n": True}, 1),
    ({"n": "abc"}, "abc"),  # Number("abc") is NaN: Sim keeps the value
    ({"n": "1 2"}, "1 2"),
])
def test_number_fields_convert_like_javascript_number_or_keep_the_value(
        engine: LocalEngine, given: dict[str, Any], expected: Any) -> None:
    assert _start_output(engine, given)["n"] == expected


@pytest.mark.parametrize(("given", "expected"), [
    ("true", True), ("1", True), ("false", False), ("0", False), (0, False),
    ("TRUE", "TRUE"), ("yes", "yes"),  # only these spellings convert, as in Sim
])
def test_boolean_fields(engine: LocalEngine, given: Any, expected: Any) -> None:
    assert _start_output(engine, {"flag": given})["flag"] == expected


@pytest.mark.parametrize(("given", "expected"), [
    ('["a", "b"]', ["a", "b"]), ('{"k": [1, {"j": null}]}', {"k": [1, {"j": None}]}),
    ("5", 5), ("[1, 2", "[1, 2"), ("not json", "not json"), (["x"], ["x"]),
])
def test_array_fields_parse_json_text_or_keep_it(engine: LocalEngine, given: Any, expected: Any) -> None:
    assert _start_output(engine, {"tags": given})["tags"] == expected


def test_string_fields_take_numbers_as_text_and_missing_fields_are_absent(engine: LocalEngine) -> None:
    assert _start_output(engine, {"label": 12, "extra": "e"}) == {"label": "12", "extra": "e"}


def test_defaults_as_written_and_input_object_first(engine: LocalEngine) -> None:
    text = """
version: 1
name: start-defaults
blocks:
  - id: start
    type: start
    params:
      inputFormat:
        - {name: n, type: number, value: ""}
        - {name: s, type: string, value: ""}
        - {name: d, type: number, value: "5"}
        - {name: i, type: string}
"""
    result, _ = run_text(engine, text, {"input": {"i": "inner"}, "i": "outer", "d": None})
    # Sim converts the default "" of a number field with Number(""), which is 0
    assert result.output == {"n": 0, "s": "", "d": 5, "i": "inner", "input": {"i": "inner"}}


UNDECLARED = """
version: 1
name: start-extra
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: f, name: F, type: function, params: {code: "return [<start.extra>, <start.n>]"}}
  - {id: ok, name: Ok, type: function, params: {code: "return <f.result>"}}
  - {id: err, name: Err, type: function, params: {code: "return <f.error>"}}
edges: [start -> f, f -> ok, "f -[error]-> err"]
"""


def test_undeclared_run_input_keys_are_start_fields(engine: LocalEngine) -> None:
    result, ran = run_text(engine, UNDECLARED, {"extra": {"a": 1}, "n": "2"})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == {"result": [{"a": 1}, 2], "stdout": ""}
    assert ran == ["start", "F", "Ok"]


def test_an_undeclared_field_missing_from_the_run_is_sims_block_error(engine: LocalEngine) -> None:
    result, ran = run_text(engine, UNDECLARED, {"n": 1})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["result"] == ('"extra" doesn\'t exist on block "start". '
                                       "Available fields: input, conversationId, files, n")
    assert ran == ["start", "F", "Err"]
