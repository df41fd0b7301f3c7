"""Tool blocks on the embedded engine: a workflow's tool block read downstream, its failure
taking the error edge, and a Sim export whose Slack block now runs (offline: the Slack
tool's local outbox)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler import compile_workflow
from stepweave.workflow.loader import load_workflow
from tests.engine.helpers import run_text
from tests.engine.sim_export import block, edge, export, function, start, write

pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture(autouse=True)
def _no_slack_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)


NOTIFY_THEN_USE = """
name: tool-chain
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: ticket, type: string}]}}
  - id: notify
    name: Notify
    type: tool
    params: {tool: slack, params: {channel: "#support", text: "Escalated: <start.ticket>"}}
  - id: use
    name: Use
    type: function
    params: {code: "return {ok: <notify.ok>, delivery: <notify.delivery>, file: <notify.outboxFile>}"}
edges:
  - {source: start, target: notify}
  - {source: notify, target: use}
"""


def test_a_tool_blocks_output_is_read_downstream(engine: Any) -> None:
    result, ran = run_text(engine, NOTIFY_THEN_USE, {"ticket": "T-42"})
    assert result.status == "SUCCEEDED", result.error
    assert ran == ["start", "Notify", "Use"]
    out = result.output["result"]
    assert out["ok"] is True and out["delivery"] == "outbox"
    assert json.loads(Path(out["file"]).read_text())["text"] == "Escalated: T-42"


FAILING = """
name: tool-fails
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: to, type: string}]}}
  - id: mail
    name: Mail
    type: tool
    params: {tool: email, params: {to: "<start.to>", subject: Hi, body: Hello}}
  - {id: fallback, name: Fallback, type: function, params: {code: "return <mail.error>"}}
edges:
  - {source: start, target: mail}
  - {source: mail, target: fallback, sourceHandle: error}
"""


def test_a_tool_failure_takes_the_error_edge(engine: Any) -> None:
    result, ran = run_text(engine, FAILING, {"to": "not-an-address"})
    assert result.status == "SUCCEEDED", result.error
    assert ran == ["start", "Mail", "Fallback"]
    assert "not email addresses: not-an-address" in result.output["result"]


def _slack_export() -> dict[str, Any]:
    return export(
        [start(ticket="string"),
         block("notify", "slack", "Notify team", operation="send", authMethod="oauth",
               credential="cred-1", channel="C123", text="New ticket <start.ticket>"),
         function("after", "return {ts: <notifyteam.ts>, channel: <notifyteam.channel>, "
                           "delivery: <notifyteam.delivery>}", "After")],
        [edge("start", "notify"), edge("notify", "after")], "sim-slack")


def test_a_sim_export_with_a_slack_block_runs(engine: Any, tmp_path: Path) -> None:
    workflow = load_workflow(write(tmp_path, _slack_export()))
    notify = workflow.block("notify")
    assert (notify.type, notify.params) == ("tool", {"tool": "slack", "params": {
        "channel": "C123", "text": "New ticket <start.ticket>", "token": "{{SLACK_BOT_TOKEN}}"}})
    compiled = compile_workflow(workflow, "sim-slack.json")
    result = engine.run(compiled, {"ticket": "T-7"})
    assert result.status == "SUCCEEDED", result.error
    out = result.output["result"]
    assert out["channel"] == "C123" and out["delivery"] == "outbox" and out["ts"]
    [message] = [json.loads(p.read_text()) for p in Path(_outbox()).glob("slack/*.json")
                 if json.loads(p.read_text())["text"] == "New ticket T-7"]
    assert message["channel"] == "C123"


def _outbox() -> Path:
    from stepweave.runtime.settings import Settings

    return Settings.from_env().outbox


def test_a_sim_slack_operation_without_a_tool_stays_unsupported(tmp_path: Path) -> None:
    doc = _slack_export()
    doc["state"]["blocks"]["notify"]["subBlocks"]["operation"]["value"] = "read"
    workflow = load_workflow(write(tmp_path, doc))
    notify = workflow.block("notify")
    assert notify.type == "sim:slack"
    assert "operation 'read' has no Stepweave equivalent" in notify.params["unsupported"]
