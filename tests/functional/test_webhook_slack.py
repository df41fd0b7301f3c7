"""Slack's signing secret on the webhook ingest (``handle_webhook``, the Lambda's and the
local gateway's code), with requests shaped as Slack sends them and API Gateway delivers them.

GIVEN a workflow whose webhook is ``signature: {scheme: slack}``
WHEN Slack posts an event, a slash command, an interaction, or its url_verification
THEN a good v0 signature within 5 minutes starts one execution whose input has Sim's
``event`` shape; a bad, missing or stale signature is 401 and starts nothing; a replay or a
Slack retry of the same event is the same execution; the challenge is echoed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from moto import mock_aws
from stepweave.local.records import create_table, local_client
from stepweave.runtime.recorder import Clients
from stepweave.runtime.secrets import Secrets
from stepweave.runtime.settings import Settings
from stepweave.triggers.declare import Signature, WebhookTrigger
from stepweave.triggers.signatures import SignatureError, sign, verify
from stepweave.triggers.targets import TARGETS_FILE, WebhookTarget

from tests.functional.webhook_world import NOW, PASS, ROLE, TABLE, World

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK = Signature(scheme="slack", secret="SLACK_SIGNING_SECRET")
EVENT = {
    "token": "XXYYZZ", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
    "event_id": "Ev08MFMKH6", "event_time": 1760000000,
    "event": {"type": "app_mention", "user": "U061F7AUR", "text": "<@U0LAN0Z89> is it everything?",
              "ts": "1515449522.000016", "channel": "C0LAN2Q65", "event_ts": "1515449522000016",
              "channel_type": "channel"},
}


def _signed(body: bytes, *, now: float = NOW, secret: str = SECRET,
            content_type: str = "application/json") -> dict[str, str]:
    return {**sign(SLACK, body, secret, now=now), "Content-Type": content_type}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with mock_aws():
        sfn, ddb = local_client("stepfunctions"), local_client("dynamodb")
        create_table(ddb, TABLE)
        targets = {}
        for name, extra in {"chat": {}, "mentions": {"when": {"body.event.type": ["app_mention"]}}}.items():
            arn = sfn.create_state_machine(name=f"dev-{name}", definition=PASS,
                                           roleArn=ROLE)["stateMachineArn"]
            trigger = WebhookTrigger.model_validate(
                {"type": "webhook", "signature": SLACK.model_dump(exclude_none=True), **extra})
            targets[name] = WebhookTarget(name, arn, "STANDARD", trigger)
        settings = Settings(table=TABLE)
        yield World(Clients(sfn=sfn, ddb=ddb), settings, targets,
                    Secrets(settings, env={"SLACK_SIGNING_SECRET": SECRET}))


def test_slacks_documented_example_verifies() -> None:
    # api.slack.com/authentication/verifying-requests-from-slack
    body = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
            "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
            "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977"
            "00885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d"
            "10d2c447fce8b6703c").encode()
    headers = {"x-slack-request-timestamp": "1531420618",
               "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"}
    verify(SLACK, headers, body, SECRET, now=1531420618 + 10)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SLACK, headers, body + b"x", SECRET, now=1531420618 + 10)


def test_a_signed_event_starts_one_run_with_sims_event_shape(world: World) -> None:
    body = json.dumps(EVENT).encode()
    status, answer = world.post("chat", body, _signed(body))
    assert status == 202 and answer["deliveryId"] == "Ev08MFMKH6", answer
    data = world.run_input(answer["executionId"])
    event = data["event"]
    assert event["event_type"] == "app_mention" and event["text"] == EVENT["event"]["text"]
    assert (event["channel"], event["user"], event["team_id"], event["event_id"]) == \
        ("C0LAN2Q65", "U061F7AUR", "T0001", "Ev08MFMKH6")
    assert event["timestamp"] == "1515449522.000016" and event["ts"] == "1515449522.000016"
    assert data["trigger"]["provider"] == "slack"
    assert world.record(answer["executionId"])["trigger"]["provider"] == "slack"


@pytest.mark.parametrize(("why", "headers"), [
    ("wrong secret", lambda b: _signed(b, secret="not-the-secret")),
    ("no signature", lambda b: {"X-Slack-Request-Timestamp": str(int(NOW))}),
    ("no timestamp", lambda b: {"X-Slack-Signature": _signed(b)["X-Slack-Signature"]}),
    ("no v0 prefix", lambda b: {**_signed(b), "X-Slack-Signature":
                                _signed(b)["X-Slack-Signature"].replace("v0=", "v1=")}),
    ("timestamp moved", lambda b: {**_signed(b), "X-Slack-Request-Timestamp": str(int(NOW) + 1)}),
    ("timestamp not digits", lambda b: {**_signed(b), "X-Slack-Request-Timestamp": "12e9"}),
])
def test_a_bad_signature_is_401_and_starts_nothing(world: World, why: str, headers: Any) -> None:
    body = json.dumps({**EVENT, "event_id": f"Ev-bad-{why}"}).encode()
    before = len(world.executions("chat"))
    status, answer = world.post("chat", body, headers(body))
    assert status == 401 and answer["error"]["code"] == "unauthorized", (why, answer)
    assert len(world.executions("chat")) == before


def test_a_stale_signature_is_refused_after_five_minutes(world: World) -> None:
    body = json.dumps({**EVENT, "event_id": "Ev-stale"}).encode()
    headers = _signed(body, now=NOW - 301)
    status, answer = world.post("chat", body, headers)
    assert status == 401 and "300 s tolerance" in answer["error"]["message"]
    status, _ = world.post("chat", body, _signed(body, now=NOW - 299))
    assert status == 202


def test_a_replay_or_a_slack_retry_is_the_same_execution(world: World) -> None:
    body = json.dumps({**EVENT, "event_id": "Ev-replayed"}).encode()
    headers = _signed(body)
    first = world.post("chat", body, headers)
    assert first[0] == 202
    replay = world.post("chat", body, headers, now=NOW + 60)  # the captured request, again
    retry = world.post("chat", body, {**_signed(body, now=NOW + 120), "X-Slack-Retry-Num": "1",
                                      "X-Slack-Retry-Reason": "http_timeout"}, now=NOW + 120)
    for status, answer in (replay, retry):
        assert status == 200 and answer["duplicate"] is True
        assert answer["executionId"] == first[1]["executionId"]
    # a captured request replayed after the window is refused outright
    assert world.post("chat", body, headers, now=NOW + 301)[0] == 401


def test_url_verification_is_answered_with_the_challenge_and_starts_nothing(world: World) -> None:
    body = json.dumps({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "type": "url_verification",
                       "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}).encode()
    before = len(world.executions("mentions"))
    status, answer = world.post("mentions", body, _signed(body))
    assert (status, answer) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    assert len(world.executions("mentions")) == before
    # unsigned, it is refused like any other request
    assert world.post("mentions", body, {"Content-Type": "application/json"})[0] == 401


def test_when_filters_slack_event_types(world: World) -> None:
    body = json.dumps({**EVENT, "event_id": "Ev-reaction",
                       "event": {"type": "reaction_added", "user": "U1", "reaction": "thumbsup",
                                 "item_user": "U2", "event_ts": "1.2",
                                 "item": {"type": "message", "channel": "C1", "ts": "1.1"}}}).encode()
    status, answer = world.post("mentions", body, _signed(body))
    assert status == 200 and answer["ignored"] is True and "body.event.type" in answer["reason"]
    status, answer = world.post("chat", body, _signed(body))
    event = world.run_input(answer["executionId"])["event"]
    assert (event["event_type"], event["reaction"], event["channel"], event["timestamp"]) == \
        ("reaction_added", "thumbsup", "C1", "1.1")


def test_a_slash_command_and_an_interaction_are_form_encoded(world: World) -> None:
    command = urlencode({"command": "/deploy", "text": "api prod", "channel_id": "C9", "user_id": "U9",
                         "user_name": "ada", "team_id": "T9", "trigger_id": "13345224609.738474920.8088",
                         "response_url": "https://hooks.slack.com/commands/1234/5678"}).encode()
    status, answer = world.post("chat", command, _signed(command, content_type="application/x-www-form-urlencoded"))
    assert status == 202 and answer["deliveryId"] == "13345224609.738474920.8088"
    event = world.run_input(answer["executionId"])["event"]
    assert (event["event_type"], event["command"], event["text"], event["user_name"]) == \
        ("slash_command", "/deploy", "api prod", "ada")
    payload = {"type": "block_actions", "trigger_id": "T-2", "user": {"id": "U9", "username": "ada"},
               "team": {"id": "T9"}, "channel": {"id": "C9", "name": "ops"},
               "message": {"ts": "5.5", "text": "Approve?"},
               "actions": [{"action_id": "approve", "value": "yes", "action_ts": "5.6"}]}
    form = urlencode({"payload": json.dumps(payload)}).encode()
    status, answer = world.post("chat", form, _signed(form, content_type="application/x-www-form-urlencoded"))
    assert status == 202
    event = world.run_input(answer["executionId"])["event"]
    assert (event["event_type"], event["action_id"], event["action_value"], event["text"]) == \
        ("block_actions", "approve", "yes", "Approve?")
    bad = urlencode({"payload": "[1, 2"}).encode()
    status, answer = world.post("chat", bad, _signed(bad, content_type="application/x-www-form-urlencoded"))
    assert status == 400 and "payload" in answer["error"]["message"]


class _Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:stepweave-dev-ingest"


def test_the_ingest_lambda_takes_a_slack_event(world: World, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.ingest import handler

    targets = tmp_path / TARGETS_FILE
    targets.write_text(json.dumps({"chat": {"stateMachine": "dev-chat", "type": "STANDARD", "trigger": {
        "type": "webhook", "signature": {"scheme": "slack", "secret": "SLACK_SIGNING_SECRET"}}}}))
    monkeypatch.setenv("STEPWEAVE_TABLE", TABLE)
    monkeypatch.setenv("STEPWEAVE_WEBHOOK_TARGETS", str(targets))
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    caches = (handler.clients, handler.settings, handler.secrets, handler.targets)
    for cached in caches:
        cached.cache_clear()
    body = json.dumps({**EVENT, "event_id": "Ev-lambda"})
    try:
        event = {"httpMethod": "POST", "resource": "/webhooks/{workflow}", "path": "/webhooks/chat",
                 "pathParameters": {"workflow": "chat"}, "queryStringParameters": None,
                 "headers": sign(SLACK, body.encode(), SECRET, now=time.time()) | {
                     "Content-Type": "application/json", "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"},
                 "body": body, "isBase64Encoded": False}
        response = handler.lambda_handler(event, _Context())
        assert response["statusCode"] == 202, response
        arn = json.loads(response["body"])["executionId"]
        assert world.run_input(arn)["event"]["event_id"] == "Ev-lambda"
        again = handler.lambda_handler(event, _Context())
        assert again["statusCode"] == 200 and json.loads(again["body"])["executionId"] == arn
    finally:
        for cached in caches:
            cached.cache_clear()
