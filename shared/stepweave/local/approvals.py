"""Answering approvals of a local run: the engine polls the table for the run's pending
approvals and asks an ``Approver`` (a callable) for each; a submission it returns is
decided at once (``stepweave.runtime.approvals.decide``), ``None`` asks again at the next poll.

``scripted_approver`` is what ``stepweave run --approve NAME=JSON --reject NAME`` uses:
answers by block name (or id), printing the outbox file and the decision link of each
approval the first time it is seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from stepweave.blocks.approval_block import outbox_file
from stepweave.errors import StepweaveError
from stepweave.runtime.approvals import Approval, decide, decision_link, pending_approvals
from stepweave.runtime.recorder import Clients
from stepweave.runtime.settings import Settings

__all__ = ["Approver", "ApprovalDesk", "scripted_approver", "parse_answers", "REJECT"]

Approver = Callable[[Approval], dict[str, Any] | None]
#: What ``--reject NAME`` submits.
REJECT: dict[str, Any] = {"approved": False}


class ApprovalDesk:
    """The pending approvals of one local execution, answered by an ``Approver``."""

    def __init__(self, clients: Clients, settings: Settings, approver: Approver,
                 decided_by: str = "local") -> None:
        self.clients, self.settings, self.approver = clients, settings, approver
        self.decided_by = decided_by
        self.decided: list[str] = []

    def poll(self, execution_arn: str) -> None:
        for approval in pending_approvals(self.clients.ddb, self.settings, execution_arn):
            submission = self.approver(approval)
            if submission is not None:
                decide(approval.id, submission, decided_by=self.decided_by, clients=self.clients,
                       settings=self.settings)
                self.decided.append(approval.id)


def parse_answers(approve: list[str], reject: list[str]) -> dict[str, dict[str, Any]]:
    """``NAME={"approved": true}`` items and rejected names -> name -> submission."""
    answers: dict[str, dict[str, Any]] = {name.strip(): dict(REJECT) for name in reject}
    for item in approve:
        name, sep, text = item.partition("=")
        try:
            value = json.loads(text) if sep and text.strip() else {"approved": True}
        except ValueError as exc:
            raise StepweaveError(f"--approve {name}: not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise StepweaveError(f"--approve {name}: expected a JSON object of form fields")
        answers[name.strip()] = value
    return answers


#: How long a newly seen approval's email may take to reach the outbox.
EMAIL_WAIT_S = 2.0


def _email_of(settings: Settings, approval_id: str) -> Path | None:
    """The approval's ``.eml`` in the local outbox. The approval is stored before its email
    is written, so a just-seen one may not have it yet: wait a moment for it, when emails go
    to the outbox at all (no SES sender, delivery not ``none``)."""
    path = outbox_file(settings, approval_id)
    if path is not None or settings.approval_sender or settings.approval_delivery == "none":
        return path
    deadline = time.monotonic() + EMAIL_WAIT_S
    while path is None and time.monotonic() < deadline:
        time.sleep(0.02)
        path = outbox_file(settings, approval_id)
    return path


def scripted_approver(answers: dict[str, dict[str, Any]], settings: Settings,
                      out: TextIO | None) -> Approver:
    seen: set[str] = set()

    def answer(approval: Approval) -> dict[str, Any] | None:
        if approval.id not in seen and out is not None:
            seen.add(approval.id)
            where = "".join(f" {k} {v.get('index')}" for k, v in approval.position.items())
            print(f"approval '{approval.block_name}'{where} is waiting", file=out)
            path = _email_of(settings, approval.id)
            if path is not None:
                print(f"  email: {path}", file=out)
            print(f"  link:  {decision_link(settings, approval.id)}", file=out)
            if approval.block_name not in answers and approval.block_id not in answers:
                print("  (no --approve/--reject for it: waiting; Ctrl-C to stop)", file=out)
        return answers.get(approval.block_name, answers.get(approval.block_id))

    return answer
