"""Importing a Lambda handler stays light: no CDK, jsii, moto, and no heavy client at import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("aws_cdk", "jsii", "moto", "jsonata", "boto3", "httpx", "py_mini_racer")


@pytest.mark.parametrize("handler", ["function", "api", "approval", "recorder"])
def test_handler_import_loads_nothing_heavy(handler: str) -> None:
    code = (f"import sys, json; import functions.{handler}.handler; "
            "print(json.dumps(sorted(m for m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    loaded = json.loads(proc.stdout)
    heavy = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert heavy == []
