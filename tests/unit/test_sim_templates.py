"""Sim's own landing-page templates (tests/fixtures/sim-templates), imported as they are.

GIVEN each template THEN ``stepweave validate`` either accepts it or names, per block, the
real reason it cannot run yet (an integration or agent tool without a Stepweave equivalent,
a trigger without one, a required value the template leaves empty): never a misleading "no enabled block inside" or a bare "no start
block"; and the GitHub-triggered ones become GitHub-signed webhooks taking Sim's event.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepweave.cli import main
from stepweave.workflow.loader import load_workflow
from tests.conftest import ROOT

TEMPLATES = sorted((ROOT / "tests" / "fixtures" / "sim-templates").glob("*.json"))
#: template -> what the report must name (a fragment per reason); [] = it compiles as it is
EXPECTED = {
    "brand-mention": [],  # Notion block, Reddit and X agent tools: integrations
    # the agent's model is left empty in the template (Sim fills in its own default)
    "competitor-monitor": ["field 'params.model': Field required"],
    "customer-feedback-digest": ["field 'params.model': Field required"],
    "email-triage": [],  # a Gmail poll trigger; Linear and Slack agent tools
    "gh-release-agent": [],
    "knowledge-base-qa": ["agent tool 'knowledge'"],
    # the Google Sheets block's spreadsheet and the agent's model are left empty
    "lead-enricher": ["field 'params.params.spreadsheetId': Field required",
                      "field 'params.model': Field required"],
    "meeting-followup-agent": [],  # Google Calendar and Gmail blocks: integrations
    # the Supabase block's project is left empty in the template
    "ocr-invoice-db": ["field 'params.params.projectId': Field required"],
    "pr-review": [],
    "resume-parser": ["field 'params.model': Field required"],
}
#: what a user fills in where a template leaves a required value empty (Sim block type ->
#: sub-block -> value): then these compile too
FILLED = {
    "competitor-monitor": {"agent": {"model": "grok-4"}},
    "customer-feedback-digest": {"agent": {"model": "gpt-4o"}},
    "lead-enricher": {"google_sheets_v2": {"manualSpreadsheetId": "1AbC"},
                      "agent": {"model": "gpt-4o"}},
    "ocr-invoice-db": {"supabase": {"projectId": "abcdefgh"}},
    "resume-parser": {"agent": {"model": "gpt-4o"}},
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


@pytest.mark.parametrize("template", sorted(FILLED))
def test_a_template_compiles_once_its_empty_values_are_filled_in(
        template: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((ROOT / "tests" / "fixtures" / "sim-templates" / f"{template}.json")
                      .read_text(encoding="utf-8"))
    for raw in data["state"]["blocks"].values():
        for key, value in FILLED[template].get(raw["type"], {}).items():
            assert not raw["subBlocks"][key]["value"]  # the template leaves it empty
            raw["subBlocks"][key]["value"] = value
    path = tmp_path / f"{template}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    code = main(["compile", str(path), "-o", str(tmp_path / "out")])
    out = capsys.readouterr()
    assert code == 0, out.err


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
