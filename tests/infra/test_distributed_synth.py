"""Distributed Maps in the template: the payload bucket substituted, the grants AWS asks for.

The app is synthesized once for the module from a folder holding a Standard workflow with a
10,000-item parallel (a distributed Map) and a small one (cdk-nag runs in the synth).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
cdk = pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from infra.app import build_app
from infra.stacks.engine import EngineStack

WIDE = """\
version: 1
name: wide
type: standard
blocks:
  - {id: start, type: start}
  - {id: par, type: parallel, params: {parallelType: count, count: 10000}}
  - {id: each, type: variables, parent: par, params: {variables: [{variableName: v, value: "<parallel.index>"}]}}
edges: [start -> par, "par -[parallel-start-source]-> each"]
"""
NARROW = WIDE.replace("name: wide", "name: narrow").replace("count: 10000", "count: 3")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workflows = tmp_path_factory.mktemp("workflows")
    for name, text in (("wide", WIDE), ("narrow", NARROW)):
        (workflows / f"{name}.yaml").write_text(text)
    app = build_app({"workflowsDir": str(workflows)}, outdir=str(tmp_path_factory.mktemp("out")))
    assembly = app.synth()
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    result: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
    return result


def _machine(template: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in template["Resources"].values()
                if r["Type"] == "AWS::StepFunctions::StateMachine"
                and r["Properties"]["StateMachineName"] == name)


def _statements(template: dict[str, Any], machine: dict[str, Any]) -> list[dict[str, Any]]:
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    return [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in r["Properties"]["Roles"]
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for s in statements:
        found.update([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    return found


def test_the_payload_bucket_is_substituted(template: dict[str, Any]) -> None:
    wide = _machine(template, "dev-wide")
    assert "${PayloadBucket}" in json.dumps(wide["Properties"]["DefinitionString"])
    assert "PayloadBucket" in wide["Properties"]["DefinitionSubstitutions"]


def test_a_distributed_map_may_run_its_own_children_and_write_results(template: dict[str, Any]) -> None:
    statements = _statements(template, _machine(template, "dev-wide"))
    assert {"states:StartExecution", "states:DescribeExecution", "states:StopExecution",
            "states:DescribeMapRun", "s3:PutObject", "s3:GetObject"} <= _actions(statements)
    start = next(s for s in statements if s["Action"] == "states:StartExecution"
                 or "states:StartExecution" in s["Action"])
    assert "stateMachine:dev-wide" in json.dumps(start["Resource"])
    put = next(s for s in statements if "s3:PutObject" in s["Action"])
    assert "stepweave-map-results/*" in json.dumps(put["Resource"])


def test_a_workflow_without_one_gets_none_of_it(template: dict[str, Any]) -> None:
    narrow = _machine(template, "dev-narrow")
    assert "PayloadBucket" not in (narrow["Properties"].get("DefinitionSubstitutions") or {})
    assert not {"states:StartExecution", "s3:PutObject"} & _actions(_statements(template, narrow))
