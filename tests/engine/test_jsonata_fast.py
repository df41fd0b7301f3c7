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


# The templates a container's body and a loop's bookkeeping compile to (jsonata_subset).
SORT = ('$sort([{"o": $b, "t": $t, "k": 0}, {"o": $c, "t": $u, "k": 1}][t != null], '
        'function($a, $b){ $a.t > $b.t or ($a.t = $b.t and $a.k > $b.k) })')
TEMPLATES = [
    '{"v": ($__x := ($states.input.item); $type($__x) = "string" ? $__x : ($__x = null ? "" : $string($__x)))}',
    '{"v": ($__x := ($x); $type($__x) = "string" ? $__x : ($__x = null ? "" : $string($__x)))}',
    '$i = 0 ? {"each": $b} : {}',
    f'[{SORT}.o]',
    f'($i >= 0 ? ($e := {SORT}; $exists($e) ? $append($r, [[$e.o]]) : $r) : $r)',
    '(($i + 1) < $n) and ($i + 1) <= $k',
    '(($i + 1) < $n) = true',
    '$i + 1000', '$i - 1', '$n >= $i or $i > $n',
    '$x & "|" & $i',
    '{"a": $x, "b": [$r, [$i]], "c": $type($r), "d": $count($r), "e": $exists($x)}',
    '$states.input.index + 1',
    '$x != null and $type($x) = "number"',
    # a block's text interpolation
    '{"v": ($__x := (($__s := function($v){ $type($v) = "string" ? $v : ($exists($v) and $type($v) != "null" '
    '? $string($v) : "") }; $__s(($__v := $b.v; $exists($__v) ? $__v : "")) & "|" & $__s($x))); '
    '$type($__x) = "string" ? $__x : ($__x = null ? "" : $string($__x)))}',
    '($f := function($a, $b){ $a + $b }; $f($i, $n))',
    '($f := function($a, $b){ $exists($b) }; $f($i))',
]
VALUES: list[dict[str, Any]] = [
    {"x": 5}, {"x": None}, {"x": "s"}, {"x": True}, {"x": 2.0}, {"x": -0.0}, {"x": 10 ** 15 - 1},
    {"t": None}, {"t": 3, "u": 3}, {"t": 9, "u": 2}, {"u": None, "t": None}, {"i": 1}, {"i": -1},
    {"i": 2.0, "n": 3.0}, {"b": {}, "c": {"z": [1, 2]}},
]


def _vars(extra: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {"states": {"input": {"item": extra.get("x", 7), "index": 3}},
                              "x": 7, "i": 0, "n": 10, "k": 1000, "b": {"v": "1"}, "c": {"v": "2"},
                              "t": 17, "u": 12, "r": [[{"v": "0"}], [{"v": "a"}, {"v": "b"}]]}
    values.update(extra)
    values["states"]["input"]["item"] = values["x"]
    return values


@pytest.mark.parametrize("expression", TEMPLATES)
def test_the_compiled_templates_are_answered_as_jsonata_js(expression: str) -> None:
    answered = 0
    for extra in VALUES:
        values = _vars(extra)
        quick = jsonata_fast.evaluate(expression, lambda name, v=values: v.get(name, jsonata_fast.SLOW))
        if quick is jsonata_fast.SLOW:
            continue
        answered += 1
        assert json.dumps(quick) == json.dumps(evaluate(expression, values)), (expression, extra)
    assert answered >= len(VALUES) // 2  # the shortcut does answer these forms


SUBSET_LEFT = [
    '{"v": $string($b)}',            # $string of an object: JSON text, left to V8
    '$x & "!"',                       # with $x = 1.5: 15 significant digits, left to V8
    '$r.v',                           # a step over arrays of arrays
    '$i + "1"',                       # a type error, V8 reports it
    '$missing + 1',                   # an unbound variable
    "$x & 'single'",                  # single quotes: not in the subset
    '$sort([$i, $n])',                # a sort without the compiler's comparator
    '$i < "a"',                       # comparing a number with a string: an error
    '$t = {"a": 1}',                  # equality of objects
    '$x ? 1 : 2',                     # a condition that is not a boolean
    '($f := function($v){ $v }; {"f": $f})',  # a function in a result
    '($f := function($v){ $f($v) }; $f(1))',  # endless recursion: V8 reports it
    '$string(1, 2)',                  # a built-in with the wrong arguments
    '($string := function($v){ 1 }; $string(2))',  # a built-in's name bound
]


@pytest.mark.parametrize("expression", SUBSET_LEFT)
def test_the_subset_leaves_the_rest_to_jsonata_js(expression: str) -> None:
    values = _vars({"x": 1.5})
    assert jsonata_fast.evaluate(expression, lambda name: values.get(name, jsonata_fast.SLOW)) \
        is jsonata_fast.SLOW
