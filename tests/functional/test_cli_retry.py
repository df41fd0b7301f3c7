"""``stepweave retry``: a failed Standard run resumes from the block that failed (a redrive on
the embedded engine, from another process's run), the blocks that succeeded are not run
again, and the record shows the retry with every block log once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepweave.cli import main
from tests.loopback import Loopback, Request, loopback


def _workflow(url: str, extra: str = "") -> str:
    return f"""
name: flaky
type: standard
blocks:
  - {{id: start, type: start}}
  - {{id: fetch, name: Fetch, type: api, params: {{url: "{url}/value", method: POST}}}}
  - {{id: use, name: Use, type: api, params: {{url: "{url}/flaky", method: POST, body: "<fetch.data>", retries: 0}}}}
  - {{id: after, name: After, type: function, params: {{code: "return <use.data.v> + 1{extra}"}}}}
  - id: each
    name: Each
    type: parallel
    params: {{parallelType: collection, collection: [1, 2, 3], batchSize: 1}}
  - {{id: item, name: Item, type: api, parent: each, params: {{url: "{url}/item/<parallel.currentItem>", method: POST, retries: 0}}}}
edges: [start -> fetch, fetch -> use, use -> after, after -> each, "each -[parallel-start-source]-> item"]
"""


class Server:
    """/value answers; /flaky and /item/2 fail (503) the first time and answer after."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.failing = {"/flaky", "/item/2"}

    def __call__(self, request: Request) -> tuple[int, bytes, float]:
        self.hits[request.path] += 1
        if request.path in self.failing:
            self.failing.discard(request.path)
            return 503, b'{"down": true}', 0.0
        return 200, json.dumps({"v": 7, "path": request.path}).encode(), 0.0


@pytest.fixture()
def server() -> Iterator[tuple[Server, Loopback]]:
    answers = Server()
    with loopback(answers) as running:
        yield answers, running


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, Loopback]) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEPWEAVE_LOCAL_DIR", raising=False)
    monkeypatch.delenv("STEPWEAVE_TABLE", raising=False)
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "flaky.yaml").write_text(_workflow(server[1].url))
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> dict[str, object]:
    assert main(argv) == code
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


def test_a_failed_run_resumes_from_the_failed_block(workdir: Path, server: tuple[Server, Loopback],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    hits = server[0].hits
    first = _json(capsys, ["run", "workflows/flaky.yaml", "-q", "--json"], 1)
    assert first["status"] == "FAILED" and hits == Counter({"/value": 1, "/flaky": 1})
    arn = str(first["execution"])
    name = arn.rsplit(":", 1)[-1]
    # the api block after the fix fails again, in the parallel's 2nd branch: a second retry
    second = _json(capsys, ["retry", name, "-q", "--json"], 1)
    assert second["execution"] == arn and second["redriveCount"] == 1 and second["status"] == "FAILED"
    # one branch at a time: the 3rd never started
    assert hits == Counter({"/value": 1, "/flaky": 2, "/item/1": 1, "/item/2": 1})
    third = _json(capsys, ["retry", name, "-q", "--json"], 0)
    assert third["execution"] == arn and third["redriveCount"] == 2 and third["status"] == "SUCCEEDED"
    # Fetch ran once overall; Use and After were not run again; of the branches, the 1st not again
    assert hits == Counter({"/value": 1, "/flaky": 2, "/item/1": 1, "/item/2": 2, "/item/3": 1})
    shown = _json(capsys, ["execution", name, "--json"], 0)
    record = shown["execution"]
    assert record["status"] == "succeeded" and record["redriveCount"] == 2  # type: ignore[index]
    logs = [(b["name"], b["success"], b.get("branch")) for b in shown["blocks"]]  # type: ignore[attr-defined]
    assert sorted(logs, key=str) == sorted([
        ("start", True, None), ("Fetch", True, None), ("Use", False, None), ("Use", True, None),
        ("After", True, None), ("Item", True, 0), ("Item", False, 1), ("Item", True, 1), ("Item", True, 2),
        ("Each", False, None), ("Each", True, None)], key=str)
    assert [b["seq"] for b in shown["blocks"]] == list(range(1, len(logs) + 1))  # type: ignore[attr-defined]


def test_progress_shows_only_what_runs_again(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "workflows/flaky.yaml"]) == 1
    name = capsys.readouterr().err.rsplit("stepweave execution ", 1)[-1].strip()
    assert main(["retry", name]) == 1  # the parallel's 2nd branch fails this time
    err = capsys.readouterr().err
    assert f"retry of {name} (flaky) from where it stopped" in err
    assert "✔ Use (api)" in err and "▶ Fetch" not in err and "✔ start" not in err


def test_what_cannot_be_retried_is_said_clearly(workdir: Path, server: tuple[Server, Loopback],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["retry", "run-nope"]) == 2
    assert "no recorded execution matches 'run-nope'" in capsys.readouterr().err
    first = _json(capsys, ["run", "workflows/flaky.yaml", "-q", "--json"], 1)
    name = str(first["execution"]).rsplit(":", 1)[-1]
    # the workflow changed since the run: AWS would redrive the old definition, which is gone here
    (workdir / "workflows" / "flaky.yaml").write_text(_workflow(server[1].url, extra=" + 1"))
    assert main(["retry", name]) == 2
    err = capsys.readouterr().err
    assert f"workflow 'flaky' changed since this run" in err and "stepweave rerun" in err
    assert "Traceback" not in err
    (workdir / "workflows" / "flaky.yaml").write_text(_workflow(server[1].url))
    # stopped more than 14 days ago (AWS's limit)
    (kept,) = (workdir / ".stepweave" / "redrive").glob("*.json")
    saved = json.loads(kept.read_text())
    stopped = saved["stopDate"]
    saved["stopDate"] = "2020-01-01T00:00:00+00:00"
    kept.write_text(json.dumps(saved))
    assert main(["retry", name]) == 2
    assert f"{name} stopped more than 14 days ago" in capsys.readouterr().err
    kept.write_text(json.dumps({**saved, "stopDate": stopped}))
    server[0].failing.clear()
    assert _json(capsys, ["retry", name, "-q", "--json"], 0)["status"] == "SUCCEEDED"
    assert main(["retry", name]) == 2
    assert f"cannot retry {name}: it succeeded" in capsys.readouterr().err
    # an Express run
    (workdir / "workflows" / "quick.yaml").write_text(
        "name: quick\nblocks:\n  - {id: start, type: start}\n"
        "  - {id: boom, type: function, params: {code: \"throw new Error('no')\"}}\nedges: [start -> boom]\n")
    quick = _json(capsys, ["run", "workflows/quick.yaml", "-q", "--json"], 1)
    assert quick["workflowType"] == "EXPRESS"
    assert main(["retry", str(quick["execution"]).rsplit(":", 1)[-1]]) == 2
    assert "an Express workflow's run cannot be redriven" in capsys.readouterr().err


def test_retry_and_watch_with_aws_call_step_functions(workdir: Path, server: tuple[Server, Loopback],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--aws: RedriveExecution, DescribeExecution and GetExecutionHistory through boto3, here
    answered by the embedded engine's Step Functions (moto, with its redrive)."""
    from stepweave.cli.run import _load
    from stepweave.local.engine import LocalEngine

    hits = server[0].hits
    with LocalEngine() as engine:
        result = engine.run(_load("workflows/flaky.yaml"), {})
        assert result.status == "FAILED"
        arn = result.execution_arn
        aws = ["--aws", "--region", "us-east-1"]
        retried = _json(capsys, ["retry", arn, *aws, "--json"], 0)
        assert retried["execution"] == arn and retried["redriveCount"] == 1
        # the parallel's 2nd branch fails this time: watch shows this attempt and exits 1
        assert main(["watch", arn, *aws, "--poll", "0.05"]) == 1
        err = capsys.readouterr().err
        assert "watching " + arn.rsplit(":", 1)[-1] + " (flaky)" in err
        assert "✔ Use (api)" in err and "▶ Fetch" not in err and "✖ Item (parallel" not in err
        assert "✖ FAILED" in err and "retried 1 time" in err
        assert _json(capsys, ["retry", arn, *aws, "--json"], 0)["redriveCount"] == 2
        done = _json(capsys, ["watch", arn, *aws, "--json", "--poll", "0.05"], 0)
        assert done["status"] == "SUCCEEDED" and done["redriveCount"] == 2
        assert main(["retry", arn, *aws]) == 2
        assert "Execution is SUCCEEDED and cannot be redriven" in capsys.readouterr().err
    assert hits["/value"] == 1 and hits["/item/1"] == 1


def test_a_split_run_resumes_inside_its_stretch_from_another_process(
        workdir: Path, server: tuple[Server, Loopback], capsys: pytest.CaptureFixture[str]) -> None:
    """An approval splits the workflow (a Standard parent, Express stretches): the stretch
    after it fails at /flaky; `stepweave retry` (a new engine: the run, its journal and its
    stretch's checkpoint put back from disk) resumes that stretch at the failed block, so
    /value is not called again, nor the approval asked again."""
    url = server[1].url
    (workdir / "workflows" / "approved.yaml").write_text(f"""
name: approved
blocks:
  - {{id: start, type: start}}
  - {{id: ask, name: Ask, type: approval, params: {{form: [{{name: ok, type: boolean, required: true}}]}}}}
  - {{id: fetch, name: Fetch, type: api, params: {{url: "{url}/value", method: POST, timeout: 5000}}}}
  - {{id: use, name: Use, type: api, params: {{url: "{url}/flaky", method: POST, body: "<fetch.data>", retries: 0,
                                              timeout: 5000}}}}
  - {{id: after, name: After, type: function, params: {{code: "return <use.data.v> + 1"}}}}
edges: [start -> ask, ask -> fetch, fetch -> use, use -> after]
""")
    # api blocks that may not run past Express's 5 minutes: they move into a stretch
    assert main(["compile", "workflows/approved.yaml", "-o", "approved.json"]) == 0
    assert (workdir / "approved.express-1.json").is_file()
    hits = server[0].hits
    first = _json(capsys, ["run", "workflows/approved.yaml", "--approve", "Ask={\"ok\": true}", "-q", "--json"], 1)
    assert first["status"] == "FAILED" and hits == Counter({"/value": 1, "/flaky": 1})
    name = str(first["execution"]).rsplit(":", 1)[-1]
    # another process: nothing of the first one's engine (its moto S3 included) is left
    proc = subprocess.run([str(Path(sys.executable).with_name("stepweave")), "retry", name, "-q", "--json"],
                          cwd=workdir, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = json.loads(proc.stdout)
    assert again["status"] == "SUCCEEDED" and again["output"]["result"] == 8
    assert hits == Counter({"/value": 1, "/flaky": 2})
    shown = _json(capsys, ["execution", name, "--json"], 0)
    logs = [(b["name"], b["success"]) for b in shown["blocks"]]  # type: ignore[attr-defined]
    assert sorted(logs, key=str) == sorted([("start", True), ("Ask", True), ("Fetch", True), ("Use", False),
                                            ("Use", True), ("After", True)], key=str)
