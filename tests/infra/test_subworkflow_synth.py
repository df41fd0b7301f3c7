"""Sub-workflows in the template: the child's ARN substituted, least-privilege grants.

The app is synthesized once for the module from a folder holding a parent workflow that
runs a child, the child, and an unrelated workflow (cdk-nag runs in the synth).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
cdk = pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from stepweave.errors import WorkflowError

from infra.app import build_app
from infra.stacks.engine import EngineStack

CHILD = """\
version: 1
name: child-flow
blocks:
  - {id: start, type: start}
  - {id: step, type: function, name: Step, params: {code: "return 1;"}}
edges: [start -> step]
"""
PARENT = """\
version: 1
name: parent
blocks:
  - {id: start, type: start}
  - {id: sub, type: workflow, name: Sub, params: {workflow: child-flow, input: {a: 1}}}
edges: [start -> sub]
"""
OTHER = CHILD.replace("child-flow", "other")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[EngineStack, dict[str, Any]]:
    workflows = tmp_path_factory.mktemp("workflows")
    for name, text in (("parent", PARENT), ("child", CHILD), ("other", OTHER)):
        (workflows / f"{name}.yaml").write_text(text)
    app = build_app({"workflowsDir": str(workflows)}, outdir=str(tmp_path_factory.mktemp("out")))
    assembly = app.synth()
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    return stack, assembly.get_stack_by_name(stack.stack_name).template


def _machine(template: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in template["Resources"].values()
                if r["Type"] == "AWS::StepFunctions::StateMachine"
                and r["Properties"]["StateMachineName"] == name)


def _policy(template: dict[str, Any], machine: dict[str, Any]) -> list[dict[str, Any]]:
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    return [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in r["Properties"]["Roles"]
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def _text(value: Any) -> str:
    return json.dumps(value)


def test_the_child_arn_is_substituted(synth: tuple[EngineStack, dict[str, Any]]) -> None:
    _, template = synth
    parent = _machine(template, "dev-parent")
    subs = parent["Properties"]["DefinitionSubstitutions"]
    assert "stateMachine:dev-child-flow" in _text(subs["StateMachine_child_flow"])
    assert "${StateMachine_child_flow}" in _text(parent["Properties"]["DefinitionString"])


def test_the_parent_may_start_only_its_child(synth: tuple[EngineStack, dict[str, Any]]) -> None:
    _, template = synth
    statements = _policy(template, _machine(template, "dev-parent"))
    start = [s for s in statements if "states:StartExecution" in _text(s["Action"])]
    assert len(start) == 1 and "stateMachine:dev-child-flow" in _text(start[0]["Resource"])
    assert "dev-other" not in _text(statements)
    executions = next(s for s in statements if "states:DescribeExecution" in _text(s["Action"]))
    assert sorted(executions["Action"]) == ["states:DescribeExecution", "states:StopExecution"]
    assert "execution:dev-child-flow:*" in _text(executions["Resource"])
    events = next(s for s in statements if "events:PutRule" in _text(s["Action"]))
    assert "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule" in _text(events["Resource"])
    # the child itself starts nothing
    child = _policy(template, _machine(template, "dev-child-flow"))
    assert "states:StartExecution" not in _text(child)


def test_a_missing_child_stops_the_synth(tmp_path: Path) -> None:
    (tmp_path / "parent.yaml").write_text(PARENT)
    with pytest.raises(WorkflowError) as info:
        build_app({"workflowsDir": str(tmp_path)}, outdir=str(tmp_path / "out"))
    assert "no workflow named 'child-flow'" in info.value.report()
