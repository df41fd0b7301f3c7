"""``stepweave watch`` of a split run (``split: auto``): the blocks of its Express stretches
show as the run's own, in place of the stretch, as ``stepweave run`` shows them, not as a
nested run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from stepweave.cli import main
from stepweave.cli.serve import load_folder
from stepweave.local.api import LocalApi
from stepweave.local.engine import LocalEngine
from stepweave.local.gateway import Gateway
from tests.loopback import Request, loopback

CHILD = """
name: child
type: standard
blocks:
  - {id: start, type: start}
  - {id: inner, name: Inner, type: function, params: {code: "return 'inner'"}}
edges: [start -> inner]
"""


def _parent(url: str) -> str:
    return f"""
name: parent
type: standard
split: auto
blocks:
  - {{id: start, type: start}}
  - {{id: prep, name: Prep, type: function, params: {{code: "return 1"}}}}
  - {{id: call, name: Call, type: api, params: {{url: "{url}/slow", method: POST, retries: 0, timeout: 20000}}}}
  - {{id: more, name: More, type: function, params: {{code: "return 2"}}}}
  - {{id: child, name: Child, type: workflow, params: {{workflow: child, input: '{{}}'}}}}
edges: [start -> prep, prep -> call, call -> more, more -> child]
"""


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEPWEAVE_LOCAL_DIR", raising=False)
    monkeypatch.delenv("STEPWEAVE_TABLE", raising=False)
    (tmp_path / "workflows").mkdir()
    return tmp_path


def test_watch_shows_a_split_runs_stretch_blocks_as_its_own(workdir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    release = threading.Event()

    def respond(request: Request) -> tuple[int, bytes, float]:
        release.wait(30)  # the call in the stretch waits until the watch has shown it started
        return 200, b'{"ok": true}', 0.0

    with loopback(respond) as server:
        (workdir / "workflows" / "parent.yaml").write_text(_parent(server.url))
        (workdir / "workflows" / "child.yaml").write_text(CHILD)
        workflows = load_folder(workdir / "workflows")
        assert workflows["parent"].stretches, "the parent must split for this test"
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
            while "▶ Call (api)" not in seen and time.monotonic() < deadline:
                seen += capsys.readouterr().err
                time.sleep(0.02)
            release.set()
            watcher.join(30)
            seen += capsys.readouterr().err
            local.executions.wait_recorded()
    assert codes == [0]
    lines = [line for line in seen.splitlines() if not line.startswith("{")]
    assert "  ▶ Call (api)" in lines, lines
    for block in ("Prep (function)", "Call (api)", "More (function)", "Child (workflow)"):
        assert any(line.startswith(f"  ✔ {block}") for line in lines), (block, lines)
    assert "    ↳ child:   ▶ Inner (function)" in lines  # a sub-workflow's run stays nested
    assert not any("express" in line for line in lines), lines
    assert any(line.startswith("✔ SUCCEEDED in ") for line in lines)
