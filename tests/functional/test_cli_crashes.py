"""What used to end in a traceback or a partial report: ``approvals --aws`` without a region,
output piped into a reader that stops early, and several bad CDK context values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

STEPWEAVE = str(Path(sys.executable).with_name("stepweave"))
ROOT = Path(__file__).resolve().parents[2]


def test_approvals_aws_without_a_region_says_how_to_give_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE")}
    env.update({"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                "STEPWEAVE_TABLE": "records"})
    proc = subprocess.run([STEPWEAVE, "approvals", "--aws"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2
    assert "AWS_REGION" in proc.stderr and "--region" in proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    # GIVEN a reader that stops before the command writes (`stepweave ... | head -1`)
    for command in (["schema"], ["executions", "--json"]):
        proc = subprocess.Popen([STEPWEAVE, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=tmp_path, env={**os.environ, "STEPWEAVE_LOCAL_DIR": str(tmp_path / "s")})
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        proc.wait(timeout=60)
        # THEN it stops as Unix tools do: no message, the status of SIGPIPE
        assert stderr == "", (command, stderr)
        assert proc.returncode == 141, command


def test_every_bad_cdk_context_value_is_reported_at_once(tmp_path: Path) -> None:
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path / "out"),
           "CDK_CONTEXT_JSON": json.dumps({"stage": "Prod!", "logLevel": "LOUD", "recordRetentionDays": 0})}
    proc = subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "3 context values are invalid" in proc.stderr
    for key in ("'stage'", "'logLevel'", "'recordRetentionDays'"):
        assert key in proc.stderr, proc.stderr
