"""The approval request's items in the records table: the waiting list (pending approvals in
deadline order, the overdue ones), the run's ``paused`` status, tenants, lapsing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from stepweave.local.records import create_table
from stepweave.blocks.approval_block import request_approval
from stepweave.blocks.contract import BlockEvent
from stepweave.runtime.approvals import (
    decide,
    get_approval,
    lapse,
    list_pending,
    overdue,
)
from stepweave.runtime.query import get_execution
from stepweave.runtime.recorder import Clients
from stepweave.runtime.records import ExecutionRecord, put_started
from stepweave.runtime.settings import Settings

NOW = 1_800_000_000.0
ARN = "arn:aws:states:us-east-1:123456789012:execution:dev-refunds:run-1"


@pytest.fixture
def aws(tmp_path: Any) -> Iterator[tuple[Clients, Settings]]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "records")  # as deployed
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        yield Clients(sfn=sfn, ddb=ddb), Settings(table="records", local_dir=tmp_path)


def _event(block: str, timeout: int | None, arn: str = ARN) -> BlockEvent:
    return BlockEvent.model_validate({
        "block": {"id": block, "name": block.title(), "type": "approval"},
        "params": {"form": [{"name": "approved", "type": "boolean", "required": True}],
                   "approvers": ["lead@example.com"], "display": {"amount": 10},
                   **({"timeoutSeconds": timeout} if timeout else {})},
        "context": {"workflow": "refunds", "execution": arn}, "taskToken": f"token-{block}"})


def _running(clients: Clients, settings: Settings, tenant: str | None = None, arn: str = ARN) -> None:
    put_started(clients.ddb, settings, ExecutionRecord(
        workflow="refunds", execution_arn=arn, name=arn.rsplit(":", 1)[1], status="running",
        started_at="2027-01-15T08:00:00.000Z", expires_at=2_000_000_000, tenant=tenant))


def test_waiting_list_orders_by_deadline_and_finds_the_overdue(aws: tuple[Clients, Settings]) -> None:
    clients, settings = aws
    late = request_approval(_event("late", 3600), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    soon = request_approval(_event("soon", 60), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    never = request_approval(_event("never", None), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    pending = list_pending(clients.ddb, settings)
    assert [a.id for a in pending] == [soon.id, late.id, never.id]
    assert [a.block_name for a in overdue(clients.ddb, settings, NOW + 61)] == ["Soon"]
    assert [a.block_name for a in overdue(clients.ddb, settings, NOW + 3601)] == ["Soon", "Late"]
    assert overdue(clients.ddb, settings, NOW) == []
    # the waiting list never carries the task token
    item = clients.ddb.get_item(TableName="records", Key={"pk": {"S": "APPROVALS#PENDING"},
                                                           "sk": {"S": f"{int(NOW) + 60:010d}#{soon.id}"}})
    assert "Item" in item and "taskToken" not in item["Item"]


def test_lapse_takes_an_overdue_approval_off_the_list_once(aws: tuple[Clients, Settings]) -> None:
    clients, settings = aws
    approval = request_approval(_event("soon", 60), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    (stale,) = overdue(clients.ddb, settings, NOW + 61)
    assert lapse(clients.ddb, settings, stale) is True
    assert lapse(clients.ddb, settings, stale) is False
    stored = get_approval(clients.ddb, settings, approval.id)
    assert stored is not None and stored.status == "lapsed"
    assert overdue(clients.ddb, settings, NOW + 61) == []


def test_the_run_shows_paused_until_its_last_approval_is_decided(aws: tuple[Clients, Settings]) -> None:
    clients, settings = aws
    _running(clients, settings)
    first = request_approval(_event("first", None), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    second = request_approval(_event("second", None), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    detail = get_execution(clients.ddb, settings, ARN)
    assert detail is not None and detail.record.status == "paused"
    assert sorted(a.block_name for a in detail.approvals) == ["First", "Second"]
    decide(first.id, {"approved": True}, decided_by="lead", clients=clients, settings=settings, now=NOW)
    detail = get_execution(clients.ddb, settings, ARN)
    assert detail is not None and [a.block_name for a in detail.approvals] == ["Second"]
    assert detail.record.status == "paused"
    assert [a.id for a in list_pending(clients.ddb, settings)] == [second.id]
    decide(second.id, {"approved": False}, decided_by="lead", clients=clients, settings=settings, now=NOW)
    detail = get_execution(clients.ddb, settings, ARN)
    assert detail is not None and detail.record.status == "running" and detail.approvals == []
    assert list_pending(clients.ddb, settings) == []


def test_a_paused_record_is_not_overwritten_by_a_late_running_event(aws: tuple[Clients, Settings]) -> None:
    clients, settings = aws
    _running(clients, settings)
    request_approval(_event("ask", None), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    _running(clients, settings)  # the RUNNING status-change event delivered again
    detail = get_execution(clients.ddb, settings, ARN)
    assert detail is not None and detail.record.status == "paused"


def test_without_a_record_yet_readers_still_see_the_pause(aws: tuple[Clients, Settings]) -> None:
    clients, settings = aws
    request_approval(_event("ask", None), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    assert get_execution(clients.ddb, settings, ARN) is None  # nothing half-written
    _running(clients, settings)
    detail = get_execution(clients.ddb, settings, ARN)
    assert detail is not None and detail.record.status == "paused"


def test_approvals_carry_the_runs_tenant(aws: tuple[Clients, Settings]) -> None:
    clients, settings = aws
    other = ARN.replace("run-1", "run-2")
    _running(clients, settings, tenant="acme")
    _running(clients, settings, tenant="globex", arn=other)
    mine = request_approval(_event("a", None), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    theirs = request_approval(_event("b", None, arn=other), ddb=clients.ddb, ses=None,
                              settings=settings, now=NOW)
    assert mine.tenant == "acme" and theirs.tenant == "globex"
    assert [a.id for a in list_pending(clients.ddb, settings, tenants={"acme"})] == [mine.id]
    assert [a.id for a in list_pending(clients.ddb, settings, tenants={"globex"})] == [theirs.id]
    assert list_pending(clients.ddb, settings, tenants={None}) == []


def test_sweep_lapses_approvals_of_stopped_runs_and_reports_stuck_ones(
        aws: tuple[Clients, Settings]) -> None:
    from stepweave.runtime.approval_sweep import STUCK_GRACE_SECONDS, sweep

    clients, settings = aws
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = clients.sfn.create_state_machine(
        name="waits", roleArn=role,
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Pass", "End": True}}}))
    running = clients.sfn.start_execution(stateMachineArn=machine["stateMachineArn"],
                                          name="still-waiting")["executionArn"]
    gone = request_approval(_event("gone", 60), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    stuck = request_approval(_event("stuck", 60, arn=running), ddb=clients.ddb, ses=None,
                             settings=settings, now=NOW)
    fresh = request_approval(_event("fresh", 3600), ddb=clients.ddb, ses=None, settings=settings, now=NOW)
    # a lead-in (its task ran the stretch before it) may wait past the deadline by that
    # stretch's time: stuck only past the grace
    lead = request_approval(_event("lead", 60, arn=running), ddb=clients.ddb, ses=None,
                            settings=settings, now=NOW, carry={})
    result = sweep(clients, settings, NOW + 120)
    assert (result.overdue, result.lapsed, result.stuck) == (3, 1, [stuck.id])
    statuses = {a.id: get_approval(clients.ddb, settings, a.id).status  # type: ignore[union-attr]
                for a in (gone, stuck, fresh, lead)}
    assert statuses == {gone.id: "lapsed", stuck.id: "pending", fresh.id: "pending", lead.id: "pending"}
    again = sweep(clients, settings, NOW + 60 + STUCK_GRACE_SECONDS)
    assert (again.overdue, again.lapsed, sorted(again.stuck)) == (2, 0, sorted([stuck.id, lead.id]))


def test_a_tenants_approvals_are_found_behind_other_tenants(aws: tuple[Clients, Settings]) -> None:
    clients, settings = aws
    runs = {t: ARN.replace("run-1", f"run-{t}") for t in ("globex", "acme")}
    for tenant, arn in runs.items():
        _running(clients, settings, tenant=tenant, arn=arn)
    for n in range(3):  # sooner deadlines: first in the waiting list
        request_approval(_event(f"g{n}", 60 + n, arn=runs["globex"]), ddb=clients.ddb, ses=None,
                         settings=settings, now=NOW)
    mine = request_approval(_event("a", 3600, arn=runs["acme"]), ddb=clients.ddb, ses=None,
                            settings=settings, now=NOW)
    found = list_pending(clients.ddb, settings, tenants={"acme"}, limit=1)
    assert [a.id for a in found] == [mine.id]
    assert found[0].display == {"amount": 10} and found[0].form[0]["name"] == "approved"


def test_a_decision_too_large_to_pass_on_fails_the_run_saying_why(aws: tuple[Clients, Settings]) -> None:
    """A lead-in's decision goes back with the values the run carries past the approval;
    one over what Step Functions takes (``InvalidOutput``, here from a stubbed client) fails
    the task with ``Stepweave.DecisionTooLarge`` instead of leaving the run waiting, and the
    approver is told. Carried values over ``MAX_CARRY_BYTES`` are refused at the request."""
    from botocore.stub import ANY, Stubber

    from stepweave.blocks.approval_block import MAX_CARRY_BYTES
    from stepweave.errors import BlockError
    from stepweave.runtime.approvals import DECISION_TOO_LARGE_ERROR, ApprovalRunGone

    clients, settings = aws
    _running(clients, settings)
    with pytest.raises(BlockError, match="more than 240,000 bytes"):
        request_approval(_event("big", None), ddb=clients.ddb, ses=None, settings=settings, now=NOW,
                         carry={"b_x": "x" * MAX_CARRY_BYTES})
    approval = request_approval(_event("fits", None), ddb=clients.ddb, ses=None, settings=settings,
                                now=NOW, carry={"b_x": "x" * 1000})
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    stub = Stubber(sfn)
    stub.add_client_error("send_task_success", "InvalidOutput", expected_params={
        "taskToken": "token-fits", "output": ANY})
    stub.add_response("send_task_failure", {}, expected_params={
        "taskToken": "token-fits", "error": DECISION_TOO_LARGE_ERROR, "cause": ANY})
    with stub, pytest.raises(ApprovalRunGone, match="larger than Step Functions passes on"):
        decide(approval.id, {"approved": True}, decided_by="lead", clients=Clients(sfn=sfn, ddb=clients.ddb),
               settings=settings, now=NOW)
    stub.assert_no_pending_responses()
    assert get_approval(clients.ddb, settings, approval.id).status == "decided"  # type: ignore[union-attr]
