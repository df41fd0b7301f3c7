"""``stepweave versions`` and ``stepweave rollback`` against moto, through boto3.

Deploys are simulated the way CloudFormation makes them: the state machine is created or
updated with ``publish=True`` and the version description the CDK app writes, and the
``live`` alias is created or moved to the new version. moto cannot list versions:
``stepweave.local.moto_versions`` gives it ``ListStateMachineVersions``, tested here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stepweave.cli.app import main
from stepweave.local import moto_versions
from stepweave.runtime.versions import version_description

REGION = "us-east-1"


def moto_wait() -> None:
    """Let moto's execution thread run (it finishes a Pass state at once)."""
    import time

    time.sleep(0.01)
ROLE = "arn:aws:iam::123456789012:role/stepweave"


def _definition(marker: str) -> str:
    return json.dumps({"StartAt": marker, "States": {marker: {"Type": "Pass", "End": True}}})


class Stage:
    """A stage with deploys of workflows: ``deploy`` publishes a version and moves ``live``."""

    def __init__(self, sfn: Any) -> None:
        self.sfn = sfn
        self.machines: dict[str, str] = {}

    def deploy(self, workflow: str, marker: str, file_hash: str) -> str:
        description = version_description(workflow, file_hash, marker.encode().hex() * 4)
        name = f"dev-{workflow}"
        if workflow not in self.machines:
            made = self.sfn.create_state_machine(name=name, definition=_definition(marker), roleArn=ROLE,
                                                 publish=True, versionDescription=description)
            self.machines[workflow] = made["stateMachineArn"]
            version = made["stateMachineVersionArn"]
            self.sfn.create_state_machine_alias(name="live", routingConfiguration=[
                {"stateMachineVersionArn": version, "weight": 100}])
            return str(version)
        updated = self.sfn.update_state_machine(stateMachineArn=self.machines[workflow],
                                                definition=_definition(marker), publish=True,
                                                versionDescription=description)
        version = updated["stateMachineVersionArn"]
        self.route(workflow, {version: 100})
        return str(version)

    def route(self, workflow: str, routing: dict[str, int]) -> None:
        self.sfn.update_state_machine_alias(
            stateMachineAliasArn=self.machines[workflow] + ":live",
            routingConfiguration=[{"stateMachineVersionArn": a, "weight": w} for a, w in routing.items()])

    def live(self, workflow: str) -> dict[str, int]:
        alias = self.sfn.describe_state_machine_alias(stateMachineAliasArn=self.machines[workflow] + ":live")
        return {r["stateMachineVersionArn"].rsplit(":", 1)[1]: r["weight"]
                for r in alias["routingConfiguration"]}


@pytest.fixture
def stage() -> Iterator[Stage]:
    moto_versions.install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):  # executions run
        stage = Stage(boto3.client("stepfunctions", region_name=REGION))
        for n in (1, 2, 3):
            stage.deploy("triage", f"S{n}", f"{n}" * 64)
        yield stage


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--region", REGION])
    out, err = capsys.readouterr()
    return code, out, err


def test_versions_lists_the_deploys_newest_first_with_the_file_hash_and_live(
        stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "versions", "triage", "--aws")
    assert code == 0
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [row[0] for row in rows] == ["3", "2", "1"]
    assert rows[0][-3:] == ["<-", "live", "(100%)"]
    assert "file=" not in out and f"sha256:{'3' * 16}" in out.splitlines()[2]
    assert "live" not in " ".join(out.splitlines()[3:])
    code, out, _ = _run(capsys, "versions", "triage", "--aws", "--json")
    document = json.loads(out)
    assert [v["version"] for v in document["versions"]] == [3, 2, 1]
    assert document["versions"][2]["file"] == f"sha256:{'1' * 16}"
    assert document["versions"][0]["deployedAt"]
    assert document["live"] == [{"version": 3, "weight": 100}]
    assert document["aliasArn"].endswith(":stateMachine:dev-triage:live")


def test_rollback_moves_live_to_the_previous_version_until_there_is_none(
        stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "rollback", "triage", "--aws")
    assert code == 0 and "version 3 (100%) -> version 2 (100%)" in out
    assert stage.live("triage") == {"2": 100}
    code, out, _ = _run(capsys, "versions", "triage", "--aws", "--json")
    assert json.loads(out)["live"] == [{"version": 2, "weight": 100}]
    assert _run(capsys, "rollback", "triage", "--aws")[0] == 0
    assert stage.live("triage") == {"1": 100}
    code, out, err = _run(capsys, "rollback", "triage", "--aws")
    assert code == 2 and out == ""
    assert "'live' points at version 1, and there is no earlier version to roll back to" in err
    assert stage.live("triage") == {"1": 100}


def test_versions_limit_still_says_where_live_points(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    stage.route("triage", {stage.machines["triage"] + ":1": 100})
    code, out, _ = _run(capsys, "versions", "triage", "--aws", "--limit", "2")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[2:4]] == ["3", "2"]
    assert "'live' also sends 100% to version 1, older than the 2 shown (--limit)" in out


def test_rollback_to_a_named_version_and_to_an_unknown_one(
        stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "rollback", "triage", "--aws", "--to", "1", "--json")
    assert code == 0 and json.loads(out)["to"] == 1 and json.loads(out)["changed"] is True
    assert stage.live("triage") == {"1": 100}
    code, _, err = _run(capsys, "rollback", "triage", "--aws", "--to", "9")
    assert code == 2 and "has no version 9 (versions: 1, 2, 3)" in err
    assert stage.live("triage") == {"1": 100}
    code, out, _ = _run(capsys, "rollback", "triage", "--aws", "--to", "1")
    assert code == 0 and "already points at version 1" in out


def test_rollback_during_a_canary_sends_every_start_to_the_previous_version(
        stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    arn = stage.machines["triage"]
    stage.route("triage", {f"{arn}:3": 10, f"{arn}:2": 90})
    code, out, _ = _run(capsys, "versions", "triage", "--aws")
    assert "(10%)" in out and "(90%)" in out
    code, out, _ = _run(capsys, "rollback", "triage", "--aws")
    assert code == 0 and stage.live("triage") == {"2": 100}


def test_clear_errors_for_an_undeployed_workflow_and_without_aws(
        stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "versions", "nope", "--aws")
    assert code == 2 and "no state machine 'dev-nope'" in err and "Traceback" not in err
    code, _, err = _run(capsys, "rollback", "triage", "--aws", "--stage", "prod")
    assert code == 2 and "no state machine 'prod-triage'" in err
    code, _, err = _run(capsys, "versions", "triage")
    assert code == 2 and "add --aws" in err


def test_a_workflow_deployed_before_versions_has_no_alias(capsys: pytest.CaptureFixture[str]) -> None:
    moto_versions.install()
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        sfn.create_state_machine(name="dev-old", definition=_definition("A"), roleArn=ROLE)
        code, out, _ = _run(capsys, "versions", "old", "--aws")
        assert code == 0 and "no versions published" in out
        code, _, err = _run(capsys, "rollback", "old", "--aws")
        assert code == 2 and "has no 'live' alias" in err


# --- moto's ListStateMachineVersions --------------------------------------------------------------

def test_moto_lists_versions_newest_first_in_pages(stage: Stage) -> None:
    assert moto_versions.installed()
    sfn, arn = stage.sfn, stage.machines["triage"]
    first = sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=2)
    assert [v["stateMachineVersionArn"] for v in first["stateMachineVersions"]] == [f"{arn}:3", f"{arn}:2"]
    rest = sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=2, nextToken=first["nextToken"])
    assert [v["stateMachineVersionArn"] for v in rest["stateMachineVersions"]] == [f"{arn}:1"]
    assert "nextToken" not in rest
    dates = [v["creationDate"] for v in sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]]
    assert dates == sorted(dates, reverse=True)


def test_moto_refuses_unknown_and_qualified_state_machines(stage: Stage) -> None:
    sfn, arn = stage.sfn, stage.machines["triage"]
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.list_state_machine_versions(stateMachineArn=arn + "-nope")
    for qualified in (f"{arn}:1", f"{arn}:live"):
        with pytest.raises(Exception) as info:
            sfn.list_state_machine_versions(stateMachineArn=qualified)
        assert type(info.value).__name__ in ("ValidationException", "StateMachineDoesNotExist", "InvalidArn")


def test_moto_starts_a_version_or_an_alias_on_the_state_machine(stage: Stage) -> None:
    sfn, arn = stage.sfn, stage.machines["triage"]
    started = sfn.start_execution(stateMachineArn=f"{arn}:live", name="via-alias", input="{}")
    assert started["executionArn"].endswith(":execution:dev-triage:via-alias")
    described = sfn.describe_execution(executionArn=started["executionArn"])
    assert described["stateMachineArn"] == arn
    assert (described["stateMachineAliasArn"], described["stateMachineVersionArn"]) == (f"{arn}:live", f"{arn}:3")
    direct = sfn.start_execution(stateMachineArn=f"{arn}:1", name="via-version", input="{}")
    described = sfn.describe_execution(executionArn=direct["executionArn"])
    assert described["stateMachineVersionArn"] == f"{arn}:1" and "stateMachineAliasArn" not in described
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert {e["name"] for e in listed} == {"via-alias", "via-version"}
    for missing in (f"{arn}:9", f"{arn}:prod"):
        with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
            sfn.start_execution(stateMachineArn=missing, input="{}")


def test_moto_splits_an_aliases_starts_by_weight(stage: Stage) -> None:
    import random

    sfn, arn = stage.sfn, stage.machines["triage"]
    stage.route("triage", {f"{arn}:3": 20, f"{arn}:2": 80})
    random.seed(7)
    versions = []
    for n in range(60):
        started = sfn.start_execution(stateMachineArn=f"{arn}:live", name=f"r{n}", input="{}")
        versions.append(sfn.describe_execution(executionArn=started["executionArn"])["stateMachineVersionArn"])
    assert set(versions) == {f"{arn}:3", f"{arn}:2"}
    assert versions.count(f"{arn}:2") > versions.count(f"{arn}:3")


def test_moto_runs_the_definition_of_the_version_the_alias_points_at() -> None:
    moto_versions.install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name=REGION)

        def definition(n: int) -> str:
            return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"v": n}, "End": True}}})

        made = sfn.create_state_machine(name="dev-run", definition=definition(1), roleArn=ROLE, publish=True)
        arn = made["stateMachineArn"]
        sfn.create_state_machine_alias(name="live", routingConfiguration=[
            {"stateMachineVersionArn": made["stateMachineVersionArn"], "weight": 100}])
        sfn.update_state_machine(stateMachineArn=arn, definition=definition(2), publish=True)
        outputs = {}
        for n, target in enumerate((f"{arn}:live", arn)):  # the alias runs version 1; the machine, its latest
            started = sfn.start_execution(stateMachineArn=target, name=f"run-{n}", input="{}")
            for _ in range(500):
                described = sfn.describe_execution(executionArn=started["executionArn"])
                if described["status"] != "RUNNING":
                    break
                moto_wait()
            outputs[target] = json.loads(described["output"])
        assert outputs == {f"{arn}:live": {"v": 1}, arn: {"v": 2}}
