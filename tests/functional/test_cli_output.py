"""What `stepweave run` prints: one JSON document with --json, one line per failure.

GIVEN a workflow whose first function fails into an error edge and whose last one fails
the run WHEN it runs through the CLI (a real subprocess) THEN ``--json`` stdout is exactly
one JSON document (handler logs go to stderr), the live progress shows each failure once as
"block (type)  ErrorClass: message" without Lambda's error payload or stack traces, the
summary names the failing block, and the bill is priced as the workflow's type.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FAILING = """\
version: 1
name: failing
blocks:
  - {id: start, type: start}
  - {id: risky, name: Risky, type: function, params: {code: "throw new Error('boom')"}}
  - {id: handle, name: Handle, type: function, params: {code: "return {handled: <risky.error>}"}}
  - {id: other, name: Other, type: function, params: {code: "throw new TypeError('bad thing')"}}
edges:
  - start -> risky
  - risky -[error]-> handle
  - handle -> other
"""


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("out") / "failing.yaml"
    path.write_text(FAILING)
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "stepweave.cli", "run", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_json_stdout_is_one_document_even_when_blocks_fail(workflow: Path) -> None:
    proc = _run(str(workflow), "--json")
    assert proc.returncode == 1
    result = json.loads(proc.stdout)  # the whole of stdout
    assert result["status"] == "FAILED" and result["workflowType"] == "EXPRESS"


def test_each_failure_is_one_readable_line(workflow: Path) -> None:
    proc = _run(str(workflow))
    lines = proc.stderr.splitlines()
    assert "  ✖ Risky (function)  BlockError: Line 1: `throw new Error('boom')` - boom" in lines
    assert not any(line.startswith("  ✔ Risky") for line in lines)  # no ✔ for a failed block
    assert "  ✔ Handle (function)" in "\n".join(lines)
    assert "stackTrace" not in proc.stderr and "errorMessage" not in proc.stderr
    assert '"level"' not in proc.stderr  # handler logs only with --debug
    summary = [line for line in lines if line.startswith("  error: ")]
    assert summary == ["  error: Stepweave.BlockFailed: Other: Line 1: "
                       "`throw new TypeError('bad thing')` - bad thing"]


def test_the_bill_is_priced_as_the_workflows_type(workflow: Path) -> None:
    proc = _run(str(workflow))
    [bill] = [line for line in proc.stderr.splitlines() if "AWS would bill" in line]
    assert "on Express" in bill and "Standard" not in bill and "1 Express request" in bill


@pytest.mark.parametrize("case", ["S13-error-edge-taken", "S14-error-no-edge-fails-run",
                                  "S19c-retry-function-always-fails", "S28a-response-then-late-failure"])
def test_json_stdout_parses_for_fixtures_whose_blocks_fail(case: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from stepweave.cli import main
    from tests.conftest import sim_cases_dir

    main(["run", str(sim_cases_dir() / f"{case}.export.json"), "--json", "-q"])
    result = json.loads(capsys.readouterr().out)
    assert result["status"] in ("SUCCEEDED", "FAILED")
