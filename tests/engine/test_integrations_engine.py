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


def test_sims_brand_mention_template_runs_end_to_end(engine: Any, server: FakeApi,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Sim's brand-mention template as it is, but for the offline ``local`` model (it calls
    each tool once) and the providers' base URLs pointing at the fake server."""
    secrets = {"REDDIT_CLIENT_ID": "rid", "REDDIT_CLIENT_SECRET": "reddit-secret-e2e",
               "X_BEARER_TOKEN": "x-bearer-e2e", "NOTION_TOKEN": TOKEN}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    for name in ("REDDIT_ACCESS_TOKEN", "REDDIT_REFRESH_TOKEN", "X_REFRESH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    server.reset({
        "POST /token": [(200, {}, {"access_token": "reddit-app", "expires_in": 3600})],
        "GET /r/all/search": [(200, {}, {"data": {"after": None, "children": [
            {"data": {"id": "a", "title": "Love it", "author": "ada", "score": 5}}]}})],
        "GET /2/tweets/search/recent": [(200, {}, {"data": [{"id": "1", "text": "meh"}],
                                                   "meta": {"result_count": 1}})],
        "POST /v1/pages": [(200, {}, {"id": "p-7", "url": "https://www.notion.so/p-7"})]})
    data = json.loads((Path(__file__).parents[1] / "fixtures" / "sim-templates" /
                       "brand-mention.json").read_text(encoding="utf-8"))
    bases = {"reddit": {"baseUrl": server.url, "tokenUrl": server.url + "/token"},
             "x": {"baseUrl": server.url + "/2"}}
    for raw in data["state"]["blocks"].values():
        if raw["type"] == "agent":
            raw["subBlocks"]["model"]["value"] = "local"
            for entry in raw["subBlocks"]["tools"]["value"]:
                entry["params"].update(bases[entry["type"]])
        if raw["type"] == "notion_v2":
            raw["subBlocks"]["baseUrl"] = {"id": "baseUrl", "type": "short-input",
                                           "value": server.url + "/v1"}
    path = tmp_path / "brand-mention.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = engine.run(compile_workflow(load_workflow(path), str(path)), {})
    assert result.status == "SUCCEEDED", result.error
    assert [r["path"] for r in server.requests] == [
        "/token", "/r/all/search", "/2/tweets/search/recent", "/v1/pages"]
    reddit, x = server.requests[1], server.requests[2]
    assert reddit["headers"]["authorization"] == "Bearer reddit-app"
    assert x["headers"]["authorization"] == "Bearer x-bearer-e2e"
    assert x["query"]["sort_order"] == "recency"  # the template's fixed tool param
    page = next(r for r in server.requests if r["path"] == "/v1/pages")
    assert page["body"]["parent"] == {"type": "page_id", "page_id": "placeholder_database_id"}
    assert page["body"]["properties"]["title"]["title"][0]["text"]["content"] == \
        "Brand Mentions Report"
    assert "Total Mentions:" in json.dumps(page["body"]["children"])
    history = json.dumps(result.events, default=str)
    assert not any(v in history for v in secrets.values()) and "reddit-app" not in history
