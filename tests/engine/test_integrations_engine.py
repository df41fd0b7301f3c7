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


def _template(name: str, tmp_path: Path, tools: dict[str, dict[str, Any]],
              blocks: dict[str, dict[str, Any]]) -> Path:
    """Sim's template ``name`` with the offline model and the given fixed params added to its
    agent tools (by Sim type) and sub-block values to its blocks (by Sim type)."""
    data = json.loads((Path(__file__).parents[1] / "fixtures" / "sim-templates" /
                       f"{name}.json").read_text(encoding="utf-8"))
    for raw in data["state"]["blocks"].values():
        if raw["type"] == "agent":
            raw["subBlocks"]["model"]["value"] = "local"
            entries = raw["subBlocks"]["tools"]["value"]
            for entry in entries if isinstance(entries, list) else []:
                entry["params"].update(tools.get(entry["type"], {}))
        for key, value in blocks.get(raw["type"], {}).items():
            raw["subBlocks"][key] = {"id": key, "type": "short-input", "value": value}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_sims_customer_feedback_digest_runs_end_to_end(
        engine: Any, server: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent lists the Airtable table's records (every page) and the digest goes to
    Slack (the local outbox: no Slack secret is set)."""
    monkeypatch.setenv("AIRTABLE_API_KEY", "pat-e2e-secret")
    monkeypatch.setenv("STEPWEAVE_OUTBOX_DIR", str(tmp_path / "outbox"))
    for name in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    server.reset({"GET /v0/appFeedback/Responses": [
        (200, {}, {"records": [{"id": "rec1", "fields": {"Text": "Love it"}}], "offset": "o1"}),
        (200, {}, {"records": [{"id": "rec2", "fields": {"Text": "Too slow"}}]})]})
    path = _template("customer-feedback-digest", tmp_path, {"airtable": {
        "baseId": "appFeedback", "tableId": "Responses", "baseUrl": server.url + "/v0"}}, {})
    result = engine.run(compile_workflow(load_workflow(path), str(path)), {})
    assert result.status == "SUCCEEDED", result.error
    assert [(r["path"], r["query"]) for r in server.requests] == [
        ("/v0/appFeedback/Responses", {}), ("/v0/appFeedback/Responses", {"offset": "o1"})]
    assert all(r["headers"]["authorization"] == "Bearer pat-e2e-secret" for r in server.requests)
    history = json.dumps(result.events, default=str)
    assert "Too slow" in history and "pat-e2e-secret" not in history
    (digest,) = (tmp_path / "outbox" / "slack").glob("*.json")  # the Slack block's message
    assert "Too slow" in json.loads(digest.read_text(encoding="utf-8"))["text"]


def test_sims_resume_parser_runs_end_to_end(engine: Any, server: FakeApi, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent must OCR the uploaded resume (Mistral, forced), and the parsed fields are
    appended to the candidates sheet with a Google token from the refresh token."""
    from stepweave.integrations import oauth

    oauth.clear_cache()
    for name, value in {"MISTRAL_API_KEY": "mistral-e2e", "GOOGLE_REFRESH_TOKEN": "1//e2e",
                        "GOOGLE_CLIENT_ID": "cid-e2e", "GOOGLE_CLIENT_SECRET": "cs-e2e"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GOOGLE_ACCESS_TOKEN", raising=False)
    server.reset({
        "POST /v1/ocr": [(200, {}, {"model": "mistral-ocr", "pages": [
            {"index": 0, "markdown": "# Ada Lovelace\nada@example.com"}], "usage_info": {}})],
        "POST /token": [(200, {}, {"access_token": "ya29.e2e", "expires_in": 3600})],
        "POST /v4/spreadsheets/Candidates/values/Sheet1:append": [(200, {}, {
            "tableRange": "Sheet1!A1:G1", "updates": {"updatedRange": "Sheet1!A2:G2",
                                                      "updatedRows": 1}})]})
    path = _template("resume-parser", tmp_path,
                     {"mistral_parse_v3": {"baseUrl": server.url + "/v1"}},
                     {"google_sheets_v2": {"baseUrl": server.url + "/v4",
                                           "tokenUrl": server.url + "/token"}})
    resume = [{"name": "cv.pdf", "url": "https://files.example/cv.pdf", "size": 1000,
               "type": "application/pdf"}]
    result = engine.run(compile_workflow(load_workflow(path), str(path)), {"resumeFile": resume})
    assert result.status == "SUCCEEDED", result.cause
    ocr, token, append = server.requests
    assert ocr["body"]["document"] == {"type": "document_url",
                                       "document_url": "https://files.example/cv.pdf"}
    assert token["body"]["refresh_token"] == "1//e2e"
    assert append["headers"]["authorization"] == "Bearer ya29.e2e"
    assert append["query"] == {"valueInputOption": "USER_ENTERED",
                               "insertDataOption": "INSERT_ROWS"}
    assert len(append["body"]["values"]) == 1 and len(append["body"]["values"][0]) == 7
    history = json.dumps(result.events, default=str)
    assert not any(s in history for s in ("mistral-e2e", "1//e2e", "cs-e2e", "ya29.e2e"))
