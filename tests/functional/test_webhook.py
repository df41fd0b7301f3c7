"""The webhook ingest: signatures per scheme, dedup of provider retries, bad input, records.

GIVEN workflows with webhook triggers on moto's Step Functions (a one-state machine; moto
does not run it) and the records table, WHEN requests shaped as API Gateway delivers them
reach ``handle_webhook``, THEN exactly the right executions exist. Signatures are computed
here with ``hmac`` directly (GitHub's from its documented example), not with our signer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from stepweave.triggers.declare import WebhookTrigger
from stepweave.triggers.signatures import SignatureError, verify
from stepweave.triggers.targets import WebhookTarget

from tests.functional.webhook_world import NOW, SECRET, TRIGGERS, World, make_world


@pytest.fixture()
def world() -> Iterator[World]:
    with make_world() as built:
        yield built


def _hex(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _stripe(body: bytes, t: int, secret: str = SECRET) -> str:
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


# --- signatures --------------------------------------------------------------------------------

def test_github_documented_example_verifies() -> None:
    # https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
    trigger = WebhookTrigger.model_validate(TRIGGERS["repo"])
    good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    verify(trigger.signature, {"x-hub-signature-256": good}, b"Hello, World!",
           "It's a Secret to Everybody", now=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify(trigger.signature, {"x-hub-signature-256": good}, b"Hello, World?",
               "It's a Secret to Everybody", now=NOW)


@pytest.mark.parametrize(("workflow", "headers"), [
    ("generic", lambda b: {"X-Sig": "sha256=" + _hex(b), "X-Delivery": "d-1"}),
    ("b64", lambda b: {"x-signature-256": base64.b64encode(bytes.fromhex(_hex(b))).decode()}),
    ("shop", lambda b: {"X-Shopify-Hmac-Sha256": base64.b64encode(bytes.fromhex(_hex(b))).decode(),
                        "X-Shopify-Webhook-Id": "shop-1"}),
    ("pay", lambda b: {"Stripe-Signature": _stripe(b, int(NOW) - 10)}),
    ("repo", lambda b: {"X-Hub-Signature-256": "sha256=" + _hex(b), "X-GitHub-Delivery": "gh-1"}),
])
def test_a_valid_signature_starts_one_execution(world: World, workflow: str, headers: Any) -> None:
    body = json.dumps({"id": "evt_1", "amount": 42}).encode()
    status, answer = world.post(workflow, body, headers(body))
    assert status == 202, answer
    (execution,) = world.executions(workflow)
    assert answer["executionId"] == execution["executionArn"]
    run_input = world.run_input(execution["executionArn"])
    assert run_input["amount"] == 42
    assert run_input["trigger"]["type"] == "webhook"
    assert run_input["trigger"]["deliveryId"] == answer["deliveryId"]


@pytest.mark.parametrize(("workflow", "headers", "message"), [
    ("generic", {"X-Sig": "sha256=" + "0" * 64}, "does not match"),
    ("generic", {"X-Sig": _hex(b"{}")}, "does not match"),  # prefix missing
    ("generic", {}, "missing X-Sig"),
    ("shop", {"X-Shopify-Hmac-Sha256": "not base64!"}, "does not match"),
    ("shop", {}, "missing X-Shopify-Hmac-Sha256"),
    ("pay", {"Stripe-Signature": _stripe(b"{}", int(NOW), secret="other")}, "does not match"),
    ("pay", {"Stripe-Signature": _stripe(b"{}", int(NOW) - 301)}, "tolerance"),
    ("pay", {"Stripe-Signature": "v1=abc"}, "t=<timestamp>"),
    ("pay", {}, "missing Stripe-Signature"),
    ("repo", {"X-Hub-Signature-256": _hex(b"{}")}, "does not match"),
    ("repo", {"X-Hub-Signature-256": "sha256=" + _hex(b"{}", secret="other")}, "does not match"),
    ("repo", {}, "missing X-Hub-Signature-256"),
])
def test_a_bad_or_missing_signature_is_401_and_starts_nothing(
        world: World, workflow: str, headers: dict[str, str], message: str) -> None:
    status, answer = world.post(workflow, b"{}", headers)
    assert status == 401
    assert answer["error"]["code"] == "unauthorized"
    assert message in answer["error"]["message"]
    assert SECRET not in json.dumps(answer)
    assert world.executions(workflow) == []


def test_stripe_replay_inside_the_window_is_the_same_execution(world: World) -> None:
    body = json.dumps({"id": "evt_replayed", "type": "charge.succeeded"}).encode()
    first = world.post("pay", body, {"Stripe-Signature": _stripe(body, int(NOW))})
    # the provider's retry: a new timestamp and signature, the same event
    again = world.post("pay", body, {"Stripe-Signature": _stripe(body, int(NOW) + 60)}, now=NOW + 60)
    stale = world.post("pay", body, {"Stripe-Signature": _stripe(body, int(NOW))}, now=NOW + 400)
    assert first[0] == 202 and again[0] == 200
    assert again[1]["executionId"] == first[1]["executionId"] and again[1]["duplicate"] is True
    assert again[1]["deliveryId"] == "evt_replayed"
    assert stale[0] == 401
    assert len(world.executions("pay")) == 1


def test_stripe_tolerance_is_configurable(world: World) -> None:
    world.targets["pay"] = WebhookTarget("pay", world.targets["pay"].state_machine_arn, "STANDARD",
                                         WebhookTrigger.model_validate(
                                             {"type": "webhook", "signature": {
                                                 "scheme": "stripe", "secret": "STRIPE_SECRET",
                                                 "tolerance": 900}}))
    body = b'{"id": "evt_late"}'
    assert world.post("pay", body, {"Stripe-Signature": _stripe(body, int(NOW) - 600)})[0] == 202


def test_a_secret_that_is_not_configured_is_503_not_401(world: World) -> None:
    status, answer = world.post("unset", b"{}", {"X-Hub-Signature-256": "sha256=" + _hex(b"{}")})
    assert status == 503 and answer["error"]["code"] == "unavailable"
    assert "NOT_SET_ANYWHERE" not in answer["error"]["message"]
    assert world.executions("unset") == []
