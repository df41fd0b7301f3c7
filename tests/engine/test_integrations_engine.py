"""A Sim export with integration blocks, imported as it is and run on the embedded engine
against a fake provider: the Notion block creates the page with the workflow's values and
the deployment's secret, the next block reads its output, and no secret is in the run's
history; a provider's refusal takes the error edge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler import compile_workflow
from stepweave.workflow.loader import load_workflow
from tests.engine.sim_export import block, edge, export, function, start, write
from tests.fakeapi import FakeApi, fake_api

pytestmark = pytest.mark.usefixtures("engine")
TOKEN = "secret_notion_engine_42"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeApi]:
    with fake_api() as fake:
        yield fake


def _export(base_url: str) -> dict[str, Any]:
    return export(
        [start(topic="string"),
         block("notion", "notion_v2", "Notion", operation="notion_create_page",
               parentId="page-1", title="Report: <start.topic>", content="All good.",
               credential="cred-1", baseUrl=base_url),
         function("after", "return {url: <notion.url>, title: <notion.title>}", "After"),
         function("failed", "return {error: <notion.error>}", "Failed")],
        [edge("start", "notion"), edge("notion", "after"),
         edge("notion", "failed", "error")], "notion-report")


def test_a_sim_notion_block_runs_on_the_engine(engine: Any, server: FakeApi, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    server.reset({"POST /v1/pages": [(200, {}, {
        "id": "p-1", "url": "https://www.notion.so/p-1",
        "properties": {"title": {"title": [{"plain_text": "Report: Q1"}]}}})]})
    path = write(tmp_path, _export(server.url + "/v1"))
    compiled = compile_workflow(load_workflow(path), str(path))
    result = engine.run(compiled, {"topic": "Q1"})
    assert result.status == "SUCCEEDED", result.error
    assert result.output["result"] == {"url": "https://www.notion.so/p-1", "title": "Report: Q1"}
    (request,) = server.requests
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert request["body"]["properties"]["title"]["title"][0]["text"]["content"] == "Report: Q1"
    assert TOKEN not in json.dumps(result.events, default=str)
    assert TOKEN not in json.dumps(compiled.definition, default=str)


def test_a_refusal_takes_the_error_edge(engine: Any, server: FakeApi, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    server.reset({"POST /v1/pages": [(400, {}, {"object": "error", "code": "validation_error",
                                                "message": "body.parent.page_id is invalid"})]})
    path = write(tmp_path, _export(server.url + "/v1"))
    result = engine.run(compile_workflow(load_workflow(path), str(path)), {"topic": "Q2"})
    assert result.status == "SUCCEEDED", result.error
    assert "answered 400: body.parent.page_id is invalid" in result.output["result"]["error"]
