"""Local records shared by several ``stepweave`` processes: runs recorded at the same time
are all kept, a long-lived ``stepweave serve`` sees keys changed by other processes and
never undoes them, a run with an approval reads back, a run stopped with SIGTERM while it
waits is recorded ``aborted``, and the records and the outbox are private to their owner."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from stepweave.cli import main

STEPWEAVE = str(Path(sys.executable).with_name("stepweave"))
QUICK = """
name: quick
blocks:
  - {id: start, type: start}
  - {id: done, name: Done, type: response, params: {data: {ok: true}}}
edges: [start -> done]
"""
APPROVAL = """
name: refund
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}]}}
  - {id: ask, name: Approval, type: approval,
     params: {display: {amount: "<start.amount>"}, approvers: [lead@example.com], subject: "Refund?",
              form: [{name: approved, type: boolean, required: true}]}}
  - {id: done, name: Done, type: response, params: {data: {approved: "<approval.approved>"}}}
edges: [start -> ask, ask -> done]
"""
#: Runs ``stepweave run quick.yaml`` N times in one process (argv: N).
RUNS = """
import sys
from stepweave.cli import main
for _ in range(int(sys.argv[1])):
    assert main(["run", "quick.yaml", "-q", "--json"]) == 0
"""
KEY = "swk_serve-key-of-the-local-tenant-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEPWEAVE_LOCAL_DIR", raising=False)  # .stepweave here, for every process
    monkeypatch.delenv("STEPWEAVE_TABLE", raising=False)
    monkeypatch.delenv("STEPWEAVE_OUTBOX_DIR", raising=False)
    monkeypatch.delenv("STEPWEAVE_APPROVAL_SENDER", raising=False)
    monkeypatch.setenv("STEPWEAVE_PUBLIC_URL", f"http://127.0.0.1:{_free_port()}")
    (tmp_path / "quick.yaml").write_text(QUICK)
    (tmp_path / "refund.yaml").write_text(APPROVAL)
    return tmp_path


def _cli(workdir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STEPWEAVE, *argv], cwd=workdir, capture_output=True, text=True, timeout=120,
                          check=False)


def _listed(workdir: Path) -> list[dict[str, Any]]:
    done = _cli(workdir, "executions", "--json", "--limit", "1000")
    assert done.returncode == 0, done.stderr
    items: list[dict[str, Any]] = json.loads(done.stdout)["items"]
    return items


def test_runs_recorded_by_two_processes_at_once_are_all_kept(workdir: Path) -> None:
    runners = [subprocess.Popen([sys.executable, "-c", RUNS, "4"], cwd=workdir, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    for runner in runners:
        _, err = runner.communicate(timeout=300)
        assert runner.returncode == 0, err
    listed = _listed(workdir)
    assert len(listed) == 8 and {r["status"] for r in listed} == {"succeeded"}
    assert len({r["executionArn"] for r in listed}) == 8


def _request(url: str, key: str, method: str = "GET", body: Any = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except urllib.error.URLError:  # not listening (yet)
        return 0


def test_serve_sees_keys_other_processes_change_and_keeps_their_runs(workdir: Path) -> None:
    port = _free_port()
    (workdir / "flows").mkdir()
    (workdir / "flows" / "quick.yaml").write_text(QUICK)
    env = {**os.environ, "STEPWEAVE_API_KEY": KEY}
    serve = subprocess.Popen([STEPWEAVE, "serve", "--workflows", "flows", "--port", str(port)], cwd=workdir,
                             env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _request(f"{base}/v1/executions", KEY) != 200:
            assert serve.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        created = _cli(workdir, "keys", "create", "--tenant", "local", "--name", "ci")
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        assert _request(f"{base}/v1/executions", key) == 200  # made by another process
        ran = _cli(workdir, "run", "quick.yaml", "-q", "--json")  # recorded by another process
        assert ran.returncode == 0, ran.stderr
        assert _cli(workdir, "keys", "disable", key).returncode == 0
        assert _request(f"{base}/v1/executions", key) == 403
        # serve writes: a run through the run API is recorded by it
        assert _request(f"{base}/v1/workflows/quick/run", KEY, "POST", {}) == 200
        assert _request(f"{base}/v1/executions", key) == 403  # still disabled
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.communicate()
    listed = _listed(workdir)
    assert len(listed) == 2 and {r["executionArn"] for r in listed} >= {json.loads(ran.stdout)["execution"]}
    again = _cli(workdir, "keys", "disable", key)  # the key is still there, still disabled
    assert again.returncode == 0, again.stderr


def test_a_run_with_an_approval_reads_back(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "refund.yaml", "--input", '{"amount": 5}', "--json", "-q",
                 "--approve", 'Approval={"approved": true}']) == 0
    name = str(json.loads(capsys.readouterr().out)["execution"]).rsplit(":", 1)[-1]
    assert main(["executions"]) == 0
    assert name in capsys.readouterr().out
    assert main(["execution", name]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"{name}  refund  succeeded") and "Approval" in shown
    assert main(["execution", name, "--json"]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in detail["blocks"]] == ["start", "Approval", "Done"]
    assert detail["waitingFor"] == []


#: the refund with three blocks before its approval: they run in an Express stretch
SPLIT_APPROVAL = APPROVAL.replace(
    "  - {id: ask,", "".join(f"  - {{id: p{i}, name: P{i}, type: function, params: {{code: 'return {i}'}}}}\n"
                             for i in (1, 2, 3)) + "  - {id: ask,", 1).replace(
    "edges: [start -> ask,", "edges: [start -> p1, p1 -> p2, p2 -> p3, p3 -> ask,")


@pytest.mark.parametrize("text", [APPROVAL, SPLIT_APPROVAL], ids=["one-machine", "split"])
def test_a_waiting_run_stopped_with_sigterm_is_recorded_aborted(workdir: Path, text: str) -> None:
    """Split, the run's Express stretch is part of the run: one record, not one per execution."""
    (workdir / "refund.yaml").write_text(text)
    run = subprocess.Popen([STEPWEAVE, "run", "refund.yaml", "--input", '{"amount": 5}'], cwd=workdir,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        assert run.stderr is not None
        for line in run.stderr:
            if "is waiting" in line:
                break
            assert time.monotonic() < deadline
        time.sleep(0.5)  # the approval's page and listings are written
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 143, err
    (record,) = _listed(workdir)
    assert record["workflow"] == "refund" and record["status"] == "aborted"
    shown = _cli(workdir, "execution", record["name"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["waitingFor"] == []  # its approval no longer waits


def test_records_and_the_outbox_are_private(workdir: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    notify = ("notify: [{tool: slack, params: {text: 'waits: <approval.url>'}}, {tool: email, params: "
              "{to: lead@example.com, subject: Refund, body: 'waits: <approval.url>'}}],")
    (workdir / "notified.yaml").write_text(APPROVAL.replace("approvers:", f"{notify} approvers:"))
    assert main(["run", "notified.yaml", "--input", '{"amount": 5}', "--json", "-q",
                 "--approve", 'Approval={"approved": true}']) == 0
    capsys.readouterr()
    local = workdir / ".stepweave"
    folders = [local, local / "outbox", local / "outbox" / "slack", local / "outbox" / "email", local / "live"]
    files = [p for p in local.rglob("*") if p.is_file()]
    assert {p.relative_to(local).parts[:-1] for p in files} == {(), ("outbox",), ("outbox", "slack"),
                                                                ("outbox", "email"), ("live",)}
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file
