"""Importing an AI handler loads nothing heavy: httpx, boto3 and the providers come on the
first call (``bench/ai_overhead.py`` measures both)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("aws_cdk", "jsii", "moto", "jsonata", "boto3", "httpx", "py_mini_racer")


@pytest.mark.parametrize("handler", ["agent", "router", "evaluator"])
def test_ai_handler_import_is_light(handler: str) -> None:
    code = (f"import sys, json; import functions.{handler}.handler; "
            "print(json.dumps(sorted(m for m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    loaded = json.loads(proc.stdout)
    assert [m for m in loaded if m.split(".")[0] in FORBIDDEN] == []
    assert not [m for m in loaded if m.startswith(("stepweave.ai.openai", "stepweave.ai.agent",
                                                   "stepweave.tools"))]
