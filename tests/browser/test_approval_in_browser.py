"""Human approval in a real browser: ``stepweave run`` pauses at an approval and emails the
link (a ``.eml`` file in the outbox); headless Chromium opens it, shows the context, the
approver types into the form and clicks Approve; the run finishes with those values.

Chromium is driven through the DevTools protocol over a pipe (``tests.browser.cdp``).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.browser.cdp import Browser, Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian package `chromium`)"),
              pytest.mark.timeout(90)]

ONE_APPROVAL = """
name: refund-in-browser
blocks:
  - {id: start, type: start,
     params: {inputFormat: [{name: amount, type: number}, {name: note, type: string}]}}
  - {id: ask, name: Approval, type: approval,
     params: {display: {summary: "Refund of <start.amount> EUR", note: "<start.note>"},
              approvers: [lead@example.com], subject: "Refund to approve",
              form: [{name: approved, type: boolean, required: true}, {name: comments, type: string}]}}
  - {id: done, name: Done, type: function,
     params: {code: "return {approved: <approval.approved>, comments: <approval.comments>, by: <approval.decidedBy>}"}}
edges: [start -> ask, ask -> done]
"""

TWO_APPROVALS = """
name: refund-two-steps
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}]}}
  - {id: lead, name: Lead, type: approval,
     params: {display: {amount: "<start.amount>"}, approvers: [lead@example.com], subject: "Lead: refund?",
              form: [{name: approved, type: boolean, required: true}, {name: comments, type: string}]}}
  - {id: finance, name: Finance, type: approval,
     params: {display: {lead: "<lead.comments>"}, approvers: [cfo@example.com], subject: "Finance: refund?",
              form: [{name: approved, type: boolean, required: true}]}}
  - {id: done, name: Done, type: function,
     params: {code: "return {lead: [<lead.approved>, <lead.comments>, <lead.decidedBy>], finance: <finance.approved>}"}}
edges: [start -> lead, lead -> finance, finance -> done]
"""

NOTE = '<b>fragile</b> & "boxed"'


@dataclass
class WaitingRun:
    """A ``stepweave run --json`` in a subprocess, its outbox and its decision pages' URL."""

    process: subprocess.Popen[bytes]
    url: str
    outbox: Path
    stdout: Path
    stderr: Path

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def email(self, subject: str, timeout: float = 30.0) -> EmailMessage:
        """The approval email with ``subject`` once it is in the outbox."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            for path in sorted(self.outbox.glob("*.eml")):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                if message["Subject"] == subject:
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no email {subject!r} in the outbox; the run said:\n{self.log()}")

    def link(self, subject: str) -> str:
        """The decision link of the email ``subject``, once its page answers."""
        message = self.email(subject)
        body = message.get_body(("plain",))
        assert body is not None
        found = re.search(rf"{re.escape(self.url)}/approvals/[A-Za-z0-9_-]+", body.get_content())
        assert found, body.get_content()
        self._wait_for_server()
        return found.group(0)

    def _wait_for_server(self, timeout: float = 15.0) -> None:
        host, port = self.url.removeprefix("http://").split(":")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"the decision pages never answered; the run said:\n{self.log()}")

    def result(self, timeout: float = 30.0) -> dict[str, Any]:
        """The run's JSON summary once it has exited (with 0)."""
        code = self.process.wait(timeout=timeout)
        assert code == 0, self.log()
        summary: dict[str, Any] = json.loads(self.stdout.read_text(encoding="utf-8"))
        return summary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def waiting_run(tmp_path: Path, flow: str, payload: dict[str, Any]) -> Iterator[WaitingRun]:
    """Start ``stepweave run`` (no ``--approve``: it waits for the decision pages); kill it at the end."""
    (tmp_path / "flow.yaml").write_text(flow, encoding="utf-8")
    url = f"http://127.0.0.1:{_free_port()}"
    outbox = tmp_path / "outbox"
    env = {**os.environ, "STEPWEAVE_PUBLIC_URL": url, "STEPWEAVE_OUTBOX_DIR": str(outbox),
           "STEPWEAVE_LOCAL_DIR": str(tmp_path / ".stepweave")}
    for name in ("STEPWEAVE_APPROVAL_SENDER", "STEPWEAVE_APPROVAL_DELIVERY"):
        env.pop(name, None)
    stdout, stderr = tmp_path / "run.out", tmp_path / "run.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("stepweave")), "run", "flow.yaml",
             "--input", json.dumps(payload), "--json"],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        yield WaitingRun(process, url, outbox, stdout, stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    with Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile")) as opened:
        yield opened


def _no_markup_in_display(page: Page) -> bool:
    return bool(page.evaluate("document.querySelectorAll('dd *').length === 0"))


def test_approve_in_the_browser_and_the_run_finishes_with_the_answer(
        browser: Browser, tmp_path: Path) -> None:
    with waiting_run(tmp_path, ONE_APPROVAL, {"amount": 42, "note": NOTE}) as run:
        # GIVEN the emailed link
        message = run.email("Refund to approve")
        assert message["To"] == "lead@example.com"
        link = run.link("Refund to approve")
        page = browser.new_page()

        # WHEN the approver opens it
        page.navigate(link)

        # THEN the page shows the context, the note as text (not markup), and the form
        assert page.status() == 200
        shown = page.text()
        assert "Refund to approve" in shown and "Refund of 42 EUR" in shown
        assert NOTE in shown and _no_markup_in_display(page)
        assert page.evaluate("document.querySelectorAll('button.approve, button.reject').length") == 2

        # WHEN they type a comment and their name and click Approve
        page.fill("#f-comments", "fine <by> me & co")
        page.fill("#f-who", "Lee Lead")
        page.click_and_wait_for_load("button.approve")

        # THEN the browser shows the decision, and the run finishes with it downstream
        assert page.status() == 200
        assert page.url() == link
        recorded = page.text()
        assert "decision recorded" in recorded and 'comments: "fine <by> me & co"' in recorded
        assert "as Lee Lead" in recorded
        summary = run.result()
    assert summary["status"] == "SUCCEEDED"
    assert summary["output"]["result"] == {"approved": True, "comments": "fine <by> me & co",
                                           "by": "Lee Lead"}


def test_a_decided_link_and_a_stale_form_change_nothing(browser: Browser, tmp_path: Path) -> None:
    with waiting_run(tmp_path, TWO_APPROVALS, {"amount": 7}) as run:
        # GIVEN two approvers who opened the same link
        link = run.link("Lead: refund?")
        first, second = browser.new_page(), browser.new_page()
        first.navigate(link)
        second.navigate(link)
        assert "7" in second.text() and second.evaluate("document.forms.length") == 1

        # WHEN the first approves
        first.fill("#f-comments", "ok by me")
        first.fill("#f-who", "Lee")
        first.click_and_wait_for_load("button.approve")
        assert "decision recorded" in first.text()

        # THEN the second one's form, sent later, is refused and changes nothing
        second.fill("#f-comments", "no way")
        second.fill("#f-who", "Sam")
        second.click_and_wait_for_load("button.reject")
        assert second.status() == 409
        refused = second.text()
        assert "Already decided" in refused and "already decided by Lee" in refused
        assert "Nothing was changed" in refused

        # AND the link, opened again (or gone back to), says so, with no form
        second.navigate(link)
        assert second.status() == 409 and "already decided by Lee" in second.text()
        assert second.evaluate("document.forms.length") == 0
        first.back()
        assert first.url() == link and "already decided by Lee" in first.text()

        # WHEN the next approval (which shows the first one's comment) is rejected
        finance = run.link("Finance: refund?")
        first.navigate(finance)
        assert "ok by me" in first.text() and "no way" not in first.text()
        first.click_and_wait_for_load("button.reject")
        assert "decision recorded" in first.text()

        # THEN the run ends with the first decision, not the refused one
        summary = run.result()
    assert summary["status"] == "SUCCEEDED"
    assert summary["output"]["result"] == {"lead": [True, "ok by me", "Lee"], "finance": False}
