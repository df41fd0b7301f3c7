"""A ``stepweave run`` waiting on an approval, as a user meets it: it sleeps instead of
spinning, serves its decision page on a free port and prints that port's link, writes its
address down so ``stepweave approvals`` finds it without options, and removes it on exit."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stepweave.cli import main

FLOW = """
name: refund-wait
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}]}}
  - {id: ask, name: Approval, type: approval,
     params: {display: {amount: "<start.amount>"}, approvers: [lead@example.com], subject: "Refund?",
              form: [{name: approved, type: boolean, required: true}, {name: comments, type: string}]}}
  - {id: done, name: Done, type: function,
     params: {code: "return <approval.approved> + ' ' + <approval.comments>"}}
edges: [start -> ask, ask -> done]
"""
STEPWEAVE = str(Path(sys.executable).with_name("stepweave"))
#: A waiting process may use at most this share of one core.
MAX_IDLE_CPU = 0.10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid: int, seconds: float = 3.0) -> float:
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


def servers_of(local_dir: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((local_dir / "servers").glob("*.json"))]


def wait_until(condition: object, what: str, timeout_s: float = 60.0, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended before {what}: {process.communicate()}")
        time.sleep(0.1)
    pytest.fail(f"no {what} within {timeout_s} s")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    local_dir = tmp_path / ".stepweave"
    env = {**os.environ, "STEPWEAVE_LOCAL_DIR": str(local_dir)}
    for name in ("STEPWEAVE_API_KEY", "STEPWEAVE_PUBLIC_URL"):
        env.pop(name, None)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STEPWEAVE_LOCAL_DIR", str(local_dir))
    yield {"flow": flow, "local_dir": local_dir, "env": env, "cwd": tmp_path}


def start_run(world: dict[str, object], public_url: str) -> subprocess.Popen[str]:
    env = {**world["env"], "STEPWEAVE_PUBLIC_URL": public_url}  # type: ignore[dict-item]
    return subprocess.Popen([STEPWEAVE, "run", str(world["flow"]), "--input", '{"amount": 12}', "--json"],
                            cwd=str(world["cwd"]), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_a_waiting_run_sleeps_and_approvals_finds_it(world: dict[str, object],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a run waiting on its approval
    local_dir = world["local_dir"]
    assert isinstance(local_dir, Path)
    run = start_run(world, f"http://127.0.0.1:{free_port()}")
    try:
        wait_until(lambda: servers_of(local_dir), "address written down", process=run)
        # WHEN it waits, THEN it uses (almost) no CPU
        share = cpu_share(run.pid)
        assert share < MAX_IDLE_CPU, f"the waiting run used {share:.0%} of a core"
        # WHEN `stepweave approvals` runs without options, THEN it finds the run by itself
        assert main(["approvals", "--json"]) == 0
        (approval,) = json.loads(capsys.readouterr().out)["approvals"]
        assert approval["block"] == "Approval" and approval["display"] == {"amount": 12}
        assert main(["approvals", "approve", approval["id"], "--set", "comments=ok"]) == 0
        assert "decided Approval" in capsys.readouterr().out
        stdout, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, stderr
    assert json.loads(stdout)["output"]["result"] == "true ok"
    # THEN the address is removed with the run, and approvals says there is nothing to ask
    assert servers_of(local_dir) == []
    assert main(["approvals"]) == 2
    assert "no API key" in capsys.readouterr().err


def test_a_taken_port_moves_the_page_and_its_links(world: dict[str, object]) -> None:
    # GIVEN another process listens on the configured port
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        run = start_run(world, f"http://127.0.0.1:{taken}")
        try:
            local_dir = world["local_dir"]
            assert isinstance(local_dir, Path)
            wait_until(lambda: servers_of(local_dir), "address written down", process=run)
            (server,) = servers_of(local_dir)
            # THEN the run serves on another port, and the links name it
            assert server["url"] != f"http://127.0.0.1:{taken}"
            emails = list((local_dir / "outbox").glob("*.eml"))
            assert emails and f"{server['url']}/approvals/" in emails[0].read_text().replace("=\n", "")
            run.terminate()
            _, stderr = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
    link = re.search(r"link:\s+(\S+)", stderr)
    assert link is not None and link.group(1).startswith(f"{server['url']}/approvals/"), stderr
    assert f"port {taken} is taken" in stderr
    assert "cannot serve" not in stderr


def test_a_page_that_cannot_be_served_fails_before_the_run(world: dict[str, object]) -> None:
    # GIVEN a public URL elsewhere (a tunnel to a fixed local port), and that port taken here
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        run = start_run(world, f"https://approvals.example.com:{taken}")
        # THEN the run does not start and says why
        stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 2, stderr
    assert f"cannot serve the decision page on 127.0.0.1 (port {taken}" in stderr
    assert "Approval" not in stderr  # no block ran


def test_a_page_served_while_waiting_answers_over_http(world: dict[str, object]) -> None:
    run = start_run(world, f"http://127.0.0.1:{free_port()}")
    try:
        local_dir = world["local_dir"]
        assert isinstance(local_dir, Path)
        wait_until(lambda: servers_of(local_dir), "address written down", process=run)
        (server,) = servers_of(local_dir)
        listed = httpx.get(f"{server['url']}/v1/approvals", headers={"x-api-key": str(server["key"])})
        assert listed.status_code == 200 and len(listed.json()["approvals"]) == 1
        page = httpx.get(f"{server['url']}/approvals/{listed.json()['approvals'][0]['id']}")
        assert page.status_code == 200 and "Refund?" in page.text
    finally:
        run.kill()
        run.communicate(timeout=30)
