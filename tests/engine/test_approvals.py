"""Approval blocks on the embedded engine: pause on a task token, decide, resume."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepweave.cli import main
from stepweave.errors import WorkflowError
from stepweave.local.approvals import parse_answers, scripted_approver
from stepweave.local.engine import LocalEngine
from stepweave.runtime.approvals import (Approval, ApprovalDecided, ApprovalInvalid, ApprovalNotFound,
                                         ApprovalRunGone, decide, get_approval, pending_approvals)
from stepweave.runtime.recorder import Clients
from tests.engine.helpers import compile_text



@pytest.fixture()
def engine() -> Iterator[LocalEngine]:
    """One engine per test: the CLI test starts its own, which cannot run inside another."""
    with LocalEngine() as eng:
        yield eng

FLOW = """
name: refund-approval
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}]}}
  - {id: ask, name: Approval, type: approval,
     params: {display: [{name: summary, type: string, value: "Refund <start.amount> EUR?"}],
              form: [{name: approved, type: boolean, required: true}, {name: comments, type: string}],
              approvers: [lead@example.com], subject: "Refund <start.amount>"}}
  - {id: c, name: Decision, type: condition,
     params: {conditions: [{id: yes, value: "<approval.approved> === true"},
                           {id: no, title: "else if", value: "<approval.approved> === false"}]}}
  - {id: pay, name: Pay, type: function, params: {code: "return 'paid ' + <start.amount> + ': ' + <approval.comments>"}}
  - {id: keep, name: Keep, type: function, params: {code: "return 'kept by ' + <approval.decidedBy>"}}
edges: [start -> ask, ask -> c, "c -[condition-yes]-> pay", "c -[condition-no]-> keep"]
"""

PARALLEL = """
name: parallel-approvals
blocks:
  - {id: start, type: start}
  - {id: P, name: P, type: parallel, params: {parallelType: count, count: 2}}
  - {id: ask, name: Ask, type: approval, parent: P,
     params: {display: {branch: "<parallel.index>"}, form: [{name: note, type: string}]}}
  - {id: after, name: After, type: function, params: {code: "return <p.results>.map(r => r[0].note)"}}
edges: [start -> P, "P -[parallel-start-source]-> ask", "P -[parallel-end-source]-> after"]
"""


def _approver(answer: dict[str, Any], seen: list[Approval]) -> Any:
    def approve(approval: Approval) -> dict[str, Any]:
        seen.append(approval)
        return answer
    return approve


def test_approve_resumes_with_the_submitted_values(engine: LocalEngine) -> None:
    seen: list[Approval] = []
    compiled = compile_text(FLOW)
    assert compiled.workflow_type == "STANDARD"
    result = engine.run(compiled, {"amount": 42}, poll_s=0.01,
                        approver=_approver({"approved": True, "comments": "ok"}, seen))
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": "paid 42: ok", "stdout": ""}
    stored = get_approval(engine.records.ddb, engine.records.settings, seen[0].id)
    assert stored is not None and stored.status == "decided" and stored.decided_by == "local"
    assert stored.display == {"summary": "Refund 42 EUR?"} and stored.approvers == ["lead@example.com"]
    assert seen[0].id.startswith("apr_") and len(seen[0].id) == 47  # apr_ + 256 random bits
    eml = [p for p in engine.records.settings.outbox.glob("*.eml") if seen[0].id[:12] in p.name]
    message = email.message_from_bytes(eml[0].read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Refund 42" and message["To"] == "lead@example.com"
    body = message.get_body().get_content()  # decoded: a long link may be soft-wrapped on disk
    assert f"/approvals/{seen[0].id}" in body and "Refund 42 EUR?" in body
    item = engine.records.ddb.get_item(TableName=engine.records.table,
                                       Key={"pk": {"S": f"APPROVAL#{seen[0].id}"}, "sk": {"S": "META"}})
    assert item["Item"]["taskToken"]["S"] and "taskToken" not in vars(stored)


def test_reject_takes_the_other_branch(engine: LocalEngine) -> None:
    approver = scripted_approver(parse_answers([], ["Approval"]), engine.records.settings, None)
    result = engine.run(compile_text(FLOW), {"amount": 5}, poll_s=0.01, approver=approver)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": "kept by local", "stdout": ""}


def test_parallel_approvals_answered_in_reverse_order(engine: LocalEngine) -> None:
    seen: dict[str, Approval] = {}
    order: list[int] = []

    def approver(approval: Approval) -> dict[str, Any] | None:
        seen[approval.id] = approval
        index = int(approval.position["parallel"]["index"])
        if len(seen) < 2 or (index == 0 and 1 not in order):
            return None  # both pending first; then branch 1 before branch 0
        order.append(index)
        return {"note": f"b{index}"}

    result = engine.run(compile_text(PARALLEL), {}, poll_s=0.01, approver=approver)
    assert result.status == "SUCCEEDED", result.cause
    assert order == [1, 0]
    assert result.output == {"result": ["b0", "b1"], "stdout": ""}


def test_double_submission_decides_once_and_errors_are_clear(engine: LocalEngine) -> None:
    outcomes: list[Any] = []
    clients = Clients(sfn=engine.sfn, ddb=engine.records.ddb)
    settings = engine.records.settings

    def approver(approval: Approval) -> dict[str, Any] | None:
        with pytest.raises(ApprovalInvalid, match="'approved' is required.*'comments' must be a string"):
            decide(approval.id, {"comments": 3}, decided_by="x", clients=clients, settings=settings)
        with pytest.raises(ApprovalInvalid, match="unknown field 'extra'"):
            decide(approval.id, {"approved": True, "extra": 1}, decided_by="x", clients=clients,
                   settings=settings)
        outcomes.append(decide(approval.id, {"approved": True, "comments": "first"}, decided_by="a",
                               clients=clients, settings=settings))
        with pytest.raises(ApprovalDecided):
            decide(approval.id, {"approved": False}, decided_by="b", clients=clients, settings=settings)
        return None

    result = engine.run(compile_text(FLOW), {"amount": 1}, poll_s=0.01, approver=approver)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": "paid 1: first", "stdout": ""}
    assert len(outcomes) == 1 and outcomes[0]["decidedBy"] == "a"
    assert outcomes[0]["submission"] == {"approved": True, "comments": "first"}
    with pytest.raises(ApprovalNotFound):
        decide("no-such-id", {"approved": True}, decided_by="x", clients=clients, settings=settings)


def test_timeout_routes_like_an_error(engine: LocalEngine) -> None:
    flow = FLOW.replace("subject: \"Refund <start.amount>\"", "timeoutSeconds: 1")
    result = engine.run(compile_text(flow), {"amount": 1}, poll_s=0.01, approver=lambda _a: None)
    assert result.status == "FAILED"
    assert "Approval" in (result.cause or "") and "States.Timeout" in (result.cause or "")


def test_express_is_refused_for_approvals() -> None:
    with pytest.raises(WorkflowError, match="approval 'ask'"):
        compile_text(FLOW.replace("name: refund-approval", "name: x\ntype: express"))


def test_cli_run_with_approve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW, encoding="utf-8")
    code = main(["run", str(path), "--input", '{"amount": 7}', "--json", "-q",
                 "--approve", 'Approval={"approved": true, "comments": "fine"}'])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["output"] == {"result": "paid 7: fine", "stdout": ""}
    assert "approval 'Approval' is waiting" in captured.err and "/approvals/" in captured.err
    assert ".eml" in captured.err


def test_a_run_waiting_for_an_approval_stops_when_its_time_is_up(engine: LocalEngine) -> None:
    # nobody answers: the engine's own time limit stops the execution (ABORTED, as on AWS),
    # and the approval is no longer answerable
    result = engine.run(compile_text(FLOW), {"amount": 3}, poll_s=0.01, timeout_s=1.5,
                        approver=lambda approval: None)
    assert result.status == "ABORTED"
    clients = Clients(sfn=engine.sfn, ddb=engine.records.ddb)
    (pending,) = pending_approvals(clients.ddb, engine.records.settings, result.execution_arn)
    with pytest.raises(ApprovalRunGone):
        decide(pending.id, {"approved": True}, decided_by="late", clients=clients,
               settings=engine.records.settings)


def test_while_it_waits_the_record_shows_paused_with_the_blocks_so_far(engine: LocalEngine) -> None:
    from stepweave.runtime.query import get_execution

    seen: list[Any] = []

    def approver(approval: Approval) -> dict[str, Any] | None:
        if not seen:
            seen.append(get_execution(engine.records.ddb, engine.records.settings,
                                      approval.execution_arn))
        return {"approved": True, "comments": "fine"}

    result = engine.run(compile_text(FLOW), {"amount": 7}, poll_s=0.01, approver=approver)
    assert result.status == "SUCCEEDED"
    (paused,) = seen
    assert paused is not None and paused.record.status == "paused"
    assert [a.block_name for a in paused.approvals] == ["Approval"]
    # the snapshot at the pause: what ran before the question, with its output
    assert [(b.name, b.success) for b in paused.blocks] == [("start", True)]
    assert json.loads(paused.blocks[0].output or "null") == {"amount": 7}
    final = get_execution(engine.records.ddb, engine.records.settings, result.execution_arn)
    assert final is not None and final.record.status == "succeeded" and final.approvals == []
    assert [b.name for b in final.blocks][:2] == ["start", "Approval"]


SPLIT_FLOW = """
name: split-refund-approval
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}]}}
  - {id: fee, name: Fee, type: function, params: {code: "return <start.amount> * 2"}}
  - {id: tax, name: Tax, type: function, params: {code: "return <fee.result> / 2"}}
  - {id: net, name: Net, type: function, params: {code: "return <fee.result> - <tax.result>"}}
  - {id: ask, name: Approval, type: approval,
     params: {display: [{name: fee, type: number, value: "<fee.result>"}],
              form: [{name: approved, type: boolean, required: true}],
              approvers: [lead@example.com], subject: "Refund <start.amount>"}}
  - {id: pay, name: Pay, type: function, params: {code: "return 'paid ' + <fee.result>"}}
edges: [start -> fee, fee -> tax, tax -> net, net -> ask, ask -> pay]
"""


def test_a_split_runs_pause_shows_the_blocks_its_stretch_ran(engine: LocalEngine) -> None:
    # the blocks before the approval ran in an Express stretch: the approval notifier's
    # snapshot reads them from that stretch (deployed: its log; here: its history)
    from stepweave.runtime.query import get_execution

    compiled = compile_text(SPLIT_FLOW)
    assert compiled.stretches, "the blocks before the approval should run in a stretch"
    seen: list[Any] = []

    def approver(approval: Approval) -> dict[str, Any] | None:
        seen.append(get_execution(engine.records.ddb, engine.records.settings, approval.execution_arn))
        return {"approved": True}

    result = engine.run(compiled, {"amount": 7}, poll_s=0.01, approver=approver)
    assert result.status == "SUCCEEDED", result.error
    (paused,) = seen
    assert paused is not None and paused.record.status == "paused"
    assert [(b.name, b.success) for b in paused.blocks] == [
        ("start", True), ("Fee", True), ("Tax", True), ("Net", True)]
    assert json.loads(paused.blocks[3].output or "null") == {"result": 7, "stdout": ""}


FAN_THEN_ASK = """
name: fan-then-ask
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: par, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>", mode: distributed}}
  - {id: each, name: Each, type: function, parent: par, params: {code: "return <parallel.currentItem> * 10"}}
  - {id: ask, name: Approval, type: approval,
     params: {form: [{name: approved, type: boolean, required: true}], approvers: [lead@example.com]}}
edges: [start -> par, "par -[parallel-start-source]-> each", par -> ask]
"""


def test_the_pause_shows_the_blocks_a_distributed_parallel_ran(engine: LocalEngine) -> None:
    # the items ran as child executions of a distributed Map: the pause snapshot reads
    # them as the recorder does (here, from what the engine keeps of them)
    from stepweave.runtime.query import get_execution

    seen: list[Any] = []

    def approver(approval: Approval) -> dict[str, Any] | None:
        seen.append(get_execution(engine.records.ddb, engine.records.settings, approval.execution_arn))
        return {"approved": True}

    result = engine.run(compile_text(FAN_THEN_ASK), {"items": [1, 2, 3]}, poll_s=0.01, approver=approver)
    assert result.status == "SUCCEEDED", result.error
    (paused,) = seen
    assert paused is not None and paused.record.status == "paused"
    inside = sorted((b.branch, json.loads(b.output or "null")["result"])
                    for b in paused.blocks if b.name == "Each")
    assert inside == [(0, 10), (1, 20), (2, 30)]
