"""`cdk synth` through the CDK CLI from npm works from the repository (cdk.json's app)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stepweave.workflow.loader import workflow_files

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


@pytest.mark.skipif(not CDK.exists(), reason="the CDK CLI is installed by `make node_modules/.bin/cdk`")
def test_cdk_cli_synthesizes_both_stacks(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1"}
    proc = subprocess.run([str(CDK), "synth", "--quiet", "--output", str(tmp_path / "out"),
                           "--no-notices"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    stacks = {name for name, art in manifest["artifacts"].items()
              if art["type"] == "aws:cloudformation:stack"}
    assert stacks == {"stepweave-dev-data", "stepweave-dev-engine"}
    engine = json.loads((tmp_path / "out" / "stepweave-dev-engine.template.json").read_text())
    machines = [r for r in engine["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    # one per workflow, and one per Express stretch of a split workflow (named after it)
    parents = [m for m in machines if "-express-" not in json.dumps(m["Properties"].get("StateMachineName", ""))]
    assert len(parents) == len(workflow_files(ROOT / "workflows"))


@pytest.mark.skipif(not CDK.exists() or shutil.which("make") is None,
                    reason="the CDK CLI is installed by `make node_modules/.bin/cdk`")
def test_make_synth_prints_no_unknown_option_and_no_stray_location(tmp_path: Path) -> None:
    # GIVEN the command `make synth` runs (its prerequisites are what this checkout has)
    dry = subprocess.run(["make", "-n", "synth", f"CDK_ARGS=--output {tmp_path / 'out'} --no-notices"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    command = [line for line in dry.stdout.splitlines() if "cdk synth" in line][-1]
    # WHEN it runs
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1"}
    proc = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    # THEN both stacks are synthesized, and the output has no complaint nor a jsii source line
    assert proc.returncode == 0, proc.stderr[-2000:]
    output = proc.stdout + proc.stderr
    assert "Unknown option" not in output and "program.js" not in output, output[-2000:]
    assert {"stepweave-dev-data.template.json", "stepweave-dev-engine.template.json"} <= {
        p.name for p in (tmp_path / "out").iterdir()}
