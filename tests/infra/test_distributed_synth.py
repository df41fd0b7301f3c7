"""Distributed Maps in the template: the payload bucket substituted, the grants AWS asks for.

The app is synthesized once for the module from a folder holding a Standard workflow with a
10,000-item parallel (a distributed Map, Express children), a chunked loop (Standard children)
and a small parallel (cdk-nag runs in the synth).
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
from stepweave.compiler.distributed import distributed_maps
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
CHUNKY = """\
version: 1
name: chunky
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: L, name: Lap, type: loop, params: {loopType: forEach, collection: "<start.items>", mode: distributed}}
  - {id: nxt, type: function, parent: L, params: {code: "return 1"}}
edges: [start -> L, "L -[loop-start-source]-> nxt"]
"""
#: a chunked loop, then an approval: the notifier's pause snapshot reads the loop's chunks
ASKING = CHUNKY.replace("name: chunky", "name: asking").replace(
    'edges: [start -> L, "L -[loop-start-source]-> nxt"]',
    """  - {id: ask, type: approval, params: {form: [{name: ok, type: boolean}], approvers: [a@example.com]}}
edges: [start -> L, "L -[loop-start-source]-> nxt", L -> ask]""")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workflows = tmp_path_factory.mktemp("workflows")
    for name, text in (("wide", WIDE), ("narrow", NARROW), ("chunky", CHUNKY), ("asking", ASKING)):
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


def _recorder_statements(template: dict[str, Any], description: str = "Stepweave recorder") -> list[dict[str, Any]]:
    """The statements of the role of the function whose description starts with ``description``."""
    recorder = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                    and str(r["Properties"].get("Description", "")).startswith(description))
    role = recorder["Properties"]["Role"]["Fn::GetAtt"][0]
    return [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in r["Properties"]["Roles"]
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def _resources(statements: list[dict[str, Any]], action: str) -> list[str]:
    """Each resource granted ``action`` (ARNs rendered with their tokens as JSON)."""
    return [json.dumps(r, sort_keys=True) for s in statements
            if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
            for r in ([s["Resource"]] if not isinstance(s["Resource"], list) else s["Resource"])]


def _label(template: dict[str, Any], name: str) -> str:
    """The Label of the workflow's one distributed Map."""
    [(label, _kind)] = distributed_maps(json.loads(_machine(template, name)["Properties"]["DefinitionString"]))
    return label


def test_the_recorder_may_list_each_maps_children_and_read_only_what_they_need(template: dict[str, Any]) -> None:
    statements = _recorder_statements(template)
    wide, chunky = _label(template, "dev-wide"), _label(template, "dev-chunky")
    listed = _resources(statements, "states:ListExecutions")
    assert len(listed) == 3  # wide's, chunky's and asking's
    assert [f":mapRun:dev-chunky/{chunky}:*" in r for r in listed].count(True) == 1
    assert [f":mapRun:dev-wide/{wide}:*" in r for r in listed].count(True) == 1
    assert sorted(_resources(statements, "states:DescribeMapRun")) == sorted(listed)  # and counted
    # a Standard child's history (the chunked loop's), not the Express ones' (no history)
    histories = [r for r in _resources(statements, "states:GetExecutionHistory") if "/" in r]
    assert [f":execution:dev-chunky/{chunky}:*" in r for r in histories].count(True) == 1
    assert not any(f":execution:dev-wide/" in r for r in histories)
    # an Express child's events: the parent's log group, named by its DescribeStateMachine
    described = _resources(statements, "states:DescribeStateMachine")
    wide_machine = next(k for k, r in template["Resources"].items()
                        if r["Type"] == "AWS::StepFunctions::StateMachine"
                        and r["Properties"]["StateMachineName"] == "dev-wide")
    assert json.dumps({"Ref": wide_machine}, sort_keys=True) in described
    wide_group = _machine(template, "dev-wide")["Properties"]["LoggingConfiguration"]["Destinations"][0][
        "CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert json.dumps(wide_group, sort_keys=True) in _resources(statements, "logs:FilterLogEvents")
    for name in ("dev-narrow", "dev-chunky"):
        machine = next(k for k, r in template["Resources"].items()
                       if r["Type"] == "AWS::StepFunctions::StateMachine"
                       and r["Properties"]["StateMachineName"] == name)
        assert json.dumps({"Ref": machine}, sort_keys=True) not in described
    assert not any("dev-narrow/" in r for r in listed + histories)


def test_a_parent_with_express_children_logs_every_event_with_its_data(template: dict[str, Any]) -> None:
    def logging(name: str) -> tuple[str, bool]:
        config = _machine(template, name)["Properties"]["LoggingConfiguration"]
        return config["Level"], config["IncludeExecutionData"]

    assert logging("dev-wide") == ("ALL", True)  # its children's blocks are read from it
    assert logging("dev-chunky") == logging("dev-narrow") == ("ERROR", False)


def test_the_approval_notifier_may_read_the_maps_of_workflows_that_ask_and_no_other(
        template: dict[str, Any]) -> None:
    # its pause snapshot reads the chunks the loop ran before the approval
    statements = _recorder_statements(template, "Stepweave approval notifier")
    asking = _label(template, "dev-asking")
    listed = _resources(statements, "states:ListExecutions")
    assert len(listed) == 1 and f":mapRun:dev-asking/{asking}:*" in listed[0]
    assert _resources(statements, "states:DescribeMapRun") == listed
    histories = [r for r in _resources(statements, "states:GetExecutionHistory") if "/" in r]
    assert len(histories) == 1 and f":execution:dev-asking/{asking}:*" in histories[0]
