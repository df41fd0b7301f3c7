"""Sim's own landing-page templates (tests/fixtures/sim-templates), imported as they are.

GIVEN each template THEN ``stepweave validate`` accepts it and ``stepweave compile`` compiles
it as exported (never a misleading "no enabled block inside" or a bare "no start block");
``stepweave import`` notes what it filled in as Sim does (an empty model: Sim's default) and
each value the template's user fills in before running (a ``{{SETTING}}``); Stepweave's own
format stays strict about both; and the GitHub-triggered ones become GitHub-signed webhooks
taking Sim's event. tests/engine/test_sim_templates_engine.py runs them all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stepweave.cli import main
from stepweave.workflow.loader import load_workflow
from tests.conftest import ROOT

TEMPLATES = sorted((ROOT / "tests" / "fixtures" / "sim-templates").glob("*.json"))
#: template -> what the report must name (a fragment per reason); [] = it compiles as it is
EXPECTED: dict[str, list[str]] = {name: [] for name in (
    "brand-mention",  # Notion block, Reddit and X agent tools: integrations
    "competitor-monitor", "customer-feedback-digest", "email-triage", "gh-release-agent",
    "knowledge-base-qa",  # Sim's knowledge tool: sim_knowledge_search
    "lead-enricher", "meeting-followup-agent", "ocr-invoice-db", "pr-review", "resume-parser")}
#: template -> what ``stepweave import`` notes: the model Sim fills in when it is empty, and
#: the values the template's user fills in before running ({{SETTING}}s)
NOTES = {
    "competitor-monitor": ["block 'competitorMonitor': its model is empty in the export: "
                           "Sim's default model claude-sonnet-5 is used"],
    "customer-feedback-digest": ["block 'Agent': its model is empty"],
    "knowledge-base-qa": ["block 'Agent': fill in before running: tool 'sim_knowledge_search' "
                          "param 'workspaceId' is empty in the export; it reads the secret "
                          "SIM_WORKSPACE_ID"],
    "lead-enricher": ["block 'Agent': its model is empty",
                      "block 'GoogleSheets': fill in before running: tool "
                      "'google_sheets_append' param 'spreadsheetId' is empty in the export; it "
                      "reads the secret GOOGLE_SHEETS_SPREADSHEET_ID"],
    "ocr-invoice-db": ["block 'supabaseInvoices': fill in before running: tool "
                       "'supabase_insert' param 'projectId' is empty in the export; it reads "
                       "the secret SUPABASE_PROJECT_ID"],
    "resume-parser": ["block 'resumeParser': its model is empty"],
}


def test_every_template_is_listed() -> None:
    assert [p.stem for p in TEMPLATES] == sorted(EXPECTED)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_a_template_validates_or_names_the_real_cause(path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    report = out.out + out.err
    assert "has no enabled block inside" not in report
    assert "add an enabled block of type 'start'" not in report
    assert "Input should be" not in report  # Sim's input types (file[]) are ours
    expected = EXPECTED[path.stem]
    if not expected:
        assert code == 0 and f"{path}: ok (" in out.out, report
    for fragment in expected:
        assert fragment in report, report


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_a_template_compiles_as_exported_and_import_notes_what_to_fill_in(
        path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["import", str(path), "-o", str(tmp_path / "out.yaml")]) == 0
    notes = [line.removeprefix("note: ") for line in capsys.readouterr().err.splitlines()
             if line.startswith("note: ")]
    expected = NOTES.get(path.stem, [])
    assert len(notes) == len(expected), notes
    for note, fragment in zip(notes, expected):
        assert note.startswith(fragment), notes
    written = (tmp_path / "out.yaml").read_text(encoding="utf-8")
    assert main(["validate", str(tmp_path / "out.yaml")]) == 0  # the written file too
    for fragment in expected:
        if "reads the secret " in fragment:
            assert "'{{" + fragment.rsplit(" ", 1)[1] + "}}'" in written
        else:
            assert "model: claude-sonnet-5" in written


def test_our_own_format_stays_strict_about_an_empty_model_or_a_missing_param(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only Sim's import fills in: a Stepweave file without them is a validation error."""
    path = tmp_path / "w.yaml"
    path.write_text("""version: 1
name: strict
blocks:
  - {id: start, type: start}
  - {id: a, type: agent, params: {messages: [{role: user, content: hi}]}}
  - {id: s, type: tool, params: {tool: supabase_insert, params: {table: t, data: {}}}}
edges: [start -> a, a -> s]
""", encoding="utf-8")
    assert main(["validate", str(path)]) != 0
    report = capsys.readouterr()
    text = report.out + report.err
    assert "field 'params.model': Field required" in text
    assert "field 'params.params.projectId': Field required" in text


@pytest.mark.parametrize(("template", "event", "action"), [
    ("pr-review", "pull_request", "opened"),
    ("gh-release-agent", "release", "published"),
])
def test_a_github_trigger_becomes_a_signed_webhook_taking_sims_event(
        template: str, event: str, action: str) -> None:
    workflow = load_workflow(ROOT / "tests" / "fixtures" / "sim-templates" / f"{template}.json")
    (trigger,) = workflow.triggers
    assert trigger.type == "webhook"
    assert trigger.signature.scheme == "github" and trigger.signature.secret
    assert trigger.when == {"headers.X-GitHub-Event": [event], "body.action": [action]}
    assert [b.type for b in workflow.blocks if b.name == "githubtrigger"] == ["start"]


def test_an_empty_router_or_evaluator_model_gets_sims_default_too(tmp_path: Path) -> None:
    from stepweave.workflow.convert import convert_export
    from tests.engine.sim_export import block, edge, export, start, write

    path = write(tmp_path, export(
        [start(q="string"),
         block("route", "router_v2", "Route", context="<start.q>", model="",
               routes='[{"id": "route-a", "title": "A", "value": "a"}]'),
         block("judge", "evaluator", "Judge", content="<start.q>", model="",
               metrics='[{"name": "ok", "description": "ok", "range": {"min": 0, "max": 1}}]')],
        [edge("start", "route"), edge("route", "judge", "router-route-a")]))
    workflow = load_workflow(path)
    assert {b.name: b.params["model"] for b in workflow.blocks if b.type != "start"} == {
        "Route": "claude-sonnet-5", "Judge": "claude-sonnet-5"}
    _, fidelity = convert_export(path)
    assert [n.split(":")[0] for n in fidelity.notes] == ["block 'Route'", "block 'Judge'"]


def test_sims_knowledge_block_imports_as_the_knowledge_search_tool(tmp_path: Path) -> None:
    """Sim's Knowledge block (search) searches the knowledge base in Sim; its own ``apiKey``
    (the reranker's) is not the Sim API key, and the workspace is a value to fill in."""
    from tests.engine.sim_export import block, edge, export, start, write

    path = write(tmp_path, export(
        [start(q="string"),
         block("kb", "knowledge", "Docs", operation="search", knowledgeBaseSelector="kb-9",
               query="<start.q>", topK="3", apiKey="{{COHERE_KEY}}")],
        [edge("start", "kb")]))
    (kb,) = [b for b in load_workflow(path).blocks if b.name == "Docs"]
    assert kb.type == "tool" and kb.params["tool"] == "sim_knowledge_search"
    assert kb.params["params"] == {"knowledgeBaseId": "kb-9", "query": "<start.q>", "topK": "3",
                                   "workspaceId": "{{SIM_WORKSPACE_ID}}"}
