"""Execution histories on the embedded engine: read incrementally and answered fast, with
exactly the events (and shapes) moto's own ``GetExecutionHistory`` gives; definitions
parsed once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from moto.core.serialize import JSONSerializer, XFormedAttributePicker
from moto.core.utils import get_service_model
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from stepweave.compiler import compile_workflow
from stepweave.local import moto_adapter, moto_history
from stepweave.local.engine import ACCOUNT, REGION, LocalEngine, Progress
from stepweave.runtime.recorder import fetch_history
from stepweave.workflow.loader import load_workflow
from tests.engine.helpers import compile_text

pytestmark = pytest.mark.usefixtures("engine")

#: Lambda tasks, a failure caught by an error edge, a parallel (Map), a loop (Choice
#: back-edge), a condition, variables, a wait and a response: most kinds of history event.
MIXED = """
name: history-mix
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array, value: [1, 2, 3]}]}}
  - {id: a, name: A, type: function, params: {code: "return <start.items>.length"}}
  - {id: bad, name: Bad, type: function, params: {code: "throw new Error('nope \\"quoted\\"')"}}
  - {id: caught, name: Caught, type: function, params: {code: "return <bad.error>"}}
  - {id: P, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>"}}
  - {id: p, name: Item, type: function, parent: P, params: {code: "return <parallel.currentItem> * 10"}}
  - {id: L, name: Count, type: loop, params: {loopType: for, count: 2}}
  - {id: l, name: Step, type: function, parent: L, params: {code: "return <loop.index>"}}
  - {id: v, name: Vars, type: variables, params: {variables: [{variableName: total, value: "<a.result>"}]}}
  - {id: w, name: Pause, type: wait, params: {timeValue: "1", timeUnit: seconds}}
  - {id: c, name: Check, type: condition,
     params: {conditions: [{id: big, title: if, value: "<a.result> > 2"}, {id: else, title: else}]}}
  - {id: yes, name: Yes, type: response, params: {data: {ok: true, fan: "<fan.results>"}}}
  - {id: no, name: No, type: response, params: {data: {ok: false}}}
edges: [start -> a, a -> bad, "bad -[error]-> caught", caught -> P, "P -[parallel-start-source]-> p",
        "P -[parallel-end-source]-> L", "L -[loop-start-source]-> l", "L -[loop-end-source]-> v",
        v -> w, w -> c, "c -[condition-big]-> yes", "c -[condition-else]-> no"]
"""
CHILD = """
version: 1
name: double
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: twice, name: Twice, type: function, params: {code: "return <start.n> * 2"}}
edges: ["start -> twice"]
"""
PARENT = """
version: 1
name: parent
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: child, name: Child, type: workflow, params: {workflow: double, input: '{"n": <start.n>}'}}
  - {id: after, name: After, type: function, params: {code: "return <child.result>"}}
edges: ["start -> child", "child -> after"]
"""


def _moto_operation() -> Any:
    """The operation model moto serializes its answers with (moto's own shape classes)."""
    return get_service_model("stepfunctions").operation_model(moto_history.OPERATION)


def _moto_serialized(sfn: Any, execution_arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The history as moto's own serializer writes it (the JSON body) and as a client then
    reads it."""
    output = stepfunctions_parser_backends[ACCOUNT][REGION].get_execution_history(execution_arn)
    serializer = JSONSerializer(operation_model=_moto_operation(), value_picker=XFormedAttributePicker())
    body = serializer.serialize(output)["body"]
    parsed = create_parser("json").parse(
        {"body": body.encode(), "headers": {}, "status_code": 200},
        sfn.meta.service_model.operation_model(moto_history.OPERATION).output_shape)
    return json.loads(body), parsed["events"]


def _check_history(engine: LocalEngine, execution_arn: str, events: list[dict[str, Any]]) -> None:
    body, expected = _moto_serialized(engine.sfn, execution_arn)
    raw = stepfunctions_parser_backends[ACCOUNT][REGION].get_execution_history(execution_arn)
    assert json.loads(moto_history.write_events(raw["events"], _moto_operation().output_shape)) == body
    assert fetch_history(engine.sfn, execution_arn) == expected  # the API, answered fast
    assert events == expected  # what the run read, incrementally
    for since in (0, 1, len(expected) // 2, len(expected) - 1, len(expected), len(expected) + 5):
        assert moto_history.events_since(engine.sfn, execution_arn, since) == expected[since:]


def test_a_runs_events_are_those_moto_serializes(engine: LocalEngine) -> None:
    seen: list[Progress] = []
    result = engine.run(compile_text(MIXED), {}, on_progress=seen.append)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["data"]["fan"][0] == [{"result": 10, "stdout": ""}]
    types = {e["type"] for e in result.events}
    assert {"LambdaFunctionFailed", "MapIterationStarted", "ChoiceStateEntered", "WaitStateExited",
            "LambdaFunctionSucceeded", "ExecutionSucceeded"} <= types
    _check_history(engine, result.execution_arn, result.events)
    # progress was read as the run went: every state's start and end, the failure too
    assert [p.state for p in seen if p.kind == "failed"]
    assert sum(p.kind == "started" for p in seen) == sum(e["type"].endswith("StateEntered")
                                                        for e in result.events)


def test_a_failed_run_and_a_run_without_progress_read_the_same_events(engine: LocalEngine) -> None:
    compiled = compile_text("""
name: history-fail
blocks:
  - {id: start, type: start}
  - {id: bad, name: Bad, type: function, params: {code: "throw 'kaboom'"}}
edges: [start -> bad]
""")
    quiet = engine.run(compiled, {})
    loud = engine.run(compiled, {}, on_progress=lambda _: None)
    assert quiet.status == loud.status == "FAILED"
    assert [e["type"] for e in quiet.events] == [e["type"] for e in loud.events]
    _check_history(engine, quiet.execution_arn, quiet.events)
    _check_history(engine, loud.execution_arn, loud.events)


def test_nested_executions_histories(tmp_path: Path) -> None:
    (tmp_path / "double.yaml").write_text(CHILD, encoding="utf-8")
    (tmp_path / "parent.yaml").write_text(PARENT, encoding="utf-8")
    compiled = compile_workflow(load_workflow(tmp_path / "parent.yaml"), str(tmp_path / "parent.yaml"))
    with LocalEngine() as engine:
        result = engine.run(compiled, {"n": 4}, timeout_s=60)
        assert result.status == "SUCCEEDED", result.cause
        assert any(e["type"] == "TaskSucceeded" for e in result.events)
        _check_history(engine, result.execution_arn, result.events)
        children = [execution["executionArn"] for machine in engine.machines
                    for execution in engine.sfn.list_executions(stateMachineArn=machine)["executions"]
                    if execution["executionArn"] != result.execution_arn]
        assert len(children) == 1
        _check_history(engine, children[0], fetch_history(engine.sfn, children[0]))


def test_an_unknown_execution_is_reported_as_moto_reports_it(engine: LocalEngine) -> None:
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:nope:nope"
    with pytest.raises(engine.sfn.exceptions.ExecutionDoesNotExist):
        engine.sfn.get_execution_history(executionArn=arn)


def test_a_definition_is_parsed_once(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[str] = []
    real = moto_adapter._moto_parse  # noqa: SLF001

    def counting(definition: str) -> Any:
        parses.append(definition)
        return real(definition)

    monkeypatch.setattr(moto_adapter, "_moto_parse", counting)
    compiled = compile_text("""
name: parsed-once
blocks:
  - {id: start, type: start}
  - {id: a, name: A, type: variables, params: {variables: [{variableName: x, value: "1"}]}}
edges: [start -> a]
""")
    for _ in range(3):  # each run creates its state machine (a parse to validate) and executes it
        assert engine.run(compiled, {}).status == "SUCCEEDED"
    assert len(parses) == 1


def test_each_parse_gives_a_fresh_program_and_the_kept_trees_are_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = '{"StartAt": "a", "States": {"a": {"Type": "Pass", "End": true}}}'
    second = '{"StartAt": "b", "States": {"b": {"Type": "Pass", "End": true}}}'
    program, tree = moto_adapter._parse(first)  # noqa: SLF001
    again, same_tree = moto_adapter._parse(first)  # noqa: SLF001
    assert again is not program and same_tree is tree  # an execution's program holds its state
    monkeypatch.setattr(moto_adapter, "PARSE_CACHE_CHARS", len(second))
    moto_adapter._parse(second)  # noqa: SLF001
    assert first not in moto_adapter._trees and second in moto_adapter._trees  # noqa: SLF001


def test_a_definition_that_does_not_parse_is_still_refused(engine: LocalEngine) -> None:
    for _ in range(2):  # nothing is kept of it
        with pytest.raises(ClientError, match="ASLParserException"):
            engine.sfn.create_state_machine(
                name="broken", definition='{"StartAt": "a", "States": {"a": {"Type": "Nope"}}}',
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/x")
