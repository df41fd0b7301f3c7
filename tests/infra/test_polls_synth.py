"""Poll triggers in the template: the poller function and one schedule per poll trigger,
least privilege.

The app is synthesized once for the module from a workflows folder holding a workflow with
an RSS poll and a Gmail poll, and a workflow without triggers. cdk-nag runs in the synth
(an unacknowledged finding raises); cfn-lint checks the template.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
cdk = pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from infra.app import build_app
from infra.constructs.pollers import POLLER_TABLE_ACTIONS
from infra.stacks.engine import EngineStack

NEWS = """\
version: 1
name: news
blocks:
  - {id: start, type: start}
  - {id: step, type: function, name: Step, params: {code: "return 1;"}}
edges: [start -> step]
triggers:
  - {type: poll, name: headlines, provider: rss, feedUrl: "https://news.example/feed.xml", rate: 1 minute}
  - {type: poll, name: inbox, provider: gmail, rate: 5 minutes, enabled: false}
  - {type: poll, name: orders, provider: outlook, credential: NEWS_OUTLOOK_CREDENTIAL}
"""
QUIET = """\
version: 1
name: quiet
blocks:
  - {id: start, type: start}
  - {id: step, type: function, name: Step, params: {code: "return 1;"}}
edges: [start -> step]
"""
SECRET_VALUE = "ya29.must_never_reach_a_template"


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


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    workflows = tmp_path_factory.mktemp("workflows")
    for name, text in (("news", NEWS), ("quiet", QUIET)):
        (workflows / f"{name}.yaml").write_text(text)
    outdir = tmp_path_factory.mktemp("cdk.out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWS_OUTLOOK_CREDENTIAL", SECRET_VALUE)
        app = build_app({"workflowsDir": str(workflows)}, outdir=str(outdir))
        assembly = app.synth()
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    return Synth(stack, assembly.get_stack_by_name(stack.stack_name).template, outdir)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return sorted(action if isinstance(action, list) else [action])


def _resources(statement: dict[str, Any]) -> list[Any]:
    found = statement["Resource"]
    return found if isinstance(found, list) else [found]


def test_the_poller_may_start_only_the_polling_workflow_and_read_only_its_credential(synth: Synth) -> None:
    pollers = synth.stack.triggers.pollers
    assert pollers is not None and pollers.function.role is not None
    props = synth.template["Resources"][synth.logical_id(pollers.function)]["Properties"]
    assert props["Handler"] == "handler.lambda_handler" and props["Timeout"] == 60
    assert "STEPWEAVE_TABLE" in props["Environment"]["Variables"]
    statements = synth.statements(pollers.function.role)
    starts = [s for s in statements if any(a.startswith("states:") for a in _actions(s))]
    assert [_actions(s) for s in starts] == [["states:StartExecution"]]
    machine = {"Ref": synth.logical_id(synth.stack.workflows["news"].state_machine)}
    assert _resources(starts[0]) == [machine]
    assert starts[0]["Condition"] == {"StringEquals": {"states:StateMachineQualifier": "live"}}
    table = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    assert [_actions(s) for s in table] == [sorted(POLLER_TABLE_ACTIONS)]
    assert "*" not in json.dumps(table) and "index" not in json.dumps(table)
    (ssm,) = [s for s in statements if any(a.startswith("ssm:") for a in _actions(s))]
    assert _actions(ssm) == ["ssm:GetParameter"]
    # exactly what the polls read: Outlook's credential, Gmail's default Google secrets
    assert sorted(re.findall(r":parameter/stepweave/dev/(\w+)", json.dumps(ssm["Resource"]))) == [
        "GOOGLE_ACCESS_TOKEN", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GOOGLE_REFRESH_TOKEN",
        "NEWS_OUTLOOK_CREDENTIAL"]
    # a failed poll is not retried by Lambda: the next scheduled poll is the retry
    (config,) = [c for c in synth.resources("AWS::Lambda::EventInvokeConfig").values()
                 if c["Properties"]["FunctionName"] == {"Ref": synth.logical_id(pollers.function)}]
    assert config["Properties"]["MaximumRetryAttempts"] == 0


def test_each_poll_trigger_has_a_schedule_invoking_the_poller_with_its_name(synth: Synth) -> None:
    pollers = synth.stack.triggers.pollers
    assert pollers is not None
    schedules = {p["Properties"]["Target"]["Input"]: p["Properties"]
                 for p in synth.resources("AWS::Scheduler::Schedule").values()}
    headlines = schedules['{"workflow":"news","trigger":"headlines"}']
    inbox = schedules['{"workflow":"news","trigger":"inbox"}']
    assert len(schedules) == 3
    assert (headlines["ScheduleExpression"], headlines["State"]) == ("rate(1 minute)", "ENABLED")
    assert (inbox["ScheduleExpression"], inbox["State"]) == ("rate(5 minutes)", "DISABLED")
    function_arn = {"Fn::GetAtt": [synth.logical_id(pollers.function), "Arn"]}
    assert headlines["Target"]["Arn"] == function_arn
    assert headlines["Target"]["RoleArn"] == {"Fn::GetAtt": [synth.logical_id(pollers.role), "Arn"]}
    assert headlines["Target"]["DeadLetterConfig"]["Arn"]
    statements = synth.statements(pollers.role)
    invokes = [s for s in statements if _actions(s) == ["lambda:InvokeFunction"]]
    assert [_resources(s) for s in invokes] == [[function_arn]]
    assert all(_actions(s) in (["lambda:InvokeFunction"],
                               ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"])
               for s in statements)
    trust = synth.template["Resources"][synth.logical_id(pollers.role)]["Properties"]["AssumeRolePolicyDocument"]
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]


def test_the_poller_asset_lists_the_polls_without_secret_values(synth: Synth) -> None:
    (path,) = synth.outdir.glob("asset.*/polls.json")
    document = json.loads(path.read_text())
    assert sorted(document) == ["news"]
    assert document["news"]["stateMachine"] == "dev-news:live"
    assert sorted(document["news"]["triggers"]) == ["headlines", "inbox", "orders"]
    assert document["news"]["triggers"]["orders"]["credential"] == "NEWS_OUTLOOK_CREDENTIAL"
    everything = "".join(p.read_text() for p in synth.outdir.glob("*.json")) + path.read_text()
    assert SECRET_VALUE not in everything


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
