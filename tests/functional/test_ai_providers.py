"""Providers against a local fake server speaking each wire format (OpenAI chat completions,
Anthropic messages, Bedrock Converse through boto3 with endpoint_url): the requests are
checked, scripted answers drive tool calls, structured output, errors and retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

from stepweave.ai.agent import run_agent as _run_agent
from stepweave.ai.judge import run_router as _run_router
from stepweave.ai.session import Deps
from stepweave.errors import (ProviderAuthError, ProviderBadRequest, ProviderRateLimited,
                              ProviderUnavailable, RouterNoMatch)
from stepweave.runtime.settings import Settings
from tests.authored import authored

Reply = tuple[int, dict[str, str], Any]


class FakeServer:
    """Records every request; answers each path from its script, in order."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: dict[str, list[Reply]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = unquote(self.path.split("?")[0])
                fake.requests.append({"method": self.command, "path": path, "query": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": json.loads(raw) if raw else None})
                queue = fake.script.get(path) or [(599, {}, {"error": "unscripted"})]
                status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reset(self, **script: list[Reply]) -> None:
        self.requests.clear()
        self.script = {k.replace("__", "/").replace("_DOT_", "."): v for k, v in script.items()}

    def on(self, path: str, *replies: Reply) -> None:
        self.script[path] = list(replies)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.httpd.shutdown()


@pytest.fixture()
def deps(tmp_path: Any) -> tuple[Deps, list[float]]:
    waits: list[float] = []
    return Deps(settings=Settings(local_dir=tmp_path), sleep=waits.append), waits


def _openai_reply(content: str | None = None, calls: list[dict[str, Any]] | None = None,
                  usage: tuple[int, int] = (100, 20)) -> Reply:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return (200, {}, {"id": "chatcmpl-1", "model": "gpt-4o-2024-08-06",
                      "choices": [{"index": 0, "message": message,
                                   "finish_reason": "tool_calls" if calls else "stop"}],
                      "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                "total_tokens": sum(usage)}})


def run_agent(raw: dict[str, Any], *, secrets: dict[str, str], deps: Deps) -> dict[str, Any]:
    """The agent as its handler runs it: the author's ``{{NAME}}`` secrets filled in."""
    filled, scope = authored("agent", raw, secrets)
    return _run_agent(filled, secrets=scope, deps=deps)


def run_router(raw: dict[str, Any], *, secrets: dict[str, str], deps: Deps) -> dict[str, Any]:
    """The router as its handler runs it: the author's ``{{NAME}}`` secrets filled in."""
    filled, scope = authored("router", raw, secrets)
    return _run_router(filled, secrets=scope, deps=deps)


SECRETS = {"TEST_OPENAI_KEY": "sk-test-secret-123", "CRM_TOKEN": "crm-token-456",
           "ANTHROPIC_API_KEY": "ak-test-789"}
SCHEMA = {"name": "triage", "schema": {"type": "object", "properties": {
    "category": {"type": "string", "enum": ["billing", "bug"]}, "urgent": {"type": "boolean"}},
    "required": ["category", "urgent"]}}


# -- OpenAI ------------------------------------------------------------------------------------

def test_openai_structured_output_request_and_output(server: FakeServer, deps: Any) -> None:
    server.reset()
    server.on("/v1/chat/completions", _openai_reply('{"category": "billing", "urgent": true}'))
    out = run_agent({"model": "gpt-4o", "baseUrl": server.url + "/v1",
                     "apiKey": "{{TEST_OPENAI_KEY}}", "systemPrompt": "Triage the message.",
                     "messages": [{"role": "user", "content": "I was charged twice"}],
                     "temperature": "0.2", "maxTokens": 300, "responseFormat": SCHEMA},
                    secrets=SECRETS, deps=deps[0])
    [request] = server.requests
    assert request["headers"]["authorization"] == "Bearer sk-test-secret-123"
    body = request["body"]
    assert body["model"] == "gpt-4o" and body["temperature"] == 0.2
    assert body["max_completion_tokens"] == 300
    assert body["messages"] == [{"role": "system", "content": "Triage the message."},
                                {"role": "user", "content": "I was charged twice"}]
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "triage", "schema": SCHEMA["schema"]}}
    # Sim: the parsed fields at the top level, no content
    assert out["category"] == "billing" and out["urgent"] is True and "content" not in out
    assert out["tokens"] == {"prompt": 100, "completion": 20, "total": 120, "input": 100,
                             "output": 20}
    assert out["provider"] == "openai" and out["model"] == "gpt-4o"
    assert out["cost"]["total"] == pytest.approx((100 * 2.5 + 20 * 10.0) / 1e6)
    assert out["cost"]["pricing"]["updatedAt"]
    assert out["toolCalls"] == {"list": [], "count": 0}


def test_openai_unparsable_structured_output_falls_back_with_a_warning(server: FakeServer,
                                                                       deps: Any) -> None:
    server.reset()
    server.on("/v1/chat/completions", _openai_reply("sorry, no JSON today"))
    out = run_agent({"model": "gpt-4o-mini", "baseUrl": server.url + "/v1",
                     "apiKey": "{{TEST_OPENAI_KEY}}", "messages": [{"role": "user", "content": "x"}],
                     "responseFormat": json.dumps(SCHEMA)}, secrets=SECRETS, deps=deps[0])
    assert out["content"] == "sorry, no JSON today" and "_responseFormatWarning" in out


def test_openai_tool_loop_calls_a_workflow_http_tool(server: FakeServer, deps: Any) -> None:
    server.reset()
    call = {"id": "call_1", "type": "function",
            "function": {"name": "lookup_order", "arguments": '{"order": "A-17"}'}}
    server.on("/v1/chat/completions", _openai_reply(None, [call], (50, 10)),
              _openai_reply("Order A-17 ships tomorrow.", None, (80, 12)))
    server.on("/crm/orders", (200, {}, {"order": "A-17", "status": "shipping"}))
    tools = [{"tool": "http", "name": "lookup_order", "description": "Find an order",
              "params": {"url": server.url + "/crm/orders", "method": "GET",
                         "auth": {"type": "bearer", "token": "{{CRM_TOKEN}}"}},
              "parameters": {"type": "object", "properties": {"order": {"type": "string"}},
                             "required": ["order"]}}]
    out = run_agent({"model": "gpt-4o", "baseUrl": server.url + "/v1",
                     "apiKey": "{{TEST_OPENAI_KEY}}", "tools": tools,
                     "messages": [{"role": "user", "content": "Where is A-17?"}]},
                    secrets=SECRETS, deps=deps[0])
    first, crm, second = server.requests
    assert first["body"]["tools"] == [{"type": "function", "function": {
        "name": "lookup_order", "description": "Find an order",
        "parameters": tools[0]["parameters"]}}]
    assert crm["path"] == "/crm/orders" and "order=A-17" in crm["query"]
    assert crm["headers"]["authorization"] == "Bearer crm-token-456"
    assistant, tool = second["body"]["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "lookup_order"
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_1"
    assert json.loads(tool["content"])["data"]["status"] == "shipping"
    assert out["content"] == "Order A-17 ships tomorrow."
    assert out["toolCalls"]["count"] == 1
    [record] = out["toolCalls"]["list"]
    assert record["name"] == "lookup_order" and record["arguments"] == {"order": "A-17"}
    assert record["success"] is True and record["result"]["status"] == 200
    assert out["tokens"]["total"] == 50 + 10 + 80 + 12
    assert out["providerTiming"]["iterations"] == 2
    assert "crm-token-456" not in json.dumps(out)


def test_openai_429_is_retried_after_the_servers_hint(server: FakeServer, deps: Any) -> None:
    server.reset()
    server.on("/v1/chat/completions",
              (429, {"retry-after": "3"}, {"error": {"message": "Rate limit reached"}}),
              _openai_reply("ok"))
    out = run_agent({"model": "gpt-4o", "baseUrl": server.url + "/v1", "apiKey": "{{TEST_OPENAI_KEY}}",
                     "messages": [{"role": "user", "content": "hi"}]}, secrets=SECRETS, deps=deps[0])
    assert out["content"] == "ok" and len(server.requests) == 2
    assert deps[1] == [3.0]


def test_openai_429_every_time_is_rate_limited(server: FakeServer, deps: Any) -> None:
    server.reset()
    server.on("/v1/chat/completions", (429, {}, {"error": {"message": "Rate limit reached"}}))
    with pytest.raises(ProviderRateLimited, match="429"):
        run_agent({"model": "gpt-4o", "baseUrl": server.url + "/v1", "apiKey": "{{TEST_OPENAI_KEY}}",
                   "retries": 2, "messages": [{"role": "user", "content": "hi"}]},
                  secrets=SECRETS, deps=deps[0])
    assert len(server.requests) == 3 and len(deps[1]) == 2
    assert all(0 <= w <= 20 for w in deps[1])  # jittered backoff


@pytest.mark.parametrize(("status", "error"), [(401, ProviderAuthError), (400, ProviderBadRequest),
                                               (503, ProviderUnavailable)])
def test_openai_errors_are_classified_and_never_show_the_key(server: FakeServer, deps: Any,
                                                             status: int, error: type) -> None:
    server.reset()
    server.on("/v1/chat/completions",
              (status, {}, {"error": {"message": "Incorrect API key provided: sk-test-secret-123"}}))
    with pytest.raises(error) as caught:
        run_agent({"model": "gpt-4o", "baseUrl": server.url + "/v1", "apiKey": "{{TEST_OPENAI_KEY}}",
                   "retries": 1, "messages": [{"role": "user", "content": "hi"}]},
                  secrets=SECRETS, deps=deps[0])
    assert "sk-test-secret-123" not in str(caught.value) and str(status) in str(caught.value)
    assert len(server.requests) == (2 if status == 503 else 1)


def test_a_missing_key_fails_before_any_request(server: FakeServer, deps: Any) -> None:
    server.reset()
    with pytest.raises(ProviderAuthError, match="OPENAI_API_KEY"):
        run_agent({"model": "gpt-4o", "baseUrl": server.url + "/v1",
                   "messages": [{"role": "user", "content": "hi"}]}, secrets={}, deps=deps[0])
    assert server.requests == []


def test_openai_compatible_server_without_a_key(server: FakeServer, deps: Any) -> None:
    server.reset()
    server.on("/ollama/v1/chat/completions", _openai_reply("llama says hi"))
    out = run_agent({"model": "llama3.1", "baseUrl": server.url + "/ollama/v1", "maxTokens": 50,
                     "messages": [{"role": "user", "content": "hi"}]}, secrets={}, deps=deps[0])
    [request] = server.requests
    assert "authorization" not in request["headers"] and request["body"]["max_tokens"] == 50
    assert out["provider"] == "openai-compatible" and out["cost"]["pricing"] is None


def test_router_over_openai_picks_the_models_route(server: FakeServer, deps: Any) -> None:
    server.reset()
    server.on("/v1/chat/completions",
              _openai_reply('{"route": "r-bug", "reasoning": "a crash"}'),
              _openai_reply('{"route": "NO_MATCH", "reasoning": "nothing fits"}'))
    params = {"model": "gpt-4o", "baseUrl": server.url + "/v1", "apiKey": "{{TEST_OPENAI_KEY}}",
              "context": "The app crashes on start",
              "routes": json.dumps([{"id": "r-billing", "title": "Billing", "value": "money"},
                                    {"id": "r-bug", "title": "Bug", "value": "errors, crashes"}])}
    out = run_router(params, secrets=SECRETS, deps=deps[0])
    assert out["selectedRoute"] == "r-bug" and out["reasoning"] == "a crash"
    schema = server.requests[0]["body"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["route"]["enum"] == ["r-billing", "r-bug", "NO_MATCH"]
    with pytest.raises(RouterNoMatch):
        run_router(params, secrets=SECRETS, deps=deps[0])


# -- Anthropic ---------------------------------------------------------------------------------

def _anthropic_reply(content: list[dict[str, Any]], stop: str = "end_turn") -> Reply:
    return (200, {}, {"id": "msg_1", "type": "message", "role": "assistant",
                      "model": "claude-sonnet-4-5-20250929", "content": content,
                      "stop_reason": stop, "usage": {"input_tokens": 40, "output_tokens": 9}})


def test_anthropic_structured_output_is_a_forced_tool(server: FakeServer, deps: Any) -> None:
    server.reset()
    server.on("/v1/messages", _anthropic_reply(
        [{"type": "tool_use", "id": "tu_1", "name": "structured_answer",
          "input": {"category": "bug", "urgent": False}}], "tool_use"))
    out = run_agent({"model": "claude-sonnet-4-5", "baseUrl": server.url, "systemPrompt": "Triage.",
                     "messages": [{"role": "user", "content": "it crashes"}],
                     "responseFormat": SCHEMA}, secrets=SECRETS, deps=deps[0])
    [request] = server.requests
    headers, body = request["headers"], request["body"]
    assert headers["x-api-key"] == "ak-test-789" and headers["anthropic-version"] == "2023-06-01"
    assert body["max_tokens"] == 4096 and body["system"] == "Triage."
    assert body["tool_choice"] == {"type": "tool", "name": "structured_answer"}
    assert body["tools"][0]["input_schema"] == SCHEMA["schema"]
    assert out["category"] == "bug" and out["urgent"] is False and out["provider"] == "anthropic"
    assert out["cost"]["total"] == pytest.approx((40 * 3.0 + 9 * 15.0) / 1e6)


def test_anthropic_tool_loop_and_overload_retry(server: FakeServer, deps: Any,
                                                tmp_path: Any) -> None:
    server.reset()
    server.on("/v1/messages",
              (529, {}, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
              _anthropic_reply([{"type": "text", "text": "Posting."},
                                {"type": "tool_use", "id": "tu_9", "name": "notify",
                                 "input": {"text": "Ticket 5 is urgent"}}], "tool_use"),
              _anthropic_reply([{"type": "text", "text": "Posted."}]))
    out = run_agent({"model": "claude-3-5-haiku-latest", "baseUrl": server.url,
                     "tools": [{"tool": "slack", "name": "notify", "params": {"channel": "#ops"}}],
                     "messages": [{"role": "user", "content": "tell ops"}]},
                    secrets=SECRETS, deps=deps[0])
    _, first, second = server.requests
    assert [t["name"] for t in first["body"]["tools"]] == ["notify"]
    assert set(first["body"]["tools"][0]["input_schema"]["properties"]) == {"text", "blocks",
                                                                            "threadTs"}
    assert first["body"]["tool_choice"] == {"type": "auto"}
    assistant, result = second["body"]["messages"][-2:]
    assert assistant["content"][1] == {"type": "tool_use", "id": "tu_9", "name": "notify",
                                       "input": {"text": "Ticket 5 is urgent"}}
    assert result["role"] == "user" and result["content"][0]["tool_use_id"] == "tu_9"
    assert out["content"] == "Posted." and out["toolCalls"]["list"][0]["result"]["delivery"] == "outbox"
    assert len(deps[1]) == 1  # one retry after the 529


# -- Bedrock (boto3 bedrock-runtime against the fake, via endpoint_url) ------------------------

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def _converse(content: list[dict[str, Any]], stop: str = "end_turn") -> Reply:
    return (200, {}, {"output": {"message": {"role": "assistant", "content": content}},
                      "stopReason": stop, "usage": {"inputTokens": 30, "outputTokens": 6,
                                                    "totalTokens": 36},
                      "metrics": {"latencyMs": 12}})


def test_bedrock_converse_with_tools(server: FakeServer, deps: Any, aws_env: None) -> None:
    server.reset()
    path = f"/model/{MODEL}/converse"
    server.on(path, _converse([{"toolUse": {"toolUseId": "t1", "name": "notify",
                                            "input": {"text": "hello"}}}], "tool_use"),
              _converse([{"text": "Done."}]))
    out = run_agent({"model": MODEL, "baseUrl": server.url, "region": "us-east-1",
                     "temperature": 0.5, "maxTokens": 200, "systemPrompt": "Be brief.",
                     "tools": [{"tool": "slack", "name": "notify"}],
                     "messages": [{"role": "user", "content": "say hello"}]},
                    secrets={}, deps=deps[0])
    first, second = server.requests
    assert first["path"] == path and first["headers"]["authorization"].startswith("AWS4-HMAC-SHA256")
    body = first["body"]
    assert body["system"] == [{"text": "Be brief."}]
    assert body["inferenceConfig"] == {"maxTokens": 200, "temperature": 0.5}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "notify"
    assert body["messages"] == [{"role": "user", "content": [{"text": "say hello"}]}]
    result = second["body"]["messages"][-1]["content"][0]["toolResult"]
    assert result["toolUseId"] == "t1" and result["status"] == "success"
    assert out["content"] == "Done." and out["provider"] == "bedrock"
    assert out["tokens"]["total"] == 72
    assert out["cost"]["total"] == pytest.approx((60 * 0.25 + 12 * 1.25) / 1e6)


def test_bedrock_structured_output_and_errors(server: FakeServer, deps: Any, aws_env: None) -> None:
    server.reset()
    path = f"/model/{MODEL}/converse"
    server.on(path, _converse([{"toolUse": {"toolUseId": "t1", "name": "structured_answer",
                                            "input": {"category": "billing", "urgent": True}}}],
                              "tool_use"))
    params = {"model": MODEL, "baseUrl": server.url, "region": "us-east-1", "retries": 0,
              "messages": [{"role": "user", "content": "refund please"}], "responseFormat": SCHEMA}
    out = run_agent(params, secrets={}, deps=deps[0])
    assert out["category"] == "billing" and out["urgent"] is True
    assert server.requests[0]["body"]["toolConfig"]["toolChoice"] == {
        "tool": {"name": "structured_answer"}}
    for status, code, error in ((400, "ValidationException", ProviderBadRequest),
                                (403, "AccessDeniedException", ProviderAuthError),
                                (429, "ThrottlingException", ProviderRateLimited)):
        server.on(path, (status, {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/"},
                         {"message": f"{code} happened"}))
        with pytest.raises(error, match=code):
            run_agent(params, secrets={}, deps=deps[0])
