"""Versions and the ``live`` alias in the template: each deploy publishes a version of each
workflow, ``live`` points at it, and what starts a workflow (schedules, event rules, the
webhook ingest, the run API, a parent workflow) starts the alias, allowed through it only.

The app is synthesized once for the module (cdk-nag runs in the synth) from a folder
holding a parent that runs a child, the child (schedule, event rule and webhook) and a
third workflow deployed gradually (``canary`` context). Whether a changed definition
publishes a new version is checked on a bare stack of handler-less workflows (no assets).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
cdk = pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from aws_cdk import aws_logs as logs
from stepweave.compiler.compile import compile_workflow
from stepweave.workflow.loader import load_workflow
from stepweave.workflow.summary import decode, summarize

from infra.app import ContextError, build_app
from infra.constructs.workflow import WorkflowStateMachine
from infra.stacks.engine import EngineStack
from infra.versions import DeploySource, description_fields, read_canary

CHILD = """\
version: 1
name: child-flow
blocks:
  - {id: start, type: start}
  - {id: step, type: function, name: Step, params: {code: "return 1;"}}
edges: [start -> step]
triggers:
  - {type: schedule, name: nightly, cron: "0 3 * * *"}
  - {type: event, name: orders, source: com.example.orders}
  - {type: webhook, signature: none}
"""
PARENT = """\
version: 1
name: parent
blocks:
  - {id: start, type: start}
  - {id: sub, type: workflow, name: Sub, params: {workflow: child-flow, input: {a: 1}}}
edges: [start -> sub]
"""
GRADUAL = CHILD.replace("child-flow", "gradual").split("triggers:")[0]
LIVE = {"StringEquals": {"states:StateMachineQualifier": "live"}}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("workflows")
    for name, text in (("parent", PARENT), ("child", CHILD), ("gradual", GRADUAL)):
        (folder / f"{name}.yaml").write_text(text)
    app = build_app({"workflowsDir": str(folder), "canary": "gradual:10:5"},
                    outdir=str(tmp_path_factory.mktemp("out")))
    assembly = app.synth()
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    return {"stack": stack, "folder": folder,
            "template": assembly.get_stack_by_name(stack.stack_name).template}


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _id(construct: Any) -> str:
    element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
    return str(cdk.Stack.of(element).resolve(element.logical_id))


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in _of_type(template, "AWS::IAM::Policy").values()
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_each_workflow_publishes_a_version_that_is_kept(synth: dict[str, Any]) -> None:
    template, stack = synth["template"], synth["stack"]
    versions = _of_type(template, "AWS::StepFunctions::StateMachineVersion")
    assert len(versions) == len(stack.workflows) == 3
    for name, workflow in stack.workflows.items():
        logical = _id(workflow.version)
        version = versions[logical]
        machine = _id(workflow.state_machine)
        assert version["Properties"]["StateMachineArn"] == {"Ref": machine}
        assert version["Properties"]["StateMachineRevisionId"] == {
            "Fn::GetAtt": [machine, "StateMachineRevisionId"]}
        # a replaced version stays, for rollbacks and the runs it started
        assert version["DeletionPolicy"] == version["UpdateReplacePolicy"] == "Retain"
        # its logical id and description come from the definition's hash, and the file's
        fields = description_fields(version["Properties"]["Description"])
        text = (synth["folder"] / f"{'child' if name == 'child-flow' else name}.yaml").read_bytes()
        assert fields == {"workflow": name,
                          "file": "sha256:" + hashlib.sha256(text).hexdigest()[:16],
                          "definition": "sha256:" + workflow.definition_sha256[:16]}
        assert workflow.definition_sha256[:12] in logical


def test_live_points_at_the_new_version(synth: dict[str, Any]) -> None:
    template, stack = synth["template"], synth["stack"]
    aliases = _of_type(template, "AWS::StepFunctions::StateMachineAlias")
    assert len(aliases) == 3
    for name in ("parent", "child-flow"):
        workflow = stack.workflows[name]
        props = aliases[_id(workflow.alias)]["Properties"]
        assert props["Name"] == "live"
        assert props["RoutingConfiguration"] == [{
            "StateMachineVersionArn": {"Fn::GetAtt": [_id(workflow.version), "Arn"]}, "Weight": 100}]
        assert "DeploymentPreference" not in props


def test_a_canary_shifts_a_share_to_the_new_version_and_rolls_back_on_alarms(synth: dict[str, Any]) -> None:
    template, stack = synth["template"], synth["stack"]
    workflow = stack.workflows["gradual"]
    props = template["Resources"][_id(workflow.alias)]["Properties"]
    assert "RoutingConfiguration" not in props
    preference = props["DeploymentPreference"]
    assert preference["Type"] == "CANARY"
    assert (preference["Percentage"], preference["Interval"]) == (10, 5)
    assert preference["StateMachineVersionArn"] == {"Fn::GetAtt": [_id(workflow.version), "Arn"]}
    alarms = {a["Ref"] for a in preference["Alarms"]}
    names = {template["Resources"][a]["Properties"]["AlarmName"] for a in alarms}
    assert names == {"stepweave-dev-gradual-failed", "stepweave-dev-gradual-timed-out"}


def test_schedules_and_event_rules_start_the_alias(synth: dict[str, Any]) -> None:
    template, stack = synth["template"], synth["stack"]
    alias = {"Fn::GetAtt": [_id(stack.workflows["child-flow"].alias), "Arn"]}
    (schedule,) = _of_type(template, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["Target"]["Arn"] == alias
    rules = [r for r in _of_type(template, "AWS::Events::Rule").values()
             if r["Properties"].get("EventPattern", {}).get("source") == ["com.example.orders"]]
    assert [t["Arn"] for r in rules for t in r["Properties"]["Targets"]] == [alias]


def test_every_start_is_allowed_through_the_alias_only(synth: dict[str, Any]) -> None:
    template = synth["template"]
    starts = [s for s in _statements(template)
              if {"states:StartExecution", "states:StartSyncExecution"} & set(_actions(s))]
    # the parent, the ingest, the schedule's and the rule's roles, the run API
    assert len(starts) >= 5
    for statement in starts:
        assert statement.get("Condition") == LIVE, statement
    # and the parent starts its child's alias
    parent = synth["stack"].workflows["parent"]
    machine = template["Resources"][_id(parent.state_machine)]["Properties"]
    child = json.dumps(machine["DefinitionSubstitutions"]["StateMachine_child_flow"])
    assert "stateMachine:dev-child-flow:live" in child


def test_the_deployed_definition_carries_the_block_summary(synth: dict[str, Any]) -> None:
    template, stack = synth["template"], synth["stack"]
    workflow = stack.workflows["child-flow"]
    definition = json.loads(template["Resources"][_id(workflow.state_machine)]["Properties"]["DefinitionString"])
    summary = decode(definition["Comment"])
    assert summary == summarize(load_workflow(synth["folder"] / "child.yaml"), "EXPRESS" if
                                workflow.compiled.workflow_type == "EXPRESS" else "STANDARD")
    assert summary is not None and sorted(summary["blocks"]) == ["start", "step"]
    assert sorted(summary["triggers"]) == ["nightly", "orders", "webhook"]


def test_bad_canary_values_stop_the_synth(tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text(CHILD)
    with pytest.raises(ContextError) as info:
        build_app({"workflowsDir": str(tmp_path), "canary": "nope:10,child-flow:100,child-flow"},
                  outdir=str(tmp_path / "out"))
    text = str(info.value)
    assert "no workflow named 'nope'" in text
    assert "child-flow's share must be 1 to 99 percent; got 100" in text
    assert "'child-flow' is not <workflow>:<percent>[:<minutes>]" in text
    assert read_canary("a:5, b:20:30", ["a", "b"])[0]["b"].minutes == 30


# --- a new definition publishes a new version; an unchanged one does not -----------------------

TINY = """\
version: 1
name: tiny
blocks:
  - {id: start, type: start}
  - {id: done, type: response, params: {data: {ok: true}, status: 200}}
edges: [start -> done]
"""


def _version_id(folder: Path, text: str, construct_id: str) -> tuple[str, str]:
    """(the version's logical id, its description) for a handler-less workflow's file."""
    path = folder / f"{construct_id}.yaml"
    path.write_text(text)
    loaded = load_workflow(path)
    compiled = compile_workflow(loaded, str(path))
    stack = cdk.Stack(cdk.App(), construct_id)
    workflow = WorkflowStateMachine(
        stack, "W", compiled=compiled, state_machine_name=f"dev-{compiled.name}", handlers={},
        log_retention=logs.RetentionDays.ONE_DAY,
        source=DeploySource.of(path, path.name, summarize(loaded, compiled.workflow_type)))
    return _id(workflow.version), workflow.version_description


def test_a_workflow_without_handlers_has_no_empty_substitutions(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    compiled = compile_workflow(load_workflow(path), str(path))
    stack = cdk.Stack(cdk.App(), "Tiny")
    WorkflowStateMachine(stack, "W", compiled=compiled, state_machine_name="dev-tiny", handlers={},
                         log_retention=logs.RetentionDays.ONE_DAY)
    template = cdk.assertions.Template.from_stack(stack).to_json()
    (machine,) = _of_type(template, "AWS::StepFunctions::StateMachine").values()
    assert "DefinitionSubstitutions" not in machine["Properties"]  # cfn-lint E3002: at least one


def test_only_a_changed_definition_publishes_a_new_version(tmp_path: Path) -> None:
    first, description = _version_id(tmp_path, TINY, "a")
    # the same file deployed again: the same definition, the same version (nothing published)
    again, again_description = _version_id(tmp_path, TINY, "b")
    assert (again, again_description) == (first, description)
    changed, changed_description = _version_id(tmp_path, TINY.replace("status: 200", "status: 201"), "c")
    assert changed != first
    assert description_fields(changed_description)["definition"] != description_fields(description)["definition"]
    # the deployed definition names its file, so any edit of the file publishes a version
    # whose description names that file (`stepweave diff` finds no block change in this one)
    relaid, relaid_description = _version_id(
        tmp_path, TINY.replace("edges: [start -> done]", "edges:\n  - start -> done\n"), "d")
    assert relaid != first
    assert description_fields(relaid_description)["file"] == "sha256:" + hashlib.sha256(
        (tmp_path / "d.yaml").read_bytes()).hexdigest()[:16]


def test_cfn_lint_accepts_the_versions_aliases_and_the_canary(synth: dict[str, Any], tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("cfn-lint")
    if not exe.exists():
        pytest.skip("cfn-lint is not installed")
    template = tmp_path / "engine.template.json"
    template.write_text(json.dumps(synth["template"]))
    result = subprocess.run([str(exe), "--format", "json", str(template)], capture_output=True,
                            text=True, check=False, timeout=120)
    assert not result.returncode & 1, result.stderr  # cfn-lint itself failed
    # E1029 (a ${...} outside Fn::Sub) is the definition's substitution placeholders
    errors = [f for f in json.loads(result.stdout or "[]") if f["Level"] == "Error"
              and not (f["Rule"]["Id"] == "E1029" and f["Location"]["Path"][-1] == "DefinitionString")]
    assert not errors, [f["Message"] for f in errors]
