"""``stepweave watch``: a local run's progress (its sub-workflow's run indented under it) while
it runs in another engine (here: ``stepweave serve``'s run API), and a finished run's outcome,
with ``stepweave run``'s exit codes; ``--json`` is one JSON document."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from stepweave.cli import main
from stepweave.cli.serve import load_folder
from stepweave.local.api import LocalApi
from stepweave.local.engine import LocalEngine
from stepweave.local.gateway import Gateway
from tests.loopback import Request, loopback

PARENT = """
name: parent
type: standard
blocks:
  - {id: start, type: start}
  - {id: child, name: Child, type: workflow, params: {workflow: child, input: '{}'}}
  - {id: done, name: Done, type: function, params: {code: "return 'done'"}}
edges: [start -> child, child -> done]
"""


def _child(url: str) -> str:
    return f"""
name: child
type: standard
blocks:
  - {{id: start, type: start}}
  - {{id: call, name: Call, type: api, params: {{url: "{url}/slow", method: POST, retries: 0}}}}
edges: [start -> call]
"""


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEPWEAVE_LOCAL_DIR", raising=False)
    monkeypatch.delenv("STEPWEAVE_TABLE", raising=False)
    (tmp_path / "workflows").mkdir()
    return tmp_path


def watch_while_held(workdir: Path, capsys: pytest.CaptureFixture[str], files: Callable[[str], dict[str, str]],
                     shown: str) -> tuple[str, list[int], str, dict[str, Any]]:
    """Start workflow ``parent`` (``files``: the workflow files, given the URL of a server
    whose answer is held back) through ``stepweave serve``'s run API and ``stepweave watch``
    it from this process until its output has ``shown``; then let the answer go and wait for
    the end: (the run's ARN, watch's exit codes, what it printed, the compiled workflows)."""
    release = threading.Event()

    def respond(request: Request) -> tuple[int, bytes, float]:
        release.wait(30)  # the call waits until the watch has shown it started
        return 200, b'{"ok": true}', 0.0

    with loopback(respond) as server:
        for name, text in files(server.url).items():
            (workdir / "workflows" / f"{name}.yaml").write_text(text)
        workflows = load_folder(workdir / "workflows")
        with LocalEngine(records_file=workdir / ".stepweave" / "records.db") as engine, \
                LocalApi(engine, workflows, poll_s=0.02) as local, Gateway(local.routes, port=0) as gateway:
            key = local.api_key(tenant="acme")
            started = httpx.post(f"{gateway.url}/v1/workflows/parent/executions", json={"input": {}},
                                 headers={"Authorization": f"Bearer {key}"}, timeout=30)
            assert started.status_code == 202, started.text
            arn = started.json()["executionId"]
            codes: list[int] = []
            watcher = threading.Thread(target=lambda: codes.append(main(["watch", arn, "--poll", "0.05"])))
            watcher.start()
            seen = ""
            deadline = time.monotonic() + 30
            while shown not in seen and time.monotonic() < deadline:
                seen += capsys.readouterr().err
                time.sleep(0.02)
            release.set()
            watcher.join(30)
            seen += capsys.readouterr().err
            local.executions.wait_recorded()
    return str(arn), codes, seen, workflows


def test_watch_follows_a_running_run_and_its_sub_workflow(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arn, codes, seen, _ = watch_while_held(workdir, capsys, lambda url: {"parent": PARENT, "child": _child(url)},
                                        "↳ child:   ▶ Call (api)")
    assert codes == [0]
    lines = [line for line in seen.splitlines() if not line.startswith("{")]
    assert "watching " + arn.rsplit(":", 1)[-1] + " (parent)" in lines
    assert "  ▶ Child (workflow)" in lines and "    ↳ child:   ▶ Call (api)" in lines
    assert any(line.startswith("    ↳ child:   ✔ Call (api)") for line in lines)
    assert any(line.startswith("  ✔ Done (function)") for line in lines)
    assert any(line.startswith("✔ SUCCEEDED in ") for line in lines)
    # once ended, the same again (from the live file a while, then from the record)
    assert main(["watch", arn, "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["status"] == "SUCCEEDED" and done["output"] == {"result": "done", "stdout": ""}


def test_watch_of_a_finished_run_exits_as_run_did(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "workflows" / "broken.yaml").write_text(
        "name: broken\nblocks:\n  - {id: start, type: start}\n"
        "  - {id: risky, name: Risky, type: function, params: {code: \"throw new Error('boom')\"}}\n"
        "edges: [start -> risky]\n")
    assert main(["run", "workflows/broken.yaml", "-q"]) == 1
    name = capsys.readouterr().err.rsplit("stepweave execution ", 1)[-1].strip()
    assert main(["watch", name]) == 1
    err = capsys.readouterr().err
    assert "  ✖ Risky (function)  " in err and "boom" in err and "✖ FAILED" in err
    # a while later its live history is gone: the record tells the same
    for kept in (workdir / ".stepweave" / "live").iterdir():
        kept.unlink()
    assert main(["watch", name]) == 1
    err = capsys.readouterr().err
    assert "  ✖ Risky (function)  " in err and "boom" in err and "✖ FAILED" in err
    assert main(["watch", name, "--json"]) == 1
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["status"] == "FAILED" and document["error"] == "Stepweave.BlockFailed"
    assert main(["watch", "run-nope"]) == 2
    assert "no execution matches 'run-nope'" in capsys.readouterr().err
