"""`cdk synth` through the CDK CLI from npm works from the repository (cdk.json's app)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


@pytest.mark.skipif(not CDK.exists(), reason="the CDK CLI is installed by `make node_modules/.bin/cdk`")
def test_cdk_cli_synthesizes_both_stacks(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1"}
    proc = subprocess.run([str(CDK), "synth", "--all", "--quiet", "--output", str(tmp_path / "out"),
                           "--no-notices"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    stacks = {name for name, art in manifest["artifacts"].items()
              if art["type"] == "aws:cloudformation:stack"}
    assert stacks == {"stepweave-dev-data", "stepweave-dev-engine"}
    engine = json.loads((tmp_path / "out" / "stepweave-dev-engine.template.json").read_text())
    machines = [r for r in engine["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert len(machines) == len(list((ROOT / "workflows").glob("*.yaml")))
