"""Triggers in the template: the webhook ingest, schedules and event rules, least privilege.

The app is synthesized once for the module from a workflows folder holding a Standard
workflow that declares all three trigger types, an Express workflow with a webhook and a
workflow without triggers. cdk-nag runs in the synth (an unacknowledged finding raises);
cfn-lint checks the templates.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
cdk = pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from infra.app import build_app
from infra.constructs.triggers import INGEST_TABLE_ACTIONS, MAX_EVENT_AGE, RETRY_ATTEMPTS
from infra.stacks.engine import EngineStack
from stepweave.triggers.fire import schedule_run_input, transform
from stepweave.triggers.declare import ScheduleTrigger
from stepweave.workflow.loader import parse_workflow, parse_yaml

ORDERS = """\
version: 1
name: orders
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: orderId, type: string}]}}
  - {id: step, type: function, name: Step, params: {code: "return 1;"}}
edges: [start -> step]
triggers:
  - type: webhook
    signature: {scheme: stripe, secret: STRIPE_WEBHOOK_SECRET}
    inputMapping: {orderId: body.data.object.id}
  - type: schedule
    name: weekdays
    cron: "0 9 * * 1-5"
    timezone: Europe/Paris
    input: {report: daily}
  - type: schedule
    name: every-5
    rate: 5 minutes
    enabled: false
  - type: event
    source: com.example.orders
    detailType: OrderPlaced
    detail: {amount: [{numeric: [">", 100]}]}
    inputMapping: {orderId: detail.id}
"""
SIGNUP = """\
version: 1
name: signup
blocks:
  - {id: start, type: start}
  - {id: step, type: function, name: Step, params: {code: "return 1;"}}
edges: [start -> step]
triggers:
  - {type: webhook, signature: {scheme: hmac, secret: SIGNUP_SECRET, prefix: "sha256="}}
"""
QUIET = """\
version: 1
name: quiet
blocks:
  - {id: start, type: start}
  - {id: step, type: function, name: Step, params: {code: "return 1;"}}
edges: [start -> step]
"""
SECRET_VALUE = "whsec_must_never_reach_a_template"


def _trigger(name: str) -> ScheduleTrigger:
    (found,) = [t for t in parse_workflow(parse_yaml(ORDERS), "orders.yaml").triggers if t.label == name]
    assert isinstance(found, ScheduleTrigger)
    return found


@dataclass(frozen=True)
class Synth:
    stack: EngineStack
    template: dict[str, Any]
    outdir: Path

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def logical_id(self, construct: Any) -> str:
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        return str(cdk.Stack.of(element).resolve(element.logical_id))

    def statements(self, role: Any) -> list[dict[str, Any]]:
        ref = {"Ref": self.logical_id(role)}
        return [s for p in self.resources("AWS::IAM::Policy").values() if ref in p["Properties"]["Roles"]
                for s in p["Properties"]["PolicyDocument"]["Statement"]]

    def machine(self, workflow: str) -> dict[str, str]:
        return {"Ref": self.logical_id(self.stack.workflows[workflow].state_machine)}

    def alias(self, workflow: str) -> dict[str, Any]:
        """The workflow's `live` alias (what its triggers start)."""
        return {"Fn::GetAtt": [self.logical_id(self.stack.workflows[workflow].alias), "Arn"]}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    workflows = tmp_path_factory.mktemp("workflows")
    for name, text in (("orders", ORDERS), ("signup", SIGNUP), ("quiet", QUIET)):
        (workflows / f"{name}.yaml").write_text(text)
    outdir = tmp_path_factory.mktemp("cdk.out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STRIPE_WEBHOOK_SECRET", SECRET_VALUE)
        app = build_app({"workflowsDir": str(workflows)}, outdir=str(outdir))
        assembly = app.synth()
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    return Synth(stack, assembly.get_stack_by_name(stack.stack_name).template, outdir)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return sorted(action if isinstance(action, list) else [action])


# --- webhook ingest ----------------------------------------------------------------------------

def test_the_ingest_function_is_exposed_for_the_api(synth: Synth) -> None:
    fn = synth.stack.triggers.ingest_function
    assert fn is not None
    props = synth.template["Resources"][synth.logical_id(fn)]["Properties"]
    assert props["Handler"] == "handler.lambda_handler"
    env = props["Environment"]["Variables"]
    assert env["STEPWEAVE_SECRETS_BACKEND"] == "ssm"
    assert env["STEPWEAVE_SECRETS_PREFIX"] == "/stepweave/dev/"
    assert "STEPWEAVE_TABLE" in env


def test_the_ingest_starts_only_workflows_with_a_webhook(synth: Synth) -> None:
    fn = synth.stack.triggers.ingest_function
    assert fn is not None and fn.role is not None
    statements = synth.statements(fn.role)
    starts = [s for s in statements if any(a.startswith("states:") for a in _actions(s))]
    assert all(_actions(s) == ["states:StartExecution"] for s in starts)
    resources = [r for s in starts for r in (s["Resource"] if isinstance(s["Resource"], list)
                                             else [s["Resource"]])]
    assert sorted(map(json.dumps, resources)) == sorted(
        json.dumps(synth.machine(w)) for w in ("orders", "signup"))
    table = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    assert [_actions(s) for s in table] == [sorted(INGEST_TABLE_ACTIONS)]
    assert "index" not in json.dumps(table) and "*" not in json.dumps(table)
    ssm = [s for s in statements if any(a.startswith("ssm:") for a in _actions(s))]
    assert [_actions(s) for s in ssm] == [["ssm:GetParameter"]]
    # exactly the signing secrets the webhooks name: no path wildcard
    resources = json.dumps(ssm[0]["Resource"])
    assert "*" not in resources
    assert sorted(re.findall(r":parameter/stepweave/dev/(\w+)", resources)) == [
        "SIGNUP_SECRET", "STRIPE_WEBHOOK_SECRET"]


def test_the_ingest_asset_lists_the_webhook_targets_without_secret_values(synth: Synth) -> None:
    files = list(synth.outdir.glob("asset.*/webhooks.json"))
    assert len(files) == 1
    document = json.loads(files[0].read_text())
    assert sorted(document) == ["orders", "signup"]
    assert document["orders"]["stateMachine"] == "dev-orders:live"  # its `live` alias
    assert document["orders"]["trigger"]["signature"] == {"scheme": "stripe",
                                                          "secret": "STRIPE_WEBHOOK_SECRET"}
    assert document["signup"]["type"] == "EXPRESS"
    everything = "".join(p.read_text() for p in synth.outdir.glob("*.json")) + files[0].read_text()
    assert SECRET_VALUE not in everything


# --- schedules ---------------------------------------------------------------------------------

def test_schedules_start_their_state_machine_with_a_defined_input(synth: Synth) -> None:
    schedules = synth.resources("AWS::Scheduler::Schedule")
    by_expression = {s["Properties"]["ScheduleExpression"]: s["Properties"] for s in schedules.values()}
    assert sorted(by_expression) == ["cron(0 9 ? * MON-FRI *)", "rate(5 minutes)"]
    weekdays = by_expression["cron(0 9 ? * MON-FRI *)"]
    assert weekdays["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert weekdays["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert weekdays["State"] == "ENABLED"
    assert by_expression["rate(5 minutes)"]["State"] == "DISABLED"
    target = weekdays["Target"]
    assert target["Arn"] == synth.alias("orders")
    assert json.loads(target["Input"]) == {"report": "daily", "trigger": {
        "type": "schedule", "workflow": "orders", "name": "weekdays",
        "scheduledTime": "<aws.scheduler.scheduled-time>", "executionId": "<aws.scheduler.execution-id>"}}
    # what `stepweave run --trigger weekdays` starts with is this input, attributes filled in
    moment = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    local = schedule_run_input("orders", _trigger("weekdays"), now=moment, execution_id="x-1")
    filled = target["Input"].replace("<aws.scheduler.scheduled-time>", "2025-03-03T08:00:00Z")
    assert local == json.loads(filled.replace("<aws.scheduler.execution-id>", "x-1"))
    queue = synth.stack.triggers.dead_letter_queue
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [synth.logical_id(queue), "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": int(MAX_EVENT_AGE.to_seconds()),
                                     "MaximumRetryAttempts": RETRY_ATTEMPTS}


def test_each_schedule_has_its_own_role_that_starts_only_its_state_machine(synth: Synth) -> None:
    roles = {k: r for k, r in synth.stack.triggers.roles.items() if k.startswith("Schedule-")}
    assert len(roles) == 2
    for role in roles.values():
        trust = synth.template["Resources"][synth.logical_id(role)]["Properties"]["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
        assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]
        statements = synth.statements(role)
        starts = [s for s in statements if _actions(s) == ["states:StartExecution"]]
        assert [s["Resource"] for s in starts] == [synth.machine("orders")]
        assert all(_actions(s) in (["states:StartExecution"],
                                   ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"])
                   for s in statements)


# --- event rules ---------------------------------------------------------------------------------

def test_event_rules_match_the_pattern_and_transform_the_input(synth: Synth) -> None:
    rules = [r["Properties"] for r in synth.resources("AWS::Events::Rule").values()
             if r["Properties"].get("EventPattern", {}).get("source") == ["com.example.orders"]]
    (rule,) = rules
    assert rule["EventPattern"] == {"source": ["com.example.orders"], "detail-type": ["OrderPlaced"],
                                    "detail": {"amount": [{"numeric": [">", 100]}]}}
    assert "EventBusName" not in rule  # the default bus
    (target,) = rule["Targets"]
    assert target["Arn"] == synth.alias("orders")
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"]["f0"] == "$.detail.id"
    # what EventBridge produces for an event (values inserted as JSON), as `stepweave run
    # --event` applies it
    event = {"id": "e-1", "time": "2025-01-01T00:00:00Z", "source": "com.example.orders",
             "detail-type": "OrderPlaced", "detail": {"id": "o-1", "amount": 120}}
    assert transform(transformer["InputPathsMap"], transformer["InputTemplate"], event) == {
        "orderId": "o-1", "trigger": {
        "type": "event", "workflow": "orders", "name": "event", "source": "com.example.orders",
        "detailType": "OrderPlaced", "eventId": "e-1", "time": "2025-01-01T00:00:00Z"}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == RETRY_ATTEMPTS
    assert "DeadLetterConfig" in target
    role = synth.stack.triggers.roles["Event-orders-event"]
    assert target["RoleArn"] == {"Fn::GetAtt": [synth.logical_id(role), "Arn"]}
    assert [s["Resource"] for s in synth.statements(role)] == [synth.machine("orders")]


def test_eventbridge_may_write_to_the_dead_letter_queue_for_its_rule_only(synth: Synth) -> None:
    queue = synth.stack.triggers.dead_letter_queue
    ref = {"Ref": synth.logical_id(queue)}
    (policy,) = [p["Properties"] for p in synth.resources("AWS::SQS::QueuePolicy").values()
                 if ref in p["Properties"]["Queues"]]
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    rule = synth.stack.triggers.rules["Event-orders-event"]
    assert allows == [{"Action": "sqs:SendMessage", "Effect": "Allow",
                       "Principal": {"Service": "events.amazonaws.com"},
                       "Resource": {"Fn::GetAtt": [synth.logical_id(queue), "Arn"]},
                       "Condition": {"ArnEquals": {"aws:SourceArn": {
                           "Fn::GetAtt": [synth.logical_id(rule), "Arn"]}}}}]


def test_a_workflow_without_triggers_gets_no_schedule_rule_or_start_grant(synth: Synth) -> None:
    quiet = json.dumps(synth.machine("quiet"))
    for type_ in ("AWS::Scheduler::Schedule", "AWS::Events::Rule"):
        assert quiet not in json.dumps(synth.resources(type_))
    triggers = synth.stack.triggers
    roles = [*triggers.roles.values(), triggers.ingest_function.role]  # type: ignore[union-attr]
    starts = [s for role in roles for s in synth.statements(role)
              if "states:StartExecution" in _actions(s)]
    assert starts and quiet not in json.dumps(starts)


def test_cfn_lint_finds_no_errors(synth: Synth) -> None:
    exe = Path(sys.executable).with_name("cfn-lint")
    if not exe.exists():
        pytest.skip("cfn-lint is not installed")
    templates = sorted(str(p) for p in synth.outdir.glob("*.template.json"))
    result = subprocess.run([str(exe), "--format", "json", *templates], capture_output=True,
                            text=True, check=False, timeout=120)
    assert not result.returncode & 1, result.stderr
    errors = [f for f in json.loads(result.stdout or "[]") if f["Level"] == "Error"
              and not (f["Rule"]["Id"] == "E1029" and f["Location"]["Path"][-1] == "DefinitionString")]
    assert not errors, [f["Message"] for f in errors]
