"""The embedded engine's JSONata against plain jsonata-js in Node: the same answers.

AWS Step Functions evaluates JSONata with the JavaScript ``jsonata`` library; the embedded
engine runs that library in V8 (``stepweave.local.jsonata_eval``). This test evaluates the
expressions the compiler emits, over edge data, both ways and fails on any difference:

* locally: ``evaluate(expression, bindings)``, exactly as the engine calls it;
* the reference: ``jsonata(expression).evaluate(undefined, bindings)`` in one ``node``
  process for every case, the bindings parsed from the same JSON text, the result written
  with ``JSON.stringify``. Plain jsonata-js has no ``$parse``; the reference registers
  ``JSON.parse`` under that name.

The expressions are (1) every ``{% %}`` expression of the compiled example workflows, the
Sim conformance exports and an inline workflow using each typed coercion, with its
variables bound to edge data; (2) the compiler's condition translations
(``tests/unit/test_jsexpr.py``'s table, whose expected values come from V8 running the
JavaScript); (3) the primitives those idioms are built from, over every edge value.
An error is the same answer when both sides raise the same error code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest

from stepweave.compiler import compile_workflow
from stepweave.compiler.jsexpr import translate_condition
from stepweave.compiler.resolve import STR_HELPER
from stepweave.errors import WorkflowError
from stepweave.local.jsonata_eval import UNDEFINED, JSONataEvaluationError, evaluate, library_path
from stepweave.workflow.loader import load_workflow
from stepweave.workflow.loader import workflow_files
from tests.conftest import ROOT, sim_cases_dir
from tests.engine.helpers import compile_text
from tests.unit.test_jsexpr import CASES, MISSING

#: Values that have made JSONata implementations disagree, and plain ones.
EDGE_VALUES: list[Any] = [
    "5.", ".5", "-.5", "5", " 42 ", "-0", "007", "+5", "1e3", "1E-7", "1e400", "0x1F",
    "٥", "١٢", "５", "STRAßE", "İstanbul", "ǅ", "ÉCOLE", "", " ", "true", "True", " false",
    "null", '{"a": 1}', "[1, 2]", "[NaN]", '{"a": 0.1, "b": 1e-7}', "Infinity", "NaN",
    "a\"b'c", "tab\there", "emoji 😀", "line\u2028sep",
    0.1, 0.30000000000000004, 1e-06, 1e-7, 1e21, 123456789.12345678, 1234567890123456,
    2**53 + 1, 12345678901234567891, -0.0, 0, 1, -3, 2.5, True, False, None,
    [], {}, [1, "a", None, 0.1], {"a": {"b": 1.5, "é": "ü"}, "n": 2**60}, [[1, 2], [3]],
]

#: The primitives the compiler's idioms are built from (``$v`` is the edge value).
PRIMITIVES: list[str] = [
    "$number($v)", "$number($trim($v))", "$string($v)", '$string({"v": $v, "w": [$v, 0.1]})',
    "$string($v, true)", "$lowercase($v)", "$uppercase($v)", "$trim($v)", "$length($v)",
    r"$contains($v, /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/)",
    r"$contains($v, /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*(?![\s\S])/)",
    r"$contains($v, /\d/)", r"$contains($v, /\w/)", r'$replace($v, /\s+/, "_")',
    r"$split($v, /\s/)", "$parse($v)", "$boolean($v)", "$type($v)", "$exists($v)", "$not($v)",
    "$v = 5", '$v = "5"', "$v != null", "$v < 10", '$v > "a"', '$v & "|"', "$v + 1",
    "$v * 1000", "$round($v * 1000)", "$ceil($v)", "$floor($v)", "$abs($v)", "$sqrt($v)",
    '$v in [1, "a", null, 0.1]', "$sum([$v, 0.1])", "$count($v)", "$keys($v)", "$v.a",
    "$lookup($v, \"a\")", '$formatNumber($v, "#,##0.00")', "$substring($v, 0, 3)",
    "$substringBefore($v, \".\")", "$join([$string($v), \"x\"], \"-\")", "[$v][0]",
    '{"k": $v}', "$merge([{\"a\": 0}, $v])", "$append($v, [0.1])", "$reverse($v)",
    "$sort($v)", "$distinct($v)", "$v ? \"yes\" : \"no\"",
    STR_HELPER + " $__s($v)",
    '($__v := $v.x; $exists($__v) ? $__v : null)',
    '($type($v) = "string" and $substring($trim($v), 0, 1) in ["{", "["] ? $parse($v) : $v)',
    '($type($v) = "string" ? $lowercase($trim($v)) = "true" : $v)',
]

#: Functions whose answers differ between two calls by design.
_NONDETERMINISTIC = re.compile(r"\$(millis|now|uuid|random)\(")
#: Step Functions' own functions: not in plain jsonata-js, checked in test_jsonata_engine.py.
_AWS_ONLY = re.compile(r"\$(partition|range|hash|random|uuid|eval)\(")

_IDIOMS_WORKFLOW = """
name: idioms
blocks:
  - id: start
    type: start
    params:
      inputFormat:
        - {name: n, type: number}
        - {name: b, type: boolean}
        - {name: o, type: object}
        - {name: a, type: array}
        - {name: s, type: string}
  - id: vars
    type: variables
    params:
      variables:
        - {variableName: vn, value: "<start.n>", type: number}
        - {variableName: vb, value: "<start.b>", type: boolean}
        - {variableName: vo, value: "<start.o>", type: object}
        - {variableName: va, value: "<start.a>", type: array}
        - {variableName: vs, value: "<start.s> and <start.n>", type: string}
  - id: check
    type: condition
    params:
      conditions:
        - {id: big, title: if, value: "<start.n> > 10 && <start.s>.toLowerCase().includes('straße')"}
        - {id: other, title: else}
  - id: done
    type: response
    params:
      dataMode: structured
      builderData:
        - {name: n, type: number, value: "<start.n>"}
        - {name: b, type: boolean, value: "<start.b>"}
        - {name: o, type: object, value: "<start.o>"}
        - {name: text, type: string, value: "n=<start.n> s=<start.s> o=<start.o>"}
  - id: done2
    type: response
    params:
      data: {n: "<start.n>", text: "<start.s>!", o: "<start.o>", a: "<start.a>"}
edges:
  - start -> vars
  - vars -> check
  - check -[condition-big]-> done
  - check -[condition-other]-> done2
"""

_NODE_REFERENCE = r"""
const jsonata = require(process.env.JSONATA_JS);
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
function finite(v) {
  if (typeof v === 'number') return isFinite(v);
  if (Array.isArray(v)) return v.every(finite);
  if (v !== null && typeof v === 'object') return Object.keys(v).every(k => finite(v[k]));
  return true;
}
function parse(s) {  // JSON.parse, and JSON's numbers are finite ("1e400" is not one)
  if (s === undefined) return undefined;
  let v;
  try { v = JSON.parse(s); } catch (e) { throw {code: 'D3137', message: e.message}; }
  if (!finite(v)) throw {code: 'D3137', message: 'a number is out of range'};
  return v;
}
(async () => {
  const out = [], compiled = new Map();
  for (const c of cases) {
    try {
      let e = compiled.get(c.expr);
      if (!e) { e = jsonata(c.expr); e.registerFunction('parse', parse, '<s?:x>'); compiled.set(c.expr, e); }
      const r = await e.evaluate(undefined, JSON.parse(c.bindings));
      if (r === undefined) out.push({u: true});
      else if (!finite(r)) out.push({e: 'D1001'});
      else { const t = JSON.stringify(r); out.push(t === undefined ? {u: true} : {r: t}); }
    } catch (err) {
      out.push({e: (err && err.code) || ('JS ' + String(err && err.message || err))});
    }
  }
  process.stdout.write(JSON.stringify(out));
})();
"""


def _expressions(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        if value.startswith("{%") and value.endswith("%}"):
            out.append(value[2:-2].strip())
    elif isinstance(value, dict):
        for item in value.values():
            _expressions(item, out)
    elif isinstance(value, list):
        for item in value:
            _expressions(item, out)


def _assigned(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        out.update(value.get("Assign", {}) if isinstance(value.get("Assign"), dict) else {})
        for item in value.values():
            _assigned(item, out)
    elif isinstance(value, list):
        for item in value:
            _assigned(item, out)


def _compiled_definitions() -> list[dict[str, Any]]:
    sources = sorted(sim_cases_dir().glob("*.export.json")) + workflow_files(ROOT / "workflows")
    definitions = [compile_text(_IDIOMS_WORKFLOW).definition]
    for path in sources:
        try:
            definitions.append(compile_workflow(load_workflow(path), str(path)).definition)
        except WorkflowError:  # S07/S08 are refused at validation on purpose
            continue
    return definitions


def _identifiers(expression: str) -> list[str]:
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression) + re.findall(r'"([^"\\]{1,40})"', expression)
    return list(dict.fromkeys(names))[:60]


def _states(fields: dict[str, Any], value: Any) -> dict[str, Any]:
    cause = value if isinstance(value, str) else json.dumps({"errorMessage": value})
    return {"input": {**fields, "input": fields}, "result": fields,
            "errorOutput": {"Error": "States.TaskFailed", "Cause": cause},
            "context": {"Execution": {"Id": "arn:aws:states:us-east-1:1:execution:m:run-1",
                                      "Name": "run-1", "StartTime": "2024-11-27T00:23:19.123Z"},
                        "State": {"Name": "P", "EnteredTime": "2024-11-27T00:23:19.456Z",
                                  "RetryCount": 0},
                        "Map": {"Item": {"Index": 1, "Value": value}},
                        "Task": {"Token": "token-1"}}}


def _harvested_cases() -> list[tuple[str, dict[str, Any]]]:
    expressions: list[str] = []
    variables: set[str] = set()
    for definition in _compiled_definitions():
        _expressions(definition, expressions)
        _assigned(definition, variables)
    unique = [e for e in dict.fromkeys(expressions) if not _NONDETERMINISTIC.search(e)]
    assert not [e for e in unique if _AWS_ONLY.search(e)], "extend the reference for these"
    cases = []
    for i, expression in enumerate(unique):
        roots = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", expression)) & (variables | {"states"})
        for k in range(6):  # each expression over six edge values, all values over the whole set
            value = EDGE_VALUES[(i * 7 + k * 11) % len(EDGE_VALUES)]
            fields = {name: value for name in _identifiers(expression)}
            bindings: dict[str, Any] = {}
            for root in roots:
                if root == "states":
                    bindings[root] = _states(fields, value)
                elif root.startswith("t"):  # the time a block ended
                    bindings[root] = [None, 1732666999123, 1732666999124][k % 3]
                else:
                    bindings[root] = fields if k % 3 else value
            cases.append((expression, bindings))
    return cases


def _condition_cases() -> list[tuple[str, dict[str, Any], bool]]:
    def resolve(inner: str) -> str:
        block, *path = inner.split(".")
        return "$b_" + block.replace(" ", "_") + "".join(f".`{p}`" for p in path)

    cases = []
    for case in CASES:
        bindings: dict[str, Any] = {}
        for inner, value in case.refs.items():
            block, *path = inner.split(".")
            node = bindings.setdefault("b_" + block.replace(" ", "_"), {})
            for key in path[:-1]:
                node = node.setdefault(key, {})
            if value is not MISSING:
                node[path[-1]] = value
        context = None
        if case.context is not MISSING:
            bindings["ctx"], context = case.context, "$ctx"
        cases.append((translate_condition(case.source, resolve, context_expr=context), bindings,
                      case.expected))
    return cases


def _primitive_cases() -> list[tuple[str, dict[str, Any]]]:
    return [(expression, {"v": value}) for expression in PRIMITIVES for value in EDGE_VALUES]


def _local(expression: str, bindings: dict[str, Any]) -> tuple[str, str]:
    try:
        result = evaluate(expression, bindings)
    except JSONataEvaluationError as exc:
        return ("error", exc.code or str(exc))
    if result is UNDEFINED:
        return ("undefined", "")
    return ("value", json.dumps(result, ensure_ascii=False))


def _reference(cases: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the reference is jsonata-js running in Node")
    payload = json.dumps([{"expr": e, "bindings": json.dumps(b, ensure_ascii=False)}
                          for e, b in cases], ensure_ascii=False)
    proc = subprocess.run([node, "-e", _NODE_REFERENCE], input=payload, capture_output=True,
                          text=True, encoding="utf-8", timeout=300, check=False,
                          env={**os.environ, "JSONATA_JS": str(library_path())})
    assert proc.returncode == 0, proc.stderr
    out = []
    for row in json.loads(proc.stdout):
        if "u" in row:
            out.append(("undefined", ""))
        elif "e" in row:
            out.append(("error", row["e"]))
        else:
            out.append(("value", json.dumps(json.loads(row["r"]), ensure_ascii=False)))
    return out


def _differences(cases: list[tuple[str, dict[str, Any]]]) -> list[str]:
    reference = _reference(cases)
    problems = []
    for (expression, bindings), expected in zip(cases, reference, strict=True):
        got = _local(expression, bindings)
        if got != expected:
            problems.append(f"{expression[:160]!r} with {json.dumps(bindings)[:200]}: "
                            f"local {got}, jsonata-js {expected}")
    return problems


def test_compiled_expressions_answer_as_jsonata_js_does() -> None:
    cases = _harvested_cases()
    assert len({e for e, _ in cases}) >= 200, "the harvest found too few expressions"
    problems = _differences(cases)
    assert not problems, f"{len(problems)} of {len(cases)} differ:\n" + "\n".join(problems[:20])


def test_condition_translations_answer_as_jsonata_js_does_and_as_javascript() -> None:
    cases = _condition_cases()
    problems = _differences([(e, b) for e, b, _ in cases])
    assert not problems, f"{len(problems)} of {len(cases)} differ:\n" + "\n".join(problems[:20])
    wrong = [(e, b) for e, b, expected in cases if evaluate(e, b) is not expected]
    assert not wrong, f"{len(wrong)} translations disagree with JavaScript: {wrong[:3]}"


def test_primitives_over_edge_values_answer_as_jsonata_js_does() -> None:
    cases = _primitive_cases()
    problems = _differences(cases)
    assert not problems, f"{len(problems)} of {len(cases)} differ:\n" + "\n".join(problems[:20])


def test_the_reference_is_the_library_aws_documents() -> None:
    package = json.loads((library_path().parent / "package.json").read_text())
    assert package["name"] == "jsonata" and package["version"] == "2.0.6"
    root = json.loads((ROOT / "package.json").read_text())
    assert root["devDependencies"]["jsonata"] == "2.0.6"
