"""The agent, router and evaluator Lambda handlers with real block events, on the offline
``local`` model (no network, no key); conversation memory in moto's DynamoDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from stepweave.local.records import create_table

from functions.agent.handler import lambda_handler as agent_handler
from functions.evaluator.handler import lambda_handler as evaluator_handler
from functions.router.handler import lambda_handler as router_handler
from stepweave.ai.agent import run_agent
from stepweave.ai.session import Deps
from stepweave.errors import BlockInputError, ProviderAuthError, RouterNoMatch
from stepweave.runtime.settings import Settings
from tests.authored import authored_event


def _event(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    return authored_event({"id": f"{kind}-1", "name": kind.title(), "type": kind}, params,
                          {"workflow": "ai-test", "execution": "arn:aws:states:us-east-1:1:execution:x:y"})


ROUTES = [{"id": "r-billing", "title": "Billing", "value": "invoices, refunds, charged twice"},
          {"id": "r-bug", "title": "Bug", "value": "errors, crashes, broken pages"}]


def test_agent_handler_local_structured_output() -> None:
    out = agent_handler(_event("agent", {
        "model": "local", "systemPrompt": "Classify.",
        "messages": [{"role": "user", "content": "My invoice shows a double charge, billing please"}],
        "responseFormat": {"type": "object", "properties": {
            "category": {"type": "string", "enum": ["bug", "billing"]},
            "summary": {"type": "string"}, "priority": {"type": "integer", "minimum": 1}}}}), None)
    assert out["category"] == "billing" and out["priority"] == 1
    assert out["summary"].startswith("My invoice") and "content" not in out
    assert (out["model"], out["provider"], out["cost"]["total"]) == ("local", "local", 0.0)
    assert out["toolCalls"] == {"list": [], "count": 0}


def test_agent_handler_local_is_deterministic_and_echoes() -> None:
    event = _event("agent", {"model": "local/echo", "userPrompt": {"question": "hi"}})
    first, second = agent_handler(event, None), agent_handler(event, None)
    assert first["content"] == second["content"] == '{"question": "hi"}'


def test_agent_handler_reads_the_api_key_secret_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_MISSING_KEY", raising=False)
    with pytest.raises(ProviderAuthError, match="MY_MISSING_KEY") as caught:
        agent_handler(_event("agent", {"model": "gpt-4o", "apiKey": "{{MY_MISSING_KEY}}",
                                       "messages": [{"role": "user", "content": "hi"}]}), None)
    assert "environment variable MY_MISSING_KEY" in str(caught.value)


def test_agent_handler_rejects_bad_params_by_name() -> None:
    with pytest.raises(BlockInputError, match="temperature"):
        agent_handler(_event("agent", {"model": "local", "temperature": "hot",
                                       "messages": [{"role": "user", "content": "x"}]}), None)
    with pytest.raises(BlockInputError, match="no provider is known"):
        agent_handler(_event("agent", {"model": "mystery-model",
                                       "messages": [{"role": "user", "content": "x"}]}), None)


def test_router_handler_picks_by_context_and_fails_with_no_match() -> None:
    out = router_handler(_event("router", {"model": "local", "routes": json.dumps(ROUTES),
                                           "context": "I was charged twice on my invoice"}), None)
    assert out["selectedRoute"] == "r-billing" and out["selectedPath"]["title"] == "Billing"
    assert out["context"] == "I was charged twice on my invoice" and out["provider"] == "local"
    with pytest.raises(RouterNoMatch, match="could not determine a matching route"):
        router_handler(_event("router", {"model": "local", "routes": ROUTES,
                                         "context": "What a lovely day"}), None)


def test_evaluator_handler_outputs_one_field_per_metric() -> None:
    out = evaluator_handler(_event("evaluator", {
        "model": "local", "content": "The reply is polite and accurate about the refund policy",
        "metrics": [{"name": "Politeness", "description": "polite reply",
                     "range": {"min": 0, "max": 10}},
                    {"name": "Accuracy", "description": "accurate refund policy facts",
                     "range": {"min": 1, "max": 5}}]}), None)
    assert out["politeness"] == round(10 * 2 / 3)  # "polite", "reply" of {politeness, polite, reply}
    assert 1 <= out["accuracy"] <= 5 and isinstance(out["accuracy"], int)
    assert out["content"].startswith("The reply")


@pytest.fixture()
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "records")  # as deployed
        yield client


def test_conversation_memory_sliding_window(ddb: Any, tmp_path: Any) -> None:
    deps = Deps(clients={"dynamodb": ddb}, settings=Settings(table="records", local_dir=tmp_path))
    params = {"model": "local", "memoryType": "sliding_window", "conversationId": "c-42",
              "slidingWindowSize": "2"}
    for text in ("first", "second", "third"):
        run_agent({**params, "messages": [{"role": "user", "content": text}]}, secrets={}, deps=deps)
    items = ddb.query(TableName="records", KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "CONV#c-42"}})["Items"]
    assert [i["content"]["S"] for i in items] == ["first", "first", "second", "second",
                                                  "third", "third"]
    assert all(int(i["expiresAt"]["N"]) > 0 for i in items)
    out = run_agent({**params, "messages": [{"role": "user", "content": "fourth"}]},
                    secrets={}, deps=deps)
    # the window (2 messages: "third" and its answer) plus the new turn reach the model
    assert out["tokens"]["prompt"] == max(1, len("third" * 2 + "fourth") // 4)


def test_memory_without_a_table_is_a_clear_error(tmp_path: Any) -> None:
    with pytest.raises(BlockInputError, match="STEPWEAVE_TABLE"):
        run_agent({"model": "local", "memoryType": "conversation", "conversationId": "c",
                   "messages": [{"role": "user", "content": "x"}]}, secrets={},
                  deps=Deps(settings=Settings(local_dir=tmp_path)))


def test_agent_with_a_system_message_only_sends_it_with_sims_user_turn() -> None:
    """As Sim: the system message goes as it is, with the user turn "Hello" its providers
    add; no message at all is an error naming what to set."""
    out = agent_handler(_event("agent", {
        "model": "local/echo", "messages": [{"role": "system", "content": "Parse resume fields"}]}),
        None)
    assert out["content"] == "Hello"
    with pytest.raises(BlockInputError, match="no message .set 'systemPrompt', 'messages'"):
        agent_handler(_event("agent", {"model": "local/echo", "messages": []}), None)


def test_agent_response_format_in_openais_form() -> None:
    """``{type: json_schema, json_schema: {name, schema}}`` (as Sim's meeting follow-up
    template holds it) is the schema inside: its fields are the block's outputs."""
    out = agent_handler(_event("agent", {
        "model": "local", "messages": [{"role": "user", "content": "Draft it"}],
        "responseFormat": {"type": "json_schema", "json_schema": {"name": "email_output", "schema": {
            "type": "object", "required": ["subject", "body"],
            "properties": {"subject": {"type": "string"}, "body": {"type": "string"}}}}}}), None)
    assert isinstance(out["subject"], str) and isinstance(out["body"], str)
    assert "content" not in out
