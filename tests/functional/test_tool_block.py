"""The ``tool`` block: its Lambda handler with real events (a local Slack incoming webhook,
httpx.MockTransport, SES on moto), its secrets policy, its routable errors, and its
validation (unknown tool, bad literal params, references to its output fields)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from functions.tool.handler import lambda_handler
from tests.authored import authored, authored_event
from infra.constructs.handlers import HANDLER_ACTIONS, HANDLER_SETTINGS
from stepweave.blocks.tool_block import run_tool_block
from stepweave.compiler import compile_workflow
from stepweave.errors import (BLOCK_ERROR_NAMES, BlockError, BlockInputError, HttpStatusError,
                              HttpTransportError, WorkflowError)
from stepweave.runtime.settings import Settings
from stepweave.tools import available, tool_names, tool_permissions
from stepweave.workflow.loader import parse_workflow, parse_yaml

ROOT = Path(__file__).resolve().parents[2]


class _SlackHook(BaseHTTPRequestHandler):
    """An incoming webhook: records each body, answers ``ok`` (or 404 on ``/gone``)."""

    received: list[tuple[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, json.loads(body)))
        status = 404 if self.path == "/gone" else 200
        payload = b"ok" if status == 200 else b"no_service"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture()
def slack_hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    received: list[tuple[str, Any]] = []
    handler = type("Hook", (_SlackHook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def _event(params: dict[str, Any]) -> dict[str, Any]:
    return authored_event({"id": "notify", "name": "Notify", "type": "tool"}, params)


def test_the_handler_posts_to_the_webhook_named_by_a_secret(
        slack_hook: tuple[str, list[tuple[str, Any]]], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    url, received = slack_hook
    caplog.set_level(logging.INFO, logger="stepweave")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"{url}/services/T1/B1/secret-part")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    out = lambda_handler(_event({"tool": "slack", "params": {"text": "Ticket 42 escalated"}}),
                         None)
    assert received == [("/services/T1/B1/secret-part", {"text": "Ticket 42 escalated"})]
    assert out == {"ok": True, "delivery": "webhook", "channel": None, "ts": None}
    messages = [r.getMessage() for r in caplog.records]
    assert "tool block started" in messages and "tool block finished" in messages
    logged = json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert '"tool": "slack"' in logged  # ids and sizes only
    assert "secret-part" not in logged and "Ticket 42" not in logged


def test_secrets_go_into_configuration_never_into_content(
        slack_hook: tuple[str, list[tuple[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, received = slack_hook
    monkeypatch.setenv("TEAM_HOOK", f"{url}/hook")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    # the author wrote the webhook's secret; the text is what a reference (<start.msg>)
    # resolved to at run time, naming a secret: data, sent as written
    event = _event({"tool": "slack", "params": {"webhookUrl": "{{TEAM_HOOK}}"}})
    event["params"]["params"]["text"] = "leak {{TEAM_HOOK}}?"
    lambda_handler(event, None)
    assert received == [("/hook", {"text": "leak {{TEAM_HOOK}}?"})]


def test_a_webhook_error_is_an_http_status_error_without_the_secret(
        slack_hook: tuple[str, list[tuple[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = slack_hook
    monkeypatch.setenv("TEAM_HOOK", f"{url}/gone")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    with pytest.raises(HttpStatusError, match="the webhook answered 404: no_service"):
        lambda_handler(_event({"tool": "slack", "params": {
            "webhookUrl": "{{TEAM_HOOK}}", "text": "hi"}}), None)


def _mock(answer: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.MockTransport,
                                                                     list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)
    return httpx.MockTransport(handle), seen


def _run(params: dict[str, Any], transport: httpx.BaseTransport | None = None,
         secrets: dict[str, str] | None = None, tmp_path: Path | None = None,
         **kwargs: Any) -> dict[str, Any]:
    settings = Settings(local_dir=tmp_path or Path("."), **kwargs)
    filled, scope = authored("tool", params, secrets)
    return run_tool_block(filled, scope, settings=settings, transport=transport,
                          sleep=lambda _s: None)


def test_slack_api_refusal_is_an_http_status_error_and_the_token_is_masked(tmp_path: Path) -> None:
    transport, seen = _mock(lambda r: httpx.Response(200, json={
        "ok": False, "error": "invalid_auth xoxb-secret-token"}))
    with pytest.raises(HttpStatusError) as info:
        _run({"tool": "slack", "params": {"channel": "C1", "text": "hi",
                                          "token": "{{SLACK_BOT_TOKEN}}"}},
             transport, {"SLACK_BOT_TOKEN": "xoxb-secret-token"}, tmp_path)
    assert seen[0].headers["Authorization"] == "Bearer xoxb-secret-token"
    assert "invalid_auth ***" in str(info.value) and "xoxb-secret" not in str(info.value)


def test_slack_api_answer_is_the_output(tmp_path: Path) -> None:
    transport, seen = _mock(lambda r: httpx.Response(200, json={
        "ok": True, "channel": "C1", "ts": "1700000000.0001"}))
    out = _run({"tool": "slack", "params": {"channel": "C1", "text": "hi", "threadTs": "17.1",
                                            "token": "{{SLACK_BOT_TOKEN}}"}},
               transport, {"SLACK_BOT_TOKEN": "xoxb-1"}, tmp_path)
    assert json.loads(seen[0].content) == {"channel": "C1", "text": "hi", "thread_ts": "17.1"}
    assert out == {"ok": True, "delivery": "api", "channel": "C1", "ts": "1700000000.0001"}


def test_no_answer_is_an_http_transport_error(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)
    transport, seen = _mock(refuse)
    with pytest.raises(HttpTransportError, match="no answer from"):
        _run({"tool": "http", "params": {"url": "https://crm.test/orders"}}, transport,
             tmp_path=tmp_path)
    assert len(seen) == 1


def test_http_tool_auth_secret_and_output(tmp_path: Path) -> None:
    transport, seen = _mock(lambda r: httpx.Response(200, json={"order": 7,
                                                                "echo": r.headers["Authorization"]}))
    out = _run({"tool": "http", "params": {"url": "https://crm.test/orders", "query": {"id": "7"},
                                           "auth": {"type": "bearer", "token": "{{CRM_TOKEN}}"}}},
               transport, {"CRM_TOKEN": "crm-secret"}, tmp_path)
    assert seen[0].headers["Authorization"] == "Bearer crm-secret"
    assert str(seen[0].url) == "https://crm.test/orders?id=7"
    assert out["status"] == 200 and out["data"] == {"order": 7, "echo": "Bearer ***"}


def test_unset_credentials_and_bad_resolved_params_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(BlockInputError, match="bearer credentials are not set"):
        _run({"tool": "http", "params": {"url": "https://x.test",
                                         "auth": {"type": "bearer", "token": "{{NOPE}}"}}},
             tmp_path=tmp_path)
    # a reference resolved to something that is not an address
    with pytest.raises(BlockInputError, match=r"to: .*not email addresses: someone"):
        _run({"tool": "email", "params": {"to": "someone", "subject": "s", "body": "b"}},
             tmp_path=tmp_path)
    with pytest.raises(BlockInputError, match="unknown tool 'fax'"):
        _run({"tool": "fax", "params": {}}, tmp_path=tmp_path)
    with pytest.raises(BlockInputError, match="'params' must be an object"):
        _run({"tool": "slack", "params": "<start.p>"}, tmp_path=tmp_path)
    # deployed (secrets not from the environment): no webhook or token is an error, no outbox
    with pytest.raises(BlockInputError, match="no webhook URL or bot token"):
        _run({"tool": "slack", "params": {"text": "hi"}}, tmp_path=tmp_path,
             secrets_backend="ssm")


def test_the_api_tool_keeps_the_api_blocks_error_class(tmp_path: Path) -> None:
    transport, _ = _mock(lambda r: httpx.Response(503, text="down"))
    with pytest.raises(HttpStatusError, match="Status: 503"):
        _run({"tool": "api", "params": {"url": "https://svc.test/x"}}, transport,
             tmp_path=tmp_path)


def test_every_error_the_block_raises_is_routable() -> None:
    for cls in (BlockError, BlockInputError, HttpStatusError, HttpTransportError):
        assert cls.__name__ in BLOCK_ERROR_NAMES


@mock_aws
def test_email_through_ses(tmp_path: Path) -> None:
    ses = boto3.client("ses", region_name="us-east-1")
    ses.verify_email_identity(EmailAddress="ops@example.com")
    out = run_tool_block({"tool": "email", "params": {
        "to": "a@example.com, b@example.com", "subject": "Escalated", "body": "Ticket 42",
        "from": "ops@example.com"}}, {}, settings=Settings(local_dir=tmp_path),
        clients={"ses": ses})
    assert out["ok"] is True and out["delivery"] == "ses" and out["messageId"]
    assert ses.get_send_quota()["SentLast24Hours"] == 2  # one per recipient


def test_local_slack_without_credentials_goes_to_the_outbox(tmp_path: Path) -> None:
    out = _run({"tool": "slack", "params": {"channel": "#ops", "text": "hello"}},
               tmp_path=tmp_path)
    assert out["delivery"] == "outbox"
    assert json.loads(Path(out["outboxFile"]).read_text())["text"] == "hello"


def test_deployment_settings_and_grants_cover_every_tool() -> None:
    assert HANDLER_SETTINGS["tool"].timeout_seconds >= 300
    assert list(HANDLER_ACTIONS["tool"][0]) == tool_permissions(tool_names())


def test_handler_import_loads_nothing_heavy() -> None:
    code = ("import sys, json; import functions.tool.handler; "
            "print(json.dumps(sorted(m for m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    heavy = [m for m in json.loads(proc.stdout) if m.split(".")[0] in
             ("aws_cdk", "jsii", "moto", "jsonata", "boto3", "httpx", "py_mini_racer")]
    assert heavy == []


# --- validation ---------------------------------------------------------------------------

def _compile(params: str, downstream: str = "return 1") -> Any:
    text = f"""
name: t
blocks:
  - {{id: start, type: start, params: {{inputFormat: [{{name: who, type: string}}]}}}}
  - {{id: notify, name: Notify, type: tool, params: {params}}}
  - {{id: after, name: After, type: function, params: {{code: "{downstream}"}}}}
edges: [{{source: start, target: notify}}, {{source: notify, target: after}}]
"""
    return compile_workflow(parse_workflow(parse_yaml(text), "t.yaml"), "t.yaml")


def _problems(params: str, downstream: str = "return 1") -> list[tuple[str | None, str | None, str]]:
    with pytest.raises(WorkflowError) as info:
        _compile(params, downstream)
    return [(p.block, p.field, p.message) for p in info.value.problems]


def test_an_unknown_tool_is_reported_with_the_available_ones() -> None:
    assert _problems("{tool: fax, params: {to: x}}") == [
        ("notify", "params.tool", f"unknown tool 'fax' ({available()})")]


def test_literal_params_are_checked_against_the_tool_every_problem_at_once() -> None:
    problems = _problems("{tool: email, params: {to: not-an-address, colour: red}}")
    assert ("notify", "params.params.to", "not email addresses: not-an-address") in problems
    assert ("notify", "params.params.colour", "unknown param") in problems
    assert ("notify", "params.params.subject", "Field required") in problems
    assert ("notify", "params.params.body", "Field required") in problems
    assert all(p[1] and p[1].startswith("params.params.") for p in problems)


def test_references_and_secrets_are_checked_at_run_time_only() -> None:
    compiled = _compile('{tool: email, params: {to: "<start.who>", subject: "{{SUBJECT}}", '
                        'body: "hello <start.who>"}}')
    assert "tool" in compiled.handlers


def test_references_to_the_tools_output_fields_are_checked() -> None:
    assert _compile('{tool: slack, params: {text: hi}}', "return <notify.ts>").handlers
    [problem] = _problems('{tool: slack, params: {text: hi}}', "return <notify.status>")
    assert problem[0] == "after" and "\"status\" doesn't exist on block \"notify\"" in problem[2]
    assert "channel, delivery, ok, outboxFile, ts" in problem[2]
