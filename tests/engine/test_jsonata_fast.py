"""The embedded engine's shortcut for simple JSONata answers as jsonata-js does.

GIVEN an expression and variables WHEN ``stepweave.local.jsonata_fast`` answers it THEN the
value equals what jsonata-js 2.0.6 (the library AWS runs) gives for the same expression and
variables; and it leaves to jsonata-js what it cannot answer exactly (undefined fields,
arrays along a path, integers past 2^53, anything but a plain path or index).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepweave.local import jsonata_fast
from stepweave.local.jsonata_eval import UNDEFINED, evaluate

VARS: dict[str, Any] = {
    "b": {"items": [1, 2.5, "x"], "tag": "t", "n": 3.0, "deep": {"a": {"b": None}}, "flag": False,
          "neg": -0.0, "nested": [[1], [2]], "obj": {"k": [1, {"z": 1.0}]}},
    "i": 1.0, "big": {"n": 2 ** 60},
    "its": [{"a": 1}, [9], "s", 2 ** 60, 7.0],
    "whole": [[1, 2], [3]],
    "states": {"input": {"index": 4, "item": {"id": "a"}}, "context": {"Map": {"Item": {"Index": 2}}}},
}
ANSWERED = ["$b", "$b.tag", "$b.n", "$b.deep", "$b.deep.a", "$b.deep.a.b", "$b.flag", "$b.neg",
            "$b.obj", "$i", "$whole", "$states.input.index", "$states.input.item",
            "$states.context.Map.Item.Index", " $b.tag ", "$its[$i + 1]"]
LEFT = ["$b.items", "$b.missing", "$big", "$big.n", "$b.nested", "$b.tag.x", "$missing", "$b.items[0]",
        "$count($b.items)", "$b.tag & 'x'", "$its[$b.n + 1]", "$b.deep.a.b.c"]


@pytest.mark.parametrize("expression", ANSWERED)
def test_the_shortcut_answers_as_jsonata_js(expression: str) -> None:
    quick = jsonata_fast.evaluate(expression, lambda name: VARS.get(name, jsonata_fast.SLOW))
    assert quick is not jsonata_fast.SLOW
    expected = evaluate(expression, VARS)
    assert expected is not UNDEFINED
    assert json.dumps(quick) == json.dumps(expected)


@pytest.mark.parametrize("expression", LEFT)
def test_the_shortcut_leaves_the_rest_to_jsonata_js(expression: str) -> None:
    assert jsonata_fast.evaluate(expression, lambda name: VARS.get(name, jsonata_fast.SLOW)) \
        is jsonata_fast.SLOW


def test_index_past_the_end_and_array_elements_are_left_to_jsonata_js() -> None:
    def lookup(name: str) -> Any:
        return {"its": [[1], 2], "i": 5, "j": -1}.get(name, jsonata_fast.SLOW)

    assert jsonata_fast.evaluate("$its[$i + 1]", lookup) is jsonata_fast.SLOW  # past the end
    assert jsonata_fast.evaluate("$its[$j + 1]", lookup) is jsonata_fast.SLOW  # an array there


def test_millis_is_the_time_in_milliseconds() -> None:
    quick = jsonata_fast.evaluate("$millis()", lambda name: jsonata_fast.SLOW)
    slow = evaluate("$millis()", {})
    assert isinstance(quick, int) and abs(quick - slow) < 60_000
