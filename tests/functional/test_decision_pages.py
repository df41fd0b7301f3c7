"""The decision pages through API Gateway-shaped events, and over HTTP while a run waits."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from stepweave.api.decision_pages import csrf_token, handle
from stepweave.local.decision_server import decision_gateway
from stepweave.local.engine import LocalEngine, RunResult
from stepweave.runtime.approvals import Approval, get_approval
from stepweave.runtime.recorder import Clients

from tests.engine.helpers import compile_text

FLOW = """
name: refund-pages
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}, {name: note, type: string}]}}
  - {id: ask, name: Approval, type: approval,
     params: {display: [{name: summary, type: string, value: "Refund <start.amount> EUR: <start.note>"}],
              form: [{name: approved, type: boolean, required: true}, {name: comments, type: string},
                     {name: limit, type: number}],
              approvers: [lead@example.com], subject: "Refund <start.amount>", timeoutSeconds: 600}}
  - {id: c, name: Decision, type: condition,
     params: {conditions: [{id: yes, value: "<approval.approved> === true"},
                           {id: no, title: "else if", value: "<approval.approved> === false"}]}}
  - {id: pay, name: Pay, type: function,
     params: {code: "return 'paid ' + <approval.limit> + ': ' + <approval.comments> + ' by ' + <approval.decidedBy>"}}
  - {id: keep, name: Keep, type: function, params: {code: "return 'kept'"}}
edges: [start -> ask, ask -> c, "c -[condition-yes]-> pay", "c -[condition-no]-> keep"]
"""
PAYLOAD = {"amount": 42, "note": "<script>alert(1)</script> & co"}


@pytest.fixture()
def engine() -> Iterator[LocalEngine]:
    with LocalEngine() as eng:
        yield eng


def _event(method: str, approval_id: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    return {"httpMethod": method, "path": f"/approvals/{approval_id}",
            "pathParameters": {"id": approval_id}, "headers": {},
            "body": urlencode(form) if form is not None else None, "isBase64Encoded": False}


def _run(engine: LocalEngine, check: Callable[[Approval, Callable[..., dict[str, Any]]], None]) -> RunResult:
    """Run FLOW; ``check(approval, call)`` runs once while the approval is pending."""
    clients = Clients(sfn=engine.sfn, ddb=engine.records.ddb)
    done: list[str] = []

    def call(method: str, approval_id: str, form: dict[str, str] | None = None,
             **kwargs: Any) -> dict[str, Any]:
        return handle(_event(method, approval_id, form), clients=clients,
                      settings=engine.records.settings, **kwargs)

    def approver(approval: Approval) -> None:
        if approval.id not in done:
            done.append(approval.id)
            check(approval, call)

    return engine.run(compile_text(FLOW), PAYLOAD, poll_s=0.01, approver=approver, timeout_s=60)


def _status(engine: LocalEngine, approval_id: str) -> str:
    stored = get_approval(engine.records.ddb, engine.records.settings, approval_id)
    assert stored is not None
    return stored.status


def test_get_shows_the_escaped_context_and_post_decides(engine: LocalEngine) -> None:
    def check(approval: Approval, call: Callable[..., dict[str, Any]]) -> None:
        page = call("GET", approval.id)
        assert page["statusCode"] == 200
        body, headers = page["body"], page["headers"]
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in body and "<script>" not in body
        assert "Refund 42 EUR" in body and 'name="viewport"' in body
        assert 'name="comments"' in body and 'type="number"' in body and ">Approve<" in body
        assert f'value="{csrf_token(engine.records.settings, approval.id)}"' in body
        assert headers["Content-Security-Policy"] == ("default-src 'none'; style-src 'unsafe-inline'; "
                                                      "form-action 'self'")
        assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert _status(engine, approval.id) == "pending"  # GET never decides
        done = call("POST", approval.id, {"csrfToken": csrf_token(engine.records.settings, approval.id),
                                          "approved": "true", "comments": "ok", "limit": "7",
                                          "decidedBy": "lead@example.com"})
        assert done["statusCode"] == 200 and "decision recorded" in done["body"]

    result = _run(engine, check)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": "paid 7: ok by lead@example.com", "stdout": ""}


def test_every_failure_answers_with_its_status_and_changes_nothing(engine: LocalEngine) -> None:
    def check(approval: Approval, call: Callable[..., dict[str, Any]]) -> None:
        token = csrf_token(engine.records.settings, approval.id)
        assert call("GET", "no-such-approval")["statusCode"] == 404
        assert call("POST", "no-such-approval", {"csrfToken": token, "approved": "true"})["statusCode"] == 404
        assert call("GET", "../etc/passwd")["statusCode"] == 404
        assert call("POST", approval.id, {"approved": "true"})["statusCode"] == 403
        assert call("POST", approval.id, {"csrfToken": token[:-2] + "xx", "approved": "true"})["statusCode"] == 403
        assert call("PUT", approval.id)["statusCode"] == 405
        bad = call("POST", approval.id, {"csrfToken": token, "approved": "true", "limit": "lots"})
        assert bad["statusCode"] == 400 and "&#x27;limit&#x27; must be a number" in bad["body"]
        assert 'value="lots"' in bad["body"]  # the form again, with what was typed
        missing = call("POST", approval.id, {"csrfToken": token, "comments": "?"})
        assert missing["statusCode"] == 400 and "is required" in missing["body"]
        late = time.time() + 3600
        assert call("GET", approval.id, now=late)["statusCode"] == 410
        assert call("POST", approval.id, {"csrfToken": token, "approved": "true"}, now=late)["statusCode"] == 410
        assert _status(engine, approval.id) == "pending"
        assert call("POST", approval.id, {"csrfToken": token, "approved": "false"})["statusCode"] == 200
        again = call("POST", approval.id, {"csrfToken": token, "approved": "true"})
        assert again["statusCode"] == 409 and "already decided" in again["body"]
        assert call("GET", approval.id)["statusCode"] == 409

    result = _run(engine, check)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": "kept", "stdout": ""}


def test_the_pages_over_http_while_the_run_waits(engine: LocalEngine) -> None:
    seen: list[Approval] = []
    results: list[RunResult] = []
    clients = Clients(sfn=engine.sfn, ddb=engine.records.ddb)

    def approver(approval: Approval) -> None:
        if not seen:
            seen.append(approval)

    def run() -> None:
        results.append(engine.run(compile_text(FLOW), PAYLOAD, poll_s=0.01, approver=approver,
                                  timeout_s=60))

    with decision_gateway(clients, engine.records.settings, port=0) as server:
        worker = threading.Thread(target=run)
        worker.start()
        _wait_for(seen)
        url = f"{server.url}/approvals/{seen[0].id}"
        page = httpx.get(url)
        assert page.status_code == 200 and "Refund 42 EUR" in page.text
        assert page.headers["x-frame-options"] == "DENY"
        token = re.search(r'name="csrfToken" value="([^"]+)"', page.text)
        assert token is not None
        done = httpx.post(url, data={"csrfToken": token.group(1), "approved": "true",
                                     "comments": "via web", "limit": "3"})
        assert done.status_code == 200, done.text
        worker.join(timeout=30)
    assert results and results[0].status == "SUCCEEDED", results and results[0].cause
    assert results[0].output == {"result": "paid 3: via web by web", "stdout": ""}


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian package `chromium`)")
def test_headless_chromium_renders_the_page(engine: LocalEngine, tmp_path: Any) -> None:
    seen: list[Approval] = []
    clients = Clients(sfn=engine.sfn, ddb=engine.records.ddb)
    results: list[RunResult] = []
    worker = threading.Thread(target=lambda: results.append(engine.run(
        compile_text(FLOW), PAYLOAD, poll_s=0.01, timeout_s=60,
        approver=lambda a: None if seen else seen.append(a))))
    with decision_gateway(clients, engine.records.settings, port=0) as server:
        worker.start()
        _wait_for(seen)
        url = f"{server.url}/approvals/{seen[0].id}"
        # no background networking: this machine's network is closed beyond loopback
        dom = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                              "--no-first-run", "--disable-background-networking",
                              "--disable-component-update", "--disable-sync", "--disable-quic",
                              f"--user-data-dir={tmp_path}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=60).stdout
        assert "Refund 42 EUR" in dom and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
        assert "Approve</button>" in dom and 'name="csrfToken"' in dom
        assert _status(engine, seen[0].id) == "pending"  # a browser's GET decides nothing
        token = csrf_token(engine.records.settings, seen[0].id)
        assert httpx.post(url, data={"csrfToken": token, "approved": "false"}).status_code == 200
        worker.join(timeout=30)
    assert results and results[0].output == {"result": "kept", "stdout": ""}


def _wait_for(seen: list[Approval]) -> None:
    """Until the waiting run has offered its approval (at most 30 s)."""
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert seen, "the run never reached the approval"
