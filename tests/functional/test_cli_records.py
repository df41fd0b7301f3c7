"""``stepweave executions`` / ``stepweave execution``: records kept by ``stepweave run``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stepweave.cli import main

ROOT = Path(__file__).resolve().parents[2]
FAILING = """
name: failing
blocks:
  - {id: start, type: start}
  - {id: risky, name: Risky, type: function, params: {code: "throw new Error('boom')"}}
edges: [start -> risky]
"""


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


def test_runs_are_recorded_and_listed_with_their_block_logs(workdir: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    ran = _json(capsys, ["run", str(ROOT / "workflows/containers-showcase.yaml"), "-q", "--json"])
    (workdir / "failing.yaml").write_text(FAILING)
    assert main(["run", "failing.yaml", "-q", "--json"]) == 1
    capsys.readouterr()
    assert (workdir / ".stepweave" / "records.db").is_file()

    assert main(["executions"]) == 0
    listing = capsys.readouterr().out
    assert listing.splitlines()[0].split() == ["NAME", "WORKFLOW", "STATUS", "STARTED", "(UTC)", "DURATION"]
    assert "failing" in listing.splitlines()[1] and "containers-showcase" in listing.splitlines()[2]

    page = _json(capsys, ["executions", "--limit", "1", "--json"])
    assert len(page["items"]) == 1 and page["cursor"]  # type: ignore[arg-type]
    rest = _json(capsys, ["executions", "--limit", "1", "--cursor", str(page["cursor"]), "--json"])
    assert rest["items"][0]["executionArn"] == ran["execution"] and rest["cursor"] is None  # type: ignore[index]
    failed = _json(capsys, ["executions", "--workflow", "failing", "--status", "FAILED", "--json"])
    assert [i["status"] for i in failed["items"]] == ["failed"]  # type: ignore[attr-defined]

    name = str(ran["execution"]).rsplit(":", 1)[-1]
    assert main(["execution", name]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"{name}  containers-showcase  succeeded")
    assert "trigger: local" in shown
    # the bill in the words of `stepweave run` (an Express run: its request and duration)
    assert ("AWS would bill: 1 Express request, " in shown
            and f", {ran['lambdaInvocations']} Lambda invocations\n" in shown), shown
    assert any(line.split()[:2] == ["Line", "total"] and "Price lines #3" in line for line in shown.splitlines())
    assert any("Schedule reminder" in line and "Follow-ups #2" in line for line in shown.splitlines())

    failing_arn = failed["items"][0]["executionArn"]  # type: ignore[index]
    detail = _json(capsys, ["execution", str(failing_arn)[-20:], "--json"])
    assert detail["execution"]["error"] == "Stepweave.BlockFailed"  # type: ignore[index]
    assert [(b["name"], b["success"]) for b in detail["blocks"]] == [("start", True), ("Risky", False)]  # type: ignore[attr-defined]


def test_unknown_execution_and_bad_options(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["executions"]) == 0
    assert "no executions recorded" in capsys.readouterr().out
    assert main(["execution", "run-nope"]) == 1
    assert "no execution matches" in capsys.readouterr().err
    assert main(["executions", "--status", "done"]) == 2
    assert main(["executions", "--cursor", "garbage"]) == 2
    assert "--cursor" in capsys.readouterr().err
    (workdir / ".stepweave" / "records.db").rename(workdir / "kept.db")
    (workdir / ".stepweave" / "records.json").write_text("{not json")  # an older version's, imported
    assert main(["executions"]) == 2
    assert "records.json is not a records file" in capsys.readouterr().err
    (workdir / ".stepweave" / "records.json").unlink()
    (workdir / ".stepweave" / "records.db").write_text("not a database")
    assert main(["executions"]) == 2
    assert "records.db is not a records database" in capsys.readouterr().err


def test_aws_without_a_table_is_a_clear_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["executions", "--aws"]) == 2
    assert "STEPWEAVE_TABLE" in capsys.readouterr().err
    assert main(["execution", "run-1", "--aws"]) == 2
    assert "--table" in capsys.readouterr().err
