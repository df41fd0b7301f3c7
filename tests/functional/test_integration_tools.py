"""What every integration operation shares: the schema an agent's model sees, credentials
(default secrets, never supplied by a model, masked), OAuth2 access tokens cached per
process, and the Sim importer's mapping of integration blocks and agent tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepweave.ai.toolbox import Toolbox
from stepweave.ai.types import ToolCall
from stepweave.blocks.tool_block import run_tool_block
from stepweave.errors import BlockInputError, HttpStatusError
from stepweave.integrations import oauth
from stepweave.params.agent import ToolSpec
from stepweave.runtime.settings import Settings
from stepweave.tools import get_tool, tool_for_sim_block
from stepweave.tools.base import ToolContext
from stepweave.workflow.loader import load_workflow
from tests.authored import authored
from tests.engine.sim_export import block, edge, export, start, write
from tests.fakeapi import FakeApi, fake_api

GOOGLE = {"GOOGLE_REFRESH_TOKEN": "1//refresh-abc", "GOOGLE_CLIENT_ID": "cid",
          "GOOGLE_CLIENT_SECRET": "csecret-xyz"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeApi]:
    with fake_api() as fake:
        yield fake


def test_the_model_sees_the_operation_params_never_credentials_or_urls() -> None:
    schema = get_tool("notion_create_page").schema({})
    assert set(schema["properties"]) == {"parentId", "title", "content", "properties"}
    assert schema["required"] == ["parentId"]
    assert schema["properties"]["content"]["description"].startswith("the page text")
    fixed = get_tool("google_sheets_append").schema({"spreadsheetId": "s1"})
    assert set(fixed["properties"]) == {"sheetName", "cellRange", "values"}  # fixed ones go


def test_an_agent_calls_an_integration_and_cannot_redirect_it(server: FakeApi,
                                                              tmp_path: Path) -> None:
    server.reset({"POST /v1/pages": [(200, {}, {"id": "p1", "url": "https://notion.so/p1"})]})
    spec = ToolSpec(tool="notion_create_page",
                    params={"parentId": "root", "baseUrl": server.url + "/v1"})
    box = Toolbox([spec], ToolContext(secrets={"NOTION_TOKEN": "secret_tok_123"},
                                      settings=Settings(local_dir=tmp_path)))
    (function,) = box.functions()
    assert "accessToken" not in json.dumps(function.parameters)
    message, record = box.call(ToolCall("c1", "notion_create_page", {
        "title": "Hi", "parentId": "elsewhere", "accessToken": "model-token",
        "baseUrl": "http://attacker.invalid"}))
    (request,) = server.requests
    assert request["headers"]["authorization"] == "Bearer secret_tok_123"
    assert request["body"]["parent"]["page_id"] == "root"  # the workflow's value wins
    assert record["success"] is True and json.loads(message.content)["id"] == "p1"


def test_credentials_not_set_name_the_secret(tmp_path: Path) -> None:
    with pytest.raises(BlockInputError, match=r"the notion credentials are not set "
                                              r"\(NOTION_TOKEN\)"):
        run_tool_block({"tool": "notion_append", "params": {"pageId": "p", "content": "x"}}, {},
                       settings=Settings(local_dir=tmp_path))
    with pytest.raises(BlockInputError, match=r"GOOGLE_ACCESS_TOKEN / GOOGLE_REFRESH_TOKEN / "
                                              r"GOOGLE_CLIENT_ID"):
        run_tool_block({"tool": "gmail_read", "params": {"messageId": "m"}}, {},
                       settings=Settings(local_dir=tmp_path))


def test_a_secret_echoed_by_the_provider_is_masked(server: FakeApi, tmp_path: Path) -> None:
    server.reset({"POST /search": [(401, {}, {"error": "bad key tvly-echoed-secret-1"})]})
    with pytest.raises(HttpStatusError) as info:
        run_tool_block({"tool": "tavily_search", "params": {"query": "q", "baseUrl": server.url}},
                       {"TAVILY_API_KEY": "tvly-echoed-secret-1"},
                       settings=Settings(local_dir=tmp_path))
    assert "tvly-echoed-secret-1" not in str(info.value) and "bad key ***" in str(info.value)


def test_an_access_token_is_obtained_once_per_process_and_renewed_when_it_expires(
        server: FakeApi, tmp_path: Path) -> None:
    oauth.clear_cache()
    server.reset({"POST /token": [(200, {}, {"access_token": "ya29.one", "expires_in": 3600}),
                                  (200, {}, {"access_token": "ya29.two", "expires_in": 3600})],
                  "GET /gmail/v1/users/me/messages/m": [(200, {}, {"id": "m"})]})
    params = {"messageId": "m", "baseUrl": server.url + "/gmail/v1",
              "tokenUrl": server.url + "/token"}
    for _ in range(2):
        out = run_tool_block({"tool": "gmail_read", "params": params}, GOOGLE,
                             settings=Settings(local_dir=tmp_path))
        assert out["id"] == "m" and "ya29" not in json.dumps(out)
    assert [r["path"] for r in server.requests].count("/token") == 1
    assert {r["headers"]["authorization"] for r in server.requests
            if r["path"] != "/token"} == {"Bearer ya29.one"}
    # an hour later (less the margin) the cached token is no longer used
    request = oauth.TokenRequest("gmail_read", server.url + "/token", "cid", "csecret-xyz",
                                 "1//refresh-abc")
    assert oauth.access_token(request) == "ya29.one"
    assert oauth.access_token(request, clock=lambda: 4e12) == "ya29.two"


# -- the Sim importer -------------------------------------------------------------------------

def _imported(tmp_path: Path, *blocks: dict[str, Any]) -> Any:
    doc = export([start(topic="string"), *blocks],
                 [edge("start", blocks[0]["id"])] + [edge(a["id"], b["id"])
                                                     for a, b in zip(blocks, blocks[1:])])
    return load_workflow(write(tmp_path, doc))


def test_sim_integration_blocks_become_tool_blocks(tmp_path: Path) -> None:
    workflow = _imported(
        tmp_path,
        block("notion", "notion_v2", "Notion", operation="notion_create_page",
              parentSelector="page-1", title="Report <start.topic>", content="Body",
              credential="cred_1", accessToken="literal-token-never-kept"),
        block("sheet", "google_sheets_v2", "Sheet", operation="append",
              manualSpreadsheetId="sheet-9", manualSheetName="Leads", values="[[1, 2]]",
              insertDataOption="INSERT_ROWS", manualCredential="cred_2"),
        block("cal", "google_calendar_v2", "Calendar", operation="list", timeMin="",
              manualCalendarId="team@example.com"))
    notion, sheet, cal = (workflow.block(i) for i in ("notion", "sheet", "cal"))
    assert (notion.type, notion.params) == ("tool", {"tool": "notion_create_page", "params": {
        "parentId": "page-1", "title": "Report <start.topic>", "content": "Body"}})
    assert sheet.params == {"tool": "google_sheets_append", "params": {
        "spreadsheetId": "sheet-9", "sheetName": "Leads", "values": "[[1, 2]]",
        "insertDataOption": "INSERT_ROWS"}}
    assert cal.params == {"tool": "google_calendar_list",
                          "params": {"calendarId": "team@example.com"}}


def test_an_operation_without_a_declaration_is_reported_by_name(tmp_path: Path) -> None:
    workflow = _imported(tmp_path, block("n", "notion_v2", "Notion",
                                         operation="notion_delete_block", blockId="b"))
    kept = workflow.block("n")
    assert kept.type == "sim:notion_v2"
    assert "operation 'notion_delete_block' has no Stepweave equivalent" in \
        kept.params["unsupported"]
    assert "'notion_create_page'" in kept.params["unsupported"]


def test_sim_agent_tools_become_integration_tools(tmp_path: Path) -> None:
    assert tool_for_sim_block("x", "x_search_tweets") == "x_search"
    assert tool_for_sim_block("firecrawl_scrape") == "firecrawl_scrape"
    workflow = _imported(tmp_path, block(
        "agent", "agent", "Agent", model="gpt-4o", messages=[{"role": "user", "content": "go"}],
        tools=[{"type": "reddit", "operation": "search", "toolId": "reddit_search",
                "params": {"credential": "cred_3", "subreddit": "aws"}, "usageControl": "auto"},
               {"type": "firecrawl", "operation": "scrape", "toolId": "firecrawl_scrape",
                "params": {"apiKey": "{{FIRECRAWL_API_KEY}}"}, "usageControl": "force"}]))
    assert workflow.block("agent").params["tools"] == [
        {"tool": "reddit_search", "params": {"subreddit": "aws"}, "usageControl": "auto"},
        {"tool": "firecrawl_scrape", "params": {"apiKey": "{{FIRECRAWL_API_KEY}}"},
         "usageControl": "force"}]


def test_a_redirect_is_followed_on_the_same_host_only(server: FakeApi, tmp_path: Path) -> None:
    moved = "{server}/repositories/99/releases?per_page=1"
    elsewhere = server.url.replace("127.0.0.1", "localhost") + "/steal"  # another origin
    server.reset({"GET /repos/octo/old/releases": [(301, {"Location": moved}, {"message": "Moved"})],
                  "GET /repositories/99/releases": [(200, {}, [{"id": 1, "tag_name": "v1"}])],
                  "GET /repos/octo/gone/releases": [(302, {"Location": elsewhere}, "")]})
    out = run_tool_block({"tool": "github_list_releases", "params": {
        "owner": "octo", "repo": "old", "per_page": 1, "baseUrl": server.url}},
        {"GITHUB_TOKEN": "ghp_redirect_secret"}, settings=Settings(local_dir=tmp_path))
    assert out["releases"][0]["tag_name"] == "v1"
    assert [(r["path"], r["query"], r["headers"]["authorization"]) for r in server.requests] == [
        ("/repos/octo/old/releases", {"per_page": "1"}, "Bearer ghp_redirect_secret"),
        ("/repositories/99/releases", {"per_page": "1"}, "Bearer ghp_redirect_secret")]
    server.reset({"GET /repos/octo/gone/releases": [(302, {"Location": elsewhere}, "")]})
    with pytest.raises(HttpStatusError, match=r"answered 302"):
        run_tool_block({"tool": "github_list_releases", "params": {
            "owner": "octo", "repo": "gone", "baseUrl": server.url}},
            {"GITHUB_TOKEN": "ghp_redirect_secret"}, settings=Settings(local_dir=tmp_path))
    assert [r["path"] for r in server.requests] == ["/repos/octo/gone/releases"]


def test_a_param_reads_the_sim_ids_it_declares_in_order(tmp_path: Path) -> None:
    # Sim's Reddit block keeps the other operations' values (sort: hot for get_posts)
    workflow = _imported(tmp_path, block(
        "r", "reddit", "Reddit", operation="search", subreddit="aws", sort="hot",
        searchQuery="stepweave", searchSort="new", searchLimit="5"))
    assert workflow.block("r").params == {"tool": "reddit_search", "params": {
        "subreddit": "aws", "query": "stepweave", "sort": "new", "limit": "5"}}


def test_one_secret_may_hold_the_whole_refresh_grant(server: FakeApi, tmp_path: Path) -> None:
    """As a Gmail poll trigger's credential: ``{"refresh_token", "client_id", "client_secret"}``."""
    oauth.clear_cache()
    server.reset({"POST /token": [(200, {}, {"access_token": "ya29.grant", "expires_in": 3600})],
                  "GET /gmail/v1/users/me/messages/m": [(200, {}, {"id": "m"})]})
    grant = json.dumps({"refresh_token": "1//in-json", "client_id": "cid-json",
                        "client_secret": "csecret-json"})
    params, scope = authored("tool", {"tool": "gmail_read", "params": {
        "messageId": "m", "refreshToken": "{{GMAIL_OAUTH}}", "baseUrl": server.url + "/gmail/v1",
        "tokenUrl": server.url + "/token"}}, {"GMAIL_OAUTH": grant})
    out = run_tool_block(params, scope, settings=Settings(local_dir=tmp_path))
    assert out["id"] == "m"
    assert server.requests[0]["body"] == {"grant_type": "refresh_token",
                                          "refresh_token": "1//in-json", "client_id": "cid-json",
                                          "client_secret": "csecret-json"}


def test_a_literal_credential_is_a_validation_error(tmp_path: Path) -> None:
    from stepweave.compiler import compile_workflow
    from stepweave.errors import WorkflowError
    from stepweave.workflow.loader import parse_workflow
    from stepweave.workflow.loader import parse_yaml

    text = """
name: literal
blocks:
  - {id: start, type: start}
  - id: page
    type: tool
    params: {tool: notion_append, params: {pageId: p, content: x, accessToken: secret_live_123}}
  - id: ask
    type: agent
    params:
      model: local
      messages: [{role: user, content: hi}]
      tools: [{tool: exa_search, params: {apiKey: exa-live-key}}]
  - id: ok
    type: tool
    params: {tool: notion_append, params: {pageId: p, content: x, accessToken: "{{MY_NOTION}}"}}
edges: [start -> page, page -> ask, ask -> ok]
"""
    with pytest.raises(WorkflowError) as info:
        compile_workflow(parse_workflow(parse_yaml(text), "l.yaml"), "l.yaml")
    report = info.value.report()
    assert ("block 'page', field 'params.params.accessToken': is a literal credential, which "
            "would be written into the state machine: name a secret instead, e.g. "
            "{{NOTION_TOKEN}}") in report
    assert ("block 'ask', field 'params.tools.0.params.apiKey': is a literal credential, which "
            "would be written into the state machine: name a secret instead, e.g. "
            "{{EXA_API_KEY}}") in report
    assert "secret_live_123" not in report and "exa-live-key" not in report
    assert "block 'ok'" not in report
