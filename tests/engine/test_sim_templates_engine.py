"""All 11 of Sim's landing-page templates (tests/fixtures/sim-templates), imported as they are
and run end to end on the embedded engine against fake providers.

One fake server (``tests/fakeapi.py``) serves the whole module: every integration the
templates use (each provider under its own path prefix, ``/<provider>``: the blocks' and agent
tools' ``baseUrl``) and the model providers (``/anthropic/v1/messages``,
``/openai/chat/completions``: the agents' ``baseUrl``, their model ids as exported, or Sim's
default ``claude-sonnet-5`` where the template leaves it empty). The fake model calls each
tool it is offered once, with the arguments the case gives, then answers (Sim's
structured answer when a ``responseFormat`` asks for one). Slack posts go to the local outbox.
The values a template leaves to fill in are set as the import report says
(``{{SUPABASE_PROJECT_ID}}``...); a run without one fails naming the block and the param.

GIVEN a template and its trigger's input THEN the run succeeds, exactly the expected blocks
ran, the providers got the expected requests, and the final output is the expected one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stepweave.ai.providers import provider_for
from stepweave.compiler import compile_workflow
from stepweave.integrations.registry import load_operation, operation_index, operations
from stepweave.local.engine import RunResult
from stepweave.runtime.history import block_runs
from stepweave.workflow.loader import parse_workflow
from stepweave.workflow.sim import IMPORT_NOTES, import_sim_export
from tests.conftest import ROOT
from tests.fakeapi import FakeApi, fake_api

pytestmark = pytest.mark.usefixtures("engine")
TEMPLATES = ROOT / "tests" / "fixtures" / "sim-templates"
#: the values the import report says to fill in before running
SETTINGS = {"SUPABASE_PROJECT_ID": "invoicesproj", "GOOGLE_SHEETS_SPREADSHEET_ID": "Leads",
            "SIM_WORKSPACE_ID": "ws-42"}
#: secrets a template names itself (competitor-monitor's agent key)
NAMED = {"XAI_API_KEY": "xai-e2e-key"}


@dataclass
class Case:
    input: dict[str, Any]
    #: the fake providers' answers (``METHOD /<provider>/path``)
    replies: dict[str, list[Any]]
    #: tool -> the arguments the fake model calls it with
    calls: dict[str, dict[str, Any]]
    #: the model's answer: text (``{results}``: the tool results it got) or a structured one
    answer: Any
    #: the blocks that ran, by name
    ran: list[str]
    #: the provider requests, ``METHOD /path`` (the model's not included)
    requests: list[str]
    check: Callable[[RunResult, list[dict[str, Any]], Path], None]
    #: the run fails as it would in Sim: the start of its cause
    fails: str | None = None


class FakeModel:
    """Anthropic's Messages API and OpenAI's Chat Completions, answering as a ``Case`` says."""

    def __init__(self) -> None:
        self.case: Case | None = None
        self.turns: list[dict[str, Any]] = []

    def _answer(self, results: list[str], structured: bool) -> Any:
        answer = self.case.answer if self.case else ""
        if isinstance(answer, dict):
            return answer if structured else json.dumps(answer)
        return str(answer).replace("{results}", " | ".join(r[:200] for r in results))

    def _pending(self, offered: list[str], called: set[str]) -> list[str]:
        calls = self.case.calls if self.case else {}
        return [name for name in offered if name in calls and name not in called]

    def anthropic(self, request: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        body = request["body"]
        self.turns.append(body)
        usage = {"input_tokens": 10, "output_tokens": 5}
        choice = body.get("tool_choice") or {}
        if choice.get("type") == "tool":  # the structured answer, as a forced tool
            return 200, {}, {"id": "m", "type": "message", "role": "assistant", "usage": usage,
                             "stop_reason": "tool_use", "content": [{
                                 "type": "tool_use", "id": "ans", "name": choice["name"],
                                 "input": self._answer([], True)}]}
        called = {c["name"] for m in body["messages"] if m["role"] == "assistant"
                  and isinstance(m["content"], list) for c in m["content"]
                  if c.get("type") == "tool_use"}
        results = [str(c.get("content")) for m in body["messages"]
                   if isinstance(m["content"], list) for c in m["content"]
                   if c.get("type") == "tool_result"]
        pending = self._pending([t["name"] for t in body.get("tools") or []], called)
        if pending and choice.get("type") != "none":
            return 200, {}, {"id": "m", "type": "message", "role": "assistant", "usage": usage,
                             "stop_reason": "tool_use", "content": [
                                 {"type": "tool_use", "id": f"tu_{i}", "name": name,
                                  "input": self.case.calls[name]}  # type: ignore[union-attr]
                                 for i, name in enumerate(pending)]}
        return 200, {}, {"id": "m", "type": "message", "role": "assistant", "usage": usage,
                         "stop_reason": "end_turn",
                         "content": [{"type": "text", "text": self._answer(results, False)}]}

    def openai(self, request: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        body = request["body"]
        self.turns.append(body)
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        called = {c["function"]["name"] for m in body["messages"]
                  if m["role"] == "assistant" for c in m.get("tool_calls") or []}
        results = [str(m["content"]) for m in body["messages"] if m["role"] == "tool"]
        pending = self._pending([t["function"]["name"] for t in body.get("tools") or []], called)
        if pending and body.get("tool_choice") != "none":
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{i}", "type": "function", "function": {
                    "name": name, "arguments": json.dumps(self.case.calls[name])}}  # type: ignore[union-attr]
                for i, name in enumerate(pending)]}
            finish = "tool_calls"
        else:
            answer = self._answer(results, "response_format" in body)
            message = {"role": "assistant",
                       "content": answer if isinstance(answer, str) else json.dumps(answer)}
            finish = "stop"
        return 200, {}, {"id": "c", "object": "chat.completion", "usage": usage,
                         "choices": [{"index": 0, "message": message, "finish_reason": finish}]}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeApi]:
    with fake_api() as fake:
        yield fake


@pytest.fixture()
def providers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Every integration's default secrets, the model keys, the settings to fill in; Slack
    to the local outbox."""
    secrets = {"ANTHROPIC_API_KEY": "sk-ant-e2e", "OPENAI_API_KEY": "sk-openai-e2e",
               "GEMINI_API_KEY": "gemini-e2e-key", **NAMED}
    for operation in operations():
        for name in operation.secrets():
            secrets[name] = f"e2e-{name.lower().replace('_', '-')}"
    for name, value in {**secrets, **SETTINGS}.items():
        monkeypatch.setenv(name, value)
    for name in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "OPENAI_COMPATIBLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STEPWEAVE_OUTBOX_DIR", str(tmp_path / "outbox"))
    return secrets


def _pointed(tool: str, params: dict[str, Any], url: str) -> None:
    """An integration's ``baseUrl`` (and token endpoint) at the fake server, under
    ``/<provider>``."""
    if tool not in operation_index():
        return
    operation = load_operation(tool)
    params["baseUrl"] = f"{url}/{operation.provider_id}"
    if operation.provider.auth.type == "oauth2":
        params["tokenUrl"] = f"{url}/token"


def imported(name: str, url: str) -> dict[str, Any]:
    """The template as ``stepweave`` imports it, its providers pointed at the fake server."""
    data = json.loads((TEMPLATES / f"{name}.json").read_text(encoding="utf-8"))
    workflow = import_sim_export(data, f"{name}.json")
    workflow.pop(IMPORT_NOTES, None)
    for block in workflow["blocks"]:
        params = block["params"]
        if block["type"] == "agent":
            # the model's own provider (anthropic, openai, gemini), its endpoint here
            provider = provider_for(params["model"])
            params["baseUrl"] = f"{url}/anthropic" if provider == "anthropic" else f"{url}/openai"
            for tool in params.get("tools") or []:
                _pointed(tool["tool"], tool["params"], url)
        elif block["type"] == "tool":
            _pointed(params["tool"], params["params"], url)
    return workflow


def _outbox(tmp_path: Path) -> list[str]:
    return [json.loads(p.read_text(encoding="utf-8"))["text"]
            for p in sorted((tmp_path / "outbox" / "slack").glob("*.json"))]


def _check_brand(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    page = requests[-1]["body"]
    assert page["parent"] == {"type": "page_id", "page_id": "placeholder_database_id"}
    assert "Total Mentions:" in json.dumps(page["children"])
    assert requests[0]["query"]["q"] == "Stepweave"
    assert result.output["url"] == "https://www.notion.so/p-7"


def _check_competitor(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    # the key the template names ({{XAI_API_KEY}}) goes with Sim's default model, as in Sim
    assert requests[0]["body"]["url"] == "https://competitor1.com"
    (post,) = _outbox(tmp_path)
    assert post.startswith("📊 *Daily Competitive Intelligence Report*")
    assert "Pricing cut to $9" in post  # the scraped page reached the report


def _check_feedback(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    assert requests[1]["query"] == {"offset": "o1"}
    (post,) = _outbox(tmp_path)
    assert "Too slow" in post


def _check_triage(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    assert requests[0]["headers"]["authorization"] == "e2e-linear-api-key"
    assert "Checkout is down" in json.dumps(requests[0]["body"])
    (post,) = _outbox(tmp_path)
    assert post == "Urgent: checkout is down"
    assert result.output["content"].startswith("Urgent, routed.")
    assert "OPS-1" in result.output["content"]  # the issue the tool created


def _check_release(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    (post,) = _outbox(tmp_path)
    assert post.startswith("*New Release: Stepweave 2.0* (v2.0.0)")
    assert "Faster imports." in post and post.endswith("https://github.com/acme/app/r/v2")


def _check_kb(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    (search,) = requests
    assert search["headers"]["x-api-key"] == "e2e-sim-api-key"
    assert search["body"] == {"workspaceId": "ws-42", "knowledgeBaseIds": ["placeholder-kb-id"],
                              "query": "refunds?", "topK": 5}
    assert result.output["content"].startswith("Within 30 days.")
    assert "Refunds within 30 days" in result.output["content"]  # the chunk it found


def _check_leads(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    appends = [r for r in requests if r["method"] == "POST"]
    assert len(appends) == 2 and all("/spreadsheets/Leads/" in r["path"] for r in appends)
    assert appends[0]["body"]["values"] == [["ada@acme.io", "Ada", "CTO", "Acme", "London"]]
    assert appends[0]["headers"]["authorization"] == "Bearer e2e-google-access-token"


def _check_meeting(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    assert requests[0]["query"].get("singleEvents") == "true"


def _check_invoice(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    ocr, insert = requests[-2:]
    assert ocr["body"]["document"]["document_url"].endswith("/files/invoice.pdf")
    assert insert["path"] == "/supabase/invoices"
    assert insert["headers"]["apikey"] == "e2e-supabase-api-key"
    assert insert["body"] == {"invoice_number": "INV-7", "total": 42.5}
    assert result.output["results"] == [{"id": 1, "invoice_number": "INV-7"}]


def _check_pr(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    (post,) = _outbox(tmp_path)
    assert "*PR:* Add retries" in post and "*Author:* ada" in post
    assert post.endswith("Looks good; add a test.")


def _check_resume(result: RunResult, requests: list[dict[str, Any]], tmp_path: Path) -> None:
    ocr, append = requests
    assert ocr["body"]["document"] == {"type": "document_url",
                                       "document_url": "https://files.example/cv.pdf"}
    # the template's row reads <resumeParser.content.name>...; a structured answer's fields
    # are the agent's top-level outputs (<resumeParser.name>), in Sim too, where `content`
    # is then empty: so Sim appends this row of empty cells as well
    assert append["body"]["values"] == [[""] * 7]
    assert result.output["updatedRows"] == 1


_OK = (200, {}, {})
CASES: dict[str, Case] = {
    "brand-mention": Case(
        {}, {"GET /reddit/r/all/search": [(200, {}, {"data": {"after": None, "children": [
                {"data": {"id": "a", "title": "Love Stepweave", "author": "ada", "score": 5}}]}})],
             "GET /x/tweets/search/recent": [(200, {}, {"data": [{"id": "1", "text": "meh"}],
                                                       "meta": {"result_count": 1}})],
             "POST /notion/pages": [(200, {}, {"id": "p-7", "url": "https://www.notion.so/p-7"})]},
        {"reddit_search": {"query": "Stepweave"}, "x_search": {"query": "Stepweave"}},
        "Total Mentions: 2 ({results})",
        ["Schedule", "brandMentionTracker", "Notion"],
        ["GET /reddit/r/all/search", "GET /x/tweets/search/recent", "POST /notion/pages"],
        _check_brand),
    "competitor-monitor": Case(
        {}, {"POST /firecrawl/scrape": [(200, {}, {"success": True, "data": {
            "markdown": "# Competitor 1\nPricing cut to $9", "metadata": {"title": "C1"}}})]},
        {"firecrawl_scrape": {"url": "https://competitor1.com"}}, "Report: {results}",
        ["dailyTrigger", "competitorMonitor", "slackNotify"], ["POST /firecrawl/scrape"], _check_competitor),
    "customer-feedback-digest": Case(
        {}, {"GET /airtable/appFeedback/Responses": [
            (200, {}, {"records": [{"id": "r1", "fields": {"Text": "Love it"}}], "offset": "o1"}),
            (200, {}, {"records": [{"id": "r2", "fields": {"Text": "Too slow"}}]})]},
        {"airtable_list": {"baseId": "appFeedback", "tableId": "Responses"}},
        "Digest: {results}", ["Schedule", "Agent", "Slack"],
        ["GET /airtable/appFeedback/Responses", "GET /airtable/appFeedback/Responses"],
        _check_feedback),
    "email-triage": Case(
        {"email": {"from": "ops@acme.io", "subject": "Checkout is down",
                   "bodyText": "Since 9:00 nobody can pay."}},
        {"POST /linear/graphql": [(200, {}, {"data": {"issueCreate": {"success": True, "issue": {
            "id": "i1", "identifier": "OPS-1", "url": "https://linear.app/i/OPS-1",
            "title": "Checkout is down"}}}})]},
        {"linear_create_issue": {"teamId": "team-ops", "title": "Checkout is down",
                                 "description": "From ops@acme.io: Checkout is down"},
         "slack": {"text": "Urgent: checkout is down"}},
        "Urgent, routed. {results}", ["Gmail1", "Agent1"], ["POST /linear/graphql"], _check_triage),
    "gh-release-agent": Case(
        {"release": {"name": "Stepweave 2.0", "tag_name": "v2.0.0", "body": "Faster imports",
                     "html_url": "https://github.com/acme/app/r/v2"},
         "repository": {"full_name": "acme/app"}, "action": "published"},
        {}, {}, "Faster imports.", ["githubtrigger", "summarizer", "slacknotify"], [], _check_release),
    "knowledge-base-qa": Case(
        {"input": "refunds?"},
        {"POST /sim/knowledge/search": [(200, {}, {"data": {"results": [
            {"knowledgeBaseId": "placeholder-kb-id", "documentId": "d1", "documentName": "faq.md",
             "sourceUrl": None, "content": "Refunds within 30 days.", "chunkIndex": 0,
             "metadata": {}, "similarity": 0.9}], "query": "refunds?",
            "knowledgeBaseIds": ["placeholder-kb-id"], "topK": 5, "totalResults": 1,
            "rerankerStatus": "disabled"}})]},
        {"sim_knowledge_search": {"query": "refunds?"}}, "Within 30 days. {results}",
        ["Start", "Agent"], ["POST /sim/knowledge/search"], _check_kb),
    "lead-enricher": Case(
        {"emails": ["ada@acme.io", "bob@acme.io"]},
        {"GET /linkedin/v2/userinfo": [(200, {}, {"sub": "u1", "name": "Ada"})],
         "POST /google_sheets/spreadsheets/Leads/values/Sheet1:append": [(200, {}, {
             "tableRange": "Sheet1!A1:E1", "updates": {"updatedRange": "Sheet1!A2:E2",
                                                       "updatedRows": 1}})]},
        {"linkedin_get_profile": {}},
        {"row": [["ada@acme.io", "Ada", "CTO", "Acme", "London"]]},
        ["Start", "dataParallel", "Agent", "Agent", "GoogleSheets", "GoogleSheets"],
        ["GET /linkedin/v2/userinfo", "GET /linkedin/v2/userinfo",
         "POST /google_sheets/spreadsheets/Leads/values/Sheet1:append",
         "POST /google_sheets/spreadsheets/Leads/values/Sheet1:append"], _check_leads),
    "meeting-followup-agent": Case(
        {}, {"GET /google_calendar/calendars/primary/events": [(200, {}, {"timeZone": "UTC",
             "items": [{"id": "e1", "summary": "Roadmap review", "attendees": [
                 {"email": "ada@acme.io"}, {"email": "bob@acme.io"}]}]})],
             "POST /google_calendar/users/me/messages/send": [(200, {}, {"id": "m1"})],
             "POST /gmail/users/me/messages/send": [(200, {}, {"id": "m1", "threadId": "t1"})]},
        {}, {"subject": "Thanks: roadmap review", "body": "Thank you both.",
             "attendees": "ada@acme.io, bob@acme.io"},
        # as exported, its function reads `input.attendees`: Sim defines no `input` in a
        # function (params, environmentVariables and the references' values), so the run
        # fails there in Sim too (test_the_meeting_followup_template_once_fixed runs it)
        ["Start", "calendarEvents", "emailDrafter", "parseAttendees"],
        ["GET /google_calendar/calendars/primary/events"], _check_meeting,
        fails="parseAttendees: Line 1: `const attendeesString = input.attendees || '';` - "
              "input is not defined"),
    "ocr-invoice-db": Case(
        {"email": {"subject": "Invoice", "attachments": [
            {"name": "invoice.pdf", "url": "{server}/files/invoice.pdf"}]}},
        {"GET /files/invoice.pdf": [(200, {"content-type": "text/plain"}, "INVOICE INV-7 total 42.50")],
         "POST /mistral/ocr": [(200, {}, {"model": "mistral-ocr", "pages": [
             {"index": 0, "markdown": "INVOICE INV-7 total 42.50"}], "usage_info": {}})],
         "POST /supabase/invoices": [(201, {}, [{"id": 1, "invoice_number": "INV-7"}])]},
        {"mistral_parse": {}}, '{"invoice_number": "INV-7", "total": 42.5}',
        ["gmailTrigger", "File Parser", "invoiceExtractor", "supabaseInvoices"],
        ["GET /files/invoice.pdf", "POST /mistral/ocr", "POST /supabase/invoices"],
        _check_invoice),
    "pr-review": Case(
        {"pull_request": {"title": "Add retries", "user": {"login": "ada"}, "number": 7,
                          "html_url": "https://github.com/acme/app/pull/7",
                          "head": {"ref": "retries"}, "base": {"ref": "main"},
                          "body": "Retries with backoff", "additions": 40, "deletions": 2,
                          "changed_files": 3,
                          "diff_url": "https://github.com/acme/app/pull/7.diff"},
         "repository": {"full_name": "acme/app"}, "action": "opened"},
        {}, {}, "Looks good; add a test.", ["githubtrigger", "reviewer", "slacknotify"], [], _check_pr),
    "resume-parser": Case(
        {"resumeFile": [{"name": "cv.pdf", "url": "https://files.example/cv.pdf", "size": 1000,
                         "type": "application/pdf"}]},
        {"POST /mistral/ocr": [(200, {}, {"model": "mistral-ocr", "pages": [
            {"index": 0, "markdown": "# Ada Lovelace\nada@example.com"}], "usage_info": {}})],
         "POST /google_sheets/spreadsheets/Candidates/values/Sheet1:append": [(200, {}, {
             "tableRange": "Sheet1!A1:G1", "updates": {"updatedRange": "Sheet1!A2:G2",
                                                       "updatedRows": 1}})]},
        {"mistral_parse": {}},
        {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 1", "summary": "Math",
         "experience": "Engines", "education": "Self-taught", "skills": "Analysis"},
        ["Start", "resumeParser", "candidatesSheet"],
        ["POST /mistral/ocr", "POST /google_sheets/spreadsheets/Candidates/values/Sheet1:append"],
        _check_resume),
}


def _fill(value: Any, url: str) -> Any:
    return json.loads(json.dumps(value).replace("{server}", url))


def _run(engine: Any, server: FakeApi, name: str, case: Case,
         edit: Callable[[dict[str, Any]], None] | None = None) -> tuple[RunResult, list[str]]:
    model = FakeModel()
    model.case = case
    server.reset({**{k: [_fill(r, server.url) for r in v] for k, v in case.replies.items()},
                  "POST /anthropic/v1/messages": [model.anthropic],
                  "POST /openai/chat/completions": [model.openai]})
    workflow = imported(name, server.url)
    if edit is not None:
        edit(workflow)
    compiled = compile_workflow(parse_workflow(workflow, name), name)
    result = engine.run(compiled, _fill(case.input, server.url))
    return result, [r.name for r in block_runs(result.events, compiled.manifest())]


#: the model each template's agents ask for (Sim's default where the template leaves it empty)
MODELS = {"brand-mention": "gemini-2.5-flash", "competitor-monitor": "claude-sonnet-5",
          "customer-feedback-digest": "claude-sonnet-5", "email-triage": "claude-sonnet-4-5",
          "gh-release-agent": "claude-sonnet-4-5", "knowledge-base-qa": "gemini-2.5-pro",
          "lead-enricher": "claude-sonnet-5", "meeting-followup-agent": "gemini-2.5-pro",
          "ocr-invoice-db": "gpt-5.2", "pr-review": "gpt-5.2", "resume-parser": "claude-sonnet-5"}

KEYS = {"claude": "sk-ant-e2e", "gemini": "gemini-e2e-key", "gpt": "sk-openai-e2e"}


def test_every_template_has_a_case() -> None:
    assert sorted(CASES) == sorted(p.stem for p in TEMPLATES.glob("*.json"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_sim_template_runs_end_to_end(name: str, engine: Any, server: FakeApi,
                                        providers: dict[str, str], tmp_path: Path) -> None:
    case = CASES[name]
    result, ran = _run(engine, server, name, case)
    if case.fails:
        assert result.status == "FAILED" and str(result.cause).startswith(case.fails)
    else:
        assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert sorted(ran) == sorted(case.ran)
    turns = [r for r in server.requests if r["path"].startswith(("/anthropic/", "/openai/"))]
    assert turns and {r["body"]["model"] for r in turns} == {MODELS[name]}
    # each provider's default key (Anthropic's header, a bearer token for the others), but
    # for the key competitor-monitor names itself
    key = "xai-e2e-key" if name == "competitor-monitor" else KEYS[MODELS[name].split("-")[0]]
    assert all(key == r["headers"].get("x-api-key")
               or r["headers"].get("authorization") == f"Bearer {key}" for r in turns)
    requests = [r for r in server.requests if r not in turns]
    # (in order but for a parallel's branches)
    assert sorted(f"{r['method']} {r['path']}" for r in requests) == sorted(case.requests)
    case.check(result, requests, tmp_path)
    history = json.dumps(result.events, default=str)
    assert not any(v in history for v in providers.values())


def test_a_value_left_to_fill_in_fails_its_block_naming_it(
        engine: Any, server: FakeApi, providers: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ocr-invoice-db run before SUPABASE_PROJECT_ID is set, as the import report warns."""
    monkeypatch.delenv("SUPABASE_PROJECT_ID")
    result, ran = _run(engine, server, "ocr-invoice-db", CASES["ocr-invoice-db"])
    assert result.status == "FAILED"
    assert result.error == "Stepweave.BlockFailed"
    assert str(result.cause).startswith("supabaseInvoices: ")
    assert ("supabase_insert tool: 'projectId' is required: fill in the secret "
            "SUPABASE_PROJECT_ID (it is not set)") in str(result.cause)
    assert ran[-1] == "supabaseInvoices"
    assert not any(r["path"].startswith("/supabase") for r in server.requests)


def test_the_meeting_followup_template_once_fixed(engine: Any, server: FakeApi,
                                                 providers: dict[str, str],
                                                 tmp_path: Path) -> None:
    """With the two edits the template needs in Sim as well (its function reads the
    drafter's ``attendees``; the email's subject and body are the structured answer's
    top-level fields), the loop sends one email per attendee."""
    def fix(workflow: dict[str, Any]) -> None:
        for block in workflow["blocks"]:
            params = block["params"]
            if block["name"] == "parseAttendees":
                params["code"] = params["code"].replace("input.attendees", "<emailDrafter.attendees>")
            if block["name"] == "sendEmail":
                params["params"]["subject"] = "<emailDrafter.subject>"
                params["params"]["body"] = "<emailDrafter.body>"

    result, ran = _run(engine, server, "meeting-followup-agent",
                       CASES["meeting-followup-agent"], fix)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert sorted(ran) == sorted(["Start", "calendarEvents", "emailDrafter", "parseAttendees",
                                  "attendeeLoop", "sendEmail", "sendEmail"])
    sends = [r for r in server.requests if r["path"] == "/gmail/users/me/messages/send"]
    assert len(sends) == 2
    turn = next(r for r in server.requests if r["path"].startswith("/openai/"))
    assert "Roadmap review" in json.dumps(turn["body"]["messages"])  # the calendar's events
    mails = [base64.urlsafe_b64decode(r["body"]["raw"] + "==").decode() for r in sends]
    assert sorted(next(line for line in m.splitlines() if line.startswith("To: "))
                  for m in mails) == ["To: ada@acme.io", "To: bob@acme.io"]
    assert all("Subject: Thanks: roadmap review" in m and "Thank you both." in m for m in mails)
