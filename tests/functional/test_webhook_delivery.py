"""Webhook deliveries: one execution per delivery (retries, concurrency, a crashed claim),
bad input, input mapping, the execution record, and the ingest Lambda entry point."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stepweave.runtime.records import to_dynamo
from stepweave.triggers.deliveries import (
    CLAIM_LEASE_SECONDS,
    DeliveryKey,
    delivery_key_plain,
    execution_name,
)
from stepweave.triggers.targets import TARGETS_FILE, WebhookTarget

from tests.functional.webhook_world import NOW, SECRET, TABLE, World, make_world


@pytest.fixture()
def world() -> Iterator[World]:
    with make_world() as built:
        yield built

GITHUB = {"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}


def _github(world: World, body: bytes, delivery: str, now: float = NOW) -> tuple[int, dict[str, Any]]:
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return world.post("repo", body, {"X-Hub-Signature-256": signature, "X-GitHub-Delivery": delivery},
                      now=now)


# --- one execution per delivery -----------------------------------------------------------------

def test_a_thousand_deliveries_of_one_event_start_exactly_one_execution(world: World) -> None:
    body = json.dumps({"action": "opened", "number": 7}).encode()
    answers = [_github(world, body, "gh-delivery-1", now=NOW + i / 100) for i in range(1000)]
    (execution,) = world.executions("repo")
    statuses = Counter(status for status, _ in answers)
    assert statuses == {202: 1, 200: 999}, statuses
    assert {a["executionId"] for s, a in answers if s in (200, 202)} == {execution["executionArn"]}
    # a retry after the burst gets the same execution
    status, answer = _github(world, body, "gh-delivery-1", now=NOW + 20)
    assert (status, answer["executionId"]) == (200, execution["executionArn"])


def test_distinct_deliveries_are_distinct_executions(world: World) -> None:
    ids = {_github(world, json.dumps({"n": i}).encode(), f"gh-{i}")[1]["executionId"] for i in range(3)}
    assert len(ids) == 3 and len(world.executions("repo")) == 3


def test_the_same_signed_body_under_new_delivery_ids_is_one_execution(world: World) -> None:
    # GitHub's delivery id is not signed: the signed body is what identifies a replay
    body = b'{"same": "body"}'
    answers = [_github(world, body, f"gh-{i}") for i in range(3)]
    assert [status for status, _ in answers] == [202, 200, 200]
    assert {a["executionId"] for _, a in answers} == {world.executions("repo")[0]["executionArn"]}
    assert {a["deliveryId"] for _, a in answers} == {"gh-0"}
    assert len(world.executions("repo")) == 1


def test_generic_dedup_header_else_body_hash(world: World) -> None:
    assert world.post("express", b'{"a": 1}')[0] == 202
    status, answer = world.post("express", b'{"a": 1}')
    assert status == 200 and answer["deliveryId"].startswith("sha256:")
    assert world.post("express", b'{"a": 2}')[0] == 202
    assert len(world.executions("express")) == 2


def _crashed_claim(world: World, workflow: str, delivery: str, run_input: dict[str, Any], at: float) -> None:
    """What a request that died between its claim and StartExecution leaves behind."""
    item = {**delivery_key_plain(DeliveryKey(workflow, delivery)), "claimToken": "dead",
            "claimedAt": int(at), "input": json.dumps(run_input),
            "executionName": execution_name(DeliveryKey(workflow, delivery)), "expiresAt": int(at) + 86400}
    world.clients.ddb.put_item(TableName=TABLE, Item={k: to_dynamo(v) for k, v in item.items()})


def test_a_crashed_claim_is_started_by_a_retry_after_the_lease(world: World) -> None:
    stored = {"stored": True, "trigger": {"type": "webhook", "deliveryId": "gh-crash"}}
    _crashed_claim(world, "repo", "gh-crash", stored, NOW)
    body = b'{"stored": false}'
    status, answer = _github(world, body, "gh-crash", now=NOW + 5)
    assert status == 409 and answer["error"]["code"] == "conflict"
    assert world.executions("repo") == []
    status, answer = _github(world, body, "gh-crash", now=NOW + CLAIM_LEASE_SECONDS + 1)
    assert status == 202
    (execution,) = world.executions("repo")
    assert world.run_input(execution["executionArn"]) == stored  # the first request's input
    assert _github(world, body, "gh-crash", now=NOW + 500)[1]["executionId"] == execution["executionArn"]


def test_a_failed_start_releases_the_claim_so_a_retry_starts_it(world: World) -> None:
    good = world.targets["repo"]
    world.targets["repo"] = WebhookTarget("repo", good.state_machine_arn + "-missing", "STANDARD", good.trigger)
    status, answer = _github(world, b"{}", "gh-retry")
    assert status == 503 and answer["error"]["code"] == "unavailable"
    world.targets["repo"] = good
    assert _github(world, b"{}", "gh-retry", now=NOW + 1)[0] == 202
    assert len(world.executions("repo")) == 1


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize(("workflow", "body", "method", "status", "code"), [
    ("open", "not json", "POST", 400, "invalid_input"),
    ("open", "{\"a\": 1", "POST", 400, "invalid_input"),
    ("open", json.dumps({"pad": "x" * 80}), "POST", 413, "too_large"),
    ("nowhere", "{}", "POST", 404, "not_found"),
    ("open", "{}", "GET", 405, "method_not_allowed"),
])
def test_bad_requests_have_clear_json_errors_and_start_nothing(
        world: World, workflow: str, body: str, method: str, status: int, code: str) -> None:
    got, answer = world.post(workflow, body, method=method)
    assert (got, answer["error"]["code"]) == (status, code)
    assert answer["error"]["message"]
    assert world.executions("open") == []


def test_a_workflow_without_a_webhook_trigger_is_404(world: World) -> None:
    del world.targets["open"]
    assert world.post("open", "{}")[0] == 404


def test_non_utf8_and_base64_bodies(world: World) -> None:
    assert world.post("open", b"\xff\xfe", b64=True)[1]["error"]["code"] == "invalid_input"
    assert world.post("open", b'{"b": 64}', b64=True)[0] == 202


def test_a_run_input_over_step_functions_limit_is_413(world: World) -> None:
    trigger = world.targets["express"].trigger.model_copy(update={"maxBodyBytes": 400_000})
    world.targets["express"] = WebhookTarget("express", world.targets["express"].state_machine_arn,
                                             "EXPRESS", trigger)
    status, answer = world.post("express", json.dumps({"big": "x" * 300_000}))
    assert status == 413 and "inputMapping" in answer["error"]["message"]


# --- input and record -----------------------------------------------------------------------

def test_input_mapping_reads_body_paths_and_headers(world: World) -> None:
    body = {"order": {"id": "o-9", "total": "12.5"}, "items": [{"sku": "A1"}, {"sku": "B2"}]}
    status, answer = world.post("mapped", json.dumps(body), {"X-Topic": "orders/create"})
    assert status == 202
    assert world.run_input(answer["executionId"]) == {
        "orderId": "o-9", "first": "A1", "topic": "orders/create", "missing": None,
        "trigger": {"type": "webhook", "workflow": "mapped", "name": "orders", "provider": "generic",
                    "deliveryId": answer["deliveryId"]}}


def test_the_execution_record_shows_the_trigger(world: World) -> None:
    _, answer = _github(world, b'{"x": 1}', "gh-record")
    record = world.record(answer["executionId"])
    assert record["status"] == "running" and record["workflow"] == "repo"
    assert record["trigger"] == {"type": "webhook", "workflow": "repo", "name": "webhook",
                                 "provider": "github", "deliveryId": "gh-record"}
    assert record["gsi1pk"] == "WF#repo"


def test_the_trigger_replaces_an_external_one_the_recorder_wrote_first(world: World) -> None:
    from stepweave.runtime.records import ExecutionRecord, put_started

    key = DeliveryKey("repo", "gh-race")
    arn = world.targets["repo"].state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + execution_name(key)
    put_started(world.clients.ddb, world.settings, ExecutionRecord(
        workflow="repo", execution_arn=arn, name=execution_name(key), status="running",
        trigger={"type": "external"}, started_at="2025-01-01T00:00:00.000Z", expires_at=2_000_000_000))
    _, answer = _github(world, b"{}", "gh-race")
    assert answer["executionId"] == arn
    assert world.record(arn)["trigger"]["type"] == "webhook"


# --- the Lambda entry point ---------------------------------------------------------------------

class _Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:stepweave-dev-ingest"


def test_the_ingest_lambda_reads_its_targets_file(world: World, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.ingest import handler

    targets = tmp_path / TARGETS_FILE
    targets.write_text(json.dumps({"open": {"stateMachine": "dev-open", "type": "STANDARD",
                                            "trigger": {"type": "webhook", "signature": "none"}}}))
    monkeypatch.setenv("STEPWEAVE_TABLE", TABLE)
    monkeypatch.setenv("STEPWEAVE_WEBHOOK_TARGETS", str(targets))
    for cached in (handler.clients, handler.settings, handler.secrets, handler.targets):
        cached.cache_clear()
    try:
        event = {"httpMethod": "POST", "path": "/webhooks/open", "pathParameters": {"workflow": "open"},
                 "headers": {"Content-Type": "application/json"}, "body": '{"hello": "world"}',
                 "isBase64Encoded": False}
        response = handler.lambda_handler(event, _Context())
        assert response["statusCode"] == 202, response
        (execution,) = world.executions("open")
        assert json.loads(response["body"])["executionId"] == execution["executionArn"]
    finally:
        for cached in (handler.clients, handler.settings, handler.secrets, handler.targets):
            cached.cache_clear()
