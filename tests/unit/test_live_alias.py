"""The ``live`` alias in the runtime: ARNs qualified by an alias or a version, the run API's
targets (``STEPWEAVE_STATE_MACHINE_ALIAS``), its health check against moto, and the records'
workflow name of a qualified ARN."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from moto import mock_aws

from stepweave.api.executions import ping_machines, targets_from_settings
from stepweave.runtime.arns import alias_arn, execution_arn, qualifier, state_machine_arn, unqualified
from stepweave.runtime.manifests import state_machine_name
from stepweave.runtime.settings import Settings
from stepweave.runtime.versions import description_fields, version_description

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:dev-triage"


def test_qualified_and_unqualified_arns() -> None:
    assert alias_arn(MACHINE) == MACHINE + ":live"
    assert alias_arn(MACHINE + ":3") == MACHINE + ":live"
    for arn in (MACHINE, MACHINE + ":live", MACHINE + ":12"):
        assert unqualified(arn) == MACHINE
        # an execution started through an alias or a version is named after the machine alone
        assert execution_arn(arn, "run-1") == "arn:aws:states:eu-west-1:123456789012:execution:dev-triage:run-1"
        assert state_machine_name(arn) == "dev-triage"
    assert qualifier(MACHINE) is None and qualifier(MACHINE + ":live") == "live"
    assert state_machine_arn(execution_arn(MACHINE + ":live", "run-1")) == MACHINE
    assert state_machine_name("dev-triage") == "dev-triage"


def test_the_run_api_starts_the_alias_it_is_given() -> None:
    env = {"STEPWEAVE_WORKFLOWS": json.dumps({"triage": "EXPRESS"}),
           "STEPWEAVE_STATE_MACHINE_PREFIX": MACHINE.removesuffix("dev-triage") + "dev-"}
    assert targets_from_settings(Settings.from_env(env))["triage"].arn == MACHINE
    settings = Settings.from_env({**env, "STEPWEAVE_STATE_MACHINE_ALIAS": "live"})
    assert targets_from_settings(settings)["triage"].arn == MACHINE + ":live"


def test_health_describes_the_alias() -> None:
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="eu-west-1")
        definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
        role = "arn:aws:iam::123456789012:role/r"
        made = sfn.create_state_machine(name="dev-triage", definition=definition, roleArn=role, publish=True)
        sfn.create_state_machine(name="dev-other", definition=definition, roleArn=role, publish=True)
        sfn.create_state_machine_alias(name="live", routingConfiguration=[
            {"stateMachineVersionArn": made["stateMachineVersionArn"], "weight": 100}])
        settings = Settings.from_env({
            "STEPWEAVE_WORKFLOWS": json.dumps({"triage": "STANDARD", "other": "STANDARD"}),
            "STEPWEAVE_STATE_MACHINE_PREFIX": MACHINE.removesuffix("dev-triage") + "dev-",
            "STEPWEAVE_STATE_MACHINE_ALIAS": "live"})
        health = ping_machines(sfn, targets_from_settings(settings))
        assert health["triage"] is None
        assert health["other"] is not None  # deployed before aliases: no `live` to start


def test_the_version_description_reads_back() -> None:
    text = version_description("support-timeline", "a" * 64, "b" * 64)
    assert len(text) <= 256
    assert description_fields(text) == {"workflow": "support-timeline", "file": "sha256:" + "a" * 16,
                                        "definition": "sha256:" + "b" * 16}
    assert description_fields("written by hand") == {}
    assert len(version_description("w" * 80, "a" * 64, "b" * 64)) <= 256


def test_the_deployed_ingest_starts_the_alias(tmp_path: Path) -> None:
    """``webhooks.json`` as the CDK app writes it (``<stage>-<workflow>:live``) gives the
    ingest the alias's ARN; an execution it started is named after the state machine."""
    from stepweave.compiler.compile import compile_workflow
    from stepweave.triggers.targets import load_targets, targets_document
    from stepweave.workflow.loader import parse_workflow

    workflow = parse_workflow({"version": 1, "name": "triage", "blocks": [{"id": "start", "type": "start"}],
                               "triggers": [{"type": "webhook", "signature": "none"}]}, "triage.yaml")
    compiled = compile_workflow(workflow, "triage.yaml")
    document = targets_document([compiled], lambda name: f"dev-{name}:live")
    (tmp_path / "webhooks.json").write_text(json.dumps(document))
    prefix = MACHINE.removesuffix("dev-triage")
    target = load_targets(tmp_path / "webhooks.json", prefix)["triage"]
    assert target.state_machine_arn == MACHINE + ":live"
    assert execution_arn(target.state_machine_arn, "d-1").endswith(":execution:dev-triage:d-1")
