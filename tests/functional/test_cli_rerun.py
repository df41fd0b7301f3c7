"""``stepweave rerun``: a recorded execution's workflow run again with its input (or an
edited one); the new record says what it reruns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepweave.cli import main
from stepweave.cli.rerun import state_machine_of

WORKFLOW = """
name: doubler
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: double, name: Double, type: function, params: {code: "return <start.n> * 2"}}
edges: [start -> double]
"""


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEPWEAVE_LOCAL_DIR", raising=False)
    monkeypatch.delenv("STEPWEAVE_TABLE", raising=False)
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "doubler.yaml").write_text(WORKFLOW)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> dict[str, object]:
    assert main(argv) == code
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


def test_a_rerun_runs_the_same_input_again_and_says_so(workdir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    first = _run(capsys, ["run", "workflows/doubler.yaml", "--input", '{"n": 21}', "-q", "--json"])
    name = str(first["execution"]).rsplit(":", 1)[-1]
    again = _run(capsys, ["rerun", name, "-q", "--json"])
    assert again["status"] == "SUCCEEDED" and again["output"] == first["output"] == \
        {"result": 42, "stdout": ""}
    assert again["execution"] != first["execution"]
    edited = _run(capsys, ["rerun", name, "--input", '{"n": 5}', "-q", "--json"])
    assert edited["output"] == {"result": 10, "stdout": ""}
    shown = _run(capsys, ["execution", str(again["execution"]), "--json"])
    record = shown["execution"]
    assert record["trigger"] == {"type": "rerun", "of": first["execution"]}  # type: ignore[index]
    assert json.loads(record["input"])["n"] == 21  # type: ignore[index]
    # a rerun of a rerun still names the first run's trigger chain, not a nesting of reruns
    third = _run(capsys, ["rerun", str(again["execution"]), "-q", "--json"])
    shown = _run(capsys, ["execution", str(third["execution"]), "--json"])
    assert shown["execution"]["trigger"] == {"type": "rerun", "of": again["execution"]}  # type: ignore[index]


def test_what_cannot_be_rerun_is_said_clearly(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rerun", "run-nope"]) == 2
    assert "no recorded execution matches 'run-nope' (see stepweave executions)" in capsys.readouterr().err
    first = _run(capsys, ["run", "workflows/doubler.yaml", "--input", '{"n": 1}', "-q", "--json"])
    (workdir / "workflows" / "doubler.yaml").rename(workdir / "elsewhere.yaml")
    assert main(["rerun", str(first["execution"])]) == 2
    assert "no workflow named 'doubler' in workflows/ (pass --workflows DIR)" in capsys.readouterr().err
    assert main(["rerun", str(first["execution"]), "--input", "[1, 2]", "--workflows", "."]) == 2
    assert "--input: the run input must be a JSON object" in capsys.readouterr().err


def test_the_state_machine_of_an_execution() -> None:
    assert state_machine_of("arn:aws:states:eu-west-1:123456789012:execution:prod-orders:run-1") == \
        "arn:aws:states:eu-west-1:123456789012:stateMachine:prod-orders"
    assert state_machine_of("arn:aws:states:eu-west-1:123456789012:express:prod-orders:run-1:abc") == \
        "arn:aws:states:eu-west-1:123456789012:stateMachine:prod-orders"
