"""Sim integration, agent and evaluator blocks: mapped where Stepweave has an equivalent,
otherwise a valid file whose run, compile and deployment are refused with a per-block report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepweave.cli import main
from stepweave.compiler import compile_workflow
from stepweave.compiler.unsupported import UnsupportedBlocks
from stepweave.errors import WorkflowError
from stepweave.workflow.convert import convert_export
from stepweave.workflow.loader import load_workflow
from tests.engine.sim_export import block, edge, export, function, start, write


def _integrations(*, disabled: bool = False) -> dict[str, Any]:
    return export(
        [start(),
         block("notify", "slack", "Notify team", operation="send", channel="C123",
               text="Hello <start.input>", credential="cred-1", enabled=not disabled),
         # operations no integration does (sending mail and opening issues are tool blocks)
         block("mail", "gmail", "Mail customer", operation="archive_gmail", messageId="m1"),
         block("issue", "github", "Open issue", operation="github_fork_repo", owner="o"),
         function("after", "return 1", "After")],
        [edge("start", "notify"), edge("notify", "mail"), edge("start", "issue"),
         edge("issue", "after")], "integrations")


def test_validate_accepts_the_file_and_lists_each_block(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, _integrations())
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 block(s) cannot run on Stepweave yet" in out
    for block_id, name, sim_type in (("mail", "Mail customer", "gmail"),
                                     ("issue", "Open issue", "github")):
        line = next(x for x in out.splitlines() if f"block '{block_id}'" in x)
        assert str(path) in line and f"'{name}' is a Sim '{sim_type}' block" in line
        assert "operation '" in line and "has no Stepweave equivalent" in line
    assert "block 'notify'" not in out  # Sim's slack block runs as a tool block


@pytest.mark.parametrize("command", ["run", "compile"])
def test_run_and_compile_refuse_with_the_report(tmp_path: Path, command: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, _integrations())
    assert main([command, str(path)]) == 2
    captured = capsys.readouterr()
    assert "2 block(s) cannot run on Stepweave yet" in captured.err
    assert "'Open issue' is a Sim 'github' block" in captured.err
    assert captured.out == ""


def test_blocks_a_run_never_reaches_do_not_block_it(tmp_path: Path) -> None:
    doc = _integrations(disabled=True)  # the slack block (and the gmail one after it) is cut off
    with pytest.raises(UnsupportedBlocks) as info:
        compile_workflow(load_workflow(write(tmp_path, doc)), "x.json")
    assert [p.block for p in info.value.problems] == ["issue"]
    doc["state"]["edges"] = [e for e in doc["state"]["edges"] if e["source"] != "issue"
                             and e["target"] != "issue"]
    assert compile_workflow(load_workflow(write(tmp_path, doc)), "x.json").blocks


def test_the_cdk_app_refuses_the_folder(tmp_path: Path) -> None:
    from infra.app import compile_workflows

    write(tmp_path, _integrations())
    with pytest.raises(WorkflowError) as info:
        compile_workflows(tmp_path)
    assert "'Mail customer' is a Sim 'gmail' block" in info.value.report()
    assert len(info.value.problems) == 2


def _agent(tools: list[dict[str, Any]]) -> dict[str, Any]:
    schema = {"name": "triage", "schema": {"type": "object", "properties": {
        "priority": {"type": "string"}}, "required": ["priority"]}, "strict": True}
    return export(
        [start(question="string"),
         block("ask", "agent", "Ask", model="gpt-4o", temperature=0.2,
               systemPrompt="You triage tickets.",
               messages=[{"role": "user", "content": "<start.question>", "id": "m1"}],
               responseFormat=json.dumps(schema), tools=tools, apiKey="{{OPENAI_API_KEY}}",
               memoryType="none", azureEndpoint=None),
         block("score", "evaluator", "Score", model="gpt-4o", content="<ask.priority>",
               metrics=[{"id": "m", "name": "Accuracy", "description": "how right",
                         "range": {"min": 0, "max": 5}, "collapsed": False}]),
         function("after", "return [<ask.priority>, <score.accuracy>]", "After")],
        [edge("start", "ask"), edge("ask", "score"), edge("score", "after")], "ai")


SLACK_TOOL = {"type": "slack", "title": "Slack", "toolId": "slack_message", "operation": "send",
              "isExpanded": True, "usageControl": "auto",
              "params": {"channel": "C42", "credential": "cred-1", "text": ""}}


def test_agent_and_evaluator_map_onto_their_block_types(tmp_path: Path) -> None:
    workflow = load_workflow(write(tmp_path, _agent([SLACK_TOOL])))
    ask, score = workflow.block("ask"), workflow.block("score")
    assert (ask.type, score.type) == ("agent", "evaluator")
    assert ask.params["messages"] == [{"role": "user", "content": "<start.question>"}]
    # Sim's OAuth credential is not exported: the bot token secret posts to the channel
    assert ask.params["tools"] == [{"tool": "slack", "params": {
        "channel": "C42", "token": "{{SLACK_BOT_TOKEN}}"}, "usageControl": "auto"}]
    assert ask.params["apiKey"] == "{{OPENAI_API_KEY}}" and ask.params["temperature"] == 0.2
    assert score.params["metrics"] == [{"id": "m", "name": "Accuracy", "description": "how right",
                                        "range": {"min": 0, "max": 5}}]
    compiled = compile_workflow(workflow, "ai.json")  # references to the response fields check
    assert set(compiled.handlers) >= {"agent", "evaluator", "function"}


def test_an_agent_tool_without_equivalent_makes_the_agent_unsupported(tmp_path: Path) -> None:
    path = write(tmp_path, _agent([SLACK_TOOL, {"type": "notion", "title": "Notion",
                                                "params": {}}]))
    with pytest.raises(UnsupportedBlocks) as info:
        compile_workflow(load_workflow(path), str(path))
    (problem,) = info.value.problems
    assert problem.block == "ask" and "agent tool 'notion' has no Stepweave tool" in problem.message
    _, fidelity = convert_export(path)
    assert fidelity.unsupported == (("ask", "agent"),)
