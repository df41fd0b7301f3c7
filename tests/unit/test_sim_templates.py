"""Sim's own landing-page templates (tests/fixtures/sim-templates), imported as they are.

GIVEN each template THEN ``stepweave validate`` either accepts it or names, per block, the
real reason it cannot run yet (an integration or agent tool without a Stepweave equivalent,
a trigger without one): never a misleading "no enabled block inside" or a bare "no start
block"; and the GitHub-triggered ones become GitHub-signed webhooks taking Sim's event.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stepweave.cli import main
from stepweave.workflow.loader import load_workflow
from tests.conftest import ROOT

TEMPLATES = sorted((ROOT / "tests" / "fixtures" / "sim-templates").glob("*.json"))
#: template -> what the report must name (a fragment per reason)
EXPECTED = {
    "brand-mention": ["'notion_v2' block", "agent tool 'reddit'"],
    "competitor-monitor": ["agent tool 'firecrawl'"],
    "customer-feedback-digest": ["agent tool 'airtable'"],
    "email-triage": ["starts at 'Gmail1', Sim's 'gmail_v2' trigger has no Stepweave trigger yet"],
    "gh-release-agent": [],
    "knowledge-base-qa": ["agent tool 'knowledge'"],
    "lead-enricher": ["agent tool 'linkedin'", "'google_sheets_v2' block"],
    "meeting-followup-agent": ["'google_calendar_v2' block", "'gmail_v2' block"],
    "ocr-invoice-db": ["starts at 'gmailTrigger', Sim's 'gmail_v2' trigger"],
    "pr-review": [],
    "resume-parser": ["agent tool 'mistral_parse_v3'", "'google_sheets_v2' block"],
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
