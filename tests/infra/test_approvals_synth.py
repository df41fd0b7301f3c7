"""Approvals, deployed: the notifier, decision and sweeper functions, their exact grants
(only the decision function answers task tokens), the SES identity, the CSRF secret, the
sweep schedule and the stuck-approvals alarm. One synth for the module."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
cdk = pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from infra.app import build_app
from infra.constructs.approvals import STUCK_METRIC
from infra.stacks.engine import EngineStack

SENDER = "approvals@example.com"
REFUNDS = """\
name: refunds
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}]}}
  - {id: ask, name: Approval, type: approval,
     params: {display: {amount: "<start.amount>"}, approvers: [lead@example.com],
              form: [{name: approved, type: boolean, required: true}], timeoutSeconds: 3600}}
  - {id: done, name: Done, type: function, params: {code: "return <approval.approved>"}}
edges: [start -> ask, ask -> done]
"""
PLAIN = """\
name: plain
blocks:
  - {id: start, type: start}
  - {id: f, name: F, type: function, params: {code: "return 1"}}
edges: [start -> f]
"""


NOTIFY = """
              notify: [{tool: slack, params: {text: "Refund waits: <approval.url>"}},
                       {tool: email, params: {to: ops@example.com, subject: Refund, body: "<approval.url>",
                                              from: refunds@example.com}}],"""


def _synth(tmp: Path, context: dict[str, Any], refunds: str = REFUNDS) -> tuple[EngineStack, dict[str, Any]]:
    workflows = tmp / "workflows"
    workflows.mkdir()
    (workflows / "refunds.yaml").write_text(refunds)
    (workflows / "plain.yaml").write_text(PLAIN)
    app = build_app({"workflowsDir": str(workflows), **context}, outdir=str(tmp / "out"))
    assembly = app.synth()  # cdk-nag runs here: an unacknowledged finding fails the synth
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    return stack, assembly.get_stack_by_name(stack.stack_name).template


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[EngineStack, dict[str, Any]]:
    return _synth(tmp_path_factory.mktemp("approvals"), {"approverEmailSender": SENDER})


def _logical_id(stack: EngineStack, construct: Any) -> str:
    element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
    return str(stack.resolve(element.logical_id))


def _statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            and {"Ref": role_id} in r["Properties"]["Roles"]
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}


def test_only_the_decision_function_answers_task_tokens(synth: tuple[EngineStack, dict[str, Any]]) -> None:
    stack, template = synth
    approvals = stack.approvals
    assert approvals is not None
    roles = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    answering = [r for r in roles if {"states:SendTaskSuccess", "states:SendTaskFailure"}
                 & _actions(_statements(template, r))]
    assert answering == [_logical_id(stack, approvals.decision.role)]
    (grant,) = [s for s in _statements(template, answering[0])
                if "states:SendTaskSuccess" in _actions([s])]
    refunds = stack.workflows["refunds"].state_machine
    assert grant["Resource"] == {"Ref": _logical_id(stack, refunds)}  # that workflow only


def test_the_refunds_state_machine_invokes_the_notifier(synth: tuple[EngineStack, dict[str, Any]]) -> None:
    stack, template = synth
    approvals = stack.approvals
    assert approvals is not None
    machine = template["Resources"][_logical_id(stack, stack.workflows["refunds"].state_machine)]
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert substitutions["Handler_approval"] == {
        "Fn::GetAtt": [_logical_id(stack, approvals.notifier), "Arn"]}
    plain = stack.workflows["plain"].compiled
    assert "approval" not in plain.handlers


def test_notifier_grants_and_environment(synth: tuple[EngineStack, dict[str, Any]]) -> None:
    stack, template = synth
    approvals = stack.approvals
    assert approvals is not None
    props = template["Resources"][_logical_id(stack, approvals.notifier)]["Properties"]
    env = props["Environment"]["Variables"]
    assert env["STEPWEAVE_APPROVAL_SENDER"] == SENDER and "STEPWEAVE_APPROVAL_DELIVERY" not in env
    actions = _actions(_statements(template, _logical_id(stack, approvals.notifier.role)))
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
                       "xray:PutTelemetryRecords", "dynamodb:PutItem", "dynamodb:UpdateItem",
                       "dynamodb:GetItem", "dynamodb:BatchWriteItem", "s3:GetObject", "ses:SendEmail",
                       "states:GetExecutionHistory"}
    # the manifests are bundled beside it, for the block logs it writes at a pause
    assert env["STEPWEAVE_MANIFESTS_DIR"] == "manifests"
    identities = [r for r in template["Resources"].values() if r["Type"] == "AWS::SES::EmailIdentity"]
    assert [i["Properties"]["EmailIdentity"] for i in identities] == [SENDER]


def test_the_csrf_key_is_a_generated_secret_only_the_decision_reads(
        synth: tuple[EngineStack, dict[str, Any]]) -> None:
    stack, template = synth
    approvals = stack.approvals
    assert approvals is not None
    secret_id = _logical_id(stack, approvals.csrf_secret)
    secret = template["Resources"][secret_id]["Properties"]
    assert "SecretString" not in secret and "GenerateSecretString" in secret
    env = template["Resources"][_logical_id(stack, approvals.decision)]["Properties"]["Environment"]["Variables"]
    assert env["STEPWEAVE_CSRF_SECRET_ARN"] == {"Ref": secret_id} and "STEPWEAVE_CSRF_SECRET" not in env
    readers = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"
               and "secretsmanager:GetSecretValue" in _actions(_statements(template, k))]
    assert readers == [_logical_id(stack, approvals.decision.role)]


def test_sweep_schedule_and_stuck_alarm(synth: tuple[EngineStack, dict[str, Any]]) -> None:
    stack, template = synth
    approvals = stack.approvals
    assert approvals is not None
    rules = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"
             and r["Properties"].get("ScheduleExpression")]
    assert [r["ScheduleExpression"] for r in rules] == ["rate(15 minutes)"]
    assert rules[0]["Targets"][0]["Arn"] == {"Fn::GetAtt": [_logical_id(stack, approvals.sweeper), "Arn"]}
    alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
              and r["Properties"].get("MetricName") == STUCK_METRIC]
    assert len(alarms) == 1 and alarms[0]["Threshold"] == 1 and alarms[0]["AlarmActions"]
    sweeper = _actions(_statements(template, _logical_id(stack, approvals.sweeper.role)))
    assert "states:DescribeExecution" in sweeper and "states:SendTaskSuccess" not in sweeper


def test_without_a_sender_approvals_deploy_without_email_and_notify_tools_get_their_grants(
        tmp_path: Path) -> None:
    stack, template = _synth(tmp_path, {}, REFUNDS.replace(" timeoutSeconds: 3600}}",
                                                           NOTIFY + " timeoutSeconds: 3600}}"))
    approvals = stack.approvals
    assert approvals is not None and approvals.notify_tools == ["email", "slack"]
    props = template["Resources"][_logical_id(stack, approvals.notifier)]["Properties"]
    env = props["Environment"]["Variables"]
    assert env["STEPWEAVE_APPROVAL_DELIVERY"] == "none" and "STEPWEAVE_APPROVAL_SENDER" not in env
    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::SES::EmailIdentity"]
    # the notify tools: exactly the secrets they name (slack's default webhook URL), and the
    # email tool's SES
    assert env["STEPWEAVE_SECRETS_BACKEND"] == "ssm" and env["STEPWEAVE_SECRETS_PREFIX"] == "/stepweave/dev/"
    assert props["Timeout"] == 300
    statements = _statements(template, _logical_id(stack, approvals.notifier.role))
    (ssm,) = [s for s in statements if "ssm:GetParameter" in _actions([s])]
    assert _actions([ssm]) == {"ssm:GetParameter"}
    assert str(ssm["Resource"]).endswith(":parameter/stepweave/dev/SLACK_WEBHOOK_URL']]}")
    (ses,) = [s for s in statements if "ses:SendEmail" in _actions([s])]
    assert "identity/*" in str(ses["Resource"])
    # the state machine passes the tools with the approval's links as stand-ins
    machine = template["Resources"][_logical_id(stack, stack.workflows["refunds"].state_machine)]
    assert "[[stepweave:url]]" in str(machine["Properties"]["DefinitionString"])


def test_the_api_routes_decisions_to_the_decision_function_and_links_point_at_it(
        synth: tuple[EngineStack, dict[str, Any]]) -> None:
    stack, template = synth
    approvals = stack.approvals
    assert approvals is not None and stack.api is not None
    resources = template["Resources"]
    def path_of(ref: Any) -> str:
        if "Fn::GetAtt" in ref:  # the root resource
            return ""
        resource = resources[ref["Ref"]]["Properties"]
        return f"{path_of(resource['ParentId'])}/{resource['PathPart']}"

    decision = _logical_id(stack, approvals.decision)
    routed = set()
    for method in (r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method"):
        uri = method.get("Integration", {}).get("Uri", {})
        if decision in str(uri):
            routed.add((method["HttpMethod"], path_of(method["ResourceId"])))
    assert routed == {("GET", "/approvals/{id}"), ("POST", "/approvals/{id}"),
                      ("GET", "/v1/approvals"), ("POST", "/v1/approvals/{id}/decision")}
    env = resources[_logical_id(stack, approvals.notifier)]["Properties"]["Environment"]["Variables"]
    assert _logical_id(stack, stack.api.api) in str(env["STEPWEAVE_PUBLIC_URL"])
