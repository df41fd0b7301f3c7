"""Every compiled definition passes AWS's own ASL validation.

The AWS Toolkit validates state machines with the ``amazon-states-language-service`` npm
package (pinned in package.json, installed by ``npm ci``). GIVEN every workflow in
``workflows/``, ``examples/`` and the Sim fixtures WHEN compiled THEN the language service
reports no diagnostic for any definition (sub-workflows included); and it does report the
faults the compiler used to emit (an unreachable state), so the check can fail.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler import compile_workflow
from stepweave.workflow.loader import load_workflow
from stepweave.workflow.loader import workflow_files
from tests.conftest import ROOT, sim_cases_dir

SCRIPT = ROOT / "tests" / "tools" / "asl_validate.js"


def _validate(definitions: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    if not (ROOT / "node_modules" / "amazon-states-language-service").is_dir():
        pytest.fail("node_modules/amazon-states-language-service is missing: run `npm ci`")
    done = subprocess.run(["node", str(SCRIPT)], input=json.dumps(definitions),
                          capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return result


def _workflows() -> list[Path]:
    paths = workflow_files(ROOT / "workflows")
    paths += sorted((ROOT / "examples").rglob("*.yaml"))
    return paths + sorted(sim_cases_dir().glob("*.export.json"))


def test_every_compiled_definition_has_no_diagnostic() -> None:
    definitions: dict[str, Any] = {}
    for path in _workflows():
        try:
            compiled = compile_workflow(load_workflow(path), str(path))
        except Exception:  # noqa: BLE001 - the invalid-workflow fixtures are refused earlier
            continue
        definitions[path.name] = compiled.definition
        for name, child in compiled.children.items():
            definitions[f"{path.name}:{name}"] = child.definition
        if compiled.workflow_type == "STANDARD":  # split into Express stretches too
            split = compile_workflow(load_workflow(path), str(path), split=True)
            if split.stretches:
                definitions[f"{path.name} (split)"] = split.definition
            for ref, stretch in split.stretches.items():
                definitions[f"{path.name} (split):{ref}"] = stretch.definition
    assert len(definitions) >= 40
    found = {name: diags for name, diags in _validate(definitions).items() if diags}
    assert found == {}


def test_the_language_service_catches_an_unreachable_state() -> None:
    broken = {"QueryLanguage": "JSONata", "StartAt": "Respond",
              "States": {"Respond": {"Type": "Succeed"}, "Done": {"Type": "Pass", "End": True}}}
    [diagnostic] = _validate({"broken": broken})["broken"]
    assert "cannot be reached" in diagnostic["message"]
