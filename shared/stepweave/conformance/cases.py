"""Reading the conformance cases (``cases.json``): workflow file, input, expected result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Case", "load_cases", "CASES_FILE", "WORKFLOWS_DIR"]

HERE = Path(__file__).resolve().parent
WORKFLOWS_DIR = HERE / "workflows"
CASES_FILE = HERE / "cases.json"


@dataclass(frozen=True)
class Case:
    """One run: ``file`` (in ``WORKFLOWS_DIR``) with ``input`` must end ``status`` with
    ``output`` (SUCCEEDED) or ``error`` (FAILED)."""

    name: str
    file: Path
    input: Any
    status: str
    output: Any = None
    error: str | None = None
    source: str = ""


def load_cases(path: Path = CASES_FILE) -> list[Case]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [Case(name=str(c["name"]), file=path.parent / "workflows" / str(c["file"]),
                 input=c.get("input", {}), status=str(c["status"]), output=c.get("output"),
                 error=c.get("error"), source=str(c.get("source", "")))
            for c in raw["cases"]]
