"""The tool registry and the first tools: slack (webhook, chat.postMessage, outbox), email
(SES on moto, outbox) and http (auth presets), through their public ``run`` with real HTTP
(httpx.MockTransport) and moto."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from stepweave.blocks.catalog import block_type
from stepweave.compiler import compile_workflow
from stepweave.errors import WorkflowError
from stepweave.runtime.settings import Settings
from stepweave.tools import (TOOLS, UnknownTool, get_tool, tool_for_sim_block, tool_permissions,
                             tool_secrets)
from stepweave.tools.base import ToolContext, ToolError, validate_params
from stepweave.workflow.loader import parse_workflow, parse_yaml


class Recorder:
    def __init__(self, reply: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.reply = reply

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply


def _ctx(tmp_path: Path, reply: httpx.Response | None = None, backend: str = "env",
         **kwargs: Any) -> tuple[ToolContext, Recorder]:
    recorder = Recorder(reply or httpx.Response(200, text="ok"))
    settings = Settings(local_dir=tmp_path, secrets_backend=backend, **kwargs)  # type: ignore[arg-type]
    return ToolContext(secrets={}, settings=settings, transport=httpx.MockTransport(recorder),
                       sleep=lambda _s: None), recorder


def _run(name: str, params: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    tool = get_tool(name)
    return tool.run(validate_params(tool, params), ctx)


def test_registry_lookups() -> None:
    assert {"api", "email", "http", "slack", "notion_create_page", "gmail_send"} <= set(TOOLS)
    with pytest.raises(UnknownTool,
                       match=r"available: api, email, file_parser, http, slack and \d+ integration"):
        get_tool("fax")
    with pytest.raises(UnknownTool, match=r"did you mean notion_create_page"):
        get_tool("notion_create_pages")
    assert tool_for_sim_block("slack") == "slack" and tool_for_sim_block("http_request") == "http"
    assert tool_for_sim_block("gmail") is None
    assert tool_permissions(["email", "slack"]) == ["ses:SendEmail"]
    assert tool_secrets(["slack"]) == ["SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL"]


def test_every_tool_declares_a_schema_for_the_model() -> None:
    for tool in TOOLS.values():
        schema = tool.schema({})
        assert schema["type"] == "object" and set(schema["properties"]) <= set(tool.params.model_fields)
    slack = get_tool("slack").schema({"text": "fixed"})
    assert set(slack["properties"]) == {"channel", "blocks", "threadTs"}  # never URLs or tokens


def test_unknown_tools_are_validation_errors_listing_the_available_ones() -> None:
    text = """
name: t
blocks:
  - {id: start, type: start}
  - id: a
    type: agent
    params:
      model: local
      messages: [{role: user, content: hi}]
      tools: [{tool: fax}, {tool: slack, params: {colour: red}}]
edges: [{source: start, target: a}]
"""
    with pytest.raises(WorkflowError) as caught:
        compile_workflow(parse_workflow(parse_yaml(text), "t.yaml"), "t.yaml")
    report = str(caught.value)
    assert "unknown tool 'fax' (available: api, email, file_parser, http, slack and " in report
    assert "tool 'slack' has no param(s) colour" in report
    assert block_type("agent") is not None


def test_slack_webhook(tmp_path: Path) -> None:
    ctx, rec = _ctx(tmp_path)
    out = _run("slack", {"text": "Deploy done", "webhookUrl": "https://hooks.slack.test/T/B/x"}, ctx)
    [request] = rec.requests
    assert str(request.url) == "https://hooks.slack.test/T/B/x"
    assert json.loads(request.content) == {"text": "Deploy done"}
    assert out == {"ok": True, "delivery": "webhook", "channel": None, "ts": None}


def test_slack_chat_post_message(tmp_path: Path) -> None:
    ctx, rec = _ctx(tmp_path, httpx.Response(200, json={"ok": True, "channel": "C1", "ts": "1.2"}))
    out = _run("slack", {"text": "hi", "channel": "C1", "token": "xoxb-1",
                         "apiUrl": "https://slack.test/api"}, ctx)
    [request] = rec.requests
    assert str(request.url) == "https://slack.test/api/chat.postMessage"
    assert request.headers["authorization"] == "Bearer xoxb-1"
    assert json.loads(request.content) == {"channel": "C1", "text": "hi"}
    assert out["delivery"] == "api" and out["ts"] == "1.2"
    ctx, _ = _ctx(tmp_path, httpx.Response(200, json={"ok": False, "error": "channel_not_found"}))
    with pytest.raises(ToolError, match="channel_not_found"):
        _run("slack", {"text": "hi", "channel": "C9", "token": "xoxb-1"}, ctx)


def test_slack_without_a_url_writes_to_the_outbox_locally_and_fails_when_deployed(
        tmp_path: Path) -> None:
    ctx, rec = _ctx(tmp_path)
    out = _run("slack", {"text": "offline message"}, ctx)  # {{SLACK_WEBHOOK_URL}} unset
    assert out["delivery"] == "outbox" and rec.requests == []
    saved = json.loads(Path(out["outboxFile"]).read_text())
    assert saved["text"] == "offline message" and "not sent" in saved["note"]
    deployed, _ = _ctx(tmp_path, backend="ssm")
    with pytest.raises(ToolError, match="no webhook URL or bot token"):
        _run("slack", {"text": "x"}, deployed)


def test_http_auth_presets(tmp_path: Path) -> None:
    ctx, rec = _ctx(tmp_path, httpx.Response(200, json={"id": 7}))
    out = _run("http", {"url": "https://api.test/items", "method": "POST", "body": {"a": 1},
                        "arguments": {"b": 2}, "auth": {"type": "basic", "username": "u",
                                                        "password": "p"}}, ctx)
    assert out["data"] == {"id": 7} and out["status"] == 200
    assert rec.requests[0].headers["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert json.loads(rec.requests[0].content) == {"a": 1, "b": 2}
    _run("http", {"url": "https://api.test/items", "arguments": {"q": "x"},
                  "auth": {"type": "apiKey", "header": "X-Key", "value": "k1"}}, ctx)
    assert rec.requests[1].headers["x-key"] == "k1" and rec.requests[1].url.params["q"] == "x"
    with pytest.raises(ToolError, match="bearer credentials are not set"):
        _run("http", {"url": "https://api.test", "auth": {"type": "bearer",
                                                          "token": "{{UNSET_TOKEN}}"}}, ctx)
    bad, _ = _ctx(tmp_path, httpx.Response(404, text="nope"))
    with pytest.raises(ToolError, match="answered 404: nope"):
        _run("http", {"url": "https://api.test/missing"}, bad)


def test_email_through_ses_and_the_outbox(tmp_path: Path) -> None:
    with mock_aws():
        ses = boto3.client("ses", region_name="us-east-1")
        ses.verify_email_identity(EmailAddress="bot@example.com")
        ctx, _ = _ctx(tmp_path, approval_sender="bot@example.com")
        ctx.clients["ses"] = ses
        out = _run("email", {"to": "a@example.com, b@example.com", "subject": "Hi", "body": "Hello"},
                   ctx)
        assert out["delivery"] == "ses" and out["messageId"]
        assert ses.get_send_quota()["SentLast24Hours"] == 2  # one per recipient
        ctx.clients["ses"] = ses
        with pytest.raises(ToolError, match="SES refused"):
            _run("email", {"to": ["a@example.com"], "subject": "Hi", "body": "x",
                           "from": "unverified@example.com"}, ctx)
    local, _ = _ctx(tmp_path)
    out = _run("email", {"to": ["a@example.com"], "subject": "Offline", "body": "Hello"}, local)
    assert out["delivery"] == "outbox" and b"Subject: Offline" in Path(out["outboxFile"]).read_bytes()
    with pytest.raises(ToolError, match="not email addresses"):
        _run("email", {"to": ["nope"], "subject": "s", "body": "b"}, local)
