"""Sim integration blocks in trigger mode import as the matching Stepweave trigger.

GIVEN a Sim export whose first block is ``slack``, ``stripe``, ``rss``, ``gmail_v2``,
``google_sheets_v2``, ``outlook`` or ``imap`` in trigger mode (or ``calendly``, which has no
equivalent)
WHEN it is loaded THEN it has a Slack- or Stripe-signed webhook keeping Sim's event filter,
or a poll trigger with Sim's settings, and the block is a start block under its Sim name (so
``<gmail1.email.subject>`` reads the run input); a trigger without an equivalent is named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepweave.cli import main
from stepweave.errors import WorkflowError
from stepweave.triggers.declare import PollTrigger, WebhookTrigger
from stepweave.workflow.loader import load_workflow
from tests.conftest import ROOT
from tests.engine import sim_export as sim


def _load(tmp_path: Path, block_type: str, name: str = "Trigger1", **values: Any) -> Any:
    trigger = sim.block("t1", block_type, name, **values)
    trigger["triggerMode"] = True
    export = sim.export([trigger, sim.function("f", "return 1", "F")], [sim.edge("t1", "f")],
                        name="Lead Flow")
    path = tmp_path / "lead-flow.json"
    path.write_text(json.dumps(export))
    return load_workflow(path)


def test_a_slack_trigger_is_a_slack_signed_webhook_keeping_its_event(tmp_path: Path) -> None:
    workflow = _load(tmp_path, "slack_v2", "Slack", eventType="app_mention",
                     channelFilter=["C0LAN2Q65"], signingSecret="never-copied")
    (trigger,) = workflow.triggers
    assert isinstance(trigger, WebhookTrigger)
    assert trigger.signature.scheme == "slack" and trigger.signature.secret == "LEAD_FLOW_WEBHOOK_SECRET"
    assert trigger.when == {"body.event.type": ["app_mention"], "body.event.channel": ["C0LAN2Q65"]}
    assert "never-copied" not in json.dumps(workflow.model_dump(mode="json"))
    edited = _load(tmp_path, "slack", eventType="message_edited").triggers[0]
    assert edited.when == {"body.event.type": ["message"], "body.event.subtype": ["message_changed"]}
    assert _load(tmp_path, "slack").triggers[0].when is None  # Sim's legacy trigger: every event


def test_a_stripe_trigger_is_a_stripe_signed_webhook_taking_its_event_types(tmp_path: Path) -> None:
    workflow = _load(tmp_path, "stripe", "Stripe",
                     eventTypes=["invoice.paid", "checkout.session.completed"], webhookSecret="whsec_x")
    (trigger,) = workflow.triggers
    assert isinstance(trigger, WebhookTrigger) and trigger.signature.scheme == "stripe"
    assert trigger.when == {"body.type": ["invoice.paid", "checkout.session.completed"]}
    assert [b.type for b in workflow.blocks if b.name == "Stripe"] == ["start"]


@pytest.mark.parametrize(("block_type", "values", "expected"), [
    ("rss", {"feedUrl": " https://blog.example/feed.xml "},
     {"provider": "rss", "feedUrl": "https://blog.example/feed.xml", "credential": None}),
    ("gmail_v2", {"labelIds": ["INBOX", "Label_7"], "labelFilterBehavior": "EXCLUDE",
                  "searchQuery": "has:attachment", "markAsRead": True, "triggerCredentials": "cred-1"},
     {"provider": "gmail", "labelIds": ["INBOX", "Label_7"], "labelFilterBehavior": "EXCLUDE",
      "searchQuery": "has:attachment", "markAsRead": True, "credential": None}),  # GOOGLE_* secrets
    ("google_sheets_v2", {"manualSpreadsheetId": "1AbC-d", "manualSheetName": "Leads",
                          "valueRenderOption": "UNFORMATTED_VALUE"},
     {"provider": "google_sheets", "spreadsheetId": "1AbC-d", "sheetName": "Leads",
      "valueRenderOption": "UNFORMATTED_VALUE", "credential": None}),
    ("outlook", {"folderIds": ["AAMkAD="], "markAsRead": False},
     {"provider": "outlook", "folder": "AAMkAD=", "markAsRead": False,
      "credential": "LEAD_FLOW_OUTLOOK_CREDENTIAL"}),
    ("imap", {"host": "imap.fastmail.com", "port": "993", "secure": True, "username": "me@example.com",
              "password": "never-copied", "mailbox": ["INBOX", "Invoices"],
              "searchCriteria": '{ "unseen": true, "from": "billing@acme.test" }'},
     {"provider": "imap", "host": "imap.fastmail.com", "port": 993, "secure": True,
      "username": "me@example.com", "mailboxes": ["INBOX", "Invoices"], "markAsRead": True,
      "searchCriteria": 'UNSEEN FROM "billing@acme.test"', "credential": "LEAD_FLOW_IMAP_CREDENTIAL"}),
])
def test_polling_triggers_become_poll_triggers_with_sims_settings(
        tmp_path: Path, block_type: str, values: dict[str, Any], expected: dict[str, Any]) -> None:
    workflow = _load(tmp_path, block_type, **values)
    (trigger,) = workflow.triggers
    assert isinstance(trigger, PollTrigger) and trigger.rate == "1 minute"  # Sim polls every minute
    for field, value in expected.items():
        assert getattr(trigger, field) == value, field
    assert [b.type for b in workflow.blocks if b.name == "Trigger1"] == ["start"]


def test_a_polling_trigger_missing_its_setting_names_it(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="provider 'google_sheets' needs 'spreadsheetId' and 'sheetName'"):
        _load(tmp_path, "google_sheets_v2")


def test_a_trigger_without_an_equivalent_says_so(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _load(tmp_path, "calendly", "Bookings", webhookUrlDisplay="")
    assert main(["validate", str(tmp_path / "lead-flow.json")]) != 0
    assert "starts at 'Bookings', Sim's 'calendly' trigger has no Stepweave trigger yet" in capsys.readouterr().err


def test_imap_search_criteria_stepweave_cannot_read_are_named(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="searchCriteria: 'larger' is not a criterion"):
        _load(tmp_path, "imap", host="imap.example.com", username="me", searchCriteria='{"larger": 10}')


@pytest.mark.parametrize(("template", "block"), [("email-triage", "Gmail1"),
                                                  ("ocr-invoice-db", "gmailTrigger")])
def test_the_gmail_templates_start_from_a_gmail_poll(template: str, block: str) -> None:
    workflow = load_workflow(ROOT / "tests" / "fixtures" / "sim-templates" / f"{template}.json")
    (trigger,) = workflow.triggers
    assert isinstance(trigger, PollTrigger) and trigger.provider == "gmail"
    assert trigger.credential is None  # the Google integration's secrets, as the Gmail blocks
    assert trigger.labelFilterBehavior == "INCLUDE" and trigger.rate == "1 minute"
    assert [b.type for b in workflow.blocks if b.name == block] == ["start"]
