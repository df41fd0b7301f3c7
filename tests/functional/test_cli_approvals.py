"""``stepweave approvals`` against a waiting ``stepweave run``: list the pending approval,
approve it with form fields, and the run finishes with them downstream."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stepweave.cli import main

FLOW = """
name: refund-cli
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}]}}
  - {id: ask, name: Approval, type: approval,
     params: {display: {amount: "<start.amount>"}, approvers: [lead@example.com], subject: "Refund?",
              form: [{name: approved, type: boolean, required: true}, {name: comments, type: string}]}}
  - {id: done, name: Done, type: function,
     params: {code: "return <approval.approved> + ' ' + <approval.comments> + ' ' + <approval.decidedBy>"}}
edges: [start -> ask, ask -> done]
"""
KEY = "swk_test-key-for-the-local-tenant-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_list_and_approve_a_waiting_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    url = f"http://127.0.0.1:{_free_port()}"
    env = {**os.environ, "STEPWEAVE_PUBLIC_URL": url, "STEPWEAVE_API_KEY": KEY,
           "STEPWEAVE_LOCAL_DIR": str(tmp_path / ".stepweave")}
    run = subprocess.Popen([str(Path(sys.executable).with_name("stepweave")), "run", str(flow),
                            "--input", '{"amount": 12}', "--json"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        listed = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.poll() is None:
            code = main(["approvals", "--url", url, "--key", KEY, "--json"])
            out = capsys.readouterr().out
            if code == 0 and json.loads(out)["approvals"]:
                listed = json.loads(out)["approvals"]
                break
            time.sleep(0.2)
        assert listed is not None, run.communicate(timeout=5)
        (approval,) = listed
        assert approval["block"] == "Approval" and approval["display"] == {"amount": 12}
        # a wrong key is refused and decides nothing
        assert main(["approvals", "approve", approval["id"], "--url", url, "--key", "swk_wrong"]) == 1
        assert "error 401" in capsys.readouterr().err
        # a field of the wrong type is refused by the form
        assert main(["approvals", "decide", approval["id"], "--url", url, "--key", KEY,
                     "--set", "approved=maybe"]) == 1
        assert "'approved' must be a boolean" in capsys.readouterr().err
        assert main(["approvals", "approve", approval["id"], "--url", url, "--key", KEY,
                     "--set", "comments=looks fine"]) == 0
        assert "decided Approval" in capsys.readouterr().out
        stdout, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, stderr
    assert json.loads(stdout)["output"]["result"] == "true looks fine api:local/cli"


def test_decide_needs_an_id_and_http_needs_a_key(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEPWEAVE_API_KEY", raising=False)
    assert main(["approvals", "approve"]) == 2
    assert "which approval?" in capsys.readouterr().err
    assert main(["approvals", "--url", "http://127.0.0.1:9"]) == 2
    assert "no API key" in capsys.readouterr().err
    assert main(["approvals", "--url", "http://127.0.0.1:9", "--key", "k"]) == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
