"""The approval routes for programs (``/v1/approvals``): API-key auth, tenant ownership, the
same decision as the form page, errors in the API's shape — on the embedded engine."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from stepweave.api.decisions import handle_api
from stepweave.api.keys import create_key, disable_key
from stepweave.blocks.approval_block import request_approval
from stepweave.blocks.contract import BlockEvent
from stepweave.local.engine import LocalEngine
from stepweave.runtime.approvals import Approval, get_approval
from stepweave.runtime.recorder import Clients
from stepweave.runtime.records import ExecutionRecord, put_started
from stepweave.runtime.settings import Settings

from tests.engine.helpers import compile_text

FLOW = """
name: refund-api
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}]}}
  - {id: ask, name: Approval, type: approval,
     params: {display: {amount: "<start.amount>"}, approvers: [lead@example.com],
              form: [{name: approved, type: boolean, required: true}, {name: comments, type: string}]}}
  - {id: done, name: Done, type: function,
     params: {code: "return <approval.approved> + ' ' + <approval.comments> + ' by ' + <approval.decidedBy>"}}
edges: [start -> ask, ask -> done]
"""


@pytest.fixture()
def engine() -> Iterator[LocalEngine]:
    with LocalEngine() as eng:
        yield eng


def _event(method: str, path: str, key: str | None, body: Any = None) -> dict[str, Any]:
    return {"httpMethod": method, "path": path, "resource": path, "pathParameters": None,
            "headers": {"Authorization": f"Bearer {key}"} if key else {},
            "body": None if body is None else (body if isinstance(body, str) else json.dumps(body)),
            "isBase64Encoded": False}


def _call(clients: Clients, settings: Settings) -> Callable[..., tuple[int, dict[str, Any]]]:
    def call(method: str, path: str, key: str | None, body: Any = None) -> tuple[int, dict[str, Any]]:
        response = handle_api(_event(method, path, key, body), clients=clients, settings=settings)
        return response["statusCode"], json.loads(response["body"])
    return call


def test_operator_key_lists_and_decides_a_runs_approval(engine: LocalEngine) -> None:
    settings = engine.records.settings.model_copy(update={"operator_tenant": "ops"})
    clients = Clients(sfn=engine.sfn, ddb=engine.records.ddb)
    ops_key, _ = create_key(clients.ddb, settings, tenant="ops", name="robot")
    acme_key, _ = create_key(clients.ddb, settings, tenant="acme")
    call = _call(clients, settings)
    seen: list[str] = []

    def approver(approval: Approval) -> None:
        if seen:
            return
        seen.append(approval.id)
        path = f"/v1/approvals/{approval.id}/decision"
        # GIVEN a pending approval of a run without tenant
        assert call("GET", "/v1/approvals", None)[0] == 401
        assert call("GET", "/v1/approvals", acme_key) == (200, {"approvals": []})
        status, listed = call("GET", "/v1/approvals", ops_key)
        assert status == 200 and [a["id"] for a in listed["approvals"]] == [approval.id]
        assert listed["approvals"][0]["display"] == {"amount": 7}
        assert "taskToken" not in json.dumps(listed)
        # another tenant cannot see it; bad bodies change nothing
        assert call("POST", path, acme_key, {"submission": {"approved": True}})[1]["error"]["code"] == "not_found"
        status, body = call("POST", path, ops_key, "not json")
        assert status == 400 and body["error"]["code"] == "invalid_input"
        status, body = call("POST", path, ops_key, {"submission": {"approved": "yes"}})
        assert status == 400 and "'approved' must be a boolean" in body["error"]["message"]
        assert call("GET", path, ops_key)[0] == 405
        # WHEN the operator decides
        status, body = call("POST", path, ops_key, {"submission": {"approved": True, "comments": "ok"}})
        assert status == 200 and body["output"]["decidedBy"] == "api:ops/robot"
        # THEN a second decision is a conflict
        status, body = call("POST", path, ops_key, {"submission": {"approved": False}})
        assert status == 409 and body["error"]["reason"] == "decided"

    result = engine.run(compile_text(FLOW), {"amount": 7}, poll_s=0.01, approver=approver, timeout_s=60)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["result"] == "true ok by api:ops/robot"
    stored = get_approval(clients.ddb, settings, seen[0])
    assert stored is not None and stored.decision == {"approved": True, "comments": "ok"}


def test_tenant_keys_decide_only_their_runs_approvals(engine: LocalEngine) -> None:
    settings = engine.records.settings
    clients = Clients(sfn=engine.sfn, ddb=engine.records.ddb)
    arn = "arn:aws:states:us-east-1:123456789012:execution:refund-api:acme.run-1"
    put_started(clients.ddb, settings, ExecutionRecord(
        workflow="refund-api", execution_arn=arn, name="acme.run-1", status="running",
        started_at="2027-01-15T08:00:00.000Z", expires_at=2_000_000_000, tenant="acme"))
    approval = request_approval(BlockEvent.model_validate({
        "block": {"id": "ask", "name": "Approval", "type": "approval"},
        "params": {"form": [{"name": "approved", "type": "boolean", "required": True}],
                   "approvers": ["lead@example.com"]},
        "context": {"workflow": "refund-api", "execution": arn}, "taskToken": "t"}),
        ddb=clients.ddb, ses=None, settings=settings)
    acme_key, _ = create_key(clients.ddb, settings, tenant="acme")
    globex_key, _ = create_key(clients.ddb, settings, tenant="globex")
    call = _call(clients, settings)
    path = f"/v1/approvals/{approval.id}/decision"
    assert call("POST", path, globex_key, {"submission": {"approved": True}})[0] == 404
    disable_key(clients.ddb, settings, acme_key)
    assert call("POST", path, acme_key, {"submission": {"approved": True}})[0] == 403
    fresh_key, _ = create_key(clients.ddb, settings, tenant="acme", name="second")
    status, listed = call("GET", "/v1/approvals", fresh_key)
    assert [a["id"] for a in listed["approvals"]] == [approval.id]
    bad = {**_event("POST", path, fresh_key), "body": "not base64!", "isBase64Encoded": True}
    response = handle_api(bad, clients=clients, settings=settings)
    assert response["statusCode"] == 400 and "not valid base64" in response["body"]
    # no run waits on this token: the decision is refused as "run gone" and the approval lapses
    status, body = call("POST", path, fresh_key, {"submission": {"approved": False}})
    assert status == 409 and body["error"]["reason"] == "run_gone"
    stored = get_approval(clients.ddb, settings, approval.id)
    assert stored is not None and stored.status == "lapsed"
    assert call("GET", "/v1/approvals", fresh_key) == (200, {"approvals": []})
