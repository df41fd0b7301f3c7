"""Sub-workflow blocks: a nested state machine execution on the embedded engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler import compile_workflow
from stepweave.errors import WorkflowError
from stepweave.local.engine import LocalEngine
from stepweave.local.records import LocalRecords
from stepweave.runtime.history import block_runs
from stepweave.runtime.settings import Settings
from stepweave.workflow.loader import load_workflow
from tests.engine.sim_export import block, edge, export, function, start, write

DOUBLE = """
version: 1
name: double
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: twice, name: Twice, type: function, params: {code: "return <start.n> * 2"}}
edges: ["start -> twice"]
"""
BOOM = """
version: 1
name: boom
blocks:
  - {id: start, type: start}
  - {id: explode, name: Explode, type: function, params: {code: "throw 'kaboom'"}}
edges: ["start -> explode"]
"""


def _parent(child: str, *, error_edge: bool = False, name: str = "parent") -> str:
    text = f"""
version: 1
name: {name}
blocks:
  - {{id: start, type: start, params: {{inputFormat: [{{name: n, type: number}}]}}}}
  - {{id: child, name: Child, type: workflow, params: {{workflow: {child}, input: '{{"n": <start.n>}}'}}}}
  - {{id: after, name: After, type: function, params: {{code: "return <child.result>"}}}}
edges: ["start -> child", "child -> after"]
"""
    if error_edge:
        text = text.replace('edges: ["start -> child", "child -> after"]', """
  - {id: handle, name: Handle, type: function, params: {code: "return <child.error>"}}
edges: ["start -> child", "child -> after", "child -[error]-> handle"]""")
    return text


def _folder(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def _run(path: Path, payload: Any) -> tuple[Any, list[str]]:
    compiled = compile_workflow(load_workflow(path), str(path))
    with LocalEngine() as engine:
        result = engine.run(compiled, payload, timeout_s=60)
    return result, [r.name for r in block_runs(result.events, compiled.manifest())]


def test_the_child_runs_as_a_nested_execution(tmp_path: Path) -> None:
    folder = _folder(tmp_path, double=DOUBLE, parent=_parent("double"))
    compiled = compile_workflow(load_workflow(folder / "parent.yaml"), str(folder / "parent.yaml"))
    task = compiled.definition["States"]["Child"]
    assert task["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert task["Arguments"]["StateMachineArn"] == "${StateMachine_double}"
    assert compiled.workflow_type == "STANDARD" and list(compiled.children) == ["double"]
    result, ran = _run(folder / "parent.yaml", {"n": 4})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": {"result": 8, "stdout": ""}, "stdout": ""}
    assert ran == ["start", "Child", "After"]
    child_out = next(e for e in result.events if e["type"] == "TaskSucceeded")
    assert json.loads(child_out["taskSucceededEventDetails"]["output"])["Status"] == "SUCCEEDED"


def test_a_failed_child_takes_the_error_edge(tmp_path: Path) -> None:
    folder = _folder(tmp_path, boom=BOOM, parent=_parent("boom", error_edge=True))
    result, ran = _run(folder / "parent.yaml", {"n": 1})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": 'Error in child workflow "boom": Explode: kaboom',
                             "stdout": ""}
    assert "After" not in ran


def test_a_failed_child_without_error_edge_fails_the_run(tmp_path: Path) -> None:
    folder = _folder(tmp_path, boom=BOOM, parent=_parent("boom"))
    result, _ = _run(folder / "parent.yaml", {"n": 1})
    assert result.status == "FAILED"
    assert result.cause == 'Child: Error in child workflow "boom": Explode: kaboom'


@pytest.mark.parametrize(("files", "message"), [
    ({"parent": _parent("nope")}, "no workflow named 'nope'"),
    ({"parent": _parent("other"), "other": _parent("parent", name="other")},
     "sub-workflows form a cycle: parent -> other -> parent"),
    ({"parent": _parent("parent")}, "sub-workflows form a cycle: parent -> parent"),
])
def test_missing_children_and_cycles_are_validation_errors(tmp_path: Path, files: dict[str, str],
                                                           message: str) -> None:
    folder = _folder(tmp_path, **files)
    with pytest.raises(WorkflowError) as info:
        compile_workflow(load_workflow(folder / "parent.yaml"), str(folder / "parent.yaml"))
    assert message in info.value.report()


def test_sim_exports_refer_to_children_by_workflow_id(tmp_path: Path) -> None:
    child = export([start(n="number"), function("twice", "return <start.n> * 2", "Twice")],
                   [edge("start", "twice")], "doubler")
    child["workflow"] = {"id": "wf-7f3a", "name": "doubler", "description": ""}
    write(tmp_path, child, "doubler.json")
    parent = export([start(n="number"),
                     block("sub", "workflow", "Sub", workflowId="wf-7f3a",
                           input='{"n": <start.n>}'),
                     function("after", "return <sub.result.result> + 1", "After")],
                    [edge("start", "sub"), edge("sub", "after")], "caller")
    result, ran = _run(write(tmp_path, parent, "caller.json"), {"n": 5})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": 11, "stdout": ""}
    assert ran == ["Start", "Sub", "After"]


def test_nested_runs_are_recorded_with_their_parent_as_trigger(tmp_path: Path) -> None:
    from stepweave.runtime.query import get_execution, list_executions

    folder = _folder(tmp_path, double=DOUBLE, parent=_parent("double"))
    compiled = compile_workflow(load_workflow(folder / "parent.yaml"), str(folder / "parent.yaml"))
    with LocalEngine(records_file=tmp_path / "records.db") as engine:
        result = engine.run(compiled, {"n": 3}, timeout_s=60)
        assert result.status == "SUCCEEDED", result.cause
        ddb, settings = engine.records.ddb, engine.records.settings
        (child,) = list_executions(ddb, settings, workflow="double").items
        (parent,) = list_executions(ddb, settings, workflow="parent").items
        detail = get_execution(ddb, settings, child.execution_arn)
    assert parent.execution_arn == result.execution_arn and parent.trigger == {"type": "local"}
    assert child.status == "succeeded" and json.loads(child.output or "") == {"result": 6, "stdout": ""}
    assert child.trigger == {"type": "workflow", "workflow": "parent", "block": "Child",
                             "executionId": result.execution_arn}
    # the child's own blocks are logged under its record, its input as the block gave it
    assert detail is not None and [b.name for b in detail.blocks] == ["start", "Twice"]
    assert json.loads(child.input or "")["n"] == 3
    # and they persist for `stepweave executions` like any other run
    with LocalRecords.open(Settings(), tmp_path / "records.db") as store:
        stored = list_executions(store.ddb, store.settings).items
    assert {r.execution_arn for r in stored} >= {child.execution_arn, result.execution_arn}


def test_an_input_given_as_a_mapping_reaches_the_child_with_the_trigger(tmp_path: Path) -> None:
    echo = DOUBLE.replace("name: double", "name: echo").replace(
        'code: "return <start.n> * 2"', 'code: "return [<start.n> * 2, <start.trigger.block>]"')
    parent = _parent("echo").replace("""input: '{"n": <start.n>}'""", "input: {n: <start.n>}")
    result, _ = _run(_folder(tmp_path, echo=echo, parent=parent) / "parent.yaml", {"n": 5})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": {"result": [10, "Child"], "stdout": ""}, "stdout": ""}
