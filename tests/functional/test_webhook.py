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


# --- which events start a run ('when') ---------------------------------------------------------

def _github(world: World, event: str, body: dict[str, Any], delivery: str) -> tuple[int, Any]:
    raw = json.dumps(body).encode()
    return world.post("prs", raw, {"X-Hub-Signature-256": "sha256=" + _hex(raw),
                                   "X-GitHub-Event": event, "X-GitHub-Delivery": delivery})


def test_only_the_events_a_webhook_takes_start_a_run(world: World) -> None:
    """GIVEN a GitHub webhook that takes opened, non-draft pull requests THEN such a signed
    delivery starts a run, other signed events are acknowledged (200) and start nothing,
    and an unsigned one is still refused."""
    status, answer = _github(world, "pull_request", {"action": "opened", "pull_request": {"draft": False}}, "d-1")
    assert status == 202, answer
    ignored = [("pull_request", {"action": "closed", "pull_request": {}}, "body.action is 'closed'"),
               ("pull_request", {"action": "opened", "pull_request": {"draft": True}},
                "body.pull_request.draft is True"),
               ("push", {"ref": "refs/heads/main"}, "headers.X-GitHub-Event is 'push'"),
               ("pull_request", {"action": "opened", "pull_request": {"draft": "false"}},
                "body.pull_request.draft is 'false'")]
    for index, (event, body, why) in enumerate(ignored):
        status, answer = _github(world, event, body, f"d-{index + 2}")
        assert status == 200 and answer["ignored"] is True, answer
        assert answer["reason"] == f"not an event this workflow takes: {why}"
    assert len(world.executions("prs")) == 1
    status, _ = world.post("prs", b"{}", {"X-GitHub-Event": "pull_request"})
    assert status == 401


@pytest.mark.parametrize(("when", "message"), [
    ({}, "'when' takes 1 to 20 paths"),
    ({"body.action": []}, "give 1 to 50 values"),
    ({"cookies.a": ["x"]}, "is not a path starting with 'body' or 'headers' or 'query'"),
])
def test_a_bad_when_is_refused(when: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebhookTrigger.model_validate({"type": "webhook", "signature": "none", "when": when})
