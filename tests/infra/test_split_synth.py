"""A split workflow in the template (``split: auto``): the Standard parent, its Express
stretch's state machine and the version the parent runs, least-privilege grants.

The app is synthesized once for the module (cdk-nag runs in the synth) from a folder
holding support-timeline with ``split: auto``.
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

from infra.app import build_app
from infra.stacks.engine import EngineStack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workflows = tmp_path_factory.mktemp("workflows")
    text = (ROOT / "workflows" / "support-timeline.yaml").read_text(encoding="utf-8")
    (workflows / "support-timeline.yaml").write_text(text.replace("\nblocks:\n", "\nsplit: auto\nblocks:\n", 1))
    app = build_app({"workflowsDir": str(workflows)}, outdir=str(tmp_path_factory.mktemp("out")))
    assembly = app.synth()
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    return dict(assembly.get_stack_by_name(stack.stack_name).template)


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


def test_the_stretch_is_an_express_machine_logged_and_traced(template: dict[str, Any]) -> None:
    parent = _machine(template, "dev-support-timeline")
    stretch = _machine(template, "dev-support-timeline-express-1")
    assert parent["Properties"]["StateMachineType"] == "STANDARD"
    assert stretch["Properties"]["StateMachineType"] == "EXPRESS"
    assert stretch["Properties"]["LoggingConfiguration"]["Level"] == "ALL"
    assert stretch["Properties"]["TracingConfiguration"] == {"Enabled": True}
    assert "waitForTaskToken" not in _text(stretch["Properties"]["DefinitionString"])
    assert "waitForTaskToken" in _text(parent["Properties"]["DefinitionString"])


def test_the_parent_runs_the_stretch_version_deployed_with_it(template: dict[str, Any]) -> None:
    parent = _machine(template, "dev-support-timeline")
    versions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachineVersion"
                and "Express stretch" in r["Properties"].get("Description", "")}
    (version_id,) = versions
    assert parent["Properties"]["DefinitionSubstitutions"]["StateMachine__1"] == {"Fn::GetAtt": [version_id, "Arn"]}
    assert versions[version_id]["DeletionPolicy"] == "Retain"


def test_grants_are_least_privilege(template: dict[str, Any]) -> None:
    statements = _policy(template, _machine(template, "dev-support-timeline"))
    start = [s for s in statements if "states:StartExecution" in _text(s["Action"])]
    # a version's start is authorized against the unqualified ARN (not ``:*``), and only
    # the stretch's: never the parent itself or another workflow
    assert len(start) == 1
    resource = _text(start[0]["Resource"])
    assert resource.endswith(":stateMachine:dev-support-timeline-express-1") or \
        "stateMachine:dev-support-timeline-express-1\"" in resource, resource
    assert "express-1:*" not in resource and "dev-support-timeline\"" not in resource
    executions = next(s for s in statements if "states:DescribeExecution" in _text(s["Action"]))
    assert sorted(executions["Action"]) == ["states:DescribeExecution", "states:StopExecution"]
    assert "execution:dev-support-timeline-express-1:*" in _text(executions["Resource"])
    stretch = _policy(template, _machine(template, "dev-support-timeline-express-1"))
    invoked = _text([s["Resource"] for s in stretch if "lambda:InvokeFunction" in _text(s["Action"])])
    assert "Handlersapi" in invoked and "Handlersfunction" in invoked and "Handlersapproval" not in invoked
    assert "states:StartExecution" not in _text(stretch)
    # its checkpoints (a redrive resumes it where it failed): its own workflow's folder only
    (checkpoints,) = [s for s in stretch if "s3:" in _text(s["Action"])]
    assert sorted(checkpoints["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert _text(checkpoints["Resource"]).endswith('"/stepweave-checkpoints/support-timeline/*"]]}')
    definition = _text(_machine(template, "dev-support-timeline-express-1")["Properties"])
    assert "stepweave-checkpoints/support-timeline/" in definition and "${PayloadBucket}" in definition


def _recorder_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    (recorder,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                   and "Stepweave recorder" in r["Properties"].get("Description", "")]
    role = recorder["Properties"]["Role"]["Fn::GetAtt"][0]
    return [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in r["Properties"]["Roles"]
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def test_the_stretch_logs_its_execution_data_which_only_the_recorder_may_read(
        template: dict[str, Any]) -> None:
    """Express executions have no history: the recorder reads a stretch's blocks back from
    its log (every event, with execution data), on that log group and nothing else."""
    stretch = _machine(template, "dev-support-timeline-express-1")
    logging = stretch["Properties"]["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", True)
    group = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert group["Fn::GetAtt"][1] == "Arn"
    parent = _machine(template, "dev-support-timeline")
    assert parent["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] is False

    statements = _recorder_statements(template)
    reads = [s for s in statements if "logs:FilterLogEvents" in _text(s["Action"])]
    assert [(s["Action"], s["Resource"]) for s in reads] == [("logs:FilterLogEvents", group)]
    assert not any(_text(group) in _text(s["Resource"]) for s in statements if s is not reads[0])
    (describe,) = [s for s in statements if "states:DescribeStateMachine" in _text(s["Action"])]
    stretch_id = next(k for k, r in template["Resources"].items() if r is stretch)
    assert (describe["Action"], describe["Resource"]) == ("states:DescribeStateMachine", {"Ref": stretch_id})
    # the recorder is not subscribed to the stretch's log group (its runs are the parent's)
    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::SubscriptionFilter"
                and r["Properties"]["LogGroupName"] == {"Ref": group["Fn::GetAtt"][0]}]


def test_the_approval_notifier_reads_the_stretch_logs_too(template: dict[str, Any]) -> None:
    """At a pause it writes the blocks so far, those of the stretch before the approval too."""
    (notifier,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                   and "Approvals" in _text(r["Properties"]["Role"]) and "notif" in _text(r).lower()
                   and "STEPWEAVE_MANIFESTS_DIR" in _text(r["Properties"].get("Environment"))]
    role = notifier["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                  and {"Ref": role} in r["Properties"]["Roles"]
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    stretch = _machine(template, "dev-support-timeline-express-1")
    group = stretch["Properties"]["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert [s["Resource"] for s in statements if s["Action"] == "logs:FilterLogEvents"] == [group]
    stretch_id = next(k for k, r in template["Resources"].items() if r is stretch)
    assert [s["Resource"] for s in statements if "states:DescribeStateMachine" in _as_list(s["Action"])] == [
        {"Ref": stretch_id}]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_approval_runs_the_stretch_before_it_with_least_privilege(template: dict[str, Any]) -> None:
    """A lead-in (``stepweave.runtime.lead_in``): the notifier starts the stretch before the
    approval (StartSyncExecution on that stretch's unqualified ARN, which authorizes its
    versions, and nothing else), answers that workflow's task tokens when the run failed or
    ended in it, and may run through an Express execution's 5 minutes."""
    (notifier,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                   and "Approvals" in _text(r["Properties"]["Role"]) and "notif" in _text(r).lower()
                   and "STEPWEAVE_MANIFESTS_DIR" in _text(r["Properties"].get("Environment"))]
    assert notifier["Properties"]["Timeout"] == 660
    role = notifier["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                  and {"Ref": role} in r["Properties"]["Roles"]
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    stretch_id = next(k for k, r in template["Resources"].items()
                      if r is _machine(template, "dev-support-timeline-express-1"))
    parent_id = next(k for k, r in template["Resources"].items()
                     if r is _machine(template, "dev-support-timeline"))
    # (CDK merges the statements on the same resource: DescribeStateMachine names its log group)
    starts = [s for s in statements if "states:StartSyncExecution" in _text(s["Action"])]
    assert [(sorted(_as_list(s["Action"])), s["Resource"]) for s in starts] == [
        (["states:DescribeStateMachine", "states:StartSyncExecution"], {"Ref": stretch_id})]
    assert not [s for s in statements if "states:StartExecution" in _text(s["Action"])]
    answers = [s for s in statements if "states:SendTaskSuccess" in _text(s["Action"])]
    assert len(answers) == 1 and sorted(answers[0]["Action"]) == ["states:SendTaskFailure", "states:SendTaskSuccess"]
    # the parent named, not referenced: it invokes the notifier (a reference would be a cycle)
    assert _text(answers[0]["Resource"]).endswith(':stateMachine:dev-support-timeline"]]}')
    assert parent_id not in _text(statements)
    # what the stretch did, kept for a redrive when the request failed: its workflow's folder
    (kept,) = [s for s in statements if "s3:PutObject" in _text(s["Action"])]
    assert sorted(_as_list(kept["Action"])) == ["s3:DeleteObject", "s3:PutObject"]
    assert _text(kept["Resource"]).endswith('"/stepweave-checkpoints/support-timeline/*"]]}')
    parent = json.loads(_text(_machine(template, "dev-support-timeline")["Properties"]["DefinitionString"]))
    assert "Approve refund" in _text(parent) and "stretch" in _text(parent)
