"""The webhook ingest against an attacker: replays with fresh delivery ids, malformed signature
headers, bodies that break parsers.

GIVEN the ingest Lambda (``functions/ingest/handler.py``) with its targets file, secrets from
the environment, moto's Step Functions and DynamoDB, WHEN API Gateway REST proxy events (as
the local gateway builds them) arrive, THEN every answer is JSON, nothing crashes, and one
captured request starts at most one execution however often it is replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stepweave.local.gateway import to_event
from stepweave.triggers.targets import TARGETS_FILE
from tests.functional.webhook_world import PASS, ROLE, SECRET, TABLE, World, make_world

TRIGGERS: dict[str, dict[str, Any]] = {
    "generic": {"type": "webhook", "signature": {"scheme": "hmac", "secret": "HOOK_SECRET",
                                                 "header": "X-Sig", "prefix": "sha256="},
                "dedupHeader": "X-Delivery"},
    "stamped": {"type": "webhook", "signature": {"scheme": "hmac", "secret": "HOOK_SECRET",
                                                 "header": "X-Sig", "timestampHeader": "X-Sig-Timestamp",
                                                 "tolerance": 300},
                "dedupHeader": "X-Delivery"},
    "repo": {"type": "webhook", "signature": {"scheme": "github", "secret": "HOOK_SECRET"}},
    "shop": {"type": "webhook", "signature": {"scheme": "shopify", "secret": "HOOK_SECRET"}},
    "pay": {"type": "webhook", "signature": {"scheme": "stripe", "secret": "HOOK_SECRET"}},
}


class _Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:stepweave-dev-ingest"


class Ingest:
    def __init__(self, world: World, handler: Any) -> None:
        self.world, self.handler = world, handler

    def post(self, workflow: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        event = to_event("POST", f"/webhooks/{workflow}", {"Content-Type": "application/json", **headers},
                         body, resource="/webhooks/{workflow}", path_parameters={"workflow": workflow})
        response = self.handler.lambda_handler(event, _Context())
        assert response["headers"]["Content-Type"] == "application/json", response
        return int(response["statusCode"]), json.loads(response["body"])

    def executions(self, workflow: str) -> list[dict[str, Any]]:
        arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:dev-{workflow}"
        executions: list[dict[str, Any]] = self.world.clients.sfn.list_executions(stateMachineArn=arn)["executions"]
        return executions


@pytest.fixture()
def ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ingest]:
    from functions.ingest import handler

    with make_world() as world:
        for name in TRIGGERS:
            if f"dev-{name}" not in {m["name"] for m in world.clients.sfn.list_state_machines()["stateMachines"]}:
                world.clients.sfn.create_state_machine(name=f"dev-{name}", definition=PASS, roleArn=ROLE)
        targets = tmp_path / TARGETS_FILE
        targets.write_text(json.dumps({name: {"stateMachine": f"dev-{name}", "type": "STANDARD", "trigger": t}
                                       for name, t in TRIGGERS.items()}))
        monkeypatch.setenv("STEPWEAVE_TABLE", TABLE)
        monkeypatch.setenv("STEPWEAVE_WEBHOOK_TARGETS", str(targets))
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        caches = (handler.clients, handler.settings, handler.secrets, handler.targets)
        for cached in caches:
            cached.cache_clear()
        try:
            yield Ingest(world, handler)
        finally:
            for cached in caches:
                cached.cache_clear()


def _mac(data: bytes) -> bytes:
    return hmac.new(SECRET.encode(), data, hashlib.sha256).digest()


def _stripe(body: bytes, t: int) -> str:
    return f"t={t},v1=" + _mac(f"{t}.".encode() + body).hex()


#: How each provider signs a request and names its delivery (the id is not signed).
SIGNED: dict[str, Callable[[bytes, str], dict[str, str]]] = {
    "generic": lambda b, d: {"X-Sig": "sha256=" + _mac(b).hex(), "X-Delivery": d},
    "stamped": lambda b, d: {"X-Sig": _mac(f"{int(time.time())}.".encode() + b).hex(),
                             "X-Sig-Timestamp": str(int(time.time())), "X-Delivery": d},
    "repo": lambda b, d: {"X-Hub-Signature-256": "sha256=" + _mac(b).hex(), "X-GitHub-Delivery": d},
    "shop": lambda b, d: {"X-Shopify-Hmac-Sha256": base64.b64encode(_mac(b)).decode(),
                          "X-Shopify-Webhook-Id": d},
}


# --- replays ------------------------------------------------------------------------------------

@pytest.mark.parametrize("workflow", list(SIGNED))
def test_a_captured_request_replayed_with_fresh_delivery_ids_starts_one_execution(
        ingest: Ingest, workflow: str) -> None:
    body = json.dumps({"order": 1001, "refund": 250}).encode()
    captured = SIGNED[workflow](body, "delivery-original")
    assert ingest.post(workflow, body, captured)[0] == 202
    answers = []
    for _ in range(9):  # the attacker's copies: the same signed request, a new delivery id
        replay = dict(captured)
        for name in ("X-Delivery", "X-GitHub-Delivery", "X-Shopify-Webhook-Id"):
            if name in replay:
                replay[name] = str(uuid.uuid4())
        answers.append(ingest.post(workflow, body, replay))
    (execution,) = ingest.executions(workflow)
    assert {status for status, _ in answers} == {200}
    assert {a["executionId"] for _, a in answers} == {execution["executionArn"]}
    assert all(a["duplicate"] and a["deliveryId"] == "delivery-original" for _, a in answers)


@pytest.mark.parametrize("workflow", list(SIGNED))
def test_retries_and_distinct_deliveries_still_work(ingest: Ingest, workflow: str) -> None:
    first = json.dumps({"order": 1}).encode()
    assert ingest.post(workflow, first, SIGNED[workflow](first, "d-1"))[0] == 202
    status, retry = ingest.post(workflow, first, SIGNED[workflow](first, "d-1"))  # the provider's retry
    assert (status, retry["duplicate"]) == (200, True)
    second = json.dumps({"order": 2}).encode()
    assert ingest.post(workflow, second, SIGNED[workflow](second, "d-2"))[0] == 202
    assert len(ingest.executions(workflow)) == 2


def test_a_signed_timestamp_bounds_replays_in_time(ingest: Ingest) -> None:
    body = b'{"order": 7}'
    old = int(time.time()) - 301
    stale = {"X-Sig": _mac(f"{old}.".encode() + body).hex(), "X-Sig-Timestamp": str(old), "X-Delivery": "d-old"}
    status, answer = ingest.post("stamped", body, stale)
    assert status == 401 and "tolerance" in answer["error"]["message"]
    # the timestamp is signed: moving it forward breaks the signature
    moved = {**stale, "X-Sig-Timestamp": str(int(time.time()))}
    status, answer = ingest.post("stamped", body, moved)
    assert status == 401 and "does not match" in answer["error"]["message"]
    # the same body signed without the timestamp is not accepted either
    status, _ = ingest.post("stamped", body, {"X-Sig": _mac(body).hex(), "X-Sig-Timestamp": str(int(time.time()))})
    assert status == 401
    assert ingest.executions("stamped") == []


# --- malformed headers and bodies -----------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "t=" + "9" * 5000 + ",v1=" + "0" * 64,  # past int()'s digit limit
    "t=\u00b2,v1=" + "0" * 64,  # a unicode digit: str.isdigit() says yes, int() says no
    "t=\u0661\u0662,v1=" + "0" * 64,  # Arabic-Indic digits
    "t=-5,v1=" + "0" * 64,
    ",".join(["t=1"] + ["v1=" + "0" * 64] * 12),
    "v1=" * 400,
])
def test_malformed_stripe_signatures_are_refused_before_anything_else(ingest: Ingest, value: str) -> None:
    status, answer = ingest.post("pay", b'{"id": "evt_1"}', {"Stripe-Signature": value})
    assert status == 401, answer
    assert answer["error"]["code"] == "unauthorized"
    assert ingest.executions("pay") == []


def test_an_oversized_header_is_a_400(ingest: Ingest) -> None:
    body = b'{"a": 1}'
    headers = {**SIGNED["repo"](body, "d-1"), "X-Padding": "x" * 9000}
    status, answer = ingest.post("repo", body, headers)
    assert status == 400 and "x-padding" in answer["error"]["message"]


@pytest.mark.parametrize(("body", "message"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than"),
    (b"[" * 100_000, "nested deeper than"),
    (b'{"amount": 1e400}', "amount: not a finite number"),
    (b'{"amount": NaN}', "amount: not a finite number"),
    (b'{"amount": -Infinity}', "amount: not a finite number"),
    (b'{"n": ' + b"9" * 5000 + b"}", "n: not a finite number"),
    (b'{"a": "\xff"}', "not UTF-8"),
])
def test_signed_bodies_that_break_parsers_are_a_400(ingest: Ingest, body: bytes, message: str) -> None:
    status, answer = ingest.post("repo", body, SIGNED["repo"](body, "d-1"))
    assert status == 400, answer
    assert message in answer["error"]["message"]
    assert ingest.executions("repo") == []
