"""``stepweave diff`` on the example workflows: against a git revision of their files, and
(``--aws``) against the version a stage's ``live`` alias points at, in moto.

The example files are copied into a fresh git repository, committed, then edited the way
an author would (a param changed, a block and its edges added, a block removed, a trigger
added, the type forced); the diff must name exactly those changes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from stepweave.cli.app import main
from stepweave.compiler.compile import compile_workflow
from stepweave.runtime.versions import version_description
from stepweave.workflow.loader import load_workflow, parse_yaml
from stepweave.workflow.summary import encode, summarize

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("support-timeline.yaml", "containers-showcase.yaml")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                   check=True, capture_output=True, timeout=60)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    for name in EXAMPLES:
        shutil.copy(ROOT / "workflows" / name, folder / name)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "workflows")
    monkeypatch.chdir(tmp_path)
    return folder


def _edit(path: Path, change: Any) -> None:
    data = parse_yaml(path.read_text())  # YAML 1.2, as workflow files are read: `yes` is a string
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _diff(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["diff", *argv, "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


def _lines(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["diff", *argv])
    return code, capsys.readouterr().out


def test_an_unchanged_tree_has_no_changes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, document = _diff(capsys)
    assert code == 0
    assert {w["workflow"]: w["status"] for w in document["workflows"]} == {
        "support-timeline": "unchanged", "containers-showcase": "unchanged"}
    # rewriting the file (order, layout) is no change either
    _edit(repo / "support-timeline.yaml", lambda data: None)
    assert _diff(capsys)[0] == 0


def _author_edits(data: dict[str, Any]) -> None:
    blocks = data["blocks"]
    respond = next(b for b in blocks if b["id"] == "respond")
    respond["params"]["status"] = 299                        # a param changed
    blocks.append({"id": "audit", "type": "function", "name": "Audit",
                   "params": {"code": "return 1;"}})           # a block added
    data["edges"].append("start -> audit")                     # and its edge
    data["triggers"] = [*data.get("triggers", []),
                        {"type": "schedule", "name": "hourly", "rate": "1 hour"}]


def test_the_author_edits_are_named_block_by_block(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(repo / "support-timeline.yaml", _author_edits)
    code, document = _diff(capsys, "workflows/support-timeline.yaml")
    assert code == 1
    (entry,) = document["workflows"]
    assert entry["status"] == "changed"
    changes = {(c["kind"], c["what"], c["subject"], c.get("detail", "")) for c in entry["changes"]}
    assert changes == {
        ("changed", "block", "respond (Respond)", "param status changed"),
        ("added", "block", "audit (Audit)", "function"),
        ("added", "edge", "start -> audit", ""),
        ("added", "trigger", "hourly", "schedule"),
    }
    code, text = _lines(capsys, "workflows/support-timeline.yaml")
    assert code == 1
    assert "support-timeline (workflows/support-timeline.yaml): 4 changes against HEAD" in text
    assert "  ~ block respond (Respond): param status changed" in text
    assert "  + edge start -> audit" in text


def test_removed_blocks_edges_and_workflows(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def drop_issue_refund(data: dict[str, Any]) -> None:
        data["blocks"] = [b for b in data["blocks"] if b["id"] != "issue_refund"]
        data["edges"] = [e for e in data["edges"] if "issue_refund" not in str(e)]
        data["edges"].append("refund_approved -[condition-yes]-> respond")

    before = {str(e) for e in parse_yaml((repo / "support-timeline.yaml").read_text())["edges"]}
    _edit(repo / "support-timeline.yaml", drop_issue_refund)
    (repo / "containers-showcase.yaml").unlink()
    code, document = _diff(capsys)
    assert code == 1
    by_name = {w["workflow"]: w for w in document["workflows"]}
    assert by_name["containers-showcase"]["status"] == "removed"
    changes = by_name["support-timeline"]["changes"]
    assert {"kind": "removed", "what": "block", "subject": "issue_refund (Issue refund)",
            "detail": "api"} in changes
    removed_edges = {c["subject"] for c in changes if c["what"] == "edge" and c["kind"] == "removed"}
    assert len(removed_edges) == sum("issue_refund" in e for e in before)
    assert all("issue_refund" in e for e in removed_edges)


def test_a_type_change_and_a_new_workflow(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compiled = compile_workflow(load_workflow(repo / "containers-showcase.yaml"), "x", folder=repo)
    assert compiled.workflow_type == "EXPRESS"  # the compiler's choice; Standard may be asked for
    _edit(repo / "containers-showcase.yaml", lambda data: data.update(type="standard"))
    shutil.copy(ROOT / "workflows" / "support-triage.yaml", repo / "support-triage.yaml")
    code, document = _diff(capsys)
    by_name = {w["workflow"]: w for w in document["workflows"]}
    assert code == 1 and by_name["support-triage"]["status"] == "new"
    assert by_name["containers-showcase"]["changes"] == [
        {"kind": "changed", "what": "type", "subject": "EXPRESS -> STANDARD"}]


def test_against_an_older_revision_and_clear_errors(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(repo / "support-timeline.yaml", _author_edits)
    _git(repo.parent, "commit", "-qam", "edits")
    assert _diff(capsys)[0] == 0
    code, document = _diff(capsys, "--against", "HEAD~1")
    assert code == 1 and document["against"] == "HEAD~1"
    assert main(["diff", "--against", "no-such-rev"]) == 2
    assert "unknown git revision 'no-such-rev'" in capsys.readouterr().err
    (repo / "broken.yaml").write_text("version: 1\nname: broken\nblocks: []\n")
    assert main(["diff"]) == 2
    assert "broken.yaml" in capsys.readouterr().err


# --- against the deployed 'live' version ---------------------------------------------------------

@pytest.fixture
def deployed(repo: Path) -> Iterator[Any]:
    """moto with support-timeline deployed from the committed file: a version whose
    definition carries the file's block summary, and 'live' pointing at it."""
    path = repo / "support-timeline.yaml"
    workflow = load_workflow(path)
    compiled = compile_workflow(workflow, str(path), folder=repo)
    definition = {**compiled.definition,
                  "Comment": f"{compiled.definition['Comment']} "
                             f"{encode(summarize(workflow, compiled.workflow_type))}"}
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        made = sfn.create_state_machine(
            name="dev-support-timeline", definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/r", publish=True,
            versionDescription=version_description("support-timeline", "a" * 64, "b" * 64))
        sfn.create_state_machine_alias(name="live", routingConfiguration=[
            {"stateMachineVersionArn": made["stateMachineVersionArn"], "weight": 100}])
        yield sfn


def test_aws_diff_reads_the_live_versions_summary(deployed: Any, repo: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, document = _diff(capsys, "workflows/support-timeline.yaml", "--aws")
    assert code == 0 and document["workflows"][0]["deployed"] == "version 1"
    _edit(repo / "support-timeline.yaml", _author_edits)
    code, text = _lines(capsys, "workflows/support-timeline.yaml", "--aws")
    assert code == 1
    assert "4 changes against stage dev, 'live' (version 1)" in text
    assert "  + block audit (Audit): function" in text
    # a workflow the stage does not have is new
    code, document = _diff(capsys, "workflows/containers-showcase.yaml", "--aws")
    assert code == 1 and document["workflows"][0]["status"] == "new"


def test_aws_diff_of_a_folder_names_deployed_workflows_it_lacks(deployed: Any, repo: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    # another stage's state machine whose name ends like ours is not ours
    made = deployed.create_state_machine(
        name="dev-x-support-timeline", roleArn="arn:aws:iam::123456789012:role/r", publish=True,
        versionDescription="stepweave workflow=support-timeline file=sha256:0 definition=sha256:0",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}))
    deployed.create_state_machine_alias(name="live", routingConfiguration=[
        {"stateMachineVersionArn": made["stateMachineVersionArn"], "weight": 100}])
    (repo / "support-timeline.yaml").unlink()
    code, text = _lines(capsys, "workflows", "--aws")
    assert code == 1
    assert ("support-timeline (dev-support-timeline): removed (in stage dev, 'live', not in the "
            "working tree; a deploy from this folder deletes its state machine)") in text
    assert "containers-showcase (workflows/containers-showcase.yaml): new workflow" in text
    assert text.count("removed") == 1
    assert main(["diff", "--aws", "--against", "HEAD"]) == 2
    assert "give one" in capsys.readouterr().err


def test_aws_diff_of_a_version_without_a_summary_says_so(repo: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        made = sfn.create_state_machine(
            name="dev-support-timeline", roleArn="arn:aws:iam::123456789012:role/r", publish=True,
            definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}))
        code = main(["diff", "workflows/support-timeline.yaml", "--aws"])
        assert code == 2 and "has no 'live' alias" in capsys.readouterr().err
        sfn.create_state_machine_alias(name="live", routingConfiguration=[
            {"stateMachineVersionArn": made["stateMachineVersionArn"], "weight": 100}])
        code = main(["diff", "workflows/support-timeline.yaml", "--aws"])
        assert code == 2 and "carries no block summary" in capsys.readouterr().err
