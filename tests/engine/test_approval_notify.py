"""An approval's ``notify`` tools (Sim's notification tools) on the embedded engine.

The Slack webhook is a real HTTP server on loopback; the approval is answered as a person
would (``decide``) once it waits; the run's output shows what each notification did.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from stepweave.errors import WorkflowError
from stepweave.local.engine import LocalEngine
from stepweave.runtime.approvals import Approval, get_approval
from tests.engine.helpers import compile_text
from tests.loopback import Loopback, Respond, loopback


def _hook(status: int) -> Respond:
    """A Slack-like incoming webhook answering ``status``."""
    return lambda request: (status, b"ok" if status == 200 else b"invalid_token", 0.0)


@pytest.fixture()
def hooks() -> Iterator[tuple[Loopback, Loopback]]:
    with loopback(_hook(200)) as good, loopback(_hook(403)) as bad:
        yield good, bad


def _posted(server: Loopback) -> list[Any]:
    return [json.loads(r.body) for r in server.requests]


def _hook_url(server: Loopback) -> str:
    return f"{server.url}/services/T0/B0/x"


FLOW = """
name: notify-refund
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}]}}
  - id: ask
    name: Approve refund
    type: approval
    params:
      display: {amount: <start.amount>}
      form: [{name: approved, type: boolean}]
      notify:
        - tool: slack
          params: {webhookUrl: "{{GOOD_HOOK}}",
                   text: "Refund of <start.amount> EUR waits: <approverefund.url> (API <Approve refund.resumeEndpoint>)"}
        - tool: slack
          params: {webhookUrl: "{{BAD_HOOK}}", text: "also <approverefund.url>"}
  - {id: done, name: Done, type: function,
     params: {code: "return {approved: <approverefund.approved>, sent: <approverefund.notificationResults>.map(n => n.ok)}"}}
edges: [start -> ask, ask -> done]
"""


def test_notifications_carry_the_approvals_own_links_and_failures_do_not_stop_it(
        hooks: tuple[Loopback, Loopback], monkeypatch: pytest.MonkeyPatch) -> None:
    good, bad = hooks
    monkeypatch.setenv("GOOD_HOOK", _hook_url(good))
    monkeypatch.setenv("BAD_HOOK", _hook_url(bad))
    seen: list[Approval] = []

    def approve(approval: Approval) -> dict[str, Any]:
        seen.append(approval)
        return {"approved": True}

    with LocalEngine() as engine:
        result = engine.run(compile_text(FLOW), {"amount": 250}, approver=approve, poll_s=0.01, timeout_s=60)
        stored = get_approval(engine.records.ddb, engine.records.settings, seen[0].id)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": {"approved": True, "sent": [True, False]}, "stdout": ""}
    (message,) = _posted(good)
    link = f"http://127.0.0.1:8787/approvals/{seen[0].id}"
    assert message["text"] == (f"Refund of 250 EUR waits: {link} "
                               f"(API http://127.0.0.1:8787/v1/approvals/{seen[0].id}/decision)")
    assert _posted(bad) == [{"text": f"also {link}"}]
    assert stored is not None and stored.notifications is not None
    ok, failed = stored.notifications
    assert ok["tool"] == "slack" and ok["ok"] is True and ok["output"]["delivery"] == "webhook"
    assert failed["ok"] is False and "403" in failed["error"]
    # the secret webhook URLs appear nowhere in what the run kept
    assert _hook_url(good) not in json.dumps(stored.notifications) and _hook_url(bad) not in failed["error"]


def test_an_unknown_notify_tool_is_a_validation_error() -> None:
    with pytest.raises(WorkflowError) as info:
        compile_text(FLOW.replace("tool: slack", "tool: teams", 1))
    assert "field 'params.notify.0.tool': unknown tool 'teams' (available: api, email, " \
        "file_parser, http, slack and " in info.value.report()


def _sim_hitl(notification: list[dict[str, Any]]) -> dict[str, Any]:
    from tests.engine.sim_export import block, edge, export, function, start

    hitl = block("h", "human_in_the_loop", "Review", notification=notification,
                 builderData=[{"id": "r1", "name": "amount", "type": "number", "value": "<start.amount>"}],
                 inputFormat=[{"id": "f1", "name": "approved", "type": "boolean", "value": False}])
    return export([start(amount="number"), hitl,
                   function("after", "return <review.notificationResults>[0].ok", "After")],
                  [edge("start", "h"), edge("h", "after")], "sim-review")


def test_sim_notification_tools_are_imported_and_sent(hooks: tuple[Loopback, Loopback], tmp_path: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from stepweave.compiler import compile_workflow
    from stepweave.workflow.loader import load_workflow
    from tests.engine.sim_export import write

    good, _ = hooks
    monkeypatch.setenv("SLACK_WEBHOOK_URL", _hook_url(good))
    path = write(tmp_path, _sim_hitl([{"type": "slack", "title": "Slack", "toolId": "slack_message",
                                       "operation": "send", "usageControl": "auto",
                                       "params": {"text": "Review <review.url>",
                                                  "webhookUrl": "{{SLACK_WEBHOOK_URL}}"}}]), "review.json")
    workflow = load_workflow(path)
    (review,) = [b for b in workflow.blocks if b.name == "Review"]
    assert review.type == "approval"
    assert review.params["notify"] == [{"tool": "slack", "params": {
        "text": "Review <review.url>", "webhookUrl": "{{SLACK_WEBHOOK_URL}}"}}]
    seen: list[Approval] = []

    def approve(approval: Approval) -> dict[str, Any]:
        seen.append(approval)
        return {"approved": True}

    with LocalEngine() as engine:
        result = engine.run(compile_workflow(workflow, str(path)), {"amount": 3}, approver=approve,
                            poll_s=0.01, timeout_s=60)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": True, "stdout": ""}
    assert _posted(good) == [{"text": f"Review http://127.0.0.1:8787/approvals/{seen[0].id}"}]


def test_a_sim_notification_with_no_tool_keeps_the_block_unsupported(tmp_path: Any) -> None:
    from stepweave.compiler import compile_workflow
    from stepweave.compiler.unsupported import UnsupportedBlocks
    from stepweave.workflow.loader import load_workflow
    from tests.engine.sim_export import write

    # (Gmail's send is an integration now: Microsoft Teams has none)
    path = write(tmp_path, _sim_hitl([{"type": "microsoft_teams", "title": "Teams",
                                       "toolId": "microsoft_teams_write_channel",
                                       "params": {"channelId": "c1"}}]), "review.json")
    workflow = load_workflow(path)
    with pytest.raises(UnsupportedBlocks) as info:
        compile_workflow(workflow, str(path))
    assert "notification tool 'microsoft_teams' has no Stepweave tool" in info.value.report()
