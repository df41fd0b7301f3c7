"""Sim conditions outside the native subset run in the V8 sandbox, with their own meaning.

Constructed Sim exports (condition blocks, while/doWhile loops) whose expressions use
arrow functions, regular expressions, template literals, spread... are compiled as
``stepweave run`` would and executed on the embedded engine with the real ``function``
handler.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler import compile_workflow
from stepweave.errors import WorkflowError
from stepweave.local.engine import LocalEngine
from stepweave.runtime.history import block_runs
from stepweave.workflow.loader import load_workflow
from tests.engine.sim_export import block, edge, export, function, start, write


def _condition(rows: list[tuple[str, str]]) -> dict[str, Any]:
    conditions = [{"id": f"check-{key}", "title": "else" if key == "else" else
                   ("if" if i == 0 else "else if"), "value": value}
                  for i, (key, value) in enumerate(rows)]
    return block("check", "condition", "Check", conditions=json.dumps(conditions))


def _routed(rows: list[tuple[str, str]], *, error_edge: bool = False,
            **fields: str) -> dict[str, Any]:
    blocks = [start(**fields), _condition(rows)]
    edges = [edge("start", "check")]
    for key, _value in rows:
        blocks.append(function(f"on-{key}", f'return "{key}"', f"On {key}"))
        edges.append(edge("check", f"on-{key}", f"condition-check-{key}"))
    if error_edge:
        blocks.append(function("oops", "return <check.error>", "Oops"))
        edges.append(edge("check", "oops", "error"))
    return export(blocks, edges, "js-conditions")


def _run(tmp_path: Path, doc: dict[str, Any], payload: Any) -> tuple[Any, list[str], Any]:
    compiled = compile_workflow(load_workflow(write(tmp_path, doc)), "js-conditions.json")
    with LocalEngine() as engine:
        result = engine.run(compiled, payload)
    return result, [r.name for r in block_runs(result.events, compiled.manifest())], compiled


VIP = [("if", "<start.items>.some(x => x.vip)"), ("else", "")]


@pytest.mark.parametrize(("items", "taken"), [
    ([{"vip": False}, {"vip": True}], "if"),
    ([{"vip": False}], "else"),
])
def test_arrow_function_condition(tmp_path: Path, items: Any, taken: str) -> None:
    result, ran, compiled = _run(tmp_path, _routed(VIP, items="array"), {"items": items})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": taken, "stdout": ""}
    assert set(ran) == {"Start", "Check", f"On {taken}"}
    task = compiled.definition["States"]["Check"]
    assert task["Type"] == "Task" and "function" in compiled.handlers
    # the value is bound, not pasted into the code
    assert "<start.items>" not in task["Arguments"]["params"]["code"]


@pytest.mark.parametrize(("payload", "taken"), [
    ({"n": 500, "id": "x"}, "big"),  # the first row (native-translatable) still comes first
    ({"n": 1, "id": "ord-42"}, "order"),
    ({"n": 1, "id": "ord-4x"}, "tpl"),
    ({"n": 1, "id": "zzz"}, "else"),
])
def test_rows_are_evaluated_in_order(tmp_path: Path, payload: Any, taken: str) -> None:
    rows = [("big", "<start.n> > 100"),
            ("order", r"/^ord-\d+$/.test(<start.id>)"),
            ("tpl", "`${<start.id>}`.startsWith(`ord`)"),
            ("else", "")]
    result, ran, _ = _run(tmp_path, _routed(rows, n="number", id="string"), payload)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": taken, "stdout": ""}
    assert ran.count("Check") == 1


def test_values_cannot_change_the_code(tmp_path: Path) -> None:
    rows = [("if", "[<start.s>].some(v => v === 'x\"); return true; (\"')"), ("else", "")]
    result, _, _ = _run(tmp_path, _routed(rows, s="string"), {"s": "x'); return true; ('"})
    assert result.output == {"result": "else", "stdout": ""}
    result, _, _ = _run(tmp_path, _routed(rows, s="string"), {"s": "x\"); return true; (\""})
    assert result.output == {"result": "if", "stdout": ""}


def test_evaluation_error_takes_the_error_edge(tmp_path: Path) -> None:
    rows = [("if", "<start.items>.some(x => x.missing.deep)"), ("else", "")]
    result, ran, _ = _run(tmp_path, _routed(rows, error_edge=True, items="array"), {"items": [{}]})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["result"] == ('Evaluation error in condition "if": Cannot read '
                                       "properties of undefined (reading 'deep')")
    assert "On if" not in ran and "On else" not in ran


def test_evaluation_error_without_error_edge_fails_the_run(tmp_path: Path) -> None:
    rows = [("if", "JSON.parse(<start.s>).ok"), ("else", "")]
    result, _, _ = _run(tmp_path, _routed(rows, s="string"), {"s": "{not json"})
    assert result.status == "FAILED"
    assert result.cause.startswith('Check: Evaluation error in condition "if": ')
    assert "JSON" in result.cause


@pytest.mark.parametrize(("expr", "message"), [
    ("<start.s>.some(x => )", "SyntaxError"),
    ("undefinedVar.some(x => x)", "undefinedVar"),
])
def test_what_cannot_run_is_a_validation_error(tmp_path: Path, expr: str, message: str) -> None:
    path = write(tmp_path, _routed([("if", expr), ("else", "")], s="string"))
    with pytest.raises(WorkflowError) as info:
        compile_workflow(load_workflow(path), str(path))
    assert message in info.value.report()


def _loop(data: dict[str, Any]) -> dict[str, Any]:
    return export(
        [start(),
         block("lp", "loop", "Lp", data={"loopType": data.pop("loopType"), **data}),
         function("body", "return <loop.index>", "Body", parent="lp"),
         function("after", "return <lp.results>.length", "After")],
        [edge("start", "lp"), edge("lp", "body", "loop-start-source"),
         edge("lp", "after", "loop-end-source")], "js-loop")


@pytest.mark.parametrize(("data", "iterations"), [
    ({"loopType": "while", "whileCondition": "[...Array(3).keys()].includes(<loop.index>)"}, 3),
    # <loop.index> is the next index; an evaluation error is false (the loop ends)
    ({"loopType": "doWhile", "doWhileCondition": 'String(<loop.index>).padStart(2, "0") !== "02"'}, 2),
    ({"loopType": "while", "whileCondition": "<body.result>.toFixed(0) !== '1' || [].x.y"}, 0),
])
def test_loop_conditions_in_the_sandbox(tmp_path: Path, data: dict[str, Any],
                                        iterations: int) -> None:
    result, ran, compiled = _run(tmp_path, _loop(dict(data)), {})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": iterations, "stdout": ""}
    assert ran.count("Body") == iterations
    assert "function" in compiled.handlers
