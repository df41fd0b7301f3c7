"""Condition expressions: JavaScript in, JSONata out, same answer as V8.

Every case in ``CASES`` is run three ways: the expected value written in the table,
the expression itself in V8 (references replaced by their values as JSON literals),
and the translated JSONata evaluated by jsonata-python over the same values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from jsonata import Jsonata
from jsonata.utils import Utils
from py_mini_racer import MiniRacer
from stepweave.compiler.jsexpr import JsExprError, translate_condition


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: A reference whose path does not exist (JavaScript ``undefined``).
MISSING: Any = _Missing()


@dataclass(frozen=True)
class Case:
    source: str
    expected: bool
    refs: dict[str, Any] = field(default_factory=dict)
    context: Any = MISSING


def c(source: str, expected: bool, context: Any = MISSING, **refs: Any) -> Case:
    """A case; ``start_n=5`` stands for the reference ``<start.n>`` with value 5."""
    return Case(source, expected, {k.replace("_", ".", 1): v for k, v in refs.items()}, context)


CASES: list[Case] = [
    # numeric comparisons
    c("<start.n> > 10", True, start_n=11),
    c("<start.n> > 10", False, start_n=10),
    c("<start.n> >= 10", True, start_n=10),
    c("<start.n> < 2.5", True, start_n=2.4),
    c("<start.n> <= -3", True, start_n=-3),
    c("<start.n> === 1e3", True, start_n=1000),
    c("<start.n> > 10", True, start_n="11"),
    c("<start.n> < 10", False, start_n="abc"),
    c("10 < '9'", False),
    c("'10' < '9'", True),
    c("<start.s> < 'b' && <start.s> >= 'a'", True, start_s="apple"),
    c("<start.n> > 10", False, start_n=None),
    c("<start.n> >= 0", True, start_n=None),
    c("<start.n> < 1", False, start_n=MISSING),
    c("<start.missing> > 10 || <start.missing> <= 10", False, start_missing=MISSING),
    c("<start.b> > 0", True, start_b=True),
    c("<start.a> < <start.b>", True, start_a=[2], start_b=10),
    # equality, strings, escapes
    c('<start.s> === "it\'s"', True, start_s="it's"),
    c("<start.s> === 'say \"hi\"'", True, start_s='say "hi"'),
    c("<start.s> === 'tab\\there\\n'", True, start_s="tab\there\n"),
    c("<start.s> === '\\u00e9\\x41\\u{1F600}'", True, start_s="éA\U0001f600"),
    c("<start.s> === `plain template`", True, start_s="plain template"),
    c("<start.s> !== 'x'", True, start_s=MISSING),
    c("<start.n> === '5'", False, start_n=5),
    c("<start.n> == '5'", True, start_n=5),
    c("<start.v> == null", True, start_v=MISSING),
    c("<start.v> == null", True, start_v=None),
    c("<start.v> == null", False, start_v=0),
    c("<start.v> === null", False, start_v=MISSING),
    c("<start.v> === undefined", True, start_v=MISSING),
    c("<start.v> != undefined", True, start_v=False),
    c("'' == 0 && '0' == false && [] == false", True),
    c("<start.o> == '[object Object]'", True, start_o={"a": 1}),
    c("<start.a> === <start.b>", True, start_a="x", start_b="x"),
    c("<start.a> === <start.b>", False, start_a=1, start_b="1"),
    c("NaN === NaN || NaN == NaN", False),
    c("<start.b> === true", True, start_b=True),
    # includes, startsWith, endsWith, case, trim, indexOf
    c("<start.s>.includes('ell')", True, start_s="hello"),
    c("<start.s>.includes('z')", False, start_s="hello"),
    c("<start.arr>.includes(2)", True, start_arr=[1, 2, 3]),
    c("<start.arr>.includes('2')", False, start_arr=[1, 2]),
    c("<start.arr>.includes(null)", True, start_arr=[1, None]),
    c("['a', 'b'].includes(<start.s>)", True, start_s="b"),
    c("[NaN].includes(NaN)", True),
    c("<my agent.content>.includes('yes')", True, **{"my agent_content": "oh yes!"}),
    c("<start.s>.startsWith('he') && <start.s>.endsWith('lo')", True, start_s="hello"),
    c("<start.s>.endsWith('hello!')", False, start_s="hello"),
    c("<start.s>.toLowerCase() === 'hello'", True, start_s="HeLLo"),
    c("<start.s>.toUpperCase().includes('ELL')", True, start_s="hello"),
    c("<start.s>.trim() === 'a  b'", True, start_s="  a  b \n"),
    c("<start.s>.indexOf('l') === 2", True, start_s="hello"),
    c("<start.arr>.indexOf('x') === -1 && <start.arr>.indexOf(3) === 1", True, start_arr=[1, 3]),
    # length and indexing
    c("<start.s>.length === 5", True, start_s="hello"),
    c("<start.arr>.length > 2", True, start_arr=[1, 2, 3]),
    c("<start.arr>.length === 1 && <start.arr>[0] === 5", True, start_arr=[5]),
    c("<start.arr>.length === 0", True, start_arr=[]),
    c("<start.o>.length === undefined", True, start_o={"a": 1}),
    c("<start.o>.length === 3", True, start_o={"length": 3}),
    c("<start.arr>[1][0] === 3 && <start.arr>[1].length === 1", True, start_arr=[1, [3]]),
    c("<start.arr>[<start.i>] === 'b'", True, start_arr=["a", "b"], start_i=1),
    c("<start.s>[0] === 'h'", True, start_s="hello"),
    c("<start.o>['a b'] === 1", True, start_o={"a b": 1}),
    c("<start.arr>[-1] === undefined && <start.arr>[5] === undefined", True, start_arr=[1]),
    c("<start.arr>['length'] === 2", True, start_arr=[1, 2]),
    c("<start.n>.length === undefined", True, start_n=42),
    # optional chaining and missing paths
    c("<start.user>?.profile?.name === undefined", True, start_user=MISSING),
    c("<start.user>?.profile?.name === 'x'", True, start_user={"profile": {"name": "x"}}),
    c("<start.user>?.['profile']?.name === 'x'", True, start_user={"profile": {"name": "x"}}),
    c("<start.user>.profile.name === 'x'", True, start_user={"profile": {"name": "x"}}),
    c("<start.items>?.[2] === undefined", True, start_items=[1]),
    c("!<start.user>?.profile", True, start_user={}),
    c("<start.user>?.tags?.length > 0", False, start_user={}),
    c("<start.v>?.includes('a') === undefined", True, start_v=None),
    c("<start.v>?.startsWith('a') !== false", True, start_v=MISSING),
    # && || ! ??
    c("<start.a> && <start.b>", False, start_a=1, start_b=0),
    c("<start.a> || <start.b>", True, start_a=0, start_b="x"),
    c("(<start.a> || 'dflt') === 'dflt'", True, start_a=""),
    c("(<start.a> && 'yes') === 'yes'", True, start_a=[]),
    c("(<start.a> && 'yes') === 0", True, start_a=0),
    c("(<start.a> ?? 'd') === 0", True, start_a=0),
    c("(<start.a> ?? 'd') === 'd'", True, start_a=None),
    c("(<start.a> ?? 'd') === 'd'", True, start_a=MISSING),
    c("(<start.a> > 1 || <start.b>) === 'x'", True, start_a=0, start_b="x"),
    c("!<start.a>", False, start_a="0"),
    c("!!<start.a>", True, start_a={}),
    c("!(<start.a> > 1 && <start.b> < 1)", True, start_a=2, start_b=3),
    # conditional operator
    c("(<start.n> > 5 ? 'big' : 'small') === 'big'", True, start_n=6),
    c("<start.n> ? <start.a> : <start.b>", False, start_n=0, start_a=1, start_b=""),
    c("<start.n> > 10 ? false : <start.n> > 5 ? true : false", True, start_n=7),
    # arithmetic
    c("<start.n> * 2 + 1 === 21", True, start_n=10),
    c("(<start.a> + <start.b>) / 2 === 2.5", True, start_a=2, start_b=3),
    c("<start.n> % 3 === 1 && -7 % 3 === -1 && 5.5 % 2 === 1.5", True, start_n=10),
    c("-<start.n> === -5", True, start_n=5),
    c("+<start.s> === 42", True, start_s="42"),
    c("<start.n> / 0 > 1e308", True, start_n=1),
    c("0 / 0", False),
    c("<start.s> - 1 === 4", True, start_s="5"),
    c("<start.s> * 1", False, start_s="abc"),
    c("0.1 + 0.2 === 0.3", False),
    c("2 - -3 === 5", True),
    c("Infinity - Infinity", False),
    c("1 / Infinity === 0 && Infinity * -1 < 0", True),
    c("<start.n> % 0", False, start_n=5),
    # string concatenation
    c("<start.a> + <start.b> === '12'", True, start_a="1", start_b=2),
    c("'n=' + <start.n> === 'n=5'", True, start_n=5),
    c("1 + 2 + '3' === '33'", True),
    c("<start.arr> + '' === '1,2,3'", True, start_arr=[1, [2, 3]]),
    c("<start.x> + '!' === 'undefined!'", True, start_x=MISSING),
    c("null + 1 === 1 && true + 1 === 2", True),
    c("<start.o> + '' === '[object Object]'", True, start_o={}),
    c("'' + NaN + Infinity === 'NaNInfinity'", True),
    # truthiness
    c("[]", True),
    c("<start.v>", True, start_v={}),
    c("<start.v>", True, start_v=[]),
    c("<start.v>", False, start_v=""),
    c("<start.v>", False, start_v=0),
    c("<start.v>", True, start_v="0"),
    c("<start.v>", True, start_v=" "),
    c("<start.v>", True, start_v=-1),
    c("<start.v>", False, start_v=None),
    c("<start.v>", False, start_v=MISSING),
    c("<start.v>", False, start_v=False),
    c("<start.v>", True, start_v=[0]),
    c("NaN", False),
    c("undefined", False),
    c("Number('abc')", False),
    # typeof and functions
    c("typeof <start.v> === 'string'", True, start_v="x"),
    c("typeof <start.v> === 'undefined'", True, start_v=MISSING),
    c(
        "typeof <start.v> === 'object' && typeof <start.w> === 'object'",
        True,
        start_v=None,
        start_w=[1],
    ),
    c("typeof NaN === 'number' && typeof true === 'boolean'", True),
    c("Array.isArray(<start.v>)", True, start_v=[]),
    c("Array.isArray(<start.v>)", False, start_v={}),
    c("Number(<start.v>) === 12.5", True, start_v=" 12.5 "),
    c("Number(<start.v>) === 0", True, start_v=""),
    c("Number(<start.v>) === 255", True, start_v="0xff"),
    c("Number(<start.v>) === 7", True, start_v="007"),
    c("Number(<start.v>) === 0.5", True, start_v=".5"),
    c("Number(<start.v>) === -0.005", True, start_v="-5e-3"),
    c("Number(<start.v>) === 5", True, start_v="+5."),
    c("Number(<start.v>) > 1e300", True, start_v="Infinity"),
    c("Number(<start.v>) === 5", True, start_v=[5]),
    c("Number(<start.v>) === 1", True, start_v=True),
    c("Number(<start.v>) > 0", False, start_v="12px"),
    c("String(<start.v>) === '1,2'", True, start_v=[1, [2]]),
    c("String(<start.v>) === 'null'", True, start_v=None),
    c("String(<start.v>) === '1.5'", True, start_v=1.5),
    c("String(-Infinity) === '-Infinity'", True),
    c("Boolean(<start.v>) === false", True, start_v=""),
    # context
    c("context.result.score > 5", True, context={"result": {"score": 7}}),
    c("context.items.length === 2", True, context={"items": ["a", "b"]}),
    c("context?.missing?.deep === undefined", True, context={}),
    # layout: comments, line breaks, trailing semicolon
    c("<start.n> /* n */ > 1 // trailing", True, start_n=2),
    c("<start.n> > 1\n  && <start.n> < 3;", True, start_n=2),
    # what looks like a reference and what does not
    c("1 < 2 && 3 > 2", True),
    c("1<2 && 3>2", True),
    c("1 <5> 0", True),
]


def _ids() -> Iterator[str]:
    for case in CASES:
        values = ",".join(f"{k}={v!r}" for k, v in case.refs.items())
        yield f"{case.source} [{values}]"


def _resolve(inner: str) -> str:
    block, *path = inner.split(".")
    return "$b_" + block.replace(" ", "_") + "".join(f".`{p}`" for p in path)


def _jsonata_value(value: Any) -> Any:
    """jsonata-python reads a Python None inside data as "no value"; JSON null is its
    NULL_VALUE (jsonata.js has no such distinction to make)."""
    if value is None:
        return Utils.NULL_VALUE
    if isinstance(value, list):
        return [_jsonata_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonata_value(item) for key, item in value.items()}
    return value


def _bindings(case: Case) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for inner, value in case.refs.items():
        block, *path = inner.split(".")
        node = out.setdefault("b_" + block.replace(" ", "_"), {})
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if value is not MISSING:
            node[path[-1]] = _jsonata_value(value)
    if case.context is not MISSING:
        out["ctx"] = _jsonata_value(case.context)
    return out


def _js_program(case: Case) -> str:
    source = case.source
    for inner, value in case.refs.items():
        literal = "undefined" if value is MISSING else f"({json.dumps(value)})"
        source = source.replace(f"<{inner}>", literal)
    context = "undefined" if case.context is MISSING else json.dumps(case.context)
    # A direct eval takes the source as written (comments, a trailing ";") and sees
    # the function's local "context".
    return f"(function (context) {{ return Boolean(eval({json.dumps(source)})); }})({context})"


def _translate(case: Case) -> str:
    context = None if case.context is MISSING else "$ctx"
    return translate_condition(case.source, _resolve, context_expr=context)


@pytest.fixture(scope="module")
def v8() -> MiniRacer:
    return MiniRacer()


@pytest.mark.parametrize("case", CASES, ids=list(_ids()))
def test_matches_v8(case: Case, v8: MiniRacer) -> None:
    assert v8.eval(_js_program(case)) is case.expected, "the table disagrees with V8"
    result = Jsonata(_translate(case)).evaluate(None, bindings=_bindings(case))
    assert result is case.expected


def test_enough_cases() -> None:
    assert len(CASES) >= 60


# -- shape of the output ---------------------------------------------------------


def test_output_avoids_forbidden_step_functions_syntax() -> None:
    for case in CASES:
        out = _translate(case)
        assert "$$" not in out and "$eval" not in out
        assert not re.search(r"\$(?![A-Za-z_])", out), out


def test_output_is_deterministic() -> None:
    source = "(<a.x> || 'd') === 'd' && (<a.y> ?? 1) > 0 && <a.z>.includes(<a.w>)"
    assert translate_condition(source, _resolve) == translate_condition(source, _resolve)


def test_only_needed_helpers_are_defined() -> None:
    assert translate_condition("true", _resolve) == "true"
    assert translate_condition("<a.s> === 'x'", _resolve) == '(($b_a.`s`) = "x")'
    out = translate_condition("<a.s>.length > 1", _resolve)
    # comparing data with a number needs no general comparison helper
    assert "$__len :=" in out and "$__cmp :=" not in out and "$__inc :=" not in out
    assert out.count("$__len :=") == 1
    assert "$__cmp :=" in translate_condition("<a.s> > <a.t>", _resolve)


def test_number_comparison_fast_path_is_small_and_refuses_unclear_operands() -> None:
    from jsonata import Jsonata

    out = translate_condition("<start.n> > 10", lambda inner: "$n")
    assert len(out) < 800
    for value, expected in ((11, True), ("12", True), (" 9 ", False), ("", False), (None, False),
                            (True, False), ("Infinity", True), ("-Infinity", False), ("abc", False)):
        bound = {"n": Utils.NULL_VALUE if value is None else value}
        assert Jsonata(out).evaluate(None, bound) is expected, value
    with pytest.raises(Exception, match="convert it first"):
        Jsonata(out).evaluate(None, {"n": [11]})


def test_references_are_resolved_by_the_caller() -> None:
    seen: list[str] = []

    def resolve(inner: str) -> str:
        seen.append(inner)
        return "$x"

    translate_condition("<my agent.content>.includes(<start.q>) || <loop.index> === 2", resolve)
    assert seen == ["my agent.content", "start.q", "loop.index"]


def test_context_maps_to_the_given_expression() -> None:
    out = translate_condition("context.n > 1", _resolve, context_expr="$states.context")
    assert '$__get(($states.context), "n")' in out


def test_missing_values_never_raise() -> None:
    sources = [
        "<a.x>.y.z.length > 0",
        "<a.x>.includes('q') || <a.x>.trim() === '' || <a.x>[0] > 1",
        "<a.x>.indexOf(1) === -1 && <a.x>.toUpperCase() === undefined",
    ]
    for source in sources:
        # JavaScript would throw a TypeError here; the translation yields undefined.
        assert Jsonata(translate_condition(source, _resolve)).evaluate(None, bindings={}) is False


@pytest.mark.parametrize(
    ("source", "result"),
    [
        ("[1] === [1]", True),  # JavaScript: false (identity)
        ("String(0.1 + 0.2) === '0.3'", True),  # JavaScript: '0.30000000000000004'
        ("[undefined][0] === null", True),  # JavaScript: false
        ("'\U0001f600'.length === 1", True),  # JavaScript: 2 (UTF-16 code units)
        ("(5).includes(1)", False),  # JavaScript: TypeError
    ],
)
def test_documented_differences(source: str, result: bool) -> None:
    """The differences listed in docs/conditions.md, so that changing one is deliberate."""
    assert Jsonata(translate_condition(source, _resolve)).evaluate(None) is result


# -- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        ("undefinedVar > 1", ["unknown identifier 'undefinedVar'", "column 1"]),
        ("<a.n> > 1 && foo", ["unknown identifier 'foo'", "column 14"]),
        ("context.x", ["unknown identifier 'context'", "column 1"]),
        ("(x) => x > 1", ["'=>'", "column 5", "supported:"]),
        ("<a.n> = 5", ["assignment '='", "column 7", "'==='"]),
        ("<a.n> += 5", ["assignment '+='", "column 7"]),
        ("new Date() > 0", ["'new'", "column 1"]),
        ("<a.s>.repeat(2) === 'xx'", ["method '.repeat()'", "column 7", ".includes()"]),
        ('<a.s> === "abc', ["unterminated string", "column 11"]),
        ("<a.s> === 'abc\ndef'", ["unterminated string", "column 11"]),
        ("/ab+c/.test(<a.s>)", ["regular expression", "column 1"]),
        ("<a.o> === {a: 1}", ["object literal", "column 11"]),
        ("`x${<a.n>}` === 'x1'", ["template literal substitution", "column 3"]),
        ("2 ** 3 > 1", ["operator '**'", "column 3"]),
        ("<a.n> & 1", ["operator '&'", "column 7"]),
        ("'a' in <a.o>", ["'in'", "column 5"]),
        ("<a.n>, 1", ["comma operator", "column 6"]),
        ("parseInt(<a.s>) > 1", ["function 'parseInt()'", "column 1"]),
        ("Math.max(1, 2) > 1", ["function 'Math.max()'", "column 1"]),
        ("<a.f>?.()", ["optional call", "column 6"]),
        ("<a.x> ?? 1 || 2", ["cannot mix '??'", "column 12"]),
        ("<a.n> ? 1", ["unexpected end of expression", "column 10"]),
        ("[...<a.arr>]", ["spread", "column 2"]),
        ("<a.n>++", ["increment '++'", "column 6"]),
        ("10n > 1", ["BigInt", "column 1"]),
        ("<a.s>.includes('a', 1)", ["'.includes()' takes 1 argument", "column 7"]),
        ("", ["empty condition", "column 1"]),
        ("<a.n> > 1 &&\n  <a.s>.at(0)", ["method '.at()'", "line 2, column 9"]),
        ("<a.n> > 1 @", ["unexpected character '@'", "column 11"]),
    ],
)
def test_rejects_with_construct_and_column(source: str, fragments: list[str]) -> None:
    with pytest.raises(JsExprError) as info:
        translate_condition(source, _resolve)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_error_is_a_value_error_with_position() -> None:
    with pytest.raises(ValueError) as info:
        translate_condition("<a.n> > 1 &&\n  bad", _resolve)
    assert isinstance(info.value, JsExprError)
    assert (info.value.line, info.value.column) == (2, 3)
